// pow, rsqrt, reciprocal, gelu (both forms), sin, cos, sign, floor, round, log1p and expm1
// (src/kernels/elementwise-math.ts through the wrappers of elementwise-more.ts): GPU forward and
// backward against the float64 references at random values, in vec4 and scalar widths; the
// references' gradients against finite differences; special values (0, ±∞, NaN, huge and tiny
// |x|); the hand-written approximations' accuracy over dense sweeps; argument errors.
//
// Tolerances. Random cases use the float32 defaults (atol 1e-5, rtol 1e-4): every op here is
// within a few ulp (measured below), or for pow within WGSL's bound for pow, exp2(p·log2 x) to
// 3 + 2|p·log2 x| ulp: under 2.4e-6 relative where |p·log2 x| < 8, and where it is more here
// (x near 0 with p = 3) the values are tiny and atol covers them. The sweeps state their own bounds.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { MATH_OPS } from '../../src/kernels/elementwise-math.js';
import { cos, expm1, floor, gelu, log1p, pow, reciprocal, round, rsqrt, sign, sin } from '../../src/kernels/elementwise-more.js';
import { nd } from '../../src/reference/array.js';
import { normalCdf } from '../../src/reference/elementwise-more.js';
import { unaryBackwardRef, unaryForwardRef, unaryRef } from '../../src/reference/elementwise.js';
import { expectClose, type Tolerance } from '../helpers/close.js';
import { checkGrad } from '../helpers/finite-diff.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { awayFromZero, rng, uniform } from '../helpers/rng.js';

useGpu();

type MathOp = (typeof MATH_OPS)[number];
const FNS: Record<MathOp, (x: dn.Tensor, c: number) => dn.Tensor> = {
  pow: (x, c) => pow(x, c),
  rsqrt,
  reciprocal,
  gelu: (x) => gelu(x),
  geluTanh: (x) => gelu(x, { approximate: 'tanh' }),
  sin,
  cos,
  sign,
  floor,
  round,
  log1p,
  expm1,
};

/** Values off the integers and the halves: floor's and round's kinks stay out of finite differences. */
function offGrid(n: number, seed: number): Float64Array {
  const r = rng(seed);
  return Float64Array.from({ length: n }, () => Math.floor(8 * r()) - 4 + (r() < 0.5 ? 0.1 : 0.6) + 0.3 * r());
}
const DOMAINS = {
  signed: (n: number, seed: number) => uniform(n, seed, -3, 3),
  positive: (n: number, seed: number) => uniform(n, seed, 0.1, 4),
  nonzero: (n: number, seed: number) => awayFromZero(n, seed).map((v) => 2 * v),
  wide: (n: number, seed: number) => uniform(n, seed, -12, 12),
  aboveMinusOne: (n: number, seed: number) => uniform(n, seed, -0.9, 3),
  offGrid,
} as const;

// Each op at a size that is a multiple of 4 (vec4 kernels) and one that is not (scalar).
const CASES = [
  { op: 'pow', c: 3, domain: 'signed', shapes: [[4, 6], [3, 7]] },
  { op: 'pow', c: -2, domain: 'nonzero', shapes: [[16], [17]] },
  { op: 'pow', c: 0.5, domain: 'positive', shapes: [[2, 2, 3], [5, 5]] },
  { op: 'pow', c: -1.5, domain: 'positive', shapes: [[8], [9]] },
  { op: 'pow', c: 2.5, domain: 'positive', shapes: [[12], [11]] },
  { op: 'rsqrt', domain: 'positive', shapes: [[40], [41]] },
  { op: 'reciprocal', domain: 'nonzero', shapes: [[2, 10], [3, 9]] },
  { op: 'gelu', domain: 'signed', shapes: [[64], [65]] },
  { op: 'geluTanh', domain: 'signed', shapes: [[64], [63]] },
  { op: 'sin', domain: 'wide', shapes: [[4, 9], [5, 7]] },
  { op: 'cos', domain: 'wide', shapes: [[36], [37]] },
  { op: 'sign', domain: 'signed', shapes: [[20], [19]] },
  { op: 'floor', domain: 'offGrid', shapes: [[20], [21]] },
  { op: 'round', domain: 'offGrid', shapes: [[28], [27]] },
  { op: 'log1p', domain: 'aboveMinusOne', shapes: [[2, 16], [31]] },
  { op: 'expm1', domain: 'signed', shapes: [[24], [23]] },
] as const satisfies readonly { op: MathOp; c?: number; domain: keyof typeof DOMAINS; shapes: readonly (readonly number[])[] }[];

