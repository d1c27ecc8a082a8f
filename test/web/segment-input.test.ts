// The Segment panel against `dawnet predict` for runs not trained at the slices' own size with a
// per-slice z-score: a real `dawnet train segment` run (runTraining) at --size 16 --normalize none
// on 32-px synthetic slices, and the same run relabelled 'zscore-volume'. The page must read the
// input size and normalisation from the checkpoint and give predict's probabilities; a checkpoint
// that records neither keeps the old rule and says so; a folder picked with the folder input is read
// whole, hidden files left out, grouped by the folder. Also what the panel refuses: ground-truth
// masks given as slices, and a weights file (no architecture) given as a checkpoint. And the
// library bundle in the browser: the path-taking io functions throw a DawnetError that says they
// need Node, not the platform's TypeError.

import { cp, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import * as dn from '../../src/index.js';
import { defaultConfig, type TrainConfig } from '../../src/app/config.js';
import { runPredict, sliceToRgb } from '../../src/app/predict-job.js';
import { readConfig } from '../../src/app/run-dir.js';
import { loadRunModel } from '../../src/app/run-model.js';
import { runTraining } from '../../src/app/train-job.js';
import { startServer, type StartedServer } from '../../src/cli/serve.js';
import { applyStats, channelStats } from '../../src/data/normalize.js';
import { writeSyntheticDataset } from '../../src/data/synth.js';
import { decodePng } from '../../src/io/png.js';
import { decodeTiff, encodeTiff } from '../../src/data/tiff.js';
import { decodeSafetensors, encodeSafetensors } from '../../src/io/safetensors.js';
import { expectClose } from '../helpers/close.js';
import { useGpu } from '../helpers/gpu.js';
import * as fx from './page-fixture.js';
import type {} from '../../web/page-state.js';

useGpu();

const { ROOT, CHROMIUM, hasChromium } = fx;
const SLICE_SIDE = 32;
const RUN_SIZE = 16;
// Page (SwiftShader) vs Node (lavapipe or a GPU): other kernels may sum in another order; 1e-4 is
// the bound browser.test.ts uses (measured there: 6e-8). Predict's probability PNG rounds to 1/255.
const FLOAT_ATOL = 1e-4;
const PNG_ATOL = 0.5 / 255 + FLOAT_ATOL;

let workDir = '';
let server: StartedServer | undefined;
let run = '';
let patientDir = '';
let patient = '';
/** The patient's slice files, in slice order, and its masks. */
let sliceFiles: string[] = [];
let maskFiles: string[] = [];

const run$ = (cmd: string, args: string[]) =>
  new Promise<void>((ok, fail) => execFile(cmd, args, { cwd: ROOT }, (e, _o, stderr) => (e ? fail(new Error(stderr || e.message)) : ok())));

/** The page, and beside it the library's browser bundle (lib/dawnet.js, as scripts/build.mjs makes it) with a blank page. */
async function buildSite(site: string): Promise<void> {
  await run$(process.execPath, ['scripts/build-web.mjs', '--outdir', site]);
  await build({ entryPoints: [join(ROOT, 'src/index.ts')], bundle: true, format: 'esm', target: 'es2022', platform: 'browser', outfile: join(site, 'lib/dawnet.js'), external: ['webgpu', 'node:*', 'h5wasm/node'], define: { __DAWNET_BUILD__: '"test"' }, logLevel: 'silent' });
  // The bundle imported by the page itself: an import() inside page.evaluate would be rewritten by vitest.
  await writeFile(join(site, 'lib/blank.html'), '<!doctype html><title>dawnet</title><link rel="icon" href="data:,"><script type="module">import * as dn from "./dawnet.js"; window.dn = dn;</script>');
}

/** A copy of `from`'s checkpoint with its metadata's `meta` changed by `edit`. */
async function relabel(from: string, to: string, edit: (meta: Record<string, unknown>) => void): Promise<void> {
  const { tensors, metadata } = decodeSafetensors(new Uint8Array(await readFile(from)), from);
  const meta = JSON.parse(metadata.meta!) as Record<string, unknown>;
  edit(meta);
  await writeFile(to, encodeSafetensors(tensors, { ...metadata, meta: JSON.stringify(meta) }));
}

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'dawnet-web-input-'));
  await buildSite(join(workDir, 'site'));
  server = await startServer({ root: join(workDir, 'site'), port: 0 });
  const data = join(workDir, 'data');
  await writeSyntheticDataset(data, { patients: 4, seed: 3, size: SLICE_SIDE, slicesPerPatient: [6, 6] });
  patient = (await readdir(data, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name).sort()[0]!;
  patientDir = join(data, patient);
  const names = await readdir(patientDir);
  const index = (n: string) => Number(/_(\d+)(_mask)?\.tif$/.exec(n)![1]);
  sliceFiles = names.filter((n) => !n.endsWith('_mask.tif')).sort((a, b) => index(a) - index(b)).map((n) => join(patientDir, n));
  maskFiles = names.filter((n) => n.endsWith('_mask.tif')).map((n) => join(patientDir, n));
  run = join(workDir, 'run-16-none');
  const config: TrainConfig = { ...defaultConfig('segment'), data, out: run, size: RUN_SIZE, normalize: 'none', features: 4, depth: 2, epochs: 1, batch: 8, lr: 0.01, augment: 'none', workers: 0 };
  await runTraining(config, { log: () => undefined });
}, 300_000);

