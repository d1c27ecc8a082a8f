import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import {
  upsample2d,
  upsample2dBackward,
  upsample2dForward,
  upsample2dShape,
  type Upsample2dOptions,
} from '../../src/kernels/upsample.js';
import { nd } from '../../src/reference/array.js';
import { upsample2dBackwardRef, upsample2dRef } from '../../src/reference/upsample.js';
import { expectClose } from '../helpers/close.js';
import { expectThrows } from '../helpers/errors.js';
import { checkGrad } from '../helpers/finite-diff.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

const size = (shape: readonly number[]): number => shape.reduce((p, d) => p * d, 1);

const CASES = [
  { shape: [2, 3, 5, 3], opts: { scale: 2, mode: 'nearest' } },
  { shape: [1, 4, 3, 5], opts: { scale: 3, mode: 'nearest' } },
  { shape: [1, 3, 4, 2], opts: { size: [7, 9], mode: 'nearest' } },
  { shape: [2, 5, 7, 2], opts: { size: [2, 3], mode: 'nearest' } },
  { shape: [2, 3, 5, 3], opts: { scale: 2, mode: 'bilinear' } },
  { shape: [1, 4, 3, 5], opts: { scale: 3, mode: 'bilinear' } },
  { shape: [2, 3, 4, 2], opts: { size: [7, 9], mode: 'bilinear' } },
  { shape: [1, 5, 4, 3], opts: { scale: [1.5, 2.5], mode: 'bilinear' } },
  { shape: [1, 7, 5, 2], opts: { size: [3, 2], mode: 'bilinear' } },
  { shape: [2, 1, 3, 2], opts: { size: [4, 5], mode: 'bilinear' } },
  { shape: [1, 3, 4, 2], opts: { size: [17, 23], mode: 'bilinear' } },
  // Channels a multiple of 4: four per thread (vec4), up and down, both modes.
  { shape: [2, 3, 5, 4], opts: { scale: 2, mode: 'nearest' } },
  { shape: [1, 5, 7, 8], opts: { size: [2, 3], mode: 'nearest' } },
  { shape: [2, 3, 5, 4], opts: { scale: 2, mode: 'bilinear' } },
  { shape: [1, 5, 4, 8], opts: { scale: [1.5, 2.5], mode: 'bilinear' } },
  { shape: [1, 7, 5, 4], opts: { size: [3, 2], mode: 'bilinear' } },
  // Scales whose product with the size is fractional: the ratio is 1 / scale (PyTorch's), not
  // in / out. 31 · 1.1 reaches dst 33, where 33 / 1.1 is 30 exactly but float64 gives 29.999...:
  // nearest must read row 30, as PyTorch's float32 arithmetic does.
  { shape: [1, 5, 10, 3], opts: { scale: [1.5, 0.35], mode: 'nearest' } },
  // float32(1/41) is under 1/41: output row 41 reads row 0, as PyTorch's does, not row 1.
  { shape: [1, 2, 1, 1], opts: { scale: [41, 1], mode: 'nearest' } },
  { shape: [1, 3, 5, 2], opts: { size: [7, 11], mode: 'nearest' } },
  { shape: [2, 2, 31, 1], opts: { scale: [1.5, 1.1], mode: 'nearest' } },
  { shape: [1, 5, 7, 4], opts: { scale: 1.3, mode: 'nearest' } },
  { shape: [2, 10, 9, 3], opts: { scale: [0.35, 0.7], mode: 'bilinear' } },
  { shape: [1, 5, 6, 4], opts: { scale: 1.3, mode: 'bilinear' } },
  // PyTorch's align_corners=True: the ratio (in − 1) / (out − 1) whatever the scale; up, down,
  // vec4, and a ratio of 0 (one output row, one input row).
  { shape: [2, 3, 5, 3], opts: { scale: 2, mode: 'bilinear', alignCorners: true } },
  { shape: [1, 5, 4, 8], opts: { size: [9, 3], mode: 'bilinear', alignCorners: true } },
  { shape: [2, 7, 5, 2], opts: { size: [1, 3], mode: 'bilinear', alignCorners: true } },
  { shape: [1, 1, 4, 4], opts: { scale: [3, 1.5], mode: 'bilinear', alignCorners: true } },
  { shape: [1, 4, 6, 2], opts: { size: [17, 11], mode: 'bilinear', alignCorners: true } },
  // 2 -> 17: 16 outputs per input, where the backward's search window (aligned, no half pixel) matters.
  { shape: [1, 2, 3, 2], opts: { size: [17, 5], mode: 'bilinear', alignCorners: true } },
] as const satisfies readonly { shape: readonly number[]; opts: Upsample2dOptions }[];

