// Group normalisation (PyTorch's nn.GroupNorm) over x with the batch first and the channels last:
// NHWC [N, H, W, C], or any rank >= 2 ([N, C]: groups of channels only). Channels split into G
// groups of Cg = C/G; the group (n, g) is every element of sample n whose channel lies in
// [g·Cg, (g+1)·Cg), M = (size/N)/G elements. G = C is instance norm, G = 1 layer norm over H, W, C.
//
//   mean = Σx / M,  var = Σ(x - mean)² / M (biased),  invStd = 1 / sqrt(var + eps)    per (n, g)
//   y = (x - mean) · invStd · gamma[c] + beta[c]                                    gamma, beta [C]
// Backward, with xhat = (x - mean)·invStd and g = dy·gamma[c] (mean and var depend on x):
//   dx = invStd · (g - mean_group(g) - xhat · mean_group(g·xhat))
//   dgamma[c] = Σ dy·xhat,  dbeta[c] = Σ dy   over every sample and pixel
// Saved for backward: x, gamma and mean, invStd [N, G] (xhat is recomputed, as in batchnorm.ts).
//
// Statistics are two passes, Σx then Σ(x - mean)², like batchnorm.ts: Σx²/M - mean² cancels
// catastrophically in float32 when |mean| is large next to the spread (values 1000 ± 1 have
// Σx²/M near 1e6, whose float32 spacing 0.06 is a fifth of the variance itself). The second pass
// also sums x - mean, which corrects the mean (the finish, finishSpec, as batchnorm.ts's): the
// first pass's Σx rounds at ulp(M·mean), which left groups at 1e4 ± 0.1 with their mean up to 2.6
// ulp(1e4) off and every y shifted by that times invStd.
// Each sums pass runs, on GPUs for groups past SMALL_GROUP loads, one workgroup of 256 threads
// per chunk of GROUP_CHUNK loads of a group (as loss.ts's dice.sums); on CPU adapters and for
// small groups a thread per chunk (groupnorm-threads.ts, same parameters and output): in sample n, element (pixel p, channel c) lies at n·(size/N) + p·C + c, so
// the threads walk (pixel, channel-in-group) pairs k = p·Cg + cc, and a tree in workgroup memory
// adds their sums. A group longer than one chunk leaves a partial per chunk, which reduceMiddle
// (reduce.ts) adds. The sums come out already divided by M: the group means the forward and the
// input gradient want. dgamma and dbeta are column sums over the [N·H·W, C] view (sumLeading) of
// dy·xhat, written by the input-gradient kernel beside dx, and of dy.
//
// With Cg a multiple of 4 every kernel loads four adjacent channels as a vec4 (they share their
// group, and C is then a multiple of 4 too): one bounds check per vec4 on CPU adapters. Otherwise
// (instance norm, odd groups) the kernels go one float at a time, but for the thread sums of
// instance norm with C a multiple of 4 (a group per vec4 lane).
//
// Every tensor is bound whole: unlike batchnorm.ts nothing is split past the binding limit
// (kernels/chunking.ts), so x must fit one binding, checked before anything is allocated.

import { ShapeError } from '../errors.js';
import { f32, packParams, u32 } from '../gpu/params.js';
import { runtime, type KernelSpec } from '../gpu/runtime.js';
import { expectKnownOptions, expectNumber, expectOptionalNumber, expectOptions, expectTensor, nchwHint } from '../graph/args.js';
import { record } from '../graph/autograd.js';
import { emptyTensor, formatShape, type Tensor } from '../graph/tensor.js';
import { checkWhole } from './chunking.js';
import { emptyBatchResult, isEmptyBatch } from './empty-batch.js';
import { SUMS_INPUTS, threadSumsPlan, type SumsMode } from './groupnorm-threads.js';
import { reduceMiddle, sumLeading } from './reduce.js';
import { LINEAR_MAIN_ARGS, linearGrid, linearIndex, vecType, vecWidth, workgroupGrid, type VecWidth } from './wgsl.js';

export interface GroupNormOptions {
  groups: number;
  /** Added to the variance; PyTorch's default 1e-5. */
  eps?: number;
}

const WG = 256;
/** Loads (floats or vec4s) one workgroup sums: 16 per thread, so a 64x64x4 group takes one. */
export const GROUP_CHUNK = WG * 16;

