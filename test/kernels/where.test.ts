// maximum, minimum and the comparisons (src/kernels/elementwise-more.ts, run by elementwise.ts's
// binary kernel) and where (src/kernels/where.ts): GPU against the float64 references with
// suffix broadcasting, in vec4 and scalar widths, gradients against finite differences away from
// ties, the tie and NaN rules by hand, numbers on either side, splitting past the binding limit,
// and argument errors.
//
// Tolerances: these ops select or compare values and never round them, so forwards are compared
// exactly (0/1 outputs, or one of the inputs); gradients are dy, dy/2 or 0 per element, summed
// over broadcast dimensions in another order than the reference's: the float32 defaults
// (atol 1e-5, rtol 1e-4) hold for sums of up to ~50 terms of |dy| <= 1.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { runtime } from '../../src/gpu/runtime.js';
import { COMPARISONS, type ComparisonOp } from '../../src/kernels/elementwise-math.js';
import * as more from '../../src/kernels/elementwise-more.js';
import { where } from '../../src/kernels/where.js';
import { nd } from '../../src/reference/array.js';
import { binaryMoreForwardRef, maximumBackwardRef, whereBackwardRef, whereRef, type WhereOperand } from '../../src/reference/elementwise-more.js';
import { expectClose } from '../helpers/close.js';
import { checkGrad } from '../helpers/finite-diff.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { rng, uniform } from '../helpers/rng.js';

useGpu();

const size = (shape: readonly number[]): number => shape.reduce((p, d) => p * d, 1);
const bigger = (a: readonly number[], b: readonly number[]): number[] => [...(size(a) >= size(b) ? a : b)];
const exact = { atol: 0, rtol: 0 };

// Shapes: equal (vec4 and scalar), a per-channel suffix, the smaller operand first, a scalar.
const SHAPES = [
  [[2, 3, 4], [2, 3, 4]],
  [[5, 7], [5, 7]],
  [[2, 5, 3], [3]],
  [[4], [7, 4]],
  [[3, 6], [1]],
  [[1], [9]],
] as const;

