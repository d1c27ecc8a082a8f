// Data augmentation on a training batch of the LGG data (16 images 256x256x3 and their masks
// 256x256x1, batch and sides divided by the scale): the elastic deformation of the 'elastic' preset
// and the horizontal flip. Memory bound; the work counted is the minimum traffic: elastic reads the
// image, the mask and the noise [N, H, W, 2] and writes the image and the mask; the flip reads and
// writes the image and the mask.
//
// Elastic, as the notebook's scipy elastic_transform and dawnet's elastic(): dx (rows) and dy
// (columns) are the noise smoothed by gaussian_filter(sigma 2.5, mode 'reflect') times alpha, and
// image and mask are read bilinearly at (row + dx, col + dy), extended half-sample symmetrically
// (scipy 'reflect', periodic beyond one reflection); the mask is then thresholded at 0.5. alpha is
// fixed at 4 for every sample (the preset draws it from U(2, 6)) so both sides use the same scales.
//
// What is timed, on both sides: from the uploaded noise to the deformed image and mask. The noise is
// drawn on the CPU in the real pipeline; here it is an input, uploaded once, untimed, on both sides.
// The constants (Gaussian weights and per-sample alphas; tfjs's filters, coordinate grid and fold
// tables) are made once in the setups, so neither side uploads anything per run.
//   dawnet: smoothField (two 21-tap passes, alpha applied in the second), then displaceForward on
//     the image and on the mask: 4 dispatches, the field computed once for both.
//   tfjs has no grid sampler, so the op is written with its ops as a competent user would: pad the
//     noise (see tfjsPad), two 'valid' depthwiseConv2d passes ([2r+1,1,2,1] then [1,2r+1,2,1]), times
//     alpha; the source coordinates, their floor and fraction, and the four neighbours' flat indices
//     computed once for image and mask with the same half-sample fold as arithmetic
//     (m = mod(i, 2L), min(m, 2L-1-m)); then 4 gathers from the flattened [N*H*W, C] image, the same
//     blend as dawnet's kernel ((1-fx) s00 + fx s01 per row, then the rows), and the same for the
//     mask followed by > 0.5. About 50 small ops; that is what tfjs offers for this.
// Flip: dawnet's flipForward with all horizontal flags set (flags made once) against
// tf.image.flipLeftRight, each on the image and on the mask.

import type * as TF from '@tensorflow/tfjs-core';
import { tensor, type Tensor } from '../../src/graph/tensor.js';
import type { SampleOptions } from '../../src/kernels/augment.js';
import { reflectIndex } from '../../src/reference/augment.js';
import { count, dims, f32Bytes, scaled, family, type BenchCase, type CaseFamily } from '../case.js';

type Kernels = typeof import('../../src/kernels/augment.js');

/** The 'elastic' preset's sigma; alpha fixed inside the preset's range U(2, 6). */
const SIGMA = 2.5;
const ALPHA = 4;

const IMAGE_SAMPLING: SampleOptions = { fillMode: 'reflect', interpolation: 'bilinear', threshold: false, cval: 0 };
const MASK_SAMPLING: SampleOptions = { ...IMAGE_SAMPLING, threshold: true };

/** The flagship batch: 16 LGG images 256x256x3 with masks, batch and sides divided by the scale. */
function lggBatch(scale: number): { image: number[]; mask: number[]; noise: number[] } {
  const [n, s] = [scaled(16, scale), scaled(256, scale)];
  return { image: [n, s, s, 3], mask: [n, s, s, 1], noise: [n, s, s, 2] };
}

// ---------------------------------------------------------------------------------------------
// tfjs elastic

/**
 * Setup: filters, per-sample alphas, the (row, col) grid, the fold's periods and the flat-index
 * strides and batch offsets, plus the smoothing fold tables when tfjsPad needs them.
 */
