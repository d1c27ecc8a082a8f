// The browser page end to end in Debian's headless Chromium (SwiftShader's WebGPU adapter): a
// tiny U-Net checkpoint and a slice TIFF made here in Node (page-fixture.ts) are fed through the
// page's file inputs, and the page's probability map must match Dawn's in Node; flip TTA and the
// lesion post-processing must give what `dawnet predict` gives; a few training steps in the page
// must lower the loss and give a downloadable checkpoint; a browser without WebGPU must say so
// plainly. Also the pieces around it: the bundle's Node-import check and `dawnet serve`.

import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { UsageError } from '../../src/cli/args.js';
import { isLoopbackHost, startServer, type StartedServer } from '../../src/cli/serve.js';
import { decodeSafetensors } from '../../src/io/safetensors.js';
import * as dn from '../../src/index.js';
import { saveCheckpoint } from '../../src/train/checkpoint.js';
import { labelComponents, postprocessMask } from '../../src/train/components.js';
import { expectClose } from '../helpers/close.js';
import { useGpu } from '../helpers/gpu.js';
import * as fx from './page-fixture.js';
// For the type of window.__dawnet inside page.evaluate (the file declares it globally).
import type {} from '../../web/page-state.js';

useGpu();

const { ROOT, CHROMIUM, hasChromium, ARCH, INPUT_SIDE, PLANTED_SIDE } = fx;
if (!hasChromium) console.warn(`web browser tests skipped: ${CHROMIUM} is missing`);
// SwiftShader's subgroups have 4 lanes, so the page runs the 4-lane subgroup conv kernels (3-7x
// faster there than the tiled ones, measured in this Chromium); shader compilation still takes
// seconds on a busy 2-core machine: a handful of small steps is enough to see the loss fall.
const PAGE_TRAIN_STEPS = 8;
const PAGE_TRAIN_BATCH = 2;

let workDir = '';
let server: StartedServer | undefined;

async function buildPage(outdir: string): Promise<string> {
  return new Promise((ok, fail) => {
    execFile(process.execPath, ['scripts/build-web.mjs', '--outdir', outdir], { cwd: ROOT }, (error, stdout, stderr) =>
      error ? fail(new Error(`build-web failed: ${stderr || error.message}`)) : ok(stdout),
    );
  });
}

/** Raw HTTP, so that paths with `..` reach the server as written (fetch would normalise them). */
function get(port: number, path: string, method = 'GET'): Promise<{ status: number; type: string; body: string }> {
  return new Promise((ok, fail) => {
    const req = request({ host: '127.0.0.1', port, path, method }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => ok({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body }));
    });
    req.on('error', fail);
    req.end();
  });
}

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'dawnet-web-'));
  await buildPage(join(workDir, 'site'));
  server = await startServer({ root: join(workDir, 'site'), port: 0 });
}, 60_000);

