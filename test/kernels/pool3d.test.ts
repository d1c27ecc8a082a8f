// maxPool3d, avgPool3d and upsample3d (src/kernels/pool3d.ts) against their float64 references
// (src/reference/pool3d.ts): the max and the upsampling exactly (they copy floats), the mean within
// F32 (a sum of at most 27 values in [-1, 1]); overlapping and uneven windows; padding: TensorFlow's
// 'same' (asymmetric at stride 2 on odd sizes, and 3x3x3 at stride 1) and PyTorch's p with
// countIncludePad true and false, each with windows over the padding on all three axes at once (the
// volume's corners), the 'same' pads worked out here as TensorFlow documents them; the gradients
// by gradcheck against the references' finite differences (distinct values: no ties); the max
// pool's tie and NaN rules and its split past the binding limit; errors.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { runtime } from '../../src/gpu/runtime.js';
import { maxPool3dKernels } from '../../src/kernels/max-pool3d.js';
import { samePadding } from '../../src/kernels/conv2d.js';
import { avgPool3d, maxPool3d, upsample3d, type AvgPool3dOptions, type Pool3dOptions } from '../../src/kernels/pool3d.js';
import { nd } from '../../src/reference/array.js';
import { avgPool3dRef, maxPool3dRef, upsample3dRef, upsample3dTrilinearRef } from '../../src/reference/pool3d.js';
import { expectClose, F32 } from '../helpers/close.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { EXACT } from '../helpers/linear-op.js';
import { uniform } from '../helpers/rng.js';

useGpu();

const size = (shape: number[]) => shape.reduce((p, d) => p * d, 1);
const three = (v: number | readonly number[]) => (typeof v === 'number' ? [v, v, v] : [...v]);

const POOLS: [string, number[], Pool3dOptions][] = [
  ['2x2x2 (a 3-D U-Net step), four channels a thread', [2, 4, 6, 4, 4], { size: 2 }],
  ['3x2x2 stride [1, 2, 2] (overlapping along depth)', [1, 5, 4, 6, 2], { size: [3, 2, 2], stride: [1, 2, 2] }],
  ['2x3x1 stride [2, 1, 1], uneven', [1, 5, 5, 3, 2], { size: [2, 3, 1], stride: [2, 1, 1] }],
];

/** Padded cases: [name, x's shape, options, [before, after] per axis as the references take them]. */
const PADDED: [string, number[], AvgPool3dOptions, [number, number][]][] = [
  // Depth 5, window 4: 3 planes of padding, 1 before and 2 after; rows and columns 1 after.
  ["'same' 4x3x2 stride 2 on 5x6x5 (asymmetric: the extra after)", [1, 5, 6, 5, 3], { size: [4, 3, 2], stride: 2, padding: 'same' }, [[1, 2], [0, 1], [0, 1]]],
  // Padding after only: the max pool's kernel must still clamp the last windows (none is padded before).
  ["'same' 2x2x2 stride 2 on 3x5x3 (padding after only)", [2, 3, 5, 3, 4], { size: 2, stride: 2, padding: 'same' }, [[0, 1], [0, 1], [0, 1]]],
  ["'same' 3x3x3 stride 1, four channels a thread", [2, 4, 5, 3, 4], { size: 3, stride: 1, padding: 'same' }, [[1, 1], [1, 1], [1, 1]]],
  ['p = 1, 3x3x3 stride 2, countIncludePad (PyTorch default)', [1, 5, 6, 4, 2], { size: 3, stride: 2, padding: 1 }, [[1, 1], [1, 1], [1, 1]]],
  ['p = 1, 3x3x3 stride 2, countIncludePad false', [1, 5, 6, 4, 2], { size: 3, stride: 2, padding: 1, countIncludePad: false }, [[1, 1], [1, 1], [1, 1]]],
  ['p = [1, 0, 1], 2x3x2 stride [1, 2, 2], countIncludePad false, four channels a thread', [1, 4, 5, 5, 4], { size: [2, 3, 2], stride: [1, 2, 2], padding: [1, 0, 1], countIncludePad: false }, [[1, 1], [0, 0], [1, 1]]],
];

