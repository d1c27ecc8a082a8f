// max, min, argmax and argmin (src/kernels/extrema.ts) against the float64 reference. The values
// are selections, never arithmetic, so GPU values and indices must equal the reference exactly
// (NaN equal to NaN); gradients are dy / holders, a float32 division, within the default
// tolerance. Finite differences check the reference's gradient on data without ties (gaps of 0.01
// between values); the tie and NaN rules are checked by hand on small examples.

import { afterEach, describe, expect, it, vi } from 'vitest';
import * as dn from '../../src/index.js';
import { ArgumentError, DisposedError, LimitError, ShapeError } from '../../src/errors.js';
import { runtime } from '../../src/gpu/runtime.js';
import { argmax, argmin, max, min, type ExtremumKind } from '../../src/kernels/extrema.js';
import { setExtremaRule } from '../../src/kernels/extrema-rule.js';
import { emptyTensor } from '../../src/graph/tensor.js';
import { nd } from '../../src/reference/array.js';
import { argExtremumRef, extremumBackwardRef, extremumRef } from '../../src/reference/extrema.js';
import { expectClose } from '../helpers/close.js';
import { checkGrad } from '../helpers/finite-diff.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { rng, uniform } from '../helpers/rng.js';

useGpu();
// A failed case leaves neither a lowered limit nor its dispatch spy to the next.
afterEach(() => {
  runtime().setBindingLimit(null);
  setExtremaRule(null);
  vi.restoreAllMocks();
});

const size = (shape: readonly number[]): number => shape.reduce((p, d) => p * d, 1);
const reduceFn = { max, min } as const;
const argFn = { max: argmax, min: argmin } as const;

/** Float32-representable data: 'random' in [-1, 1), or 'ties', integers 0..4 (most rows tie). */
function data(n: number, seed: number, kind: 'random' | 'ties'): Float64Array {
  const r = rng(seed);
  const v = kind === 'ties' ? Array.from({ length: n }, () => Math.floor(r() * 5)) : uniform(n, seed);
  return Float64Array.from(Float32Array.from(v));
}

/** n distinct values 0.01 apart in a seeded order: no ties, so finite differences apply. */
function distinct(n: number, seed: number): Float64Array {
  const r = rng(seed);
  const v = Array.from({ length: n }, (_, i) => (i - n / 2) * 0.01);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [v[i], v[j]] = [v[j], v[i]];
  }
  return Float64Array.from(v);
}

/** Exact equality, NaN equal to NaN: names the first difference. */
function expectSame(what: string, got: ArrayLike<number>, want: ArrayLike<number>): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (!(got[i] === want[i] || (Number.isNaN(got[i]) && Number.isNaN(want[i])))) expect.fail(`${what}: index ${i}: got ${got[i]}, want ${want[i]}`);
  }
}

const positive = (axes: readonly number[] | number | undefined, rank: number): number[] | undefined =>
  axes === undefined ? undefined : [axes].flat().map((a) => (a < 0 ? a + rank : a));

/** GPU max or min and its gradient for a seeded dy (or dy = dyAll everywhere), against the reference; returns both for reuse. */
async function checkExtremum(kind: ExtremumKind, x: Float64Array, shape: number[], axes?: number | number[], keepDims = false, dyAll?: number): Promise<{ y: Float32Array; dx: Float32Array }> {
  const ax = positive(axes, shape.length);
  const want = extremumRef(kind, nd(x, shape), ax);
  const xt = fromNd(x, shape, true);
  const y = reduceFn[kind](xt, axes, keepDims);
  const kept = shape.map((d, i) => ((ax ?? shape.map((_, j) => j)).includes(i) ? 1 : d));
  expect(y.shape).toEqual(keepDims ? kept : want.value.shape);
  const got = await y.toArray();
  expectSame(`${kind} forward`, got, want.value.data);
  const dy = dyAll === undefined ? uniform(want.value.data.length, 7) : new Float64Array(want.value.data.length).fill(dyAll);
  const dyt = fromNd(dy, [...y.shape]);
  y.backward(dyt);
  const dx = await xt.grad!.toArray();
  expectClose(`${kind} backward`, dx, extremumBackwardRef(kind, nd(x, shape), nd(dy, want.value.shape), ax).data);
  for (const t of [xt, y, dyt]) t.dispose();
  return { y: got, dx };
}

