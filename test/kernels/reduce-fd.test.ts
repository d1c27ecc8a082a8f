// sum and mean: the float64 reference's gradient (sumBackwardRef) against central differences of
// sumRef, then the GPU's values and gradients of both against it, for negative axes, keepDims,
// batches and odd sizes; and sums at magnitudes far from 1, where an absolute tolerance says nothing.
// reduce.test.ts and reduce-rows.test.ts check the forward paths and mean's gradient by hand.
//
// Tolerances: sums of up to 105 values in [-1, 1], in float32 and in another order than
// float64's, stay within about 1e-6 (reduce.test.ts measures rows of thousands): the defaults
// (atol 1e-5, rtol 1e-4) hold with room. The gradients are copies of dy, times 1/count for mean:
// float32 rounding of that product only, so rtol 1e-6 and atol 0 at the awkward magnitudes.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { nd } from '../../src/reference/array.js';
import { sumBackwardRef, sumRef } from '../../src/reference/elementwise.js';
import { expectClose } from '../helpers/close.js';
import { checkGrad } from '../helpers/finite-diff.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

const CASES = [
  { shape: [3, 5, 7], axes: [-1] },
  { shape: [3, 5, 7], axes: [0, -1], keepDims: true },
  { shape: [2, 3, 5, 3], axes: [1, 2], keepDims: true },
  { shape: [2, 3, 5, 3], axes: [-3, -2] },
  { shape: [4, 1, 9], axes: [1] },
  { shape: [5, 7], axes: undefined },
  { shape: [5, 7], axes: undefined, keepDims: true },
  { shape: [11], axes: [0], keepDims: true },
] as const;

const size = (s: readonly number[]): number => s.reduce((p, d) => p * d, 1);
const positive = (axes: readonly number[] | undefined, rank: number): number[] | undefined => axes?.map((a) => (a < 0 ? a + rank : a));
const keptShape = (shape: readonly number[], axes: number[] | undefined): number[] => shape.map((d, i) => (axes === undefined || axes.includes(i) ? 1 : d));

describe('sum and mean', () => {
  for (const [k, cs] of CASES.entries()) {
    const shape = [...cs.shape];
    const axes = positive(cs.axes, shape.length);
    const keepDims = 'keepDims' in cs && cs.keepDims;
    const name = `${JSON.stringify(shape)} over ${JSON.stringify(cs.axes ?? 'all')}${keepDims ? ' keepDims' : ''}`;
    const x = uniform(size(shape), 40 + k);
    const dropped = sumRef(nd(x, shape), axes).shape;
    const outShape = keepDims ? keptShape(shape, axes) : dropped;
    const count = size(shape) / size(dropped);
    const dy = uniform(size(dropped), 80 + k);

    it(`${name}: the reference's gradient matches finite differences (sum and mean)`, () => {
      for (const [op, scale] of [['sum', 1], ['mean', 1 / count]] as const) {
        const analytic = sumBackwardRef(shape, nd(dy, dropped), axes, scale);
        const forward = (v: Float64Array) => {
          const s = sumRef(nd(v, shape), axes);
          return nd(s.data.map((t) => t * scale), s.shape);
        };
        checkGrad(`${op} ${name}`, forward, x, dy, analytic.data);
      }
    });

    it(`${name}: GPU values and gradients match the reference (sum and mean)`, async () => {
      for (const [op, scale] of [['sum', 1], ['mean', 1 / count]] as const) {
        const xt = fromNd(x, shape, true);
        const y = (op === 'sum' ? dn.sum : dn.mean)(xt, cs.axes === undefined ? undefined : [...cs.axes], keepDims);
        expect(y.shape).toEqual(outShape);
        expectClose(`${op} ${name} forward`, await y.toArray(), sumRef(nd(x, shape), axes).data.map((t) => t * scale));
        const dyt = fromNd(dy, outShape);
        y.backward(dyt);
        expectClose(`${op} ${name} backward`, await xt.grad!.toArray(), sumBackwardRef(shape, nd(dy, dropped), axes, scale).data);
        for (const t of [xt, y, dyt]) t.dispose();
      }
    });
  }
});

describe('sum and mean far from magnitude 1', () => {
  // Values of one sign at 1e-30 and 1e30 (no cancellation): float32 keeps ~1e-7 relative per add,
  // so rtol 1e-5 over rows of 37; atol 0, since any atol would pass the tiny case outright.
  for (const magnitude of [1e-30, 1e30]) {
    it(`rows of 37 values near ${magnitude}: sums, means and gradients, relatively`, async () => {
      const shape = [3, 37];
      const x = Float64Array.from(Float32Array.from(uniform(111, 7, 1, 2).map((v) => v * magnitude)));
      const dy = Float64Array.from(Float32Array.from(uniform(3, 8, 1, 2).map((v) => v * magnitude)));
      for (const [op, scale] of [['sum', 1], ['mean', 1 / 37]] as const) {
        const xt = fromNd(x, shape, true);
        const y = (op === 'sum' ? dn.sum : dn.mean)(xt, -1);
        expectClose(`${op} forward at ${magnitude}`, await y.toArray(), sumRef(nd(x, shape), [1]).data.map((t) => t * scale), { atol: 0, rtol: 1e-5 });
        const dyt = fromNd(dy, [3]);
        y.backward(dyt);
        expectClose(`${op} backward at ${magnitude}`, await xt.grad!.toArray(), sumBackwardRef(shape, nd(dy, [3]), [1], scale).data, { atol: 0, rtol: 1e-6 });
        for (const t of [xt, y, dyt]) t.dispose();
      }
    });
  }
});
