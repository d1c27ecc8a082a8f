// convTranspose3d (src/kernels/conv-transpose3d.ts, convTranspose2d one per depth tap) against its
// float64 reference (convTranspose3dRef in src/reference/conv3d.ts): the taps tiling the depth (the
// 2x2x2 stride-2 up step), overlapping (3 deep, stride 2), spaced (1 deep, stride 2) and stride 1;
// padded: Keras's 'same' (a plane cropped after; and cropped before and after) and PyTorch's p
// (on the overlapping, the tiling and the spaced taps, p = 0 there dropping the zero plane 'valid'
// keeps), the crops worked out here as Keras and PyTorch document the sizes; the gradients to x, w
// and b by gradcheck against the reference's finite differences; errors.
//
// Tolerance F32 (1e-5 + 1e-4·|y|): each output sums at most 3·3·3·3 products of values in [-1, 1].

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import type { ConvTranspose2dOptions } from '../../src/kernels/conv-transpose2d.js';
import { convTranspose3d, type ConvTranspose3dOptions } from '../../src/kernels/conv-transpose3d.js';
import { nd } from '../../src/reference/array.js';
import { convTranspose3dRef } from '../../src/reference/conv3d.js';
import { expectClose, F32 } from '../helpers/close.js';
import { dispatched } from '../helpers/dispatched.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

const size = (shape: number[]) => shape.reduce((p, d) => p * d, 1);

type Padding = ConvTranspose3dOptions['padding'];

const CASES: [string, number[], number[], number | [number, number, number], Padding?][] = [
  ['2x2x2 stride 2 (a 3-D U-Net up step)', [2, 3, 4, 3, 3], [2, 2, 2, 4, 3], 2],
  ['3x3x3 stride 2 (overlapping taps)', [1, 3, 3, 2, 2], [3, 3, 3, 2, 2], 2],
  ['1x2x2 stride [2, 2, 1] (planes apart)', [2, 2, 3, 3, 2], [1, 2, 2, 3, 2], [2, 2, 1]],
  ['3x1x2 stride 1', [1, 4, 2, 3, 2], [3, 1, 2, 2, 2], 1],
  ["'same' 3x3x3 stride 2 (a plane, row and column cropped after)", [1, 3, 2, 3, 2], [3, 3, 3, 2, 2], 2, 'same'],
  ["'same' 4x3x1 stride [2, 1, 2] (cropped before and after; none across)", [1, 2, 3, 3, 3], [4, 3, 1, 2, 3], [2, 1, 2], 'same'],
  ['p = 1, 3x3x3 stride 2', [1, 3, 2, 3, 2], [3, 3, 3, 2, 2], 2, 1],
  ['p = [1, 0, 1], 2x2x2 stride 2 (taps tiling the depth)', [1, 3, 2, 2, 2], [2, 2, 2, 2, 2], 2, [1, 0, 1]],
  ['p = [0, 1, 0], 1x3x2 stride 2 (planes apart, the last zero plane dropped)', [2, 2, 3, 3, 2], [1, 3, 2, 3, 2], 2, [0, 1, 0]],
];

/** y's [front, top, left] crop of the full scatter and its sizes, as Keras ('valid', 'same') and PyTorch (p) give them. */
function crop(xShape: number[], wShape: number[], strides: number[], padding: Padding): { front: number[]; out: number[] } {
  const axes = [0, 1, 2].map((i) => {
    const [size, k, s] = [xShape[i + 1], wShape[i], strides[i]];
    const extra = Math.max(k - s, 0);
    if (padding === undefined || padding === 'valid') return [0, size * s + extra];
    if (padding === 'same') return [Math.floor(extra / 2), size * s];
    const p = typeof padding === 'number' ? padding : padding[i];
    return [p, (size - 1) * s + k - 2 * p];
  });
  return { front: axes.map((a) => a[0]), out: axes.map((a) => a[1]) };
}

