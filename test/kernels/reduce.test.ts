import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { columnSumsWay, mean, reduceMiddle, sum, SWIFTSHADER_THREAD_ROWS, withColumnSumsWay } from '../../src/kernels/reduce.js';
import { isSwiftShaderReport } from '../../src/gpu/adapter-kind.js';
import { dispatched } from '../helpers/dispatched.js';
import { overrideRowChunkSizing } from '../../src/kernels/row-chunks.js';
import { nd } from '../../src/reference/array.js';
import { sumRef } from '../../src/reference/elementwise.js';
import { expectClose } from '../helpers/close.js';
import { expectThrows } from '../helpers/errors.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { runtime } from '../../src/gpu/runtime.js';
import { uniform } from '../helpers/rng.js';

useGpu();

const REDUCE_CASES = [
  { shape: [1000], axes: undefined },
  { shape: [3, 4, 5], axes: [1] },
  { shape: [2, 3, 4, 5], axes: [0, 1, 2] },
  { shape: [2, 3, 4, 5], axes: [0, 2] },
  { shape: [7, 300], axes: [-1] },
  // Column sums (leading axes of a trailing size that is a multiple of 4): one chunk of rows, and
  // 1200 rows in chunks whose partial sums a second pass adds, over 36 columns (two column blocks).
  { shape: [2, 3, 4, 8], axes: [0, 1, 2] },
  { shape: [4, 15, 20, 36], axes: [0, 1, 2] },
  // Few outputs over long rows: chunks of rows summed by separate workgroups, then the partial
  // sums (all to one, one per [a, b] pair with the rows in between, and two columns).
  { shape: [40000], axes: undefined },
  { shape: [3, 20000, 5], axes: [1] },
  { shape: [20000, 2], axes: [0] },
] as const;

/**
 * Sums of up to 1000 float32 values in another order than the float64 loop stay within 1e-4.
 * Sums of 20000-40000 values in [-1, 1] reach a few hundred, and float32 keeps them to about
 * 3e-5; 2e-3 still fails on a single row too many or too few.
 */
const sumTolerance = (terms: number): number => (terms > 1000 ? 2e-3 : 1e-4);

describe('sum and mean', () => {
  // [1, R, B] sums with B a multiple of 4 run by the column kernel, or on SwiftShader by the
  // general route (columnSumsWay); each forced: the same sums as the reference, by its kernels.
  for (const way of ['columns', 'threads'] as const) {
    it(`column sums forced '${way}': [4, 15, 20, 36] over N, H, W and [2, 3, 4, 8] match CPU, by ${way === 'columns' ? 'the column kernel' : 'the row sums'}`, async () => {
      for (const [shape, seed] of [[[4, 15, 20, 36], 61], [[2, 3, 4, 8], 62]] as const) {
        const x = uniform(shape.reduce((p, d) => p * d, 1), seed);
        const xt = fromNd(x, [...shape]);
        let s: dn.Tensor | undefined;
        const kernels = dispatched(() => withColumnSumsWay(way, () => void (s = sum(xt, [0, 1, 2]))));
        expect(kernels.includes('reduce.columns'), kernels.join(', ')).toBe(way === 'columns');
        expectClose(`${way} ${shape}`, await s!.toArray(), sumRef(nd(x, [...shape]), [0, 1, 2]).data, { atol: sumTolerance(1200) });
        for (const t of [xt, s!]) t.dispose();
      }
    });
  }

  it('column sums take the column kernel, but on SwiftShader up to SWIFTSHADER_THREAD_ROWS rows', () => {
    const swift = isSwiftShaderReport(runtime().ctx.report);
    expect([columnSumsWay(2048), columnSumsWay(SWIFTSHADER_THREAD_ROWS), columnSumsWay(SWIFTSHADER_THREAD_ROWS + 1)]).toEqual([swift ? 'threads' : 'columns', swift ? 'threads' : 'columns', 'columns']);
    expect(withColumnSumsWay('threads', () => columnSumsWay(10 ** 6))).toBe('threads');
  });

  // Column sums with a GPU's row chunks (row-chunks.ts): 40,000 rows of 8 columns in 157 chunks.
  it('column sums with a GPU\'s row chunks match CPU', async () => {
    const shape = [40000, 8];
    const x = uniform(40000 * 8, 77);
    overrideRowChunkSizing('gpu');
    try {
      const xt = fromNd(x, shape);
      const s = sum(xt, [0]);
      expectClose('column sums', await s.toArray(), sumRef(nd(x, shape), [0]).data, { atol: sumTolerance(40000) });
      for (const t of [xt, s]) t.dispose();
    } finally {
      overrideRowChunkSizing(null);
    }
  });

  for (const [k, cs] of REDUCE_CASES.entries()) {
    const n = cs.shape.reduce((p: number, d: number) => p * d, 1);
    const x = uniform(n, 500 + k);
    const axes = cs.axes?.map((a: number) => (a < 0 ? a + cs.shape.length : a));
    it(`sum and mean ${JSON.stringify(cs.shape)} over ${JSON.stringify(cs.axes)}: GPU matches CPU`, async () => {
      const xt = fromNd(x, [...cs.shape], true);
      const s = sum(xt, cs.axes ? [...cs.axes] : undefined);
      const want = sumRef(nd(x, [...cs.shape]), axes);
      expect(s.shape).toEqual(want.shape);
      expectClose('sum forward', await s.toArray(), want.data, { atol: sumTolerance(n / want.data.length) });
      const m = mean(xt, cs.axes ? [...cs.axes] : undefined);
      const count = n / want.data.length;
      expectClose('mean forward', await m.toArray(), want.data.map((v) => v / count), { atol: 1e-5 });
      const dy = uniform(want.data.length, 600 + k);
      const dyt = fromNd(dy, want.shape);
      m.backward(dyt);
      // d mean / dx = dy broadcast back over the reduced axes, divided by their count.
      const gx = await xt.grad!.toArray();
      const strides = cs.shape.map((_: number, i: number) => cs.shape.slice(i + 1).reduce((p: number, d: number) => p * d, 1));
      const wantGrad = Array.from({ length: n }, (_, i) => {
        let o = 0;
        cs.shape.forEach((d: number, ax: number) => {
          if (!(axes ?? cs.shape.map((_: number, j: number) => j)).includes(ax)) o = o * d + (Math.floor(i / strides[ax]) % d);
        });
        return dy[o] / count;
      });
      expectClose('mean backward', gx, wantGrad);
      for (const t of [xt, s, m, dyt]) t.dispose();
    });
  }
});

