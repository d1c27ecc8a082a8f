// More element-wise ops, as entries of elementwise.ts's two tables (that file's kernels run them):
//
//   unary   pow(x, p) with a number p, rsqrt, reciprocal, gelu (exact, by erf, and tanh), sin, cos,
//           sign, floor, round, log1p, expm1; maximum/minimum/comparisons against a number
//   binary  maximum, minimum (NaN-propagating) and the comparisons greater ... notEqual (0 or 1)
//
// WGSL's built-ins are specified loosely where these ops need accuracy: sin and cos only to 2^-11
// absolute inside [-π, π], log only to 2^-21 absolute near 1, pow undefined for x < 0 and at 0,
// and there is no erf, log1p or expm1. So those are written here from +, -, * (correctly rounded
// in WGSL), / (2.5 ulp), exp, frexp and polynomials, and their special values are selected
// explicitly; NaN and ±∞ come in as params.nan and params.inf, since WGSL rejects them as
// constants. WGSL also lets a compiler assume no value is NaN or infinite, so `x != x` may fold
// away: NaN and ∞ are recognised from their bits (isNan, isInf). What each costs in accuracy is
// measured in test/kernels/elementwise-more.test.ts.
// Gradients follow PyTorch: sign, floor and round pass 0; maximum and minimum send the gradient to
// the winner and split a tie half and half (derivatives.yaml's at::where(self == other, grad / 2,
// grad)); comparisons are not differentiable (their wrappers never record them, so the 'T(0.0)'
// backward of the *Scalar comparisons is never run).

import type { UnaryDef } from './elementwise.js';
import { isNanBits } from './wgsl.js';

/** WGSL: where v (of type T) is NaN, ±∞, or either (not finite), from its bits (U is T's u32 twin). */
const isNan = (v: string): string => isNanBits(v, 'U');
const isInf = (v: string): string => `((bitcast<U>(${v}) & U(0x7fffffffu)) == U(0x7f800000u))`;
const isNonFinite = (v: string): string => `((bitcast<U>(${v}) & U(0x7fffffffu)) >= U(0x7f800000u))`;

// ----- ReLU and clamp that keep NaN, as PyTorch's do. WGSL's max and min are undefined for a NaN
// operand (lavapipe's return the number), so a NaN is passed through by a select on its bits: one
// bit test per value over the max. relu's is also the epilogue of every kernel with a fused ReLU
// (conv2d's GEMMs, Winograd staged and fused, uniform weights; batch norm), so the fused and the
// separate ReLU give the same bits.
const u32Twin = (t: string): string => t.replace('f32', 'u32');

/** WGSL: `bounded` (an expression of x, such as max(x, lo)) where x is a number, and x where it is NaN. */
export const keepingNan = (x: string, bounded: string, u = 'U'): string => `select(${bounded}, ${x}, ${isNanBits(x, u)})`;

/** WGSL: max(v, 0) keeping NaN; `t` is v's type (f32 or vec4<f32>), `u` its u32 twin. */
export const reluKeepingNan = (v: string, t: string, u = u32Twin(t)): string => keepingNan(v, `max(${v}, ${t}(0.0))`, u);

/**
 * WGSL: where a ReLU's output y lets the gradient through: y is not ±0, read from its bits. So a
 * NaN output passes dy, as PyTorch's threshold_backward(grad, result, 0) (result <= 0 ? 0 : grad)
 * does, where `y > 0` would leave NaN to the compiler. Only for ReLU outputs, which are never negative.
 */
export const reluPasses = (y: string, u: string): string => `((bitcast<${u}>(${y}) & ${u}(0x7fffffffu)) != ${u}(0u))`;

/** Horner's scheme over `v` for coefficients c0, c1, ... of ascending powers. */
function horner(v: string, coeffs: readonly number[]): string {
  return coeffs.reduceRight((inner, c, k) => (k === coeffs.length - 1 ? `${c}` : `(${c} + ${v} * ${inner})`), '');
}

