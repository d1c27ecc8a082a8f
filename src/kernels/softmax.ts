// Multi-class ops over the last axis: C = shape[rank - 1] (the channels of NHWC, the classes of
// [N, C]); each of the rows = size / C rows is normalised on its own. Float32, flat layouts.
//
// softmax:    y = exp(x - m) / sum exp(x - m), m the row max.      dx = y (dy - sum_row dy y)
// logSoftmax: y = (x - m) - log sum exp(x - m).                    dx = dy - exp(y) sum_row dy
//   Both save y. Subtracting m keeps every exp in (0, 1]: logits of +-90 would overflow float32.
//   (x - m) first, as PyTorch's: x - (m + log s) would round m + log s at m's magnitude (up to
//   1/32 at logits near 1e6), where x - m is exact (Sterbenz) for the logits that matter. log s is
//   logOnePlus of the terms below the max (rowLogSum), so a row one class dominates keeps its
//   small log-sum-exp to float32's relative accuracy (PyTorch's float32 log_softmax does not).
// softmaxCrossEntropy of logits z against targets y (same shape; one-hot or soft), smoothing e:
//   t = y (1 - e) + e / C,  l_row = sum_c t_c (lse - z_c),  lse = m + log sum exp(z - m)
//   A term of t_c = 0 is 0, also at z_c = -inf (a masked class), as PyTorch's class-index
//   targets give; a row of only -inf is NaN, as softmax's and PyTorch's.
//   dz = dy_row * scale * (softmax(z) sum_c t_c - t), scale = 1 / rows for 'mean' (rows, not
//   elements, as Keras and PyTorch average). Saves z and y. A target that requires a gradient
//   (soft labels from another network) gets one, as PyTorch's: dy_c = dy_row * scale * (1 - e) *
//   (lse - z_c), the log-softmax's negative, by its row kernel.
// oneHot(labels, classes): not differentiable, records nothing.
//
// Two variants of each row kernel, chosen by C and the adapter (rowKernel in softmax-rows.ts). One
// thread per row, looping over its C values (max, sum, write), here: right for segmentation, C of
// 2-10 over millions of pixels, and for any C on CPU adapters. A workgroup per row with tree
// reductions in workgroup memory, in softmax-rows.ts: 1000 classes on a few rows on a GPU, where
// one thread per row would run a handful of threads.

import { ArgumentError, ShapeError } from '../errors.js';
import { f32, packParams, u32, type ParamValue } from '../gpu/params.js';
import { runtime, type KernelSpec } from '../gpu/runtime.js';
import { expectChoice, expectKnownOptions, expectNumber, expectOptions, expectTensor } from '../graph/args.js';
import { record } from '../graph/autograd.js';
import { emptyTensor, formatShape, type Tensor } from '../graph/tensor.js';
import { reduceLoss, type Reduction } from './loss.js';
import { LOG_ONE_PLUS } from './elementwise-math.js';
import { ROW_DECLS, ROW_SPECS, rowKernel, TARGET } from './softmax-rows.js';
import { LINEAR_MAIN_ARGS, linearGrid, linearIndex } from './wgsl.js';

export type SoftmaxKind = 'softmax' | 'logSoftmax';

/** WGSL: `base` and the row max `m` of `src`, for the thread's row (after the bounds check). */
const rowMax = (src: string): string => /* wgsl */ `
  let base = row * params.c;
  var m = ${src}[base];
  for (var k = 1u; k < params.c; k += 1u) { m = max(m, ${src}[base + k]); }`;

/** WGSL: also `s`, the row's sum of exp(src - m). */
const rowMaxAndSum = (src: string): string => /* wgsl */ `${rowMax(src)}
  var s = 0.0;
  for (var k = 0u; k < params.c; k += 1u) { s += exp(${src}[base + k] - m); }`;

/**
 * WGSL: `logSum` = log sum exp(src - m) for the thread's row, after rowMax: logOnePlus of the terms
 * below the max (the max's own 1 left out, and each tie with it counted as 1), so that a row one
 * class dominates keeps its small log-sum-exp; log(s) of s = 1 + r lost r below 2^-24 and WGSL's
 * log near 1 is accurate to 2^-21 only (two classes at a margin of 15 were 17% off).
 */
