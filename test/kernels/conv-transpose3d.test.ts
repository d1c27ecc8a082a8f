// convTranspose3d (src/kernels/conv-transpose3d.ts, convTranspose2d one per depth tap) against its
// float64 reference (convTranspose3dRef in src/reference/conv3d.ts): the taps tiling the depth (the
// 2x2x2 stride-2 up step), overlapping (3 deep, stride 2), spaced (1 deep, stride 2) and stride 1;
// the gradients to x, w and b by gradcheck against the reference's finite differences; errors.
//
// Tolerance F32 (1e-5 + 1e-4·|y|): each output sums at most 3·3·3·3 products of values in [-1, 1].

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { convTranspose3d } from '../../src/kernels/conv-transpose3d.js';
import { nd } from '../../src/reference/array.js';
import { convTranspose3dRef } from '../../src/reference/conv3d.js';
import { expectClose, F32 } from '../helpers/close.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

const size = (shape: number[]) => shape.reduce((p, d) => p * d, 1);

const CASES: [string, number[], number[], number | [number, number, number]][] = [
  ['2x2x2 stride 2 (a 3-D U-Net up step)', [2, 3, 4, 3, 3], [2, 2, 2, 4, 3], 2],
  ['3x3x3 stride 2 (overlapping taps)', [1, 3, 3, 2, 2], [3, 3, 3, 2, 2], 2],
  ['1x2x2 stride [2, 2, 1] (planes apart)', [2, 2, 3, 3, 2], [1, 2, 2, 3, 2], [2, 2, 1]],
  ['3x1x2 stride 1', [1, 4, 2, 3, 2], [3, 1, 2, 2, 2], 1],
];

describe('convTranspose3d', () => {
  for (const [name, xShape, wShape, stride] of CASES) {
    it(`${name}: as the reference scatters it, with the gradients to x, w and b`, async () => {
      const strides = typeof stride === 'number' ? [stride, stride, stride] : stride;
      const [xd, wd, bd] = [uniform(size(xShape), 1), uniform(size(wShape), 2), uniform(wShape[3], 3)];
      const x = fromNd(xd, xShape, true);
      const w = fromNd(wd, wShape, true);
      const b = fromNd(bd, [wShape[3]], true);
      const y = convTranspose3d(x, w, b, { stride });
      const want = convTranspose3dRef(nd(xd, xShape), nd(wd, wShape), nd(bd, [wShape[3]]), strides);
      expect(y.shape).toEqual(want.shape);
      expectClose(name, await y.toArray(), want.data, F32);
      const report = await dn.gradcheck((xt: dn.Tensor, wt: dn.Tensor, bt: dn.Tensor) => convTranspose3d(xt, wt, bt, { stride }), [x, w, b], {
        reference: (xv: Float64Array, wv: Float64Array, bv: Float64Array) => convTranspose3dRef(nd(xv, xShape), nd(wv, wShape), nd(bv, [wShape[3]]), strides).data,
        elements: Infinity,
      });
      expect(report.ok).toBe(true);
      for (const t of [x, w, b, y]) t.dispose();
    });
  }

  it('refuses wrong ranks, channels, bias, strides and unknown options, allocating nothing', () => {
    const x = dn.zeros([1, 2, 2, 2, 3]);
    const w = dn.zeros([2, 2, 2, 4, 3]);
    const [x4, wCin, b5] = [[1, 2, 2, 3], [2, 2, 2, 4, 2], [5]].map((s) => dn.zeros(s));
    const before = dn.memory().bytesInUse;
    expect(() => convTranspose3d(x4, w)).toThrow(/^convTranspose3d: x must be \[N, D, H, W, Cin\]/);
    expect(() => convTranspose3d(x, wCin)).toThrow(/^convTranspose3d: input has 3 channels but the weight expects 2/);
    expect(() => convTranspose3d(x, w, b5)).toThrow(/^convTranspose3d: bias must be \[4\]/);
    expect(() => convTranspose3d(x, w, null, { stride: 0 })).toThrow(dn.ShapeError);
    expect(() => convTranspose3d(x, w, null, { padding: 'same' } as never)).toThrow(dn.ArgumentError);
    expect(dn.memory().bytesInUse).toBe(before);
    for (const t of [x, w, x4, wCin, b5]) t.dispose();
  });
});
