// diceLoss, tverskyLoss and focalTverskyLoss with smooth 0 on a group that is empty in both the
// prediction and the target (exact zeros: a thresholded or masked prediction): 0/0, scored 0 with
// gradient 0 (the value every smooth > 0 gives that group), where it was NaN and spread NaN into
// every gradient of the batch. The other groups keep their ordinary loss and gradient, checked
// against the float64 references and the references against finite differences.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { diceLoss } from '../../src/kernels/loss.js';
import { focalTverskyLoss, tverskyLoss } from '../../src/kernels/overlap-loss.js';
import { nd } from '../../src/reference/array.js';
import { diceBackwardRef, diceForwardRef } from '../../src/reference/loss.js';
import { tverskyBackwardRef, tverskyForwardRef, type TverskyRefOptions } from '../../src/reference/overlap-loss.js';
import { expectClose, F32 } from '../helpers/close.js';
import { checkGrad } from '../helpers/finite-diff.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { f32, mask } from '../helpers/loss-case.js';
import { uniform } from '../helpers/rng.js';

useGpu();

const SHAPE = [2, 4, 4, 1];
const HALF = 16;

/** Sample 0 empty in p and y; sample 1 a random prediction against a mask (or y0 for sample 0's target). */
function batch(seed: number, y0 = new Float64Array(HALF)): { p: Float64Array; y: Float64Array } {
  const p = new Float64Array(2 * HALF);
  p.set(f32(uniform(HALF, seed, 0.05, 0.95)), HALF);
  const y = new Float64Array(2 * HALF);
  y.set(y0);
  y.set(mask(HALF, seed + 1, 0.4), HALF);
  return { p, y };
}

interface Loss {
  name: string;
  gpu: (p: dn.Tensor, y: dn.Tensor) => dn.Tensor;
  forward: (p: Float64Array, y: Float64Array, smooth: number) => number;
  backward: (p: Float64Array, y: Float64Array) => Float64Array;
}

const tversky = (o: Omit<TverskyRefOptions, 'smooth' | 'perSample'>): Pick<Loss, 'forward' | 'backward'> => ({
  forward: (p, y, smooth) => tverskyForwardRef(nd(p, SHAPE), nd(y, SHAPE), { ...o, smooth, perSample: true }),
  backward: (p, y) => tverskyBackwardRef(nd(p, SHAPE), nd(y, SHAPE), 1, { ...o, smooth: 0, perSample: true }).data as Float64Array,
});

const LOSSES: Loss[] = [
  {
    name: 'diceLoss',
    gpu: (p, y) => diceLoss(p, y, { smooth: 0, perSample: true }),
    forward: (p, y, smooth) => diceForwardRef(nd(p, SHAPE), nd(y, SHAPE), smooth, true),
    backward: (p, y) => diceBackwardRef(nd(p, SHAPE), nd(y, SHAPE), 1, 0, true).data as Float64Array,
  },
  { name: 'tverskyLoss', gpu: (p, y) => tverskyLoss(p, y, { alpha: 0.3, beta: 0.7, smooth: 0, perSample: true }), ...tversky({ alpha: 0.3, beta: 0.7 }) },
  {
    name: 'focalTverskyLoss',
    gpu: (p, y) => focalTverskyLoss(p, y, { smooth: 0, perSample: true }),
    ...tversky({ alpha: 0.3, beta: 0.7, gamma: 0.75 }),
  },
];

async function runGpu(loss: Loss, p: Float64Array, y: Float64Array, targetGrad = false) {
  const pt = fromNd(p, SHAPE, true);
  const yt = fromNd(y, SHAPE, targetGrad);
  const l = loss.gpu(pt, yt);
  const value = (await l.toArray())[0];
  l.backward();
  const dp = Float64Array.from(await pt.grad!.toArray());
  const dy = targetGrad ? Float64Array.from(await yt.grad!.toArray()) : null;
  for (const t of [pt, yt, l]) t.dispose();
  return { value, dp, dy };
}

describe('overlap losses with smooth 0 on a group empty in prediction and target', () => {
  for (const loss of LOSSES) {
    it(`${loss.name}: the empty sample scores 0 with gradient 0, the other its ordinary loss`, async () => {
      const { p, y } = batch(11);
      const ref = loss.forward(p, y, 0);
      // The empty group adds nothing: the mean over two groups is half the other group's loss.
      const other = { p: p.slice(), y: y.slice() };
      other.p.set(p.subarray(HALF)); // sample 0 a copy of sample 1: both groups score the same
      other.y.set(y.subarray(HALF));
      expect(ref).toBeCloseTo(loss.forward(other.p, other.y, 0) / 2, 12);
      // And it is the limit of smooth > 0, whose empty group scores exactly 0.
      expect(Math.abs(ref - loss.forward(p, y, 1e-9))).toBeLessThan(1e-7);

      const gpu = await runGpu(loss, p, y);
      expect(Number.isFinite(gpu.value)).toBe(true);
      expectClose(`${loss.name} loss`, [gpu.value], [ref], F32);
      const refGrad = loss.backward(p, y);
      expect(Array.from(gpu.dp.subarray(0, HALF))).toEqual(new Array(HALF).fill(0));
      expectClose(`${loss.name} dL/dp`, gpu.dp, refGrad, F32);

      // The reference's gradient of the non-empty sample against finite differences (the empty
      // sample's loss jumps from 0 to 1 at any p > 0 there: no derivative to compare).
      const withSample1 = (v: Float64Array): Float64Array => Float64Array.from([...p.subarray(0, HALF), ...v]);
      checkGrad(`${loss.name} reference`, (v) => nd([loss.forward(withSample1(v), y, 0)], [1]), p.slice(HALF), Float64Array.of(1), refGrad.subarray(HALF), { atol: 1e-6, rtol: 1e-5 });
    });
  }

  it('diceLoss: the target\'s gradient is 0 on the empty sample too, and finite throughout', async () => {
    const { p, y } = batch(12);
    const { dy } = await runGpu(LOSSES[0], p, y, true);
    expect(Array.from(dy!.subarray(0, HALF))).toEqual(new Array(HALF).fill(0));
    expect(dy!.every(Number.isFinite)).toBe(true);
    expect(dy!.subarray(HALF).some((v) => v !== 0)).toBe(true);
  });

  it('tverskyLoss with α = 0: false positives on an empty target cost nothing, so that group scores 0', async () => {
    const loss: Loss = { name: 'tverskyLoss α 0', gpu: (p, y) => tverskyLoss(p, y, { alpha: 0, beta: 1, smooth: 0, perSample: true }), ...tversky({ alpha: 0, beta: 1 }) };
    const { p, y } = batch(13);
    p.set(f32(uniform(HALF, 14, 0.1, 0.9)), 0); // sample 0 predicts a lesion its target lacks
    const gpu = await runGpu(loss, p, y);
    expectClose('tverskyLoss α 0', [gpu.value], [loss.forward(p, y, 0)], F32);
    expect(Array.from(gpu.dp.subarray(0, HALF))).toEqual(new Array(HALF).fill(0));
    expectClose('tverskyLoss α 0 dL/dp', gpu.dp, loss.backward(p, y), F32);
  });
});
