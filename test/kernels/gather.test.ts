// The specialised gathers (src/kernels/gather.ts, tile.ts's backward): how the axes collapse and
// when the kernels move vec4s, checked on the plans themselves, then each path on the GPU against
// the float64 reference, exactly (a gather is a copy, its backward a scatter or a sum of integers).
// The GPU cases name the kernel keys they must hit, so a change in planning cannot quietly move a
// case off the path it is here to test: collapsed ranks, vec4 on and off (an unaligned start, an
// odd run, a negative or strided innermost step), runs that are not a multiple of the elements per
// thread, wrapping tiles whose per-thread jump passes the period, size-1 axes, rank 8.

import { afterEach, describe, expect, it, vi } from 'vitest';
import type * as dn from '../../src/index.js';
import { runtime, type KernelSpec } from '../../src/gpu/runtime.js';
import { collapseAxes, gatherPlan, type GatherAxis } from '../../src/kernels/gather.js';
import { reverse, slice, stridedSlice } from '../../src/kernels/slice.js';
import { collapseTiles, tile } from '../../src/kernels/tile.js';
import type { NdArray } from '../../src/reference/array.js';
import { gatherBackwardRef, gatherRef, reverseIndices, sliceIndices, stridedSliceIndices, tileIndices } from '../../src/reference/slice.js';
import { useGpu } from '../helpers/gpu.js';
import { checkLinearOp } from '../helpers/linear-op.js';

useGpu();

const whole = (n: number): GatherAxis => ({ size: n, begin: 0, step: 1, period: n });
const part = (size: number, begin: number, period: number, step = 1): GatherAxis => ({ size, begin, step, period });

describe('gather planning', () => {
  it('a centre crop keeps whole rows: three axes, the last counted in vec4s', () => {
    const axes = collapseAxes('forward', [whole(2), part(16, 8, 32), part(16, 8, 32), whole(32)])!;
    expect(axes).toEqual([whole(2), part(16, 8, 32), part(512, 256, 1024)]);
    expect(gatherPlan('forward', axes)).toEqual({ axes: [whole(2), part(16, 8, 32), part(128, 64, 256)], width: 4, kinds: '---' });
  });

  it('a start, size or period off the multiple of 4, or a step other than 1, keeps floats', () => {
    for (const last of [part(36, 18, 72), part(12, 4, 30), part(30, 4, 36), part(8, 8, 32, 2), part(8, 7, 8, -1)]) {
      const plan = gatherPlan('forward', [whole(3), last]);
      expect(plan.width, JSON.stringify(last)).toBe(1);
      expect(plan.axes[1]).toEqual(last);
    }
  });

  it('size-1 axes fix their coordinate; axes of size and period 1 drop out', () => {
    expect(collapseAxes('forward', [part(1, 1, 3), whole(1), whole(5), whole(8)])).toEqual([part(40, 40, 120)]);
    expect(collapseAxes('forward', [part(1, 3, 5, -2), whole(8)])).toEqual([part(8, 24, 40)]);
    expect(collapseAxes('forward', [whole(1), whole(1)])).toEqual([whole(1)]);
    // Backward, dx coordinate 0 of a size-1 axis is dy's coordinate 2 (begin −4, step 2)...
    expect(collapseAxes('backward', [part(1, -4, 5, 2), whole(8)])).toEqual([part(8, -16, 40)]);
    // ... and when no dy coordinate lands there, nothing is read.
    expect(collapseAxes('backward', [part(1, -3, 5, 2), whole(8)])).toBeNull();
    expect(collapseAxes('backward', [part(1, -6, 3, 1), whole(8)])).toBeNull();
  });

  it('only step-1 axes absorb the identity inside them; wraps and strides are marked per axis', () => {
    expect(collapseAxes('forward', [whole(4), part(6, 5, 6, -1), whole(8)])).toEqual([whole(4), part(6, 5, 6, -1), whole(8)]);
    const tiled = collapseAxes('forward', [part(4, 0, 2), part(6, 0, 3), whole(8)])!;
    expect(tiled).toEqual([part(4, 0, 2), part(48, 0, 24)]);
    expect(gatherPlan('forward', tiled)).toMatchObject({ width: 4, kinds: 'ww' });
    expect(gatherPlan('backward', [part(10, 1, 5, 2), part(8, 0, 8)]).kinds).toBe('s-');
  });

  it("tile's backward merges a one-rep axis into the one before it", () => {
    expect(collapseTiles([2, 16, 16, 32], [1, 2, 2, 1])).toEqual({ shape: [2, 16, 512], reps: [1, 2, 2] });
    // x's size-1 axis tiled 4 times over rows of 5: tile t of a row starts 5·t on.
    expect(collapseTiles([1, 3, 1, 5], [1, 2, 4, 1])).toEqual({ shape: [3, 5], reps: [2, 4] });
    expect(collapseTiles([1, 1], [1, 1])).toEqual({ shape: [1], reps: [1] });
  });
});

interface Case {
  name: string;
  xShape: number[];
  index: number[][];
  op: (x: dn.Tensor) => dn.Tensor;
  /** The kernels' keys: forward, then backward ('' where a kernel has nothing to write). */
  keys: [string, string];
}

const sliceCase = (xShape: number[], begin: number[], size: number[], keys: [string, string]): Case => ({
  name: `slice ${JSON.stringify(xShape)} from ${JSON.stringify(begin)} size ${JSON.stringify(size)}`,
  xShape,
  index: sliceIndices(xShape, begin, size),
  op: (x) => slice(x, begin, size),
  keys,
});

