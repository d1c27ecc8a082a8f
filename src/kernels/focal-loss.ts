// Binary focal loss (Lin et al. 2017), element-wise between a prediction and a target y of the
// same shape (any rank), reduced by 'mean' (default), 'sum' or 'none':
//   l_i = w_i · q_i^γ · ce_i
//   ce_i  the binary cross-entropy of the prediction against y_i: bceLoss's for probabilities p
//         (clamped to [eps, 1 − eps], as Keras clips), bceWithLogits's for logits z, which is
//         max(z, 0) − z·y + log(1 + e^−|z|) = −[y·log σ(z) + (1 − y)·log σ(−z)]: a log-sigmoid
//         with no exp that can overflow, so |z| = 50 or 100 stays finite and accurate
//   q_i   1 − p_t = y(1 − p) + (1 − y)p, the probability given to the wrong class (p = σ(z) for
//         logits); computed as p·(1 − 2y) + y, linear in p. The clamp above does not apply to it.
//   w_i   α·y + (1 − α)(1 − y): positives weighted α, negatives 1 − α; 1 for every element when
//         alpha is null (no class balancing)
// This is Keras's BinaryFocalCrossentropy(apply_class_balancing=True) and torchvision's
// sigmoid_focal_loss: both multiply the full cross-entropy, so soft targets give what they give.
// γ = 0 with alpha null is plain BCE.
//
// Composed from the element-wise ops, the reductions and the BCE kernels (loss.ts), whose
// gradients are tested on their own, so autograd gives the gradient, as in regression-loss.ts. A
// fused kernel would make one pass each way where this makes about ten (y's constants, q, its
// power, the products, the reduction); a U-Net step's convolutions cost far more, so the
// composition stays until a profile says otherwise.
// A target that requires a gradient gets one through the same composition (PyTorch's does).
//
// q^γ (focalPower, also used by focal Tversky): square for γ = 2, else exp(γ·log q) on q clamped
// to ≥ 1e-30. q is exactly 0 where a prediction is exactly right (p at 0 or 1, σ(z) rounding to 1),
// where log q is −∞ and its gradient NaN; clamped, the factor is ~0 there and its gradient 0. The
// true derivative γ·q^(γ−1) at 0 is 0 for γ > 1 and infinite for γ < 1: 0 is the one finite choice.

import { ShapeError } from '../errors.js';
import { expectChoice, expectNumber, expectTensor } from '../graph/args.js';
import { scope } from '../graph/scope.js';
import type { Tensor } from '../graph/tensor.js';
import { binary, unary } from './elementwise.js';
import { bceLoss, bceWithLogits, type Reduction } from './loss.js';
import { expectLossOptions, PROBABILITIES } from './loss-options.js';
import { mean, sum } from './reduce.js';

/** Below this q^γ's base is clamped (a normal float32, so no adapter flushes it to 0). */
const POWER_FLOOR = 1e-30;

export interface SigmoidFocalLossOptions {
  /**
   * Weight of the positives (y = 1); negatives get 1 − alpha. In [0, 1]; default 0.25 (Lin et
   * al.'s). null turns the weighting off (every element weighs 1); torchvision's sentinel, a
   * negative alpha, is an error here rather than a silent switch.
   */
  alpha?: number | null;
  /** The focusing exponent γ ≥ 0 on 1 − p_t; default 2. 0 gives (α-weighted) cross-entropy. */
  gamma?: number;
  reduction?: Reduction;
}

export interface FocalLossOptions extends SigmoidFocalLossOptions {
  /** The cross-entropy's probabilities are clamped to [eps, 1 − eps]; default 1e-7 (Keras'). */
  eps?: number;
}

/**
 * q^γ for q ≥ 0 and γ > 0, differentiable; the clamped base and its zero gradient at q = 0 are
 * explained in the header.
 */