async function checkArg(kind: ExtremumKind, x: Float64Array, shape: number[], axis: number): Promise<Float32Array> {
  const xt = fromNd(x, shape);
  const i = argFn[kind](xt, axis);
  const want = argExtremumRef(kind, nd(x, shape), positive(axis, shape.length)![0]);
  expect(i.shape).toEqual(want.shape);
  const got = await i.toArray();
  expectSame(`arg${kind}`, got, want.data);
  for (const t of [xt, i]) t.dispose();
  return got;
}

/**
 * `paths`: the reduce kernels max() dispatches under the GPU rule (extrema-rule.ts), in order
 * (strategy, then plain values or states in); extrema-threads.test.ts covers the CPU rule's.
 */
const CASES = [
  { shape: [3, 4, 5], axes: [1], paths: ['threads,values'] }, // the middle axis, a thread per output
  { shape: [7, 300], axes: [-1], paths: ['tree,values'] }, // the last axis, a workgroup per output
  { shape: [6, 70, 3], axes: 1, paths: ['tree,values'] }, // a workgroup per output over a strided axis
  { shape: [2, 3, 4, 5], axes: [0, 2], paths: ['threads,values', 'threads,states'] }, // two runs
  { shape: [2, 3, 4, 5], axes: undefined, paths: ['tree,values'] },
  { shape: [1000], axes: undefined, paths: ['tree,values'] },
  { shape: [5, 1, 6], axes: [1], paths: ['threads,values'] }, // r = 1: a copy
  // Few outputs over long rows: chunks of rows, a workgroup each, then their states combined.
  { shape: [3, 20000, 5], axes: [1], paths: ['tree,values', 'threads,states'] },
  { shape: [40000], axes: [0], paths: ['tree,values', 'threads,states'] },
  { shape: [2, 3, 4], axes: [-1, 0], keepDims: true, paths: ['threads,values', 'threads,states'] },
  { shape: [4, 6], axes: -2, keepDims: true, paths: ['threads,values'] },
] as const;

