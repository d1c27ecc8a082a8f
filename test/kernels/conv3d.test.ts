// conv3d (src/kernels/conv3d.ts, 2-D convolutions one per depth tap) against its float64 reference
// (src/reference/conv3d.ts): 'same' and 'valid', strides on every axis, PyTorch's padding, a 1-deep
// kernel, with and without bias; the gradients to x, w and b by gradcheck against the reference's
// finite differences; the memory it holds for backward and at its peak; the weight gradient's
// assembly; an empty batch; errors.
//
// Tolerance F32 (1e-5 + 1e-4·|y|): each output sums at most 3·3·3·4 = 108 products of values in
// [-1, 1], whose float32 rounding is about √108·2⁻²⁴·|terms| ≈ 1e-6, well inside it.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { conv3d, type Conv3dOptions } from '../../src/kernels/conv3d.js';
import { samePadding } from '../../src/kernels/conv2d.js';
import { nd } from '../../src/reference/array.js';
import { conv3dRef } from '../../src/reference/conv3d.js';
import { expectClose, F32 } from '../helpers/close.js';
import { dispatched } from '../helpers/dispatched.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

const size = (shape: number[]) => shape.reduce((p, d) => p * d, 1);

/** The reference's explicit geometry for the op's options. */
function refGeometry(xShape: number[], wShape: number[], opts: Conv3dOptions): { strides: number[]; pads: [number, number][] } {
  const s = opts.stride ?? 1;
  const strides = typeof s === 'number' ? [s, s, s] : [...s];
  const pads = [0, 1, 2].map((i): [number, number] => {
    const p = opts.padding ?? 'valid';
    if (p === 'same') return samePadding(xShape[i + 1], wShape[i], strides[i]);
    if (p === 'valid') return [0, 0];
    const v = typeof p === 'number' ? p : p[i];
    return [v, v];
  });
  return { strides, pads };
}

const CASES: [string, number[], number[], Conv3dOptions, boolean][] = [
  ["3x3x3 'same'", [2, 5, 6, 7, 3], [3, 3, 3, 3, 4], { padding: 'same' }, true],
  ["3x3x3 'valid' stride [2, 1, 2]", [1, 7, 6, 9, 2], [3, 3, 3, 2, 3], { stride: [2, 1, 2] }, false],
  ["3x3x3 'same' stride 2 (the odd plane at the back)", [1, 6, 5, 6, 2], [3, 3, 3, 2, 3], { padding: 'same', stride: 2 }, true],
  ['padding 1, stride 2 (PyTorch)', [2, 6, 5, 6, 2], [3, 3, 3, 2, 2], { padding: 1, stride: 2 }, true],
  ["1x3x3 'same' (a 2-D conv a plane)", [1, 4, 5, 5, 3], [1, 3, 3, 3, 2], { padding: 'same' }, true],
  ["2x1x1 'valid', padding [1, 0, 0]", [2, 3, 4, 4, 2], [2, 1, 1, 2, 3], { padding: [1, 0, 0] }, false],
  // Depth stride 1 takes a tap's result shifted: here no tap's planes cover all four output
  // planes, so the bias is added after the sum.
  ['2x1x1, padding [1, 0, 0], with bias', [2, 3, 4, 4, 2], [2, 1, 1, 2, 3], { padding: [1, 0, 0] }, true],
  ["3x3x3 'valid' stride [1, 2, 1], with bias (kd − 1 planes of each tap unused)", [2, 6, 5, 5, 2], [3, 3, 3, 2, 3], { stride: [1, 2, 1] }, true],
  ['padding [2, 1, 1] on a 3-plane volume (taps reaching past both ends)', [1, 3, 4, 4, 2], [3, 3, 3, 2, 2], { padding: [2, 1, 1] }, true],
  // One plane: the outer taps read only padding and are left out (a 3-D U-Net's bottleneck at 1 plane).
  ["3x3x3 'same' on one plane", [2, 1, 3, 3, 2], [3, 3, 3, 2, 3], { padding: 'same' }, true],
];

