// 3-D pooling and nearest upsampling, NDHWC, for volumes (a 3-D U-Net's down and up steps):
//
// - maxPool3d(x, {size, stride}): windows of kd×kh×kw, 'valid' (PyTorch's default padding 0), by
//   its own kernels (max-pool3d.ts): the first maximum in scan order wins and takes the gradient,
//   as max_pool3d's. (Composed as maxPool2d on every plane and dn.maximum along depth it ran at
//   1.1-1.4x tf.maxPool3d on lavapipe, four passes, and split a tie along depth.)
// - avgPool3d(x, {size, stride}): avgPool2d on every plane, then the mean of each window's planes:
//   PyTorch's avg_pool3d without padding; its kernels and gradient are those ops'.
// - upsample3d(x, {scale, mode}): an integer scale per axis. 'nearest' (default): upsample2d on
//   every plane, then each plane repeated sd times (tile): PyTorch's interpolate(mode='nearest').
//   'trilinear': bilinear upsample2d on every plane, then each output plane the lerp of the two
//   input planes around it (gathered), PyTorch's interpolate(mode='trilinear',
//   align_corners=False), which is separable into those two steps.

import { ShapeError } from '../errors.js';
import { expectChoice, expectKnownOptions, expectOptions, expectTensor } from '../graph/args.js';
import { reshape } from '../graph/reshape.js';
import { scope } from '../graph/scope.js';
import { tensor, type Tensor } from '../graph/tensor.js';
import { arithmetic } from './elementwise.js';
import { gather } from './index-gather.js';
import { maxPool3dKernels } from './max-pool3d.js';
import { avgPool2d } from './pool.js';
import { tile } from './tile.js';
import { upsample2d } from './upsample.js';
import { depthPlanes, volumeTriple } from './volume-axes.js';

type Triple = number | readonly [number, number, number];

export interface Pool3dOptions {
  /** The window: a number, or [kd, kh, kw]. */
  size: Triple;
  /** Default: the window (non-overlapping windows). */
  stride?: Triple;
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

function poolArgs(op: string, x: Tensor, opts: Pool3dOptions): { size: [number, number, number]; stride: [number, number, number]; depthOut: number } {
  checkVolume(op, x);
  expectOptions(op, opts, '{ size: 2 }', true);
  expectKnownOptions(op, opts, ['size', 'stride']);
  const size = volumeTriple(op, 'size', opts.size);
  const stride = opts.stride === undefined ? size : volumeTriple(op, 'stride', opts.stride);
  const dims = x.shape.slice(1, 4);
  if (dims.some((d, i) => d < size[i])) throw new ShapeError(`${op}: the ${size.join('x')} window does not fit the ${dims.join('x')} volume of x ${x.describe()}`);
  return { size, stride, depthOut: Math.floor((dims[0] - size[0]) / stride[0]) + 1 };
}

/** Differentiable 3-D average pool, 'valid' windows of `size` `stride` apart: avgPool2d on every plane, then the mean of each depth window's planes. */
export function avgPool3d(x: Tensor, opts: Pool3dOptions): Tensor {
  const { size, stride, depthOut } = poolArgs('avgPool3d', x, opts);
  const [n, d, h, w, c] = x.shape;
  return scope(() => {
    const pooled = avgPool2d(reshape(x, [n * d, h, w, c]), { size: [size[1], size[2]], stride: [stride[1], stride[2]] });
    const planes = reshape(pooled, [n, d, ...pooled.shape.slice(1)]);
    let y = depthPlanes(planes, 0, stride[0], depthOut);
    for (let a = 1; a < size[0]; a++) y = arithmetic('add', y, depthPlanes(planes, a, stride[0], depthOut));
    return size[0] > 1 ? arithmetic('mul', y, 1 / size[0]) : y;
  });
}

/** Differentiable 3-D max pool, 'valid' windows of `size` (a number or [kd, kh, kw]) `stride` apart. */
export function maxPool3d(x: Tensor, opts: Pool3dOptions): Tensor {
  const { size, stride, depthOut } = poolArgs('maxPool3d', x, opts);
  const [n, d, h, w, c] = x.shape;
  const out: [number, number, number] = [depthOut, Math.floor((h - size[1]) / stride[1]) + 1, Math.floor((w - size[2]) / stride[2]) + 1];
  return maxPool3dKernels(x, { n, d, h, w, c, k: size, s: stride, out });
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