describe('max and min', () => {
  for (const [k, cs] of CASES.entries()) {
    for (const kind of ['random', 'ties'] as const) {
      it(`${JSON.stringify(cs.shape)} over ${JSON.stringify(cs.axes)}${'keepDims' in cs ? ' keepDims' : ''}, ${kind} data: GPU matches CPU`, async () => {
        const shape = [...cs.shape];
        const x = data(size(shape), 300 + k, kind);
        const axes = typeof cs.axes === 'object' ? [...cs.axes] : cs.axes;
        setExtremaRule('gpu');
        const dispatch = vi.spyOn(runtime(), 'dispatch');
        await checkExtremum('max', x, shape, axes, 'keepDims' in cs);
        const paths = dispatch.mock.calls.filter(([spec]) => spec.name === 'max.reduce').map(([spec]) => spec.key);
        dispatch.mockRestore();
        expect(paths, 'kernels dispatched').toEqual(cs.paths);
        await checkExtremum('min', x, shape, axes, 'keepDims' in cs);
        if (typeof axes === 'number' || axes?.length === 1) {
          for (const op of ['max', 'min'] as const) await checkArg(op, x, shape, [axes].flat()[0]);
        }
      });
    }
  }

  it('argmax and argmin along every axis, ties included, match CPU', async () => {
    const shape = [4, 70, 3];
    const x = data(size(shape), 41, 'ties');
    for (const axis of [0, 1, 2, -1]) for (const op of ['max', 'min'] as const) await checkArg(op, x, shape, axis);
  });

  it('the reference gradient matches finite differences on data without ties', () => {
    for (const [shape, axes] of [[[3, 4, 5], [1]], [[2, 3, 4, 5], [0, 2]], [[6], undefined]] as const) {
      const x = distinct(size(shape), 5);
      const ref = extremumRef('max', nd(x, [...shape]), axes && [...axes]);
      const r = uniform(ref.value.data.length, 9);
      for (const kind of ['max', 'min'] as const) {
        const forward = (v: Float64Array) => extremumRef(kind, nd(v, [...shape]), axes && [...axes]).value;
        checkGrad(`${kind} ${JSON.stringify(shape)}`, forward, x, r, extremumBackwardRef(kind, nd(x, [...shape]), nd(r, ref.value.shape), axes && [...axes]).data);
      }
    }
  });

  it('ties: the gradient is split evenly among the holders, argmax takes the first (by hand)', async () => {
    const x = Float64Array.of(1, 3, 3, 2, 2, 2);
    const dyFor = Float64Array.of(1, 3);
    for (const [kind, y, dx, arg] of [
      ['max', [3, 2], [0, 0.5, 0.5, 1, 1, 1], [1, 0]],
      ['min', [1, 2], [1, 0, 0, 1, 1, 1], [0, 0]],
    ] as const) {
      const want = extremumRef(kind, nd(x, [2, 3]), [1]);
      expectSame(`${kind} reference`, want.value.data, y);
      expectSame(`${kind} reference gradient`, extremumBackwardRef(kind, nd(x, [2, 3]), nd(dyFor, [2]), [1]).data, dx);
      const xt = fromNd(x, [2, 3], true);
      const yt = reduceFn[kind](xt, 1);
      const dyt = fromNd(dyFor, [2]);
      yt.backward(dyt);
      expectSame(`${kind} GPU`, await yt.toArray(), y);
      expectSame(`${kind} GPU gradient`, await xt.grad!.toArray(), dx);
      expectSame(`arg${kind} GPU`, await checkArg(kind, x, [2, 3], 1), arg);
      for (const t of [xt, yt, dyt]) t.dispose();
    }
  });

  it('NaN propagates; argmax points at the first NaN, the gradient goes to the NaNs (by hand)', async () => {
    const x = Float64Array.of(1, NaN, 3, NaN, 4, 5, 6, 7, NaN, -Infinity, Infinity, 0);
    for (const [kind, y, dx, arg] of [
      ['max', [NaN, 7, NaN], [0, 0.5, 0, 0.5, 0, 0, 0, 1, 1, 0, 0, 0], [1, 3, 0]],
      ['min', [NaN, 4, NaN], [0, 0.5, 0, 0.5, 1, 0, 0, 0, 1, 0, 0, 0], [1, 0, 0]],
    ] as const) {
      expectSame(`${kind} reference`, extremumRef(kind, nd(x, [3, 4]), [1]).value.data, y);
      expectSame(`${kind} reference gradient`, extremumBackwardRef(kind, nd(x, [3, 4]), nd([1, 1, 1], [3]), [1]).data, dx);
      const xt = fromNd(x, [3, 4], true);
      const yt = reduceFn[kind](xt, -1);
      const ones = dn.full([3], 1);
      yt.backward(ones);
      expectSame(`${kind} GPU`, await yt.toArray(), y);
      expectSame(`${kind} GPU gradient`, await xt.grad!.toArray(), dx);
      expectSame(`arg${kind} GPU`, await checkArg(kind, x, [3, 4], 1), arg);
      for (const t of [xt, yt, ones]) t.dispose();
    }
  });

  it('NaN on the workgroup and chunked paths, over all axes and one, matches CPU', async () => {
    for (const [shape, axes] of [[[7, 300], [1]], [[3, 20000, 5], [1]], [[40000], undefined], [[2, 3, 4, 5], [0, 2]]] as const) {
      const x = data(size(shape), 13, 'random');
      for (const at of [size(shape) - 7, Math.floor(size(shape) / 3), Math.floor(size(shape) / 3) + 5]) x[at] = NaN;
      for (const kind of ['max', 'min'] as const) {
        await checkExtremum(kind, x, [...shape], axes && [...axes]);
        if (axes?.length === 1) await checkArg(kind, x, [...shape], axes[0]);
      }
    }
  });

  it('infinities are ordinary values, tied among themselves (by hand)', async () => {
    const x = Float64Array.of(-Infinity, -Infinity, -Infinity, Infinity, 1, Infinity, -Infinity, 2, Infinity);
    const { y, dx } = await checkExtremum('max', x, [3, 3], 1, false, 1);
    expectSame('max', y, [-Infinity, Infinity, Infinity]);
    expectClose('max gradient', dx, [1 / 3, 1 / 3, 1 / 3, 0.5, 0, 0.5, 0, 0, 1]);
    expectSame('min', (await checkExtremum('min', x, [3, 3], 1)).y, [-Infinity, 1, -Infinity]);
    expectSame('argmax', await checkArg('max', x, [3, 3], 1), [0, 0, 2]);
    expectSame('argmin', await checkArg('min', x, [3, 3], 1), [0, 1, 0]);
  });

  it('subnormals are kept apart from zero, and -0 ties +0 (by hand)', async () => {
    const tiny = 2 ** -149;
    const x = Float64Array.of(0, -0, tiny, -tiny, -0, 0, -1, -2);
    const { y, dx } = await checkExtremum('max', x, [2, 4], 1, false, 1);
    expectSame('max', y, [tiny, 0]);
    expectSame('max gradient', dx, [0, 0, 1, 0, 0.5, 0.5, 0, 0]);
    expectSame('min', (await checkExtremum('min', x, [2, 4], 1)).y, [-tiny, -2]);
    expectSame('argmax', await checkArg('max', x, [2, 4], 1), [2, 0]);
    expectSame('argmin', await checkArg('min', x, [2, 4], 1), [3, 3]);
  });

  it('no axes to reduce (a scalar, or axes []) passes x and its gradient through', async () => {
    for (const [shape, axes] of [[[], undefined], [[2, 3], []]] as const) {
      await checkExtremum('max', data(size(shape), 3, 'random'), [...shape], axes && [...axes]);
    }
  });

  it('argmax records nothing for autograd, and its float indices are what oneHot takes', async () => {
    const x = data(24, 17, 'random');
    const xt = fromNd(x, [6, 4], true);
    const i = argmax(xt, -1);
    expect(i.requiresGrad).toBe(false);
    expect(i.node).toBeNull();
    const hot = dn.oneHot(i, 4);
    const idx = argExtremumRef('max', nd(x, [6, 4]), 1).data;
    expectSame('oneHot(argmax)', await hot.toArray(), Array.from({ length: 24 }, (_, k) => (idx[Math.floor(k / 4)] === k % 4 ? 1 : 0)));
    for (const t of [xt, i, hot]) t.dispose();
  });
});

