// slice, stridedSlice, reverse, tile, stack and unstack past the storage binding limit: each runs
// with the device's limit and again with runtime().setBindingLimit() lowered to tens or hundreds of
// bytes. The gathers split along axis 0 into chunks of rows (bounded by the rows of x a strided
// chunk spans), or one row at a time at one rank less when a row is too big; tile's backward
// splits its tiles into passes that add up. Everything is a copy or a sum of small integers, so
// the split run must be bit-identical to the whole one and to the reference, with more dispatches.

import { afterEach, describe, expect, it, vi } from 'vitest';
import * as dn from '../../src/index.js';
import { runtime } from '../../src/gpu/runtime.js';
import { reverse, slice, stridedSlice } from '../../src/kernels/slice.js';
import { stack, unstack } from '../../src/kernels/stack.js';
import { tile } from '../../src/kernels/tile.js';
import { nd } from '../../src/reference/array.js';
import {
  gatherBackwardRef,
  gatherRef,
  reverseIndices,
  sliceIndices,
  stackRef,
  stridedSliceIndices,
  tileIndices,
  unstackRef,
} from '../../src/reference/slice.js';
import { expectClose } from '../helpers/close.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { EXACT, f32Data, integers } from '../helpers/linear-op.js';

useGpu();

afterEach(() => runtime().setBindingLimit(null));

interface Run {
  y: Float32Array;
  dx: Float32Array;
  dispatches: number;
  copies: number;
}

/** y = op(x) and x's gradient for dy, with the dispatches and buffer copies they took. */
async function run(op: (x: dn.Tensor) => dn.Tensor, x: Float64Array, xShape: number[], dy: Float64Array, yShape: number[]): Promise<Run> {
  const rt = runtime();
  const xt = fromNd(x, xShape, true);
  const dyt = fromNd(dy, yShape);
  const before = rt.dispatchCount;
  const copy = vi.spyOn(rt, 'copy');
  const y = op(xt);
  y.backward(dyt);
  const [dispatches, copies] = [rt.dispatchCount - before, copy.mock.calls.length];
  copy.mockRestore();
  const out = { y: await y.toArray(), dx: await xt.grad!.toArray(), dispatches, copies };
  for (const t of [xt, dyt, y]) t.dispose();
  return out;
}

function expectBitEqual(what: string, got: Float32Array, want: Float32Array): void {
  const [a, b] = [new Uint32Array(got.buffer, got.byteOffset, got.length), new Uint32Array(want.buffer, want.byteOffset, want.length)];
  expect(a.length, what).toBe(b.length);
  const i = a.findIndex((v, k) => v !== b[k]);
  if (i >= 0) expect.fail(`${what}: differs at index ${i}: ${got[i]} vs ${want[i]} without the limit`);
}

interface GatherCase {
  why: string;
  xShape: number[];
  limit: number;
  index: number[][];
  op: (x: dn.Tensor) => dn.Tensor;
  /** Chunks whose offsets are 256-byte aligned bind in place: no staging copies. */
  inPlace?: boolean;
}

const X = [5, 7, 9, 3];

