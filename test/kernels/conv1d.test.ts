// conv1d (src/kernels/conv1d.ts, conv2d on one-row images) against its float64 reference
// (conv1dRef in src/reference/conv3d.ts): 'same' (TensorFlow's odd pad at the right), 'valid' at
// stride 2, PyTorch's padding, [left, right], dilation, the fused ReLU; gradients by gradcheck
// against the reference's finite differences; errors.
//
// Tolerance F32: each output sums at most 5·6 products of values in [-1, 1].

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { conv1d, type Conv1dOptions } from '../../src/kernels/conv1d.js';
import { samePadding } from '../../src/kernels/conv2d.js';
import { nd } from '../../src/reference/array.js';
import { conv1dRef } from '../../src/reference/conv3d.js';
import { expectClose, F32 } from '../helpers/close.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

const size = (shape: number[]) => shape.reduce((p, d) => p * d, 1);

function refPad(l: number, k: number, opts: Conv1dOptions): [number, number] {
  const p = opts.padding ?? 'valid';
  if (p === 'same') return samePadding(l, (k - 1) * (opts.dilation ?? 1) + 1, opts.stride ?? 1);
  if (p === 'valid') return [0, 0];
  return typeof p === 'number' ? [p, p] : [p[0], p[1]];
}

const CASES: [string, number[], number[], Conv1dOptions][] = [
  ["k3 'same'", [2, 11, 3], [3, 3, 4], { padding: 'same' }],
  ["k4 'same' stride 2 (the odd pad at the right)", [2, 10, 2], [4, 2, 3], { padding: 'same', stride: 2 }],
  ["k5 'valid' stride 2", [1, 13, 6], [5, 6, 2], { stride: 2 }],
  ['k4 padding [2, 1]', [2, 9, 3], [4, 3, 3], { padding: [2, 1] }],
  ["k3 dilation 2 'same'", [2, 12, 2], [3, 2, 4], { padding: 'same', dilation: 2 }],
];

describe('conv1d', () => {
  for (const [name, xShape, wShape, opts] of CASES) {
    it(`${name}: as the reference computes it, with the gradients to x, w and b`, async () => {
      const [xd, wd, bd] = [uniform(size(xShape), 1), uniform(size(wShape), 2), uniform(wShape[2], 3)];
      const x = fromNd(xd, xShape, true);
      const w = fromNd(wd, wShape, true);
      const b = fromNd(bd, [wShape[2]], true);
      const pad = refPad(xShape[1], wShape[0], opts);
      const ref = (xv: ArrayLike<number>, wv: ArrayLike<number>, bv: ArrayLike<number>) => conv1dRef(nd(xv, xShape), nd(wv, wShape), nd(bv, [wShape[2]]), opts.stride ?? 1, pad, opts.dilation ?? 1);
      const y = conv1d(x, w, b, opts);
      const want = ref(xd, wd, bd);
      expect(y.shape).toEqual(want.shape);
      expectClose(name, await y.toArray(), want.data, F32);
      const report = await dn.gradcheck((xt: dn.Tensor, wt: dn.Tensor, bt: dn.Tensor) => conv1d(xt, wt, bt, opts), [x, w, b], {
        reference: (xv: Float64Array, wv: Float64Array, bv: Float64Array) => ref(xv, wv, bv).data,
        elements: Infinity,
      });
      expect(report.ok).toBe(true);
      for (const t of [x, w, b, y]) t.dispose();
    });
  }

  it('fuses a ReLU', async () => {
    const [xd, wd] = [uniform(2 * 8 * 3, 4), uniform(3 * 3 * 2, 5)];
    const x = fromNd(xd, [2, 8, 3]);
    const w = fromNd(wd, [3, 3, 2]);
    const y = conv1d(x, w, null, { padding: 'same', activation: 'relu' });
    expectClose('relu', await y.toArray(), conv1dRef(nd(xd, [2, 8, 3]), nd(wd, [3, 3, 2]), null, 1, [1, 1]).data.map((v) => Math.max(v, 0)), F32);
    for (const t of [x, w, y]) t.dispose();
  });

  it('refuses wrong ranks, channels, padding and unknown options, allocating nothing', () => {
    const x = dn.zeros([1, 8, 2]);
    const w = dn.zeros([3, 2, 4]);
    const [x4, wCin] = [[1, 1, 8, 2], [3, 3, 4]].map((s) => dn.zeros(s));
    const before = dn.memory().bytesInUse;
    expect(() => conv1d(x4, w)).toThrow(/^conv1d: x must be \[N, L, Cin\]/);
    expect(() => conv1d(x, wCin)).toThrow(/^conv1d: input has 2 channels but the weight expects 3/);
    expect(() => conv1d(x, w, null, { padding: [1, 2, 3] as never })).toThrow(/^conv1d: padding must be/);
    expect(() => conv1d(x, w, null, { strides: 2 } as never)).toThrow(dn.ArgumentError);
    expect(dn.memory().bytesInUse).toBe(before);
    for (const t of [x, w, x4, wCin]) t.dispose();
  });
});
