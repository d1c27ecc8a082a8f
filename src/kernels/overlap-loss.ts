// Overlap losses beyond Dice for segmentation: Tversky (Salehi et al. 2017) and focal Tversky
// (Abraham & Khan 2019). Prediction p and target y have the same shape; groups as diceLoss's: the
// whole batch, or each sample (leading axis) with perSample, each split by channel (last axis)
// with perChannel. Per group g:
//   TP = Σ p·y,  FP = Σ p·(1 − y),  FN = Σ (1 − p)·y
//   TI_g = (TP + s) / (TP + α·FP + β·FN + s)
//   tversky:       L = mean_g (1 − TI_g)
//   focal Tversky: L = mean_g (1 − TI_g)^γ   (γ as the exponent itself: see focalTverskyLoss)
// α weighs false positives and β false negatives (Salehi's naming). α = β = ½ gives
// TI = (2TP + 2s) / (Σp + Σy + 2s): diceLoss with smooth 2s, not s, since Dice's smooth is added
// to 2TP and Tversky's to TP; with s = 0 the two are equal.
//
// 1 − TI_g is computed as M / (TP + M + s), M = α·FP + β·FN = Σ m_i with
// m_i = α·p_i(1 − y_i) + β·(1 − p_i)y_i = p_i·(α − (α + β)y_i) + β·y_i: terms ≥ 0 for p and y in
// [0, 1] (exactly so in float32 for a binary y), so 1 − TI_g stays ≥ 0 and keeps its relative
// precision near a perfect prediction, where 1 − (TP + s)/(…) or FP = Σp − TP would cancel away
// the very difference focal Tversky magnifies (and could go negative under a fractional power).
//
// Composed with autograd from the element-wise ops and reductions (as regression-loss.ts): seven
// passes over the tensor (y's constants, two products, an add, two sums), the rest on [groups]
// values; a loss is a small part of a step, and each piece's gradient is tested on its own.
// diceLoss's fused sums (loss.ts) give Σp + Σy, not FP and FN apart, so they are not reused.
// A target that requires a gradient gets one through the same composition.

import { ArgumentError, ShapeError } from '../errors.js';
import { expectNumber, expectTensor } from '../graph/args.js';
import { reshape } from '../graph/reshape.js';
import { scope } from '../graph/scope.js';
import type { Tensor } from '../graph/tensor.js';
import { binary, unary } from './elementwise.js';
import { greater } from './elementwise-more.js';
import { focalPower } from './focal-loss.js';
import { expectLossOptions, PROBABILITIES } from './loss-options.js';
import { mean, sum } from './reduce.js';
import { where } from './where.js';

export interface TverskyOptions {
  /** Weight of false positives, Σ p(1 − y); ≥ 0. Default 0.5 (0.3 in focalTverskyLoss). */
  alpha?: number;
  /** Weight of false negatives, Σ (1 − p)y; ≥ 0. Default 0.5 (0.7 in focalTverskyLoss). */
  beta?: number;
  /**
   * Added to TP in numerator and denominator: an empty mask predicted empty scores 0. Default 1.
   * With 0, such a group (0/0) is scored 0 too, the limit as smooth goes to 0, with gradient 0.
   */
  smooth?: number;
  /** One index per sample (leading axis), then averaged; default: one over the whole batch. */
  perSample?: boolean;
  /** One index per channel of the last axis (per class, one-hot masks), then averaged. */
  perChannel?: boolean;
}

export interface FocalTverskyOptions extends TverskyOptions {
  /** The exponent on each group's 1 − TI, > 0; default 0.75. */
  gamma?: number;
}

const TVERSKY = ['alpha', 'beta', 'smooth', 'perSample', 'perChannel'];

interface Groups {
  samples: number;
  channels: number;
}