// ----- pow: |x|^p by WGSL pow, with C's (and PyTorch's) special cases made explicit. The sign of
// x is read from its bits and an odd power's sign set in the bits: -0 must count as negative
// (pow(-0, 3) = -0, pow(-0, -1) = -inf), and WGSL lets a compiler ignore the sign of a zero in
// float arithmetic and comparisons (-0 < 0 is false anyway, and -m of m = 0 may give +0), while
// bitcast and integer operations are exact.
const POW = /* wgsl */ `
fn powScalar(x: T, p: f32) -> T {
  if (p == 0.0) { return T(1.0); }
  if (p == 1.0) { return x; }
  if (p == 2.0) { return x * x; }
  let ax = abs(x);
  // A subnormal base is scaled into the normal range first and the power of the scale divided out
  // (logT's reason: lavapipe's pow(1e-40, 0.5) gave 7.7e-20, not 1e-20). Where one factor
  // overflows or underflows, so does the true power, and the other factor cannot undo it.
  let sub = ax < T(0x1p-126f);
  let scaled = pow(select(ax, ax * 16777216.0, sub), T(p)) * select(T(1.0), T(exp2(-24.0 * p)), sub);
  // WGSL leaves pow(0, p) undefined: C gives 0 for p > 0 and +inf for p < 0.
  var m = select(scaled, T(select(0.0, params.inf, p < 0.0)), ax == T(0.0));
  if (floor(p) != p) {
    // A negative base has no real fractional power: NaN, except C's (-inf)^p = inf^p; a -0 base
    // gives +0 or +inf as +0 does.
    m = select(m, T(params.nan), (x < T(0.0)) & !${isInf('x')});
  } else if (abs(p % 2.0) == 1.0) {
    // An odd integer power (p % 2.0 keeps p's sign) takes the base's sign, -0's included.
    m = bitcast<T>(bitcast<U>(m) | (bitcast<U>(x) & U(0x80000000u)));
  }
  return select(m, x, ${isNan('x')});
}`;

// ----- log: WGSL's built-in may treat a subnormal argument as anything (lavapipe's log(1e-40) gave
// -88.02, the log of 2^-127, not -92.10), so a positive x below 2^-126 is scaled by 2^24 into the
// normal range and 24 ln 2 taken off. An adapter that flushes subnormals gets log(0) = -inf there.
export const LOG = /* wgsl */ `
fn logT(x: T) -> T {
  let sub = (x > T(0.0)) & (x < T(0x1p-126f));
  return select(log(x), log(x * 16777216.0) - ${24 * Math.LN2}, sub);
}`;

// ----- Φ(x), the normal CDF, for gelu (erf(z) = 2Φ(z√2) - 1). Two pieces, each within about a
// float32 ulp of Φ:
//  - |x| < 1: Φ = 1/2 + φ(0)·Σ (-1)^n x^(2n+1) / (2^n n! (2n+1)) to n = 9 (truncation < 3e-10),
//    straight from x: the formula below loses ~3 ulp there, rounding t and 2t - 1.
//  - |x| >= 1: with z = |x|/√2, erfc(z) = t·exp(-z² + P(2t - 1)), t = 1/(1 + z/2) in (0, 1]. P is
//    smooth on all of it (P(-1) = ln(1/(2√π)) at z = ∞), so one formula covers every z with a
//    relative error, and Φ's lower tail erfc(z)/2 keeps its digits (the upper half is 1 minus it,
//    never 1 + erf). P: Chebyshev interpolation at 12 nodes in t of ln(erfc(z)·e^{z²}/t), computed
//    in 40-digit arithmetic (mpmath) and expanded in powers of 2t - 1; its error is below 1.5e-8.
const ERFC_P = [
  -0.67179409277580503, 0.67264321248554814, 0.047343940394620339, -0.046894781015071706, -0.0098804316375826865,
  0.0088151569561257874, 0.0017952014937328141, -0.0023031434654053822, -0.00022919226001198894, 0.00058807168875983845,
  8.5083166098205826e-6, -9.2464577956331022e-5,
];
const factorial = (n: number): number => (n <= 1 ? 1 : n * factorial(n - 1));
const PHI_SERIES = Array.from({ length: 10 }, (_, n) => (-1) ** n / (2 ** n * factorial(n) * (2 * n + 1) * Math.sqrt(2 * Math.PI)));
const NORMAL_CDF = /* wgsl */ `
fn normalCdf(x: T) -> T {
  let z = abs(x) * ${Math.SQRT1_2};
  let t = 1.0 / (1.0 + 0.5 * z);
  let s = 2.0 * t - 1.0;
  let half = 0.5 * t * exp(-z * z + ${horner('s', ERFC_P)});
  let central = 0.5 + x * ${horner('x * x', PHI_SERIES)};
  return select(select(half, 1.0 - half, x > T(0.0)), central, abs(x) < T(1.0));
}`;

