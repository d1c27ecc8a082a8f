// The targets' gradients: a target that requires one (soft labels made by another network, as in
// distillation) gets dL/dy, as PyTorch's losses give it, where it had silently got none. For each
// loss: the CPU reference's target backward against float64 finite differences of the reference
// forward in y, then the GPU's y.grad after backward() against that reference, with the
// prediction's gradient unchanged beside it.
import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { bceDiceLoss, bceLoss, bceWithLogits, diceLoss, type Reduction } from '../../src/kernels/loss.js';
import { nd, type NdArray } from '../../src/reference/array.js';
import {
  bceBackwardRef,
  bceDiceBackwardRef,
  bceDiceForwardRef,
  bceDiceTargetBackwardRef,
  bceForwardRef,
  bceTargetBackwardRef,
  bceWithLogitsForwardRef,
  bceWithLogitsTargetBackwardRef,
  diceForwardRef,
  diceTargetBackwardRef,
} from '../../src/reference/loss.js';
import { focalForwardRef, sigmoidFocalForwardRef } from '../../src/reference/focal-loss.js';
import { tverskyForwardRef } from '../../src/reference/overlap-loss.js';
import { softmaxCrossEntropyRef, softmaxCrossEntropyTargetBackwardRef } from '../../src/reference/softmax.js';
import { expectClose } from '../helpers/close.js';
import { checkGrad, numericGrad } from '../helpers/finite-diff.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

const f32 = (x: ArrayLike<number>): Float64Array => Float64Array.from(Float32Array.from(x));
const size = (shape: readonly number[]): number => shape.reduce((p, d) => p * d, 1);

interface Case {
  name: string;
  shape: number[];
  /** The prediction: probabilities off the clamp, or logits. */
  x: Float64Array;
  y: Float64Array;
  /** The upstream gradient: one value, or one per element for 'none'. */
  dy: NdArray;
  gpu: (x: dn.Tensor, y: dn.Tensor) => dn.Tensor;
  forward: (x: NdArray, y: NdArray) => NdArray;
  targetBackward: (x: NdArray, y: NdArray, dy: NdArray) => NdArray;
  /** The prediction's gradient, which must not change when the target takes one too. */
  backward?: (x: NdArray, y: NdArray, dy: NdArray) => NdArray;
}

const scalarOf = (v: number): NdArray => nd([v], []);

function cases(): Case[] {
  const out: Case[] = [];
  const reductions: Reduction[] = ['mean', 'sum', 'none'];
  for (const [k, reduction] of reductions.entries()) {
    const shape = [2, 3, 5, 1];
    const n = size(shape);
    const y = f32(uniform(n, 40 + k, 0, 1));
    const dy = reduction === 'none' ? nd(f32(uniform(n, 50 + k, 0.5, 1.5)), shape) : scalarOf(0.75);
    out.push({
      name: `bceLoss ${reduction}`,
      shape,
      x: f32(uniform(n, 60 + k, 0.02, 0.98)),
      y,
      dy,
      gpu: (p, t) => bceLoss(p, t, { reduction }),
      forward: (p, t) => bceForwardRef(p, t, 1e-7, reduction),
      targetBackward: (p, t, d) => bceTargetBackwardRef(p, t, d, 1e-7, reduction),
      backward: (p, t, d) => bceBackwardRef(p, t, d, 1e-7, reduction),
    });
    out.push({
      name: `bceWithLogits ${reduction}`,
      shape,
      x: f32(uniform(n, 70 + k, -4, 4)),
      y,
      dy,
      gpu: (z, t) => bceWithLogits(z, t, { reduction }),
      forward: (z, t) => bceWithLogitsForwardRef(z, t, reduction),
      targetBackward: (z, t, d) => bceWithLogitsTargetBackwardRef(z, t, d, reduction),
    });
  }
  for (const [k, o] of [{ perSample: false, perChannel: false }, { perSample: true, perChannel: true }].entries()) {
    const shape = [2, 4, 3, 3];
    const n = size(shape);
    const x = f32(uniform(n, 80 + k, 0.02, 0.98));
    const y = f32(uniform(n, 90 + k, 0, 1));
    const title = `${o.perSample ? ' per sample' : ''}${o.perChannel ? ' per channel' : ''}`;
    out.push({
      name: `diceLoss${title}`,
      shape,
      x,
      y,
      dy: scalarOf(1.25),
      gpu: (p, t) => diceLoss(p, t, o),
      forward: (p, t) => scalarOf(diceForwardRef(p, t, 1, o.perSample, o.perChannel)),
      targetBackward: (p, t, d) => diceTargetBackwardRef(p, t, d.data[0], 1, o.perSample, o.perChannel),
    });
    const w = { bceWeight: 0.5, diceWeight: 2, ...o };
    out.push({
      name: `bceDiceLoss${title}`,
      shape,
      x,
      y,
      dy: scalarOf(1.25),
      gpu: (p, t) => bceDiceLoss(p, t, w),
      forward: (p, t) => scalarOf(bceDiceForwardRef(p, t, w)),
      targetBackward: (p, t, d) => bceDiceTargetBackwardRef(p, t, d.data[0], w),
      backward: (p, t, d) => bceDiceBackwardRef(p, t, d.data[0], w),
    });
  }
  for (const [k, [reduction, labelSmoothing]] of ([['mean', 0], ['sum', 0.1], ['none', 0.2]] as const).entries()) {
    const shape = [2, 3, 5];
    const n = size(shape);
    out.push({
      name: `softmaxCrossEntropy ${reduction} smoothing ${labelSmoothing}`,
      shape,
      x: f32(uniform(n, 100 + k, -3, 3)),
      y: f32(uniform(n, 110 + k, 0, 1)),
      dy: reduction === 'none' ? nd(f32(uniform(6, 120 + k, 0.5, 1.5)), [2, 3]) : scalarOf(0.75),
      gpu: (z, t) => dn.softmaxCrossEntropy(z, t, { reduction, labelSmoothing }),
      forward: (z, t) => softmaxCrossEntropyRef(z, t, { reduction, labelSmoothing }),
      targetBackward: (z, t, d) => softmaxCrossEntropyTargetBackwardRef(z, t, d, { reduction, labelSmoothing }),
    });
  }
  return out;
}

