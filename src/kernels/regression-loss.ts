// Regression losses (tf.losses' meanSquaredError, absoluteDifference, huberLoss; PyTorch's
// mse_loss, l1_loss, huber_loss), element-wise between a prediction p and a target y of the same
// shape, reduced by 'mean' (default), 'sum' or 'none':
//   mse:   (p − y)²
//   l1:    |p − y|
//   huber: ½d² where |d| ≤ δ, δ(|d| − ½δ) beyond, d = p − y; written ½a² + δ(|d| − a) with
//          a = min(|d|, δ), the same function with no branch
// Each is composed of the element-wise ops (elementwise.ts) and the reductions (reduce.ts), whose
// kernels and gradients are tested on their own: a few more passes over the tensor than one fused
// kernel, for losses that are a small part of a step.

import { ShapeError } from '../errors.js';
import { expectChoice, expectNumber, expectTensor } from '../graph/args.js';
import { scope } from '../graph/scope.js';
import type { Tensor } from '../graph/tensor.js';
import { binary, unary } from './elementwise.js';
import type { Reduction } from './loss.js';
import { expectLossOptions } from './loss-options.js';
import { mean, sum } from './reduce.js';

export interface RegressionLossOptions {
  reduction?: Reduction;
}

export interface HuberOptions extends RegressionLossOptions {
  /** Where the quadratic turns linear; default 1 (tf's and PyTorch's). */
  delta?: number;
}

function checkArgs(op: string, p: unknown, y: unknown, options: unknown, known: readonly string[] = ['reduction']): Reduction {
  expectTensor(op, 'prediction', p);
  expectTensor(op, 'target', y);
  expectLossOptions(op, options, known, "{ reduction: 'mean' }");
  const reduction = (options as RegressionLossOptions | undefined)?.reduction ?? 'mean';
  expectChoice(op, 'reduction', reduction, ['mean', 'sum', 'none']);
  if (p.shape.join() !== y.shape.join()) throw new ShapeError(`${op}: prediction ${p.describe()} and target ${y.describe()} must have the same shape`);
  return reduction;
}

const reduce = (perElement: Tensor, reduction: Reduction): Tensor =>
  reduction === 'none' ? perElement : reduction === 'sum' ? sum(perElement) : mean(perElement);

export function mseLoss(p: Tensor, y: Tensor, options: RegressionLossOptions = {}): Tensor {
  const reduction = checkArgs('mseLoss', p, y, options);
  return scope(() => reduce(unary('square', binary('sub', p, y)), reduction));
}

export function l1Loss(p: Tensor, y: Tensor, options: RegressionLossOptions = {}): Tensor {
  const reduction = checkArgs('l1Loss', p, y, options);
  return scope(() => reduce(unary('abs', binary('sub', p, y)), reduction));
}

export function huberLoss(p: Tensor, y: Tensor, options: HuberOptions = {}): Tensor {
  const reduction = checkArgs('huberLoss', p, y, options, ['reduction', 'delta']);
  const delta = options.delta ?? 1;
  expectNumber('huberLoss', 'delta', delta, { above: 0 });
  return scope(() => {
    const magnitude = unary('abs', binary('sub', p, y));
    const a = unary('clampMax', magnitude, delta);
    const quadratic = unary('scale', unary('square', a), 0.5);
    const linear = unary('scale', binary('sub', magnitude, a), delta);
    return reduce(binary('add', quadratic, linear), reduction);
  });
}
