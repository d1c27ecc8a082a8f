import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { UNARY, type UnaryOp } from '../../src/kernels/elementwise.js';
import { nd } from '../../src/reference/array.js';
import {
  binaryBackwardRef,
  binaryForwardRef,
  unaryBackwardRef,
  unaryForwardRef,
} from '../../src/reference/elementwise.js';
import { expectClose } from '../helpers/close.js';
import { checkGrad } from '../helpers/finite-diff.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { awayFromZero, uniform } from '../helpers/rng.js';

useGpu();

const UNARY_CASES = [
  { op: 'relu', shape: [2, 3, 5, 7] },
  { op: 'sigmoid', shape: [1000] },
  { op: 'tanh', shape: [3, 17] },
  { op: 'exp', shape: [257] },
  { op: 'log', shape: [5, 5], positive: true },
  { op: 'neg', shape: [9] },
  { op: 'square', shape: [4, 4] },
  { op: 'sqrt', shape: [33], positive: true },
  { op: 'scale', shape: [65], c: -2.5 },
  { op: 'addScalar', shape: [3, 3], c: 0.75 },
  { op: 'leakyRelu', shape: [2, 50], c: 0.1 },
  { op: 'clampMin', shape: [5, 3], c: -0.3 },
  { op: 'clampMax', shape: [9], c: 0.4 },
  { op: 'abs', shape: [5, 3] },
  { op: 'softplus', shape: [41] },
  { op: 'silu', shape: [3, 11] },
  { op: 'elu', shape: [19], c: 0.7 },
  { op: 'rsubScalar', shape: [7], c: 1.5 },
  { op: 'divScalar', shape: [3, 5], c: -0.8 },
  { op: 'rdivScalar', shape: [11], c: 2.5, positive: true },
  // Sizes a multiple of 4 run four elements per thread (vec4): every op in that kernel too.
  { op: 'relu', shape: [2, 4, 5, 6] },
  { op: 'sigmoid', shape: [999] },
  { op: 'tanh', shape: [3, 16] },
  { op: 'exp', shape: [256] },
  { op: 'log', shape: [5, 4], positive: true },
  { op: 'neg', shape: [8] },
  { op: 'square', shape: [3, 3] },
  { op: 'sqrt', shape: [32], positive: true },
  { op: 'scale', shape: [64], c: -2.5 },
  { op: 'addScalar', shape: [3, 4], c: 0.75 },
  { op: 'leakyRelu', shape: [2, 49], c: 0.1 },
  { op: 'clampMin', shape: [4, 3], c: -0.3 },
  { op: 'clampMax', shape: [8], c: 0.4 },
  { op: 'abs', shape: [4, 3] },
  { op: 'softplus', shape: [40] },
  { op: 'silu', shape: [3, 12] },
  { op: 'elu', shape: [20], c: 0.7 },
  { op: 'rsubScalar', shape: [8], c: 1.5 },
  { op: 'divScalar', shape: [4, 5], c: -0.8 },
  { op: 'rdivScalar', shape: [12], c: 2.5, positive: true },
] as const satisfies readonly { op: UnaryOp; shape: number[]; c?: number; positive?: boolean }[];

