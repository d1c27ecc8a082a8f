// Segmentation losses: binary cross-entropy (from probabilities or from logits) and soft Dice.
// Prediction p (or logits z) and target y have the same shape, any rank; Dice's perSample mode
// reads the leading dimension as the batch, e.g. masks [N, H, W, 1]. Float32, flat layouts.
//
// BCE from probabilities: l_i = -(y log pc + (1 - y) log(1 - pc)), pc = clamp(p, eps, 1 - eps) as
//   Keras clips its output (Keras 3; tf.keras 2 also added eps inside the logs, we do not).
//   1 - pc is computed as clamp(1 - p, eps, 1 - eps), equal in exact arithmetic and exact in
//   float32 near p = 1, where 1 - clamp(p) would lose the eps. The gradient is zero where the clamp
//   is active, like the gradient of tf.clip_by_value: dl/dp = -y/p + (1 - y)/(1 - p) inside.
// BCE from logits: l_i = max(z, 0) - z y + log(1 + exp(-|z|)), no exp can overflow; dl/dz =
//   sigmoid(z) - y, with sigmoid written from exp(-|z|) for the same reason.
// Reductions: 'none' keeps l; 'sum' and 'mean' reduce with reduce.reduceMiddle (a workgroup tree).
// Saved for backward: p (or z) and y. A target that requires a gradient gets one, as PyTorch's
// (soft labels from another network): dl/dy = log(1 - pc) - log(pc) from probabilities (p clamped
// as in the loss), -z from logits.
//
// Soft Dice over groups g (the whole batch, or each sample when perSample; with perChannel, each
// channel of the last axis apart, as multi-class Dice over softmax outputs and one-hot masks):
//   L_g = 1 - (2 I_g + s) / (S_g + s),  I_g = sum p*y,  S_g = sum p + sum y,  L = mean_g L_g
//   dL/dp_i = -(1/G) (2 y_i (S_g + s) - (2 I_g + s)) / (S_g + s)^2   (p_i itself does not appear)
// I_g and S_g are reduced together: one workgroup per chunk of a group, then reduceMiddle over the
// chunks. Saved for backward: y and the sums [G, 2], and p where y requires a gradient: the loss
// is symmetric in p and y, so dL/dy is the same kernel with p in y's place. Group g = sample * C + channel; a group's
// elements lie C apart (C = 1 without perChannel: one contiguous run).
//
// bceDiceLoss = bceWeight * bceLoss(mean) + diceWeight * diceLoss: one tape node whose backward
// adds the two raw backwards, so no intermediate tensor has to outlive the call.

import { ArgumentError, ShapeError } from '../errors.js';
import { f32, packParams, u32 } from '../gpu/params.js';
import { runtime, type KernelSpec } from '../gpu/runtime.js';
import { describeValue, expectTensor } from '../graph/args.js';
import { expectLossOptions, PROBABILITIES } from './loss-options.js';
import { record } from '../graph/autograd.js';
import { emptyTensor, formatShape, type Tensor } from '../graph/tensor.js';
import { binaryForward, unaryForward } from './elementwise.js';
import { LOG1P_NEAR } from './elementwise-math.js';
import { reduceMiddle } from './reduce.js';
import { isNanBits, LINEAR_MAIN_ARGS, linearGrid, linearIndex } from './wgsl.js';

export type Reduction = 'mean' | 'sum' | 'none';

// ---------------------------------------------------------------------------------------------
// Binary cross-entropy: per-element forward and backward kernels

type BceKind = 'bce' | 'bceWithLogits';

/**
 * WGSL: lp = log(pc) and lq = log(qc), pc = clamp(p, eps, 1 - eps), qc = clamp(1 - p, ...), the one
 * near 1 by log1pNear (1 - pc is exact there, Sterbenz), so a confident prediction's small loss
 * keeps its relative accuracy.
 */
const BCE_LOGS = `let pc = clamp(xv, eps, 1.0 - eps);
  let qc = clamp(1.0 - xv, eps, 1.0 - eps);
  let lp = select(log(pc), log1pNear(pc - 1.0), pc >= 0.5);
  let lq = select(log(qc), log1pNear(-pc), pc < 0.5);`;