describe('math ops at random values', () => {
  it('every op has a case, in both widths', () => {
    expect(new Set(CASES.map((cs) => cs.op))).toEqual(new Set(MATH_OPS));
    for (const cs of CASES) expect(cs.shapes.map((s) => s.reduce((p, d) => p * d, 1) % 4 === 0)).toEqual([true, false]);
  });

  CASES.forEach((cs, k) =>
    cs.shapes.forEach((shapeRO, w) => {
      const shape = [...shapeRO];
      const c = 'c' in cs ? cs.c : 0;
      const n = shape.reduce((p, d) => p * d, 1);
      const x = DOMAINS[cs.domain](n, 1000 + 10 * k + w);
      const dy = uniform(n, 2000 + 10 * k + w);
      const name = `${cs.op}${'c' in cs ? `(c = ${c})` : ''} ${JSON.stringify(shape)}`;

      it(`${name}: CPU backward matches finite differences`, () => {
        const analytic = unaryBackwardRef(cs.op, nd(x, shape), nd(dy, shape), c);
        checkGrad(name, (v) => unaryForwardRef(cs.op, nd(v, shape), c), x, dy, analytic.data);
      });

      it(`${name}: GPU forward and backward match CPU`, async () => {
        const xt = fromNd(x, shape, true);
        const y = FNS[cs.op](xt, c);
        expectClose(`${name} forward`, await y.toArray(), unaryForwardRef(cs.op, nd(x, shape), c).data);
        const dyt = fromNd(dy, shape);
        y.backward(dyt);
        expectClose(`${name} backward`, await xt.grad!.toArray(), unaryBackwardRef(cs.op, nd(x, shape), nd(dy, shape), c).data);
        for (const t of [xt, y, dyt]) t.dispose();
      });
    }),
  );
});

/**
 * Runs `op` on `xs` and compares with the reference rounded to float32 (so an overflow is the same
 * infinity): NaN must be NaN, an infinity the same infinity, the rest close.
 */
async function expectSpecial(op: MathOp, xs: number[], c: number, tol: Tolerance, direction: 'forward' | 'backward' = 'forward'): Promise<void> {
  const xt = dn.tensor(xs, [xs.length], { requiresGrad: true });
  const y = FNS[op](xt, c);
  let got = await y.toArray();
  let want = xs.map((v) => Math.fround(unaryRef[op].f(Math.fround(v), c)));
  if (direction === 'backward') {
    const ones = dn.full([xs.length], 1);
    y.backward(ones);
    got = await xt.grad!.toArray();
    want = xs.map((v) => Math.fround(unaryRef[op].df(Math.fround(v), c)));
    ones.dispose();
  }
  for (const t of [xt, y]) t.dispose();
  const what = `${op}${c ? `(c = ${c})` : ''} ${direction}`;
  xs.forEach((v, i) => {
    if (!Number.isFinite(want[i])) expect(got[i], `${what} at x = ${v}`).toBe(want[i]);
  });
  const finite = want.flatMap((v, i) => (Number.isFinite(v) ? [i] : []));
  expectClose(`${what} at ${JSON.stringify(finite.map((i) => xs[i]))}`, finite.map((i) => got[i]), finite.map((i) => want[i]), tol);
}

// Special values and extremes, compared relatively (atol 1e-37: below float32's normal range,
// where GPUs may flush to zero) to rtol 1e-5: the ops are a few ulp at these points, and a tiny
// result (log1p(1e-10)) must keep its digits, which an absolute tolerance would not check. Where
// WGSL's pow or exp meets a large argument (pow(1e-20, -1), expm1(88)) WGSL allows 3 + 2|arg| ulp,
// up to 2.9e-5 relative for |arg| < 120 here: those rows take rtol 3e-5 (BUILTIN).
const SPECIAL = { atol: 1e-37, rtol: 1e-5 };
const BUILTIN = { atol: 1e-37, rtol: 3e-5 };
const INF = Infinity;