describe('conv3d', () => {
  for (const [name, xShape, wShape, opts, bias] of CASES) {
    it(`${name}: as the reference computes it`, async () => {
      const xd = uniform(size(xShape), 1);
      const wd = uniform(size(wShape), 2);
      const bd = uniform(wShape[4], 3);
      const [x, w] = [fromNd(xd, xShape), fromNd(wd, wShape)];
      const b = bias ? fromNd(bd, [wShape[4]]) : null;
      const y = conv3d(x, w, b, opts);
      const { strides, pads } = refGeometry(xShape, wShape, opts);
      const want = conv3dRef(nd(xd, xShape), nd(wd, wShape), bias ? nd(bd, [wShape[4]]) : null, strides, pads);
      expect(y.shape).toEqual(want.shape);
      expectClose(name, await y.toArray(), want.data, F32);
      for (const t of [x, w, b, y]) t?.dispose();
    });
  }

  for (const [name, xShape, wShape, opts] of [
    ["3x3x3 'same'", [1, 3, 4, 3, 2], [3, 3, 3, 2, 2], { padding: 'same' }],
    ['stride [2, 1, 2], padding 1', [2, 4, 3, 4, 1], [3, 2, 3, 1, 2], { stride: [2, 1, 2], padding: 1 }],
    // The outer taps left out: their weights' gradient must come out 0, the centre's in full.
    ["3x3x3 'same' on one plane", [2, 1, 3, 3, 2], [3, 3, 3, 2, 2], { padding: 'same' }],
  ] as [string, number[], number[], Conv3dOptions][]) {
    it(`${name}: gradients to x, w and b (gradcheck against the reference)`, async () => {
      const x = fromNd(uniform(size(xShape), 4), xShape, true);
      const w = fromNd(uniform(size(wShape), 5), wShape, true);
      const b = fromNd(uniform(wShape[4], 6), [wShape[4]], true);
      const { strides, pads } = refGeometry(xShape, wShape, opts);
      const report = await dn.gradcheck((xt: dn.Tensor, wt: dn.Tensor, bt: dn.Tensor) => conv3d(xt, wt, bt, opts), [x, w, b], {
        reference: (xv: Float64Array, wv: Float64Array, bv: Float64Array) => conv3dRef(nd(xv, xShape), nd(wv, wShape), nd(bv, [wShape[4]]), strides, pads).data,
        elements: Infinity,
      });
      expect(report.ok).toBe(true);
      for (const t of [x, w, b]) t.dispose();
    });
  }

  it("keeps no copy of the input for its backward at depth stride 1: what a training step holds after the forward is the output and the weight's taps", async () => {
    const [xShape, wShape] = [[2, 8, 8, 8, 8], [3, 3, 3, 8, 4]];
    const x = fromNd(uniform(size(xShape), 7), xShape, true);
    const w = fromNd(uniform(size(wShape), 8), wShape, true);
    await dn.sync();
    const before = dn.memory().bytesInUse;
    const y = conv3d(x, w, null, { padding: 'same' });
    await dn.sync();
    const held = dn.memory().bytesInUse - before;
    // y (2·8·8·8·4 floats) and the three [3, 3, 8, 4] tap slices conv2d saves, in the pool's
    // size classes; a copy of x per tap would add 3 · 32 KiB.
    const xBytes = 4 * size(xShape);
    expect(held, `held ${held} bytes, x is ${xBytes}`).toBeLessThan(4 * size([...y.shape]) + 4 * size(wShape) + xBytes / 2);
    const loss = dn.scope(() => {
      const l = dn.sum(y);
      l.backward();
      return l;
    });
    expect(x.grad!.shape).toEqual(xShape);
    for (const t of [x, w, y, loss]) t.dispose();
  });

  it("assembles the weight's gradient once from its depth taps' (one split), with no zero-padded copy or sum per tap", async () => {
    const x = fromNd(uniform(2 * 4 * 4 * 4 * 2, 11), [2, 4, 4, 4, 2], true);
    const w = fromNd(uniform(3 * 3 * 3 * 2 * 3, 12), [3, 3, 3, 2, 3], true);
    const y = conv3d(x, w, null, { padding: 'same' });
    const loss = dn.sum(y);
    const names = dispatched(() => loss.backward());
    // The split's backward copies each tap's gradient into its slab of one tensor; x's gradient,
    // made by each tap's conv2d, is the only sum (kd − 1 adds).
    expect(names.filter((k) => k === 'split.backward')).toHaveLength(3);
    expect(names.filter((k) => k.startsWith('slice.')), names.join(' ')).toEqual([]);
    expect(names.filter((k) => k === 'add.forward'), names.join(' ')).toHaveLength(2);
    expect(w.grad!.shape).toEqual([3, 3, 3, 2, 3]);
    for (const t of [x, w, y, loss]) t.dispose();
  });

  it("holds at most the sum so far, one tap's result and the new sum at once during a forward at depth stride 1", async () => {
    const [xShape, wShape] = [[2, 8, 8, 8, 8], [3, 3, 3, 8, 8]];
    const x = fromNd(uniform(size(xShape), 9), xShape, true);
    const w = fromNd(uniform(size(wShape), 10), wShape, true);
    // The direct kernels: the workspace a GPU's Winograd would take is not conv3d's to bound.
    const algorithm = dn.setConvAlgorithm('direct');
    let y: dn.Tensor | null = null;
    try {
      await dn.sync();
      const before = dn.memory().bytesInUse;
      dn.resetPeakMemory();
      y = conv3d(x, w, null, { padding: 'same' });
      await dn.sync();
      const peak = dn.memory().peakBytesInUse - before;
      // Three output-sized tensors and the weight's taps (108 KiB on lavapipe). A slice, a
      // zero-padded copy and a sum per tap, all kept until conv3d returned, took 292 KiB there.
      const yBytes = 4 * size([...y.shape]);
      expect(peak, `peak ${peak} bytes, y is ${yBytes}`).toBeLessThan(4 * yBytes + 4 * size(wShape));
    } finally {
      dn.setConvAlgorithm(algorithm);
      for (const t of [x, w, y]) t?.dispose();
    }
  });

  it('an empty batch gives an empty result', async () => {
    const x = dn.zeros([0, 4, 4, 4, 2]);
    const w = dn.zeros([3, 3, 3, 2, 5]);
    const y = conv3d(x, w, null, { padding: 'same' });
    expect(y.shape).toEqual([0, 4, 4, 4, 5]);
    for (const t of [x, w, y]) t.dispose();
  });

  it('refuses wrong ranks, channels, bias, kernels larger than the volume and unknown options', () => {
    const x = dn.zeros([1, 3, 4, 4, 2]);
    const w = dn.zeros([3, 3, 3, 2, 4]);
    const [x4, w4, wCin, b5, wDeep] = [[1, 4, 4, 2], [3, 3, 2, 4], [3, 3, 3, 3, 4], [5], [5, 3, 3, 2, 4]].map((s) => dn.zeros(s));
    const before = dn.memory().bytesInUse;
    expect(() => conv3d(x4, w)).toThrow(/^conv3d: x must be \[N, D, H, W, Cin\]/);
    expect(() => conv3d(x, w4)).toThrow(/^conv3d: w must be/);
    expect(() => conv3d(x, wCin)).toThrow(/^conv3d: input has 2 channels but the weight expects 3/);
    expect(() => conv3d(x, w, b5)).toThrow(/^conv3d: bias must be \[4\]/);
    expect(() => conv3d(x, wDeep)).toThrow(/^conv3d: the 5x3x3 kernel does not fit/);
    expect(() => conv3d(x, w, null, { stride: [1, 2] as never })).toThrow(dn.ShapeError);
    expect(() => conv3d(x, w, null, { padding: 'full' as never })).toThrow(dn.ArgumentError);
    expect(() => conv3d(x, w, null, { strides: 2 } as never)).toThrow(dn.ArgumentError);
    expect(dn.memory().bytesInUse).toBe(before);
    for (const t of [x, w, x4, w4, wCin, b5, wDeep]) t.dispose();
  });
});