afterAll(async () => {
  await server?.close();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

/** Predict's steps in floats (sliceToRgb at the run's size, normalised by `normalise`, the run's model). */
async function nodeProbabilities(runDir: string, files: string[], normalise: (rgbs: Float32Array[]) => void): Promise<Float32Array[]> {
  const c = await readConfig(runDir);
  const model = await loadRunModel([runDir], [c], () => undefined);
  try {
    model.eval();
    const inputs = await Promise.all(files.map(async (f) => sliceToRgb(new Uint8Array(await readFile(f)), f, c.size)));
    normalise(inputs);
    const out: Float32Array[] = [];
    for (const input of inputs) {
      const x = dn.tensor(input, [1, c.size, c.size, 3]);
      const y = dn.noGrad(() => model.forward(x));
      out.push(await y.toArray());
      x.dispose();
      y.dispose();
    }
    return out;
  } finally {
    model.dispose();
  }
}

/** The trained run relabelled 'zscore-volume' (config and checkpoint), made on first use. */
let volumeRunMade: Promise<string> | undefined;
function volumeRun(): Promise<string> {
  volumeRunMade ??= (async () => {
    const runVol = join(workDir, 'run-16-volume');
    await mkdir(runVol);
    for (const f of ['config.json', 'split.json']) await cp(join(run, f), join(runVol, f));
    const config = JSON.parse(await readFile(join(run, 'config.json'), 'utf8')) as TrainConfig;
    await writeFile(join(runVol, 'config.json'), JSON.stringify({ ...config, out: runVol, normalize: 'zscore-volume' }));
    await relabel(join(run, 'best.safetensors'), join(runVol, 'best.safetensors'), (m) => (m.normalize = 'zscore-volume'));
    return runVol;
  })();
  return volumeRunMade;
}

/** `dawnet predict RUN inputs...`: per slice file, its tumour pixels and the probabilities of its PNG. */
async function predicted(runDir: string, inputs: string[], out: string): Promise<Map<string, { tumourPixels: number; prob: Float32Array }>> {
  const results = await runPredict(runDir, inputs, out, () => undefined);
  const byName = new Map<string, { tumourPixels: number; prob: Float32Array }>();
  for (const r of results) {
    const png = await decodePng(new Uint8Array(await readFile(r.outputs[0]!)));
    byName.set(r.file.split('/').pop()!, { tumourPixels: r.tumourPixels!, prob: Float32Array.from(png.data, (v) => v / 255) });
  }
  return byName;
}

describe('the checkpoint of `dawnet train segment`', () => {
  it('records the input size and normalisation of its run', async () => {
    for (const file of ['best.safetensors', 'last.safetensors']) {
      const { metadata } = decodeSafetensors(new Uint8Array(await readFile(join(run, file))), file);
      expect(JSON.parse(metadata.meta!), file).toMatchObject({ size: RUN_SIZE, normalize: 'none' });
    }
  });
});

describe.skipIf(!hasChromium)('the Segment panel in headless Chromium, against dawnet predict', () => {
  let browser: Browser | undefined;

  beforeAll(async () => {
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: [...fx.WEBGPU_ARGS, ...fx.BROWSER_ARGS] });
  });
  afterAll(async () => {
    await browser?.close();
  });

  async function openPage(): Promise<{ page: Page; problems: string[]; close: () => Promise<void> }> {
    const context = await browser!.newContext({ viewport: { width: 1400, height: 1000 } });
    const page = await context.newPage();
    const problems = fx.watchProblems(page);
    await page.goto(server!.url);
    await page.waitForSelector('body[data-page="ready"]', { timeout: 20_000 });
    expect(await page.evaluate(() => document.body.dataset.gpu)).toBe('ready');
    return { page, problems, close: () => context.close() };
  }

  /** Gives the page files and waits for its next pass over its slices (or an error). */
  async function give(page: Page, input: 'checkpoint' | 'slice' | 'slice-folder', files: string[]): Promise<void> {
    const before = await page.evaluate(() => window.__dawnet.renders);
    await page.setInputFiles(`#${input}-input`, files);
    if (input === 'checkpoint') await page.waitForSelector('body[data-segment="model-loaded"], body[data-segment="done"], body[data-segment="error"]');
    else await page.waitForFunction((n) => window.__dawnet.renders > n || document.body.dataset.segment === 'error', before, { timeout: 60_000 });
  }

  const state = (page: Page) =>
    page.evaluate(() => ({
      prob: Array.from(window.__dawnet.lastProbabilities ?? []),
      results: window.__dawnet.results,
      details: [...document.querySelectorAll('[data-testid="result-details"]')].map((e) => e.textContent ?? ''),
      info: document.getElementById('model-info')!.textContent ?? '',
      note: document.getElementById('model-note')!.hidden ? null : document.getElementById('model-note')!.textContent,
      error: document.getElementById('segment-error')!.textContent ?? '',
    }));

  it('resizes to the recorded size and leaves a --normalize none run unnormalised, as predict does', async () => {
    const slice = sliceFiles[3]!;
    const [want] = await nodeProbabilities(run, [slice], () => undefined);
    const pred = (await predicted(run, [slice], join(workDir, 'pred-none'))).get(slice.split('/').pop()!)!;
    const { page, problems, close } = await openPage();
    await give(page, 'checkpoint', [join(run, 'best.safetensors')]);
    await give(page, 'slice', [slice]);
    const got = await state(page);
    expect(got.error).toBe('');
    expect(got.results).toMatchObject([{ size: RUN_SIZE }]);
    expectClose('page vs predict in floats (16 px, no normalisation)', got.prob, want!, { atol: FLOAT_ATOL, rtol: 0 });
    expectClose("page vs predict's probability PNG", got.prob, pred.prob, { atol: PNG_ATOL, rtol: 0 });
    expect(got.results[0]!.tumourPixels).toBe(pred.tumourPixels);
    expect(got.note).toBeNull();
    expect(got.info).toContain(`resized to ${RUN_SIZE}×${RUN_SIZE} and not normalised (0..1 values), as the checkpoint records`);
    expect(got.details[0]).toContain(`${SLICE_SIDE}×${SLICE_SIDE} resized to ${RUN_SIZE}×${RUN_SIZE}`);
    // The model must care: z-scored input (the page's old rule) moves the probabilities far.
    const [zscored] = await nodeProbabilities(run, [slice], (rgbs) => rgbs.forEach((r) => applyStats(r, RUN_SIZE * RUN_SIZE, channelStats([r], RUN_SIZE * RUN_SIZE, 3))));
    expect(Math.max(...got.prob.map((p, i) => Math.abs(p - zscored![i]!)))).toBeGreaterThan(0.01);
    expect(problems).toEqual([]);
    await close();
  });

  it("z-scores a 'zscore-volume' run with the statistics of the patient's slices given together, leaving its masks out", async () => {
    const runVol = await volumeRun();
    const pixels = RUN_SIZE * RUN_SIZE;
    const wantVolume = await nodeProbabilities(runVol, sliceFiles, (rgbs) => {
      const stats = channelStats(rgbs, pixels, 3);
      for (const r of rgbs) applyStats(r, pixels, stats);
    });
    const ownLast = await nodeProbabilities(runVol, sliceFiles.slice(-1), (rgbs) => applyStats(rgbs[0]!, pixels, channelStats(rgbs, pixels, 3)));
    // The fixture: the volume's statistics are not the slice's own, and the model tells them apart.
    expect(Math.max(...wantVolume.at(-1)!.map((p, i) => Math.abs(p - ownLast[0]![i]!)))).toBeGreaterThan(1e-3);
    const predFolder = await predicted(runVol, [patientDir], join(workDir, 'pred-volume'));
    const { page, problems, close } = await openPage();
    await give(page, 'checkpoint', [join(runVol, 'best.safetensors')]);
    // Every file of the folder, masks too, as picking the whole folder gives them.
    await give(page, 'slice', [...sliceFiles, ...maskFiles]);
    let got = await state(page);
    expect(got.error).toMatch(/^Left out .*_mask\.tif.*: ground-truth masks \(_mask\.tif\), not MRI slices/);
    for (const m of maskFiles) expect(got.error).toContain(m.split('/').pop()!);
    expect(got.results.map((r) => r.file)).toEqual(sliceFiles.map((f) => f.split('/').pop()));
    // Files picked one by one come with no folder: grouped by name alone, and each card says so.
    for (const d of got.details) expect(d).toContain(`statistics of the ${sliceFiles.length} slices of ${patient} given together, grouped by file name only`);
    for (const r of got.results) expect(r.tumourPixels, r.file).toBe(predFolder.get(r.file)!.tumourPixels);
    expectClose('page vs predict in floats (volume statistics), last slice', got.prob, wantVolume.at(-1)!, { atol: FLOAT_ATOL, rtol: 0 });
    expectClose("page vs predict's PNG (patient folder), last slice", got.prob, predFolder.get(got.results.at(-1)!.file)!.prob, { atol: PNG_ATOL, rtol: 0 });

    // A slice given alone has no volume: predict and the page both use its own statistics.
    const alone = sliceFiles[2]!;
    const [wantAlone] = await nodeProbabilities(runVol, [alone], (rgbs) => applyStats(rgbs[0]!, pixels, channelStats(rgbs, pixels, 3)));
    const predAlone = (await predicted(runVol, [alone], join(workDir, 'pred-alone'))).get(alone.split('/').pop()!)!;
    await give(page, 'slice', [alone]);
    got = await state(page);
    expect(got.error).toBe('');
    expect(got.details[0]).toContain('z-scored by its own statistics');
    expectClose('page vs predict in floats (a slice alone)', got.prob, wantAlone!, { atol: FLOAT_ATOL, rtol: 0 });
    expectClose("page vs predict's PNG (a slice alone)", got.prob, predAlone.prob, { atol: PNG_ATOL, rtol: 0 });
    expect(got.results[0]!.tumourPixels).toBe(predAlone.tumourPixels);
    expect(problems).toEqual([]);
    await close();
  });

  it("groups a dropped folder's slices by folder, so same-named patients in two folders keep their own statistics, as predict does per folder", async () => {
    const runVol = await volumeRun();
    // Two copies of the patient's folder, the second darker: same file names, other statistics.
    const drop = join(workDir, 'drop');
    const folders = [join(drop, 'x', patient), join(drop, 'y', patient)];
    await cp(patientDir, folders[0]!, { recursive: true });
    await cp(patientDir, folders[1]!, { recursive: true });
    for (const f of sliceFiles) {
      const at = join(folders[1]!, f.split('/').pop()!);
      const img = decodeTiff(new Uint8Array(await readFile(at)), at);
      await writeFile(at, encodeTiff({ ...img, data: img.data.map((v) => v >> 1) }));
    }
    const perFolder = [await predicted(runVol, [folders[0]!], join(workDir, 'pred-drop-x')), await predicted(runVol, [folders[1]!], join(workDir, 'pred-drop-y'))];
    const names = sliceFiles.map((f) => f.split('/').pop()!);
    const { page, problems, close } = await openPage();
    await give(page, 'checkpoint', [join(runVol, 'best.safetensors')]);
    const before = await page.evaluate(() => window.__dawnet.renders);
    // A real drop of the folder (as from a file manager), through the DevTools protocol: Playwright drops files only.
    const box = (await page.locator('#drop-zone').boundingBox())!;
    const cdp = await page.context().newCDPSession(page);
    const at = { x: box.x + box.width / 2, y: box.y + box.height / 2, data: { items: [], files: [drop], dragOperationsMask: 1 } };
    for (const type of ['dragEnter', 'dragOver', 'drop'] as const) await cdp.send('Input.dispatchDragEvent', { type, ...at });
    await page.waitForFunction((n) => window.__dawnet.renders > n || document.body.dataset.segment === 'error', before, { timeout: 60_000 });
    const got = await state(page);
    expect(got.error).toMatch(/^Left out .*_mask\.tif.*: ground-truth masks/);
    expect(got.results.map((r) => r.file)).toEqual([...names, ...names]);
    for (const [k, folder] of ['x', 'y'].entries()) {
      for (const [i, name] of names.entries()) {
        const r = names.length * k + i;
        expect(got.details[r]).toContain(`statistics of the ${names.length} slices of ${patient} in drop/${folder}/${patient}/ given together`);
        expect(got.results[r]!.tumourPixels, `${folder}/${name}`).toBe(perFolder[k]!.get(name)!.tumourPixels);
      }
    }
    const last = perFolder[1]!.get(names.at(-1)!)!.prob;
    expectClose("page vs predict's PNG (second folder), last slice", got.prob, last, { atol: PNG_ATOL, rtol: 0 });
    // Grouped by name alone, both folders would share statistics: the last slice would come out otherwise.
    const pixels = RUN_SIZE * RUN_SIZE;
    const both = folders.flatMap((f) => names.map((n) => join(f, n)));
    const joint = await nodeProbabilities(runVol, both, (rgbs) => {
      const stats = channelStats(rgbs, pixels, 3);
      for (const r of rgbs) applyStats(r, pixels, stats);
    });
    expect(Math.max(...joint.at(-1)!.map((p, i) => Math.abs(p - got.prob[i]!)))).toBeGreaterThan(1e-3);
    expect(problems).toEqual([]);
    await close();
  });

  it('reads a picked folder whole: hidden files left out, slices grouped by the folder, as predict does', async () => {
    const runVol = await volumeRun();
    // The patient's folder as copied from a Mac: an AppleDouble ._<name> beside each file, and a .DS_Store.
    const picked = join(workDir, 'picked', patient);
    await cp(patientDir, picked, { recursive: true });
    const appleDouble = new Uint8Array(4096);
    appleDouble.set([0x00, 0x05, 0x16, 0x07]);
    for (const name of await readdir(patientDir)) await writeFile(join(picked, `._${name}`), appleDouble);
    await writeFile(join(picked, '.DS_Store'), appleDouble);
    const pred = await predicted(runVol, [picked], join(workDir, 'pred-picked'));
    const names = sliceFiles.map((f) => f.split('/').pop()!);
    const { page, problems, close } = await openPage();
    await give(page, 'checkpoint', [join(runVol, 'best.safetensors')]);
    await give(page, 'slice-folder', [picked]);
    const got = await state(page);
    expect(got.error).toMatch(/^Left out .*_mask\.tif.*: ground-truth masks/);
    expect(got.error).not.toContain('._');
    expect(got.results.map((r) => r.file)).toEqual(names);
    for (const [i, name] of names.entries()) {
      expect(got.details[i]).toContain(`statistics of the ${names.length} slices of ${patient} in ${patient}/ given together`);
      expect(got.results[i]!.tumourPixels, name).toBe(pred.get(name)!.tumourPixels);
    }
    expectClose("page vs predict's PNG (picked folder), last slice", got.prob, pred.get(names.at(-1)!)!.prob, { atol: PNG_ATOL, rtol: 0 });
    expect(problems).toEqual([]);
    await close();
  });

  it('says what it assumes for a checkpoint that records no input size or normalisation', async () => {
    const older = join(workDir, 'older.safetensors');
    await relabel(join(run, 'best.safetensors'), older, (m) => {
      delete m.size;
      delete m.normalize;
    });
    const { page, problems, close } = await openPage();
    await give(page, 'checkpoint', [older]);
    await give(page, 'slice', [sliceFiles[3]!]);
    const got = await state(page);
    expect(got.error).toBe('');
    expect(got.note).toMatch(/^This checkpoint does not record its input size or its normalisation .*assumes each slice's own side rounded to a multiple of 4 and 'zscore'/);
    expect(await page.locator('#model-note').isVisible()).toBe(true);
    expect(got.results).toMatchObject([{ size: SLICE_SIDE }]);
    // An ensemble's members must see one input, as predict --ensemble checks the runs' configs.
    await give(page, 'checkpoint', [join(run, 'best.safetensors'), older]);
    expect((await state(page)).error).toBe(
      "older.safetensors reads its slices at a size it does not record, normalised as it does not record, and best.safetensors at 16×16, normalised 'none': an ensemble's members must see the same input",
    );
    expect(problems).toEqual([]);
    await close();
  });

  it('refuses a weights file, saying it is one and what the panel needs', async () => {
    const model = dn.models.unet({ features: 2, depth: 1 });
    const weights = join(workDir, 'unet-weights.safetensors');
    await writeFile(weights, await dn.io.encodeWeights(model));
    model.dispose();
    const { page, problems, close } = await openPage();
    await give(page, 'checkpoint', [weights]);
    const { error } = await state(page);
    expect(error).toMatch(/^unet-weights\.safetensors: a dawnet weights file \(dawnet-weights-1, .*\), which holds no architecture; this panel needs a checkpoint: best\.safetensors of a `dawnet train segment` run, or the Train panel's download$/);
    expect(problems).toEqual([]);
    await close();
  });

  it('the library bundle: path-taking io functions throw a DawnetError saying they need Node', async () => {
    const context = await browser!.newContext();
    const page = await context.newPage();
    const problems = fx.watchProblems(page);
    await page.goto(`${server!.url.replace(/\/$/, '')}/lib/blank.html`);
    await page.waitForFunction(() => 'dn' in window);
    const got = await page.evaluate(async () => {
      const lib = (window as unknown as { dn: typeof import('../../src/index.js') }).dn;
      await lib.init();
      const m = lib.models.unet({ features: 2, depth: 1 });
      const calls: Record<string, () => Promise<unknown>> = {
        saveWeights: () => lib.io.saveWeights(m, 'unet.safetensors'),
        loadWeights: () => lib.io.loadWeights(m, 'weights/unet.safetensors'),
        saveCheckpoint: () => lib.train.saveCheckpoint('unet.ckpt', m, null, {}),
        loadCheckpoint: () => lib.train.loadCheckpoint('unet.ckpt', m),
      };
      const out: Record<string, { name: string; dawnet: boolean; argument: boolean; message: string }> = {};
      for (const [name, call] of Object.entries(calls)) {
        try {
          await call();
          out[name] = { name: 'none', dawnet: false, argument: false, message: '' };
        } catch (e) {
          out[name] = { name: (e as Error).name, dawnet: e instanceof lib.DawnetError, argument: e instanceof lib.ArgumentError, message: (e as Error).message };
        }
      }
      m.dispose();
      return out;
    });
    const paths = { saveWeights: 'unet.safetensors', loadWeights: 'weights/unet.safetensors', saveCheckpoint: 'unet.ckpt', loadCheckpoint: 'unet.ckpt' } as const;
    for (const [name, path] of Object.entries(paths)) {
      const e = got[name]!;
      expect(e.dawnet, `${name}: ${e.name}: ${e.message}`).toBe(true);
      expect(e.message, name).toContain(`${path} needs Node's file system`);
      expect(e.message.startsWith(`${name}: `), `${name} names itself: ${e.message}`).toBe(true);
      expect(e.argument, `${name}: ${e.name}`).toBe(true);
    }
    expect(got.saveWeights!.message).toContain('dn.io.encodeWeights(model)');
    expect(got.loadWeights!.message).toContain('dn.io.loadWeights(model, bytes)');
    // No attempt to import node:fs/promises, so no CORS error in the console either.
    expect(problems).toEqual([]);
    await context.close();
  });
});