// ----- gelu's tanh form (PyTorch approximate='tanh'), 0.5·x·(1 + tanh u) with
// u = √(2/π)(x + 0.044715x³), written as x·σ(2u) since (1 + tanh u)/2 = 1/(1 + e^{-2u}): only exp,
// which saturates cleanly where tanh (unspecified in WGSL near ±1) might stop a ulp short, also
// when x³ overflows (|x| > 1e12). Its derivative is σ(2u) + x·u'·(1 - tanh² u)/2 with
// (1 - tanh² u)/2 = 2/(2 + e^{2u} + e^{-2u}): no 1 - σ cancelling. Past |x| = 20 that term is
// exactly 0 and σ exactly 0 or 1, so x is clamped there, keeping x² and u finite (no 0·∞).
const GELU_K = Math.sqrt(2 / Math.PI);
const GELU_TANH = /* wgsl */ `
fn geluTanh2u(x: T) -> T {
  return ${2 * GELU_K} * (x + 0.044715 * x * x * x);
}
fn geluTanhGrad(x: T) -> T {
  let xc = clamp(x, T(-20.0), T(20.0));
  let u2 = geluTanh2u(xc);
  return 1.0 / (1.0 + exp(-u2)) + ${2 * GELU_K} * xc * (1.0 + ${3 * 0.044715} * xc * xc) / (2.0 + exp(u2) + exp(-u2));
}`;

// ----- sin(x + q·π/2). k = round(x·2/π) and r = x - k·π/2, with π/2 split into float32 parts
// (Cody and Waite): the first three of 8 significant bits, so k·part is exact for |k| < 2^16 and
// each subtraction exact, the fourth the next 24 bits; r is then good to ~1e-9 for |x| < 1e5.
// The order of the subtractions matters; a compiler that reassociated them would lose it.
// Past |k| = 2^16 (|x| > 1.03e5) the products round and r's error grows with |x| (about
// 4e-8·|x|), still the better reduction while k is a whole float32; from |k| = 2^23 (|x| > 1.3e7)
// it drifts without bound (sin(1e9) gave 516100, sin(1e15) ∞), so there x is first taken into
// [-π, π) as 2π·fract(x/2π) - π, the π taken off made up by q + 2: bounded for every finite x,
// but only as good as x/2π's rounding, about |x|·2^-23 radians (PyTorch reduces exactly, by
// Payne and Hanek's method, which float32 alone cannot afford). ±∞ and NaN give NaN, as
// Math.sin, selected from the bits.
// sin and cos of r in [-π/4, π/4] by their Taylor series to r^9 and r^10 (truncation < 4e-9).
function halfPiParts(): number[] {
  const parts: number[] = [];
  let rest = Math.PI / 2;
  for (let k = 0; k < 3; k++) {
    const scale = 2 ** (7 - Math.floor(Math.log2(rest)));
    parts.push(Math.trunc(rest * scale) / scale);
    rest -= parts[k];
  }
  return [...parts, Math.fround(rest)];
}
const [C1, C2, C3, C4] = halfPiParts();
const SIN_TAYLOR = [1, 3, 5, 7, 9].map((n, k) => (k % 2 ? -1 : 1) / factorial(n));
const COS_TAYLOR = [0, 2, 4, 6, 8, 10].map((n, k) => (k % 2 ? -1 : 1) / factorial(n));
const SIN_QUARTER = /* wgsl */ `
fn sinQuarter(x0: T, q0: f32) -> T {
  let far = abs(round(x0 * ${2 / Math.PI})) >= T(8388608.0);
  let x = select(x0, fract(x0 * ${1 / (2 * Math.PI)}) * ${2 * Math.PI} - ${Math.PI}, far);
  let q = T(q0) + select(T(0.0), T(2.0), far);
  let k = round(x * ${2 / Math.PI});
  let r = (((x - k * ${C1}) - k * ${C2}) - k * ${C3}) - k * ${C4};
  let r2 = r * r;
  let s = r * ${horner('r2', SIN_TAYLOR)};
  let c = ${horner('r2', COS_TAYLOR)};
  let m = (k + q) - 4.0 * floor((k + q) * 0.25);
  // Clamped: near |x| = 1e7 the reduced r strays a few ulp past π/4, and the series past 1.
  let v = clamp(select(s, c, (m == T(1.0)) | (m == T(3.0))), T(-1.0), T(1.0));
  return select(select(v, -v, m >= T(2.0)), T(params.nan), ${isNonFinite('x0')});
}`;

