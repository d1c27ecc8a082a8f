import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import {
  avgPool2d,
  globalAvgPool2d,
  maxPool2d,
  maxPool2dBackward,
  maxPool2dForward,
  type Pool2dOptions,
} from '../../src/kernels/pool.js';
import { nd } from '../../src/reference/array.js';
import {
  globalAvgPool2dBackwardRef,
  globalAvgPool2dRef,
  maxPool2dBackwardRef,
  maxPool2dRef,
} from '../../src/reference/pool.js';
import { expectClose } from '../helpers/close.js';
import { checkGrad } from '../helpers/finite-diff.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { rng, uniform } from '../helpers/rng.js';
import { distinct, poolCaseTests, size } from './pool-helpers.js';

useGpu();

const POOL_CASES = [
  { shape: [2, 7, 9, 3], opts: { size: 2 } },
  { shape: [2, 8, 6, 5], opts: { size: 2, stride: 2, padding: 'same' } },
  { shape: [2, 7, 9, 5], opts: { size: 3, stride: 2 } },
  { shape: [1, 7, 9, 3], opts: { size: 3, stride: 2, padding: 'same' } },
  { shape: [2, 5, 6, 3], opts: { size: 3, stride: 1, padding: 'same' } },
  { shape: [1, 6, 5, 2], opts: { size: [3, 2], stride: [1, 2], padding: 'same' } },
  { shape: [2, 5, 5, 3], opts: { size: 2, stride: 3 } },
  { shape: [1, 4, 4, 70], opts: { size: 2 } },
  // Windows that tile the image (the one-thread-per-window backward): padded first cells, and
  // 'valid' leftovers in the last row and column that no window reaches.
  { shape: [1, 7, 8, 2], opts: { size: 3, stride: 3, padding: 'same' } },
  { shape: [2, 8, 11, 3], opts: { size: [3, 2], stride: [3, 2] } },
  // Channels a multiple of 4: four per thread (vec4) in the forward and both backwards.
  { shape: [2, 7, 9, 4], opts: { size: 2 } },
  { shape: [1, 7, 9, 8], opts: { size: 3, stride: 2, padding: 'same' } },
] as const satisfies readonly { shape: readonly number[]; opts: Pool2dOptions }[];


describe('maxPool2d', () => {
  poolCaseTests('max', POOL_CASES, 10, 20);

  it("'same' padding is TF's: 3x3 input, 2x2 stride 2 pads only the bottom and right", async () => {
    const x = dn.tensor([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 3, 3, 1]);
    const y = maxPool2d(x, { size: 2, padding: 'same' });
    expect(Array.from(await y.toArray())).toEqual([5, 6, 8, 9]);
    expect(maxPool2dRef(nd([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 3, 3, 1]), { size: 2, padding: 'same' }).data).toEqual(Float64Array.from([5, 6, 8, 9]));
    x.dispose();
    y.dispose();
  });

  it('padded positions never win, even over negative inputs', async () => {
    const data = uniform(5 * 5, 31, -2, -1);
    const x = fromNd(data, [1, 5, 5, 1]);
    const y = maxPool2d(x, { size: 3, stride: 2, padding: 'same' });
    const want = maxPool2dRef(nd(data, [1, 5, 5, 1]), { size: 3, stride: 2, padding: 'same' });
    expect(Math.max(...want.data)).toBeLessThan(0);
    expectClose('maxPool2d negative same', await y.toArray(), want.data);
    x.dispose();
    y.dispose();
  });

  // Overlapping windows and windows that tile the image; one channel per thread (C = 3) and four (C = 4).
  for (const [shape, opts] of [
    [[2, 5, 6, 3], { size: 3, stride: 1 }],
    [[2, 5, 6, 4], { size: 3, stride: 1 }],
    [[2, 6, 6, 4], { size: 2 }],
  ] as const) it(`ties ${JSON.stringify(shape)} ${JSON.stringify(opts)}: the first maximum in scan order takes the whole gradient, exactly once`, async () => {
    const ones = new Float64Array(size(shape)).fill(0.5);
    const x = fromNd(ones, [...shape]);
    const { y, argmax } = maxPool2dForward(x, opts);
    const dy = uniform(y.size, 32);
    const dyt = fromNd(dy, [...y.shape]);
    const dx = maxPool2dBackward(dyt, argmax, [...shape], opts);
    const got = await dx.toArray();
    expectClose('maxPool2d ties', got, maxPool2dBackwardRef(nd(ones, [...shape]), nd(dy, [...y.shape]), opts).data);
    const total = (a: ArrayLike<number>): number => Array.from(a).reduce((s, v) => s + v, 0);
    expect(total(got)).toBeCloseTo(total(dy), 4);
    for (const t of [x, y, argmax, dyt, dx]) t.dispose();
  });

  it('does not keep the argmax when nothing needs a gradient', async () => {
    const x = fromNd(distinct(2 * 4 * 4 * 3, 33), [2, 4, 4, 3]);
    const before = dn.memory().bytesInUse;
    const y = maxPool2d(x, { size: 2 });
    expect(y.node).toBeNull();
    y.dispose();
    expect(dn.memory().bytesInUse).toBe(before);
    x.dispose();
  });
});

