// 3-D pooling and nearest upsampling, NDHWC, for volumes (a 3-D U-Net's down and up steps):
//
// - maxPool3d(x, {size, stride, padding}): windows of kd×kh×kw, by its own kernels
//   (max-pool3d.ts): the first maximum in scan order wins and takes the gradient, as max_pool3d's;
//   a NaN wins its window. (Composed as maxPool2d on every plane and dn.maximum along depth it
//   ran at 1.1-1.4x tf.maxPool3d on lavapipe, four passes, and split a tie along depth.)
// - avgPool3d(x, {size, stride, padding, countIncludePad}): avgPool2d on every plane (its padding
//   on H and W), then each window's planes summed (zero planes for the depth padding) and divided
//   by the window's count along depth. A window's divisor is a product of per-axis counts, so
//   this is exactly the 3-D rule: avgPool2d divides by the rows and columns counted, the depth
//   step by the planes. Its kernels and gradient are those ops'.
// - upsample3d(x, {scale, mode}): an integer scale per axis. 'nearest' (default): upsample2d on
//   every plane, then each plane repeated sd times (tile): PyTorch's interpolate(mode='nearest').
//   'trilinear': bilinear upsample2d on every plane, then each output plane the lerp of the two
//   input planes around it (gathered), PyTorch's interpolate(mode='trilinear',
//   align_corners=False), which is separable into those two steps.
//
// The pools' padding, per axis (window o covers o·s − before .. o·s − before + k − 1):
//   'valid' (the default): none, out = floor((in − k) / s) + 1.
//   'same': TensorFlow's, out = ceil(in / s), max(0, (out − 1)·s + k − in) split with the extra on
//     the after side. Padded voxels never win a max nor count in a mean (tf.nn.max_pool3d,
//     avg_pool3d), so countIncludePad true is refused with it.
//   p or [pd, ph, pw]: PyTorch's padding=p, at most half the window (PyTorch's limit);
//     out = floor((in + 2p − k) / s) + 1. Padded voxels act as −inf in a max; a mean divides by
//     kd·kh·kw when countIncludePad (PyTorch's count_include_pad, default true), else by the
//     window's real voxels.
// Either way every window holds a real voxel on every axis ('same': the padding before is at
// most (k − 1) / 2; p: at most k / 2), which the max pool's kernels rely on.

import { ArgumentError, ShapeError } from '../errors.js';
import { expectChoice, expectKnownOptions, expectOptionalBoolean, expectOptions, expectTensor } from '../graph/args.js';
import { reshape } from '../graph/reshape.js';
import { scope } from '../graph/scope.js';
import { tensor, type Tensor } from '../graph/tensor.js';
import { arithmetic } from './elementwise.js';
import { gather } from './index-gather.js';
import { maxPool3dKernels } from './max-pool3d.js';
import { avgPool2d } from './pool.js';
import { tile } from './tile.js';
import { upsample2d } from './upsample.js';
import { depthPlanes, padDepth, volumePadding, volumeTriple } from './volume-axes.js';

type Triple = number | readonly [number, number, number];
type Three = [number, number, number];

export interface Pool3dOptions {
  /** The window: a number, or [kd, kh, kw]. */
  size: Triple;
  /** Default: the window (non-overlapping windows). */
  stride?: Triple;
  /** 'valid' (default), 'same' (TensorFlow's), or PyTorch's padding=p: p or [pd, ph, pw] on each side, at most half the window. */
  padding?: 'valid' | 'same' | Triple;
}

export interface AvgPool3dOptions extends Pool3dOptions {
  /** PyTorch's count_include_pad (default true): explicit padding counts in the divisor. Not true with 'same'. */
  countIncludePad?: boolean;
}

export const MAX_POOL3D_OPTIONS = ['size', 'stride', 'padding'] as const;
export const AVG_POOL3D_OPTIONS = ['size', 'stride', 'padding', 'countIncludePad'] as const;

/** The options resolved, before any input is seen: `padding` null for 'same'; `countPad` whether explicit padding counts in a mean. */
export interface Pool3dWindow {
  size: Three;
  stride: Three;
  padding: Three | null;
  countPad: boolean;
}

