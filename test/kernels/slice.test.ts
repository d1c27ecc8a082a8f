// slice, stridedSlice and reverse against their float64 references (src/reference/slice.ts) over
// ranks 1-5 and every axis: size −1, negative begins, strides > 1 with ends off the stride,
// negative strides, clamped bounds, empty results. Each op is linear, so its gradient is checked
// against finite differences and, exactly, against the reference's adjoint (test/helpers/linear-op.ts).
// Then identities (reverse twice, a full slice) and argument errors naming the op.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { reverse, slice, stridedSlice } from '../../src/kernels/slice.js';
import type { NdArray } from '../../src/reference/array.js';
import { gatherBackwardRef, gatherRef, reverseIndices, sliceIndices, stridedSliceIndices } from '../../src/reference/slice.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { checkLinearOp, EXACT, f32Data } from '../helpers/linear-op.js';
import { expectClose } from '../helpers/close.js';

useGpu();

/** A gather case: its per-axis index lists give the reference forward and backward. */
function gatherCase(name: string, xShape: number[], seed: number, index: number[][], gpu: (x: dn.Tensor) => dn.Tensor) {
  return {
    name,
    xShape,
    seed,
    gpu,
    forwardRef: (x: NdArray) => gatherRef(x, index),
    backwardRef: (dy: NdArray) => gatherBackwardRef(dy, xShape, index),
  };
}

const SLICE_CASES: { shape: number[]; begin: number[]; size?: number[] }[] = [
  { shape: [7], begin: [2], size: [3] },
  { shape: [7], begin: [-3], size: [-1] },
  { shape: [7], begin: [-7] },
  { shape: [5, 3], begin: [1, 0], size: [3, -1] },
  { shape: [5, 3], begin: [0, -2], size: [-1, 1] },
  { shape: [3, 5, 7], begin: [1, 2, 3], size: [1, -1, 3] },
  { shape: [3, 5, 7], begin: [-1], size: [1] },
  { shape: [2, 3, 5, 3], begin: [0, 1, -4, 1], size: [-1, 2, 3, -1] },
  { shape: [3, 2, 3, 5, 3], begin: [1, 0, 1, 2, 0], size: [2, -1, 1, 2, 3] },
  { shape: [4, 3], begin: [4, 0], size: [-1, -1] },
  { shape: [4, 3], begin: [1, 1], size: [2, 0] },
  // Every axis of a rank-4 tensor on its own, from a negative begin to the end.
  ...[0, 1, 2, 3].map((d) => ({ shape: [3, 5, 7, 3], begin: [0, 0, 0, 0].map((_, k) => (k === d ? -2 : 0)) })),
  // And from the middle, a size that stops short of the end.
  ...[0, 1, 2, 3].map((d) => ({ shape: [3, 5, 7, 3], begin: [0, 0, 0, 0].map((_, k) => (k === d ? 1 : 0)), size: [-1, -1, -1, -1].map((v, k) => (k === d ? 1 : v)) })),
];

const STRIDED_CASES: { shape: number[]; begin: number[]; end: number[]; strides?: number[] }[] = [
  { shape: [11], begin: [1], end: [10], strides: [3] },
  { shape: [11], begin: [-1], end: [-12], strides: [-2] },
  { shape: [5], begin: [1], end: [5], strides: [7] },
  { shape: [7, 5], begin: [0, 4], end: [7, 0], strides: [2, -3] },
  { shape: [7, 5], begin: [2], end: [6] },
  { shape: [3, 5, 7], begin: [2, -100, 1], end: [-100, 100, 6], strides: [-1, 2, 4] },
  { shape: [2, 3, 5, 7], begin: [0, 1, 0, 6], end: [2, 3, 5, 0], strides: [1, 1, 3, -2] },
  { shape: [3, 2, 3, 5, 3], begin: [0, 1, 2, 0, 0], end: [3, -3, 0, 5, 3], strides: [2, -1, -1, 2, 2] },
  { shape: [5, 4], begin: [3], end: [1], strides: [1] },
  { shape: [5, 4], begin: [0, 3], end: [5, 3], strides: [1, -1] },
  ...[0, 1, 2, 3].map((d) => ({ shape: [3, 5, 7, 3], begin: [0, 0, 0, 0].map((_, k) => (k === d ? -1 : 0)), end: [3, 5, 7, 3].map((n, k) => (k === d ? -n - 1 : n)), strides: [1, 1, 1, 1].map((_, k) => (k === d ? -2 : 1)) })),
];

const REVERSE_CASES: { shape: number[]; axes?: number | number[] }[] = [
  { shape: [7], axes: 0 },
  { shape: [5, 3], axes: [1] },
  { shape: [3, 5, 7] },
  ...[0, 1, 2, 3].map((d) => ({ shape: [3, 5, 7, 3], axes: [d] })),
  { shape: [3, 5, 7, 3], axes: [1, -1] },
  { shape: [2, 3, 1, 5, 3], axes: [0, 2, -1] },
  { shape: [2, 3, 5, 3], axes: [] },
];