// ---------------------------------------------------------------------------------------------
// Kernels

// 'mean': Σx. 'var': Σ(x - mean)² and Σ(x - mean). 'grad': Σg and Σg·xhat, g = dy·gamma. Each
// times params.scale.

/** Per-group buffers (mean, invStd, the gradient's means) are f32; per-element ones the width's type. */
const GROUP_BUFFERS = new Set(['mean', 'invStd', 'gradMeans']);

function declare(names: string[], width: VecWidth, first = 0, access = 'read'): string {
  const type = (name: string) => (GROUP_BUFFERS.has(name) ? 'f32' : vecType(width));
  return names.map((name, i) => `@group(0) @binding(${first + i}) var<storage, ${access}> ${name}: array<${type(name)}>;`).join('\n');
}

/** Counts (c, cg, sample, m, size) are in units of the width: vec4s for width 4. */
function sumsSpec(mode: SumsMode, width: VecWidth): KernelSpec {
  const inputs = SUMS_INPUTS[mode];
  const body = {
    mean: 'a0 += x[at];',
    var: 'let d = x[at] - mean[ng]; a0 += d * d; a1 += d;',
    grad: 'let g = dy[at] * gamma[grp * params.cg + cc]; a0 += g; a1 += g * (x[at] - mean[ng]) * invStd[ng];',
  }[mode];
  const two = mode !== 'mean';
  const T = vecType(width);
  // A thread's vec4 lanes are four channels of one group: their sums add up.
  const total = (a: string) => (width === 4 ? `dot(${a}, vec4<f32>(1.0))` : a);
  return {
    name: 'groupNorm.sums',
    key: `${mode}w${width}`,
    inputs: inputs.length,
    outputs: 1,
    wgsl: () => /* wgsl */ `
struct Params { groups: u32, chunks: u32, chunkSize: u32, m: u32, cg: u32, c: u32, sample: u32, g: u32, scale: f32 }
${declare(inputs, width)}
@group(0) @binding(${inputs.length}) var<storage, read_write> partial: array<f32>;
@group(0) @binding(${inputs.length + 1}) var<uniform> params: Params;
var<workgroup> s0: array<f32, ${WG}>;
${two ? `var<workgroup> s1: array<f32, ${WG}>;` : ''}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let o = wid.x + wid.y * nwg.x;
  let inRange = o < params.groups * params.chunks;
  var a0 = ${T}(0.0);
  var a1 = ${T}(0.0);
  if (inRange) {
    let ng = o / params.chunks;
    let grp = ng % params.g;
    let base = (ng / params.g) * params.sample + grp * params.cg;
    let start = (o % params.chunks) * params.chunkSize;
    let end = min(start + params.chunkSize, params.m);
    for (var k = start + lid; k < end; k += ${WG}u) {
      let cc = k % params.cg;
      let at = base + (k / params.cg) * params.c + cc;
      ${body}
    }
  }
  s0[lid] = ${total('a0')};
  ${two ? `s1[lid] = ${total('a1')};` : ''}
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) {
      s0[lid] += s0[lid + s];
      ${two ? 's1[lid] += s1[lid + s];' : ''}
    }
    workgroupBarrier();
  }
  if (lid == 0u && inRange) {
    partial[${two ? '2u * o' : 'o'}] = s0[0] * params.scale;
    ${two ? 'partial[2u * o + 1u] = s1[0] * params.scale;' : ''}
  }
}`,
  };
}
const SUMS = Object.fromEntries(
  (['mean', 'var', 'grad'] as const).map((mode) => [mode, { 1: sumsSpec(mode, 1), 4: sumsSpec(mode, 4) }]),
) as Record<SumsMode, Record<VecWidth, KernelSpec>>;