afterAll(async () => {
  await server?.close();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

describe('build-web', () => {
  it('bundles the page with its html and css, and the bundle imports no Node module', async () => {
    const site = join(workDir, 'site');
    const html = await readFile(join(site, 'index.html'), 'utf8');
    expect(html).toContain('src="app.js"');
    const meta = JSON.parse(await readFile(join(site, 'meta.json'), 'utf8')) as { outputs: Record<string, { imports: { path: string }[] }> };
    const imports = Object.values(meta.outputs).flatMap((o) => o.imports.map((i) => i.path));
    expect(imports.filter((p) => p.startsWith('node:') || p === 'webgpu')).toEqual([]);
  });

  it('finds a static Node import chain in a metafile and ignores lazy ones', async () => {
    const script = join(ROOT, 'scripts/build-web.mjs');
    const { nodeImportChains } = (await import(script)) as { nodeImportChains: (m: unknown, entry: string) => string[][] };
    const metafile = {
      inputs: {
        'web/app.ts': { imports: [{ path: 'src/a.ts', kind: 'import-statement' }, { path: 'src/lazy.ts', kind: 'dynamic-import' }] },
        'src/a.ts': { imports: [{ path: 'node:fs', kind: 'import-statement', external: true }] },
        'src/lazy.ts': { imports: [{ path: 'node:os', kind: 'import-statement', external: true }] },
      },
    };
    expect(nodeImportChains(metafile, 'web/app.ts')).toEqual([['web/app.ts', 'src/a.ts', 'node:fs']]);
  });
});

describe('dawnet serve', () => {
  it('serves the page with MIME types, refuses paths out of the root and other methods', async () => {
    const port = server!.port;
    expect((await get(port, '/')).type).toBe('text/html; charset=utf-8');
    expect((await get(port, '/app.js')).type).toBe('text/javascript; charset=utf-8');
    expect((await get(port, '/style.css')).type).toBe('text/css; charset=utf-8');
    for (const path of ['/../package.json', '/%2e%2e/%2e%2e/package.json', '/..%2f..%2fpackage.json', '/%00', '/nothing.js']) {
      expect((await get(port, path)).status, path).toBe(404);
    }
    expect((await get(port, '/', 'POST')).status).toBe(405);
  });

  it('listens on loopback addresses only', async () => {
    expect(['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost'].every(isLoopbackHost)).toBe(true);
    expect(['0.0.0.0', '::', '192.168.1.4', 'example.com', ''].some(isLoopbackHost)).toBe(false);
    await expect(startServer({ root: workDir, host: '0.0.0.0', port: 0 })).rejects.toBeInstanceOf(UsageError);
  });
});

describe.skipIf(!hasChromium)('the page in headless Chromium', () => {
  let browser: Browser | undefined;
  const resultsDir = join(ROOT, 'test-results');

  beforeAll(async () => {
    await mkdir(resultsDir, { recursive: true });
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: [...fx.WEBGPU_ARGS, ...fx.BROWSER_ARGS] });
  });
  afterAll(async () => {
    await browser?.close();
  });

  /** The trained checkpoint, its slice and Node's probabilities with and without TTA: made once, for both tests that load it. */
  let trained: Promise<{ path: string; tiff: Uint8Array; plain: Float32Array; flip: Float32Array }> | undefined;
  const trainedFixture = () =>
    (trained ??= (async () => {
      const path = join(workDir, 'tiny-unet.safetensors');
      const model = await fx.makeCheckpoint(path);
      const tiff = fx.makeSlice();
      try {
        return { path, tiff, plain: await fx.nodeProbabilities(model, tiff), flip: await fx.nodeProbabilities(model, tiff, INPUT_SIDE, 'flip') };
      } finally {
        model.dispose();
      }
    })());

  async function openPage(page: Page): Promise<void> {
    await page.goto(server!.url);
    await page.waitForSelector('body[data-page="ready"]', { timeout: 20_000 });
    const gpu = await page.evaluate(() => ({ stage: document.body.dataset.gpu, problem: window.__dawnet.gpuProblem }));
    expect(gpu, 'the SwiftShader adapter should be found').toEqual({ stage: 'ready', problem: null });
  }

  it('segments a slice as Dawn does in Node, trains with a falling loss, downloads the weights', async () => {
    const { path: checkpointPath, tiff, plain: want } = await trainedFixture();
    const context = await browser!.newContext({ viewport: { width: 1400, height: 1000 }, acceptDownloads: true });
    const page = await context.newPage();
    const problems = fx.watchProblems(page);
    await openPage(page);

    await page.setInputFiles('#checkpoint-input', checkpointPath);
    await page.waitForSelector('body[data-segment="model-loaded"], body[data-segment="error"]');
    expect(await page.locator('#segment-error').textContent()).toBe('');
    expect(await page.locator('#model-info').textContent()).toContain('U-Net, 4 features, depth 2');

    await page.setInputFiles('#slice-input', { name: 'broken.tif', mimeType: 'image/tiff', buffer: Buffer.from('II*\0 not really a TIFF') });
    await page.waitForSelector('body[data-segment="error"]');
    expect(await page.locator('#segment-error').textContent()).toContain('broken.tif');

    await page.setInputFiles('#slice-input', { name: 'slice.tif', mimeType: 'image/tiff', buffer: Buffer.from(tiff) });
    await page.waitForSelector('body[data-segment="done"], body[data-segment="error"]', { timeout: 30_000 });
    expect(await page.locator('#segment-error').textContent()).toBe('');
    const got = await page.evaluate(() => ({ prob: Array.from(window.__dawnet.lastProbabilities ?? []), results: window.__dawnet.results }));
    expect(got.results).toMatchObject([{ file: 'slice.tif', size: INPUT_SIDE }]);
    // Different adapters (SwiftShader here, lavapipe or a GPU in Node) may pick other kernels and
    // sum in another order; 1e-4 leaves room for that (measured: 6e-8 on SwiftShader vs lavapipe).
    expectClose('page probabilities vs Node', got.prob, want, { atol: 1e-4, rtol: 0 });
    expect(await page.locator('[data-testid="result"] canvas').count()).toBe(4);

    await page.selectOption('#train-features', '4');
    await page.selectOption('#train-depth', '2');
    await page.selectOption('#train-size', '32');
    await page.selectOption('#train-batch', String(PAGE_TRAIN_BATCH));
    await page.fill('#train-steps', String(PAGE_TRAIN_STEPS));
    await page.click('#train-start');
    await page.waitForSelector('body[data-train="done"], body[data-train="error"]', { timeout: 60_000 });
    expect(await page.locator('#train-error').textContent()).toBe('');
    const losses = await page.evaluate(() => window.__dawnet.losses);
    expect(losses.length).toBe(PAGE_TRAIN_STEPS);
    const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
    expect(mean(losses.slice(-3)), `losses ${losses.map((l) => l.toFixed(3)).join(' ')}`).toBeLessThan(mean(losses.slice(0, 3)));

    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#train-download')]);
    const saved = decodeSafetensors(new Uint8Array(await readFile(await download.path())), 'download');
    expect(JSON.parse(saved.metadata.meta!).architecture).toEqual(ARCH);
    expect(saved.tensors.has('model/conv.weight')).toBe(true);

    await page.screenshot({ path: join(resultsDir, 'web.png'), fullPage: true });
    expect(problems).toEqual([]);
    await context.close();
  });

  it('runs several checkpoints as their ensemble: the same checkpoint twice gives its own probabilities', async () => {
    const { path: checkpointPath, tiff, plain: want } = await trainedFixture();
    const context = await browser!.newContext({ viewport: { width: 1400, height: 1000 } });
    const page = await context.newPage();
    const problems = fx.watchProblems(page);
    await openPage(page);
    const bytes = await readFile(checkpointPath);
    await page.setInputFiles('#checkpoint-input', [
      { name: 'fold-1.safetensors', mimeType: 'application/octet-stream', buffer: bytes },
      { name: 'fold-2.safetensors', mimeType: 'application/octet-stream', buffer: bytes },
    ]);
    await page.waitForSelector('body[data-segment="model-loaded"], body[data-segment="error"]');
    expect(await page.locator('#segment-error').textContent()).toBe('');
    expect(await page.locator('#model-info').textContent()).toMatch(/^Ensemble of 2 checkpoints \(fold-1\.safetensors, fold-2\.safetensors\), their probabilities averaged: the first a U-Net, 4 features, depth 2; /);
    await page.setInputFiles('#slice-input', { name: 'slice.tif', mimeType: 'image/tiff', buffer: Buffer.from(tiff) });
    await page.waitForSelector('body[data-segment="done"], body[data-segment="error"]', { timeout: 30_000 });
    expect(await page.locator('#segment-error').textContent()).toBe('');
    const prob = await page.evaluate(() => Array.from(window.__dawnet.lastProbabilities ?? []));
    // (p + p) / 2 = p: the ensemble of one model twice is that model, as the first test checks it.
    expectClose('ensemble of the same checkpoint twice vs Node', prob, want, { atol: 1e-4, rtol: 0 });
    // Members of another depth would take slices of another size: refused, naming both files.
    const deeper = dn.models.unet({ features: 4, depth: 3 });
    const deeperPath = join(workDir, 'deeper.safetensors');
    await saveCheckpoint(deeperPath, deeper, null, { architecture: { ...ARCH, depth: 3 }, seed: 1, task: 'segment' });
    deeper.dispose();
    await page.setInputFiles('#checkpoint-input', [
      { name: 'fold-1.safetensors', mimeType: 'application/octet-stream', buffer: bytes },
      { name: 'deeper.safetensors', mimeType: 'application/octet-stream', buffer: await readFile(deeperPath) },
    ]);
    await page.waitForSelector('body[data-segment="error"]');
    expect(await page.locator('#segment-error').textContent()).toBe("deeper.safetensors: a U-Net of depth 3, and fold-1.safetensors of depth 2: an ensemble's members must take slices of one size");
    // A 3-D U-Net's checkpoint (train --volume-depth) is refused, saying where its volumes are predicted.
    const volumeNet = dn.models.unet3d({ features: 2, depth: 1, inChannels: 3 });
    const volumePath = join(workDir, 'unet3d.safetensors');
    await saveCheckpoint(volumePath, volumeNet, null, { architecture: { name: 'unet3d', features: 2, depth: 1, inChannels: 3, outChannels: 1, norm: 'batch', patchDepth: 8 }, seed: 1, task: 'segment' });
    volumeNet.dispose();
    await page.setInputFiles('#checkpoint-input', { name: 'unet3d.safetensors', mimeType: 'application/octet-stream', buffer: await readFile(volumePath) });
    await page.waitForSelector('body[data-segment="error"]');
    expect(await page.locator('#segment-error').textContent()).toBe('unet3d.safetensors: the checkpoint\'s model is a 3-D U-Net (unet3d), trained on patches of 8 planes; this panel segments slices one by one, so predict its patients\' volumes with `dawnet predict RUN FOLDER`');
    expect(problems).toEqual([]);
    await context.close();
  });

  /** What the page drew and holds for its (only) slice: the mask canvas's pixels as 0/1 and its state. */
  const shown = (page: Page) =>
    page.evaluate(() => {
      const canvas = document.querySelector<HTMLCanvasElement>('[data-testid="result"] canvas[data-testid="mask"]')!;
      const rgba = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
      const s = window.__dawnet;
      return {
        drawn: Array.from({ length: canvas.width * canvas.height }, (_, i) => rgba[4 * i] / 255),
        mask: Array.from(s.lastMask ?? []),
        prob: Array.from(s.lastProbabilities ?? []),
        result: s.results[0],
        details: document.querySelector('[data-testid="result-details"]')!.textContent ?? '',
      };
    });

  const enterMinLesionSize = async (page: Page, text: string) => {
    await page.fill('#min-lesion-input', text);
    await page.press('#min-lesion-input', 'Enter');
  };

  it('runs flip TTA and removes small lesions as dawnet predict does, redrawing the slices shown', async () => {
    const { path, tiff, plain, flip } = await trainedFixture();
    // The trained 3x3 kernels are not mirror-symmetric, so the mirrored pass moves p(tumour).
    expect(Math.max(...plain.map((p, i) => Math.abs(p - flip[i])))).toBeGreaterThan(0.01);
    const planted = fx.makePlantedSlice();
    const thresholdPath = join(workDir, 'threshold-unet.safetensors');
    const plantedProb = await fx.thresholdProbabilities(await fx.makeThresholdCheckpoint(thresholdPath), planted);
    const thresholded = Array.from(plantedProb, (p) => (p >= 0.5 ? 1 : 0));
    const square = [PLANTED_SIDE, PLANTED_SIDE];
    // Lesion, speck and staircase 8-connected; the staircase falls apart into 3 with 4-connectivity.
    expect([8, 4].map((k) => labelComponents(thresholded, square, k as 8 | 4).count)).toEqual([3, 5]);

    const context = await browser!.newContext({ viewport: { width: 1400, height: 1000 } });
    const page = await context.newPage();
    const problems = fx.watchProblems(page);
    await openPage(page);
    await page.setInputFiles('#checkpoint-input', path);
    await page.waitForSelector('body[data-segment="model-loaded"], body[data-segment="error"]');
    await fx.nextRender(page, () => page.setInputFiles('#slice-input', { name: 'slice.tif', mimeType: 'image/tiff', buffer: Buffer.from(tiff) }));
    expectClose('page probabilities without TTA vs Node', (await shown(page)).prob, plain, { atol: 1e-4, rtol: 0 });

    // (a) TTA re-runs the model: the page must now give predictWithTta's average, and lose it again.
    await fx.nextRender(page, () => page.check('#tta-input'));
    let got = await shown(page);
    expect(got.result.tta).toBe('flip');
    expect(got.details).toContain('flip TTA: both passes');
    expectClose('page probabilities with flip TTA vs Node predictWithTta', got.prob, flip, { atol: 1e-4, rtol: 0 });
    await fx.nextRender(page, () => page.uncheck('#tta-input'));
    expectClose('page probabilities after TTA is off again vs Node', (await shown(page)).prob, plain, { atol: 1e-4, rtol: 0 });

    // (b) The threshold U-Net's mask is the planted slice's; post-processing must match postprocessMask's.
    await fx.nextRender(page, () => page.setInputFiles('#checkpoint-input', thresholdPath));
    await fx.nextRender(page, () => page.setInputFiles('#slice-input', { name: 'planted.tif', mimeType: 'image/tiff', buffer: Buffer.from(planted) }));
    got = await shown(page);
    expect(got.drawn).toEqual(thresholded);
    expect(got.result.removedPixels).toBe(0);
    const cases = [
      { change: () => enterMinLesionSize(page, '10'), opts: { minSize: 10 }, removed: 4 },
      { change: () => page.check('#keep-largest-input'), opts: { minSize: 10, keepLargest: true }, removed: 16 },
    ];
    for (const { change, opts, removed } of cases) {
      await fx.nextRender(page, change);
      const want = postprocessMask(thresholded, square, { ...opts, connectivity: 8 });
      expect(want.removedVoxels, 'the fixture').toBe(removed);
      got = await shown(page);
      expect(got.drawn, JSON.stringify(opts)).toEqual(Array.from(want.mask));
      expect(got.mask, JSON.stringify(opts)).toEqual(Array.from(want.mask));
      expect(got.drawn[24 * PLANTED_SIDE + 24], 'the planted speck').toBe(0);
      expect(got.result.removedPixels).toBe(removed);
      expect(got.details).toContain(`post-processing removed ${removed} pixels`);
      expectClose('probabilities stay the model\'s', got.prob, plantedProb, { atol: 1e-4, rtol: 0 });
    }

    // (c) A bad entry is named next to the field and the last valid size stays in force.
    const error = page.locator('#min-lesion-error');
    for (const [text, message] of [['-3', /negative/], ['2.5', /not a whole number/], ['abc', /not a number/], ['', /Enter a size/]] as const) {
      await enterMinLesionSize(page, text);
      await expect.poll(() => error.textContent(), { message: text }).toMatch(message);
      expect(await error.textContent()).toContain('Still using 10.');
      expect(await error.isVisible()).toBe(true);
      expect(await page.getAttribute('#min-lesion-input', 'aria-invalid')).toBe('true');
      expect(await page.evaluate(() => window.__dawnet.segmentOptions.minLesionSize)).toBe(10);
    }
    await enterMinLesionSize(page, '10');
    await expect.poll(() => error.isVisible()).toBe(false);
    expect(await page.getAttribute('#min-lesion-input', 'aria-invalid')).toBe('false');
    expect((await shown(page)).result.removedPixels).toBe(16);
    await page.screenshot({ path: join(resultsDir, 'web-options.png'), fullPage: true });
    expect(problems).toEqual([]);
    await context.close();
  });

  const WITHOUT_GPU = [
    {
      what: 'no navigator.gpu',
      hide: () => Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined, configurable: true }),
      message: /^No WebGPU: this browser has no WebGPU \(navigator\.gpu is missing\)/,
    },
    {
      what: 'no adapter',
      hide: () => Object.defineProperty(GPU.prototype, 'requestAdapter', { value: async () => null, configurable: true }),
      message: /^No WebGPU adapter: /,
    },
  ] as const;

  it.each(WITHOUT_GPU)('says plainly when the browser has $what', async ({ what, hide, message }) => {
    const context = await browser!.newContext();
    await context.addInitScript(hide);
    const page = await context.newPage();
    const problems = fx.watchProblems(page);
    await page.goto(server!.url);
    await page.waitForSelector('body[data-page="ready"]', { timeout: 20_000 });
    const banner = page.getByTestId('no-webgpu');
    expect(await banner.isVisible()).toBe(true);
    expect(await banner.textContent()).toMatch(message);
    expect(await page.locator('body').getAttribute('data-gpu')).toBe('missing');
    expect(await page.locator('#checkpoint-input').isDisabled()).toBe(true);
    for (const id of ['#tta-input', '#min-lesion-input', '#keep-largest-input']) expect(await page.locator(id).isDisabled(), id).toBe(true);
    expect(await page.locator('#train-start').isDisabled()).toBe(true);
    if (what === 'no navigator.gpu') await page.screenshot({ path: join(resultsDir, 'web-no-webgpu.png') });
    expect(problems).toEqual([]);
    await context.close();
  });
});