describe('reductions whose single rows take more than half the binding limit', () => {
  // A lowered limit of 256 bytes against rows of 37 floats (148 bytes): no chunk of two rows fits,
  // so the rows are added one dispatch at a time (this recursed without end before).
  it.each([
    { shape: [3, 7, 37], axes: [1], op: 'sum' },
    { shape: [3, 7, 37], axes: [1], op: 'mean' },
    { shape: [7, 37], axes: [0], op: 'sum' },
    { shape: [2, 1, 40], axes: [1], op: 'mean' },
  ] as const)('$op over $axes of [$shape] matches the reference, as with the full limit', async ({ shape, axes, op }) => {
    const n = shape.reduce((p: number, d: number) => p * d, 1);
    const data = uniform(n, 77, -1, 1);
    const x = fromNd(data, [...shape]);
    const run = async () => {
      // The mean through reduceMiddle's own scale (the public mean scales afterwards), which the
      // row-by-row path applies on its last row.
      const [a, r, b] = [shape.slice(0, axes[0]), shape.slice(axes[0], axes[0] + 1), shape.slice(axes[0] + 1)].map((d) => d.reduce((p: number, v: number) => p * v, 1));
      const y = op === 'sum' ? sum(x, [...axes]) : reduceMiddle(x, a, r, b, [a * b], 1 / r);
      const out = await y.toArray();
      y.dispose();
      return out;
    };
    const whole = await run();
    runtime().setBindingLimit(256);
    let split: Float32Array;
    try {
      split = await run();
    } finally {
      runtime().setBindingLimit(null);
    }
    const want = sumRef(nd(data, [...shape]), [...axes]);
    const r = (axes as readonly number[]).reduce((p: number, a: number) => p * shape[a], 1);
    expectClose(`${op} split`, split, want.data.map((v) => (op === 'mean' ? v / r : v)));
    expectClose(`${op} split vs whole`, split, whole, { atol: 1e-6, rtol: 1e-6 });
    x.dispose();
  });
});

describe('reduce argument checks', () => {
  it('axis errors name the axis as given: out of range, not whole, repeated, not a number', () => {
    const x = dn.zeros([2, 3]);
    const before = dn.memory().bytesInUse;
    for (const op of [sum, mean]) {
      const name = op === sum ? 'sum' : 'mean';
      expectThrows(() => op(x, -3), dn.ShapeError, `${name}: axis -3 is out of range for tensor#${x.id} [2,3] (axes run from -2 to 1)`);
      expectThrows(() => op(x, 2), dn.ShapeError, `${name}: axis 2 is out of range`);
      expectThrows(() => op(x, 1.5), dn.ShapeError, `${name}: axis 1.5 must be a whole number`);
      expectThrows(() => op(x, [1, -1]), dn.ShapeError, `${name}: axis -1 appears twice in [1,-1]`);
      expectThrows(() => op(x, [0, 0]), dn.ShapeError, `${name}: axis 0 appears twice in [0,0]`);
      expectThrows(() => op(x, ['1'] as never), dn.ArgumentError, `${name}: an axis must be a whole number, got the string '1'`);
    }
    expect(dn.memory().bytesInUse).toBe(before);
    x.dispose();
  });

  it('keepDims must be a boolean: an options object in its place is refused, not taken as true', async () => {
    const x = dn.tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    for (const op of [sum, mean]) {
      const name = op === sum ? 'sum' : 'mean';
      expectThrows(() => op(x, 1, { keepDims: false } as never), dn.ArgumentError, `${name}: keepDims must be a boolean, got an object with keepDims`);
      expectThrows(() => op(x, 1, 1 as never), dn.ArgumentError, `${name}: keepDims must be a boolean, got the number 1`);
    }
    const [kept, dropped] = [sum(x, 1, true), sum(x, 1, false)];
    expect([kept.shape, dropped.shape]).toEqual([[2, 1], [2]]);
    expect(Array.from(await dropped.toArray())).toEqual([6, 15]);
    for (const t of [x, kept, dropped]) t.dispose();
  });
});