const AVG_CASES = [
  { shape: [2, 7, 9, 3], opts: { size: 2 } },
  { shape: [1, 7, 9, 5], opts: { size: 3, stride: 2, padding: 'same' } },
  { shape: [2, 6, 5, 3], opts: { size: 3, stride: 1, padding: 'same' } },
] as const satisfies readonly { shape: readonly number[]; opts: Pool2dOptions }[];

describe('avgPool2d', () => {
  poolCaseTests('avg', AVG_CASES, 40, 50);
});

// Channel blocks of 4 and 8 lanes, a C = 70 that needs two 64-channel blocks, and C = 1 with
// H*W = 1023 spread over all 256 pixel lanes.
const GAP_CASES = [[2, 7, 9, 3], [2, 3, 5, 5], [1, 3, 5, 70], [2, 33, 31, 1]] as const;

describe('globalAvgPool2d', () => {
  for (const [k, s] of GAP_CASES.entries()) {
    const shape = [...s];
    const name = `globalAvgPool2d ${JSON.stringify(s)}`;
    const x = uniform(size(shape), 60 + k);
    const dy = uniform(shape[0] * shape[3], 70 + k);

    it(`${name}: CPU backward matches finite differences`, () => {
      const analytic = globalAvgPool2dBackwardRef(shape, nd(dy, [shape[0], shape[3]]));
      checkGrad(name, (v) => globalAvgPool2dRef(nd(v, shape)), x, dy, analytic.data);
    });

    it(`${name}: GPU forward and backward match CPU`, async () => {
      const xt = fromNd(x, shape, true);
      const y = globalAvgPool2d(xt);
      expect(y.shape).toEqual([shape[0], shape[3]]);
      expectClose(`${name} forward`, await y.toArray(), globalAvgPool2dRef(nd(x, shape)).data);
      const dyt = fromNd(dy, [shape[0], shape[3]]);
      y.backward(dyt);
      expectClose(`${name} backward`, await xt.grad!.toArray(), globalAvgPool2dBackwardRef(shape, nd(dy, [shape[0], shape[3]])).data);
      for (const t of [xt, y, dyt]) t.dispose();
    });
  }
});

describe('pool argument checks', () => {
  it('throws ShapeError before dispatch for bad inputs', () => {
    const rank3 = dn.zeros([4, 4, 3]);
    const small = dn.zeros([1, 3, 5, 2]);
    const before = dn.memory().bytesInUse;
    expect(() => maxPool2d(rank3, { size: 2 })).toThrow(dn.ShapeError);
    expect(() => avgPool2d(rank3, { size: 2 })).toThrow(dn.ShapeError);
    expect(() => globalAvgPool2d(rank3)).toThrow(dn.ShapeError);
    expect(() => maxPool2d(small, { size: 4 })).toThrow(dn.ShapeError);
    expect(() => maxPool2d(small, { size: [2, 6] })).toThrow(dn.ShapeError);
    expect(() => maxPool2d(small, { size: 2, stride: 0 })).toThrow(dn.ShapeError);
    expect(() => maxPool2d(small, { size: 1.5 })).toThrow(dn.ShapeError);
    expect(() => maxPool2d(small, { size: 2, padding: 'full' as 'same' })).toThrow(dn.ShapeError);
    expect(dn.memory().bytesInUse).toBe(before);
    // A window larger than the input is fine with 'same' padding.
    const y = maxPool2d(small, { size: 4, stride: 1, padding: 'same' });
    expect(y.shape).toEqual([1, 3, 5, 2]);
    for (const t of [rank3, small, y]) t.dispose();
  });
});

