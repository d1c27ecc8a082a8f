// The element-wise ops of elementwise.ts where a user meets awkward numbers: near a pole or a
// log's singularity, at tiny and huge magnitudes, in saturated tails. At each point the float64
// reference's derivative is checked against a central difference with a step relative to x (a
// fixed step of 1e-6 would straddle a pole at x = 1e-10), then the GPU's value and gradient
// against the reference at the float32 input. elementwise.test.ts covers random values in [-1, 1];
// elementwise-more.test.ts the special values of pow, rsqrt, reciprocal, gelu, sin, cos, log1p
// and expm1.
//
// Tolerances. Relative only (atol 0): at 1e-30 an atol of 1e-5 would pass anything. rtol 1e-4 is
// the house float32 default; WGSL's exp and log are within 3 + 2|x| ulp (under 1.1e-5 relative at
// |x| = 88), every other step here a few ulp. Two kinds of point get an absolute floor instead,
// each stated at its case: gradients computed from a saved output that float32 rounds next to 1
// (tanh and sigmoid saturated, as PyTorch's), and values that float32 cannot hold (beyond 3.4e38
// or below 1.2e-38, checked to be infinite or zero instead).

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { unaryRef } from '../../src/reference/elementwise.js';
import { expectClose, type Tolerance } from '../helpers/close.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

const F32_MAX = 3.4028234663852886e38;
const F32_MIN_NORMAL = 1.1754943508222875e-38;

/**
 * f'(x) by a central difference with step h = 1e-6·|x|, and the error bound it carries: truncation,
 * f'''h²/6, under 1e-8 relative for every case here (h reaches 1e-4 at |x| = 100, where exp-like
 * functions change at rate 1: 1.7e-9), plus rounding, 2^-52·|f(x)|/h. A wrong derivative is off by
 * O(1) relative.
 */
function centralDifference(f: (v: number) => number, x: number): { slope: number; bound: number } {
  const h = 1e-6 * Math.abs(x);
  const slope = (f(x + h) - f(x - h)) / (2 * h);
  return { slope, bound: 1e-8 * Math.abs(slope) + (2 ** -52 * Math.abs(f(x))) / h };
}

/** The reference's value as float32 holds it: ±∞ past its range. */
const asF32 = (v: number): number => (Math.abs(v) > F32_MAX ? Math.sign(v) * Infinity : v);
/** WGSL lets an implementation flush subnormal results to zero: below the smallest normal float32, 0 is as good. */
const SUBNORMAL = F32_MIN_NORMAL;

interface PointCase {
  op: string;
  run: (x: dn.Tensor) => dn.Tensor;
  c?: number;
  xs: number[];
  /** Absolute floor for the gradient, where a saved output rounds next to 1 (see each case). */
  gradAtol?: number;
}

const CASES: PointCase[] = [
  { op: 'log', run: dn.log, xs: [1e-30, 1e-10, 0.999, 1e10, 3e38] },
  { op: 'sqrt', run: dn.sqrt, xs: [1e-30, 1e-10, 1e10, 1e30] },
  { op: 'exp', run: dn.exp, xs: [-87, -1e-8, 1e-8, 80, 88] },
  // The saved output y rounds to ±(1 - 2^-24·k) past |x| = 8, so 1 - y² keeps only the absolute
  // accuracy of y: 2·2^-24 ≈ 1.2e-7 (PyTorch's tanh_backward takes the same route).
  // Small |x| too: WGSL's built-in tanh gave 1.19e-7 for tanh(1e-7) on lavapipe.
  { op: 'tanh', run: dn.tanh, xs: [-9, -5, -1e-30, 1e-7, -1e-3, 0.02, 0.5, 5, 9], gradAtol: 2.5e-7 },
  // y(1 - y): relative accuracy where y is small (x very negative); where y rounds near 1, 1 - y
  // only to 2^-24 absolute, as tanh's.
  { op: 'sigmoid', run: dn.sigmoid, xs: [-80, -30, -17, 1e-8, 17, 30], gradAtol: 1.2e-7 },
  { op: 'softplus', run: dn.softplus, xs: [-80, -20, 1e-8, 20, 100] },
  { op: 'silu', run: dn.silu, xs: [-80, -20, 1e-8, 20, 100] },
  { op: 'elu', run: (t) => dn.elu(t, 1.5), c: 1.5, xs: [-80, -1e-30, -1e-8, 1e-8, 1e30] },
  { op: 'square', run: dn.square, xs: [-1e18, -1e-18, 1e-15, 1e18] },
  { op: 'scale', run: (t) => dn.scale(t, 1e-30), c: 1e-30, xs: [-1e30, 1e-5, 1e8] },
  { op: 'divScalar', run: (t) => dn.div(t, 1e-30), c: 1e-30, xs: [-1e-5, 1, 1e5] },
  // c / x near its pole: x·x underflows float32 below |x| = 1.1e-19 while c/x² may not.
  { op: 'rdivScalar', run: (t) => dn.div(2.5, t), c: 2.5, xs: [1.5e-19, -1e-18, 1e-10, 1e18] },
  { op: 'rdivScalar', run: (t) => dn.div(1e-20, t), c: 1e-20, xs: [1e-22, -1e-25, 1e-19, 1e-10, 1e10] },
];

