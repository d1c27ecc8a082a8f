// The Segment panel's NIfTI downloads, in headless Chromium: three slices of one patient (numbers
// 1, 2 and 4) through the threshold U-Net (page-fixture.ts), stacked as `dawnet predict --nifti`
// stacks a folder. The downloaded mask volume, read by nifti-reader-js, must hold each slice's
// mask as the page drew it at z = number - 1 and a blank plane at z = 2; post-processing redraws
// the masks and the volumes with them; a patient with one slice on show is not offered.

import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as nifti from 'nifti-reader-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { useGpu } from '../helpers/gpu.js';
import * as fx from './page-fixture.js';
import type {} from '../../web/page-state.js';

useGpu();

const PATIENT = 'TCGA_XX_0001_19990101';
const SIDE = fx.PLANTED_SIDE;

let workDir = '';
let site: Awaited<ReturnType<typeof fx.servePage>> | undefined;
let checkpoint = '';

beforeAll(async () => {
  if (!fx.hasChromium) return;
  workDir = await mkdtemp(join(tmpdir(), 'dawnet-web-volumes-'));
  site = await fx.servePage(workDir);
  checkpoint = join(workDir, 'threshold.safetensors');
  await fx.makeThresholdCheckpoint(checkpoint);
}, 120_000);

afterAll(async () => {
  await site?.close();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

const slice = (n: number) => ({ name: `${PATIENT}_${n}.tif`, mimeType: 'image/tiff', buffer: Buffer.from(fx.makePlantedSlice()) });

/** The mask volume the page offers, downloaded and read: its dims and voxels. */
async function downloadedMask(page: Page): Promise<{ dims: number[]; voxels: number[] }> {
  const [download] = await Promise.all([page.waitForEvent('download'), page.click(`a[download="${PATIENT}_mask.nii.gz"]`)]);
  const gz = await readFile(await download.path());
  const raw = nifti.decompress(gz.buffer.slice(gz.byteOffset, gz.byteOffset + gz.byteLength) as ArrayBuffer) as ArrayBuffer;
  const h = nifti.readHeader(raw) as nifti.NIFTI1;
  return { dims: h.dims.slice(1, 4), voxels: Array.from(new Uint8Array(nifti.readImage(h, raw))) };
}

describe.skipIf(!fx.hasChromium)('NIfTI volumes from the page', () => {
  it("stacks a patient's slices by number, with the masks as drawn, and redraws them with post-processing", async () => {
    const page = await site!.browser.newPage({ acceptDownloads: true });
    const problems = fx.watchProblems(page);
    await page.goto(site!.server.url);
    await page.waitForSelector('body[data-page="ready"]', { timeout: 20_000 });
    await page.setInputFiles('#checkpoint-input', checkpoint);
    await page.waitForSelector('body[data-segment="model-loaded"], body[data-segment="error"]');

    await fx.nextRender(page, () => page.setInputFiles('#slice-input', [slice(1), slice(2), slice(4)]));
    const offered = await page.evaluate(() => window.__dawnet.volumes);
    expect(offered).toEqual([{ patient: PATIENT, slices: 3, missing: [3], files: ['prob', 'mask', 'flair'].map((k) => `${PATIENT}_${k}.nii.gz`) }]);
    expect(await page.locator('[data-testid="volume-link"]').count()).toBe(3);

    // Every slice is the same planted image: each plane holds the last slice's mask as drawn.
    const drawn = async () => Array.from(await page.evaluate(() => Array.from(window.__dawnet.lastMask ?? [])));
    let mask = await drawn();
    expect(mask.filter((v) => v === 1).length, 'the planted lesions are found').toBe(36 + 4 + 12);
    let got = await downloadedMask(page);
    const plane = SIDE * SIDE;
    const blank = new Array(plane).fill(0);
    expect(got.dims).toEqual([SIDE, SIDE, 4]);
    for (const z of [0, 1, 3]) expect(got.voxels.slice(z * plane, (z + 1) * plane), `plane ${z}`).toEqual(mask);
    expect(got.voxels.slice(2 * plane, 3 * plane), 'slice 3, missing').toEqual(blank);

    // Lesions under 10 pixels go (the 4-pixel speck; the staircase is one 12-pixel lesion, 8-connected):
    // the volume's masks go with them.
    await fx.nextRender(page, async () => (await page.fill('#min-lesion-input', '10'), await page.press('#min-lesion-input', 'Enter')));
    mask = await drawn();
    expect(mask.filter((v) => v === 1).length).toBe(36 + 12);
    got = await downloadedMask(page);
    for (const z of [0, 1, 3]) expect(got.voxels.slice(z * plane, (z + 1) * plane), `plane ${z}, post-processed`).toEqual(mask);
    await mkdir(join(fx.ROOT, 'test-results'), { recursive: true });
    await page.screenshot({ path: join(fx.ROOT, 'test-results', 'web-volumes.png'), fullPage: true });

    // One slice of a patient on show: no volume is offered.
    await fx.nextRender(page, () => page.setInputFiles('#slice-input', [slice(2)]));
    expect(await page.evaluate(() => window.__dawnet.volumes)).toEqual([]);
    expect(await page.locator('#volumes').isHidden()).toBe(true);
    expect(problems).toEqual([]);
    await page.close();
  });
});
