// CPU references for element-wise and reduction ops (float64).

import { nd, ndZeros, type NdArray } from './array.js';
import { unaryRefMore } from './elementwise-more.js';

type Fn = (x: number, c: number) => number;

export const unaryRef: Record<string, { f: Fn; df: Fn }> = {
  // A NaN input gives NaN (Math.max propagates it) and passes the gradient, as PyTorch's relu, whose
  // backward zeroes dy only where its output is <= 0.
  relu: { f: (x) => Math.max(x, 0), df: (x) => (x > 0 || Number.isNaN(x) ? 1 : 0) },
  sigmoid: { f: (x) => 1 / (1 + Math.exp(-x)), df: (x) => { const s = 1 / (1 + Math.exp(-x)); return s * (1 - s); } },
  tanh: { f: Math.tanh, df: (x) => 1 - Math.tanh(x) ** 2 },
  exp: { f: Math.exp, df: Math.exp },
  log: { f: Math.log, df: (x) => 1 / x },
  neg: { f: (x) => -x, df: () => -1 },
  square: { f: (x) => x * x, df: (x) => 2 * x },
  sqrt: { f: Math.sqrt, df: (x) => 0.5 / Math.sqrt(x) },
  scale: { f: (x, c) => x * c, df: (_x, c) => c },
  addScalar: { f: (x, c) => x + c, df: () => 1 },
  leakyRelu: { f: (x, c) => (x > 0 ? x : c * x), df: (x, c) => (x > 0 ? 1 : c) },
  clampMin: { f: (x, c) => Math.max(x, c), df: (x, c) => (x >= c ? 1 : 0) },
  clampMax: { f: (x, c) => Math.min(x, c), df: (x, c) => (x <= c ? 1 : 0) },
  abs: { f: Math.abs, df: (x) => Math.sign(x) },
  softplus: { f: (x) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x))), df: (x) => 1 / (1 + Math.exp(-x)) },
  silu: { f: (x) => x / (1 + Math.exp(-x)), df: (x) => { const s = 1 / (1 + Math.exp(-x)); return s * (1 + x * (1 - s)); } },
  elu: { f: (x, c) => (x > 0 ? x : c * Math.expm1(x)), df: (x, c) => (x > 0 ? 1 : c * Math.exp(x)) },
  rsubScalar: { f: (x, c) => c - x, df: () => -1 },
  divScalar: { f: (x, c) => x / c, df: (_x, c) => 1 / c },
  rdivScalar: { f: (x, c) => c / x, df: (x, c) => -c / (x * x) },
  // pow, gelu, sin, ..., maximum/minimum against a number: elementwise-more.ts.
  ...unaryRefMore,
};

export function unaryForwardRef(op: string, x: NdArray, c = 0): NdArray {
  return nd(x.data.map((v) => unaryRef[op].f(v, c)), x.shape);
}

export function unaryBackwardRef(op: string, x: NdArray, dy: NdArray, c = 0): NdArray {
  return nd(x.data.map((v, i) => unaryRef[op].df(v, c) * dy.data[i]), x.shape);
}

const binaryFns: Record<string, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
};

/** Suffix broadcasting: the smaller operand repeats along the larger one's leading dimensions. */
export function binaryForwardRef(op: string, a: NdArray, b: NdArray): NdArray {
  const out = a.data.length >= b.data.length ? ndZeros(a.shape) : ndZeros(b.shape);
  for (let i = 0; i < out.data.length; i++) {
    out.data[i] = binaryFns[op](a.data[i % a.data.length], b.data[i % b.data.length]);
  }
  return out;
}

export function binaryBackwardRef(op: string, a: NdArray, b: NdArray, dy: NdArray): [NdArray, NdArray] {
  const da = ndZeros(a.shape);
  const db = ndZeros(b.shape);
  for (let i = 0; i < dy.data.length; i++) {
    const ia = i % a.data.length;
    const ib = i % b.data.length;
    const av = a.data[ia];
    const bv = b.data[ib];
    const g = dy.data[i];
    if (op === 'add') { da.data[ia] += g; db.data[ib] += g; }
    if (op === 'sub') { da.data[ia] += g; db.data[ib] -= g; }
    if (op === 'mul') { da.data[ia] += g * bv; db.data[ib] += g * av; }
    if (op === 'div') { da.data[ia] += g / bv; db.data[ib] -= (g * av) / (bv * bv); }
  }
  return [da, db];
}

/** Sum over the given axes (all when omitted), dropping them. */
export function sumRef(x: NdArray, axes?: number[]): NdArray {
  const ax = axes ?? x.shape.map((_, i) => i);
  const outShape = x.shape.filter((_, i) => !ax.includes(i));
  const out = ndZeros(outShape);
  const strides = x.shape.map((_, i) => x.shape.slice(i + 1).reduce((p, d) => p * d, 1));
  for (let i = 0; i < x.data.length; i++) {
    let o = 0;
    for (let d = 0; d < x.shape.length; d++) {
      if (ax.includes(d)) continue;
      o = o * x.shape[d] + (Math.floor(i / strides[d]) % x.shape[d]);
    }
    out.data[o] += x.data[i];
  }
  return out;
}

/**
 * sum's backward: dy (the sum's shape, reduced axes dropped or kept as 1) repeated over the
 * reduced axes, times `scale` (1 / count for mean).
 */
export function sumBackwardRef(xShape: number[], dy: NdArray, axes?: number[], scale = 1): NdArray {
  // Negative axes count from the end, as the op takes them.
  const ax = (axes ?? xShape.map((_, i) => i)).map((a) => (a < 0 ? a + xShape.length : a));
  const dx = ndZeros(xShape);
  const strides = xShape.map((_, i) => xShape.slice(i + 1).reduce((p, d) => p * d, 1));
  for (let i = 0; i < dx.data.length; i++) {
    let o = 0;
    for (let d = 0; d < xShape.length; d++) {
      if (ax.includes(d)) continue;
      o = o * xShape[d] + (Math.floor(i / strides[d]) % xShape[d]);
    }
    dx.data[i] = dy.data[o] * scale;
  }
  return dx;
}