// Past the storage binding limit (src/kernels/chunking.ts): each case runs with the device's limit
// and again with a lowered one. The split run must dispatch more, and give bit-identical values,
// indices and gradients (a selection and one division per element, whatever the chunks), which
// also match the reference. Tie data, so counts and first indices cross chunk boundaries.
const SPLIT_CASES = [
  { shape: [9, 40, 7], axes: [1], limit: 2048 }, // chunks of whole [r, b] rows along A
  { shape: [3, 500, 2], axes: [1], limit: 1024 }, // a row does not fit: states per chunk of R, combined
  { shape: [5000], axes: undefined, limit: 4096 },
  { shape: [300, 1, 5], axes: [1], limit: 1024 }, // r = 1, flat chunks
  { shape: [6, 50, 4], axes: [0, 2], limit: 1024 }, // states in, split along R; backward expands in chunks
] as const;

describe('past the binding limit', () => {
  for (const [k, cs] of SPLIT_CASES.entries()) {
    it(`${JSON.stringify(cs.shape)} over ${JSON.stringify(cs.axes)} under ${cs.limit} bytes: split matches whole and CPU`, async () => {
      const shape = [...cs.shape];
      const x = data(size(shape), 700 + k, 'ties');
      const axes = cs.axes && [...cs.axes];
      const runAll = async () => {
        const before = runtime().dispatchCount;
        const out: Float32Array[] = [];
        for (const op of ['max', 'min'] as const) {
          const { y, dx } = await checkExtremum(op, x, shape, axes);
          out.push(y, dx);
          if (axes?.length === 1) out.push(await checkArg(op, x, shape, axes[0]));
        }
        return { out, dispatches: runtime().dispatchCount - before };
      };
      const whole = await runAll();
      runtime().setBindingLimit(cs.limit);
      const split = await runAll();
      runtime().setBindingLimit(null);
      expect(split.dispatches, 'the lowered limit splits the work').toBeGreaterThan(whole.dispatches);
      split.out.forEach((got, i) => expectSame(`output ${i} split vs whole`, got, whole.out[i]));
    });
  }

  // The file's leak check sees anything left allocated, the first run's states included.
  it('a row of b that cannot fit is a LimitError, leaving nothing allocated', () => {
    const [x, x4] = [dn.zeros([2, 300]), dn.zeros([2, 3, 300, 2])];
    runtime().setBindingLimit(1024);
    expect(() => max(x, 0)).toThrow(LimitError);
    expect(() => min(x4, [0, 3])).toThrow(LimitError); // after axis 3, axis 0's rows of 900 do not fit
    runtime().setBindingLimit(null);
    for (const t of [x, x4]) t.dispose();
  });
});

