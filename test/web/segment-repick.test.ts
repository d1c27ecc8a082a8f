// The Segment panel's file inputs as a user meets them: picking the same checkpoint or slice again
// (a checkpoint rewritten by a new run, a slice fixed on disk) must read it again, though a browser
// fires no 'change' for an unchanged pick; and a patient folder's dozens of masks must not fill the
// panel with their names: the message names a few and counts the rest.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { StartedServer } from '../../src/cli/serve.js';
import { useGpu } from '../helpers/gpu.js';
import * as fx from './page-fixture.js';
import type {} from '../../web/page-state.js';

useGpu();

const { hasChromium } = fx;
const MASKS = 24;

let workDir = '';
let site: Awaited<ReturnType<typeof fx.servePage>> | undefined;
let server: StartedServer | undefined;
let browser: Browser | undefined;
let checkpoint = '';
let slice = '';
let masks: string[] = [];

beforeAll(async () => {
  if (!hasChromium) return;
  workDir = await mkdtemp(join(tmpdir(), 'dawnet-web-repick-'));
  site = await fx.servePage(workDir);
  server = site.server;
  browser = site.browser;
  checkpoint = join(workDir, 'threshold.safetensors');
  await fx.makeThresholdCheckpoint(checkpoint);
  slice = join(workDir, 'TCGA_XX_0001_19990101_1.tif');
  await writeFile(slice, fx.makePlantedSlice());
  masks = [...Array(MASKS).keys()].map((i) => join(workDir, `TCGA_XX_0001_19990101_${i + 1}_mask.tif`));
  for (const m of masks) await writeFile(m, fx.makePlantedSlice());
}, 120_000);

afterAll(async () => {
  await site?.close();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

async function openPage(): Promise<{ page: Page; problems: string[] }> {
  const page = await browser!.newPage();
  const problems = fx.watchProblems(page);
  await page.goto(`http://127.0.0.1:${server!.port}/`);
  await page.waitForSelector('body[data-page="ready"]');
  return { page, problems };
}

const renders = (page: Page) => page.evaluate(() => window.__dawnet.renders);
const segmentError = (page: Page) => page.evaluate(() => document.getElementById('segment-error')!.textContent ?? '');

describe.skipIf(!hasChromium)('the Segment panel file inputs', () => {
  it('reads the same checkpoint and the same slice again when they are picked again', async () => {
    const { page, problems } = await openPage();
    await page.setInputFiles('#checkpoint-input', [checkpoint]);
    await page.setInputFiles('#slice-input', [slice]);
    await page.waitForFunction(() => window.__dawnet.renders === 1, null, { timeout: 60_000 });
    await page.setInputFiles('#slice-input', [slice]);
    await page.waitForFunction(() => window.__dawnet.renders === 2, null, { timeout: 10_000 });
    await page.setInputFiles('#checkpoint-input', [checkpoint]);
    await page.waitForFunction(() => window.__dawnet.renders === 3, null, { timeout: 10_000 });
    expect(await renders(page)).toBe(3);
    expect(await segmentError(page)).toBe('');
    expect(problems).toEqual([]);
    await page.close();
  });

  it("names a few of a folder's many masks and counts the rest", async () => {
    const { page, problems } = await openPage();
    await page.setInputFiles('#checkpoint-input', [checkpoint]);
    await page.setInputFiles('#slice-input', [slice, ...masks]);
    await page.waitForFunction(() => window.__dawnet.renders === 1, null, { timeout: 60_000 });
    const error = await segmentError(page);
    expect(error).toMatch(/^Left out .*_mask\.tif.*: ground-truth masks/);
    expect(error).toContain(`${MASKS} files`);
    expect(error.length).toBeLessThan(400);
    expect(problems).toEqual([]);
    await page.close();
  });
});
