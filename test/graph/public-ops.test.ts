// The library ops added in session 11, through the public namespace (`dn.`), on small hand-worked
// values: each kernel file tests its op against a float64 reference; this checks that the index
// exports them under their documented names and that they compose.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

const close = (got: ArrayLike<number>, want: number[], tol = 1e-6) => {
  expect(got.length).toBe(want.length);
  want.forEach((w, i) => expect(Math.abs(got[i] - w), `element ${i}: ${got[i]} vs ${w}`).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(w))));
};

describe('the session-11 ops through dn', () => {
  it('extrema, selections and comparisons', async () => {
    const x = dn.tensor([[1, -2, 3], [4, 4, -6]]);
    const t = dn.scope(() => ({
      max: dn.max(x, 1),
      min: dn.min(x),
      argmax: dn.argmax(x, 1),
      argmin: dn.argmin(x, 0),
      relu: dn.maximum(x, 0),
      gt: dn.greater(x, 0),
      kept: dn.where(dn.greater(x, 0), x, -1),
      eq: dn.equal(x, 4),
    }));
    close(await t.max.toArray(), [3, 4]);
    close(await t.min.toArray(), [-6]);
    close(await t.argmax.toArray(), [2, 0]); // the first of the tied 4s
    close(await t.argmin.toArray(), [0, 0, 1]);
    close(await t.relu.toArray(), [1, 0, 3, 4, 4, 0]);
    close(await t.gt.toArray(), [1, 0, 1, 1, 1, 0]);
    close(await t.kept.toArray(), [1, -1, 3, 4, 4, -1]);
    close(await t.eq.toArray(), [0, 0, 0, 1, 1, 0]);
    for (const v of Object.values(t)) v.dispose();
    x.dispose();
  });

  it('gathers: slice, stridedSlice, reverse, tile, stack and unstack', async () => {
    const x = dn.tensor([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]);
    const t = dn.scope(() => ({
      slice: dn.slice(x, [1, -3], [2, 2]),
      strided: dn.stridedSlice(x, [2, 3], [-4, 0], [-2, -2]),
      reverse: dn.reverse(x, 1),
      tile: dn.tile(dn.slice(x, [0, 0], [1, 2]), [2, 2]),
      stack: dn.stack([dn.slice(x, [0, 0], [1, 4]), dn.slice(x, [2, 0], [1, 4])], 0),
    }));
    const parts = dn.unstack(x, 0);
    close(await t.slice.toArray(), [5, 6, 9, 10]);
    close(await t.strided.toArray(), [11, 9, 3, 1]);
    close(await t.reverse.toArray(), [3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8]);
    close(await t.tile.toArray(), [0, 1, 0, 1, 0, 1, 0, 1]);
    expect(t.stack.shape).toEqual([2, 1, 4]);
    close(await t.stack.toArray(), [0, 1, 2, 3, 8, 9, 10, 11]);
    expect(parts.map((p) => p.shape)).toEqual([[4], [4], [4]]);
    close(await parts[1].toArray(), [4, 5, 6, 7]);
    for (const v of [...Object.values(t), ...parts]) v.dispose();
    x.dispose();
  });

  it('element-wise math, layer norm and their gradients', async () => {
    const x = dn.tensor([0, 1, -1, 2], [4], { requiresGrad: true });
    const t = dn.scope(() => ({
      pow: dn.pow(x, 3),
      gelu: dn.gelu(x),
      sign: dn.sign(x),
      rsqrt: dn.rsqrt(dn.addScalar(dn.square(x), 1)),
    }));
    close(await t.pow.toArray(), [0, 1, -1, 8]);
    // gelu(x) = x·Φ(x): Φ(1) = 0.841344746, Φ(-1) = 0.158655254, Φ(2) = 0.977249868.
    close(await t.gelu.toArray(), [0, 0.841344746, -0.158655254, 1.954499736], 1e-6);
    close(await t.sign.toArray(), [0, 1, -1, 1]);
    close(await t.rsqrt.toArray(), [1, 1 / Math.SQRT2, 1 / Math.SQRT2, 1 / Math.sqrt(5)]);
    const loss = dn.sum(t.pow);
    loss.backward();
    close(await x.grad!.toArray(), [0, 3, 3, 12]); // d x³ = 3x²
    const rows = dn.tensor([[1, 2, 3], [10, 10, 13]]);
    const [g, b] = [dn.tensor([1, 1, 1]), dn.tensor([0, 0, 0])];
    const ln = dn.layerNorm(rows, g, b, { eps: 1e-12 });
    // Row 1: mean 2, variance 2/3; row 2: mean 11, variance 2.
    const s1 = Math.sqrt(2 / 3);
    close(await ln.toArray(), [-1 / s1, 0, 1 / s1, -1 / Math.SQRT2, -1 / Math.SQRT2, 2 / Math.SQRT2], 1e-5);
    for (const v of [...Object.values(t), loss, x, rows, g, b, ln]) v.dispose();
  });
});