describe('convTranspose3d', () => {
  for (const [name, xShape, wShape, stride, padding] of CASES) {
    it(`${name}: as the reference scatters it, with the gradients to x, w and b`, async () => {
      const strides = typeof stride === 'number' ? [stride, stride, stride] : stride;
      const [xd, wd, bd] = [uniform(size(xShape), 1), uniform(size(wShape), 2), uniform(wShape[3], 3)];
      const x = fromNd(xd, xShape, true);
      const w = fromNd(wd, wShape, true);
      const b = fromNd(bd, [wShape[3]], true);
      const opts = { stride, padding };
      const geometry = crop(xShape, wShape, strides, padding);
      const y = convTranspose3d(x, w, b, opts);
      const want = convTranspose3dRef(nd(xd, xShape), nd(wd, wShape), nd(bd, [wShape[3]]), strides, geometry);
      expect(y.shape).toEqual(want.shape);
      expectClose(name, await y.toArray(), want.data, F32);
      const report = await dn.gradcheck((xt: dn.Tensor, wt: dn.Tensor, bt: dn.Tensor) => convTranspose3d(xt, wt, bt, opts), [x, w, b], {
        reference: (xv: Float64Array, wv: Float64Array, bv: Float64Array) => convTranspose3dRef(nd(xv, xShape), nd(wv, wShape), nd(bv, [wShape[3]]), strides, geometry).data,
        elements: Infinity,
      });
      expect(report.ok).toBe(true);
      for (const t of [x, w, b, y]) t.dispose();
    });
  }

  it("crops 'same' and p on H and W as convTranspose2d does (a one-plane volume, one depth tap)", async () => {
    const x = fromNd(uniform(3 * 5 * 2, 4), [1, 1, 3, 5, 2]);
    const w = fromNd(uniform(4 * 3 * 3 * 2, 5), [1, 4, 3, 3, 2]);
    const [x2, w2] = [dn.reshape(x, [1, 3, 5, 2]), dn.reshape(w, [4, 3, 3, 2])];
    const paddings: [Padding, ConvTranspose2dOptions['padding']][] = [['same', 'same'], [[0, 1, 1], [1, 1, 1, 1]]];
    for (const [p3, p2] of paddings) {
      const y = convTranspose3d(x, w, null, { stride: [1, 2, 2], padding: p3 });
      const want = dn.convTranspose2d(x2, w2, null, { stride: 2, padding: p2 });
      expect(y.shape).toEqual([1, ...want.shape]);
      expect(Array.from(await y.toArray())).toEqual(Array.from(await want.toArray()));
      for (const t of [y, want]) t.dispose();
    }
    for (const t of [x, w, x2, w2]) t.dispose();
  });

  it("assembles the weight's gradient once from its depth taps' (one split), with no zero-padded copy or sum per tap", async () => {
    const x = fromNd(uniform(2 * 3 * 4 * 4 * 2, 21), [2, 3, 4, 4, 2], true);
    const w = fromNd(uniform(3 * 3 * 3 * 3 * 2, 22), [3, 3, 3, 3, 2], true);
    const y = convTranspose3d(x, w, null, { stride: 2, padding: 'same' });
    const loss = dn.sum(y);
    const names = dispatched(() => loss.backward());
    // Each tap's gradient copied into its slab of one tensor; the adds are x's gradient's (kd − 1).
    expect(names.filter((k) => k === 'split.backward')).toHaveLength(3);
    expect(names.filter((k) => k === 'add.forward'), names.join(' ')).toHaveLength(2);
    expect(w.grad!.shape).toEqual([3, 3, 3, 3, 2]);
    for (const t of [x, w, y, loss]) t.dispose();
  });

  it('refuses wrong ranks, channels, bias, strides, paddings and unknown options, allocating nothing', () => {
    const x = dn.zeros([1, 2, 2, 2, 3]);
    const w = dn.zeros([2, 2, 2, 4, 3]);
    const [x4, wCin, b5] = [[1, 2, 2, 3], [2, 2, 2, 4, 2], [5]].map((s) => dn.zeros(s));
    const before = dn.memory().bytesInUse;
    expect(() => convTranspose3d(x4, w)).toThrow(/^convTranspose3d: x must be \[N, D, H, W, Cin\]/);
    expect(() => convTranspose3d(x, wCin)).toThrow(/^convTranspose3d: input has 3 channels but the weight expects 2/);
    expect(() => convTranspose3d(x, w, b5)).toThrow(/^convTranspose3d: bias must be \[4\]/);
    expect(() => convTranspose3d(x, w, null, { stride: 0 })).toThrow(dn.ShapeError);
    expect(() => convTranspose3d(x, w, null, { outputPadding: 1 } as never)).toThrow(dn.ArgumentError);
    expect(() => convTranspose3d(x, w, null, { padding: 'full' as never })).toThrow(dn.ArgumentError);
    expect(() => convTranspose3d(x, w, null, { padding: -1 })).toThrow(dn.ShapeError);
    expect(() => convTranspose3d(x, w, null, { padding: [1, 1] as never })).toThrow(dn.ShapeError);
    // (2 − 1)·1 + 2 − 2·2 = −1 planes.
    expect(() => convTranspose3d(x, w, null, { padding: [2, 0, 0] })).toThrow(/^convTranspose3d: empty output -1x3x3/);
    expect(dn.memory().bytesInUse).toBe(before);
    for (const t of [x, w, x4, wCin, b5]) t.dispose();
  });
});
