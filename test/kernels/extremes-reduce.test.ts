// sum and mean over millions of values, against float64: 4 M values of 1 + 1e-3·u (u uniform in
// [0, 1)), where a plain sequential float32 sum drops most of each 1e-3 once the running total
// passes 2^13 (checked below, so the data is known to tell a blocked or tree sum from a naive
// one), and the mean of a large constant. Three routes: everything ([4M], a row of 4M), the
// columns of [1M, 4] (reduce.ts's column kernel, a bias gradient's shape) and the rows of [4, 1M].
//
// Tolerances: the 1 + noise sums rtol 1e-6 (reduce-rows.ts bounds a value's roundings to about
// 128 a pass; they are of both signs and mostly cancel: measured below 1.1e-7, while the naive sum
// is 1e-3 off). The mean of a constant rtol 2e-6: there every rounding of a partial sum k·v has the
// same sign pattern, so they add up rather than cancel; measured 1.6e-6 for the row of 4M and
// 6.3e-7 for the columns, whose lanes once added ~1000 rows each in a plain loop (3.6e-6).

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { expectClose } from '../helpers/close.js';
import { useGpu } from '../helpers/gpu.js';
import { rng } from '../helpers/rng.js';

useGpu();

const N = 4 * 2 ** 20;

const noisy = (() => {
  const r = rng(1);
  return Float32Array.from({ length: N }, () => 1 + 1e-3 * r());
})();

/** The float64 sums of `x` viewed as [rows, cols], over the rows (axis 0) or the columns (axis 1). */
function sums(x: Float32Array, rows: number, cols: number, axis: 0 | 1): number[] {
  const out = new Array<number>(axis === 0 ? cols : rows).fill(0);
  for (let i = 0; i < x.length; i++) out[axis === 0 ? i % cols : Math.floor(i / cols)] += x[i];
  return out;
}

const ROUTES = [
  { name: 'all of [4M]', shape: [N], axes: undefined, rows: 1, cols: N, axis: 1 },
  { name: 'the columns of [1M, 4]', shape: [N / 4, 4], axes: [0], rows: N / 4, cols: 4, axis: 0 },
  { name: 'the rows of [4, 1M]', shape: [4, N / 4], axes: [1], rows: 4, cols: N / 4, axis: 1 },
] as const;

/** The op on the GPU over `route`'s axes. */
async function reduce(op: 'sum' | 'mean', data: Float32Array, route: (typeof ROUTES)[number]): Promise<Float32Array> {
  const x = dn.tensor(data, [...route.shape]);
  const y = dn[op](x, route.axes ? [...route.axes] : undefined);
  const out = await y.toArray();
  x.dispose();
  y.dispose();
  return out;
}

describe('sum and mean over 4M values', () => {
  it('the data defeats a naive float32 sum: a sequential loop is more than 1e-4 off', () => {
    let naive = 0;
    for (let i = 0; i < N; i++) naive = Math.fround(naive + noisy[i]);
    const exact = sums(noisy, 1, N, 1)[0];
    expect(Math.abs(naive - exact) / exact).toBeGreaterThan(1e-4);
  });

  for (const route of ROUTES) {
    it(`1 + 1e-3 noise, ${route.name}: sum and mean within 1e-6 of float64`, async () => {
      const want = sums(noisy, route.rows, route.cols, route.axis);
      const count = N / want.length;
      expectClose(`sum ${route.name}`, await reduce('sum', noisy, route), want, { atol: 0, rtol: 1e-6 });
      expectClose(`mean ${route.name}`, await reduce('mean', noisy, route), want.map((s) => s / count), { atol: 0, rtol: 1e-6 });
    });
  }

  for (const route of ROUTES) {
    it(`the mean of a constant, ${route.name}: within 2e-6 of it`, async () => {
      for (const value of [12345.678, 0.1, 3.3e-5]) {
        const v = Math.fround(value);
        const got = await reduce('mean', new Float32Array(N).fill(v), route);
        expectClose(`mean of ${value} over ${route.name}`, got, new Array<number>(got.length).fill(v), { atol: 0, rtol: 2e-6 });
      }
    });
  }
});