describe('maxPool2d with NaN', () => {
  // PyTorch's max pool propagates NaN wherever it lies in the window, its index pointing at the
  // first NaN, so the backward sends that window's dy there. Before, a NaN won only where it came
  // first (v > NaN is false, NaN > v too): [1, NaN, 3, 4 | 5, 6, 7, 8] pooled 2x2 gave [6, 8].
  it('the repro: a NaN second in its window still wins it', async () => {
    for (const data of [[1, Number.NaN, 3, 4, 5, 6, 7, 8], [Number.NaN, 1, 3, 4, 5, 6, 7, 8], [1, 2, 3, 4, 5, Number.NaN, 7, 8]]) {
      const x = dn.tensor(data, [1, 2, 4, 1]);
      const y = dn.maxPool2d(x, { size: 2 });
      const got = await y.toArray();
      expect(Number.isNaN(got[0]), `${data}`).toBe(true);
      expect(got[1]).toBe(8);
      for (const t of [x, y]) t.dispose();
    }
  });

  // Each case puts NaNs at seeded positions (some windows two, in either order), in channels of
  // one thread each (C = 3) and four (C = 4), windows that tile and windows that overlap.
  for (const [shape, opts] of [
    [[2, 6, 6, 3], { size: 2 }],
    [[2, 6, 6, 4], { size: 2 }],
    [[2, 5, 6, 3], { size: 3, stride: 1, padding: 'same' }],
    [[1, 7, 9, 4], { size: 3, stride: 2, padding: 'same' }],
  ] as const) {
    it(`${JSON.stringify(shape)} ${JSON.stringify(opts)}: NaN wherever a window holds one, the gradient at its first NaN, as the reference`, async () => {
      const n = size(shape);
      // float32 values, as the GPU holds them: each output is one of them, compared exactly.
      const data = Float64Array.from(Float32Array.from(distinct(n, 41)));
      const r = rng(42);
      for (let k = 0; k < n / 6; k++) data[Math.floor(r() * n)] = Number.NaN;
      const x = fromNd(data, [...shape], true);
      const y = maxPool2d(x, opts);
      const want = maxPool2dRef(nd(data, [...shape]), opts);
      const got = await y.toArray();
      const nans = [...want.data].map(Number.isNaN);
      expect(nans.some(Boolean) && !nans.every(Boolean), 'some windows with NaN, some without').toBe(true);
      expect([...got].map(Number.isNaN)).toEqual(nans);
      // Outside the NaN windows each output is one input value, exactly.
      expect([...got].filter((_, i) => !nans[i])).toEqual([...want.data].filter((_, i) => !nans[i]));
      const dy = uniform(y.size, 43);
      const dyt = fromNd(dy, [...y.shape]);
      y.backward(dyt);
      // Sums of at most 9 dy in [-1, 1] (overlapping windows): float32 rounding inside the defaults.
      expectClose('maxPool2d dx with NaN', await x.grad!.toArray(), maxPool2dBackwardRef(nd(data, [...shape]), nd(dy, [...y.shape]), opts).data);
      for (const t of [x, y, dyt]) t.dispose();
    });
  }

  it('the reference takes the first NaN of a window, in scan order', () => {
    const data = [1, Number.NaN, Number.NaN, 4];
    const dx = maxPool2dBackwardRef(nd(data, [1, 2, 2, 1]), nd([5], [1, 1, 1, 1]), { size: 2 });
    expect(Number.isNaN(maxPool2dRef(nd(data, [1, 2, 2, 1]), { size: 2 }).data[0])).toBe(true);
    expect([...dx.data]).toEqual([0, 5, 0, 0]);
  });
});

describe('pool options', () => {
  // TF's `strides` and Keras's `poolSize` beside `size` were accepted and ignored: the pool ran with
  // the stride (or window) left at its default. Any option outside size, stride and padding is now
  // an ArgumentError naming the op and listing the known ones.
  it('an unknown option is an ArgumentError naming the op and the options it knows; globalAvgPool2d takes none', () => {
    const x = dn.zeros([1, 4, 4, 2]);
    const before = dn.memory().bytesInUse;
    for (const [name, op] of [['maxPool2d', maxPool2d], ['avgPool2d', avgPool2d]] as const) {
      for (const opts of [{ size: 2, strides: 1 }, { poolSize: 3, size: 2 }]) {
        const call = () => op(x, opts as Pool2dOptions);
        expect(call).toThrow(dn.ArgumentError);
        expect(call).toThrow(new RegExp(`^${name}: unknown option '${Object.keys(opts).find((k) => k !== 'size')}'; the options are size, stride, padding`));
      }
    }
    expect(() => globalAvgPool2d(x, { keepdims: true } as never)).toThrow(dn.ArgumentError);
    expect(() => globalAvgPool2d(x, { keepdims: true } as never)).toThrow(/^globalAvgPool2d: takes the input alone/);
    expect(dn.memory().bytesInUse).toBe(before);
    x.dispose();
  });
});