/**
 * WGSL: p is NaN, from its bits (a compiler may fold `xv != xv`). The clamp would turn a NaN
 * prediction into eps or 1 - eps (lavapipe's clamp returns a bound), a finite loss that hides a
 * diverged network from fit's NaN check; PyTorch's and Keras's BCE give NaN, and so does this,
 * in the loss and both gradients.
 */
const NAN_P = isNanBits('xv', 'u32');

/**
 * WGSL bodies: `xv` is p or z, `t` the target; forward sets `l`, backward sets `g` = dl/dx,
 * target sets `g` = dl/dt (the target's gradient, where the target requires one: both losses are
 * linear in t, so it does not involve t).
 */
const BCE_BODIES = {
  bce: {
    forward: `${BCE_LOGS}
  let l = select(-(t * lp + (1.0 - t) * lq), xv, ${NAN_P});`,
    backward: `let inside = (xv >= eps) && (1.0 - xv >= eps);
  let g = select(select(0.0, -t / xv + (1.0 - t) / (1.0 - xv), inside), xv, ${NAN_P});`,
    target: `${BCE_LOGS}
  let g = select(lq - lp, xv, ${NAN_P});`,
  },
  bceWithLogits: {
    forward: `let l = max(xv, 0.0) - xv * t + log1pNear(exp(-abs(xv)));`,
    backward: `let e = exp(-abs(xv));
  let g = select(e / (1.0 + e), 1.0 / (1.0 + e), xv >= 0.0) - t;`,
    target: `let g = -xv;`,
  },
} as const;

function bceForwardSpec(kind: BceKind): KernelSpec {
  return {
    name: `${kind}.forward`,
    key: '',
    inputs: 2,
    outputs: 1,
    wgsl: () => /* wgsl */ `
struct Params { n: u32, eps: f32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> loss: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
${LOG1P_NEAR}
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let i = ${linearIndex()};
  if (i >= params.n) { return; }
  let eps = params.eps;
  let xv = x[i];
  let t = y[i];
  ${BCE_BODIES[kind].forward}
  loss[i] = l;
}`,
  };
}

/** The gradient a backward kernel writes: the prediction's (p or z) or the target's. */
type GradientOf = 'backward' | 'target';

function bceBackwardSpec(kind: BceKind, of: GradientOf): KernelSpec {
  return {
    name: `${kind}.${of === 'backward' ? 'backward' : 'targetBackward'}`,
    key: '',
    inputs: 3,
    outputs: 1,
    wgsl: () => /* wgsl */ `
struct Params { n: u32, ndy: u32, scale: f32, eps: f32 }
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;
${LOG1P_NEAR}
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let i = ${linearIndex()};
  if (i >= params.n) { return; }
  let eps = params.eps;
  let xv = x[i];
  let t = y[i];
  ${BCE_BODIES[kind][of]}
  dx[i] = dy[i % params.ndy] * params.scale * g;
}`,
  };
}

function bcePerElement(kind: BceKind, x: Tensor, y: Tensor, eps: number): Tensor {
  const inputs = [x.slice, y.slice];
  const loss = emptyTensor(x.shape, `${kind}.out`);
  runtime().dispatch(bceForwardSpec(kind), { inputs, outputs: [loss.slice], params: packParams([u32(x.size), f32(eps)]) }, linearGrid(x.size));
  return loss;
}

function bceGradient(kind: BceKind, dy: Tensor, x: Tensor, y: Tensor, eps: number, scale: number, of: GradientOf = 'backward'): Tensor {
  if (dy.size !== 1 && dy.size !== x.size) throw new ShapeError(`${kind}.backward: dy ${formatShape(dy.shape)} for input ${x.describe()}`);
  const inputs = [dy.slice, x.slice, y.slice];
  const dx = emptyTensor(x.shape, `${kind}.${of === 'backward' ? 'dx' : 'dy'}`);
  const params = packParams([u32(x.size), u32(dy.size), f32(scale), f32(eps)]);
  runtime().dispatch(bceBackwardSpec(kind, of), { inputs, outputs: [dx.slice], params }, linearGrid(x.size));
  return dx;
}

/** The target's gradient, dL/dy = dy * scale * dl/dy, for either BCE; x is p or z. */
function bceTargetBackward(kind: BceKind, dy: Tensor, x: Tensor, y: Tensor, eps: number, scale: number): Tensor {
  return bceGradient(kind, dy, x, y, eps, scale, 'target');
}

