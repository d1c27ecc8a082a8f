// The browser page end to end in Debian's headless Chromium (SwiftShader's WebGPU adapter): a
// tiny U-Net checkpoint and a slice TIFF made here in Node are fed through the page's file
// inputs, and the page's probability map must match Dawn's in Node; a few training steps in the
// page must lower the loss and give a downloadable checkpoint; a browser without WebGPU must say
// so plainly. Also the pieces around it: the bundle's Node-import check and `dawnet serve`.

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import * as dn from '../../src/index.js';
import { zscoreImages } from '../../src/data/normalize.js';
import { sliceToRgb } from '../../src/app/predict-job.js';
import { UsageError } from '../../src/cli/args.js';
import { isLoopbackHost, startServer, type StartedServer } from '../../src/cli/serve.js';
import { synthesizePatient } from '../../src/data/synth.js';
import { encodeTiff } from '../../src/data/tiff.js';
import { decodeSafetensors } from '../../src/io/safetensors.js';
import { saveCheckpoint } from '../../src/train/checkpoint.js';
import { expectClose } from '../helpers/close.js';
import { useGpu } from '../helpers/gpu.js';
// For the type of window.__dawnet inside page.evaluate (the file declares it globally).
import type {} from '../../web/page-state.js';

useGpu();

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`web browser tests skipped: ${CHROMIUM} is missing`);
const BROWSER_ARGS = ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--no-first-run'];
const WEBGPU_ARGS = ['--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-webgpu-adapter=swiftshader'];

/** The fixture's U-Net and slice: 30x30 is not a multiple of 2^depth, so the page must resize to 32. */
const ARCH = { name: 'unet', features: 4, depth: 2, inChannels: 3, outChannels: 1 } as const;
const SLICE_SIDE = 30;
const FIXTURE_STEPS = 40;
const INPUT_SIDE = 32;
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

/**
 * Adam steps on synthetic slices move the weights and BN statistics off their initial values, so
 * the probabilities span 0..1 instead of sitting near 0.5 (and the screenshot shows a mask).
 */
async function makeCheckpoint(path: string): Promise<dn.Module> {
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
function makeSlice(): Uint8Array {
  const patient = synthesizePatient(0, { patients: 1, seed: 5, size: SLICE_SIDE, slicesPerPatient: [12, 12] });
  const withTumour = patient.slices.filter((s) => s.mask.some((m) => m > 0));
  const slice = withTumour[Math.floor(withTumour.length / 2)] ?? patient.slices[6]!;
  return encodeTiff({ width: SLICE_SIDE, height: SLICE_SIDE, channels: 3, data: slice.image });
}

/** What `dawnet predict` does with the slice: resize, z-score, forward. */
async function nodeProbabilities(model: dn.Module, tiff: Uint8Array): Promise<Float32Array> {
  const input = sliceToRgb(tiff, 'slice.tif', INPUT_SIDE);
  zscoreImages(input, 1, INPUT_SIDE * INPUT_SIDE, 3);
  const x = dn.tensor(input, [1, INPUT_SIDE, INPUT_SIDE, 3]);
  const y = dn.noGrad(() => model.forward(x));
  const out = await y.toArray();
  x.dispose();
  y.dispose();
  return out;
}

function watchProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
  });
  return problems;
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
    browser = await chromium.launch({ executablePath: CHROMIUM, args: [...WEBGPU_ARGS, ...BROWSER_ARGS] });
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('segments a slice as Dawn does in Node, trains with a falling loss, downloads the weights', async () => {
    const checkpointPath = join(workDir, 'tiny-unet.safetensors');
    const model = await makeCheckpoint(checkpointPath);
    const tiff = makeSlice();
    const want = await nodeProbabilities(model, tiff);
    model.dispose();

    const context = await browser!.newContext({ viewport: { width: 1400, height: 1000 }, acceptDownloads: true });
    const page = await context.newPage();
    const problems = watchProblems(page);
    await page.goto(server!.url);
    await page.waitForSelector('body[data-page="ready"]', { timeout: 20_000 });
    const gpu = await page.evaluate(() => ({ stage: document.body.dataset.gpu, problem: window.__dawnet.gpuProblem }));
    expect(gpu, 'the SwiftShader adapter should be found').toEqual({ stage: 'ready', problem: null });

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
    const problems = watchProblems(page);
    await page.goto(server!.url);
    await page.waitForSelector('body[data-page="ready"]', { timeout: 20_000 });
    const banner = page.getByTestId('no-webgpu');
    expect(await banner.isVisible()).toBe(true);
    expect(await banner.textContent()).toMatch(message);
    expect(await page.locator('body').getAttribute('data-gpu')).toBe('missing');
    expect(await page.locator('#checkpoint-input').isDisabled()).toBe(true);
    expect(await page.locator('#train-start').isDisabled()).toBe(true);
    if (what === 'no navigator.gpu') await page.screenshot({ path: join(resultsDir, 'web-no-webgpu.png') });
    expect(problems).toEqual([]);
    await context.close();
  });
});