/** A pool's window and padding on the volume: per axis the output size and the padding before. */
interface Pool3dPlan extends Pool3dWindow {
  out: Three;
  before: Three;
}

export interface Upsample3dOptions {
  /** A positive integer, or [sd, sh, sw]. */
  scale: Triple;
  /** 'nearest' (default) or 'trilinear' (PyTorch's align_corners=False). */
  mode?: 'nearest' | 'trilinear';
}

function checkVolume(op: string, x: Tensor): void {
  expectTensor(op, 'input x', x);
  if (x.rank !== 5) throw new ShapeError(`${op}: x must be [N, D, H, W, C] (rank 5) but is ${x.describe()}`);
}

/**
 * Checks a 3-D pool's options alone (a layer checks its own when it is built, naming itself as
 * `op`); `known` is the pool's list above.
 */
export function pool3dWindow(op: string, opts: AvgPool3dOptions, known: readonly string[]): Pool3dWindow {
  expectOptions(op, opts, "{ size: 2, padding: 'same' }", true);
  // Hints on: PyTorch's count_include_pad is answered with its camelCase.
  expectKnownOptions(op, opts, known, {});
  const size = volumeTriple(op, 'size', opts.size);
  const stride = opts.stride === undefined ? size : volumeTriple(op, 'stride', opts.stride);
  expectOptionalBoolean(op, 'countIncludePad', opts.countIncludePad);
  const given = volumePadding(op, opts.padding);
  if (given === 'same') {
    if (opts.countIncludePad) throw new ArgumentError(`${op}: countIncludePad needs explicit padding; 'same' is TensorFlow's, whose padding never counts in the mean`);
    return { size, stride, padding: null, countPad: false };
  }
  const padding: Three = given === 'valid' ? [0, 0, 0] : given;
  if (padding.some((p, i) => 2 * p > size[i])) {
    throw new ShapeError(`${op}: padding ${padding.join('x')} is more than half the ${size.join('x')} window (PyTorch's limit: padding <= size / 2)`);
  }
  return { size, stride, padding, countPad: opts.countIncludePad ?? true };
}

function poolPlan(op: string, x: Tensor, opts: AvgPool3dOptions, known: readonly string[]): Pool3dPlan {
  checkVolume(op, x);
  const win = pool3dWindow(op, opts, known);
  const { size: k, stride: s, padding } = win;
  const dims = x.shape.slice(1, 4);
  const out = dims.map((d, i) => (padding ? Math.floor((d + 2 * padding[i] - k[i]) / s[i]) + 1 : Math.ceil(d / s[i]))) as Three;
  const before = dims.map((d, i) => (padding ? padding[i] : Math.floor(Math.max(0, (out[i] - 1) * s[i] + k[i] - d) / 2))) as Three;
  if (out.some((o) => o < 1)) {
    const padded = padding?.some((p) => p > 0) ? ` padded by ${padding.join('x')}` : '';
    throw new ShapeError(`${op}: the ${k.join('x')} window does not fit the ${dims.join('x')} volume${padded} of x ${x.describe()}`);
  }
  return { ...win, out, before };
}

/**
 * Differentiable 3-D average pool, windows of `size` `stride` apart, padded as above: avgPool2d on
 * every plane, then the planes of each depth window summed and divided by its depth count.
 */
