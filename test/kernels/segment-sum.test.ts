// unsortedSegmentSum (src/kernels/segment-sum.ts) against its reference (src/reference/segment-
// sum.ts): exactly on integer data (sums of small integers are exact in float32 in any order),
// with ids repeated, unordered, negative and past numSegments, over one and two leading axes, by
// both ways of gather's gradient it runs on; the gradient by gradcheck against the reference's
// finite differences and exactly against the reference backward; empty cases; errors.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { withBackwardWay } from '../../src/kernels/index-gather-backward.js';
import { unsortedSegmentSum } from '../../src/kernels/segment-sum.js';
import { nd } from '../../src/reference/array.js';
import { unsortedSegmentSumBackwardRef, unsortedSegmentSumRef } from '../../src/reference/segment-sum.js';
import { expectClose } from '../helpers/close.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { EXACT, integers, sizeOf } from '../helpers/linear-op.js';
import { uniform } from '../helpers/rng.js';

useGpu();

// 12 rows into 5 segments: repeats, no id for segment 2, a negative id and one past the end.
const IDS = [4, 0, 3, 0, -1, 4, 1, 7, 3, 0, 4, 1];

describe('unsortedSegmentSum', () => {
  for (const way of ['scan', 'sorted'] as const) {
    it(`sums rows by id (${way}), dropping ids outside [0, numSegments)`, async () => {
      const shape = [12, 3, 4];
      const data = integers(sizeOf(shape), 1);
      const x = fromNd(data, shape);
      const ids = dn.tensor(IDS);
      const y = withBackwardWay(way, () => unsortedSegmentSum(x, ids, 5));
      expect(y.shape).toEqual([5, 3, 4]);
      expectClose(way, await y.toArray(), unsortedSegmentSumRef(nd(data, shape), IDS, 1, 5).data, EXACT);
      for (const t of [x, ids, y]) t.dispose();
    });
  }

  it('takes ids over two leading axes, and an array of integers (negative ones dropped)', async () => {
    const shape = [3, 4, 2];
    const data = integers(sizeOf(shape), 2);
    const x = fromNd(data, shape);
    const ids = dn.tensor(IDS, [3, 4]);
    const y = unsortedSegmentSum(x, ids, 6);
    expect(y.shape).toEqual([6, 2]);
    expectClose('ids [3, 4]', await y.toArray(), unsortedSegmentSumRef(nd(data, shape), IDS, 2, 6).data, EXACT);
    const z = unsortedSegmentSum(x, [2, -1, 0], 3);
    expectClose('number ids', await z.toArray(), unsortedSegmentSumRef(nd(data, shape), [2, -1, 0], 1, 3).data, EXACT);
    for (const t of [x, ids, y, z]) t.dispose();
  });

  it('passes each row its segment\'s gradient (gradcheck), zero for a dropped id', async () => {
    const shape = [12, 3];
    const x = fromNd(uniform(sizeOf(shape), 3), shape, true);
    const ids = dn.tensor(IDS);
    const report = await dn.gradcheck((t: dn.Tensor) => unsortedSegmentSum(t, ids, 5), [x], {
      reference: (v: Float64Array) => unsortedSegmentSumRef(nd(v, shape), IDS, 1, 5).data,
      elements: Infinity,
    });
    expect(report.ok).toBe(true);
    const y = unsortedSegmentSum(x, ids, 5);
    const dyData = integers(15, 4);
    const dy = fromNd(dyData, [5, 3]);
    y.backward(dy);
    expectClose('dx', await x.grad!.toArray(), unsortedSegmentSumBackwardRef(nd(dyData, [5, 3]), IDS, shape).data, EXACT);
    for (const t of [x, ids, y, dy]) t.dispose();
  });

  it('gives zeros for no ids, and no rows for no segments', async () => {
    const x = dn.zeros([0, 3]);
    const y = unsortedSegmentSum(x, [], 4);
    expect(Array.from(await y.toArray())).toEqual(new Array(12).fill(0));
    const w = dn.full([2, 3], 1);
    const ids = dn.tensor([0, 1]);
    const z = unsortedSegmentSum(w, ids, 0);
    expect(z.shape).toEqual([0, 3]);
    for (const t of [x, y, w, ids, z]) t.dispose();
  });

  it('refuses ids that do not cover x\'s first axes, a bad id or count, allocating nothing', () => {
    const x = dn.zeros([4, 2]);
    const wrong = dn.tensor([0, 1, 2]);
    const before = dn.memory().bytesInUse;
    expect(() => unsortedSegmentSum(x, wrong, 3)).toThrow(/^unsortedSegmentSum: segmentIds .* must have the shape of x's first axes/);
    expect(() => unsortedSegmentSum(x, [0, 1, 2], 3)).toThrow(dn.ShapeError);
    expect(() => unsortedSegmentSum(x, [0, 1, 3, 0], 3)).toThrow(/^unsortedSegmentSum: segmentIds\[2\] is the number 3/);
    expect(() => unsortedSegmentSum(x, [0, 0.5, 1, 0], 3)).toThrow(dn.ArgumentError);
    expect(() => unsortedSegmentSum(x, [0, 1, 1, 0], -1)).toThrow(/^unsortedSegmentSum: numSegments must be/);
    expect(() => unsortedSegmentSum(x, 'ids' as never, 3)).toThrow(dn.ArgumentError);
    expect(dn.memory().bytesInUse).toBe(before);
    for (const t of [x, wrong]) t.dispose();
  });
});