/** Per-element BCE of probabilities p against targets y (shape of p). */
export function bceForward(p: Tensor, y: Tensor, eps = 1e-7): Tensor {
  return bcePerElement('bce', p, y, eps);
}

/**
 * dL/dp = dy * scale * dl/dp. dy has one element (reduced loss) or one per element ('none');
 * scale is 1/n for a mean, 1 for a sum or 'none', times any loss weight.
 */
export function bceBackward(dy: Tensor, p: Tensor, y: Tensor, eps = 1e-7, scale = 1): Tensor {
  return bceGradient('bce', dy, p, y, eps, scale);
}

/** Per-element BCE of logits z against targets y (shape of z). */
export function bceWithLogitsForward(z: Tensor, y: Tensor): Tensor {
  return bcePerElement('bceWithLogits', z, y, 0);
}

/** dL/dz = dy * scale * (sigmoid(z) - y); dy and scale as for bceBackward. */
export function bceWithLogitsBackward(dy: Tensor, z: Tensor, y: Tensor, scale = 1): Tensor {
  return bceGradient('bceWithLogits', dy, z, y, 0, scale);
}

/** Reduces per-element losses to a scalar [] ('mean', 'sum'), or returns a share ('none'). */
export function reduceLoss(perElement: Tensor, reduction: Reduction): Tensor {
  if (reduction === 'none') return perElement.share();
  const scale = reduction === 'mean' ? 1 / perElement.size : 1;
  return reduceMiddle(perElement, 1, perElement.size, 1, [], scale);
}

function gradScale(reduction: Reduction, n: number): number {
  return reduction === 'mean' ? 1 / n : 1;
}

// ---------------------------------------------------------------------------------------------
// Soft Dice: grouped sums, loss from the sums, gradient

const DICE_WG = 256;
/** Elements one workgroup sums: 16 per thread keeps a group of a 256x256 mask on 16 workgroups. */
const DICE_CHUNK = DICE_WG * 16;

const diceSumsSpec: KernelSpec = {
  name: 'dice.sums',
  key: `${DICE_WG}`,
  inputs: 2,
  outputs: 1,
  wgsl: () => /* wgsl */ `
struct Params { groups: u32, groupSize: u32, chunks: u32, chunkSize: u32, channels: u32 }
@group(0) @binding(0) var<storage, read> p: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> partial: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
var<workgroup> partInter: array<f32, ${DICE_WG}>;
var<workgroup> partTotal: array<f32, ${DICE_WG}>;
@compute @workgroup_size(${DICE_WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let o = wid.x + wid.y * nwg.x;
  let inRange = o < params.groups * params.chunks;
  var inter = 0.0;
  var total = 0.0;
  if (inRange) {
    let g = o / params.chunks;
    let c = params.channels;
    let base = (g / c) * params.groupSize * c + g % c;
    let start = (o % params.chunks) * params.chunkSize;
    let end = min(start + params.chunkSize, params.groupSize);
    for (var k = start + lid; k < end; k += ${DICE_WG}u) {
      let pv = p[base + k * c];
      let yv = y[base + k * c];
      inter += pv * yv;
      total += pv + yv;
    }
  }
  partInter[lid] = inter;
  partTotal[lid] = total;
  workgroupBarrier();
  for (var s = ${DICE_WG / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) {
      partInter[lid] += partInter[lid + s];
      partTotal[lid] += partTotal[lid + s];
    }
    workgroupBarrier();
  }
  if (lid == 0u && inRange) {
    partial[2u * o] = partInter[0];
    partial[2u * o + 1u] = partTotal[0];
  }
}`,
};

const diceLossSpec: KernelSpec = {
  name: 'dice.loss',
  key: '',
  inputs: 1,
  outputs: 1,
  wgsl: () => /* wgsl */ `
struct Params { groups: u32, smoothing: f32 }
@group(0) @binding(0) var<storage, read> sums: array<f32>;
@group(0) @binding(1) var<storage, read_write> loss: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let g = ${linearIndex()};
  if (g >= params.groups) { return; }
  let den = sums[2u * g + 1u] + params.smoothing;
  // den is 0 only with smooth 0 and a group empty in p and y: scored perfect, as any smooth > 0
  // scores it, and given gradient 0 by dice.backward (no prediction scores better).
  loss[g] = select(1.0 - (2.0 * sums[2u * g] + params.smoothing) / den, 0.0, den == 0.0);
}`,
};