export function avgPool3d(x: Tensor, opts: AvgPool3dOptions): Tensor {
  const { size: k, stride: s, padding, countPad, out, before } = poolPlan('avgPool3d', x, opts, AVG_POOL3D_OPTIONS);
  const [n, d, h, w, c] = x.shape;
  // The planes a window reads along depth, counted as the divisor says: those inside the volume,
  // or inside the explicit padding too.
  const low = padding && countPad ? -padding[0] : 0;
  const high = padding && countPad ? d + padding[0] : d;
  const counts = Array.from({ length: out[0] }, (_, z) => Math.min(z * s[0] - before[0] + k[0], high) - Math.max(z * s[0] - before[0], low));
  return scope(() => {
    const plane = padding
      ? { size: [k[1], k[2]] as const, stride: [s[1], s[2]] as const, padding: [padding[1], padding[2]] as const, countIncludePad: countPad }
      : { size: [k[1], k[2]] as const, stride: [s[1], s[2]] as const, padding: 'same' as const };
    const pooled = avgPool2d(reshape(x, [n * d, h, w, c]), plane);
    // The depth window's planes, zero planes standing for the padding.
    const after = Math.max(0, (out[0] - 1) * s[0] + k[0] - d - before[0]);
    const planes = padDepth(reshape(pooled, [n, d, ...pooled.shape.slice(1)]), before[0], after);
    let y = depthPlanes(planes, 0, s[0], out[0]);
    for (let a = 1; a < k[0]; a++) y = arithmetic('add', y, depthPlanes(planes, a, s[0], out[0]));
    if (counts.every((m) => m === 1)) return y;
    if (counts.every((m) => m === counts[0])) return arithmetic('mul', y, 1 / counts[0]);
    return arithmetic('mul', y, tensor(counts.map((m) => 1 / m), [1, out[0], 1, 1, 1]));
  });
}

/** Differentiable 3-D max pool, windows of `size` (a number or [kd, kh, kw]) `stride` apart, padded as above. */
export function maxPool3d(x: Tensor, opts: Pool3dOptions): Tensor {
  const { size, stride, out, before } = poolPlan('maxPool3d', x, opts, MAX_POOL3D_OPTIONS);
  const [n, d, h, w, c] = x.shape;
  return maxPool3dKernels(x, { n, d, h, w, c, k: size, s: stride, p: before, out });
}


/**
 * Where output plane z of `out` reads along an axis of `size` at scale s (PyTorch's
 * align_corners=False: src = (z + 0.5) / s − 0.5, clamped at 0): the planes below and above it and
 * the weight of the one above.
 */
export function linearTaps(size: number, scale: number): { below: number[]; above: number[]; weight: number[] } {
  const taps = Array.from({ length: size * scale }, (_, z) => {
    const src = Math.max((z + 0.5) / scale - 0.5, 0);
    const below = Math.min(Math.floor(src), size - 1);
    return { below, above: Math.min(below + 1, size - 1), weight: src - below };
  });
  return { below: taps.map((t) => t.below), above: taps.map((t) => t.above), weight: taps.map((t) => t.weight) };
}

/** Differentiable upsampling of a volume by whole factors: [N, D·sd, H·sh, W·sw, C]. */
export function upsample3d(x: Tensor, opts: Upsample3dOptions): Tensor {
  const op = 'upsample3d';
  checkVolume(op, x);
  expectOptions(op, opts, "{ scale: 2, mode: 'trilinear' }", true);
  expectKnownOptions(op, opts, ['scale', 'mode']);
  expectChoice(op, 'mode', opts.mode, ['nearest', 'trilinear']);
  const [sd, sh, sw] = volumeTriple(op, 'scale', opts.scale);
  const [n, d, h, w, c] = x.shape;
  const trilinear = opts.mode === 'trilinear';
  return scope(() => {
    const planes = upsample2d(reshape(x, [n * d, h, w, c]), { scale: [sh, sw], mode: trilinear ? 'bilinear' : 'nearest', alignCorners: false });
    if (!trilinear) {
      const stacked = reshape(planes, [n, d, 1, h * sh, w * sw, c]);
      return reshape(sd === 1 ? stacked : tile(stacked, [1, 1, sd, 1, 1, 1]), [n, d * sd, h * sh, w * sw, c]);
    }
    const volume = reshape(planes, [n, d, h * sh, w * sw, c]);
    if (sd === 1) return volume;
    const { below, above, weight } = linearTaps(d, sd);
    const lower = gather(volume, below, 1);
    const step = arithmetic('sub', gather(volume, above, 1), lower);
    return arithmetic('add', lower, arithmetic('mul', step, tensor(weight, [1, d * sd, 1, 1, 1])));
  });
}