describe('slice', () => {
  SLICE_CASES.forEach((cs, k) => {
    const name = `slice ${JSON.stringify(cs.shape)} from ${JSON.stringify(cs.begin)} size ${JSON.stringify(cs.size ?? 'rest')}`;
    it(`${name}: forward, backward, adjoint`, () =>
      checkLinearOp(gatherCase(name, cs.shape, 10 + 2 * k, sliceIndices(cs.shape, cs.begin, cs.size), (x) => slice(x, cs.begin, cs.size))));
  });
});

describe('stridedSlice', () => {
  STRIDED_CASES.forEach((cs, k) => {
    const strides = cs.strides ?? cs.begin.map(() => 1);
    const name = `stridedSlice ${JSON.stringify(cs.shape)} ${JSON.stringify(cs.begin)}:${JSON.stringify(cs.end)}:${JSON.stringify(strides)}`;
    it(`${name}: forward, backward, adjoint`, () =>
      checkLinearOp(gatherCase(name, cs.shape, 100 + 2 * k, stridedSliceIndices(cs.shape, cs.begin, cs.end, strides), (x) => stridedSlice(x, cs.begin, cs.end, cs.strides))));
  });
});

describe('reverse', () => {
  REVERSE_CASES.forEach((cs, k) => {
    const axes = cs.axes === undefined ? cs.shape.map((_, d) => d) : typeof cs.axes === 'number' ? [cs.axes] : cs.axes;
    const name = `reverse ${JSON.stringify(cs.shape)} on ${JSON.stringify(cs.axes ?? 'every axis')}`;
    it(`${name}: forward, backward, adjoint`, () =>
      checkLinearOp(gatherCase(name, cs.shape, 200 + 2 * k, reverseIndices(cs.shape, axes), (x) => reverse(x, cs.axes))));
  });
});

describe('slice identities', () => {
  it('reverse twice, and a slice of everything, give x back', async () => {
    const x = f32Data([3, 4, 5, 2], 300);
    const xt = fromNd(x.data, x.shape);
    const outs = dn.scope(() => [reverse(reverse(xt, [0, 2, 3]), [3, 0, 2]), slice(xt, [0, 0, 0, 0], [-1, -1, -1, -1]), stridedSlice(xt, [0, 0], [3, 4], [1, 1])]);
    for (const [i, t] of outs.entries()) expectClose(`identity ${i}`, await t.toArray(), x.data, EXACT);
    for (const t of [xt, ...outs]) t.dispose();
  });
});

describe('slice argument errors', () => {
  it('name the op, and allocate nothing', () => {
    const x = dn.zeros([4, 3]);
    const before = dn.memory().bytesInUse;
    const shapeErrors: [RegExp, () => unknown][] = [
      [/^slice: /, () => slice(x, [5, 0])],
      [/^slice: /, () => slice(x, [-5, 0])],
      [/^slice: /, () => slice(x, [1, 0], [4, -1])],
      [/^slice: /, () => slice(x, [0, 0, 0])],
      [/^stridedSlice: /, () => stridedSlice(x, [0, 0], [1], [1, 1])],
      [/^stridedSlice: /, () => stridedSlice(x, [0, 0, 0], [1, 1, 1])],
      [/^reverse: /, () => reverse(x, [0, 0])],
      [/^reverse: /, () => reverse(x, 2)],
      [/^reverse: /, () => reverse(x, [-3])],
    ];
    for (const [message, f] of shapeErrors) {
      expect(f).toThrow(dn.ShapeError);
      expect(f).toThrow(message);
    }
    const argumentErrors: [RegExp, () => unknown][] = [
      [/^slice: /, () => slice(x, 1 as unknown as number[])],
      [/^slice: /, () => slice(x, [0.5, 0])],
      [/^slice: /, () => slice(x, [0, 0], [1, -2])],
      [/^slice: /, () => slice(3 as unknown as dn.Tensor, [0])],
      [/^stridedSlice: /, () => stridedSlice(x, [0, 0], [1, 1], [1, 0])],
      [/^stridedSlice: /, () => stridedSlice(x, [0], ['2' as unknown as number])],
      [/^reverse: /, () => reverse(x, [1.5])],
      [/^reverse: /, () => reverse(x, 'all' as unknown as number)],
    ];
    for (const [message, f] of argumentErrors) {
      expect(f).toThrow(dn.ArgumentError);
      expect(f).toThrow(message);
    }
    expect(dn.memory().bytesInUse).toBe(before);
    x.dispose();
  });
});