// The corrected two-pass algorithm (Chan, Golub & LeVeque), as batchnorm.ts's finish: the group
// means of (x - mean)² and (x - mean) in, the mean corrected in place by the second (exact
// arithmetic makes it 0; float32's Σx does not) and the variance by its square. Rounding may take
// the variance a few ulp of dm² below 0, which the select (not max, undefined for NaN) clamps,
// keeping NaN.
const finishSpec: KernelSpec = {
  name: 'groupNorm.finish',
  key: '',
  inputs: 1,
  outputs: 2,
  wgsl: () => /* wgsl */ `
struct Params { count: u32, eps: f32 }
@group(0) @binding(0) var<storage, read> moments: array<f32>;
@group(0) @binding(1) var<storage, read_write> mean: array<f32>;
@group(0) @binding(2) var<storage, read_write> invStd: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
@compute @workgroup_size(${WG})
fn main(${LINEAR_MAIN_ARGS}) {
  let i = ${linearIndex()};
  if (i >= params.count) { return; }
  let dm = moments[2u * i + 1u];
  let v0 = moments[2u * i] - dm * dm;
  let v = select(v0, 0.0, v0 < 0.0);
  mean[i] = mean[i] + dm;
  invStd[i] = 1.0 / sqrt(v + params.eps);
}`,
};

/** The group row n·G + g of element i (in units of the width); `ch` its channel (same units). */
const GROUP_OF = /* wgsl */ `let ch = i % params.c;
  let ng = (i / params.sample) * params.g + ch / params.cg;`;

const normaliseSpec = (width: VecWidth): KernelSpec => ({
  name: 'groupNorm.normalize',
  key: `w${width}`,
  inputs: 5,
  outputs: 1,
  wgsl: () => /* wgsl */ `
struct Params { size: u32, c: u32, cg: u32, sample: u32, g: u32 }
${declare(['x', 'gamma', 'beta', 'mean', 'invStd'], width)}
${declare(['y'], width, 5, 'read_write')}
@group(0) @binding(6) var<uniform> params: Params;
@compute @workgroup_size(${WG})
fn main(${LINEAR_MAIN_ARGS}) {
  let i = ${linearIndex()};
  if (i >= params.size) { return; }
  ${GROUP_OF}
  y[i] = (x[i] - mean[ng]) * (invStd[ng] * gamma[ch]) + beta[ch];
}`,
});
const NORMALISE = { 1: normaliseSpec(1), 4: normaliseSpec(4) } as const;

/** dx (from the group means of g and g·xhat) and/or dy·xhat (for dgamma), one pass over the elements. */
function backwardSpec(width: VecWidth, dx: boolean, dyXhat: boolean): KernelSpec {
  const inputs = dx ? ['dy', 'x', 'gamma', 'mean', 'invStd', 'gradMeans'] : ['dy', 'x', 'mean', 'invStd'];
  const outputs = [...(dx ? ['dx'] : []), ...(dyXhat ? ['dyXhat'] : [])];
  return {
    name: 'groupNorm.backward',
    key: `w${width}${dx ? 'dx' : ''}${dyXhat ? 'dyXhat' : ''}`,
    inputs: inputs.length,
    outputs: outputs.length,
    wgsl: () => /* wgsl */ `
struct Params { size: u32, c: u32, cg: u32, sample: u32, g: u32 }
${declare(inputs, width)}
${declare(outputs, width, inputs.length, 'read_write')}
@group(0) @binding(${inputs.length + outputs.length}) var<uniform> params: Params;
@compute @workgroup_size(${WG})
fn main(${LINEAR_MAIN_ARGS}) {
  let i = ${linearIndex()};
  if (i >= params.size) { return; }
  ${GROUP_OF}
  let istd = invStd[ng];
  let xhat = (x[i] - mean[ng]) * istd;
  ${dx ? 'dx[i] = istd * (dy[i] * gamma[ch] - gradMeans[2u * ng] - xhat * gradMeans[2u * ng + 1u]);' : ''}
  ${dyXhat ? 'dyXhat[i] = dy[i] * xhat;' : ''}
}`,
  };
}
const BACKWARD = Object.fromEntries(
  ([1, 4] as const).map((w) => [w, { dx: backwardSpec(w, true, false), dyXhat: backwardSpec(w, false, true), both: backwardSpec(w, true, true) }]),
) as Record<VecWidth, Record<'dx' | 'dyXhat' | 'both', KernelSpec>>;

// ---------------------------------------------------------------------------------------------
// Raw GPU functions

/** x's layout as the kernels see it: counts in floats, and in units of the width for the kernels. */
interface Layout {
  n: number;
  groups: number;
  c: number;
  /** Elements per group, M. */
  m: number;
  width: VecWidth;
}