const rowLogSum = (src: string): string => /* wgsl */ `
  var below = 0.0;
  var ties = 0.0;
  for (var k = 0u; k < params.c; k += 1u) {
    let d = ${src}[base + k] - m;
    below += select(exp(d), 0.0, d == 0.0);
    ties += select(0.0, 1.0, d == 0.0);
  }
  let logSum = logOnePlus(below + (ties - 1.0));`;

/** Per kind: the forward's passes after the max, and the backward's (dy, y) -> dx. */
const BODIES = {
  softmax: {
    // The sum pass stores each exp in y, so the write pass scales instead of calling exp again.
    forward: `var s = 0.0;
  for (var k = 0u; k < params.c; k += 1u) { let e = exp(x[base + k] - m); y[base + k] = e; s += e; }
  let inv = 1.0 / s;
  for (var k = 0u; k < params.c; k += 1u) { y[base + k] *= inv; }`,
    backward: `var dot = 0.0;
  for (var k = 0u; k < params.c; k += 1u) { dot += dy[base + k] * y[base + k]; }
  for (var k = 0u; k < params.c; k += 1u) { dx[base + k] = y[base + k] * (dy[base + k] - dot); }`,
  },
  logSoftmax: {
    forward: `${rowLogSum('x')}
  for (var k = 0u; k < params.c; k += 1u) { y[base + k] = (x[base + k] - m) - logSum; }`,
    backward: `var total = 0.0;
  for (var k = 0u; k < params.c; k += 1u) { total += dy[base + k]; }
  for (var k = 0u; k < params.c; k += 1u) { dx[base + k] = dy[base + k] - exp(y[base + k]) * total; }`,
  },
} as const;

/** One thread per row: the forward finds the row max first, the backward starts from the row's base. */
function rowSpec(kind: SoftmaxKind, direction: 'forward' | 'backward'): KernelSpec {
  const forward = direction === 'forward';
  return {
    name: `${kind}.${direction}`,
    key: '',
    inputs: forward ? 1 : 2,
    outputs: 1,
    wgsl: () => /* wgsl */ `
${forward ? ROW_DECLS.softmaxForward : ROW_DECLS.softmaxBackward}
${kind === 'logSoftmax' && forward ? LOG_ONE_PLUS : ''}
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let row = ${linearIndex()};
  if (row >= params.rows) { return; }
  ${forward ? rowMax('x') : 'let base = row * params.c;'}
  ${BODIES[kind][direction]}
}`,
  };
}

/** One thread per row, built once per kind: the runtime caches pipelines by name and key, never per call. */
const SPECS = {
  softmax: { forward: rowSpec('softmax', 'forward'), backward: rowSpec('softmax', 'backward') },
  logSoftmax: { forward: rowSpec('logSoftmax', 'forward'), backward: rowSpec('logSoftmax', 'backward') },
} as const;

/**
 * Runs a row op over `of`'s rows (its last axis) into `out`: the thread-per-row or the
 * workgroup-per-row kernel (rowKernel), with params rows, C, then `extra`.
 */
function runRows(perThread: KernelSpec, perRow: KernelSpec, of: Tensor, inputs: Tensor[], out: Tensor, extra: ParamValue[] = []): Tensor {
  const c = of.shape[of.rank - 1];
  const rows = of.size / c;
  const [spec, grid] = rowKernel(c, rows, perThread, perRow);
  runtime().dispatch(spec, { inputs: inputs.map((t) => t.slice), outputs: [out.slice], params: packParams([u32(rows), u32(c), ...extra]) }, grid);
  return out;
}

/** Raw forward, no tape: softmax or log-softmax of x over its last axis. */
export function softmaxForward(kind: SoftmaxKind, x: Tensor): Tensor {
  return runRows(SPECS[kind].forward, ROW_SPECS[kind].forward, x, [x], emptyTensor(x.shape, `${kind}.out`));
}