const CASES: Case[] = [
  sliceCase([2, 12, 12, 8], [0, 3, 3, 0], [2, 6, 6, 8], ['r3.v4.---', 'r3.v4.---']),
  // Column 3 of 6 channels starts at float 18: not a vec4 boundary.
  sliceCase([2, 12, 12, 6], [0, 3, 3, 0], [2, 6, 6, 6], ['r3.v1.---', 'r3.v1.---']),
  sliceCase([2, 12, 12, 6], [0, 3, 2, 0], [2, 6, 6, 6], ['r3.v4.---', 'r3.v4.---']),
  sliceCase([3, 7, 5], [1, 2, 1], [2, 4, 3], ['r3.v1.---', 'r3.v1.---']),
  // Rows of 5 vec4s: the second block of each row is short.
  sliceCase([2, 5, 9, 4], [0, 1, 2, 0], [2, 3, 5, 4], ['r3.v4.---', 'r3.v4.---']),
  sliceCase([4, 8], [0, 0], [4, 8], ['r1.v4.-', 'r1.v4.-']),
  sliceCase([3, 1, 5, 8], [1, 0, 0, 0], [1, 1, 5, 8], ['r1.v4.-', 'r1.v4.-']),
  sliceCase([2, 1, 3, 1, 2, 3, 1, 4], [1, 0, 1, 0, 0, 1, 0, 0], [1, 1, 2, 1, 2, 2, 1, 4], ['r3.v4.---', 'r3.v4.---']),
  sliceCase([2, 3, 2, 3, 2, 3, 2, 3], [1, 0, 1, 0, 1, 0, 1, 0], [1, 2, 1, 2, 1, 2, 1, 2], ['r8.v1.--------', 'r8.v1.--------']),
  {
    name: 'stridedSlice, strided innermost axis',
    xShape: [4, 10],
    index: stridedSliceIndices([4, 10], [0, 1], [4, 10], [1, 2]),
    op: (x) => stridedSlice(x, [0, 1], [4, 10], [1, 2]),
    keys: ['r2.v1.--', 'r2.v1.-s'],
  },
  {
    name: 'stridedSlice, one row by a negative stride, then whole rows',
    xShape: [5, 8],
    index: stridedSliceIndices([5, 8], [3, 0], [2, 8], [-1, 1]),
    op: (x) => stridedSlice(x, [3, 0], [2, 8], [-1, 1]),
    keys: ['r1.v4.-', 'r1.v4.-'],
  },
  {
    name: 'stridedSlice, strided outer axes over whole rows',
    xShape: [6, 5, 8],
    index: stridedSliceIndices([6, 5, 8], [5, 0], [-7, 5], [-2, 2]),
    op: (x) => stridedSlice(x, [5, 0], [-7, 5], [-2, 2]),
    keys: ['r3.v4.---', 'r3.v4.ss-'],
  },
  {
    name: 'reverse of the innermost axis',
    xShape: [3, 4, 8],
    index: reverseIndices([3, 4, 8], [2]),
    op: (x) => reverse(x, [2]),
    keys: ['r2.v1.--', 'r2.v1.--'],
  },
  {
    name: 'reverse of a middle axis, whole rows inside it',
    xShape: [3, 4, 8],
    index: reverseIndices([3, 4, 8], [1]),
    op: (x) => reverse(x, [1]),
    keys: ['r3.v4.---', 'r3.v4.---'],
  },
  ...(
    [
      [[2, 3, 8], [2, 2, 1], ['r2.v4.ww', 'r2.v4']],
      [[3, 5], [2, 3], ['r2.v1.ww', 'r2.v1']],
      // 21 outputs per row in blocks of 6 threads: each thread's next element is 6 on, past the period of 3.
      [[2, 3], [1, 7], ['r2.v1.-w', 'r2.v1']],
      [[1, 3, 1, 4], [1, 2, 3, 1], ['r2.v4.ww', 'r2.v4']],
      [[2, 3, 5], [3, 0, 2], ['', 'r3.v1']],
    ] as [number[], number[], [string, string]][]
  ).map(([xShape, reps, keys]): Case => ({
    name: `tile ${JSON.stringify(xShape)} by ${JSON.stringify(reps)}`,
    xShape,
    index: tileIndices(xShape, reps),
    op: (x) => tile(x, reps),
    keys,
  })),
];

describe('gather paths on the GPU', () => {
  afterEach(() => vi.restoreAllMocks());
  CASES.forEach((cs, k) => {
    it(`${cs.name}: ${cs.keys.join(', ')}`, async () => {
      const specs: KernelSpec[] = [];
      const dispatch = runtime().dispatch.bind(runtime());
      vi.spyOn(runtime(), 'dispatch').mockImplementation((spec, ...rest) => {
        specs.push(spec);
        return dispatch(spec, ...rest);
      });
      await checkLinearOp({
        name: cs.name,
        xShape: cs.xShape,
        seed: 700 + 2 * k,
        forwardRef: (x: NdArray) => gatherRef(x, cs.index),
        backwardRef: (dy: NdArray) => gatherBackwardRef(dy, cs.xShape, cs.index),
        gpu: cs.op,
      });
      const keys = specs.filter((s) => /^(slice|stridedSlice|reverse|tile)\./.test(s.name)).map((s) => s.key);
      expect(keys).toEqual(cs.keys.filter(Boolean));
    });
  });
});