/**
 * Losses composed of other ops (focal, Tversky), whose gradients autograd gives: the GPU's y.grad
 * against float64 central differences of the reference forward in y.
 */
interface ComposedCase {
  name: string;
  shape: number[];
  x: Float64Array;
  y: Float64Array;
  gpu: (x: dn.Tensor, y: dn.Tensor) => dn.Tensor;
  forward: (x: NdArray, y: NdArray) => number;
}

function composedCases(): ComposedCase[] {
  const shape = [2, 3, 4, 2];
  const n = size(shape);
  const p = f32(uniform(n, 130, 0.05, 0.95));
  const z = f32(uniform(n, 131, -3, 3));
  const y = f32(uniform(n, 132, 0.05, 0.95));
  const focal = { alpha: 0.25, gamma: 2, reduction: 'mean' as const };
  const tversky = { alpha: 0.3, beta: 0.7, smooth: 1 };
  return [
    { name: 'focalLoss', shape, x: p, y, gpu: (a, b) => dn.focalLoss(a, b, focal), forward: (a, b) => focalForwardRef(a, b, { ...focal, eps: 1e-7 }).data[0] },
    { name: 'focalLoss gamma 1.5, no alpha', shape, x: p, y, gpu: (a, b) => dn.focalLoss(a, b, { alpha: null, gamma: 1.5 }), forward: (a, b) => focalForwardRef(a, b, { alpha: null, gamma: 1.5, reduction: 'mean', eps: 1e-7 }).data[0] },
    { name: 'sigmoidFocalLoss', shape, x: z, y, gpu: (a, b) => dn.sigmoidFocalLoss(a, b, focal), forward: (a, b) => sigmoidFocalForwardRef(a, b, focal).data[0] },
    { name: 'tverskyLoss per channel', shape, x: p, y, gpu: (a, b) => dn.tverskyLoss(a, b, { ...tversky, perChannel: true }), forward: (a, b) => tverskyForwardRef(a, b, { ...tversky, perChannel: true }) },
    { name: 'focalTverskyLoss', shape, x: p, y, gpu: (a, b) => dn.focalTverskyLoss(a, b, { ...tversky, gamma: 0.75 }), forward: (a, b) => tverskyForwardRef(a, b, { ...tversky, gamma: 0.75 }) },
  ];
}

describe("the targets' gradients", () => {
  for (const c of cases()) {
    it(`${c.name}: CPU target backward matches finite differences in y`, () => {
      const analytic = c.targetBackward(nd(c.x, c.shape), nd(c.y, c.shape), c.dy);
      checkGrad(`${c.name} dL/dy`, (v) => c.forward(nd(c.x, c.shape), nd(v, c.shape)), c.y, c.dy.data, analytic.data);
    });

    it(`${c.name}: GPU y.grad matches CPU, and x.grad is what it was`, async () => {
      const xt = fromNd(c.x, c.shape, true);
      const yt = fromNd(c.y, c.shape, true);
      const loss = c.gpu(xt, yt);
      const dyt = fromNd(c.dy.data, [...loss.shape]);
      loss.backward(dyt);
      const want = c.targetBackward(nd(c.x, c.shape), nd(c.y, c.shape), c.dy);
      // float32 kernels against float64: the default atol 1e-5 / rtol 1e-4 (test/helpers/close.ts);
      // the largest target gradients here are a few units (log((1 - 0.02) / 0.02) = 3.9, z up to 4).
      expectClose(`${c.name} dL/dy`, await yt.grad!.toArray(), want.data);
      if (c.backward) expectClose(`${c.name} dL/dx`, await xt.grad!.toArray(), c.backward(nd(c.x, c.shape), nd(c.y, c.shape), c.dy).data);
      for (const t of [xt, yt, loss, dyt]) t.dispose();
    });
  }

  for (const c of composedCases()) {
    it(`${c.name}: GPU y.grad matches finite differences of the reference in y`, async () => {
      const xt = fromNd(c.x, c.shape, true);
      const yt = fromNd(c.y, c.shape, true);
      const loss = c.gpu(xt, yt);
      loss.backward();
      const numeric = numericGrad((v) => c.forward(nd(c.x, c.shape), nd(v, c.shape)), c.y);
      // float32 composition of about ten ops against float64: the default atol 1e-5 / rtol 1e-4.
      expectClose(`${c.name} dL/dy`, await yt.grad!.toArray(), numeric);
      for (const t of [xt, yt, loss]) t.dispose();
    });
  }

  it('a target without requiresGrad still gets no gradient', async () => {
    const x = fromNd(f32(uniform(24, 1, 0.1, 0.9)), [2, 3, 4, 1], true);
    const y = fromNd(f32(uniform(24, 2, 0, 1)), [2, 3, 4, 1]);
    const loss = diceLoss(x, y);
    loss.backward();
    expect(y.grad).toBeNull();
    expect(x.grad).not.toBeNull();
    for (const t of [x, y, loss]) t.dispose();
  });
});
