// CPU references (float64) for the ops of kernels/elementwise-math.ts and kernels/where.ts: the
// specification, written from the definitions, not from the kernels' approximations.

import { ndZeros, type NdArray } from './array.js';

/**
 * erfc(z) to ~1e-15 relative: the Maclaurin series of erf below 1.5 (alternating terms up to
 * 2.25^n / n!, so no digits are lost), Laplace's continued fraction
 *   erfc(z) = e^{-z²}/√π · 1/(z + (1/2)/(z + 1/(z + (3/2)/(z + ...))))
 * from 1.5 up, evaluated bottom-up from depth 160 (converged to double precision at z = 1.5).
 */
export function erfc(z: number): number {
  if (Number.isNaN(z)) return NaN;
  if (z < 0) return 2 - erfc(-z);
  if (z === Infinity) return 0;
  if (z < 1.5) {
    let term = z;
    let sum = z;
    for (let n = 1; n < 60; n++) {
      term *= (-z * z) / n;
      sum += term / (2 * n + 1);
    }
    return 1 - (2 / Math.sqrt(Math.PI)) * sum;
  }
  let f = z;
  for (let k = 160; k >= 1; k--) f = z + k / 2 / f;
  return Math.exp(-z * z) / Math.sqrt(Math.PI) / f;
}

export const erf = (z: number): number => 1 - erfc(z);
/** The standard normal CDF, from erfc so that its lower tail keeps its digits. */
export const normalCdf = (x: number): number => 0.5 * erfc(-x / Math.SQRT2);
const normalPdf = (x: number): number => Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);

const GELU_K = Math.sqrt(2 / Math.PI);
const geluTanhInner = (x: number): number => Math.tanh(GELU_K * (x + 0.044715 * x ** 3));
/** (1 + tanh u)/2 as 1/(1 + e^{-2u}): equal, and it keeps its digits where tanh u is near -1. */
const geluTanhHalf = (x: number): number => 1 / (1 + Math.exp(-2 * GELU_K * (x + 0.044715 * x ** 3)));

/** Round half to even (JavaScript's Math.round rounds halves up). */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** maximum(a, b) with NaN propagated, and a's share of its gradient (PyTorch: half on a tie). */
const larger = (a: number, b: number): number => (Number.isNaN(a) || Number.isNaN(b) ? NaN : a > b ? a : b);
const smaller = (a: number, b: number): number => (Number.isNaN(a) || Number.isNaN(b) ? NaN : a < b ? a : b);
export const tieShare = (a: number, b: number): number => (a < b ? 0 : a === b ? 0.5 : 1);

type Fn = (x: number, c: number) => number;
const zero: Fn = () => 0;

export const unaryRefMore: Record<string, { f: Fn; df: Fn }> = {
  // JavaScript's Math.pow has C's special values, which PyTorch's pow follows.
  pow: { f: (x, p) => Math.pow(x, p), df: (x, p) => (p === 0 ? 0 : p * Math.pow(x, p - 1)) },
  rsqrt: { f: (x) => 1 / Math.sqrt(x), df: (x) => -0.5 / (x * Math.sqrt(x)) },
  reciprocal: { f: (x) => 1 / x, df: (x) => -1 / (x * x) },
  gelu: { f: (x) => x * normalCdf(x), df: (x) => normalCdf(x) + x * normalPdf(x) },
  geluTanh: {
    f: (x) => x * geluTanhHalf(x),
    df: (x) => {
      const t = geluTanhInner(x);
      return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * GELU_K * (1 + 3 * 0.044715 * x * x);
    },
  },
  sin: { f: Math.sin, df: Math.cos },
  cos: { f: Math.cos, df: (x) => -Math.sin(x) },
  sign: { f: (x) => (x > 0 ? 1 : x < 0 ? -1 : x), df: zero },
  floor: { f: Math.floor, df: zero },
  round: { f: roundHalfEven, df: zero },
  log1p: { f: Math.log1p, df: (x) => 1 / (1 + x) },
  expm1: { f: Math.expm1, df: Math.exp },
  maximumScalar: { f: larger, df: tieShare },
  minimumScalar: { f: smaller, df: (x, c) => tieShare(c, x) },
};

const compareFns: Record<string, (a: number, b: number) => boolean> = {
  greater: (a, b) => a > b,
  greaterEqual: (a, b) => a >= b,
  less: (a, b) => a < b,
  lessEqual: (a, b) => a <= b,
  equal: (a, b) => a === b,
  notEqual: (a, b) => a !== b,
};

const binaryMoreFns: Record<string, (a: number, b: number) => number> = {
  maximum: larger,
  minimum: smaller,
  ...Object.fromEntries(Object.entries(compareFns).map(([op, holds]) => [op, (a: number, b: number) => (holds(a, b) ? 1 : 0)])),
};

/** The larger of two shapes under suffix broadcasting (the caller has checked they broadcast). */
const outShape = (...shapes: number[][]): number[] =>
  shapes.reduce((big, s) => (s.reduce((p, d) => p * d, 1) > big.reduce((p, d) => p * d, 1) ? s : big));

/** maximum, minimum and the comparisons, with suffix broadcasting (i modulo each size). */
export function binaryMoreForwardRef(op: string, a: NdArray, b: NdArray): NdArray {
  const out = ndZeros(outShape(a.shape, b.shape));
  for (let i = 0; i < out.data.length; i++) out.data[i] = binaryMoreFns[op](a.data[i % a.data.length], b.data[i % b.data.length]);
  return out;
}

/** maximum's and minimum's gradients: the winner takes dy, a tie half each, summed over broadcasts. */
export function maximumBackwardRef(op: 'maximum' | 'minimum', a: NdArray, b: NdArray, dy: NdArray): [NdArray, NdArray] {
  const da = ndZeros(a.shape);
  const db = ndZeros(b.shape);
  for (let i = 0; i < dy.data.length; i++) {
    const [ia, ib] = [i % a.data.length, i % b.data.length];
    const [av, bv] = [a.data[ia], b.data[ib]];
    da.data[ia] += dy.data[i] * (op === 'maximum' ? tieShare(av, bv) : tieShare(bv, av));
    db.data[ib] += dy.data[i] * (op === 'maximum' ? tieShare(bv, av) : tieShare(av, bv));
  }
  return [da, db];
}

/** A where operand: an array or a number. */
export type WhereOperand = NdArray | number;
const at = (v: WhereOperand, i: number): number => (typeof v === 'number' ? v : v.data[i % v.data.length]);

/** out[i] = cond[i] != 0 ? a[i] : b[i], each operand at i modulo its size (NaN is nonzero). */
export function whereRef(cond: NdArray, a: WhereOperand, b: WhereOperand): NdArray {
  const shapes = [cond, a, b].filter((v): v is NdArray => typeof v !== 'number').map((v) => v.shape);
  const out = ndZeros(outShape(...shapes));
  for (let i = 0; i < out.data.length; i++) out.data[i] = at(cond, i) !== 0 ? at(a, i) : at(b, i);
  return out;
}

/** where's gradients to a and b (of the given shapes): dy where cond picks them, summed. */
export function whereBackwardRef(cond: NdArray, aShape: number[], bShape: number[], dy: NdArray): [NdArray, NdArray] {
  const da = ndZeros(aShape);
  const db = ndZeros(bShape);
  for (let i = 0; i < dy.data.length; i++) {
    if (at(cond, i) !== 0) da.data[i % da.data.length] += dy.data[i];
    else db.data[i % db.data.length] += dy.data[i];
  }
  return [da, db];
}
