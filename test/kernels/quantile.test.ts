// quantile (src/kernels/quantile.ts) against its reference (quantileRef in src/reference/sort.ts):
// along an axis and over all of x, one q and several, keepDims, exact places and fractions; NaN
// rows; the gradient by gradcheck against the reference's finite differences (distinct values,
// so no step reorders them); errors.
//
// Tolerance: a fraction's lerp a + (b − a)·f takes three float32 roundings of values in [-1, 1]
// where the reference takes none: within 4·2⁻²⁴·2 < 1e-6.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { quantile } from '../../src/kernels/quantile.js';
import { nd } from '../../src/reference/array.js';
import { quantileRef } from '../../src/reference/sort.js';
import { expectClose } from '../helpers/close.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

const LERP = { atol: 1e-6, rtol: 0 };
const QS = [0, 0.005, 0.25, 0.5, 0.995, 1];

describe('quantile', () => {
  it('along an axis: several q on a new first axis, one q removing the axis or keeping it', async () => {
    const shape = [3, 41, 2];
    const data = Float32Array.from(uniform(3 * 41 * 2, 1));
    const x = fromNd(data, shape);
    const want = quantileRef(nd(data, shape), QS, 1);
    const several = quantile(x, QS, { axis: 1 });
    expect(several.shape).toEqual([6, 3, 2]);
    // The reference keeps the q's where the axis was: [3, 6, 2].
    const moved = dn.transpose(several, [1, 0, 2]);
    expectClose('q list', await moved.toArray(), want.data, LERP);
    const median = quantile(x, 0.5, { axis: -2 });
    expect(median.shape).toEqual([3, 2]);
    expectClose('median', await median.toArray(), quantileRef(nd(data, shape), [0.5], 1).data, LERP);
    const kept = quantile(x, 0.25, { axis: 1, keepDims: true });
    expect(kept.shape).toEqual([3, 1, 2]);
    for (const t of [x, several, moved, median, kept]) t.dispose();
  });

  it('over all of x by default, keepDims giving ones', async () => {
    const data = Float32Array.from(uniform(7 * 9, 2));
    const x = fromNd(data, [7, 9]);
    const y = quantile(x, [0.1, 0.9]);
    expect(y.shape).toEqual([2]);
    expectClose('whole', await y.toArray(), quantileRef(nd(data, [63]), [0.1, 0.9], 0).data, LERP);
    const k = quantile(x, 0.3, { keepDims: true });
    expect(k.shape).toEqual([1, 1]);
    for (const t of [x, y, k]) t.dispose();
  });

  it('gives NaN for a row holding NaN, and an exact place with an infinite neighbour its value', async () => {
    const x = dn.tensor([[1, NaN, 3, 2], [1, 2, 3, Infinity]]);
    const y = quantile(x, [0, 2 / 3], { axis: 1 });
    const got = Array.from(await y.toArray());
    expect(Number.isNaN(got[0]) && Number.isNaN(got[2])).toBe(true);
    expect([got[1], got[3]]).toEqual([1, 3]);
    for (const t of [x, y]) t.dispose();
  });

  it('passes dy to the two neighbours, (1 − f) and f (gradcheck)', async () => {
    const shape = [4, 9];
    const x = fromNd(uniform(36, 3), shape, true);
    const report = await dn.gradcheck((t: dn.Tensor) => quantile(t, [0.3, 0.5, 0.95], { axis: 1 }), [x], {
      reference: (v: Float64Array) => {
        const r = quantileRef(nd(v, shape), [0.3, 0.5, 0.95], 1);
        // To the GPU's layout: the q's first.
        return Float64Array.from({ length: 12 }, (_, i) => r.data[(i % 4) * 3 + Math.floor(i / 4)]);
      },
      elements: Infinity,
    });
    expect(report.ok).toBe(true);
    x.dispose();
  });

  it('refuses a q outside [0, 1], an empty axis, unknown options, allocating nothing', () => {
    const x = dn.zeros([3, 4]);
    const empty = dn.zeros([3, 0]);
    const before = dn.memory().bytesInUse;
    expect(() => quantile(x, 1.5)).toThrow(/^quantile: q must be/);
    expect(() => quantile(x, [0.5, -0.1])).toThrow(/^quantile: q\[1\] must be/);
    expect(() => quantile(x, [])).toThrow(dn.ArgumentError);
    expect(() => quantile(empty, 0.5, { axis: 1 })).toThrow(/^quantile: x .* has no values along axis 1/);
    expect(() => quantile(x, 0.5, { axis: 2 })).toThrow(dn.ShapeError);
    expect(() => quantile(x, 0.5, { dim: 1 } as never)).toThrow(dn.ArgumentError);
    expect(dn.memory().bytesInUse).toBe(before);
    for (const t of [x, empty]) t.dispose();
  });
});