const CASES: GatherCase[] = [
  {
    why: 'slice: x rows too big for a binding (one row at a time), then chunks of rows',
    xShape: X,
    limit: 256,
    index: sliceIndices(X, [1, -5, 2, 0], [3, 4, -1, 2]),
    op: (x) => slice(x, [1, -5, 2, 0], [3, 4, -1, 2]),
  },
  {
    why: 'slice keeping whole rows of 8: chunks of vec4s, staged where misaligned',
    xShape: [6, 8, 8],
    limit: 256,
    index: sliceIndices([6, 8, 8], [1, 2, 0], [4, 5, 8]),
    op: (x) => slice(x, [1, 2, 0], [4, 5, 8]),
  },
  {
    why: 'stridedSlice, stride 7: each chunk bounded by the x rows it spans',
    xShape: [40, 3],
    limit: 64,
    index: stridedSliceIndices([40, 3], [2, 0], [39, 3], [7, 1]),
    op: (x) => stridedSlice(x, [2, 0], [39, 3], [7, 1]),
  },
  {
    why: 'stridedSlice, negative strides on every axis',
    xShape: X,
    limit: 256,
    index: stridedSliceIndices(X, [4, 6, 8, 2], [-6, -8, 0, -4], [-2, -3, -1, -1]),
    op: (x) => stridedSlice(x, [4, 6, 8, 2], [-6, -8, 0, -4], [-2, -3, -1, -1]),
  },
  {
    why: 'stridedSlice backward: chunks of dx rows that no dy row lands in are zeros',
    xShape: [9, 20],
    limit: 256,
    index: stridedSliceIndices([9, 20], [1, 0], [9, 20], [5, 1]),
    op: (x) => stridedSlice(x, [1, 0], [9, 20], [5, 1]),
  },
  {
    why: 'stridedSlice backward: dx rows too big, one at a time, most of them zeros',
    xShape: [9, 70],
    limit: 256,
    index: stridedSliceIndices([9, 70], [1, 3], [9, 70], [5, 2]),
    op: (x) => stridedSlice(x, [1, 3], [9, 70], [5, 2]),
  },
  {
    why: 'reverse on three axes',
    xShape: X,
    limit: 256,
    index: reverseIndices(X, [0, 1, 3]),
    op: (x) => reverse(x, [0, 1, 3]),
  },
  {
    why: 'reverse, 256-byte rows bound in place',
    xShape: [6, 64],
    limit: 512,
    index: reverseIndices([6, 64], [1]),
    op: (x) => reverse(x, [1]),
    inPlace: true,
  },
  {
    why: "tile: chunks that wrap bind all of x's row",
    xShape: [3, 5],
    limit: 40,
    index: tileIndices([3, 5], [4, 3]),
    op: (x) => tile(x, [4, 3]),
  },
  {
    why: 'tile: x rows too big to wrap, so chunks stop at each tile; backward in passes that add up',
    xShape: [2, 9],
    limit: 32,
    index: tileIndices([2, 9], [3, 2]),
    op: (x) => tile(x, [3, 2]),
  },
  {
    why: 'tile of rows of 8: vec4 chunks that wrap, backward summed in vec4s',
    xShape: [2, 4, 8],
    limit: 256,
    index: tileIndices([2, 4, 8], [2, 2, 1]),
    op: (x) => tile(x, [2, 2, 1]),
  },
  {
    why: 'tile of rank 4, backward rows chunked after splitting the tiles of axis 0',
    xShape: [2, 3, 5, 3],
    limit: 256,
    index: tileIndices([2, 3, 5, 3], [3, 2, 1, 2]),
    op: (x) => tile(x, [3, 2, 1, 2]),
  },
];

describe('slice, reverse and tile past the binding limit', () => {
  CASES.forEach((cs, k) => {
    it(`${cs.why} (${JSON.stringify(cs.xShape)} under ${cs.limit} bytes)`, async () => {
      const x = f32Data(cs.xShape, 10 + k);
      const want = gatherRef(x, cs.index);
      const dy = nd(integers(want.data.length, 50 + k), want.shape);
      const whole = await run(cs.op, x.data, cs.xShape, dy.data, want.shape);
      runtime().setBindingLimit(cs.limit);
      const split = await run(cs.op, x.data, cs.xShape, dy.data, want.shape);
      runtime().setBindingLimit(null);
      expect(split.dispatches, 'the lowered limit splits the work').toBeGreaterThan(whole.dispatches);
      if (cs.inPlace) expect(split.copies, 'aligned chunks need no staging').toBe(0);
      expectBitEqual(`${cs.why} y`, split.y, whole.y);
      expectBitEqual(`${cs.why} dx`, split.dx, whole.dx);
      expectClose(`${cs.why} y vs reference`, split.y, want.data, EXACT);
      expectClose(`${cs.why} dx vs reference`, split.dx, gatherBackwardRef(dy, cs.xShape, cs.index).data, EXACT);
    });
  });

  it('stack and unstack go through concat and split, which chunk', async () => {
    const xs = [0, 1, 2].map((i) => f32Data([5, 4, 3], 90 + i));
    const want = stackRef(xs, 1);
    runtime().setBindingLimit(64);
    const ts = xs.map((x) => fromNd(x.data, x.shape));
    const y = stack(ts, 1);
    const parts = unstack(y, -1);
    runtime().setBindingLimit(null);
    expectClose('stack under the limit', await y.toArray(), want.data, EXACT);
    const wantParts = unstackRef(want, -1);
    for (const [i, p] of parts.entries()) expectClose(`unstack part ${i} under the limit`, await p.toArray(), wantParts[i].data, EXACT);
    for (const t of [...ts, y, ...parts]) t.dispose();
  });
});