const diceBackwardSpec: KernelSpec = {
  name: 'dice.backward',
  key: '',
  inputs: 3,
  outputs: 1,
  wgsl: () => /* wgsl */ `
struct Params { n: u32, groupSize: u32, smoothing: f32, scale: f32, channels: u32 }
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read> sums: array<f32>;
@group(0) @binding(3) var<storage, read_write> dp: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let i = ${linearIndex()};
  if (i >= params.n) { return; }
  let c = params.channels;
  let g = (i / (params.groupSize * c)) * c + i % c;
  let num = 2.0 * sums[2u * g] + params.smoothing;
  let den = sums[2u * g + 1u] + params.smoothing;
  dp[i] = select(-dy[0] * params.scale * (2.0 * y[i] * den - num) / (den * den), 0.0, den == 0.0);
}`,
};

/**
 * [G, 2]: per group, sum(p*y) and sum(p) + sum(y); G = samples * channels, the samples splitting
 * p's elements evenly and the channels (1, or the last axis's size) interleaved within them.
 */
export function diceSums(p: Tensor, y: Tensor, samples: number, channels = 1): Tensor {
  const inputs = [p.slice, y.slice];
  const groups = samples * channels;
  const groupSize = p.size / groups;
  const chunks = Math.ceil(groupSize / DICE_CHUNK);
  const partial = emptyTensor([groups, chunks, 2], 'dice.partial');
  const params = packParams([u32(groups), u32(groupSize), u32(chunks), u32(DICE_CHUNK), u32(channels)]);
  runtime().dispatch(diceSumsSpec, { inputs, outputs: [partial.slice], params }, linearGrid(groups * chunks, 1));
  const sums = chunks === 1 ? partial.share([groups, 2]) : reduceMiddle(partial, groups, chunks, 2, [groups, 2]);
  partial.dispose();
  return sums;
}

/** The Dice loss [] from diceSums: the mean over groups of 1 - (2I + s) / (S + s). */
export function diceFromSums(sums: Tensor, smooth = 1): Tensor {
  const groups = sums.shape[0];
  const perGroup = emptyTensor([groups], 'dice.perGroup');
  runtime().dispatch(diceLossSpec, { inputs: [sums.slice], outputs: [perGroup.slice], params: packParams([u32(groups), f32(smooth)]) }, linearGrid(groups));
  const loss = groups === 1 ? perGroup.share([]) : reduceMiddle(perGroup, 1, groups, 1, [], 1 / groups);
  perGroup.dispose();
  return loss;
}

/** dL/dp for the Dice loss (mean over groups), times dy (one element) and `weight`; `channels` as for diceSums. */
export function diceBackward(dy: Tensor, y: Tensor, sums: Tensor, smooth = 1, weight = 1, channels = 1): Tensor {
  const groups = sums.shape[0];
  const inputs = [dy.slice, y.slice, sums.slice];
  const dp = emptyTensor(y.shape, 'dice.dp');
  const params = packParams([u32(y.size), u32(y.size / groups), f32(smooth), f32(weight / groups), u32(channels)]);
  runtime().dispatch(diceBackwardSpec, { inputs, outputs: [dp.slice], params }, linearGrid(y.size));
  return dp;
}

// ---------------------------------------------------------------------------------------------
// Validation and the differentiable losses

/** What plain JavaScript can get wrong in a loss call: operands not tensors, options not an object or unknown. */
function checkLossArgs(op: string, p: unknown, y: unknown, options: unknown, known: readonly string[], example: string, probabilities?: string): void {
  expectTensor(op, 'prediction', p);
  expectTensor(op, 'target', y);
  expectLossOptions(op, options, known, example, probabilities);
}

function checkPair(op: string, p: Tensor, y: Tensor): void {
  if (p.shape.join() !== y.shape.join() || p.rank !== y.rank) {
    throw new ShapeError(`${op}: prediction ${p.describe()} and target ${y.describe()} must have the same shape`);
  }
  if (p.size === 0) throw new ShapeError(`${op}: prediction ${p.describe()} is empty`);
}

