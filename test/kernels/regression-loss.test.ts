// The regression losses against float64 formulas: values and gradients for each reduction, the
// gradients also against finite differences of the formulas, and huber on both sides of delta.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { huberLoss, l1Loss, mseLoss } from '../../src/kernels/regression-loss.js';
import { expectClose } from '../helpers/close.js';
import { numericGrad } from '../helpers/finite-diff.js';
import { useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

type Reduction = 'mean' | 'sum' | 'none';
const DELTA = 0.4;
const per = {
  mse: (d: number) => d * d,
  l1: (d: number) => Math.abs(d),
  huber: (d: number) => (Math.abs(d) <= DELTA ? 0.5 * d * d : DELTA * (Math.abs(d) - 0.5 * DELTA)),
};
const dPer = {
  mse: (d: number) => 2 * d,
  l1: (d: number) => Math.sign(d),
  huber: (d: number) => (Math.abs(d) <= DELTA ? d : DELTA * Math.sign(d)),
};

function refLoss(kind: keyof typeof per, p: ArrayLike<number>, y: ArrayLike<number>, reduction: Reduction): number[] {
  const v = Array.from(p, (pv, i) => per[kind](pv - y[i]));
  if (reduction === 'none') return v;
  const s = v.reduce((a, b) => a + b, 0);
  return [reduction === 'sum' ? s : s / v.length];
}

describe('regression losses', () => {
  const shape = [3, 5, 4];
  const n = 60;
  // Differences spread over [-1, 1]: huber sees both sides of delta 0.4; none lands on 0 or ±delta.
  const p = uniform(n, 91);
  const y = uniform(n, 92);
  const fns = { mse: mseLoss, l1: l1Loss, huber: (a: dn.Tensor, b: dn.Tensor, o: { reduction: Reduction }) => huberLoss(a, b, { ...o, delta: DELTA }) };
  for (const kind of ['mse', 'l1', 'huber'] as const) {
    for (const reduction of ['mean', 'sum', 'none'] as const) {
      it(`${kind}, ${reduction}: value and gradient match the formula`, async () => {
        const pt = dn.tensor(Float32Array.from(p), shape, { requiresGrad: true });
        const yt = dn.tensor(Float32Array.from(y), shape);
        const loss = fns[kind](pt, yt, { reduction });
        expect(loss.shape).toEqual(reduction === 'none' ? shape : []);
        expectClose(`${kind} ${reduction}`, await loss.toArray(), refLoss(kind, p, y, reduction));
        const up = reduction === 'none' ? uniform(n, 93) : Float64Array.of(0.7);
        const dy = dn.tensor(Float32Array.from(up), loss.shape);
        loss.backward(dy);
        const scaleOf = (i: number) => (reduction === 'none' ? up[i] : reduction === 'sum' ? up[0] : up[0] / n);
        const want = Array.from(p, (pv, i) => dPer[kind](pv - y[i]) * scaleOf(i));
        // The formula's gradient against finite differences of the formula, first.
        const fd = numericGrad((v) => refLoss(kind, v, y, reduction).reduce((a, l, i) => a + l * (reduction === 'none' ? up[i] : up[0]), 0), Float64Array.from(p));
        expectClose(`${kind} ${reduction} formula vs finite differences`, want, fd, { atol: 1e-6, rtol: 1e-5 });
        expectClose(`${kind} ${reduction} gradient`, await pt.grad!.toArray(), want);
        for (const t of [pt, yt, loss, dy]) t.dispose();
      });
    }
  }

  it('mismatched shapes, bad reductions and delta are errors naming the loss', () => {
    const a = dn.zeros([2, 3]);
    const b = dn.zeros([3, 2]);
    expect(() => mseLoss(a, b)).toThrow(/^mseLoss: prediction/);
    expect(() => l1Loss(a, a, { reduction: 'max' as never })).toThrow(/^l1Loss: reduction/);
    expect(() => huberLoss(a, a, { delta: 0 })).toThrow(/^huberLoss: delta/);
    for (const t of [a, b]) t.dispose();
  });
});