function layoutOf(op: string, x: Tensor, options: GroupNormOptions): Layout {
  const groups = options.groups;
  if (x.size === 0 && x.rank >= 2) throw new ShapeError(`${op}: x ${formatShape(x.shape)} is empty`);
  checkGroups(op, x, groups);
  const n = x.shape[0];
  const c = x.shape[x.rank - 1];
  checkWhole(op, [x]);
  return { n, groups, c, m: x.size / n / groups, width: vecWidth(c / groups) };
}

/** The uniform fields every kernel shares, in units of the width: c, cg, sample, g. */
const shapeParams = (l: Layout) => [u32(l.c / l.width), u32(l.c / l.groups / l.width), u32((l.m * l.groups) / l.width), u32(l.groups)];

/** One sums pass: [N, G] (or [N, G, 2] for 'var' and 'grad') group means of what `mode` sums. */
function groupMeans(mode: SumsMode, inputs: Tensor[], l: Layout): Tensor {
  const perGroup = mode === 'mean' ? 1 : 2;
  // The workgroup tree, or a thread per chunk (groupnorm-threads.ts), maybe on the quad layout.
  const threads = threadSumsPlan(mode, l, l.n);
  const k = threads ? { ...l, ...threads.layout } : l;
  const rows = l.n * l.groups;
  const kernelRows = l.n * k.groups;
  const mw = k.m / k.width;
  const chunkSize = threads?.chunkSize ?? GROUP_CHUNK;
  const chunks = Math.ceil(mw / chunkSize);
  const outShape = perGroup === 2 ? [l.n, l.groups, 2] : [l.n, l.groups];
  const partial = emptyTensor([rows, chunks, perGroup], 'groupNorm.partial');
  // One chunk: the kernel's sums are the whole groups', divided by M there; otherwise by reduce.ts.
  const [c, cg, sample, g] = shapeParams(k);
  const params = packParams([u32(kernelRows), u32(chunks), u32(chunkSize), u32(mw), cg, c, sample, g, f32(chunks === 1 ? 1 / l.m : 1)]);
  const [spec, grid] = threads ? [threads.spec, linearGrid(kernelRows * chunks)] : [SUMS[mode][l.width], workgroupGrid(rows * chunks)];
  runtime().dispatch(spec, { inputs: inputs.map((t) => t.slice), outputs: [partial.slice], params }, grid);
  const means = chunks === 1 ? partial.share(outShape) : reduceMiddle(partial, rows, chunks, perGroup, outShape, 1 / l.m);
  partial.dispose();
  return means;
}

/** Raw GPU forward: y, and the mean and invStd [N, G] it normalised with. */
/** x's rank and its channels' split into `groups`. */
function checkGroups(op: string, x: Tensor, groups: number): void {
  expectNumber(op, 'options.groups', groups, { integer: true, min: 1 });
  if (x.rank < 2) throw new ShapeError(`${op}: expects x with the batch first and the channels last, [N, ..., C], got ${formatShape(x.shape)}`);
  const c = x.shape[x.rank - 1];
  if (c % groups !== 0) throw new ShapeError(`${op}: ${c} channels do not split into ${groups} groups (x ${formatShape(x.shape)})`);
}

/** The groups, gamma and beta against x's channels, and eps. */
function checkGroupsAndParams(op: string, x: Tensor, gamma: Tensor, beta: Tensor, options: GroupNormOptions): void {
  checkGroups(op, x, options.groups);
  const c = x.shape[x.rank - 1];
  for (const [name, t] of [['gamma', gamma], ['beta', beta]] as const) {
    if (t.rank !== 1 || t.shape[0] !== c) throw new ShapeError(`${op}: ${name} ${formatShape(t.shape)} does not match the ${c} channels of x ${formatShape(x.shape)}${nchwHint(x.shape, t.shape[0])}`);
  }
  expectOptionalNumber(op, 'options.eps', options.eps, { above: 0 });
}

export function groupNormForward(x: Tensor, gamma: Tensor, beta: Tensor, options: GroupNormOptions): { y: Tensor; mean: Tensor; invStd: Tensor } {
  const op = 'groupNorm';
  const l = layoutOf(op, x, options);
  checkGroupsAndParams(op, x, gamma, beta, options);
  const eps = options.eps ?? 1e-5;
  const rt = runtime();
  const mean = groupMeans('mean', [x], l);
  const moments = groupMeans('var', [x, mean], l);
  const invStd = emptyTensor([l.n, l.groups], 'groupNorm.invStd');
  const count = l.n * l.groups;
  rt.dispatch(finishSpec, { inputs: [moments.slice], outputs: [mean.slice, invStd.slice], params: packParams([u32(count), f32(eps)]) }, linearGrid(count));
  moments.dispose();
  const y = emptyTensor(x.shape, 'groupNorm.y');
  const inputs = [x, gamma, beta, mean, invStd].map((t) => t.slice);
  const params = packParams([u32(x.size / l.width), ...shapeParams(l)]);
  rt.dispatch(NORMALISE[l.width], { inputs, outputs: [y.slice], params }, linearGrid(x.size / l.width));
  return { y, mean, invStd };
}