describe('special values', () => {
  const cases: [MathOp, number[], number?, Tolerance?][] = [
    ['pow', [0, 1.5, -1.5, INF, -INF, NaN, 1e30], 2],
    ['pow', [0, -2, 4, INF, -INF, NaN, 1e-30], 0.5, BUILTIN],
    ['pow', [0, -8, 8, INF, -INF, NaN], 1.5],
    ['pow', [0, -2, 2, INF, -INF, NaN, 1e-20], -1, BUILTIN],
    ['pow', [0, -2, INF, -INF, NaN, 1e12], 3, BUILTIN],
    ['pow', [0, -3, INF, -INF, NaN], 0],
    ['pow', [0, -3, INF, -INF, NaN], 1],
    ['pow', [0, -0.5, INF], -0.5],
    ['rsqrt', [0, -1, INF, -INF, NaN, 1e-30, 1e30]],
    ['reciprocal', [0, -0, INF, -INF, NaN, 1e-30, -1e38]],
    ['gelu', [0, INF, -INF, NaN, 1e10, -1e10, 3e38, -3e38, 30, -30, 1e-30]],
    ['geluTanh', [0, INF, -INF, NaN, 1e10, 3e38, 30, -30, 1e-30]],
    ['sin', [0, INF, -INF, NaN, 1e-30, -1e-30, 1e4, 65000, -99999]],
    ['cos', [0, INF, -INF, NaN, 1e-30, 1e4, 65000, -99999]],
    ['sign', [0, -0, INF, -INF, NaN, 1e-30, -1e-30]],
    ['floor', [0, INF, -INF, NaN, -0.5, 1e20, -8388607.5]],
    ['round', [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 8388607.5, INF, -INF, NaN, 1e20]],
    ['log1p', [0, -1, -2, INF, -INF, NaN, 1e-10, -1e-10, 1e-30, 1e30, 3e38, -0.999999]],
    ['expm1', [0, INF, -INF, NaN, 1e-10, -1e-10, 1e-30, 100, -100, 88], 0, BUILTIN],
  ];
  for (const [op, xs, c = 0, tol = SPECIAL] of cases) {
    it(`${op}${c ? `(c = ${c})` : ''} of ${xs.join(', ')}`, () => expectSpecial(op, xs, c, tol));
  }

  // Gradients at the same kind of points: pow's at 0 (PyTorch's p·0^(p-1): +inf for 0 < p < 1,
  // -inf for p = -1, 0 for p > 1, and 0 for p = 0 even at x = 0), rsqrt's and reciprocal's poles.
  const gradCases: [MathOp, number[], number?, Tolerance?][] = [
    ['pow', [0, -2, 3], 0.5],
    ['pow', [0, 2, -2], 1.5],
    ['pow', [0, 2, -2], -1],
    ['pow', [0, NaN, INF, -3], 0],
    ['pow', [0, -3, INF], 1],
    ['pow', [0, -3, 1e30], 2],
    ['rsqrt', [0, 1e-30, 1e30]],
    ['reciprocal', [0, -0, 1e-20, INF]],
    ['log1p', [-1, 1e-10, 1e30]],
    ['expm1', [-INF, 1e-10, 88, 100], 0, BUILTIN],
    ['gelu', [0, 30, -30, 1e10, -1e10]],
    ['geluTanh', [0, 30, -30, 1e10, -1e10]],
  ];
  for (const [op, xs, c = 0, tol = SPECIAL] of gradCases) {
    it(`${op}${c ? `(c = ${c})` : ''} gradient at ${xs.join(', ')}`, () => expectSpecial(op, xs, c, tol, 'backward'));
  }
});