describe('maximum and minimum', () => {
  for (const op of ['maximum', 'minimum'] as const) {
    SHAPES.forEach(([sa, sb], k) => {
      const [a, b] = [uniform(size(sa), 10 + k), uniform(size(sb), 20 + k)];
      const out = bigger(sa, sb);
      const dy = uniform(size(out), 30 + k);
      const name = `${op} ${JSON.stringify(sa)} ${JSON.stringify(sb)}`;
      const ref = (va: Float64Array, vb: Float64Array) => binaryMoreForwardRef(op, nd(va, [...sa]), nd(vb, [...sb]));

      it(`${name}: CPU backward matches finite differences (no ties: values drawn continuously)`, () => {
        const [da, db] = maximumBackwardRef(op, nd(a, [...sa]), nd(b, [...sb]), nd(dy, out));
        checkGrad(`${name} da`, (v) => ref(v, b), a, dy, da.data);
        checkGrad(`${name} db`, (v) => ref(a, v), b, dy, db.data);
      });

      it(`${name}: GPU forward and backward match CPU`, async () => {
        const [at, bt, dyt] = [fromNd(a, [...sa], true), fromNd(b, [...sb], true), fromNd(dy, out)];
        const y = more[op](at, bt);
        expect(y.shape).toEqual(out);
        expectClose(`${name} forward`, await y.toArray(), Float32Array.from(ref(a, b).data), exact);
        y.backward(dyt);
        const [da, db] = maximumBackwardRef(op, nd(a, [...sa]), nd(b, [...sb]), nd(dy, out));
        expectClose(`${name} da`, await at.grad!.toArray(), da.data);
        expectClose(`${name} db`, await bt.grad!.toArray(), db.data);
        for (const t of [at, bt, dyt, y]) t.dispose();
      });
    });
  }

  async function run(op: 'maximum' | 'minimum', a: dn.Tensor | number, b: dn.Tensor | number) {
    const y = more[op](a, b);
    const ones = dn.full(y.shape, 1);
    y.backward(ones);
    const grad = async (t: dn.Tensor | number) => (typeof t === 'number' ? null : Array.from(await t.grad!.toArray()));
    const got = { y: Array.from(await y.toArray()), da: await grad(a), db: await grad(b) };
    for (const t of [y, ones, a, b]) if (typeof t !== 'number') t.dispose();
    return got;
  }
  const t = (v: number[], shape = [v.length]) => dn.tensor(v, shape, { requiresGrad: true });

  it('a tie splits the gradient half and half (PyTorch); the winner takes all otherwise', async () => {
    expect(await run('maximum', t([1, 2, 3, 3]), t([3, 2, 1, 3]))).toEqual({ y: [3, 2, 3, 3], da: [0, 0.5, 1, 0.5], db: [1, 0.5, 0, 0.5] });
    expect(await run('minimum', t([1, 2, 3, 3]), t([3, 2, 1, 3]))).toEqual({ y: [1, 2, 1, 3], da: [1, 0.5, 0, 0.5], db: [0, 0.5, 1, 0.5] });
    // Broadcast: b's two elements each meet two rows; the ties' halves add up.
    expect(await run('maximum', t([1, 1, 1, 1], [2, 2]), t([1, 0]))).toEqual({ y: [1, 1, 1, 1], da: [0.5, 1, 0.5, 1], db: [1, 0] });
  });

  it('NaN on either side gives NaN', async () => {
    for (const op of ['maximum', 'minimum'] as const) {
      const { y } = await run(op, t([NaN, 1, NaN, -Infinity]), t([0, NaN, NaN, Infinity]));
      expect(y.slice(0, 3).every(Number.isNaN), `${op} ${y}`).toBe(true);
      expect(y[3]).toBe(op === 'maximum' ? Infinity : -Infinity);
      expect((await run(op, t([1, -1]), NaN)).y.every(Number.isNaN)).toBe(true);
    }
  });

  it('a number on either side: the same values and the same tie rule as a filled tensor', async () => {
    // maximum(x, 0) is relu with half the gradient at 0.
    expect(await run('maximum', t([-1, 0, 2]), 0)).toEqual({ y: [0, 0, 2], da: [0, 0.5, 1], db: null });
    expect(await run('maximum', 0, t([-1, 0, 2]))).toEqual({ y: [0, 0, 2], da: null, db: [0, 0.5, 1] });
    expect(await run('minimum', t([-1, 1, 2]), 1)).toEqual({ y: [-1, 1, 1], da: [1, 0.5, 0], db: null });
    expect(await run('minimum', 1, t([-1, 1, 2]))).toEqual({ y: [-1, 1, 1], da: null, db: [1, 0.5, 0] });
  });
});

describe('comparisons', () => {
  const ops = Object.keys(COMPARISONS) as ComparisonOp[];
  // Ties on purpose (values on a grid of halves), so >= and == differ from > somewhere.
  const grid = (n: number, seed: number) => Float64Array.from({ length: n }, rng(seed)).map((u) => Math.round(6 * u) / 2 - 1.5);
  for (const op of ops) {
    SHAPES.forEach(([sa, sb], k) => {
      it(`${op} ${JSON.stringify(sa)} ${JSON.stringify(sb)}: 0/1, exactly the reference`, async () => {
        const [a, b] = [grid(size(sa), 40 + k), grid(size(sb), 50 + k)];
        const [at, bt] = [fromNd(a, [...sa], true), fromNd(b, [...sb])];
        const y = more[op](at, bt);
        expect(y.requiresGrad).toBe(false);
        expect(y.shape).toEqual(bigger(sa, sb));
        expectClose(op, await y.toArray(), binaryMoreForwardRef(op, nd(a, [...sa]), nd(b, [...sb])).data, exact);
        for (const t of [at, bt, y]) t.dispose();
      });
    });
  }

  it('special values: NaN compares false (notEqual true), -0 equals 0, infinities order', async () => {
    const a = [NaN, NaN, 1, -0, -Infinity, Infinity, 2];
    const b = [NaN, 1, NaN, 0, -Infinity, 3e38, 2];
    const [at, bt] = [dn.tensor(a, [7]), dn.tensor(b, [7])];
    for (const op of ops) {
      const y = more[op](at, bt);
      expect(Array.from(await y.toArray()), op).toEqual(Array.from(binaryMoreForwardRef(op, nd(a, [7]), nd(b, [7])).data));
      y.dispose();
    }
    for (const v of [at, bt]) v.dispose();
  });

  it('a number on either side: as a filled tensor, the number first swapping the comparison', async () => {
    const x = Float32Array.from([-1, -0.5, 0, 0.5, 1, NaN, 0.5]);
    const xt = dn.tensor(x, [7]);
    const filled = dn.full([7], 0.5);
    for (const op of ops) {
      const pairs = [
        [more[op](xt, 0.5), more[op](xt, filled)],
        [more[op](0.5, xt), more[op](filled, xt)],
      ];
      for (const [got, want] of pairs) {
        expect(Array.from(await got.toArray()), op).toEqual(Array.from(await want.toArray()));
        for (const v of [got, want]) v.dispose();
      }
    }
    for (const v of [xt, filled]) v.dispose();
  });
});

