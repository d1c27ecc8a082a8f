// Every ```js and ```html example in README.md, run as written. Each block is matched to one entry
// below by a stable feature of its text; the entry makes what the block assumes (its free
// variables, files in the folder it runs in) and checks what it produced, not only that it ran.
// A README block without an entry fails, naming its line, so a new example comes with its test.
//
// The js blocks run in this process against src (as every other test does): `import('dawnet')`
// is handed this module, and each block runs in a fresh temporary folder, as a user's script in
// its project folder. That the package name resolves to the Node build is
// test/web/package-exports.test.ts's to check. The page runs in headless Chromium where
// /usr/bin/chromium exists (test/web/page-fixture.ts's set-up).

import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { transform } from 'esbuild';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import * as dn from '../../src/index.js';
import type { History } from '../../src/train/fit.js';
import { nd } from '../../src/reference/array.js';
import { conv2dBackwardRef, conv2dForwardRef } from '../../src/reference/conv.js';
import { startServer } from '../../src/cli/serve.js';
import { BROWSER_ARGS, CHROMIUM, hasChromium, watchProblems, WEBGPU_ARGS } from '../web/page-fixture.js';
import { dnReferences, moduleScript, readmeBlocks, ROOT, runBlock, RUNNABLE_FENCE, type ReadmeBlock } from './readme-blocks.js';
import { lggContext, lggVolumeContext, multiClassContext, profileContext, squareScaleOp, tuneContext, vggContext, VGG16_CONVS, writeUnetWeights, writeVggNotopH5 } from './readme-contexts.js';

/** What a block did besides its locals: console.log calls, fit's histories, shutdown() calls. */
interface BlockRun {
  logs: unknown[][];
  fits: History[];
  shutdowns: number;
  dir: string;
}

interface Example {
  name: string;
  /** Matched against the block's whole text; must match exactly one block. */
  key: RegExp;
  /** The block brings up the device itself (`await dn.init()`); otherwise the test does. */
  initsItself?: boolean;
  /** Makes the block's free variables, with the device up and the block's folder as `dir`. */
  context?: (dir: string) => Promise<Record<string, unknown>> | Record<string, unknown>;
  /** Locals of the block handed to `check`. */
  expose: string[];
  check: (out: Record<string, unknown>, rec: BlockRun) => Promise<void> | void;
}

const finite = (a: ArrayLike<number>) => Array.from(a).every(Number.isFinite);

/** Index of the first value that differs, -1 if none (toEqual is too slow for millions of values). */
function firstDifference(got: ArrayLike<number>, want: ArrayLike<number>): number {
  if (got.length !== want.length) return Math.min(got.length, want.length);
  for (let i = 0; i < got.length; i++) if (!Object.is(got[i], want[i])) return i;
  return -1;
}

/** |got - want| <= atol + rtol |want| (STYLE.md's f32 defaults), naming the worst index. */
function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, atol = 1e-5, rtol = 1e-4): void {
  expect(got.length).toBe(want.length);
  let worst = -1;
  let excess = 0;
  for (let i = 0; i < want.length; i++) {
    const e = Math.abs(got[i]! - want[i]!) - (atol + rtol * Math.abs(want[i]!));
    if (!(e <= excess)) [worst, excess] = [i, Number.isNaN(e) ? Infinity : e];
  }
  expect(worst, worst < 0 ? '' : `worst index ${worst}: got ${got[worst]}, want ${want[worst]}`).toBe(-1);
}