describe('3-D pooling and upsampling', () => {
  it("works out 'same' as TensorFlow does for the padded cases' table", () => {
    for (const [, shape, opts, pads] of PADDED.filter(([, , o]) => o.padding === 'same')) {
      const [k, s] = [three(opts.size), three(opts.stride ?? opts.size)];
      expect(shape.slice(1, 4).map((d, i) => samePadding(d, k[i], s[i]))).toEqual(pads);
    }
  });

  for (const [name, shape, opts, pads] of PADDED) {
    it(`padding ${name}: maxPool3d and avgPool3d as the references compute them, with their gradients`, async () => {
      const data = Float32Array.from(uniform(size(shape), 11));
      const [k, stride] = [three(opts.size), three(opts.stride ?? opts.size)];
      const counted = opts.padding !== 'same' && opts.countIncludePad !== false;
      const maxRef = (v: ArrayLike<number>) => maxPool3dRef(nd(v, shape), k, stride, pads);
      const avgRef = (v: ArrayLike<number>) => avgPool3dRef(nd(v, shape), k, stride, pads, counted);
      const { countIncludePad: _, ...maxOpts } = opts;
      const x = fromNd(data, shape, true);
      const m = maxPool3d(x, maxOpts);
      const a = avgPool3d(x, opts);
      expect(m.shape).toEqual(maxRef(data).shape);
      expectClose(`max ${name}`, await m.toArray(), maxRef(data).data, EXACT);
      expectClose(`mean ${name}`, await a.toArray(), avgRef(data).data, F32);
      for (const [fn, ref] of [[(t: dn.Tensor) => maxPool3d(t, maxOpts), maxRef], [(t: dn.Tensor) => avgPool3d(t, opts), avgRef]] as const) {
        const report = await dn.gradcheck(fn, [x], { reference: (v: Float64Array) => ref(v).data, elements: Infinity });
        expect(report.ok).toBe(true);
      }
      for (const t of [x, m, a]) t.dispose();
    });
  }

  it('avgPool3d divides a corner window by 27 with countIncludePad, by its 8 voxels without it and with \'same\'', async () => {
    // Ones in a 2x2x2 volume, 3x3x3 windows at stride 1 padded by 1: every window is a corner one,
    // over padding on all three axes, holding the 8 voxels.
    const x = dn.tensor(new Array(8).fill(1), [1, 2, 2, 2, 1]);
    const got = await Promise.all([{ padding: 1 }, { padding: 1, countIncludePad: false }, { padding: 'same' }].map(async (o) => {
      const y = avgPool3d(x, { size: 3, stride: 1, ...o } as AvgPool3dOptions);
      const v = Array.from(await y.toArray());
      y.dispose();
      return v;
    }));
    expect(got[0].map((v) => Math.round(v * 27))).toEqual(new Array(8).fill(8));
    expect(got[1]).toEqual(new Array(8).fill(1));
    expect(got[2]).toEqual(new Array(8).fill(1));
    x.dispose();
  });

  for (const [name, shape, opts] of POOLS) {
    it(`maxPool3d and avgPool3d ${name}: as the references compute them, with their gradients`, async () => {
      const data = Float32Array.from(uniform(size(shape), 1));
      const stride = three(opts.stride ?? opts.size);
      const x = fromNd(data, shape, true);
      const m = maxPool3d(x, opts);
      const a = avgPool3d(x, opts);
      expectClose('max', await m.toArray(), maxPool3dRef(nd(data, shape), three(opts.size), stride).data, EXACT);
      expectClose('mean', await a.toArray(), avgPool3dRef(nd(data, shape), three(opts.size), stride).data, F32);
      for (const [fn, ref] of [[maxPool3d, maxPool3dRef], [avgPool3d, avgPool3dRef]] as const) {
        const report = await dn.gradcheck((t: dn.Tensor) => fn(t, opts), [x], {
          reference: (v: Float64Array) => ref(nd(v, shape), three(opts.size), stride).data,
          elements: Infinity,
        });
        expect(report.ok).toBe(true);
      }
      for (const t of [x, m, a]) t.dispose();
    });
  }

  for (const scale of [2, [2, 1, 3]] as const) {
    it(`upsample3d by ${JSON.stringify(scale)}: nearest, as the reference copies, with its gradient`, async () => {
      const shape = [2, 3, 2, 3, 2];
      const data = uniform(size(shape), 2);
      const x = fromNd(data, shape, true);
      const y = upsample3d(x, { scale });
      const want = upsample3dRef(nd(data, shape), three(scale));
      expect(y.shape).toEqual(want.shape);
      expectClose('upsample3d', await y.toArray(), Float32Array.from(want.data), EXACT);
      const report = await dn.gradcheck((t: dn.Tensor) => upsample3d(t, { scale }), [x], {
        reference: (v: Float64Array) => upsample3dRef(nd(v, shape), three(scale)).data,
        elements: Infinity,
      });
      expect(report.ok).toBe(true);
      for (const t of [x, y]) t.dispose();
    });
  }

  for (const scale of [2, [3, 1, 2]] as const) {
    it(`upsample3d trilinear by ${JSON.stringify(scale)}: as PyTorch's align_corners=False, with its gradient`, async () => {
      const shape = [2, 3, 2, 4, 2];
      const data = uniform(size(shape), 9);
      const x = fromNd(data, shape, true);
      const y = upsample3d(x, { scale, mode: 'trilinear' });
      const want = upsample3dTrilinearRef(nd(data, shape), three(scale));
      expect(y.shape).toEqual(want.shape);
      expectClose('trilinear', await y.toArray(), want.data, F32);
      const report = await dn.gradcheck((t: dn.Tensor) => upsample3d(t, { scale, mode: 'trilinear' }), [x], {
        reference: (v: Float64Array) => upsample3dTrilinearRef(nd(v, shape), three(scale)).data,
        elements: Infinity,
      });
      expect(report.ok).toBe(true);
      for (const t of [x, y]) t.dispose();
    });
  }

  for (const channels of [1, 4]) {
    it(`maxPool3d gives a tie to the first voxel in scan order and NaN to its window, as PyTorch (${channels} channel(s))`, async () => {
      // Voxel (z, r, q) at (z·2 + r)·4 + q. The first window (columns 0-1) holds 5 at (0, 1, 1) and
      // (1, 0, 1), scan order putting voxel 5 first; the second (columns 2-3) NaN at voxel 10 and 9.
      const vals = [1, 2, 3, 4, 0, 5, 0, 1, 0, 5, NaN, 0, 0, 1, 9, 0].flatMap((v) => new Array(channels).fill(v));
      const x = dn.tensor(vals, [1, 2, 2, 4, channels], { requiresGrad: true });
      const y = maxPool3d(x, { size: 2 });
      const got = Array.from(await y.toArray());
      expect(got.slice(0, channels)).toEqual(new Array(channels).fill(5));
      expect(got.slice(channels).every(Number.isNaN)).toBe(true);
      const dy = dn.tensor([...new Array(channels).fill(10), ...new Array(channels).fill(20)], [1, 1, 1, 2, channels]);
      y.backward(dy);
      const dx = Array.from(await x.grad!.toArray());
      const winners = dx.map((g, i) => (g ? Math.floor(i / channels) : -1)).filter((i) => i >= 0);
      expect(winners).toEqual([...new Array(channels).fill(5), ...new Array(channels).fill(10)]);
      expect(dx.filter((g) => g)).toEqual([...new Array(channels).fill(10), ...new Array(channels).fill(20)]);
      for (const t of [x, y, dy]) t.dispose();
    });
  }

  it('maxPool3d splits samples past the binding limit, to the same values and gradient', async () => {
    const shape = [5, 4, 4, 4, 2];
    const data = uniform(size(shape), 7);
    const run = async () => {
      const x = fromNd(data, shape, true);
      const y = maxPool3dKernels(x, { n: 5, d: 4, h: 4, w: 4, c: 2, k: [2, 2, 2], s: [2, 2, 2], p: [0, 0, 0], out: [2, 2, 2] });
      const dy = fromNd(uniform(5 * 16, 8), [5, 2, 2, 2, 2]);
      y.backward(dy);
      const out = [await y.toArray(), await x.grad!.toArray()].map((a) => Array.from(a));
      for (const t of [x, y, dy]) t.dispose();
      return out;
    };
    const whole = await run();
    // Two samples of x (2·128 floats) fit a binding: three chunks.
    runtime().setBindingLimit(2 * 128 * 4);
    try {
      expect(await run()).toEqual(whole);
    } finally {
      runtime().setBindingLimit(null);
    }
  });

  it('refuses a non-volume, a window larger than it, bad sizes and paddings, and unknown options', () => {
    const x = dn.zeros([1, 2, 4, 4, 1]);
    const flat = dn.zeros([1, 4, 4, 1]);
    const before = dn.memory().bytesInUse;
    expect(() => maxPool3d(flat, { size: 2 })).toThrow(/^maxPool3d: x must be \[N, D, H, W, C\]/);
    expect(() => avgPool3d(x, { size: 3 })).toThrow(/^avgPool3d: the 3x3x3 window does not fit the 2x4x4 volume/);
    expect(() => maxPool3d(x, { size: [2, 2] as never })).toThrow(dn.ShapeError);
    expect(() => maxPool3d(x, { size: 2, ceilMode: true } as never)).toThrow(dn.ArgumentError);
    expect(() => maxPool3d(x, { size: 2, countIncludePad: false } as never)).toThrow(dn.ArgumentError);
    expect(() => maxPool3d(x, { size: [2, 3, 2], padding: [1, 2, 1] })).toThrow(/^maxPool3d: padding 1x2x1 is more than half the 2x3x2 window/);
    expect(() => avgPool3d(x, { size: 2, padding: 'full' as never })).toThrow(dn.ArgumentError);
    expect(() => avgPool3d(x, { size: 2, padding: [1, 1] as never })).toThrow(dn.ShapeError);
    expect(() => avgPool3d(x, { size: 2, padding: 'same', countIncludePad: true })).toThrow(dn.ArgumentError);
    expect(() => avgPool3d(x, { size: 2, padding: 1, countIncludePad: 1 as never })).toThrow(dn.ArgumentError);
    expect(() => avgPool3d(x, { size: 5, padding: 1 })).toThrow(/^avgPool3d: the 5x5x5 window does not fit the 2x4x4 volume padded by 1x1x1/);
    expect(() => upsample3d(x, { scale: 1.5 })).toThrow(/^upsample3d: scale must be a positive integer/);
    expect(() => upsample3d(x, undefined as never)).toThrow(dn.ArgumentError);
    expect(() => upsample3d(x, { scale: 2, mode: 'bilinear' as never })).toThrow(/^upsample3d: mode must be/);
    expect(dn.memory().bytesInUse).toBe(before);
    for (const t of [x, flat]) t.dispose();
  });
});
