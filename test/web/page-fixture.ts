// What the browser tests feed the page and what they compare it with: a tiny trained U-Net
// checkpoint and a tumour slice (made here in Node), a hand-set "threshold" U-Net with a slice of
// planted lesions, and Node's own answers for them (`dawnet predict`'s steps: resize, z-score,
// predictWithTta). Shared by browser.test.ts's tests, which run in one Chromium on one built page.

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { expect } from 'vitest';
// For the type of window.__dawnet inside page.evaluate (the file declares it globally).
import type {} from '../../web/page-state.js';
import { startServer, type StartedServer } from '../../src/cli/serve.js';
import * as dn from '../../src/index.js';
import { zscoreImages } from '../../src/data/normalize.js';
import { sliceToRgb } from '../../src/app/predict-job.js';
import { synthesizePatient } from '../../src/data/synth.js';
import { encodeTiff } from '../../src/data/tiff.js';
import { decodeSafetensors, encodeSafetensors } from '../../src/io/safetensors.js';
import { applyCheckpoint, encodeCheckpoint, saveCheckpoint } from '../../src/train/checkpoint.js';
import { predictWithTta, type TtaMode } from '../../src/train/tta.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CHROMIUM = '/usr/bin/chromium';
export const hasChromium = existsSync(CHROMIUM);
export const BROWSER_ARGS = ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--no-first-run'];
export const WEBGPU_ARGS = ['--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-webgpu-adapter=swiftshader'];

/** The fixture's U-Net and slice: 30x30 is not a multiple of 2^depth, so the page must resize to 32. */
export const ARCH = { name: 'unet', features: 4, depth: 2, inChannels: 3, outChannels: 1 } as const;
export const SLICE_SIDE = 30;
export const INPUT_SIDE = 32;
const FIXTURE_STEPS = 40;

/**
 * Adam steps on synthetic slices move the weights and BN statistics off their initial values, so
 * the probabilities span 0..1 instead of sitting near 0.5 (and the screenshot shows a mask).
 */
export async function makeCheckpoint(path: string): Promise<dn.Module> {
  dn.setInitSeed(11);
  const model = dn.models.unet({ features: ARCH.features, depth: ARCH.depth });
  const opt = new dn.optim.Adam(model.trainableParameters(), { lr: 0.01 });
  const slices = synthesizePatient(3, { patients: 4, seed: 2, size: INPUT_SIDE, slicesPerPatient: [12, 12] }).slices;
  const images = Float32Array.from(slices.flatMap((s) => [...s.image].map((v) => v / 255)));
  zscoreImages(images, slices.length, INPUT_SIDE * INPUT_SIDE, 3);
  const masks = Float32Array.from(slices.flatMap((s) => [...s.mask].map((v) => (v ? 1 : 0))));
  const x = dn.tensor(images, [slices.length, INPUT_SIDE, INPUT_SIDE, 3]);
  const y = dn.tensor(masks, [slices.length, INPUT_SIDE, INPUT_SIDE, 1]);
  for (let step = 0; step < FIXTURE_STEPS; step++) {
    const loss = dn.scope(() => {
      const l = dn.bceDiceLoss(model.forward(x), y);
      l.backward();
      return l;
    });
    opt.step();
    opt.zeroGrad();
    loss.dispose();
  }
  x.dispose();
  y.dispose();
  opt.dispose();
  model.eval();
  await saveCheckpoint(path, model, null, { architecture: ARCH, seed: 11, task: 'segment' });
  return model;
}

/** A tumour slice of a synthetic patient, as the LGG data set stores them (8-bit RGB TIFF). */
export function makeSlice(): Uint8Array {
  const patient = synthesizePatient(0, { patients: 1, seed: 5, size: SLICE_SIDE, slicesPerPatient: [12, 12] });
  const withTumour = patient.slices.filter((s) => s.mask.some((m) => m > 0));
  const slice = withTumour[Math.floor(withTumour.length / 2)] ?? patient.slices[6]!;
  return encodeTiff({ width: SLICE_SIDE, height: SLICE_SIDE, channels: 3, data: slice.image });
}

/** What `dawnet predict` does with the slice: resize to `side`, z-score, forward (with TTA). */
export async function nodeProbabilities(model: dn.Module, tiff: Uint8Array, side = INPUT_SIDE, tta: TtaMode = 'none'): Promise<Float32Array> {
  const input = sliceToRgb(tiff, 'slice.tif', side);
  zscoreImages(input, 1, side * side, 3);
  const x = dn.tensor(input, [1, side, side, 3]);
  const y = dn.noGrad(() => predictWithTta(model, x, tta));
  const out = await y.toArray();
  x.dispose();
  y.dispose();
  return out;
}