/** Raw GPU backward from the forward's mean and invStd. `needs` = [dx, dgamma, dbeta]; the others come back null. */
export function groupNormBackward(
  dy: Tensor,
  x: Tensor,
  gamma: Tensor,
  mean: Tensor,
  invStd: Tensor,
  options: GroupNormOptions,
  needs: readonly boolean[] = [true, true, true],
): { dx: Tensor | null; dgamma: Tensor | null; dbeta: Tensor | null } {
  const op = 'groupNorm';
  const l = layoutOf(op, x, options);
  if (dy.shape.join() !== x.shape.join()) throw new ShapeError(`${op}: backward's dy ${formatShape(dy.shape)} must match x ${formatShape(x.shape)}`);
  for (const t of [mean, invStd]) {
    if (t.size !== l.n * l.groups) throw new ShapeError(`${op}: backward's ${t.describe()} must hold the [${l.n}, ${l.groups}] group statistics of x ${formatShape(x.shape)}`);
  }
  const [needDx, needDgamma, needDbeta] = [!!needs[0], !!needs[1], !!needs[2]];
  let dx: Tensor | null = null;
  let dgamma: Tensor | null = null;
  if (needDx || needDgamma) {
    const gradMeans = needDx ? groupMeans('grad', [dy, x, gamma, mean, invStd], l) : null;
    dx = needDx ? emptyTensor(x.shape, 'groupNorm.dx') : null;
    const dyXhat = needDgamma ? emptyTensor(x.shape, 'groupNorm.dyXhat') : null;
    const spec = BACKWARD[l.width][needDx && needDgamma ? 'both' : needDx ? 'dx' : 'dyXhat'];
    const inputs = needDx ? [dy, x, gamma, mean, invStd, gradMeans!] : [dy, x, mean, invStd];
    const outputs = [dx, dyXhat].filter((t): t is Tensor => t !== null);
    const params = packParams([u32(x.size / l.width), ...shapeParams(l)]);
    runtime().dispatch(spec, { inputs: inputs.map((t) => t.slice), outputs: outputs.map((t) => t.slice), params }, linearGrid(x.size / l.width));
    gradMeans?.dispose();
    if (dyXhat) {
      dgamma = sumLeading(dyXhat, l.c);
      dyXhat.dispose();
    }
  }
  const dbeta = needDbeta ? sumLeading(dy, l.c) : null;
  return { dx, dgamma, dbeta };
}

/** Differentiable group norm: gradients to x, gamma and beta. */
export function groupNorm(x: Tensor, gamma: Tensor, beta: Tensor, options: GroupNormOptions): Tensor {
  const op = 'groupNorm';
  expectTensor(op, 'input x', x);
  expectTensor(op, 'gamma', gamma);
  expectTensor(op, 'beta', beta);
  expectOptions(op, options, '{ groups: 32, eps: 1e-5 }', true);
  expectKnownOptions(op, options, ['groups', 'eps'], {});
  // An empty batch: its groups and parameters checked, an empty output (empty-batch.ts).
  if (isEmptyBatch(x)) {
    checkGroupsAndParams(op, x, gamma, beta, options);
    return emptyBatchResult(op, x, [gamma, beta], x.shape);
  }
  const { y, mean, invStd } = groupNormForward(x, gamma, beta, options);
  const settings = { groups: options.groups };
  const out = record(
    op,
    [x, gamma, beta],
    y,
    (dy, needs, [sx, sg, sm, si]) => {
      const { dx, dgamma, dbeta } = groupNormBackward(dy, sx, sg, sm, si, settings, needs);
      return [dx, dgamma, dbeta];
    },
    [x, gamma, mean, invStd],
  );
  mean.dispose();
  invStd.dispose();
  return out;
}