/**
 * log(1 + x) for x in [-0.5, 1], to float32's relative accuracy at every size of x. WGSL's log is
 * only accurate to 2^-21 absolute near 1, so log(1 + x) (and Goldberg's correction of it) lost
 * the small x that decide a confident prediction's loss: on lavapipe bceWithLogits at |z| = 15
 * was 17% off, bceLoss at p = 1e-6 2.6%. Instead 2 atanh(s), s = x / (2 + x), |s| <= 1/3, by its
 * odd series to s^17 (the next term is below 1e-9 of the sum). Plain f32, no params: the
 * losses' kernels take it (log1pT above is the element-wise op's, for any T, with its specials).
 */
export const LOG1P_NEAR = /* wgsl */ `
fn log1pNear(x: f32) -> f32 {
  let s = x / (2.0 + x);
  let s2 = s * s;
  return 2.0 * s * (1.0 + s2 * (${1 / 3} + s2 * (${1 / 5} + s2 * (${1 / 7} + s2 * (${1 / 9} + s2 * (${1 / 11} + s2 * (${1 / 13} + s2 * (${1 / 15} + s2 * ${1 / 17}))))))));
}`;

/**
 * log(1 + r) for r >= 0 at float32's relative accuracy: log1pNear up to r = 1, log beyond, where
 * 1 + r >= 2 keeps log's relative accuracy. A log-sum-exp's log s, s = 1 + r with r the sum of
 * the terms below the row's max, is this of r: the max's own term, exactly 1, is left out of the
 * sum, which would otherwise round r away when it is below 2^-24.
 */
export const LOG_ONE_PLUS = /* wgsl */ `${LOG1P_NEAR}
fn logOnePlus(r: f32) -> f32 {
  return select(log(1.0 + r), log1pNear(r), r <= 1.0);
}`;