/** The error fn throws: checked to be of class `cls` (and not an ArgumentError where `exact`), naming `op` first. */
function expectError(fn: () => unknown, cls: typeof ShapeError | typeof DisposedError, op: string, exact = false): void {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(cls);
  if (exact) expect(error).not.toBeInstanceOf(ArgumentError);
  expect((error as Error).message.startsWith(`${op}:`), (error as Error).message).toBe(true);
}

describe('arguments', () => {
  it('ArgumentError for the wrong kind of value, ShapeError for bad axes, DisposedError after dispose', () => {
    const x = dn.zeros([2, 3]);
    const empty = dn.zeros([0, 3]);
    const long = emptyTensor([2 ** 24 + 1]);
    const gone = dn.zeros([2]);
    gone.dispose();
    const loose = { max, min, argmax, argmin } as unknown as Record<string, (...args: unknown[]) => dn.Tensor>;
    expectError(() => loose.max(3), ArgumentError, 'max');
    expectError(() => loose.min(x, 'rows'), ArgumentError, 'min');
    expectError(() => loose.max(x, 0, { keepDims: true }), ArgumentError, 'max');
    expectError(() => max(x, 2), ShapeError, 'max', true);
    expectError(() => min(x, [-3]), ShapeError, 'min', true);
    expectError(() => max(empty, 0), ShapeError, 'max', true);
    expectError(() => loose.argmax(x), ArgumentError, 'argmax');
    expectError(() => loose.argmin(x, [0]), ArgumentError, 'argmin');
    expectError(() => argmax(x, 1.5), ArgumentError, 'argmax');
    expectError(() => argmax(x, -3), ShapeError, 'argmax', true);
    expectError(() => argmin(empty, 0), ShapeError, 'argmin', true);
    expectError(() => argmax(long, 0), ShapeError, 'argmax', true);
    expectError(() => max(gone), DisposedError, 'max');
    expectError(() => argmin(gone, 0), DisposedError, 'argmin');
    for (const t of [x, empty, long]) t.dispose();
  });

  it('an empty output (a kept axis of 0) is empty, with nothing dispatched', async () => {
    const x = dn.zeros([0, 3]);
    const before = runtime().dispatchCount;
    const outs = [max(x, 1), min(x, -1, true), argmax(x, 1)];
    expect(runtime().dispatchCount).toBe(before);
    expect(outs.map((t) => t.shape)).toEqual([[0], [0, 1], [0]]);
    for (const t of [x, ...outs]) t.dispose();
  });
});
