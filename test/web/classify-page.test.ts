// The page's Segment panel with a classifier's checkpoint, in headless Chromium (SwiftShader): a
// tiny VGG16 classifier saved here in Node as `dawnet train classify` saves one, and a slice TIFF,
// through the page's file inputs. The page's p(tumour) and Grad-CAM map must match Node's (Dawn)
// for the same input, without and with flip TTA; an older checkpoint that does not record ImageNet
// preprocessing gets a note; a U-Net beside a classifier is refused as an ensemble.

import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { sliceToRgb } from '../../src/app/predict-job.js';
import { zscoreImages } from '../../src/data/normalize.js';
import * as dn from '../../src/index.js';
import { saveCheckpoint } from '../../src/train/checkpoint.js';
import { predictWithTta, type TtaMode } from '../../src/train/tta.js';
import { expectClose } from '../helpers/close.js';
import { useGpu } from '../helpers/gpu.js';
import * as fx from './page-fixture.js';
import type {} from '../../web/page-state.js';

useGpu();

const SIDE = 32;
const ARCH = { name: 'vggClassifier', inputSize: SIDE, widthScale: 0.125, hidden: 256, dropout: 0.3, preprocess: 'none' } as const;

let workDir = '';
let site: Awaited<ReturnType<typeof fx.servePage>> | undefined;
let checkpoint = '';
let tiff: Uint8Array = new Uint8Array(0);
const want: Partial<Record<TtaMode, { p: number; heat: Float32Array }>> = {};

/** What `dawnet predict --explain` computes for the slice: p(tumour) and the Grad-CAM map. */
async function nodeClassify(model: dn.Module, tta: TtaMode): Promise<{ p: number; heat: Float32Array }> {
  const input = sliceToRgb(tiff, 'slice.tif', SIDE);
  zscoreImages(input, 1, SIDE * SIDE, 3);
  const x = dn.tensor(input, [1, SIDE, SIDE, 3]);
  const y = dn.noGrad(() => predictWithTta(model, x, tta));
  const cam = dn.train.gradCam(model, x, { tta });
  const [p] = await y.toArray();
  const heat = await cam.toArray();
  for (const t of [x, y, cam]) t.dispose();
  return { p, heat };
}

beforeAll(async () => {
  if (!fx.hasChromium) return;
  workDir = await mkdtemp(join(tmpdir(), 'dawnet-web-classify-'));
  site = await fx.servePage(workDir);
  dn.setInitSeed(7);
  const model = dn.models.vggClassifier({ inputSize: SIDE, widthScale: 0.125 });
  model.eval();
  checkpoint = join(workDir, 'classifier.safetensors');
  await saveCheckpoint(checkpoint, model, null, { architecture: ARCH, size: SIDE, normalize: 'zscore', seed: 7, task: 'classify' });
  tiff = fx.makeSlice();
  want.none = await nodeClassify(model, 'none');
  want.flip = await nodeClassify(model, 'flip');
  model.dispose();
  // Maps worth comparing: not flat (measured 0.56-1 without TTA), the plain one scaled to a
  // maximum of 1 (flip TTA's is the mean of two such maps, the mirror's flipped back).
  expect(Math.max(...want.none!.heat)).toBeCloseTo(1, 5);
  for (const { heat } of [want.none!, want.flip!]) expect(Math.max(...heat) - Math.min(...heat)).toBeGreaterThan(0.1);
}, 120_000);