describe('unary ops', () => {
  it('every unary op has a case', () => {
    expect(new Set(UNARY_CASES.map((c) => c.op))).toEqual(new Set(Object.keys(UNARY)));
  });

  for (const [k, cs] of UNARY_CASES.entries()) {
    const c = 'c' in cs ? cs.c : 0;
    const n = cs.shape.reduce((p, d) => p * d, 1);
    // Positive inputs (0.1..2) for log/sqrt; elsewhere values kept away from ReLU's kink.
    const x = 'positive' in cs ? uniform(n, 10 + k, 0.1, 2) : awayFromZero(n, 10 + k);
    const dy = uniform(n, 100 + k);

    it(`${cs.op} ${JSON.stringify(cs.shape)}: CPU backward matches finite differences`, () => {
      const analytic = unaryBackwardRef(cs.op, nd(x, [...cs.shape]), nd(dy, [...cs.shape]), c);
      checkGrad(cs.op, (v) => unaryForwardRef(cs.op, nd(v, [...cs.shape]), c), x, dy, analytic.data);
    });

    it(`${cs.op} ${JSON.stringify(cs.shape)}: GPU forward and backward match CPU`, async () => {
      const xt = fromNd(x, [...cs.shape], true);
      const y = dn.scope(() => {
        const fns: Record<UnaryOp, (t: dn.Tensor) => dn.Tensor> = {
          relu: dn.relu, sigmoid: dn.sigmoid, tanh: dn.tanh, exp: dn.exp, log: dn.log, neg: dn.neg,
          square: dn.square, sqrt: dn.sqrt, scale: (t) => dn.scale(t, c), addScalar: (t) => dn.addScalar(t, c),
          leakyRelu: (t) => dn.leakyRelu(t, c), clampMin: (t) => dn.clamp(t, c), clampMax: (t) => dn.clamp(t, undefined, c), abs: dn.abs, softplus: dn.softplus, silu: dn.silu, elu: (t) => dn.elu(t, c),
          // The three ops behind a number on one side of sub and div.
          rsubScalar: (t) => dn.sub(c, t), divScalar: (t) => dn.div(t, c), rdivScalar: (t) => dn.div(c, t),
        };
        return fns[cs.op](xt);
      });
      const want = unaryForwardRef(cs.op, nd(x, [...cs.shape]), c);
      // exp and sigmoid go through the GPU's exp(): a few ulp, so rtol 1e-5 above float32 rounding.
      expectClose(`${cs.op} forward`, await y.toArray(), want.data);
      const dyt = fromNd(dy, [...cs.shape]);
      y.backward(dyt);
      const wantDx = unaryBackwardRef(cs.op, nd(x, [...cs.shape]), nd(dy, [...cs.shape]), c);
      expectClose(`${cs.op} backward`, await xt.grad!.toArray(), wantDx.data);
      for (const t of [xt, y, dyt]) t.dispose();
    });
  }
});

describe('clamp', () => {
  it('both bounds: min then max, the gradient passing inside them, bounds included', async () => {
    const xt = dn.tensor([-2, -1, 0, 0.5, 1, 3], [6], { requiresGrad: true });
    const y = dn.clamp(xt, -1, 1);
    expect(Array.from(await y.toArray())).toEqual([-1, -1, 0, 0.5, 1, 1]);
    const dy = dn.full([6], 1);
    y.backward(dy);
    expect(Array.from(await xt.grad!.toArray())).toEqual([0, 1, 1, 1, 1, 0]);
    expect(() => dn.clamp(xt, 1, -1)).toThrow(/^clamp: /);
    expect(() => dn.clamp(xt)).toThrow(dn.ArgumentError);
    for (const t of [xt, y, dy]) t.dispose();
  });
});

describe('unary ops at large |x|', () => {
  // exp(±100) overflows float32 or underflows: softplus, silu and elu must still give the
  // float64 reference's values and gradients (to float32 rounding, rtol 1e-4).
  const x = [-100, -30, -0.5, 0.5, 30, 100];
  for (const op of ['softplus', 'silu', 'elu', 'sigmoid'] as const) {
    it(`${op} of ${JSON.stringify(x)}`, async () => {
      const xt = dn.tensor(x, [6], { requiresGrad: true });
      const y = dn.scope(() => ({ softplus: dn.softplus, silu: dn.silu, elu: (t: dn.Tensor) => dn.elu(t, 1), sigmoid: dn.sigmoid })[op](xt));
      const got = await y.toArray();
      expect([...got].every(Number.isFinite)).toBe(true);
      expectClose(`${op} forward`, got, unaryForwardRef(op, nd(x, [6]), 1).data);
      const dy = dn.full([6], 1);
      y.backward(dy);
      expectClose(`${op} backward`, await xt.grad!.toArray(), unaryBackwardRef(op, nd(x, [6]), nd([1, 1, 1, 1, 1, 1], [6]), 1).data);
      for (const t of [xt, y, dy]) t.dispose();
    });
  }
});