describe('element-wise ops at awkward points', () => {
  for (const cs of CASES) {
    const c = cs.c ?? 0;
    const ref = unaryRef[cs.op];
    const name = `${cs.op}${cs.c === undefined ? '' : ` (c = ${c})`} at ${cs.xs.join(', ')}`;
    // Float32 inputs: the reference is taken at the values the GPU gets.
    const x = Array.from(Float32Array.from(cs.xs));

    it(`${name}: the reference derivative matches relative central differences`, () => {
      for (const v of x) {
        const { slope, bound } = centralDifference((u) => ref.f(u, c), v);
        const want = ref.df(v, c);
        expect(Math.abs(want - slope), `${cs.op}'(${v}): reference ${want}, difference ${slope}`).toBeLessThanOrEqual(bound);
      }
    });

    // Scalar kernel (an odd count) and vec4 kernel (the points repeated to a multiple of 4).
    for (const n of [x.length | 1, 4 * Math.ceil(x.length / 4) + 4]) {
      it(`${name}: GPU value and gradient (${n} elements) match the reference`, async () => {
        const xs = Array.from({ length: n }, (_, i) => x[i % x.length]);
        const dy = Array.from({ length: n }, (_, i) => (i % 2 ? 0.75 : -1.25));
        const xt = dn.tensor(xs, [n], { requiresGrad: true });
        const y = cs.run(xt);
        const dyt = dn.tensor(dy, [n]);
        y.backward(dyt);
        const tol: Tolerance = { atol: SUBNORMAL, rtol: 1e-4 };
        expectClose(`${name} forward`, await y.toArray(), xs.map((v) => asF32(ref.f(v, c))), tol);
        const wantDx = xs.map((v, i) => asF32(ref.df(v, c) * dy[i]));
        expectClose(`${name} backward`, await xt.grad!.toArray(), wantDx, { ...tol, atol: cs.gradAtol ?? SUBNORMAL });
        for (const t of [xt, y, dyt]) t.dispose();
      });
    }
  }
});

describe('div of two tensors near the pole, broadcast', () => {
  // d(a/b)/db = -(a/b)/b: finite wherever the quotient and the gradient are, as PyTorch's
  // div backward, though b·b underflows float32 (b = 1e-22 here, b·b = 1e-44 subnormal).
  const a = Float32Array.from([1e-20, -2e-21, 3e-22, 5]);
  const b = Float32Array.from([1e-22, -4e-10]);
  const aShape = [2, 2];
  it('a [2, 2] / b [2]: values and both gradients match float64, relatively', async () => {
    const at = dn.tensor(a, aShape, { requiresGrad: true });
    const bt = dn.tensor(b, [2], { requiresGrad: true });
    const y = dn.div(at, bt);
    const dy = dn.tensor([0.5, -1, 2, 0.25], aShape);
    y.backward(dy);
    const dyv = [0.5, -1, 2, 0.25];
    const bi = (i: number) => b[i % 2];
    expectClose('a / b', await y.toArray(), Array.from(a, (v, i) => v / bi(i)), { atol: 0, rtol: 1e-6 });
    expectClose('da', await at.grad!.toArray(), Array.from(a, (_, i) => dyv[i] / bi(i)), { atol: 0, rtol: 1e-6 });
    const db = [0, 0];
    a.forEach((v, i) => (db[i % 2] -= (dyv[i] * v) / (bi(i) * bi(i))));
    expectClose('db', await bt.grad!.toArray(), db, { atol: 0, rtol: 1e-6 });
    for (const t of [at, bt, y, dy]) t.dispose();
  });
});