// ----- log1p(x) = log(u), u = 1 + x: near 1 (u in [√½, √2)) it is 2 atanh(s) with s = x/(2 + x),
// straight from x; elsewhere u = m·2^e with m in [√½, √2) (frexp) and s = (m - 1)/(m + 1), whose
// rounding of 1 + x costs at most 1.7e-7 relative since |log u| > 0.34 there. (A correction
// (x - (u - 1))/u instead would not survive: a compiler may fold (1 + x) - 1 to x, and lavapipe's
// does.) atanh by its series to s^11, |s| < 0.172: truncation < 1e-10.
// u <= 0, u = ∞ and NaN are selected: -∞ at -1, NaN below, ∞, NaN.
export const LOG1P = /* wgsl */ `
fn log1pT(x: T) -> T {
  let u = 1.0 + x;
  let fe = frexp(u);
  let low = fe.fract < T(${Math.SQRT1_2});
  let m = select(fe.fract, 2.0 * fe.fract, low);
  let near = (u >= T(${Math.SQRT1_2})) & (u < T(${Math.SQRT2}));
  let e = select(T(fe.exp) - select(T(0.0), T(1.0), low), T(0.0), near);
  let s = select((m - 1.0) / (m + 1.0), x / (2.0 + x), near);
  let y = e * ${Math.LN2} + 2.0 * s * ${horner('s * s', [1, 1 / 3, 1 / 5, 1 / 7, 1 / 9, 1 / 11])};
  let special = select(T(params.nan), T(-params.inf), u == T(0.0));
  return select(select(select(y, T(params.inf), ${isInf('u')}), special, u <= T(0.0)), x, ${isNan('x')});
}`;

// ----- expm1: below |x| = 1, exp(x) - 1 would cancel (up to 3.4x exp's error at 0.35), so the
// Taylor series to x^12 (truncation < 2e-10 relative); above, exp(x) - 1 costs at most 1.6x exp's.
export const EXPM1 = /* wgsl */ `
fn expm1T(x: T) -> T {
  let series = x * ${horner('x', Array.from({ length: 12 }, (_, n) => 1 / factorial(n + 1)))};
  return select(exp(x) - 1.0, series, abs(x) < T(1.0));
}`;

// ----- tanh: WGSL's built-in is specified only as sinh/cosh, and lavapipe's cancels near 0
// (tanh(1e-7) gave 1.19e-7, tanh(1e-30) 3e-8: an absolute error of ~6e-8 wherever |x| < 0.03).
// tanh|x| = -e/(e + 2) with e = expm1(-2|x|) in (-1, 0]: relative accuracy from expm1 near 0, no
// overflow for any x (e reaches -1 and the quotient 1), and the sign copied from x's bits so
// tanh(-0) = -0. NaN is passed through from its bits. (At x = +0 the magnitude is -e/2 with e =
// expm1(-0): should an adapter give -0 there, tanh(+0) comes out -0, which compares equal. An
// abs() on the magnitude before the bitcast gave wrong values on lavapipe's scalar path: 0.46 came
// out as 2.4e-38.)
export const TANH = /* wgsl */ `${EXPM1}
fn tanhT(x: T) -> T {
  let e = expm1T(-2.0 * abs(x));
  let t = bitcast<T>(bitcast<U>(-e / (e + 2.0)) | (bitcast<U>(x) & U(0x80000000u)));
  return select(t, x, ${isNan('x')});
}`;

const MATH = {
  pow: { forward: 'powScalar(x, c)', backward: 'select(dy * c * powScalar(x, c - 1.0), T(0.0), c == 0.0)', saves: 'x', param: 'exponent', wgsl: POW },
  // 1/sqrt(x): WGSL's inverseSqrt is undefined at 0, where this gives +inf as PyTorch.
  rsqrt: { forward: 'select(1.0 / sqrt(x), T(params.nan), x < T(0.0))', backward: 'dy * -0.5 * y * y * y', saves: 'y' },
  reciprocal: { forward: '1.0 / x', backward: '-dy * y * y', saves: 'y' },
  gelu: { forward: 'x * normalCdf(x)', backward: `dy * (normalCdf(x) + x * ${1 / Math.sqrt(2 * Math.PI)} * exp(-0.5 * x * x))`, saves: 'x', wgsl: NORMAL_CDF },
  geluTanh: { forward: 'x / (1.0 + exp(-geluTanh2u(x)))', backward: 'dy * geluTanhGrad(x)', saves: 'x', wgsl: GELU_TANH },
  sin: { forward: 'sinQuarter(x, 0.0)', backward: 'dy * sinQuarter(x, 1.0)', saves: 'x', wgsl: SIN_QUARTER },
  cos: { forward: 'sinQuarter(x, 1.0)', backward: '-dy * sinQuarter(x, 0.0)', saves: 'x', wgsl: SIN_QUARTER },
  // -1, 0 or 1; ±0 and NaN pass through (NumPy's and JavaScript's sign; PyTorch's gives 0 for NaN).
  sign: { forward: 'select(select(x, T(-1.0), x < T(0.0)), T(1.0), x > T(0.0))', backward: 'T(0.0)', saves: 'x' },
  floor: { forward: 'floor(x)', backward: 'T(0.0)', saves: 'x' },
  // WGSL's round and PyTorch's both round half to even.
  round: { forward: 'round(x)', backward: 'T(0.0)', saves: 'x' },
  log1p: { forward: 'log1pT(x)', backward: 'dy / (1.0 + x)', saves: 'x', wgsl: LOG1P },
  expm1: { forward: 'expm1T(x)', backward: 'dy * (y + 1.0)', saves: 'y', wgsl: EXPM1 },
} as const satisfies Record<string, UnaryDef>;