/** Max over the inputs of |got - want| / (atol + rtol·|want|) <= 1, with the worst point named. */
async function sweep(op: MathOp, xs: Float32Array, tol: Required<Tolerance>, direction: 'forward' | 'backward' = 'forward'): Promise<void> {
  const xt = dn.tensor(xs, [xs.length], { requiresGrad: direction === 'backward' });
  const y = FNS[op](xt, 0);
  const ones = dn.full([xs.length], 1);
  if (direction === 'backward') y.backward(ones);
  const got = await (direction === 'backward' ? xt.grad! : y).toArray();
  const f = direction === 'backward' ? unaryRef[op].df : unaryRef[op].f;
  expectClose(`${op} ${direction} over ${xs.length} points in [${xs[0]}, ${xs[xs.length - 1]}]`, got, Array.from(xs, (v) => f(v, 0)), tol);
  for (const t of [xt, y, ones]) t.dispose();
}

/** n float32 values spread uniformly over [lo, hi], sorted. */
const spread = (n: number, seed: number, lo: number, hi: number): Float32Array => Float32Array.from(uniform(n, seed, lo, hi)).sort();
/** n float32 values with log-uniform magnitudes in [lo, hi], both signs, sorted. */
const logSpread = (n: number, seed: number, lo: number, hi: number): Float32Array =>
  Float32Array.from(uniform(n, seed), (u, i) => (i % 2 ? -1 : 1) * Math.exp(Math.log(lo) + Math.abs(u) * Math.log(hi / lo))).sort();

describe('accuracy of the hand-written approximations (bounds measured on lavapipe, with margin)', () => {
  // gelu's Φ (and so erf, erf(z) = 2Φ(z√2) - 1). On a grid of step 1/1024 over [-10, 10], Φ read
  // back as gelu(x)/x (in float64) is within 1.15e-7 of the float64 Φ: ~7e-8 from the
  // approximation in float32 (its pieces emulated in float32 give 6.9e-8; 1 ulp of Φ near 0.8 is
  // 6e-8) and half an ulp from rounding gelu's output. So erf is within ~2.3e-7 in that measure,
  // and A&S 7.1.26's 1.5e-7 absolute error on its own would be 3e-7 in erf. Bound: 2e-7.
  // The lower tail keeps relative accuracy: 9.6e-6 at x = -9.5 (Φ = 1.6e-21), from rounding z²
  // and exp's argument (~z²·2^-24 relative); bound 3e-5.
  const grid = Float32Array.from({ length: 20481 }, (_, i) => (i - 10240) / 1024);
  it('gelu: Φ = gelu(x)/x within 2e-7 absolute, and its lower tail within 3e-5 relative', async () => {
    const xt = dn.tensor(grid, [grid.length]);
    const y = gelu(xt);
    const got = await y.toArray();
    const nonzero = [...grid.keys()].filter((i) => grid[i] !== 0);
    const phi = nonzero.map((i) => got[i] / grid[i]);
    expectClose('Φ from gelu', phi, nonzero.map((i) => normalCdf(grid[i])), { atol: 2e-7, rtol: 0 });
    const tail = nonzero.filter((i) => grid[i] <= -1);
    expectClose('Φ lower tail', tail.map((i) => got[i] / grid[i]), tail.map((i) => normalCdf(grid[i])), { atol: 0, rtol: 3e-5 });
    for (const t of [xt, y]) t.dispose();
  });
  // Measured: exact backward 1.4e-7 absolute; tanh form forward 5.1e-7 absolute (1 ulp at
  // |x| ~ 5) and 1.1e-5 relative in its lower tail, backward 1.5e-7 absolute.
  it('gelu backward and the tanh form', async () => {
    await sweep('gelu', grid, { atol: 3e-7, rtol: 0 }, 'backward');
    await sweep('geluTanh', grid, { atol: 1e-30, rtol: 3e-5 });
    await sweep('geluTanh', grid, { atol: 3e-7, rtol: 0 }, 'backward');
  });
  // sin and cos: 9.7e-8 at most (1.6 ulp of values near 1) over 100k points each in |x| < 10,
  // 1e3 and 1e5, where the reduction is exact; bound 2e-7. Their gradients are each other.
  for (const [lo, hi] of [[-10, 10], [-1e3, 1e3], [-1e5, 1e5]]) {
    it(`sin and cos over [${lo}, ${hi}] within 2e-7`, async () => {
      const xs = spread(100_000, hi, lo, hi);
      for (const op of ['sin', 'cos'] as const) await sweep(op, xs, { atol: 2e-7, rtol: 0 });
      await sweep('sin', xs, { atol: 2e-7, rtol: 0 }, 'backward');
    });
  }
  // log1p: 2.3e-7 relative (2 ulp) over |x| in [1e-8, 1e3]; expm1: 1.3e-7 below |x| = 1 (the
  // series), 5.2e-7 up to 10, where it is exp's own error (WGSL allows exp 3 + 2|x| ulp, so 2.8e-6
  // at 10); bounds 5e-7, 3e-7 and 3e-6.
  it('log1p and expm1 relative errors', async () => {
    await sweep('log1p', logSpread(100_000, 7, 1e-8, 1e3).filter((v) => v > -1), { atol: 0, rtol: 5e-7 });
    await sweep('expm1', logSpread(100_000, 8, 1e-8, 1), { atol: 0, rtol: 3e-7 });
    await sweep('expm1', logSpread(100_000, 9, 1, 10), { atol: 0, rtol: 3e-6 });
  });
});