const WHERE_CASES = [
  { cond: [2, 3, 4], a: [2, 3, 4], b: [2, 3, 4] },
  { cond: [3, 5], a: [3, 5], b: [3, 5] },
  { cond: [3, 5], a: 2.5, b: -1 },
  { cond: [4], a: [2, 4], b: [4] },
  { cond: [2, 3], a: [3], b: -Infinity },
  { cond: [1], a: [3, 7], b: [7] },
  { cond: [5, 8], a: 0, b: [8] },
] as const;

describe('where', () => {
  WHERE_CASES.forEach((cs, k) => {
    const shapes = ([cs.cond, cs.a, cs.b] as readonly (readonly number[] | number)[]).flatMap((s) => (typeof s === 'number' ? [] : [[...s]]));
    const out = shapes.reduce((big, s) => bigger(big, s));
    // A mask of 0, 1 and other nonzero values (2, -1 and NaN count as true).
    const mask = Float64Array.from({ length: size(cs.cond) }, rng(60 + k)).map((u) => [0, 1, 0, 2, -1, NaN][Math.floor(6 * u)]);
    const data = (s: readonly number[] | number, seed: number): WhereOperand => (typeof s === 'number' ? s : nd(uniform(size(s), seed), [...s]));
    const [a, b] = [data(cs.a, 70 + k), data(cs.b, 80 + k)];
    const dy = uniform(size(out), 90 + k);
    const name = `where ${JSON.stringify(cs)}`;
    const upload = (v: WhereOperand) => (typeof v === 'number' ? v : fromNd(v.data, v.shape, true));

    it(`${name}: CPU backward matches finite differences`, () => {
      const cond = nd(mask, [...cs.cond]);
      const [da, db] = whereBackwardRef(cond, typeof a === 'number' ? [1] : a.shape, typeof b === 'number' ? [1] : b.shape, nd(dy, out));
      // A number operand is a constant: 0 in its place keeps the probed sum finite (-Infinity would not).
      const [fa, fb] = [typeof a === 'number' ? 0 : a, typeof b === 'number' ? 0 : b];
      if (typeof a !== 'number') checkGrad(`${name} da`, (v) => whereRef(cond, nd(v, a.shape), fb), a.data, dy, da.data);
      if (typeof b !== 'number') checkGrad(`${name} db`, (v) => whereRef(cond, fa, nd(v, b.shape)), b.data, dy, db.data);
    });

    it(`${name}: GPU forward and backward match CPU; cond gets no gradient`, async () => {
      const cond = nd(mask, [...cs.cond]);
      const [ct, at, bt, dyt] = [fromNd(mask, [...cs.cond], true), upload(a), upload(b), fromNd(dy, out)];
      const y = where(ct, at, bt);
      expect(y.shape).toEqual(out);
      // A selection: exactly the reference's values, infinities and NaN included.
      expect(Array.from(await y.toArray())).toEqual(Array.from(Float32Array.from(whereRef(cond, a, b).data)));
      if (typeof at === 'number' && typeof bt === 'number') {
        expect(y.requiresGrad).toBe(false);
        for (const t of [ct, dyt, y]) t.dispose();
        return;
      }
      y.backward(dyt);
      expect(ct.grad).toBeNull();
      const [da, db] = whereBackwardRef(cond, typeof a === 'number' ? [1] : a.shape, typeof b === 'number' ? [1] : b.shape, nd(dy, out));
      if (typeof at !== 'number') expectClose(`${name} da`, await at.grad!.toArray(), da.data);
      if (typeof bt !== 'number') expectClose(`${name} db`, await bt.grad!.toArray(), db.data);
      for (const t of [ct, at, bt, dyt, y]) if (typeof t !== 'number') t.dispose();
    });
  });

  it('only numbers for a and b: a mask-shaped result with no gradient', async () => {
    const c = dn.tensor([1, 0, 1, 0, 0], [5], { requiresGrad: true });
    const y = where(c, 1, 0);
    expect(y.requiresGrad).toBe(false);
    expect(Array.from(await y.toArray())).toEqual([1, 0, 1, 0, 0]);
    for (const t of [c, y]) t.dispose();
  });

  it('splits past the binding limit: bit-identical to the unsplit run', async () => {
    const shape = [7, 37];
    const [c, a, b] = [Float64Array.from({ length: 259 }, rng(100)).map((u) => (u < 0.5 ? 0 : 1)), uniform(259, 101), uniform(37, 102)];
    const run = async () => {
      const [ct, at, bt] = [fromNd(c, shape), fromNd(a, shape, true), fromNd(b, [37], true)];
      const [y, ones] = [where(ct, at, bt), dn.full(shape, 1)];
      y.backward(ones);
      const got = [await y.toArray(), await at.grad!.toArray(), await bt.grad!.toArray()];
      for (const t of [ct, at, bt, y, ones]) t.dispose();
      return got;
    };
    const whole = await run();
    // 1036 bytes of output, b's 148 bound whole: two chunks of rows (staged, being misaligned).
    runtime().setBindingLimit(1024);
    try {
      const split = await run();
      expect(split[0]).toEqual(whole[0]);
      expect(split[1]).toEqual(whole[1]);
      // b's gradient sums 7 rows: the same terms, possibly in another order.
      expectClose('db split', split[2], whole[2]);
    } finally {
      runtime().setBindingLimit(null);
    }
    expect(whole[0]).toEqual(Float32Array.from(whereRef(nd(c, shape), nd(a, shape), nd(b, [37])).data));
  });
});

describe('argument errors name the op', () => {
  it('rejects shapes that do not broadcast and operands of the wrong kind', () => {
    const [x, y, m] = [dn.zeros([2, 3]), dn.zeros([2]), dn.zeros([2, 3])];
    expect(() => where(m, x, y)).toThrow(dn.ShapeError);
    expect(() => where(m, x, y)).toThrow(/^where: /);
    expect(() => where(y, x, 0)).toThrow(/^where: /);
    expect(() => where([1, 0] as never, x, 0)).toThrow(/^where: cond must be a Tensor/);
    expect(() => where(m, 'a' as never, 0)).toThrow(dn.ArgumentError);
    expect(() => where(m, x, null as never)).toThrow(/^where: b must be a Tensor or a number/);
    expect(() => more.maximum(x, y)).toThrow(/^maximum: /);
    expect(() => more.maximum(x, y)).toThrow(dn.ShapeError);
    expect(() => more.minimum(1 as never, 2 as never)).toThrow(dn.ArgumentError);
    expect(() => more.greater(x, '1' as never)).toThrow(/^greater: b must be a Tensor/);
    expect(() => more.notEqual(x, y)).toThrow(/^notEqual: /);
    for (const t of [x, y, m]) t.dispose();
  });
});