// ----- maximum, minimum and comparisons, over a and b (or x and the number c).
/** max(a, b) (min for op '<'), and a NaN operand where there is one: WGSL's max may return the other. */
const larger = (a: string, b: string, op: '>' | '<'): string =>
  `select(select(select(${b}, ${a}, ${a} ${op} ${b}), ${a}, ${isNan(a)}), ${b}, ${isNan(b)})`;
/** a's share of maximum(a, b)'s gradient: 1 unless a < b, half on a tie (NaN takes all, as PyTorch). */
const share = (a: string, b: string): string => `select(select(T(1.0), T(0.5), ${a} == ${b}), T(0.0), ${a} < ${b})`;

export const COMPARISONS = { greater: '>', greaterEqual: '>=', less: '<', lessEqual: '<=', equal: '==', notEqual: '!=' } as const;
export type ComparisonOp = keyof typeof COMPARISONS;
/** 1 where it holds, else 0: false beside a NaN (notEqual true), tested from the bits, not left to the compiler. */
const holds = (op: ComparisonOp, a: string, b: string): string => {
  const nan = `(${isNan(a)} | ${isNan(b)})`;
  const test = op === 'notEqual' ? `!(${a} == ${b}) | ${nan}` : `(${a} ${COMPARISONS[op]} ${b}) & !${nan}`;
  return `select(T(0.0), T(1.0), ${test})`;
};
const comparisonOps = Object.keys(COMPARISONS) as ComparisonOp[];

const AGAINST_NUMBER = {
  maximumScalar: { forward: larger('x', 'T(c)', '>'), backward: `dy * ${share('x', 'T(c)')}`, saves: 'x', param: 'other' },
  minimumScalar: { forward: larger('x', 'T(c)', '<'), backward: `dy * ${share('T(c)', 'x')}`, saves: 'x', param: 'other' },
  ...(Object.fromEntries(comparisonOps.map((op) => [`${op}Scalar`, { forward: holds(op, 'x', 'T(c)'), backward: 'T(0.0)', saves: 'x', param: 'other' }])) as Record<
    `${ComparisonOp}Scalar`,
    UnaryDef
  >),
} satisfies Record<string, UnaryDef>;

export const UNARY_MORE = { ...MATH, ...AGAINST_NUMBER };
export type MoreUnaryOp = keyof typeof UNARY_MORE;
/** The ops of MATH: each a public op of its own (the rest serve maximum, minimum and comparisons). */
export const MATH_OPS = Object.keys(MATH) as (keyof typeof MATH)[];

export const BINARY_MORE = {
  maximum: larger('a', 'b', '>'),
  minimum: larger('a', 'b', '<'),
  /** a's share of maximum(a, b)'s gradient; minimum's is tieShare(b, a). */
  tieShare: share('a', 'b'),
  ...(Object.fromEntries(comparisonOps.map((op) => [op, holds(op, 'a', 'b')])) as Record<ComparisonOp, string>),
};
export type MoreBinaryOp = keyof typeof BINARY_MORE;