/** The planted slice's side: a multiple of 2, so the depth-1 threshold U-Net takes it unresized. */
export const PLANTED_SIDE = 32;
const THRESHOLD_UNET = { features: 1, depth: 1, norm: 'none' } as const;

/**
 * A depth-1 U-Net without norms whose weights make p = sigmoid(8 relu(z) - 4), z the z-scored
 * first channel, pixel by pixel: every 3x3 conv passes its centre tap of the skip path (1) and
 * nothing else, the bottleneck and up-convolution are zero. Bright pixels are tumour, so the
 * planted slice decides the mask exactly, which a trained model would not.
 */
export async function makeThresholdCheckpoint(path: string): Promise<Uint8Array> {
  const model = dn.models.unet(THRESHOLD_UNET);
  const architecture = { name: 'unet', inChannels: 3, outChannels: 1, ...THRESHOLD_UNET };
  const { tensors, metadata } = decodeSafetensors(await encodeCheckpoint(model, null, { architecture, task: 'segment' }), 'threshold');
  model.dispose();
  for (const t of tensors.values()) t.data.fill(0);
  // Weights are [kh, kw, in, out]: tap (1, 1) from input channel `from` to output channel 0.
  const centre = (name: string, from: number) => {
    const t = tensors.get(`model/${name}`)!;
    t.data[(4 * t.shape[2]! + from) * t.shape[3]!] = 1;
  };
  centre('encoder1.enc1conv1.weight', 0);
  centre('encoder1.enc1conv2.weight', 0);
  // The decoder sees [up, skip]: channel 1 is the skip.
  centre('decoder1.dec1conv1.weight', 1);
  centre('decoder1.dec1conv2.weight', 0);
  tensors.get('model/conv.weight')!.data[0] = 8;
  tensors.get('model/conv.bias')!.data[0] = -4;
  const bytes = encodeSafetensors(tensors, metadata);
  await writeFile(path, bytes);
  return bytes;
}

/**
 * Bright pixels on black: a 6x6 lesion (36 px), a 2x2 speck (4 px) and a staircase of three 2x2
 * blocks that touch only at corners (12 px: one lesion 8-connected, three of 4 px 4-connected).
 */
export function makePlantedSlice(): Uint8Array {
  const s = PLANTED_SIDE;
  const data = new Uint8Array(s * s * 3);
  const fill = (row: number, col: number, h: number, w: number) => {
    for (let y = row; y < row + h; y++) for (let x = col; x < col + w; x++) data.fill(255, (y * s + x) * 3, (y * s + x) * 3 + 3);
  };
  fill(4, 4, 6, 6);
  fill(24, 24, 2, 2);
  for (const k of [0, 1, 2]) fill(14 + 2 * k, 4 + 2 * k, 2, 2);
  return encodeTiff({ width: s, height: s, channels: 3, data });
}

/** Node's probabilities for the threshold checkpoint on a slice, loaded as the page loads it (applyCheckpoint). */
export async function thresholdProbabilities(bytes: Uint8Array, tiff: Uint8Array): Promise<Float32Array> {
  const model = dn.models.unet(THRESHOLD_UNET);
  try {
    applyCheckpoint(bytes, 'threshold', model);
    model.eval();
    return await nodeProbabilities(model, tiff, PLANTED_SIDE);
  } finally {
    model.dispose();
  }
}

/**
 * Runs `change` and waits for the Segment panel's next pass over its slices (`window.__dawnet.renders`),
 * which must not fail.
 */
export async function nextRender(page: Page, change: () => Promise<unknown>, timeout = 30_000): Promise<void> {
  const before = await page.evaluate(() => window.__dawnet.renders);
  await change();
  await page.waitForFunction((n) => window.__dawnet.renders > n || document.body.dataset.segment === 'error', before, { timeout });
  expect(await page.locator('#segment-error').textContent()).toBe('');
}

export function watchProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
  });
  return problems;
}

/**
 * The page built into `workDir`/site, served on a free loopback port, and a headless Chromium with
 * SwiftShader's WebGPU: what a page test opens pages on. close() stops both.
 */
export async function servePage(workDir: string): Promise<{ server: StartedServer; browser: Browser; close(): Promise<void> }> {
  const site = join(workDir, 'site');
  await new Promise<void>((ok, fail) =>
    execFile(process.execPath, ['scripts/build-web.mjs', '--outdir', site], { cwd: ROOT }, (e, _o, stderr) => (e ? fail(new Error(stderr || e.message)) : ok())),
  );
  const server = await startServer({ root: site, port: 0 });
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: [...BROWSER_ARGS, ...WEBGPU_ARGS] });
  return { server, browser, close: async () => (await browser.close(), await server.close()) };
}
