// The Train panel's learning-rate field: any rate in (0, 0.1] trains, not only multiples of 1e-4
// (5e-5 is a usual fine-tuning rate), and a rate outside it is named in the panel's own message
// rather than stopped silently by the browser's form validation.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { StartedServer } from '../../src/cli/serve.js';
import * as fx from './page-fixture.js';
import type {} from '../../web/page-state.js';

const { hasChromium } = fx;

let workDir = '';
let site: Awaited<ReturnType<typeof fx.servePage>> | undefined;
let server: StartedServer | undefined;
let browser: Browser | undefined;

beforeAll(async () => {
  if (!hasChromium) return;
  workDir = await mkdtemp(join(tmpdir(), 'dawnet-web-lr-'));
  site = await fx.servePage(workDir);
  server = site.server;
  browser = site.browser;
}, 120_000);

afterAll(async () => {
  await site?.close();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

async function openTrainPanel(): Promise<{ page: Page; problems: string[] }> {
  const page = await browser!.newPage();
  const problems = fx.watchProblems(page);
  await page.goto(`http://127.0.0.1:${server!.port}/`);
  await page.waitForSelector('body[data-page="ready"]');
  await page.selectOption('#train-features', '4');
  await page.selectOption('#train-size', '32');
  await page.selectOption('#train-batch', '2');
  await page.fill('#train-steps', '1');
  return { page, problems };
}

describe.skipIf(!hasChromium)('the Train panel learning rate', () => {
  it('trains at 5e-5', async () => {
    const { page, problems } = await openTrainPanel();
    await page.fill('#train-lr', '0.00005');
    await page.click('#train-start');
    await page.waitForSelector('body:not([data-train="idle"])', { timeout: 5_000 });
    await page.waitForSelector('body[data-train="done"], body[data-train="error"]', { timeout: 100_000 });
    expect(await page.evaluate(() => [document.body.dataset.train, window.__dawnet.losses.length])).toEqual(['done', 1]);
    expect(problems).toEqual([]);
    await page.close();
  });

  it('names a rate of 0 in the panel', async () => {
    const { page, problems } = await openTrainPanel();
    await page.fill('#train-lr', '0');
    await page.click('#train-start');
    await page.waitForSelector('#train-error:not([hidden])', { timeout: 5_000 });
    expect(await page.textContent('#train-error')).toContain('Learning rate');
    expect(await page.evaluate(() => document.body.dataset.train)).toBe('idle');
    expect(problems).toEqual([]);
    await page.close();
  });
});