function checkOption(op: string, name: string, value: number, ok: boolean, expected: string): void {
  if (typeof value !== 'number' || !ok || !Number.isFinite(value)) throw new ArgumentError(`${op}: ${name} must be ${expected}, got ${describeValue(value)}`);
}

function checkReduction(op: string, reduction: string): void {
  if (reduction !== 'mean' && reduction !== 'sum' && reduction !== 'none') {
    throw new ArgumentError(`${op}: reduction must be 'mean', 'sum' or 'none', got ${describeValue(reduction)}`);
  }
}

/** Dice's grouping: samples (the leading axis, or 1) and channels (the last axis, or 1). */
function diceGroups(op: string, p: Tensor, perSample: boolean, perChannel: boolean): { samples: number; channels: number } {
  if (p.rank < 1) throw new ShapeError(`${op}: prediction ${p.describe()} needs a leading batch dimension`);
  if (perChannel && p.rank < 2) throw new ShapeError(`${op}: perChannel needs a channel axis after the batch, got ${p.describe()}`);
  return { samples: perSample ? p.shape[0] : 1, channels: perChannel ? p.shape[p.rank - 1] : 1 };
}

export interface BceOptions {
  /** Probabilities are clamped to [eps, 1 - eps]; default 1e-7 (Keras' epsilon). */
  eps?: number;
  reduction?: Reduction;
}

/** Binary cross-entropy of probabilities p against targets y (same shape). */
export function bceLoss(p: Tensor, y: Tensor, options: BceOptions = {}): Tensor {
  checkLossArgs('bceLoss', p, y, options, ['reduction', 'eps'], "{ reduction: 'mean' }", PROBABILITIES.bce);
  const { eps = 1e-7, reduction = 'mean' } = options;
  checkPair('bceLoss', p, y);
  checkOption('bceLoss', 'eps', eps, eps > 0 && eps < 0.5, 'in (0, 0.5)');
  checkReduction('bceLoss', reduction);
  const perElement = bceForward(p, y, eps);
  const out = reduceLoss(perElement, reduction);
  perElement.dispose();
  const scale = gradScale(reduction, p.size);
  return record('bceLoss', [p, y], out, (dy, needs, [sp, sy]) => [
    needs[0] ? bceBackward(dy, sp, sy, eps, scale) : null,
    needs[1] ? bceTargetBackward('bce', dy, sp, sy, eps, scale) : null,
  ], [p, y]);
}

/** Binary cross-entropy of logits z against targets y (same shape), stable for any |z|. */
export function bceWithLogits(z: Tensor, y: Tensor, options: { reduction?: Reduction } = {}): Tensor {
  checkLossArgs('bceWithLogits', z, y, options, ['reduction'], "{ reduction: 'mean' }");
  const { reduction = 'mean' } = options;
  checkPair('bceWithLogits', z, y);
  checkReduction('bceWithLogits', reduction);
  const perElement = bceWithLogitsForward(z, y);
  const out = reduceLoss(perElement, reduction);
  perElement.dispose();
  const scale = gradScale(reduction, z.size);
  return record('bceWithLogits', [z, y], out, (dy, needs, [sz, sy]) => [
    needs[0] ? bceWithLogitsBackward(dy, sz, sy, scale) : null,
    needs[1] ? bceTargetBackward('bceWithLogits', dy, sz, sy, 0, scale) : null,
  ], [z, y]);
}

export interface DiceOptions {
  /** Added to numerator and denominator: keeps empty masks finite (loss 0 when both are empty, also at 0). */
  smooth?: number;
  /** Dice per sample (leading dimension), then averaged; default: one Dice over the whole batch. */
  perSample?: boolean;
  /**
   * Dice per channel of the last axis (each class of softmax outputs against one-hot masks), then
   * averaged over channels (and samples with perSample): every class weighs the same, however
   * few its pixels.
   */
  perChannel?: boolean;
}