const BINARY_CASES = [
  { op: 'add', a: [2, 3, 4], b: [2, 3, 4] },
  { op: 'add', a: [2, 5, 5, 3], b: [3] },
  { op: 'sub', a: [4], b: [7, 4] },
  { op: 'mul', a: [3, 7], b: [1] },
  { op: 'mul', a: [2, 2, 9], b: [2, 9] },
  { op: 'div', a: [6, 5], b: [5] },
] as const;

describe('binary ops with suffix broadcasting', () => {
  for (const [k, cs] of BINARY_CASES.entries()) {
    const na = cs.a.reduce((p: number, d: number) => p * d, 1);
    const nb = cs.b.reduce((p: number, d: number) => p * d, 1);
    const a = uniform(na, 200 + k);
    const b = cs.op === 'div' ? uniform(nb, 300 + k, 0.5, 2) : uniform(nb, 300 + k);
    const outShape = na >= nb ? [...cs.a] : [...cs.b];
    const dy = uniform(Math.max(na, nb), 400 + k);
    const name = `${cs.op} ${JSON.stringify(cs.a)} ${JSON.stringify(cs.b)}`;

    it(`${name}: CPU backward matches finite differences`, () => {
      const [da, db] = binaryBackwardRef(cs.op, nd(a, [...cs.a]), nd(b, [...cs.b]), nd(dy, outShape));
      checkGrad(`${name} da`, (v) => binaryForwardRef(cs.op, nd(v, [...cs.a]), nd(b, [...cs.b])), a, dy, da.data);
      checkGrad(`${name} db`, (v) => binaryForwardRef(cs.op, nd(a, [...cs.a]), nd(v, [...cs.b])), b, dy, db.data);
    });

    it(`${name}: GPU forward and backward match CPU`, async () => {
      const at = fromNd(a, [...cs.a], true);
      const bt = fromNd(b, [...cs.b], true);
      const fns = { add: dn.add, sub: dn.sub, mul: dn.mul, div: dn.div };
      const out = fns[cs.op](at, bt);
      expect(out.shape).toEqual(outShape);
      expectClose(`${name} forward`, await out.toArray(), binaryForwardRef(cs.op, nd(a, [...cs.a]), nd(b, [...cs.b])).data);
      const dyt = fromNd(dy, outShape);
      out.backward(dyt);
      const [da, db] = binaryBackwardRef(cs.op, nd(a, [...cs.a]), nd(b, [...cs.b]), nd(dy, outShape));
      // Broadcast gradients are sums of up to 50 float32 products: rtol 1e-4 (default) holds, atol 1e-5.
      expectClose(`${name} da`, await at.grad!.toArray(), da.data);
      expectClose(`${name} db`, await bt.grad!.toArray(), db.data);
      for (const t of [at, bt, out, dyt]) t.dispose();
    });
  }

  it('a number on either side runs as the tensor op with that number filled in', async () => {
    const x = uniform(12, 500, 0.5, 2);
    const xt = dn.tensor(x, [3, 4]);
    const filled = dn.full([3, 4], -1.25);
    const fns = { add: dn.add, sub: dn.sub, mul: dn.mul, div: dn.div };
    for (const op of ['add', 'sub', 'mul', 'div'] as const) {
      const [right, left] = [fns[op](xt, -1.25), fns[op](-1.25, xt)];
      const [wantRight, wantLeft] = [fns[op](xt, filled), fns[op](filled, xt)];
      expect(right.shape).toEqual([3, 4]);
      expectClose(`${op}(x, c)`, await right.toArray(), await wantRight.toArray());
      expectClose(`${op}(c, x)`, await left.toArray(), await wantLeft.toArray());
      for (const t of [right, left, wantRight, wantLeft]) t.dispose();
    }
    expect(() => dn.add(1 as never, 2 as never)).toThrow(dn.ArgumentError);
    expect(() => dn.mul(xt, '2' as never)).toThrow(dn.ArgumentError);
    xt.dispose();
    filled.dispose();
  });

  it('rejects shapes that do not broadcast', () => {
    const a = dn.zeros([2, 3]);
    const b = dn.zeros([2]);
    expect(() => dn.add(a, b)).toThrow(dn.ShapeError);
    a.dispose();
    b.dispose();
  });
});