function tfjsElasticSetup(k: Kernels, shape: number[]) {
  return (tf: typeof TF): TF.Tensor[] => {
    const [n, h, w] = shape;
    const weights = Float32Array.from(k.gaussianWeights(SIGMA, 'scipy'));
    const r = (weights.length - 1) / 2;
    // Depthwise filters [fh, fw, channels, multiplier]: the same taps for dx and dy.
    const taps = Float32Array.from({ length: 2 * weights.length }, (_, i) => weights[i >> 1]);
    const grid = new Float32Array(h * w * 2);
    for (let p = 0; p < h * w; p++) [grid[2 * p], grid[2 * p + 1]] = [Math.floor(p / w), p % w];
    const offsets = Float32Array.from({ length: 2 * n }, (_, i) => (i % 2 ? 0 : (i >> 1) * h * w));
    const consts = [
      tf.tensor4d(taps, [2 * r + 1, 1, 2, 1]),
      tf.tensor4d(taps, [1, 2 * r + 1, 2, 1]),
      tf.fill([n, 1, 1, 1], ALPHA),
      tf.tensor4d(grid, [1, h, w, 2]),
      tf.tensor1d([2 * h, 2 * w]),
      tf.tensor1d([2 * h - 1, 2 * w - 1]),
      tf.tensor1d([w, 1]),
      tf.tensor4d(offsets, [n, 1, 1, 2]),
    ];
    if (r > Math.min(h, w)) {
      const table = (len: number) => Int32Array.from({ length: len + 2 * r }, (_, i) => reflectIndex(i - r, len));
      consts.push(tf.tensor1d(table(h), 'int32'), tf.tensor1d(table(w), 'int32'));
    }
    return consts;
  };
}

/**
 * The noise extended by r on both spatial sides, scipy 'reflect'. tf.mirrorPad 'symmetric' is that
 * extension in one op and reads no index table, but it reflects once only (padding <= size), so it
 * cannot give scipy's periodic extension when the radius (10) exceeds a side (8x8 images at scale
 * 32): there the fold tables made on the CPU select the rows, then the columns, with tf.gather.
 * Extending both axes before both passes equals scipy's per-pass extension: reflecting columns
 * commutes with filtering along the rows.
 */
function tfjsPad(tf: typeof TF, noise: TF.Tensor, r: number, tables: TF.Tensor[]): TF.Tensor4D {
  if (tables.length === 0) return tf.mirrorPad(noise, [[0, 0], [r, r], [r, r], [0, 0]], 'symmetric') as TF.Tensor4D;
  const [rows, cols] = tables;
  return tf.gather(tf.gather(noise, rows, 1), cols, 2) as TF.Tensor4D;
}

/** (1-fx) s00 + fx s01 along each row, then (1-fy) top + fy bottom, as dawnet's kernel. */
function tfjsBilinear(tf: typeof TF, src: TF.Tensor, index: TF.Tensor[], f: { fx: TF.Tensor; fy: TF.Tensor; gx: TF.Tensor; gy: TF.Tensor }): TF.Tensor {
  const [n, h, w, c] = src.shape;
  const flat = tf.reshape(src, [n * h * w, c]);
  const [s00, s01, s10, s11] = index.map((i) => tf.gather(flat, i));
  const top = tf.add(tf.mul(f.gx, s00), tf.mul(f.fx, s01));
  const bottom = tf.add(tf.mul(f.gx, s10), tf.mul(f.fx, s11));
  return tf.add(tf.mul(f.gy, top), tf.mul(f.fy, bottom));
}

