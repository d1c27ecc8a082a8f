// CPU reference for depthwiseConv2d (float64), written from the definition and independent of the
// GPU code's geometry helpers (conv2dGeometry, samePadding), so it checks their padding too.
//
//   x [N, H, W, C], w [kh, kw, C, M] (M: the channel multiplier) -> y [N, Ho, Wo, C·M]
//   y[n, ho, wo, c·M + m] = b[c·M + m] + Σ_{i, j} x[n, ho·sh − top + i·dh, wo·sw − left + j·dw, c] · w[i, j, c, m]
//   (dilation dh, dw: taps that far apart)
//
// with x read as zero outside the image. Each input channel is convolved with its own M filters and
// never mixed with the others. The backward reference is the same loops with the products sent the
// other way: dy·w to dx, dy·x to dw, dy to db.

import { ndZeros, type NdArray } from './array.js';

export interface DepthwiseRefOptions {
  stride?: number | [number, number];
  padding?: 'same' | 'valid' | number | [number, number, number, number];
  dilation?: number | [number, number];
}

interface Layout {
  dilH: number;
  dilW: number;
  sh: number;
  sw: number;
  top: number;
  left: number;
  ho: number;
  wo: number;
}

/** TensorFlow 'same': output ceil(size / s), total padding max((out − 1)·s + k − size, 0), less of it in front. */
function tfSame(size: number, k: number, s: number): [number, number] {
  const total = Math.max((Math.ceil(size / s) - 1) * s + k - size, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

/** Output size and front padding, from x [N, H, W, C] and w [kh, kw, C, M]. */
function layout(x: NdArray, w: NdArray, opts: DepthwiseRefOptions): Layout {
  const [, h, wd] = x.shape;
  const d = opts.dilation ?? 1;
  const [dilH, dilW] = typeof d === 'number' ? [d, d] : d;
  // The kernel's reach: k taps d apart.
  const [kh, kw] = [(w.shape[0] - 1) * dilH + 1, (w.shape[1] - 1) * dilW + 1];
  const s = opts.stride ?? 1;
  const [sh, sw] = typeof s === 'number' ? [s, s] : s;
  const p = opts.padding ?? 'valid';
  const [top, bottom, left, right] =
    p === 'same' ? [...tfSame(h, kh, sh), ...tfSame(wd, kw, sw)] : p === 'valid' ? [0, 0, 0, 0] : typeof p === 'number' ? [p, p, p, p] : p;
  return { dilH, dilW, sh, sw, top, left, ho: Math.floor((h + top + bottom - kh) / sh) + 1, wo: Math.floor((wd + left + right - kw) / sw) + 1 };
}

/** Flat index of [a, b, c, d] in a row-major array of the given shape. */
function at(shape: number[], a: number, b: number, c: number, d: number): number {
  return ((a * shape[1] + b) * shape[2] + c) * shape[3] + d;
}

/** The output shape depthwiseConv2dForwardRef produces: [N, Ho, Wo, C·M]. */
export function depthwiseConv2dOutputShapeRef(x: NdArray, w: NdArray, opts: DepthwiseRefOptions = {}): number[] {
  const { ho, wo } = layout(x, w, opts);
  return [x.shape[0], ho, wo, w.shape[2] * w.shape[3]];
}

export function depthwiseConv2dForwardRef(x: NdArray, w: NdArray, b: NdArray | null, opts: DepthwiseRefOptions = {}): NdArray {
  const [n, h, wd, c] = x.shape;
  const [kh, kw, , m] = w.shape;
  const { dilH, dilW, sh, sw, top, left, ho, wo } = layout(x, w, opts);
  const y = ndZeros([n, ho, wo, c * m]);
  for (let ni = 0; ni < n; ni++)
    for (let oh = 0; oh < ho; oh++)
      for (let ow = 0; ow < wo; ow++)
        for (let ci = 0; ci < c; ci++)
          for (let mi = 0; mi < m; mi++) {
            let acc = b ? b.data[ci * m + mi] : 0;
            for (let i = 0; i < kh; i++)
              for (let j = 0; j < kw; j++) {
                const hi = oh * sh - top + i * dilH;
                const wi = ow * sw - left + j * dilW;
                if (hi < 0 || hi >= h || wi < 0 || wi >= wd) continue;
                acc += x.data[at(x.shape, ni, hi, wi, ci)] * w.data[at(w.shape, i, j, ci, mi)];
              }
            y.data[at(y.shape, ni, oh, ow, ci * m + mi)] = acc;
          }
  return y;
}

export interface DepthwiseGrads {
  dx: NdArray;
  dw: NdArray;
  db: NdArray;
}

/** Gradients given dy: each product x·w of the forward sends dy·w to dx and dy·x to dw. */
export function depthwiseConv2dBackwardRef(x: NdArray, w: NdArray, dy: NdArray, opts: DepthwiseRefOptions = {}): DepthwiseGrads {
  const [n, h, wd, c] = x.shape;
  const [kh, kw, , m] = w.shape;
  const { dilH, dilW, sh, sw, top, left, ho, wo } = layout(x, w, opts);
  const dx = ndZeros(x.shape);
  const dw = ndZeros(w.shape);
  const db = ndZeros([c * m]);
  for (let ni = 0; ni < n; ni++)
    for (let oh = 0; oh < ho; oh++)
      for (let ow = 0; ow < wo; ow++)
        for (let ci = 0; ci < c; ci++)
          for (let mi = 0; mi < m; mi++) {
            const g = dy.data[at(dy.shape, ni, oh, ow, ci * m + mi)];
            db.data[ci * m + mi] += g;
            for (let i = 0; i < kh; i++)
              for (let j = 0; j < kw; j++) {
                const hi = oh * sh - top + i * dilH;
                const wi = ow * sw - left + j * dilW;
                if (hi < 0 || hi >= h || wi < 0 || wi >= wd) continue;
                dx.data[at(x.shape, ni, hi, wi, ci)] += g * w.data[at(w.shape, i, j, ci, mi)];
                dw.data[at(w.shape, i, j, ci, mi)] += g * x.data[at(x.shape, ni, hi, wi, ci)];
              }
          }
  return { dx, dw, db };
}