/** Raw backward from the saved output y: dx for upstream dy (shape of y). */
export function softmaxBackward(kind: SoftmaxKind, dy: Tensor, y: Tensor): Tensor {
  if (dy.size !== y.size) throw new ShapeError(`${kind}.backward: dy ${formatShape(dy.shape)} for output ${y.describe()}`);
  return runRows(SPECS[kind].backward, ROW_SPECS[kind].backward, y, [dy, y], emptyTensor(y.shape, `${kind}.dx`));
}

// ---------------------------------------------------------------------------------------------
// Cross-entropy from logits: per-row loss, gradient

const crossEntropyForwardSpec: KernelSpec = {
  name: 'softmaxCrossEntropy.forward',
  key: '',
  inputs: 2,
  outputs: 1,
  wgsl: () => /* wgsl */ `
${ROW_DECLS.crossEntropyForward}
${TARGET}
${LOG_ONE_PLUS}
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let row = ${linearIndex()};
  if (row >= params.rows) { return; }
  ${rowMax('z')}
  ${rowLogSum('z')}
  var l = 0.0;
  // lse - z_c as (m - z_c) + log s: both terms are small next to lse at large |z|. A class of
  // target 0 adds nothing, also where z_c = -inf masks it out (0 * inf would make the loss NaN).
  for (var k = 0u; k < params.c; k += 1u) {
    let t = smoothedTarget(base + k);
    l += select(t * ((m - z[base + k]) + logSum), 0.0, t == 0.0);
  }
  loss[row] = l;
}`,
};

const crossEntropyBackwardSpec: KernelSpec = {
  name: 'softmaxCrossEntropy.backward',
  key: '',
  inputs: 3,
  outputs: 1,
  wgsl: () => /* wgsl */ `
${ROW_DECLS.crossEntropyBackward}
${TARGET}
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let row = ${linearIndex()};
  if (row >= params.rows) { return; }
  ${rowMaxAndSum('z')}
  var tsum = 0.0;
  for (var k = 0u; k < params.c; k += 1u) { tsum += smoothedTarget(base + k); }
  // Soft labels need not sum to 1, so sum t stays in the gradient.
  let g = dy[row % params.ndy] * params.scale;
  let inv = 1.0 / s;
  for (var k = 0u; k < params.c; k += 1u) {
    dz[base + k] = g * (exp(z[base + k] - m) * inv * tsum - smoothedTarget(base + k));
  }
}`,
};

/** out_i = factor * dy[row(i) % ndy] * logP_i: the target's gradient from the log-softmax. */
const crossEntropyTargetSpec: KernelSpec = {
  name: 'softmaxCrossEntropy.targetBackward',
  key: '',
  inputs: 2,
  outputs: 1,
  wgsl: () => /* wgsl */ `
struct Params { n: u32, c: u32, ndy: u32, factor: f32 }
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> logP: array<f32>;
@group(0) @binding(2) var<storage, read_write> dt: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let i = ${linearIndex()};
  if (i >= params.n) { return; }
  dt[i] = params.factor * dy[(i / params.c) % params.ndy] * logP[i];
}`,
};

/**
 * The target's gradient, -(1 - e) * dy_row * scale * logSoftmax(z): the log-softmax by its own
 * row kernels, then one pass for the per-row factor (a soft target's gradient is rarely asked
 * for, so it does not get a fused row kernel).
 */
function crossEntropyTargetBackward(dy: Tensor, z: Tensor, labelSmoothing: number, scale: number): Tensor {
  const logP = softmaxForward('logSoftmax', z);
  const dt = emptyTensor(z.shape, 'softmaxCrossEntropy.dy');
  const params = packParams([u32(z.size), u32(z.shape[z.rank - 1]), u32(dy.size), f32(-(1 - labelSmoothing) * scale)]);
  runtime().dispatch(crossEntropyTargetSpec, { inputs: [dy.slice, logP.slice], outputs: [dt.slice], params }, linearGrid(z.size));
  logP.dispose();
  return dt;
}

/** keep = 1 − e and spread = e / C, the smoothed target's two constants (TARGET). */
function smoothingParams(z: Tensor, labelSmoothing: number): ParamValue[] {
  return [f32(1 - labelSmoothing), f32(labelSmoothing / z.shape[z.rank - 1])];
}