function tfjsElastic(tf: typeof TF, x: TF.Tensor[]): TF.Tensor[] {
  const [image, mask, noise, filterH, filterW, alpha, grid, period, periodLess1, strides, offsets, ...tables] = x;
  const r = (filterH.shape[0] - 1) / 2;
  const padded = tfjsPad(tf, noise, r, tables);
  const smooth = tf.depthwiseConv2d(tf.depthwiseConv2d(padded, filterH as TF.Tensor4D, 1, 'valid'), filterW as TF.Tensor4D, 1, 'valid');
  // [N, H, W, 2]: (row + dx, col + dy).
  const coords = tf.add(grid, tf.mul(smooth, alpha));
  const base = tf.floor(coords);
  const frac = tf.sub(coords, base);
  const fold = (i: TF.Tensor) => {
    const m = tf.mod(i, period);
    return tf.minimum(m, tf.sub(periodLess1, m));
  };
  // (b*H*W + r*W, c) for the near (floor) and far (floor + 1) neighbours.
  const flatParts = (i: TF.Tensor) => tf.unstack(tf.cast(tf.add(tf.mul(fold(i), strides), offsets), 'int32'), 3);
  const [r0, c0] = flatParts(base);
  const [r1, c1] = flatParts(tf.add(base, 1));
  const index = [tf.add(r0, c0), tf.add(r0, c1), tf.add(r1, c0), tf.add(r1, c1)];
  const [fy, fx] = tf.unstack(frac, 3).map((t) => tf.expandDims(t, 3));
  const f = { fx, fy, gx: tf.sub(1, fx), gy: tf.sub(1, fy) };
  return [tfjsBilinear(tf, image, index, f), tf.cast(tf.greater(tfjsBilinear(tf, mask, index, f), 0.5), 'float32')];
}

// ---------------------------------------------------------------------------------------------
// Cases

function cases(k: Kernels, scale: number): BenchCase[] {
  const { image, mask, noise } = lggBatch(scale);
  const n = image[0];
  const inputs = [
    { name: 'image', shape: image },
    { name: 'mask', shape: mask },
  ];
  const elastic: BenchCase = {
    id: 'augment.elastic/lgg-batch',
    group: 'augment',
    shape: `${dims(image)} + ${dims(mask)} sigma ${SIGMA}`,
    metric: 'bytes',
    work: f32Bytes(count(image), count(mask), count(noise), count(image), count(mask)),
    // noise: dx (rows) in channel 0, dy (columns) in channel 1, uniform in [-1, 1).
    inputs: [...inputs, { name: 'noise', shape: noise }],
    dawnetSetup: () => [tensor(Float32Array.from(k.gaussianWeights(SIGMA, 'scipy'))), tensor(new Float32Array(2 * n).fill(ALPHA), [n, 2])],
    dawnet: ([img, msk, nse, weights, scales]) => {
      const field = k.smoothField(nse, weights, scales, 'scipy');
      try {
        return [k.displaceForward(img, field, IMAGE_SAMPLING), k.displaceForward(msk, field, MASK_SAMPLING)];
      } finally {
        field.dispose();
      }
    },
    tfjsSetup: tfjsElasticSetup(k, image),
    tfjs: tfjsElastic,
    // The mask is thresholded at 0.5 after interpolation: a pixel float32 rounding puts on 0.5 may flip.
    outputs: [{ name: 'image' }, { name: 'mask', mask: true }],
    note: 'tfjs has no grid sampler: its side is ~50 ops (pad, 2 depthwise convs, index arithmetic, 8 gathers, blends)',
  };
  const flip: BenchCase = {
    id: 'augment.flip/lgg-batch',
    group: 'augment',
    shape: `${dims(image)} + ${dims(mask)}`,
    metric: 'bytes',
    work: f32Bytes(count(image), count(mask), count(image), count(mask)),
    inputs,
    // Every sample flipped horizontally (flags [N, 2] = horizontal, vertical).
    dawnetSetup: () => [tensor(Float32Array.from({ length: 2 * n }, (_, i) => (i % 2 ? 0 : 1)), [n, 2])],
    outputs: [{ name: 'image' }, { name: 'mask' }],
    dawnet: ([img, msk, flags]: Tensor[]) => [k.flipForward(img, flags), k.flipForward(msk, flags)],
    tfjs: (tf, [img, msk]) => [tf.image.flipLeftRight(img as TF.Tensor4D), tf.image.flipLeftRight(msk as TF.Tensor4D)],
  };
  return [elastic, flip];
}

export const augmentFamily: CaseFamily = family('augment', () => import('../../src/kernels/augment.js'), cases);
