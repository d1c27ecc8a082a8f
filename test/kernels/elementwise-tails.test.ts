// softplus, elu and pow where float32 arithmetic on the textbook formula goes wrong: softplus's far
// negative tail (1 + e^x rounds to 1 below x = -17), elu near 0 (e^x - 1 cancels) and pow of a -0
// base (an odd power keeps the sign of zero). Compared with the float64 references relatively,
// since the values are tiny and an absolute tolerance would pass 0 for 2e-9. Sizes 4k run four
// elements per thread (vec4), the others one: both kernels are checked.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { unaryBackwardRef, unaryForwardRef } from '../../src/reference/elementwise.js';
import { unaryRefMore as unaryRef } from '../../src/reference/elementwise-more.js';
import { nd } from '../../src/reference/array.js';
import { expectClose } from '../helpers/close.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

/** y = op(x) and x's gradient for dy = 1, read back. */
async function run(op: (t: dn.Tensor) => dn.Tensor, xs: ArrayLike<number>): Promise<{ y: Float32Array; dx: Float32Array }> {
  const xt = dn.tensor(Float32Array.from(xs), [xs.length], { requiresGrad: true });
  const y = op(xt);
  const ones = dn.full([xs.length], 1);
  y.backward(ones);
  const out = { y: await y.toArray(), dx: await xt.grad!.toArray() };
  for (const t of [xt, y, ones]) t.dispose();
  return out;
}

/** n float32 values with log-uniform magnitudes in [lo, hi], all of sign `sign`. */
const logRange = (n: number, lo: number, hi: number, sign: number): Float32Array =>
  Float32Array.from({ length: n }, (_, i) => sign * Math.exp(Math.log(lo) + (i / (n - 1)) * Math.log(hi / lo)));

describe('softplus in its negative tail', () => {
  // softplus(x) = e^x (1 - e^x/2 ...) there: relative accuracy is that of WGSL's exp(-|x|), which
  // may be off by 3 + 2|x| ulp (163 ulp, 9.7e-6 at |x| = 80), plus a few ulp of log1p and the
  // add: rtol 2e-5. atol 1e-37, below float32's normal range, where a GPU may flush to zero. The
  // old log(1 + e^x) was off by 4e-4 at -10 and gave 0 from -17 on. The gradient, sigmoid(x), is
  // 1/(1 + e^-x) with e^-x large: the same exp bound.
  const tol = { atol: 1e-37, rtol: 2e-5 };
  for (const n of [40, 41]) {
    it(`${n} points in [-80, -10] and [-10, 30]: forward and gradient match float64`, async () => {
      const xs = Float32Array.from([...logRange(n, 10, 80, -1), ...Array.from({ length: n }, (_, i) => -10 + (40 * i) / (n - 1))]);
      const { y, dx } = await run(dn.softplus, xs);
      const x64 = nd(Float64Array.from(xs), [xs.length]);
      expectClose('softplus forward', y, unaryForwardRef('softplus', x64).data, tol);
      expectClose('softplus gradient', dx, unaryBackwardRef('softplus', x64, nd(new Float64Array(xs.length).fill(1), [xs.length])).data, tol);
    });
  }
});

describe('elu near zero', () => {
  // expm1 is a series below |x| = 1 (a few ulp, measured in elementwise-more.test.ts) and
  // e^x - 1 beyond, where the result is at least 0.63 in size: rtol 1e-5 with atol 1e-37 is 100x
  // a float32 ulp. The old c·(e^x - 1) gave -1.19e-7 for -1e-7 (19%) and -6e-8 for -1e-30.
  const tol = { atol: 1e-37, rtol: 1e-5 };
  for (const [n, alpha] of [
    [24, 1],
    [25, 0.7],
  ] as const) {
    it(`${n} negative points from -1e-30 to -20 and positive ones, alpha ${alpha}: forward and gradient match float64`, async () => {
      const xs = Float32Array.from([...logRange(n, 1e-30, 20, -1), ...logRange(8, 1e-30, 5, 1)]);
      const { y, dx } = await run((t) => dn.elu(t, alpha), xs);
      const x64 = nd(Float64Array.from(xs), [xs.length]);
      expectClose('elu forward', y, unaryForwardRef('elu', x64, alpha).data, tol);
      expectClose('elu gradient', dx, unaryBackwardRef('elu', x64, nd(new Float64Array(xs.length).fill(1), [xs.length]), alpha).data, tol);
    });
  }
});

describe('pow of a signed zero', () => {
  // C's pow (JavaScript's Math.pow, PyTorch's): an odd integer power keeps the base's sign, so
  // pow(-0, 3) = -0 and pow(-0, -1) = -inf; even and fractional powers of -0 are +0 or +inf. Every
  // result here is exactly 0, ±inf or NaN, so they are compared exactly, the sign of a zero read
  // with Object.is after the readback (the bits the GPU stored). The gradient p·pow(x, p - 1)
  // meets -0 too: its infinities must carry the right sign (its zeros come from a multiply, whose
  // zero sign WGSL lets a compiler ignore, so those are compared by value).
  const exponents = [3, 5, -1, -3, 2, -2, 4, 0.5, -0.5, 1.5, 1, 0];
  for (const xs of [
    [-0, 0, -Infinity, Infinity],
    [-0, 0, -Infinity, Infinity, NaN],
  ]) {
    for (const p of exponents) {
      it(`pow(x, ${p}) of ${xs.map((v) => (Object.is(v, -0) ? '-0' : String(v))).join(', ')}`, async () => {
        const { y, dx } = await run((t) => dn.pow(t, p), xs);
        const show = (v: number) => (Object.is(v, -0) ? '-0' : String(v));
        xs.forEach((x, i) => {
          const want = unaryRef.pow.f(x, p);
          expect(Object.is(y[i], want), `pow(${show(x)}, ${p}): got ${show(y[i])}, want ${show(want)}`).toBe(true);
          const wantDx = unaryRef.pow.df(x, p);
          if (wantDx === 0) expect(dx[i] === 0, `pow(${show(x)}, ${p}) gradient: got ${show(dx[i])}, want 0`).toBe(true);
          else expect(Object.is(dx[i], wantDx), `pow(${show(x)}, ${p}) gradient: got ${show(dx[i])}, want ${show(wantDx)}`).toBe(true);
        });
      });
    }
  }
});

describe('abs at NaN', () => {
  // The gradient of |x| is sign(x): NaN at a NaN input, as PyTorch's and the float64 reference's
  // (Math.sign(NaN)); WGSL leaves sign(NaN) undefined, and lavapipe gave 0. Exact comparison:
  // the other values are -1, 0 and 1 times dy = 1.
  for (const xs of [[NaN, -2, 0, 3, 7], [NaN, -2, 0, 3, -Infinity, NaN, 5, -0.5]]) {
    it(`${xs.length} values (${xs.length % 4 ? 'scalar' : 'vec4'} kernel): the gradient is NaN exactly where x is`, async () => {
      const { y, dx } = await run((t) => dn.abs(t), xs);
      expect([...y]).toEqual(xs.map(Math.abs));
      expect([...dx]).toEqual(xs.map((v) => Math.sign(v) + 0));
    });
  }
});