/** A float32 NaN with the given bits: the quiet NaN, its negative twin and a payload all count. */
const nanOf = (bits: number): number => new Float32Array(new Uint32Array([bits]).buffer)[0];
const NANS = [nanOf(0x7fc00000), nanOf(0xffc00000), nanOf(0x7f800001)];

describe('NaN through relu and clamp', () => {
  // PyTorch's relu and clamp keep NaN (WGSL's max and min may not: lavapipe's returned the bound).
  // Gradients: relu's backward is threshold_backward(dy, y, 0), y <= 0 ? 0 : dy, so a NaN output
  // passes dy; clamp's passes where lo <= x <= hi, never at NaN. Exact values: each output is x, a
  // bound or 0, and each gradient dy or 0. 7 values run one per thread, 8 four per thread (vec4).
  for (const n of [7, 8]) {
    const x = Float32Array.from({ length: n }, (_, i) => (i % 3 === 0 ? NANS[(i / 3) % 3] : i % 3 === 1 ? -0.5 - i : 0.25 * i));
    const dy = Float32Array.from({ length: n }, (_, i) => 1 + i);
    const isNan = [...x].map(Number.isNaN);

    /** Runs op on x, then its backward for dy: output and gradient. */
    async function run(op: (t: dn.Tensor) => dn.Tensor) {
      const xt = dn.tensor(x, [n], { requiresGrad: true });
      const y = dn.scope(() => op(xt));
      const dyt = dn.tensor(dy, [n]);
      y.backward(dyt);
      const out = { y: [...(await y.toArray())], dx: [...(await xt.grad!.toArray())] };
      for (const t of [xt, y, dyt]) t.dispose();
      return out;
    }

    it(`relu of ${n} values with NaNs of both signs: NaN stays NaN and passes the gradient`, async () => {
      const got = await run(dn.relu);
      got.y.forEach((v, i) => expect(Number.isNaN(v), `relu at ${i} (x = ${x[i]}): ${v}`).toBe(isNan[i]));
      expect(got.y.filter((_, i) => !isNan[i])).toEqual([...x].filter((_, i) => !isNan[i]).map((v) => Math.max(v, 0)));
      expect(got.dx).toEqual([...unaryBackwardRef('relu', nd(Float64Array.from(x), [n]), nd(Float64Array.from(dy), [n])).data]);
      expect(got.dx.filter((_, i) => isNan[i])).toEqual([...dy].filter((_, i) => isNan[i]));
    });

    for (const [name, op, ...bounds] of [
      ['clamp(x, -1, 1)', (t: dn.Tensor) => dn.clamp(t, -1, 1), -1, 1],
      ['clamp(x, 0.3)', (t: dn.Tensor) => dn.clamp(t, 0.3), 0.3, Infinity],
      ['clamp(x, undefined, -2)', (t: dn.Tensor) => dn.clamp(t, undefined, -2), -Infinity, -2],
    ] as const) {
      it(`${name} of ${n} values with NaNs: NaN stays NaN and gets no gradient`, async () => {
        // The bounds as the GPU holds them.
        const [lo, hi] = [Math.fround(bounds[0]), Math.fround(bounds[1])];
        const got = await run(op);
        got.y.forEach((v, i) => expect(Number.isNaN(v), `${name} at ${i} (x = ${x[i]}): ${v}`).toBe(isNan[i]));
        expect(got.y.filter((_, i) => !isNan[i])).toEqual([...x].filter((_, i) => !isNan[i]).map((v) => Math.min(Math.max(v, lo), hi)));
        expect(got.dx).toEqual([...x].map((v, i) => (v >= lo && v <= hi ? dy[i] : 0)));
      });
    }
  }
});
