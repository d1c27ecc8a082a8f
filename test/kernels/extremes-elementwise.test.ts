// Element-wise ops at the edges of float32, against float64 references rounded to float32: ±88
// and ±89 (exp's overflow is between them), ±100, ±1e4, ±20, values near 0 (±1e-7, 1e-20, where
// log1p and expm1 matter), ±0 and subnormals (±1e-40). Each op's forward and gradient must be
// the float32 rounding of the true value: the same infinity or NaN where that is not finite, and
// within the tolerances below where it is.
//
// WGSL lets an adapter flush subnormals to zero. Where it does (abs(1e-40) reads back 0), a
// subnormal input is taken as the zero of its sign. Tolerances: atol 1e-36, since a result that
// small may be lost where a formula's exp overflows (silu's x / (1 + e^-x) is -0 at x = -89 for
// -2e-37, as PyTorch's float32 silu); rtol by op and argument, from WGSL's accuracy rules:
//   1e-6 (16 ulp, 6e-8 each): log, sqrt, rsqrt, tanh, sigmoid, softplus, silu, elu, gelu, log1p,
//     expm1 below 1: WGSL's log is good to 3 ulp, the composites add a few roundings.
//   (3 + 2|x|) ulp for exp, and expm1 from 1 (exp(x) - 1): WGSL's bound for exp; lavapipe's
//     exp(88) is 1.7e-6 (14 ulp) off, inside its 179.
//   (3 + 2|p·log2 x|) ulp for pow(x, p), WGSL's exp2(p·log2 x) bound; its gradient likewise with
//     p − 1 (measured 4e-6 at x = 1e-20, p = 2.5, where p·log2 x = 100).
// Gradients the ops take from their float32 output y, as PyTorch's do (sigmoid y(1 − y), tanh
// 1 − y², expm1 y + 1), are compared with that formula on the float32 y: both frameworks give
// sigmoid'(20) = 0 (y rounds to 1) where the true value is 2e-9.
// Before the fix in elementwise-math.ts (logT, and powScalar's scaling), lavapipe's log(1e-40) gave
// -88.02 (the log of 2^-127) for -92.10, and pow(1e-40, 0.5) 7.7e-20 for 1e-20.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { unaryRef } from '../../src/reference/elementwise.js';
import { fromNd, useGpu } from '../helpers/gpu.js';

useGpu();

const SMALLEST_NORMAL = 2 ** -126;
const VALUES = [88, -88, 89, -89, 100, -100, 1e4, -1e4, 20, -20, 1, -1, 1e-7, -1e-7, 1e-20, 0, -0, 1e-40, -1e-40, 3e-39];

const ULP = 2 ** -23;
const FIXED = (): number => 1e-6;
const EXP = (x: number): number => Math.max(1e-6, (3 + 2 * Math.abs(x)) * ULP);
const POW = (p: number) => (x: number): number => (x === 0 ? 1e-6 : Math.max(1e-6, (3 + 2 * Math.abs(p * Math.log2(Math.abs(x)))) * ULP));

interface Op {
  name: string;
  op: string;
  c: number;
  run: (x: dn.Tensor) => dn.Tensor;
  /** rtol of the forward and of the gradient at x. */
  rtol: (x: number) => number;
  gradRtol?: (x: number) => number;
  /** The gradient from the float32 output y, for ops whose backward reads y. */
  fromY?: (y: number) => number;
}