describe('exact rules', () => {
  const xs = [-3, -1.5, -0.5, 0, 0.25, 2, 7];
  async function run(f: (x: dn.Tensor) => dn.Tensor, values = xs): Promise<{ y: number[]; dx: number[] }> {
    const xt = dn.tensor(values, [values.length], { requiresGrad: true });
    const y = f(xt);
    const dy = dn.tensor(values.map((_, i) => i + 1), [values.length]);
    y.backward(dy);
    const out = { y: Array.from(await y.toArray()), dx: Array.from(await xt.grad!.toArray()) };
    for (const t of [xt, y, dy]) t.dispose();
    return out;
  }
  const dy = xs.map((_, i) => i + 1);
  it('pow with p = 0, 1 and 2 is 1, x and x·x exactly, with gradients 0, dy and 2x·dy', async () => {
    expect(await run((x) => pow(x, 0))).toEqual({ y: xs.map(() => 1), dx: xs.map(() => 0) });
    expect(await run((x) => pow(x, 1))).toEqual({ y: xs, dx: dy });
    expect(await run((x) => pow(x, 2))).toEqual({ y: xs.map((v) => v * v), dx: xs.map((v, i) => 2 * v * dy[i]) });
  });
  it('pow of a negative base: NaN for a fractional p, signed for an integer one', async () => {
    const r = await run((x) => pow(x, 0.5), [-4, 4]);
    expect(r.y[0]).toBeNaN();
    expect(r.dx[0]).toBeNaN();
    expect((await run((x) => pow(x, 3), [-2, 2])).y).toEqual([-8, 8]);
    expect((await run((x) => pow(x, -2), [-2, 2])).y).toEqual([0.25, 0.25]);
  });
  it('sign, floor and round pass a zero gradient; round halves to even', async () => {
    for (const f of [sign, floor, round]) expect((await run(f)).dx).toEqual(xs.map(() => 0));
    expect((await run(sign)).y).toEqual([-1, -1, -1, 0, 1, 1, 1]);
    expect((await run(floor)).y).toEqual([-3, -2, -1, 0, 0, 2, 7]);
    expect((await run(round, [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5])).y).toEqual([-2, -2, -0, 0, 2, 2, 4]);
  });
});

describe('argument errors name the op', () => {
  it('rejects what is not a tensor, a finite exponent or a known gelu form', () => {
    const x = dn.zeros([3]);
    expect(() => pow(x, '2' as never)).toThrow(dn.ArgumentError);
    expect(() => pow(x, '2' as never)).toThrow(/^pow: /);
    expect(() => pow(x, NaN)).toThrow(/^pow: exponent/);
    expect(() => pow(x, Infinity)).toThrow(dn.ArgumentError);
    expect(() => pow(2 as never, 2)).toThrow(/^pow: x must be a Tensor/);
    expect(() => gelu(x, { approximate: 'fast' as never })).toThrow(/^gelu: approximate/);
    expect(() => gelu(x, 'tanh' as never)).toThrow(dn.ArgumentError);
    expect(() => gelu([1, 2] as never)).toThrow(/^gelu: /);
    expect(() => sin(null as never)).toThrow(/^sin: /);
    x.dispose();
    expect(() => rsqrt(x)).toThrow(dn.DisposedError);
  });
});