/** Operands, shapes, α, β, smooth and the grouping; nothing is allocated before it passes. */
function checkArgs(op: string, p: unknown, y: unknown, options: unknown, alpha: number, beta: number, known: readonly string[]): Groups {
  expectTensor(op, 'prediction', p);
  expectTensor(op, 'target', y);
  expectLossOptions(op, options, known, '{ alpha: 0.5, beta: 0.5 }', PROBABILITIES.overlap);
  const o = (options ?? {}) as TverskyOptions;
  expectNumber(op, 'alpha', alpha, { min: 0 });
  expectNumber(op, 'beta', beta, { min: 0 });
  expectNumber(op, 'smooth', o.smooth ?? 1, { min: 0 });
  if (p.rank !== y.rank || p.shape.join() !== y.shape.join()) {
    throw new ShapeError(`${op}: prediction ${p.describe()} and target ${y.describe()} must have the same shape`);
  }
  if (p.size === 0) throw new ShapeError(`${op}: prediction ${p.describe()} is empty`);
  if (p.rank < 1) throw new ShapeError(`${op}: prediction ${p.describe()} needs a leading batch dimension`);
  if (o.perChannel && p.rank < 2) throw new ShapeError(`${op}: perChannel needs a channel axis after the batch, got ${p.describe()}`);
  return { samples: o.perSample ? p.shape[0] : 1, channels: o.perChannel ? p.shape[p.rank - 1] : 1 };
}

/**
 * 1 − TI per group, [samples, channels], differentiable in p. Viewing p as [samples, rest,
 * channels] makes every grouping one sum over the middle axis.
 */
function missFraction(p: Tensor, y: Tensor, alpha: number, beta: number, smooth: number, { samples, channels }: Groups): Tensor {
  const view = [samples, p.size / (samples * channels), channels];
  const groupSum = (t: Tensor) => sum(reshape(t, view), 1);
  // m's slope α − (α + β)y and offset βy, on the tape (nothing recorded unless y requires a gradient).
  const slope = unary('addScalar', unary('scale', y, -(alpha + beta)), alpha);
  const offset = unary('scale', y, beta);
  const tp = groupSum(binary('mul', p, y));
  const miss = groupSum(binary('add', binary('mul', p, slope), offset));
  const den = unary('addScalar', binary('add', tp, miss), smooth);
  if (smooth > 0) return binary('div', miss, den);
  // With smooth 0, a group with TP = M = 0 (nothing to find and nothing wrongly found, or only what
  // a zero α or β ignores) is 0/0: scored 0, what every smooth > 0 gives it, with gradient 0, since
  // no prediction scores better. The inner where keeps the division's backward free of 0/0 there.
  const defined = greater(den, 0);
  return where(defined, binary('div', miss, where(defined, den, 1)), 0);
}

/**
 * Tversky loss mean_g(1 − TI_g), TI = (TP + s)/(TP + α·FP + β·FN + s), a scalar []. Defaults α =
 * β = 0.5, smooth 1: Dice with smooth 2 (see the header).
 */
export function tverskyLoss(p: Tensor, y: Tensor, options: TverskyOptions = {}): Tensor {
  const { alpha = 0.5, beta = 0.5, smooth = 1 } = options ?? {};
  if (options && typeof options === 'object' && 'gamma' in options) {
    throw new ArgumentError("tverskyLoss: unknown option 'gamma'; the focal exponent is focalTverskyLoss's");
  }
  const groups = checkArgs('tverskyLoss', p, y, options, alpha, beta, TVERSKY);
  return scope(() => mean(missFraction(p, y, alpha, beta, smooth, groups)));
}

/**
 * Focal Tversky loss mean_g (1 − TI_g)^γ, a scalar []. γ is the exponent itself, as in Abraham &
 * Khan's code (their paper writes (1 − TI)^(1/γ) with γ = 4/3): γ < 1 raises the loss and the
 * gradient of groups that are already nearly right, the small-lesion cases. Defaults γ = 0.75,
 * smooth 1, and the paper's weighting, false negatives 0.7 and false positives 0.3: in this API's
 * naming (alpha on FP, as tverskyLoss) that is alpha 0.3, beta 0.7. At 1 − TI = 0 exactly (a
 * perfect group) the gradient is taken as 0 (focal-loss.ts, focalPower).
 */
export function focalTverskyLoss(p: Tensor, y: Tensor, options: FocalTverskyOptions = {}): Tensor {
  const { alpha = 0.3, beta = 0.7, smooth = 1, gamma = 0.75 } = options ?? {};
  const groups = checkArgs('focalTverskyLoss', p, y, options, alpha, beta, [...TVERSKY, 'gamma']);
  expectNumber('focalTverskyLoss', 'gamma', gamma, { above: 0 });
  return scope(() => mean(focalPower(missFraction(p, y, alpha, beta, smooth, groups), gamma)));
}