afterAll(async () => {
  await site?.close();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

async function openPage(): Promise<{ page: Page; problems: string[] }> {
  const page = await site!.browser.newPage();
  const problems = fx.watchProblems(page);
  await page.goto(site!.server.url);
  await page.waitForSelector('body[data-page="ready"]', { timeout: 20_000 });
  return { page, problems };
}

const shown = (page: Page) => page.evaluate(() => ({ result: window.__dawnet.results[0], heat: Array.from(window.__dawnet.lastHeatMap ?? []) }));

describe.skipIf(!fx.hasChromium)('a classifier checkpoint in the page', () => {
  it("gives the slice's p(tumour) and Grad-CAM map as Node does, without and with flip TTA", async () => {
    const { page, problems } = await openPage();
    await page.setInputFiles('#checkpoint-input', checkpoint);
    await page.waitForSelector('body[data-segment="model-loaded"], body[data-segment="error"]');
    expect(await page.locator('#segment-error').textContent()).toBe('');
    expect(await page.locator('#model-info').textContent()).toMatch(/^classifier\.safetensors: VGG16 classifier, width 0\.125, 32×32, [\d,]+ parameters\. Slices are resized to 32×32 and z-scored per slice and channel, as the checkpoint records/);
    expect(await page.locator('#model-note').isHidden()).toBe(true);

    await fx.nextRender(page, () => page.setInputFiles('#slice-input', { name: 'slice.tif', mimeType: 'image/tiff', buffer: Buffer.from(tiff) }), 60_000);
    let got = await shown(page);
    expect(got.result).toMatchObject({ file: 'slice.tif', size: SIDE, tta: 'none' });
    expect(got.result.tumourPixels).toBeUndefined();
    // Another adapter may sum in another order (see browser.test.ts): 1e-4 on p; the map is a
    // ratio to its own maximum, whose gradients run through the whole network: 1e-3.
    expectClose('page p(tumour) vs Node', [got.result.pTumour!], [want.none!.p], { atol: 1e-4, rtol: 0 });
    expectClose('page Grad-CAM vs Node', got.heat, want.none!.heat, { atol: 1e-3, rtol: 0 });
    expect(await page.locator('[data-testid="result-details"]').textContent()).toMatch(/· p\(tumour\) \d\.\d{4}: (no )?tumour \(at 0\.5\)$/);
    expect(await page.locator('[data-testid="result"] canvas').count()).toBe(2);
    expect(await page.locator('canvas[data-testid="gradcam"]').count()).toBe(1);

    await fx.nextRender(page, () => page.check('#tta-input'), 60_000);
    got = await shown(page);
    expect(got.result.tta).toBe('flip');
    expectClose('page p(tumour), flip TTA', [got.result.pTumour!], [want.flip!.p], { atol: 1e-4, rtol: 0 });
    expectClose('page Grad-CAM, flip TTA', got.heat, want.flip!.heat, { atol: 1e-3, rtol: 0 });
    await mkdir(join(fx.ROOT, 'test-results'), { recursive: true });
    await page.screenshot({ path: join(fx.ROOT, 'test-results', 'web-classify.png'), fullPage: true });
    expect(problems).toEqual([]);
    await page.close();
  });

  it('notes what it assumes for an older checkpoint, and refuses a U-Net and a classifier as one ensemble', async () => {
    const { page, problems } = await openPage();
    const older = join(workDir, 'older.safetensors');
    const model = dn.models.vggClassifier({ inputSize: SIDE, widthScale: 0.125 });
    const { preprocess: _, ...withoutPreprocess } = ARCH;
    await saveCheckpoint(older, model, null, { architecture: withoutPreprocess, size: SIDE, normalize: 'zscore', seed: 7, task: 'classify' });
    model.dispose();
    await page.setInputFiles('#checkpoint-input', older);
    await page.waitForSelector('body[data-segment="model-loaded"], body[data-segment="error"]');
    expect(await page.locator('#model-note').textContent()).toContain("This checkpoint predates the record of ImageNet's preprocessing: the page runs the model without it");

    const unet = join(workDir, 'unet.safetensors');
    await writeFile(unet, await fx.makeThresholdCheckpoint(unet));
    await page.setInputFiles('#checkpoint-input', [unet, checkpoint]);
    await page.waitForSelector('body[data-segment="error"]');
    expect(await page.locator('#segment-error').textContent()).toBe("classifier.safetensors holds a classifier, and unet.safetensors a U-Net: an ensemble's members must do the same task");
    expect(problems).toEqual([]);
    await page.close();
  });
});