describe('upsample2d', () => {
  for (const [k, cs] of CASES.entries()) {
    const shape = [...cs.shape];
    const name = `upsample2d ${JSON.stringify(cs.shape)} ${JSON.stringify(cs.opts)}`;
    const yShape = upsample2dShape(shape, cs.opts);
    const [, outH, outW] = yShape;
    const x = uniform(size(shape), 10 + k);
    const dy = uniform(size(yShape), 20 + k);
    const scale = 'scale' in cs.opts ? cs.opts.scale : undefined;
    const aligned = 'alignCorners' in cs.opts;

    it(`${name}: CPU backward matches finite differences`, () => {
      const analytic = upsample2dBackwardRef(shape, nd(dy, yShape), cs.opts.mode, scale, aligned);
      checkGrad(name, (v) => upsample2dRef(nd(v, shape), outH, outW, cs.opts.mode, scale, aligned), x, dy, analytic.data);
    });

    it(`${name}: GPU forward and backward match CPU`, async () => {
      const xt = fromNd(x, shape, true);
      const y = upsample2d(xt, cs.opts);
      expect(y.shape).toEqual(yShape);
      // Bilinear weights come from an f32 ratio on the GPU (float64 on the CPU): about 1e-7 apart,
      // inside the default tolerance.
      expectClose(`${name} forward`, await y.toArray(), upsample2dRef(nd(x, shape), outH, outW, cs.opts.mode, scale, aligned).data);
      const dyt = fromNd(dy, yShape);
      y.backward(dyt);
      expectClose(`${name} backward`, await xt.grad!.toArray(), upsample2dBackwardRef(shape, nd(dy, yShape), cs.opts.mode, scale, aligned).data);
      for (const t of [xt, y, dyt]) t.dispose();
    });
  }

  // Values from torch.nn.functional.interpolate on [[1, 2], [3, 4]] with scale_factor=2.
  const PYTORCH = {
    nearest: [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4],
    bilinear: [1, 1.25, 1.75, 2, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3, 3.25, 3.75, 4],
  } as const;
  for (const mode of ['nearest', 'bilinear'] as const) {
    it(`${mode} matches PyTorch (align_corners=False) on a 2x2 image`, async () => {
      const x = dn.tensor([1, 2, 3, 4], [1, 2, 2, 1]);
      const y = upsample2dForward(x, { scale: 2, mode });
      expectClose(`${mode} pytorch`, await y.toArray(), PYTORCH[mode]);
      expectClose(`${mode} pytorch ref`, upsample2dRef(nd([1, 2, 3, 4], [1, 2, 2, 1]), 4, 4, mode).data, PYTORCH[mode]);
      x.dispose();
      y.dispose();
    });
  }

  it('bilinear with alignCorners matches PyTorch align_corners=True', async () => {
    // torch: F.interpolate(arange(4), scale_factor=2, mode='bilinear', align_corners=True): 3/7 apart.
    const want = [0, 3 / 7, 6 / 7, 9 / 7, 12 / 7, 15 / 7, 18 / 7, 3];
    const x = dn.tensor([0, 1, 2, 3], [1, 1, 4, 1]);
    const y = dn.upsample2d(x, { scale: [1, 2], mode: 'bilinear', alignCorners: true });
    expectClose('align_corners pytorch', await y.toArray(), want, { atol: 1e-6, rtol: 0 });
    expectClose('align_corners ref', upsample2dRef(nd([0, 1, 2, 3], [1, 1, 4, 1]), 1, 8, 'bilinear', [1, 2], true).data, want, { atol: 1e-12, rtol: 0 });
    expect(() => dn.upsample2d(x, { scale: 2, mode: 'bilinear', alignCorners: 1 as never })).toThrow(dn.ArgumentError);
    const layer = new dn.nn.Upsample(2, 'bilinear', true);
    const x2 = dn.tensor([0, 1, 2, 3], [1, 2, 2, 1]);
    const z = layer.forward(x2);
    // torch: nn.Upsample(scale_factor=2, mode='bilinear', align_corners=True) on [[0, 1], [2, 3]]
    expectClose('Upsample align_corners', await z.toArray(), [0, 1 / 3, 2 / 3, 1, 2 / 3, 1, 4 / 3, 5 / 3, 4 / 3, 5 / 3, 2, 7 / 3, 2, 7 / 3, 8 / 3, 3], { atol: 1e-6, rtol: 0 });
    expect(() => new dn.nn.Upsample(2, 'nearest', true)).toThrow(dn.ArgumentError);
    for (const t of [x2, z]) t.dispose();
    for (const t of [x, y]) t.dispose();
  });

  it("mode defaults to 'nearest', as nn.Upsample and PyTorch's interpolate: forward and backward", async () => {
    const shape = [2, 3, 5, 2];
    const x = uniform(size(shape), 60);
    for (const opts of [{ scale: 2 }, { size: [7, 4] }, { scale: [1.5, 2], mode: undefined }] as const) {
      const yShape = upsample2dShape(shape, opts);
      const scale = 'scale' in opts ? opts.scale : undefined;
      const xt = fromNd(x, shape, true);
      const y = dn.upsample2d(xt, opts);
      expect(y.shape).toEqual(yShape);
      expectClose(`default mode ${JSON.stringify(opts)} forward`, await y.toArray(), upsample2dRef(nd(x, shape), yShape[1], yShape[2], 'nearest', scale).data);
      const dy = uniform(size(yShape), 61);
      const dyt = fromNd(dy, yShape);
      y.backward(dyt);
      expectClose(`default mode ${JSON.stringify(opts)} backward`, await xt.grad!.toArray(), upsample2dBackwardRef(shape, nd(dy, yShape), 'nearest', scale).data);
      for (const t of [xt, y, dyt]) t.dispose();
    }
    const x2 = dn.tensor([1, 2, 3, 4], [1, 2, 2, 1]);
    const y2 = dn.upsample2d(x2, { scale: 2 });
    expectClose('default mode pytorch', await y2.toArray(), PYTORCH.nearest);
    x2.dispose();
    y2.dispose();
  });

  it('nearest with a non-integer ratio reads floor(dst * in / out): 3 -> 7 reads 0,0,0,1,1,2,2', async () => {
    const x = dn.tensor([10, 20, 30], [1, 1, 3, 1]);
    const y = upsample2dForward(x, { size: [1, 7], mode: 'nearest' });
    expect(Array.from(await y.toArray())).toEqual([10, 10, 10, 20, 20, 30, 30]);
    x.dispose();
    y.dispose();
  });

  // PyTorch's interpolate(scale_factor=s) with recompute_scale_factor unset maps dst to
  // src = (dst + 0.5) / s - 0.5 (bilinear, clamped at 0) and floor(dst / s) (nearest), worked by
  // hand here on x = [0, 1, 2, ...], whose values are their own positions. 1e-6: the values are
  // under 5 and the GPU's ratio is 1/s in float32, a relative 6e-8 off.
  it('a fractional scale maps by 1 / scale, as PyTorch: 5 rows at 1.5, bilinear', async () => {
    const x = dn.tensor([0, 1, 2, 3, 4], [1, 5, 1, 1]);
    const y = upsample2dForward(x, { scale: [1.5, 1], mode: 'bilinear' });
    // dst 0..6: (dst + 0.5) / 1.5 - 0.5 = -1/6 (clamped to 0), 1/2, 7/6, 11/6, 5/2, 19/6, 23/6.
    const want = [0, 1 / 2, 7 / 6, 11 / 6, 5 / 2, 19 / 6, 23 / 6];
    expectClose('bilinear 5 at 1.5', await y.toArray(), want, { atol: 1e-6, rtol: 0 });
    expectClose('bilinear 5 at 1.5 ref', upsample2dRef(nd([0, 1, 2, 3, 4], [1, 5, 1, 1]), 7, 1, 'bilinear', [1.5, 1]).data, want, { atol: 1e-12, rtol: 0 });
    x.dispose();
    y.dispose();
  });

  it('a fractional scale maps by 1 / scale, as PyTorch: 10 columns at 0.35, nearest', async () => {
    const x = dn.tensor([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 1, 10, 1]);
    const y = upsample2dForward(x, { scale: [1, 0.35], mode: 'nearest' });
    // 3 columns (floor(3.5)); floor(dst / 0.35) = 0, floor(2.86) = 2, floor(5.71) = 5 (in / out would read 0, 3, 6).
    expect(Array.from(await y.toArray())).toEqual([0, 2, 5]);
    x.dispose();
    y.dispose();
  });

  it('refuses malformed scale, size and options with ArgumentError saying what was wrong', () => {
    const x = dn.zeros([1, 3, 3, 2]);
    const before = dn.memory().bytesInUse;
    const bad = [
      [{ scale: [2], mode: 'nearest' }, 'upsample2d: scale must be a positive number or a pair [sh, sw] of them, got [2]'],
      [{ scale: '2', mode: 'nearest' }, "upsample2d: scale must be a positive number or a pair [sh, sw] of them, got the string '2'"],
      [{ scale: -1, mode: 'nearest' }, 'upsample2d: scale must be a positive number'],
      [{ size: 12, mode: 'nearest' }, 'upsample2d: size must be a pair [H, W] of positive integers, got the number 12'],
      [{ size: [6, 0], mode: 'nearest' }, 'upsample2d: size must be a pair [H, W] of positive integers, got [6,0]'],
      [{ scale: 2, mode: 'bilinear', align_corners: true }, "upsample2d: unknown option 'align_corners'"],
      [{ scale: 2, alignCorners: true }, "upsample2d: alignCorners needs mode 'bilinear'"],
      [{ scale: 2, mode: 'area' }, 'upsample2d: mode must be'],
      [{ scale: 2, mode: null }, 'upsample2d: mode must be'],
    ] as const;
    for (const [opts, start] of bad) expectThrows(() => upsample2d(x, opts as unknown as Upsample2dOptions), dn.ArgumentError, start);
    expect(dn.memory().bytesInUse).toBe(before);
    x.dispose();
  });

  it('the raw backward is the transpose of the forward: <up(x), dy> = <x, up^T(dy)>', async () => {
    const shape = [2, 4, 5, 3];
    const opts = { size: [9, 11], mode: 'bilinear' } as const;
    const x = uniform(size(shape), 40);
    const dy = uniform(2 * 9 * 11 * 3, 41);
    const xt = fromNd(x, shape);
    const dyt = fromNd(dy, [2, 9, 11, 3]);
    const y = upsample2dForward(xt, opts);
    const dx = upsample2dBackward(dyt, shape, opts);
    const [yv, dxv] = [await y.toArray(), await dx.toArray()];
    const lhs = yv.reduce((s, v, i) => s + v * dy[i], 0);
    const rhs = dxv.reduce((s, v, i) => s + v * x[i], 0);
    expect(Math.abs(lhs - rhs)).toBeLessThan(1e-4 * Math.max(1, Math.abs(lhs)));
    for (const t of [xt, dyt, y, dx]) t.dispose();
  });

  it('throws ShapeError before dispatch for bad inputs', () => {
    const rank3 = dn.zeros([4, 4, 3]);
    const x = dn.zeros([1, 3, 3, 2]);
    const dy = dn.zeros([1, 5, 6, 2]);
    const before = dn.memory().bytesInUse;
    expect(() => upsample2d(rank3, { scale: 2, mode: 'nearest' })).toThrow(dn.ShapeError);
    expect(() => upsample2d(x, { mode: 'nearest' })).toThrow(dn.ShapeError);
    expect(() => upsample2d(x, { scale: 2, size: [6, 6], mode: 'nearest' })).toThrow(dn.ShapeError);
    expect(() => upsample2d(x, { scale: 0, mode: 'bilinear' })).toThrow(dn.ShapeError);
    expect(() => upsample2d(x, { scale: 0.2, mode: 'bilinear' })).toThrow(dn.ShapeError);
    expect(() => upsample2d(x, { size: [6, 6.5], mode: 'bilinear' })).toThrow(dn.ShapeError);
    expect(() => upsample2d(x, { scale: 2, mode: 'bicubic' as 'bilinear' })).toThrow(dn.ShapeError);
    expect(() => upsample2dBackward(dy, [1, 3, 3, 2], { scale: 2, mode: 'nearest' })).toThrow(dn.ShapeError);
    expect(dn.memory().bytesInUse).toBe(before);
    for (const t of [rank3, x, dy]) t.dispose();
  });
});