const OPS: Op[] = [
  { name: 'exp', op: 'exp', c: 0, run: dn.exp, rtol: EXP },
  { name: 'log', op: 'log', c: 0, run: dn.log, rtol: FIXED },
  { name: 'sqrt', op: 'sqrt', c: 0, run: dn.sqrt, rtol: FIXED },
  { name: 'rsqrt', op: 'rsqrt', c: 0, run: dn.rsqrt, rtol: FIXED },
  { name: 'tanh', op: 'tanh', c: 0, run: dn.tanh, rtol: FIXED, fromY: (y) => 1 - y * y },
  { name: 'sigmoid', op: 'sigmoid', c: 0, run: dn.sigmoid, rtol: FIXED, fromY: (y) => y * (1 - y) },
  { name: 'softplus', op: 'softplus', c: 0, run: dn.softplus, rtol: FIXED },
  { name: 'silu', op: 'silu', c: 0, run: dn.silu, rtol: FIXED },
  { name: 'elu', op: 'elu', c: 1, run: (x) => dn.elu(x), rtol: FIXED },
  { name: 'gelu', op: 'gelu', c: 0, run: (x) => dn.gelu(x), rtol: FIXED },
  { name: 'gelu tanh', op: 'geluTanh', c: 0, run: (x) => dn.gelu(x, { approximate: 'tanh' }), rtol: FIXED },
  { name: 'log1p', op: 'log1p', c: 0, run: dn.log1p, rtol: FIXED },
  { name: 'expm1', op: 'expm1', c: 0, run: dn.expm1, rtol: EXP, fromY: (y) => y + 1 },
  ...[2.5, 0.5, -1, 3, -0.5].map((p): Op => ({ name: `pow ${p}`, op: 'pow', c: p, run: (x) => dn.pow(x, p), rtol: POW(p), gradRtol: POW(p - 1) })),
];

/** The float32 the true value rounds to (JavaScript's numbers are float64). */
const rounded = (v: number): number => Math.fround(v);

/** Entries that differ: non-finite wants must be matched exactly; finite ones within atol 1e-36 + rtol(x)·|want|. */
function mismatches(got: ArrayLike<number>, want: number[], rtol: (x: number) => number, inputs: number[]): string[] {
  const bad: string[] = [];
  want.forEach((w, i) => {
    const g = got[i];
    const ok = Number.isFinite(w) ? Math.abs(g - w) <= 1e-36 + rtol(inputs[i]) * Math.abs(w) : Object.is(g, w) || (Number.isNaN(g) && Number.isNaN(w));
    if (!ok) bad.push(`x = ${inputs[i]}: got ${g}, want ${w}`);
  });
  return bad;
}

describe('element-wise ops at the edges of float32', () => {
  it('forward and gradient are the float32 rounding of the float64 value', async () => {
    const probe = fromNd([1e-40], [1]);
    const absProbe = dn.abs(probe);
    const flushes = (await absProbe.toArray())[0] === 0;
    probe.dispose();
    absProbe.dispose();
    // What the kernels see: float32 inputs, subnormals as signed zeros where the adapter flushes them.
    const seen = VALUES.map((v) => {
      const f = Math.fround(v);
      return flushes && Math.abs(f) < SMALLEST_NORMAL ? (Object.is(f, -0) || f < 0 ? -0 : 0) : f;
    });
    const failures: string[] = [];
    for (const o of OPS) {
      const { f, df } = unaryRef[o.op];
      const x = fromNd(VALUES, [VALUES.length], true);
      const y = o.run(x);
      const ones = fromNd(new Array<number>(VALUES.length).fill(1), [VALUES.length]);
      y.backward(ones);
      const [out, grad] = [await y.toArray(), await x.grad!.toArray()];
      for (const t of [x, y, ones]) t.dispose();
      const wantY = seen.map((v) => rounded(f(v, o.c)));
      // At ±0 a gradient's infinity has a sign by convention only (rsqrt's -0.5·y³ is +inf at -0 in
      // PyTorch, the reference's -0.5/x^1.5 -inf): those are checked for being infinite, not for the sign.
      const wantG = seen.map((v, i) => rounded(o.fromY ? o.fromY(Math.fround(out[i])) : df(v, o.c)));
      const gradGot = Array.from(grad, (g, i) => (seen[i] === 0 && !Number.isFinite(wantG[i]) && Math.abs(g) === Infinity ? wantG[i] : g));
      failures.push(...mismatches(out, wantY, o.rtol, VALUES).map((m) => `${o.name} forward ${m}`));
      failures.push(...mismatches(gradGot, wantG, o.gradRtol ?? o.rtol, VALUES).map((m) => `${o.name} gradient ${m}`));
    }
    expect(failures, `flushes subnormals: ${flushes}`).toEqual([]);
  });
});
