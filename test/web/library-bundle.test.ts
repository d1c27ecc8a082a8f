// The library's browser build (dist/browser/dawnet.js), imported as a web developer without a
// bundler imports it: `<script type="module">import * as dn from './dawnet.js'`, served over HTTP
// to headless Chromium (SwiftShader's WebGPU adapter). The app page's tests (browser.test.ts) run
// web/app.ts's own bundle; this is the published one, and the paths a page reaches only through
// it: weights fetched as bytes (safetensors, a PyTorch .pt, a Keras .h5 through h5wasm, a chunk
// loaded on the first .h5), encodeWeights for a download, TIFF slices decoded from fetched bytes, init() after
// shutdown(), init({ device }) on the page's own device, and the file-system functions saying what
// to use in a browser instead.

import { execFileSync } from 'node:child_process';
import { copyFile, cp, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { startServer, type StartedServer } from '../../src/cli/serve.js';
import { encodeTiff } from '../../src/data/tiff.js';
import { BROWSER_ARGS, CHROMIUM, hasChromium, ROOT, watchProblems, WEBGPU_ARGS } from './page-fixture.js';

const BUNDLE = join(ROOT, 'dist/browser/dawnet.js');
const WEIGHTS = join(ROOT, 'test/fixtures/weights');
const SIDE = 16;

const PAGE = `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,">
<script type="module">
import * as dn from './dawnet.js';
window.dn = dn;
window.bytesOf = async (url) => new Uint8Array(await (await fetch(url)).arrayBuffer());
window.failure = async (fn) => { try { await fn(); return null; } catch (e) { return { name: e.name, message: e.message }; } };
window.ready = true;
</script>`;

declare global {
  interface Window {
    dn: typeof import('../../src/index.js');
    bytesOf(url: string): Promise<Uint8Array>;
    failure(fn: () => unknown): Promise<{ name: string; message: string } | null>;
    ready: boolean;
  }
}

let dir = '';
let server: StartedServer | undefined;
let browser: Browser | undefined;
let page: Page;
let problems: string[] = [];

beforeAll(async () => {
  if (!hasChromium) return;
  if (!existsSync(BUNDLE)) execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, stdio: 'pipe' });
  dir = await mkdtemp(join(tmpdir(), 'dawnet-library-bundle-'));
  // The bundle and the chunks it loads on demand (h5wasm's, for a Keras .h5), as a site serves them.
  await copyFile(BUNDLE, join(dir, 'dawnet.js'));
  await cp(join(ROOT, 'dist/browser/chunks'), join(dir, 'chunks'), { recursive: true });
  for (const f of ['unet_tiny_expected.safetensors', 'unet_tiny_legacy.pt', 'vgg_mini_keras.h5']) await copyFile(join(WEIGHTS, f), join(dir, f));
  await writeFile(join(dir, 'index.html'), PAGE);
  // A 16x16 RGB slice and its mask with a 4x4 lesion, as the LGG data set stores them.
  const image = Uint8Array.from({ length: SIDE * SIDE * 3 }, (_, i) => (i * 7) % 256);
  const mask = Uint8Array.from({ length: SIDE * SIDE }, (_, p) => (p % SIDE >= 4 && p % SIDE < 8 && p >= 4 * SIDE && p < 8 * SIDE ? 255 : 0));
  await writeFile(join(dir, 's_1.tif'), encodeTiff({ width: SIDE, height: SIDE, channels: 3, data: image }));
  await writeFile(join(dir, 's_1_mask.tif'), encodeTiff({ width: SIDE, height: SIDE, channels: 1, data: mask }));
  await writeFile(join(dir, 'not-weights.bin'), '<html>404 Not Found</html>');
  server = await startServer({ root: dir, port: 0 });
  const { chromium } = await import('playwright-core');
  browser = await chromium.launch({ executablePath: CHROMIUM, args: [...WEBGPU_ARGS, ...BROWSER_ARGS] });
  page = await browser.newPage();
  problems = watchProblems(page);
  await page.goto(server.url);
  await page.waitForFunction(() => window.ready, null, { timeout: 60_000 });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe.skipIf(!hasChromium)('dist/browser/dawnet.js in a page', () => {
  it('refuses an op before init(), then runs on the page WebGPU adapter', async () => {
    const before = await page.evaluate(() => window.failure(() => window.dn.tensor([1, 2])));
    expect(before?.name).toBe('NoDeviceError');
    const got = await page.evaluate(async () => {
      const { dn } = window;
      await dn.init();
      const a = dn.tensor([[1, 2], [3, 4]]);
      const c = dn.matmul(a, dn.addScalar(a, 1));
      const out = { name: dn.info().name, c: await c.toNested() };
      a.dispose();
      c.dispose();
      return out;
    });
    expect(got.name).toMatch(/swiftshader/i);
    expect(got.c).toEqual([[10, 13], [22, 29]]);
  }, 60_000);

  it("runs the page's own WGSL kernel with a user-written backward (runKernel, customOp)", async () => {
    const got = await page.evaluate(async () => {
      const { dn } = window;
      const cube = dn.customOp({
        name: 'cube',
        forward(ctx, x: import('../../src/index.js').Tensor) {
          ctx.save(x);
          return dn.runKernel({
            name: 'cube',
            code: '@compute @workgroup_size(4) fn main(@builtin(global_invocation_id) g: vec3<u32>) { if (g.x < params.n) { y[g.x] = x[g.x] * x[g.x] * x[g.x]; } }',
            inputs: { x },
            outputs: { y: x.shape },
            params: { n: ['u32', x.size] },
            workgroups: Math.ceil(x.size / 4),
          }).y;
        },
        backward: (ctx, dy) => dn.mul(dy, dn.scale(dn.square(ctx.saved[0]!), 3)),
      });
      const x = dn.tensor([1, -2, 3, 0.5, 2], undefined, { requiresGrad: true });
      const y = cube(x);
      dn.scope(() => dn.sum(y).backward());
      const out = { y: Array.from(await y.toArray()), dx: Array.from(await x.grad!.toArray()) };
      x.dispose();
      y.dispose();
      return out;
    });
    // Exact in float32 at these values: x³ and 3x².
    expect(got).toEqual({ y: [1, -8, 27, 0.125, 8], dx: [3, 12, 27, 0.75, 12] });
  });

  it('loads fetched weights (safetensors, .pt, .h5) and encodes them back to the same bytes', async () => {
    const got = await page.evaluate(async () => {
      const { dn, bytesOf } = window;
      // unet_tiny: features 1, depth 2 (test/fixtures/weights/make_fixtures.py).
      const a = dn.models.unet({ features: 1, depth: 2 });
      const b = dn.models.unet({ features: 1, depth: 2 });
      const fromSafetensors = await dn.io.loadWeights(a, await (await fetch('unet_tiny_expected.safetensors')).arrayBuffer());
      const first = await dn.io.encodeWeights(a);
      await dn.io.loadWeights(b, first);
      const again = await dn.io.encodeWeights(b);
      const fromTorch = await dn.io.loadWeights(b, await bytesOf('unet_tiny_legacy.pt'), { name: 'unet_tiny_legacy.pt' });
      const keras = await dn.io.readWeightFile(await bytesOf('vgg_mini_keras.h5'), { name: 'vgg_mini_keras.h5' });
      // The cast web/train.ts makes too: encodeWeights is typed Uint8Array<ArrayBufferLike>, which Blob refuses.
      const url = URL.createObjectURL(new Blob([first as Uint8Array<ArrayBuffer>]));
      URL.revokeObjectURL(url);
      a.dispose();
      b.dispose();
      return {
        formats: [fromSafetensors.format, fromTorch.format, keras.format],
        loaded: [fromSafetensors.loaded.length, fromTorch.loaded.length, keras.tensors.size],
        sameBytes: first.length === again.length && first.every((v, i) => v === again[i]),
        download: url.startsWith('blob:'),
      };
    });
    expect(got.formats).toEqual(['safetensors', 'torch', 'keras-h5']);
    expect(got.loaded[0]).toBeGreaterThan(0);
    expect(got.loaded[1]).toBe(got.loaded[0]);
    expect(got.loaded[2]).toBeGreaterThan(0);
    expect(got.sameBytes).toBe(true);
    expect(got.download).toBe(true);
  }, 60_000);

  it('names a fetched file that holds no weights as a FormatError', async () => {
    const got = await page.evaluate(async () => {
      const m = window.dn.models.unet({ features: 1, depth: 1 });
      const bytes = await window.bytesOf('not-weights.bin');
      try {
        return await window.failure(() => window.dn.io.loadWeights(m, bytes, { name: 'not-weights.bin' }));
      } finally {
        m.dispose();
      }
    });
    expect(got?.name).toBe('FormatError');
    expect(got?.message).toContain('not-weights.bin');
  });

  it('decodes TIFF slices from fetched bytes (decodeTiff, decodeSlice, loadSlice with fetch)', async () => {
    const got = await page.evaluate(async () => {
      const { dn, bytesOf } = window;
      const tiff = dn.data.decodeTiff(await bytesOf('s_1.tif'), 's_1.tif');
      const slice = dn.data.decodeSlice(await bytesOf('s_1.tif'), await bytesOf('s_1_mask.tif'), 8, { image: 's_1.tif', mask: 's_1_mask.tif' });
      const viaLoad = await dn.data.loadSlice({ imagePath: 's_1.tif', maskPath: 's_1_mask.tif' }, 8, bytesOf);
      // ArrayBuffers as fetch gives them, and no names: the defaults.
      const buffers = dn.data.decodeSlice(await (await fetch('s_1.tif')).arrayBuffer(), await (await fetch('s_1_mask.tif')).arrayBuffer(), 8);
      // A dataset for fit() reading through fetch: decoded on the page's thread.
      const slices = [{ id: 's_1', patient: 's', imagePath: 's_1.tif', maskPath: 's_1_mask.tif', label: 1 as const }];
      const ds = dn.data.lggDataset(slices as never, { batchSize: 1, size: 8, normalize: 'none', read: bytesOf });
      const batches: number[][] = [];
      for await (const b of ds.batches(0)) {
        batches.push([...b.x.shape, (await b.y!.toArray()).reduce((s, v) => s + v, 0)]);
        b.x.dispose();
        b.y!.dispose();
      }
      await ds.close();
      return {
        tiff: [tiff.width, tiff.height, tiff.channels], image: slice.image.length, label: slice.label, lesion: slice.mask.reduce((s, v) => s + v, 0),
        same: viaLoad.image.every((v, i) => v === slice.image[i]) && buffers.image.every((v, i) => v === slice.image[i]), batches,
      };
    });
    expect(got).toEqual({ tiff: [SIDE, SIDE, 3], image: 8 * 8 * 3, label: 1, lesion: 4, same: true, batches: [[1, 8, 8, 3, 4]] });
  });

  it('says, for each file-system function, that it needs Node and what to use in a page', async () => {
    const got = await page.evaluate(async () => {
      const { dn, failure } = window;
      const m = dn.models.unet({ features: 1, depth: 1 });
      try {
        return {
          saveWeights: await failure(() => dn.io.saveWeights(m, 'model.safetensors')),
          loadWeights: await failure(() => dn.io.loadWeights(m, 'model.safetensors')),
          saveCheckpoint: await failure(() => dn.train.saveCheckpoint('best.safetensors', m, null, {})),
          loadCheckpoint: await failure(() => dn.train.loadCheckpoint('best.safetensors', m)),
          scanLgg: await failure(() => dn.data.scanLgg('kaggle_3m')),
          convertWeights: await failure(() => dn.io.convertWeights('vgg16.h5', 'vgg16.safetensors')),
          saveConvTuning: await failure(() => dn.io.saveConvTuning('tuning.json')),
          loadConvTuning: await failure(() => dn.io.loadConvTuning('tuning.json')),
        };
      } finally {
        m.dispose();
      }
    });
    expect(got.saveWeights).toMatchObject({ name: 'ArgumentError', message: expect.stringContaining('encodeWeights') });
    expect(got.loadWeights).toMatchObject({ name: 'ArgumentError', message: expect.stringContaining('fetch') });
    expect(got.saveCheckpoint).toMatchObject({ name: 'ArgumentError', message: expect.stringContaining('encodeCheckpoint') });
    expect(got.loadCheckpoint?.message).toContain('applyCheckpoint');
    expect(got.scanLgg).toMatchObject({ name: 'DataError', message: expect.stringContaining('decodeSlice') });
    expect(got.convertWeights).toMatchObject({ name: 'ArgumentError', message: expect.stringMatching(/^convertWeights: .*loadWeights\(model, bytes\).*encodeWeights/) });
    for (const op of ['saveConvTuning', 'loadConvTuning'] as const) expect(got[op]).toMatchObject({ name: 'ArgumentError', message: expect.stringMatching(new RegExp(`^${op}: .*dn\\.applyConvTuning\\(text\\)`)) });
  });

  it('takes a checkpoint as the ArrayBuffer fetch gives, and says what is wrong when the page finds no adapter', async () => {
    const got = await page.evaluate(async () => {
      const { dn, failure } = window;
      const m = dn.models.unet({ features: 1, depth: 1 });
      const bytes = await dn.train.encodeCheckpoint(m, null, { epoch: 3 });
      const meta = dn.train.applyCheckpoint(bytes.slice().buffer, 'ck.safetensors', m).meta.epoch;
      m.dispose();
      // A browser whose GPU is blocklisted: navigator.gpu is there, its adapter is not.
      dn.shutdown();
      const gpu = navigator.gpu;
      const request = gpu.requestAdapter;
      gpu.requestAdapter = async () => null;
      const noAdapter = await failure(() => dn.init());
      gpu.requestAdapter = request;
      await dn.init();
      return { meta, noAdapter };
    });
    expect(got.meta).toBe(3);
    expect(got.noAdapter).toMatchObject({ name: 'NoDeviceError', message: expect.stringContaining('chrome://gpu') });
    expect(got.noAdapter!.message).not.toContain('ensure-env');
  });

  it('refuses tensors across shutdown() and works again after init()', async () => {
    const got = await page.evaluate(async () => {
      const { dn, failure } = window;
      const t = dn.tensor([1, 2, 3]);
      dn.shutdown();
      const afterShutdown = await failure(() => dn.tensor([1]));
      await dn.init();
      const stale = await failure(() => t.toArray());
      t.dispose();
      const u = dn.tensor([4, 5]);
      const sum = await dn.sum(u).item();
      u.dispose();
      return { afterShutdown: afterShutdown?.name, stale: stale?.name, sum };
    });
    expect(got).toEqual({ afterShutdown: 'NoDeviceError', stale: 'NoDeviceError', sum: 9 });
  });

  it("runs on the page's own device (init({ device })), and shutdown() leaves that device working", async () => {
    const got = await page.evaluate(async () => {
      const { dn, failure } = window;
      dn.shutdown();
      // The device a page's own WebGPU code made, as a framework would make it.
      const adapter = (await navigator.gpu.requestAdapter())!;
      const requiredFeatures = (['subgroups'] as GPUFeatureName[]).filter((f) => adapter.features.has(f));
      const device = await adapter.requestDevice({ label: "the page's", requiredFeatures });
      let lost = false;
      void device.lost.then(() => (lost = true));
      await dn.init({ device });
      const same = dn.gpuDevice() === device;
      // A conv over a 4x4 image, every tap of a 3x3 kernel 1 ('valid'): each output sums its patch.
      const x = dn.tensor(Array.from({ length: 16 }, (_, i) => i), [1, 4, 4, 1]);
      const w = dn.full([3, 3, 1, 1], 1);
      const conv = Array.from(await dn.conv2d(x, w, null, { padding: 'valid' }).toArray());
      // The page's buffer into a tensor, multiplied by dawnet on the same device.
      const mine = device.createBuffer({ size: 16, usage: GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
      device.queue.writeBuffer(mine, 0, Float32Array.of(1, 2, 3, 4));
      const t = dn.fromGPUBuffer(mine, [2, 2]);
      const product = Array.from(await dn.matmul(t, t).toArray());
      const other = await (await navigator.gpu.requestAdapter())!.requestDevice();
      const another = await failure(() => dn.init({ device: other }));
      other.destroy();
      dn.shutdown();
      // The page's own round trip on its device after dawnet let go of it.
      const dst = device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      const encoder = device.createCommandEncoder();
      encoder.copyBufferToBuffer(mine, 0, dst, 0, 16);
      device.queue.submit([encoder.finish()]);
      await dst.mapAsync(GPUMapMode.READ);
      const roundTrip = Array.from(new Float32Array(dst.getMappedRange().slice(0)));
      dst.unmap();
      await device.queue.onSubmittedWorkDone();
      const lostAfterShutdown = lost;
      mine.destroy();
      dst.destroy();
      device.destroy();
      await dn.init();
      return { same, conv, product, another: another?.message ?? null, roundTrip, lostAfterShutdown };
    });
    expect(got.same).toBe(true);
    expect(got.conv).toEqual([45, 54, 81, 90]);
    expect(got.product).toEqual([7, 10, 15, 22]);
    expect(got.another).toMatch(/^init: /);
    expect(got.roundTrip).toEqual([1, 2, 3, 4]);
    expect(got.lostAfterShutdown).toBe(false);
  });

  it('gathers rows by id and sums along an axis on the page, with their gradients', async () => {
    const got = await page.evaluate(async () => {
      const { dn } = window;
      const table = dn.tensor([[1, 2], [3, 4], [5, 6]], undefined, { requiresGrad: true });
      const rows = dn.gather(table, dn.tensor([2, 0, 2]), 0);
      const picked = Array.from(await rows.toArray());
      const total = dn.sum(rows);
      total.backward();
      const counts = Array.from(await table.grad!.toArray());
      // 300 values: the blocked passes; 1..300 sums exactly in float32.
      const line = dn.tensor(Array.from({ length: 300 }, (_, i) => i + 1));
      const cumulative = dn.cumsum(line, 0, { exclusive: true });
      const running = await cumulative.toArray();
      const sums = [running[0], running[1], running[299]];
      for (const t of [table.grad!, table, rows, total, line, cumulative]) t.dispose();
      return { picked, counts, sums };
    });
    expect(got.picked).toEqual([5, 6, 1, 2, 5, 6]);
    expect(got.counts).toEqual([1, 1, 0, 0, 2, 2]);
    expect(got.sums).toEqual([0, 1, (299 * 300) / 2]);
  });

  it('sorts on the page (merge passes), with the gradient back to where each value came from', async () => {
    const got = await page.evaluate(async () => {
      const { dn } = window;
      // 300 values (i·7 mod 300: a permutation of 0..299) in 9 merge passes, the last run short.
      const x = dn.tensor(Array.from({ length: 300 }, (_, i) => (i * 7) % 300), undefined, { requiresGrad: true });
      const { values, indices } = dn.sort(x, -1, { descending: true });
      const top = Array.from((await values.toArray()).slice(0, 3));
      const from = Array.from((await indices.toArray()).slice(0, 3));
      const places = dn.tensor(Array.from({ length: 300 }, (_, i) => i));
      const product = dn.mul(values, places);
      const weighted = dn.sum(product);
      weighted.backward();
      // x's gradient at value v is the place v was sorted to: 299 - v.
      const grad = await x.grad!.toArray();
      const placed = Array.from({ length: 300 }, (_, i) => grad[i] === 299 - ((i * 7) % 300)).every(Boolean);
      for (const t of [x.grad!, x, values, indices, places, product, weighted]) t.dispose();
      return { top, from, placed };
    });
    expect(got.top).toEqual([299, 298, 297]);
    // 7i ≡ 299, 298, 297 (mod 300): i = 257, 214, 171.
    expect(got.from).toEqual([257, 214, 171]);
    expect(got.placed).toBe(true);
  });

  it('counts a histogram and runs the volume ops on the page (atomics in workgroup memory, the 3-D pool kernels)', async () => {
    const got = await page.evaluate(async () => {
      const { dn } = window;
      const x = dn.tensor([0.1, 0.3, 0.35, 0.9, 0.95, 0.99, -1, 2]);
      const hist = dn.histogram(x, { bins: 4, min: 0, max: 1 });
      const counts = Array.from(await hist.toArray());
      // A 2x2x2 volume of 0..7 (one channel, then four): the pool takes 7; a 1x1x1 conv of ones sums the channels.
      const volume = dn.tensor(Array.from({ length: 8 }, (_, i) => i), [1, 2, 2, 2, 1]);
      const pool = dn.maxPool3d(volume, { size: 2 });
      const pooled = (await pool.toArray())[0];
      const four = dn.tensor(Array.from({ length: 32 }, (_, i) => i % 4), [1, 2, 2, 2, 4]);
      const ones = dn.full([1, 1, 1, 4, 1], 1);
      const conv = dn.conv3d(four, ones);
      const summed = Array.from(await conv.toArray());
      for (const t of [x, hist, volume, pool, four, ones, conv]) t.dispose();
      return { counts, pooled, summed };
    });
    // 0.1 | 0.3, 0.35 | - | 0.9, 0.95, 0.99; -1 and 2 outside.
    expect(got.counts).toEqual([1, 2, 0, 3]);
    expect(got.pooled).toBe(7);
    expect(got.summed).toEqual(new Array(8).fill(6));
  });

  it('left nothing on the console', () => {
    expect(problems).toEqual([]);
  });
});