/** Raw forward: per-row losses, shape z.shape without its last axis. */
export function softmaxCrossEntropyForward(z: Tensor, y: Tensor, labelSmoothing = 0): Tensor {
  const loss = emptyTensor(z.shape.slice(0, -1), 'softmaxCrossEntropy.perRow');
  return runRows(crossEntropyForwardSpec, ROW_SPECS.softmaxCrossEntropy.forward, z, [z, y], loss, smoothingParams(z, labelSmoothing));
}

/** Raw backward: dz for dy of one element (reduced loss, times scale) or one per row ('none'). */
export function softmaxCrossEntropyBackward(dy: Tensor, z: Tensor, y: Tensor, labelSmoothing = 0, scale = 1): Tensor {
  const rows = z.size / z.shape[z.rank - 1];
  if (dy.size !== 1 && dy.size !== rows) throw new ShapeError(`softmaxCrossEntropy.backward: dy ${formatShape(dy.shape)} for logits ${z.describe()}`);
  const dz = emptyTensor(z.shape, 'softmaxCrossEntropy.dz');
  const extra = [...smoothingParams(z, labelSmoothing), u32(dy.size), f32(scale)];
  return runRows(crossEntropyBackwardSpec, ROW_SPECS.softmaxCrossEntropy.backward, z, [dy, z, y], dz, extra);
}

// ---------------------------------------------------------------------------------------------
// oneHot: one thread per output element

const oneHotSpec: KernelSpec = {
  name: 'oneHot',
  key: '',
  inputs: 1,
  outputs: 1,
  wgsl: () => /* wgsl */ `
struct Params { n: u32, classes: u32 }
@group(0) @binding(0) var<storage, read> labels: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let i = ${linearIndex()};
  if (i >= params.n) { return; }
  // floor(v + 0.5), not round(): WGSL's round() takes halves to even, the reference's to +inf.
  // The range test comes before u32(): that conversion clamps, so -3 would count as class 0.
  let k = floor(labels[i / params.classes] + 0.5);
  let hit = k >= 0.0 && k < f32(params.classes) && u32(k) == i % params.classes;
  out[i] = select(0.0, 1.0, hit);
}`,
};

// ---------------------------------------------------------------------------------------------
// Validation and the public ops

/** C and rows of the op's input; ShapeError for a rank-0 input or an empty last axis. */
function lastAxis(op: string, role: string, x: Tensor): { c: number; rows: number } {
  if (x.rank === 0) throw new ShapeError(`${op}: ${role} ${x.describe()} has no last axis to normalise over`);
  const c = x.shape[x.rank - 1];
  if (c === 0) throw new ShapeError(`${op}: ${role} ${x.describe()} has an empty last axis`);
  return { c, rows: x.size / c };
}

/**
 * An axis given to softmax or logSoftmax must be the last (-1 or rank - 1): the kernels normalise
 * rows of the last axis only. Anything else is an ArgumentError rather than the last axis
 * normalised regardless: PyTorch code ported here passes dim=1 for NCHW's channels, which in
 * NHWC are already last, so a transpose would hide the mistake instead of doing what was meant.
 */
function expectLastAxis(op: string, x: Tensor, axis: unknown): void {
  if (axis === undefined) return;
  expectNumber(op, 'axis', axis, { integer: true });
  if (axis !== -1 && axis !== x.rank - 1) {
    throw new ArgumentError(`${op}: only the last axis (-1 or ${x.rank - 1} for ${x.describe()}) can be normalised, got axis ${axis}; tensors here are NHWC, channels last`);
  }
}

function normalise(kind: SoftmaxKind, x: Tensor, axis: unknown): Tensor {
  expectTensor(kind, 'input x', x);
  expectLastAxis(kind, x, axis);
  lastAxis(kind, 'input', x);
  const y = softmaxForward(kind, x);
  return record(kind, [x], y, (dy, _needs, [sy]) => [softmaxBackward(kind, dy, sy)], [y]);
}