const EXAMPLES: Example[] = [
  {
    name: 'the library quick tour',
    key: /await import\('dawnet'\)/,
    initsItself: true,
    expose: ['x', 'w', 'y', 'out'],
    async check({ x, w, y, out }, rec) {
      const [xt, wt, yt, ot] = [x, w, y, out] as dn.Tensor[];
      expect(rec.logs[0]).toEqual([dn.info().name]);
      expect(dn.info().name.length).toBeGreaterThan(0);
      const printed = rec.logs[1]![0] as Float32Array;
      expect(printed).toBeInstanceOf(Float32Array);
      expect(xt!.grad!.shape).toEqual([2, 8, 8, 3]);
      expect(wt!.grad!.shape).toEqual([3, 3, 3, 4]);
      // What was printed is w.grad, the float64 reference's gradient of mean(relu(conv(x, w))²).
      const xr = nd(await xt!.toArray(), [2, 8, 8, 3]);
      const wr = nd(await wt!.toArray(), [3, 3, 3, 4]);
      const yr = conv2dForwardRef(xr, wr, null, { padding: 'same' });
      const dy = nd(yr.data.map((v) => (v > 0 ? (2 * v) / yr.data.length : 0)), yr.shape);
      expectClose(printed, conv2dBackwardRef(xr, wr, dy, { padding: 'same' }).dw.data);
      expect(finite(printed)).toBe(true);
      // `out` outlived its scope: sigmoid(y + y), element by element.
      expect(ot!.shape).toEqual([2, 8, 8, 4]);
      expectClose(await ot!.toArray(), (await yt!.toArray()).map((v) => 1 / (1 + Math.exp(-2 * v))));
      expect(rec.shutdowns).toBe(1);
    },
  },
  {
    name: 'runKernel and customOp',
    key: /dn\.customOp\(/,
    expose: ['x', 'a', 'y'],
    async check({ x, a, y }, rec) {
      // y = x² · a + 1, dL/dx = 2 x a, dL/da = x² for L = Σ y: exact in float32 at these values.
      expect(rec.logs[0]!.map((v) => Array.from(v as Float32Array))).toEqual([
        [1.5, 3, 19],
        [1, 2, 12],
        [1, 4, 9],
      ]);
      expect(Array.from(await (y as dn.Tensor).toArray())).toEqual([1.5, 3, 19]);
      for (const t of [x, a, y] as dn.Tensor[]) t.dispose();
    },
  },
  {
    name: 'gradcheck of the customOp above',
    key: /dn\.gradcheck\(/,
    context: () => ({ squareScale: squareScaleOp() }),
    expose: ['x', 'a', 'report'],
    check({ x, a, report }, rec) {
      const r = report as dn.GradcheckReport;
      expect(r.ok).toBe(true);
      expect(rec.logs[0]![0]).toBe(true);
      // float32 products of three values below 2.5 against float64 differences: a few ulps.
      const errors = rec.logs[0]![1] as number[];
      expect(errors.length).toBe(2);
      for (const e of errors) expect(e).toBeLessThan(1e-6);
      expect(r.inputs.map((i) => [i.argument, i.checked])).toEqual([
        [0, 3],
        [1, 3],
      ]);
      for (const t of [x, a] as dn.Tensor[]) t.dispose();
    },
  },
  {
    name: 'dn.profile',
    key: /dn\.profile\(/,
    context: profileContext,
    expose: ['p'],
    check({ p }, rec) {
      const prof = p as dn.Profile;
      expect(prof.totalMs).toBeGreaterThan(0);
      expect(rec.logs.length).toBe(Math.min(5, prof.kernels.length));
      for (const [i, [name, dispatches, ms]] of rec.logs.entries()) {
        expect(name).toBe(prof.kernels[i]!.name);
        expect(Number.isInteger(dispatches) && (dispatches as number) > 0).toBe(true);
        expect(String(ms)).toMatch(/^\d+\.\d\d$/);
      }
      const ms = prof.kernels.map((k) => k.ms);
      expect(ms).toEqual([...ms].sort((a, b) => b - a));
      // A U-Net's forward and backward are mostly convolutions: some are among the largest.
      expect(rec.logs.some(([name]) => String(name).startsWith('conv2d.'))).toBe(true);
    },
  },
  {
    name: 'tuneConvs and saveConvTuning',
    key: /dn\.tuneConvs\(/,
    context: tuneContext,
    expose: ['tuned', 'calls'],
    async check({ tuned, calls }, rec) {
      const list = tuned as dn.TunedConv[];
      expect((calls as () => number)()).toBe(1);
      expect(list.length).toBeGreaterThan(0);
      for (const t of list) expect(Object.keys(t.ms)).toContain(t.algorithm);
      const saved = JSON.parse(await readFile(join(rec.dir, 'conv-tuning.json'), 'utf8')) as { convs: unknown[] };
      expect(saved.convs.length).toBe(list.length);
      dn.clearConvTuning();
      expect(await dn.io.loadConvTuning(join(rec.dir, 'conv-tuning.json'))).toBe(list.length);
      dn.clearConvTuning();
    },
  },
  {
    name: 'models, Keras VGG16 weights, features',
    key: /dn\.models\.vgg16\(/,
    async context(dir) {
      written.vggFile = await writeVggNotopH5(join(dir, 'vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5'));
      return vggContext();
    },
    expose: ['net', 'vgg', 'report', 'features'],
    async check({ net, vgg, report, features }, rec) {
      expect(rec.logs).toEqual([[26]]);
      expect((report as dn.io.LoadReport).loaded.length).toBe(26);
      // The README's figure for Buda's U-Net.
      expect((net as dn.Module).parameterCount()).toBe(7_763_041);
      const f = features as dn.Tensor;
      expect(f.shape).toEqual([1, 1, 1, 512]);
      const values = await f.toArray();
      expect(finite(values) && values.some((v) => v > 0)).toBe(true);
      // Every kernel and bias is the file's, value for value.
      const params = new Map((vgg as dn.Module).namedParameters().map((p) => [p.name, p.tensor]));
      for (const [layer] of VGG16_CONVS) {
        const want = written.vggFile!.get(layer)!;
        expect(firstDifference(await params.get(`features.${layer}.weight`)!.toArray(), want.kernel), `${layer} kernel`).toBe(-1);
        expect(firstDifference(await params.get(`features.${layer}.bias`)!.toArray(), want.bias), `${layer} bias`).toBe(-1);
      }
    },
  },
  {
    name: 'a multi-class U-Net trained by fit',
    key: /dn\.softmaxCrossEntropy\(/,
    context: multiClassContext,
    expose: ['net'],
    check({ net }, rec) {
      // summary() with the input shape: the output shape of the model, and its parameter count.
      const summary = String(rec.logs[0]![0]);
      expect(summary).toMatch(/^\(model\) +UNet +\[1,256,256,4\]/m);
      expect(summary).toContain(`parameters: ${(net as dn.Module).parameterCount().toLocaleString('en-US')} `);
      expect(rec.fits.length).toBe(1);
      const losses = rec.fits[0]!.logs.map((l) => l.loss!);
      expect(losses.length).toBe(50);
      expect(finite(losses)).toBe(true);
      expect(losses.at(-1)!).toBeLessThan(losses[0]!);
    },
  },
  {
    name: 'the LGG data in a script',
    key: /dn\.data\.lggDataset\(/,
    context: lggContext,
    expose: ['split', 'net'],
    check({ split }, rec) {
      const s = split as dn.data.DataSplit<dn.data.LggSlice>;
      expect([s.patients.train.length, s.patients.val.length, s.patients.test.length]).toEqual([1, 1, 1]);
      expect(rec.fits.length).toBe(1);
      const losses = rec.fits[0]!.logs.map((l) => l.loss!);
      expect(losses.length).toBe(20);
      expect(finite(losses)).toBe(true);
      expect(losses.at(-1)!).toBeLessThan(losses[0]!);
      // verbose: true prints Keras's line per epoch.
      const lines = rec.logs.map((l) => String(l[0])).filter((l) => l.startsWith('epoch '));
      expect(lines.length).toBe(20);
      expect(lines[19]).toMatch(/^epoch 20\/20 - [\d.]+s - loss: \d\.\d{4} - val_loss: \d\.\d{4}/);
    },
  },
  {
    name: 'the LGG data as volumes for a 3-D U-Net',
    key: /dn\.data\.lggVolumeDataset\(/,
    context: lggVolumeContext,
    expose: ['split', 'volume', 'prob', 'x'],
    async check({ split, volume, prob, x }, rec) {
      const s = split as dn.data.DataSplit<dn.data.LggSlice>;
      expect(rec.fits.length).toBe(1);
      const losses = rec.fits[0]!.logs.map((l) => l.loss!);
      expect(losses.length).toBe(4);
      expect(finite(losses)).toBe(true);
      // The test patient's volume: its slices, stacked whole, and one probability per voxel.
      const v = volume as dn.data.LggVolume;
      expect(v.planes.length).toBe(s.test.length);
      const p = prob as dn.Tensor;
      expect(p.shape).toEqual([1, v.planes.length, 32, 32, 1]);
      const values = await p.toArray();
      expect(values.every((q) => q >= 0 && q <= 1)).toBe(true);
      p.dispose();
      (x as dn.Tensor).dispose();
    },
  },
];

/** Values the contexts hand to the checks outside the block's scope. */
const written: { vggFile?: Map<string, { kernel: Float32Array; bias: Float32Array }> } = {};

const blocks = readmeBlocks();

describe('README.md examples', () => {
  it('are all found: every js and html fence opens a block the extractor read', () => {
    const fences = readFileSync(join(ROOT, 'README.md'), 'utf8').split('\n').filter((l) => RUNNABLE_FENCE.test(l));
    expect(blocks.length).toBe(fences.length);
    expect(blocks.some((b) => b.lang === 'html')).toBe(true);
    // The examples inside list items are indented; the extractor dedents them.
    expect(fences.some((l) => l.startsWith(' '))).toBe(true);
    expect(blocks.filter((b) => /^\s/.test(b.code)).map((b) => b.line)).toEqual([]);
  });

  it('each test entry matches exactly one README block (an entry left after its example went is stale)', () => {
    for (const e of [...EXAMPLES, PAGE]) {
      const lines = blocks.filter((b) => e.key.test(b.code)).map((b) => b.line);
      expect(lines, `entry '${e.name}' (${e.key}) matches README.md lines [${lines}]`).toHaveLength(1);
    }
  });
});

let cwd = '';
let dir = '';
beforeEach(async () => {
  cwd = process.cwd();
  dir = await mkdtemp(join(tmpdir(), 'dawnet-readme-'));
  // Workers started from TypeScript sources (h5wasm's reader) resolve packages from the cwd; a
  // user's project folder has its node_modules too.
  await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  process.chdir(dir);
});
afterEach(async () => {
  process.chdir(cwd);
  vi.restoreAllMocks();
  await rm(dir, { recursive: true, force: true });
});

describe.each(blocks.filter((b) => b.lang === 'js').map((b) => [`line ${b.line}: ${b.firstLine.trim()}`, b] as const))('README.md %s', (_, block) => {
  it('runs as written and does what the text around it says', async () => {
    const matches = EXAMPLES.filter((e) => e.key.test(block.code));
    if (matches.length !== 1) {
      throw new Error(
        `README.md line ${block.line}: this \`\`\`js block (${block.firstLine.trim()}) ${matches.length ? `matches ${matches.length} entries` : 'has no entry'} ` +
          `in test/docs/readme-examples.test.ts; give it one, with the context it needs and a check of what it does`,
      );
    }
    await runExample(matches[0]!, block);
  });
});

async function runExample(example: Example, block: ReadmeBlock): Promise<void> {
  const record: BlockRun = { logs: [], fits: [], shutdowns: 0, dir };
  // The block's own dn: the library, with fit's histories and shutdown() calls noted. The real
  // shutdown comes after the checks, which read tensors the block made.
  const tracked = {
    ...dn,
    shutdown: () => void record.shutdowns++,
    train: {
      ...dn.train,
      fit: async (...args: Parameters<typeof dn.train.fit>) => {
        const h = await dn.train.fit(...args);
        record.fits.push(h);
        return h;
      },
    },
  };
  try {
    if (!example.initsItself) await dn.init();
    const context = { ...(await example.context?.(dir)) };
    // A block that imports dawnet declares its own `dn`; the others use the one in scope.
    if (!/\bimport\('dawnet'\)/.test(block.code)) Object.assign(context, { dn: tracked });
    vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void record.logs.push(args));
    const out = await runBlock(block, context, example.expose, async (specifier) => {
      if (specifier !== 'dawnet') throw new Error(`README.md line ${block.line}: imports '${specifier}'; the examples import only 'dawnet'`);
      return tracked;
    });
    vi.mocked(console.log).mockRestore();
    await example.check({ ...out, ...pick(context, example.expose) }, record);
  } finally {
    dn.shutdown();
  }
}

const pick = (o: Record<string, unknown>, names: string[]) => Object.fromEntries(names.filter((n) => n in o).map((n) => [n, o[n]]));

// The browser page: its module script parses, names only exports of the browser bundle, and runs.
const PAGE = { name: 'the browser page', key: /<script type="module">/ };
const BUNDLE = join(ROOT, 'dist/browser/dawnet.js');

describe.each(blocks.filter((b) => b.lang === 'html').map((b) => [`line ${b.line}`, b] as const))('README.md page at %s', (_, block) => {
  const script = moduleScript(block);

  it('parses as a module and uses only exports the browser bundle has', async () => {
    expect(PAGE.key.test(block.code), `README.md line ${block.line}: an html block with no entry in this test`).toBe(true);
    await transform(script, { loader: 'js', format: 'esm' });
    if (!existsSync(BUNDLE)) execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, stdio: 'pipe' });
    const shape = JSON.parse(
      execFileSync(process.execPath, ['--input-type=module', '-e', `const m = await import(${JSON.stringify(new URL(`file://${BUNDLE}`).href)}); console.log(JSON.stringify(Object.fromEntries(Object.entries(m).map(([k, v]) => [k, v && typeof v === 'object' ? Object.keys(v) : typeof v]))))`], { encoding: 'utf8' }),
    ) as Record<string, string | string[]>;
    const refs = dnReferences(script);
    expect(refs.length).toBeGreaterThan(0);
    for (const [a, b] of refs) {
      expect(shape, `dn.${a} is not exported by dist/browser/dawnet.js`).toHaveProperty([a!]);
      if (b && Array.isArray(shape[a!])) expect(shape[a!], `dn.${a}.${b} is not in dist/browser/dawnet.js`).toContain(b);
    }
  });

  it.skipIf(!hasChromium)('runs in headless Chromium: the weights it fetches load, and its download holds them', async () => {
    if (!existsSync(BUNDLE)) execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, stdio: 'pipe' });
    const site = join(dir, 'site');
    const lib = join(site, 'node_modules/dawnet/dist/browser');
    await mkdir(lib, { recursive: true });
    await cp(BUNDLE, join(lib, 'dawnet.js'));
    await cp(join(ROOT, 'dist/browser/chunks'), join(lib, 'chunks'), { recursive: true });
    await dn.init();
    let want: Map<string, number>;
    try {
      want = await writeUnetWeights(join(site, 'unet.safetensors'), 16);
    } finally {
      dn.shutdown();
    }
    // After the block's last line, in its module scope: the download's tensors, fingerprinted.
    const epilogue = `
      const back = dn.io.decodeSafetensors(await (await fetch(url)).arrayBuffer(), 'download');
      window.readme = Object.fromEntries([...back.tensors].map(([n, t]) => { let s = 0; for (let i = 0; i < t.data.length; i++) s += t.data[i] * ((i % 7) + 1); return [n, s]; }));`;
    await writeFile(join(site, 'index.html'), `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,">\n${block.code.replace('</script>', `${epilogue}\n</script>`)}\n`);
    const server = await startServer({ root: site, port: 0 });
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: [...BROWSER_ARGS, ...WEBGPU_ARGS] });
    try {
      const page = await browser.newPage();
      const problems = watchProblems(page);
      await page.goto(server.url);
      // Until the epilogue has run or the page has failed (a module script's error ends it).
      const deadline = Date.now() + 60_000;
      while (!problems.length && Date.now() < deadline && !(await page.evaluate(() => 'readme' in window))) await new Promise((r) => setTimeout(r, 100));
      expect(problems).toEqual([]);
      const got = await page.evaluate(() => (window as unknown as { readme: Record<string, number> }).readme);
      expect(Object.keys(got).sort()).toEqual([...want.keys()].sort());
      for (const [name, sum] of want) expect(got[name], name).toBe(sum);
    } finally {
      await browser.close();
      await server.close();
    }
  });
});