/** Soft Dice loss 1 - (2 sum(p y) + s) / (sum p + sum y + s), a scalar []. */
export function diceLoss(p: Tensor, y: Tensor, options: DiceOptions = {}): Tensor {
  checkLossArgs('diceLoss', p, y, options, ['smooth', 'perSample', 'perChannel'], '{ smooth: 1, perSample: true }', PROBABILITIES.overlap);
  const { smooth = 1, perSample = false, perChannel = false } = options;
  checkPair('diceLoss', p, y);
  checkOption('diceLoss', 'smooth', smooth, smooth >= 0, '>= 0');
  const { samples, channels } = diceGroups('diceLoss', p, perSample, perChannel);
  const sums = diceSums(p, y, samples, channels);
  const out = diceFromSums(sums, smooth);
  // Dice is symmetric in p and y, so the target's gradient is the same kernel with p for y; p is
  // saved only when the target needs it.
  const saved = y.requiresGrad ? [y, sums, p] : [y, sums];
  const result = record('diceLoss', [p, y], out, (dy, needs, [sy, ss, sp]) => [
    needs[0] ? diceBackward(dy, sy, ss, smooth, 1, channels) : null,
    needs[1] ? diceBackward(dy, sp, ss, smooth, 1, channels) : null,
  ], saved);
  sums.dispose();
  return result;
}

export interface BceDiceOptions extends DiceOptions {
  bceWeight?: number;
  diceWeight?: number;
  /** BCE's clamp; default 1e-7. */
  eps?: number;
}

/** bceWeight * bceLoss(p, y) (mean) + diceWeight * diceLoss(p, y), a scalar []. */
export function bceDiceLoss(p: Tensor, y: Tensor, options: BceDiceOptions = {}): Tensor {
  checkLossArgs('bceDiceLoss', p, y, options, ['bceWeight', 'diceWeight', 'smooth', 'eps', 'perSample', 'perChannel'], '{ bceWeight: 1, diceWeight: 1 }', PROBABILITIES.overlap);
  const { bceWeight = 1, diceWeight = 1, smooth = 1, eps = 1e-7, perSample = false, perChannel = false } = options;
  const op = 'bceDiceLoss';
  checkPair(op, p, y);
  // A negative weight would reward that term's error (MONAI's DiceCELoss refuses one too).
  checkOption(op, 'bceWeight', bceWeight, bceWeight >= 0, 'a finite number >= 0');
  checkOption(op, 'diceWeight', diceWeight, diceWeight >= 0, 'a finite number >= 0');
  checkOption(op, 'smooth', smooth, smooth >= 0, '>= 0');
  checkOption(op, 'eps', eps, eps > 0 && eps < 0.5, 'in (0, 0.5)');
  const { samples, channels } = diceGroups(op, p, perSample, perChannel);
  const perElement = bceForward(p, y, eps);
  const bce = reduceLoss(perElement, 'mean');
  perElement.dispose();
  const sums = diceSums(p, y, samples, channels);
  const dice = diceFromSums(sums, smooth);
  const out = weightedSum(bce, bceWeight, dice, diceWeight);
  const n = p.size;
  const result = record(
    op,
    [p, y],
    out,
    (dy, needs, [sp, sy, ss]) => {
      // The prediction's gradient, then the target's: Dice's with p and y swapped (symmetric).
      const both = (fromBce: Tensor, fromDice: Tensor): Tensor => {
        const sum = binaryForward('add', fromBce, fromDice);
        fromBce.dispose();
        fromDice.dispose();
        return sum;
      };
      return [
        needs[0] ? both(bceBackward(dy, sp, sy, eps, bceWeight / n), diceBackward(dy, sy, ss, smooth, diceWeight, channels)) : null,
        needs[1] ? both(bceTargetBackward('bce', dy, sp, sy, eps, bceWeight / n), diceBackward(dy, sp, ss, smooth, diceWeight, channels)) : null,
      ];
    },
    [p, y, sums],
  );
  sums.dispose();
  return result;
}

/** wa * a + wb * b for scalars; consumes a and b. */
function weightedSum(a: Tensor, wa: number, b: Tensor, wb: number): Tensor {
  const sa = wa === 1 ? a : unaryForward('scale', a, wa);
  const sb = wb === 1 ? b : unaryForward('scale', b, wb);
  const out = binaryForward('add', sa, sb);
  for (const t of new Set([a, b, sa, sb])) t.dispose();
  return out;
}