describe('sin and cos past the exact reduction', () => {
  // Past |k| = 2^23 (|x| > 1.3e7) the Cody-Waite reduction drifted without bound: sin(1e9) gave
  // 516100, sin(1e15) Infinity. There x now goes through 2π·fract(x/2π) - π first, bounded for
  // every finite x; ±∞ and NaN give NaN, as Math.sin.
  const specials = [102943, -102944, 2 ** 24 + 2, 1e9, -1e9, 1e15, 1e30, -1e30, 3.4e38, -3.4e38];
  // 100k magnitudes log-uniform in [1e5, 1e30], both signs, and the specials, then ±∞ and NaN:
  // 100013 values run one per thread; three more make 100016, four per thread (vec4).
  const wide = [...logSpread(100_000, 11, 1e5, 1e30), ...specials];
  for (const xs of [wide, [...wide, 7e5, -8e5, 9e5]]) {
    const all = Float32Array.from([...xs, Infinity, -Infinity, NaN]);
    it(`every result for ${all.length} values up to |x| = 3.4e38 lies in [-1, 1], gradients too; ±∞ and NaN give NaN`, async () => {
      const finite = xs.length;
      for (const op of [sin, cos]) {
        const xt = dn.tensor(all, [all.length], { requiresGrad: true });
        const y = op(xt);
        const ones = dn.full([all.length], 1);
        y.backward(ones);
        for (const [what, got] of [['forward', await y.toArray()], ['gradient', await xt.grad!.toArray()]] as const) {
          const outside = [...got.subarray(0, finite).keys()].filter((i) => !(Math.abs(got[i]) <= 1));
          expect(outside.map((i) => `${op.name}(${all[i]}) ${what} = ${got[i]}`)).toEqual([]);
          for (let i = finite; i < all.length; i++) expect(Number.isNaN(got[i]), `${op.name}(${all[i]}) ${what}`).toBe(true);
        }
        for (const t of [xt, y, ones]) t.dispose();
      }
    });
  }

  // Accuracy there is x/2π's rounding, ~|x|·2^-24 radians (6e-3 at 1e5, 0.06 at 1e6): measured on
  // lavapipe, |error| / |x| at most 9.9e-8 (2^-23.3) over [1.03e5, 1e8]. Bound 2^-22, 2.5x that.
  // The exact path below 1.03e5 keeps its 2e-7 (the sweeps above, and here 90000 to the edge).
  it('past 1.03e5 within |x|·2^-22 of Math.sin and Math.cos; below it within 2e-7 up to the edge', async () => {
    for (const [lo, hi] of [[1.0295e5, 1e6], [1e6, 1e8]]) {
      const xs = spread(100_000, 12, lo, hi);
      for (const [op, f] of [[sin, Math.sin], [cos, Math.cos]] as const) {
        const xt = dn.tensor(xs, [xs.length]);
        const y = op(xt);
        const got = await y.toArray();
        const worst = Math.max(...Array.from(got, (v, i) => Math.abs(v - f(xs[i])) / Math.abs(xs[i])));
        expect(worst, `${op.name} over [${lo}, ${hi}]: worst |error| / |x|`).toBeLessThanOrEqual(2 ** -22);
        for (const t of [xt, y]) t.dispose();
      }
    }
    const edge = spread(100_000, 13, 9e4, 1.0294e5);
    for (const op of ['sin', 'cos'] as const) await sweep(op, edge, { atol: 2e-7, rtol: 0 });
    // Just past the edge the Cody-Waite reduction is still the better one (its error ~4e-8·|x|):
    // the bounded far path, whose x/2π rounds to ~|x|·2^-23, takes over only from |x| = 1.3e7.
    const near = spread(100_000, 14, 1.03e5, 1.3e5);
    for (const [op, f] of [[sin, Math.sin], [cos, Math.cos]] as const) {
      const xt = dn.tensor(near, [near.length]);
      const y = op(xt);
      const got = await y.toArray();
      const worst = Math.max(...Array.from(got, (v, i) => Math.abs(v - f(near[i]))));
      expect(worst, `${op.name} over [1.03e5, 1.3e5]: worst |error|`).toBeLessThanOrEqual(1e-5);
      for (const t of [xt, y]) t.dispose();
    }
  });
});