export function focalPower(q: Tensor, gamma: number): Tensor {
  if (gamma === 2) return unary('square', q);
  return unary('exp', unary('scale', unary('log', unary('clampMin', q, POWER_FLOOR)), gamma));
}

interface Checked {
  alpha: number | null;
  gamma: number;
  reduction: Reduction;
}

/** Operands, shapes and the options both losses share; nothing is allocated before it passes. */
function checkFocalArgs(op: string, x: unknown, y: unknown, options: unknown, known: readonly string[], probabilities?: string): Checked {
  expectTensor(op, 'prediction', x);
  expectTensor(op, 'target', y);
  expectLossOptions(op, options, known, '{ alpha: 0.25, gamma: 2 }', probabilities);
  const o = (options ?? {}) as SigmoidFocalLossOptions;
  const alpha = o.alpha === undefined ? 0.25 : o.alpha;
  const gamma = o.gamma ?? 2;
  const reduction = o.reduction ?? 'mean';
  if (alpha !== null) expectNumber(op, 'alpha', alpha, { min: 0, max: 1 });
  expectNumber(op, 'gamma', gamma, { min: 0 });
  expectChoice(op, 'reduction', reduction, ['mean', 'sum', 'none']);
  if (x.rank !== y.rank || x.shape.join() !== y.shape.join()) {
    throw new ShapeError(`${op}: prediction ${x.describe()} and target ${y.describe()} must have the same shape`);
  }
  if (x.size === 0) throw new ShapeError(`${op}: prediction ${x.describe()} is empty`);
  return { alpha, gamma, reduction };
}

/**
 * w · q^γ · ce, reduced. `prob` makes p (or σ(z)), only needed when γ > 0; `ce` is the
 * per-element cross-entropy; both differentiable. `y` is the target.
 */
function focalFrom(prob: () => Tensor, ce: Tensor, y: Tensor, { alpha, gamma, reduction }: Checked): Tensor {
  let l = ce;
  if (gamma !== 0) {
    // q = p(1 − 2y) + y: its slope and offset are made from y on the tape, which records nothing
    // unless y requires a gradient.
    const slope = unary('addScalar', unary('scale', y, -2), 1);
    const q = binary('add', binary('mul', prob(), slope), y);
    l = binary('mul', focalPower(q, gamma), l);
  }
  if (alpha !== null) {
    // w = α y + (1 − α)(1 − y) = (2α − 1) y + (1 − α).
    const w = unary('addScalar', unary('scale', y, 2 * alpha - 1), 1 - alpha);
    l = binary('mul', w, l);
  }
  return reduction === 'none' ? l : reduction === 'sum' ? sum(l) : mean(l);
}

/**
 * Focal loss of probabilities p against targets y (same shape): mean (default), sum or per
 * element of α_t·(1 − p_t)^γ·BCE(p, y). Defaults alpha 0.25, gamma 2, eps 1e-7.
 */
export function focalLoss(p: Tensor, y: Tensor, options: FocalLossOptions = {}): Tensor {
  const checked = checkFocalArgs('focalLoss', p, y, options, ['alpha', 'gamma', 'reduction', 'eps'], PROBABILITIES.focal);
  const eps = options.eps ?? 1e-7;
  expectNumber('focalLoss', 'eps', eps, { above: 0, below: 0.5 });
  return scope(() => focalFrom(() => p, bceLoss(p, y, { eps, reduction: 'none' }), y, checked));
}

/**
 * Focal loss of logits z against targets y (same shape), stable for any |z| (torchvision's
 * sigmoid_focal_loss). Options as focalLoss's, without eps: nothing is clamped.
 */
export function sigmoidFocalLoss(z: Tensor, y: Tensor, options: SigmoidFocalLossOptions = {}): Tensor {
  const checked = checkFocalArgs('sigmoidFocalLoss', z, y, options, ['alpha', 'gamma', 'reduction']);
  return scope(() => focalFrom(() => unary('sigmoid', z), bceWithLogits(z, y, { reduction: 'none' }), y, checked));
}