/** Softmax over the last axis (channels or classes); same shape as x. `axis`, if given, must be that axis. */
export function softmax(x: Tensor, axis?: number): Tensor {
  return normalise('softmax', x, axis);
}

/**
 * Log-softmax over the last axis; same shape as x. Use it, not log(softmax(x)), for stability.
 * `axis`, if given, must be the last.
 */
export function logSoftmax(x: Tensor, axis?: number): Tensor {
  return normalise('logSoftmax', x, axis);
}

export interface CrossEntropyOptions {
  /** 'mean' over rows (default), 'sum' over rows, or 'none': one loss per row. */
  reduction?: Reduction;
  /** e in [0, 1]: targets become y (1 - e) + e / C. Default 0. */
  labelSmoothing?: number;
}

/**
 * Categorical cross-entropy of logits z against targets y of the same shape (one-hot or soft
 * labels over the last axis): [] for 'mean' and 'sum', z.shape without its last axis for 'none'.
 */
export function softmaxCrossEntropy(z: Tensor, y: Tensor, options: CrossEntropyOptions = {}): Tensor {
  const op = 'softmaxCrossEntropy';
  expectTensor(op, 'logits z', z);
  expectTensor(op, 'target y', y);
  expectOptions(op, options, "{ reduction: 'mean', labelSmoothing: 0.1 }");
  expectKnownOptions(op, options, ['reduction', 'labelSmoothing']);
  const { reduction = 'mean', labelSmoothing = 0 } = options;
  expectChoice(op, 'reduction', reduction, ['mean', 'sum', 'none']);
  expectNumber(op, 'labelSmoothing', labelSmoothing, { min: 0, max: 1 });
  if (z.shape.join() !== y.shape.join() || z.rank !== y.rank) {
    // Class ids [..., 1] or [...], PyTorch's CrossEntropyLoss target: say how to make one-hot rows.
    const lead = z.shape.slice(0, -1).join();
    const ids = z.rank > 0 && (y.shape.join() === lead || (y.shape.at(-1) === 1 && y.shape.slice(0, -1).join() === lead));
    const hint = ids ? `; class ids (PyTorch's CrossEntropyLoss target) become one-hot targets by dn.oneHot(labels, ${z.shape.at(-1)})` : '';
    throw new ShapeError(`${op}: logits ${z.describe()} and target ${y.describe()} must have the same shape${hint}`);
  }
  const { rows } = lastAxis(op, 'logits', z);
  if (rows === 0) throw new ShapeError(`${op}: logits ${z.describe()} have no rows`);
  const perRow = softmaxCrossEntropyForward(z, y, labelSmoothing);
  const out = reduceLoss(perRow, reduction);
  perRow.dispose();
  const scale = reduction === 'mean' ? 1 / rows : 1;
  const backward = (dy: Tensor, needs: boolean[], [sz, sy]: Tensor[]) => [
    needs[0] ? softmaxCrossEntropyBackward(dy, sz, sy, labelSmoothing, scale) : null,
    needs[1] ? crossEntropyTargetBackward(dy, sz, labelSmoothing, scale) : null,
  ];
  return record(op, [z, y], out, backward, [z, y]);
}

/**
 * One-hot encoding of class ids held as floats: labels [...] or [..., 1] (a trailing axis of 1 is
 * replaced) give [..., classes]. Each label rounds to the nearest integer (halves up), so a 0.9999999
 * left by float arithmetic still counts as 1; a label that then lies outside [0, classes), and NaN
 * or +-Infinity, gives a row of zeros, as tf.one_hot does for an out-of-range index. Not
 * differentiable: nothing is recorded.
 */
export function oneHot(labels: Tensor, classes: number): Tensor {
  expectTensor('oneHot', 'labels', labels);
  expectNumber('oneHot', 'classes', classes, { integer: true, min: 1 });
  const lead = labels.shape.at(-1) === 1 ? labels.shape.slice(0, -1) : labels.shape;
  const out = emptyTensor([...lead, classes], 'oneHot.out');
  runtime().dispatch(oneHotSpec, { inputs: [labels.slice], outputs: [out.slice], params: packParams([u32(out.size), u32(classes)]) }, linearGrid(out.size));
  return out;
}
