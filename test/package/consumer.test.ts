// dawnet installed as another project's dependency (packed.ts: npm pack, then the tarball in a
// scratch node_modules): what the tarball holds, an ES module import that runs a conv2d forward and
// backward on the GPU and exits by itself, require() from CommonJS, the `dawnet` bin, and a
// TypeScript consumer under strict with both module resolutions a project uses.

import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BESIDE, PAGE_BUILD, ROOT, STALE, TYPE_ERROR, packAndInstall, run, scratchDir, type Installed } from './packed.js';

let dir = '';
let pkg: Installed;

beforeAll(() => {
  dir = scratchDir();
  pkg = packAndInstall(dir);
}, 240_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const paths = (): string[] => pkg.files.map((f) => f.path);

describe('the tarball', () => {
  it('holds the build, the README and package.json, and no sources, tests, bench results or page build', () => {
    const outside = paths().filter((p) => !p.startsWith('dist/') && p !== 'package.json' && p !== 'README.md');
    expect(outside, 'files outside dist/').toEqual([]);
    expect(existsSync(join(pkg.checkout, PAGE_BUILD)), 'the page build beside the library build').toBe(true);
    expect(paths().filter((p) => p.startsWith('dist/web/'))).toEqual([]);
    for (const f of ['dist/index.js', 'dist/cli.js', 'dist/decode-worker.js', 'dist/keras-h5-worker.js', 'dist/types/index.d.ts', 'dist/browser/dawnet.js']) {
      expect(paths(), f).toContain(f);
    }
  });

  it('holds every file package.json points at, and every chunk the browser bundle imports', () => {
    const m = pkg.manifest as { main: string; types: string; bin: Record<string, string>; exports: Record<string, string | Record<string, string>> };
    const targets = [m.main, m.types, ...Object.values(m.bin), ...Object.values(m.exports).flatMap((e) => (typeof e === 'string' ? [e] : Object.values(e)))];
    for (const t of targets) expect(paths(), `package.json names ${t}`).toContain(t.replace(/^\.\//, ''));
    const queue = ['dist/browser/dawnet.js'];
    for (let i = 0; i < queue.length; i++) {
      const text = readFileSync(join(pkg.project, 'node_modules/dawnet', queue[i]!), 'utf8');
      for (const [, spec] of text.matchAll(/(?:from|import)\s*\(?\s*"(\.\/[^"]+|\.\.\/[^"]+)"/g)) {
        const rel = join(queue[i]!, '..', spec!);
        expect(paths(), `${queue[i]} imports ${spec}`).toContain(rel);
        if (!queue.includes(rel)) queue.push(rel);
      }
    }
    expect(queue.some((p) => /^dist\/browser\/chunks\/hdf5_hl-.*\.js$/.test(p)), `h5wasm's chunk among ${queue.join(', ')}`).toBe(true);
  });

  it('ships source maps only beside their scripts, with the sources inside them (src/ is not shipped)', () => {
    for (const p of paths().filter((f) => f.endsWith('.js'))) {
      const named = /\/\/# sourceMappingURL=(\S+)\s*$/.exec(readFileSync(join(pkg.project, 'node_modules/dawnet', p), 'utf8'))?.[1];
      if (named) expect(paths(), `${p} names its map`).toContain(join(p, '..', named));
    }
    for (const p of paths().filter((f) => f.endsWith('.map'))) {
      expect(paths(), `${p} beside its script`).toContain(p.slice(0, -4));
      const map = JSON.parse(readFileSync(join(pkg.project, 'node_modules/dawnet', p), 'utf8')) as { sources: string[]; sourcesContent?: (string | null)[] };
      expect(map.sources.every((_, i) => typeof map.sourcesContent?.[i] === 'string'), `${p} carries its sources`).toBe(true);
    }
    // h5wasm ships no map, so one for its chunk would map it onto itself (13 MiB, the WebAssembly twice).
    expect(paths().filter((p) => /chunks\/hdf5_hl-.*\.map$/.test(p))).toEqual([]);
  });

  it('stays small: no file over 8 MiB, under 25 MiB unpacked', () => {
    console.log(`[package] dawnet tarball: ${(pkg.size / 2 ** 20).toFixed(1)} MiB, ${(pkg.unpackedSize / 2 ** 20).toFixed(1)} MiB unpacked, ${pkg.files.length} files`);
    expect(pkg.files.filter((f) => f.size > 8 * 2 ** 20).map((f) => f.path)).toEqual([]);
    expect(pkg.unpackedSize).toBeLessThan(25 * 2 ** 20);
  });

  it('is built fresh by npm pack: what earlier builds left is gone, a build running beside it keeps its file', () => {
    for (const rel of STALE) {
      expect(existsSync(join(pkg.checkout, rel)), rel).toBe(false);
      expect(paths()).not.toContain(rel);
    }
    expect(existsSync(join(pkg.checkout, BESIDE))).toBe(true);
  });

  it('is built although the sources hold a type error, which the type check still reports', () => {
    const r = run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.types.json', '--noEmit'], pkg.checkout);
    expect(r.status, r.summary).not.toBe(0);
    expect(r.stdout).toMatch(new RegExp(`${TYPE_ERROR.file.replace('.', '\\.')}\\(\\d+,\\d+\\): error TS2322`));
    expect(paths()).toContain('dist/types/errors.d.ts');
  });
});

// A tiny conv2d forward and backward (same padding, loss mean(y²)) against float64 loops.
const GPU_CONSUMER = `import * as dn from 'dawnet';
const [N, H, W, C, K, F] = [1, 5, 4, 2, 3, 3];
const xs = Float32Array.from({ length: N * H * W * C }, (_, i) => Math.sin(0.7 * i));
const ws = Float32Array.from({ length: K * K * C * F }, (_, i) => 0.2 * Math.cos(0.3 * i));
await dn.init();
const x = dn.tensor(xs, [N, H, W, C], { requiresGrad: true });
const w = dn.tensor(ws, [K, K, C, F], { requiresGrad: true });
const loss = dn.mean(dn.square(dn.conv2d(x, w, null, { padding: 'same' })));
loss.backward();
const got = { loss: await loss.item(), dx: Array.from(await x.grad.toArray()), dw: Array.from(await w.grad.toArray()) };
const taps = (fn) => { for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) for (let f = 0; f < F; f++) for (let a = 0; a < K; a++) for (let b = 0; b < K; b++) for (let c = 0; c < C; c++) {
  const [r, s] = [i + a - 1, j + b - 1];
  if (r >= 0 && r < H && s >= 0 && s < W) fn((i * W + j) * F + f, (r * W + s) * C + c, ((a * K + b) * C + c) * F + f);
} };
const y = new Float64Array(H * W * F);
taps((o, xi, wi) => { y[o] += xs[xi] * ws[wi]; });
const want = { loss: y.reduce((t, v) => t + v * v, 0) / y.length, dx: new Array(xs.length).fill(0), dw: new Array(ws.length).fill(0) };
taps((o, xi, wi) => { const dy = (2 * y[o]) / y.length; want.dx[xi] += dy * ws[wi]; want.dw[wi] += dy * xs[xi]; });
const worst = (g, v) => Math.max(...g.map((gi, i) => Math.abs(gi - v[i]) - 1e-4 * Math.abs(v[i])));
console.log(JSON.stringify({ adapter: dn.info().name, loss: [got.loss, want.loss], dx: worst(got.dx, want.dx), dw: worst(got.dw, want.dw) }));
dn.shutdown();
`;

describe('a Node project using the package', () => {
  it('imports it as an ES module, runs conv2d forward and backward on the GPU, and exits by itself', () => {
    writeFileSync(join(pkg.project, 'gpu.mjs'), GPU_CONSUMER);
    const r = run(process.execPath, ['gpu.mjs'], pkg.project);
    expect(r.status, r.summary).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { loss: [number, number]; dx: number; dw: number };
    expect(Math.abs(out.loss[0] - out.loss[1]), r.stdout).toBeLessThanOrEqual(1e-5 + 1e-4 * out.loss[1]);
    expect(out.dx, 'dx: worst |got - want| beyond atol 1e-5').toBeLessThanOrEqual(1e-5);
    expect(out.dw, 'dw: worst |got - want| beyond atol 1e-5').toBeLessThanOrEqual(1e-5);
  });

  it("require('dawnet') from CommonJS loads it, or fails with Node's ERR_REQUIRE_ESM where Node cannot require ES modules", () => {
    writeFileSync(join(pkg.project, 'require.cjs'), "const dn = require('dawnet');\nconsole.log(typeof dn.init, typeof dn.conv2d);\n");
    const flags = process.features.require_module === undefined ? [[]] : [[], ['--no-experimental-require-module']];
    for (const flag of flags) {
      const r = run(process.execPath, [...flag, 'require.cjs'], pkg.project);
      if (process.features.require_module && flag.length === 0) expect(r.stdout.trim(), r.summary).toBe('function function');
      else expect(r.stderr, r.summary).toMatch(/ERR_REQUIRE_ESM/);
      // Never "No "exports" main defined": a package with no require-reachable export looks broken.
      expect(r.stderr).not.toMatch(/ERR_PACKAGE_PATH_NOT_EXPORTED/);
    }
  });

  it("lets tools read its package.json (require('dawnet/package.json'), as version checks do)", () => {
    writeFileSync(join(pkg.project, 'version.cjs'), "console.log(require('dawnet/package.json').name);\n");
    const r = run(process.execPath, ['version.cjs'], pkg.project);
    expect(r.stdout.trim(), r.summary).toBe('dawnet');
  });

  it('runs the dawnet bin as npm links it: --help and info', () => {
    const bin = join(pkg.project, 'node_modules/.bin/dawnet');
    const help = run(bin, ['--help'], pkg.project);
    expect(help.status, help.summary).toBe(0);
    expect(help.stdout).toMatch(/^usage: dawnet <command>/m);
    const info = run(bin, ['info'], pkg.project);
    expect(info.status, info.summary).toBe(0);
    expect(info.stdout).toMatch(/^adapter: +\S/m);
    // The package has no page nor its build script: serve says where the page comes from.
    const serve = run(bin, ['serve', '--port', '0'], pkg.project);
    expect(serve.status, serve.summary).toBe(1);
    expect(serve.stderr).toMatch(/dist\/web is missing .* built from a checkout of dawnet .* --dir CHECKOUT\/dist\/web/);
  });
});

// The README's library example as a TypeScript user writes it (w.grad is Tensor | null under
// strict), the types the public functions mention named as dn.X, and calls that must not type-check.
const TS_CONSUMER = `import * as dn from 'dawnet';
await dn.init();
console.log(dn.info().name);
const x = dn.tensor(new Float32Array(2 * 8 * 8 * 3), [2, 8, 8, 3], { requiresGrad: true });
const w = dn.tensor(new Float32Array(3 * 3 * 3 * 4).fill(0.1), [3, 3, 3, 4], { requiresGrad: true });
const y = dn.conv2d(x, w, null, { stride: 1, padding: 'same' });
const loss = dn.mean(dn.square(dn.relu(y)));
loss.backward();
console.log(await w.grad!.toArray());
const out: dn.Tensor = dn.scope(() => dn.sigmoid(dn.add(y, y)));
const net = dn.models.unet({ features: 4 });
const bytes: Uint8Array = await dn.io.encodeWeights(net);
const stats: dn.PoolStats = dn.memory();
console.log(out.shape, bytes.length, stats.bytesInUse);
dn.shutdown();
export type Named = [dn.ConvActivation, dn.ConvGeometry, dn.ConvCall, dn.ConvCandidate, dn.ConvDirection, dn.ConvFamily,
  dn.UpsampleMode, dn.MatmulOptions, dn.DropoutOptions, dn.ChannelAffine, dn.TunedConv, dn.Conv2dOptions];
// The option and result types the namespaces' signatures name, nameable from them too.
export type NamedInNamespaces = [dn.train.EarlyStoppingOptions, dn.train.ModelCheckpointOptions, dn.train.ReduceLROnPlateauOptions,
  dn.train.Mode, dn.train.EpochProgress, dn.train.Overlap, dn.train.SegmentationOptions, dn.optim.AdamKerasOptions,
  dn.optim.BiasCorrection, dn.data.SliceLike, dn.data.LoaderStats, dn.data.TiffCompression, dn.io.WeightFile, dn.io.Layout,
  dn.io.ModelKind, dn.io.SourceTensor, dn.augment.AffineParams, dn.augment.SamplingOptions, dn.augment.MaskMode,
  dn.augment.FillMode, dn.augment.Interpolation, dn.augment.Parametrisation, dn.nn.SequentialEntry];
// A kernel of one's own with its backward, and activation checkpointing, as the README writes them.
const sq = dn.customOp({
  name: 'sq',
  forward(ctx, v: dn.Tensor) {
    ctx.save(v);
    const code = '@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) { if (g.x < params.n) { y[g.x] = v[g.x] * v[g.x]; } }';
    return dn.runKernel({ name: 'sq', code, inputs: { v }, outputs: { y: v.shape }, params: { n: ['u32', v.size] }, workgroups: 1 }).y;
  },
  backward: (ctx, dy) => dn.mul(dy, dn.scale(ctx.saved[0]!, 2)),
});
const z: dn.Tensor = dn.checkpoint((a, b) => dn.add(sq(a), b), x, x);
net.useCheckpointing();
// Checked as the README checks it: the reference's arguments typed from the op's (tensors as Float64Arrays).
const checked: dn.GradcheckReport = await dn.gradcheck(sq, [x], { reference: (v) => v.map((e) => e * e) });
// @ts-expect-error the reference gets a Float64Array where the op takes a tensor
await dn.gradcheck(sq, [x], { reference: (v: string) => [v.length] });
// A gradient handed back, a Grad-CAM map of the classifier, a volume for the viewers.
const [gx]: (dn.Tensor | null)[] = dn.gradients(dn.sum(sq(x)), [x]);
const cam: dn.Tensor = dn.train.gradCam(dn.models.vggClassifier({ inputSize: 32, widthScale: 0.125 }), x, { tta: 'flip' });
const explained: dn.train.GradCamWithOutput = dn.train.gradCamWithOutput({ features: (t) => t, score: (t) => t, output: (s: dn.Tensor) => dn.sigmoid(s) }, x);
const probability: dn.Tensor = explained.output;
const picked: dn.Tensor = dn.gather(x, dn.argmax(x, 0), 0);
const rows: dn.Tensor = dn.gather(x, [0, 0], -1);
const { values: top5, indices: top5Ids }: { values: dn.Tensor; indices: dn.Tensor } = dn.topk(x, 1);
const running: dn.Tensor = dn.cumsum(x, 0, { exclusive: true, reverse: false } satisfies dn.CumsumOptions);
const embedded: dn.Tensor = new dn.nn.Embedding(8, 4, { init: 'normal', seed: 1 } satisfies dn.nn.EmbeddingOptions).forward(rows);
const nii: Uint8Array = dn.io.encodeNiftiGz({ data: new Uint8Array(8), shape: [2, 2, 2], spacing: [1, 1, 2.5] });
export type Custom = [dn.CustomOpContext, dn.RunKernelSpec<{ y: dn.Shape }>, dn.KernelParam, dn.KernelOutput, dn.KernelInput, typeof z, typeof checked, dn.GradcheckError, dn.GradcheckInput, typeof gx, typeof cam, typeof probability, typeof picked, typeof rows, typeof embedded, typeof running, typeof top5, typeof top5Ids, typeof nii, dn.train.GradCamOptions, dn.io.NiftiVolume, dn.GradientsOptions];
// WebGPU code of one's own beside the tensors: the device, a copy out, a tensor back.
const device: GPUDevice = dn.gpuDevice();
const copied: dn.GPUBufferCopy = dn.toGPUBuffer(x, { usage: 0x20 });
const back: dn.Tensor = dn.fromGPUBuffer(copied.buffer, [copied.bytes / 4], { offset: 0, requiresGrad: false } satisfies dn.FromGPUBufferOptions);
console.log(device.label, back.shape);
// @ts-expect-error a param needs its WGSL type
dn.runKernel({ name: 'k', code: '', outputs: { y: [1] }, params: { n: 3 }, workgroups: 1 });
// @ts-expect-error a string is not a tensor (were the API typed any, this line would be an error)
dn.conv2d('x', w);
// @ts-expect-error grad may be null under strict
await w.grad.toArray();
// The engine's own handles on a tensor are left out of the declarations (stripInternal):
// @ts-expect-error the tape node
console.log(x.node);
// @ts-expect-error the buffer, whose device the API does not hand out
console.log(x.buffer);
// @ts-expect-error a second handle on the same storage, the reference count's business
x.share();
`;

const CJS_CONSUMER = `import dn = require('dawnet');
export async function count(): Promise<number> {
  await dn.init();
  return (await dn.tensor([1, 2, 3]).toArray()).length;
}
`;

/** tsc on the consumer under `options` (strict, every declaration checked, no @types): its output, '' when clean. */
function typeCheck(name: string, options: Record<string, string>, files: string[]): string {
  const compilerOptions = { target: 'ES2022', strict: true, noEmit: true, skipLibCheck: false, types: [], ...options };
  writeFileSync(join(pkg.project, `tsconfig.${name}.json`), JSON.stringify({ compilerOptions, files }));
  const r = run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', `tsconfig.${name}.json`], pkg.project);
  return r.status === 0 ? '' : r.summary;
}

describe('a TypeScript project using the package', () => {
  beforeAll(() => {
    writeFileSync(join(pkg.project, 'main.ts'), TS_CONSUMER);
    writeFileSync(join(pkg.project, 'cjs.cts'), CJS_CONSUMER);
  });

  it('type-checks under strict with moduleResolution nodenext, from an ES module and from CommonJS', () => {
    expect(typeCheck('nodenext', { module: 'nodenext', moduleResolution: 'nodenext' }, ['main.ts', 'cjs.cts'])).toBe('');
  });

  it('type-checks under strict with moduleResolution bundler', () => {
    expect(typeCheck('bundler', { module: 'esnext', moduleResolution: 'bundler' }, ['main.ts'])).toBe('');
  });

  it('refuses a name the package does not export (the check is real)', () => {
    writeFileSync(join(pkg.project, 'wrong.ts'), "import * as dn from 'dawnet';\nexport type T = dn.NoSuchType;\n");
    expect(typeCheck('wrong', { module: 'nodenext', moduleResolution: 'nodenext' }, ['wrong.ts'])).toMatch(/wrong\.ts\(2,\d+\): error TS2694/);
  });
});
