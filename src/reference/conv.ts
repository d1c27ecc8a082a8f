// CPU references for conv2d and convTranspose2d (float64), written from the definitions and
// independent of the GPU code's geometry helpers, so they can check its 'same' padding too.
//
// conv2d:          x [N, H, W, Cin], w [kh, kw, Cin, Cout] -> y [N, Ho, Wo, Cout]
//   y[n, ho, wo, co] = b[co] + Σ x[n, ho·sh − top + i·dh, wo·sw − left + j·dw, ci] · w[i, j, ci, co]
//   (dilation dh, dw: taps that far apart, the kernel reaching (k − 1)·d + 1 pixels)
// convTranspose2d: x [N, H, W, Cin], w [kh, kw, Cout, Cin] -> y [N, Hy, Wy, Cout]
//   every input pixel scatters x[n, h, w, ci] · w[i, j, co, ci] to y[n, h·sh − top + i, w·sw − left + j, co]
// The backward references are the same loops with the products sent the other way.

import { ndZeros, type NdArray } from './array.js';

export interface ConvRefOptions {
  stride?: number | [number, number];
  padding?: 'same' | 'valid' | number | [number, number, number, number];
  dilation?: number | [number, number];
}

interface Layout {
  sh: number;
  sw: number;
  top: number;
  left: number;
}

function strides(opts: ConvRefOptions): [number, number] {
  const s = opts.stride ?? 1;
  return typeof s === 'number' ? [s, s] : s;
}

function dilations(opts: ConvRefOptions): [number, number] {
  const d = opts.dilation ?? 1;
  return typeof d === 'number' ? [d, d] : d;
}

function explicitPads(p: number | [number, number, number, number]): [number, number, number, number] {
  return typeof p === 'number' ? [p, p, p, p] : p;
}

/** TensorFlow 'same': output ceil(size / s), total padding max((out − 1)·s + k − size, 0), less of it in front. */
function tfSame(size: number, k: number, s: number): [number, number] {
  const total = Math.max((Math.ceil(size / s) - 1) * s + k - size, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

/** conv2d's output size and front padding. */
function convLayout(x: NdArray, w: NdArray, opts: ConvRefOptions): Layout & { ho: number; wo: number; dilH: number; dilW: number } {
  const [, h, wd] = x.shape;
  const [sh, sw] = strides(opts);
  const [dilH, dilW] = dilations(opts);
  const [kh, kw] = [(w.shape[0] - 1) * dilH + 1, (w.shape[1] - 1) * dilW + 1];
  const p = opts.padding ?? 'valid';
  const [top, bottom, left, right] =
    p === 'same' ? [...tfSame(h, kh, sh), ...tfSame(wd, kw, sw)] : p === 'valid' ? [0, 0, 0, 0] : explicitPads(p);
  const ho = Math.floor((h + top + bottom - kh) / sh) + 1;
  const wo = Math.floor((wd + left + right - kw) / sw) + 1;
  return { sh, sw, top, left, dilH, dilW, ho, wo };
}

/** Flat index of [a, b, c, d] in a row-major array of the given shape. */
function at(shape: number[], a: number, b: number, c: number, d: number): number {
  return ((a * shape[1] + b) * shape[2] + c) * shape[3] + d;
}

export function conv2dForwardRef(x: NdArray, w: NdArray, b: NdArray | null, opts: ConvRefOptions = {}): NdArray {
  const [n, h, wd, cin] = x.shape;
  const [kh, kw, , cout] = w.shape;
  const { sh, sw, top, left, dilH, dilW, ho, wo } = convLayout(x, w, opts);
  const y = ndZeros([n, ho, wo, cout]);
  for (let ni = 0; ni < n; ni++)
    for (let oh = 0; oh < ho; oh++)
      for (let ow = 0; ow < wo; ow++)
        for (let co = 0; co < cout; co++) {
          let acc = b ? b.data[co] : 0;
          for (let i = 0; i < kh; i++)
            for (let j = 0; j < kw; j++) {
              const hi = oh * sh - top + i * dilH;
              const wi = ow * sw - left + j * dilW;
              if (hi < 0 || hi >= h || wi < 0 || wi >= wd) continue;
              for (let ci = 0; ci < cin; ci++) acc += x.data[at(x.shape, ni, hi, wi, ci)] * w.data[at(w.shape, i, j, ci, co)];
            }
          y.data[at(y.shape, ni, oh, ow, co)] = acc;
        }
  return y;
}

export interface ConvGrads {
  dx: NdArray;
  dw: NdArray;
  db: NdArray;
}

/** Gradients of conv2d given dy: each product x·w of the forward sends dy·w to dx and dy·x to dw. */
export function conv2dBackwardRef(x: NdArray, w: NdArray, dy: NdArray, opts: ConvRefOptions = {}): ConvGrads {
  const [n, h, wd, cin] = x.shape;
  const [kh, kw, , cout] = w.shape;
  const { sh, sw, top, left, dilH, dilW, ho, wo } = convLayout(x, w, opts);
  const dx = ndZeros(x.shape);
  const dw = ndZeros(w.shape);
  const db = ndZeros([cout]);
  for (let ni = 0; ni < n; ni++)
    for (let oh = 0; oh < ho; oh++)
      for (let ow = 0; ow < wo; ow++)
        for (let co = 0; co < cout; co++) {
          const g = dy.data[at(dy.shape, ni, oh, ow, co)];
          db.data[co] += g;
          for (let i = 0; i < kh; i++)
            for (let j = 0; j < kw; j++) {
              const hi = oh * sh - top + i * dilH;
              const wi = ow * sw - left + j * dilW;
              if (hi < 0 || hi >= h || wi < 0 || wi >= wd) continue;
              for (let ci = 0; ci < cin; ci++) {
                dx.data[at(x.shape, ni, hi, wi, ci)] += g * w.data[at(w.shape, i, j, ci, co)];
                dw.data[at(w.shape, i, j, ci, co)] += g * x.data[at(x.shape, ni, hi, wi, ci)];
              }
            }
        }
  return { dx, dw, db };
}

/**
 * convTranspose2d's output size and front padding, as Keras Conv2DTranspose: 'valid' gives
 * in·s + max(k − s, 0) with no padding, 'same' gives in·s with max(k − s, 0) cropped (less in front),
 * explicit [top, bottom, left, right] gives (in − 1)·s + k − top − bottom.
 */
function transposeLayout(x: NdArray, w: NdArray, opts: ConvRefOptions): Layout & { hy: number; wy: number } {
  const [, h, wd] = x.shape;
  const [kh, kw] = w.shape;
  const [sh, sw] = strides(opts);
  const p = opts.padding ?? 'valid';
  if (p === 'valid') return { sh, sw, top: 0, left: 0, hy: h * sh + Math.max(kh - sh, 0), wy: wd * sw + Math.max(kw - sw, 0) };
  if (p === 'same') {
    return { sh, sw, top: Math.floor(Math.max(kh - sh, 0) / 2), left: Math.floor(Math.max(kw - sw, 0) / 2), hy: h * sh, wy: wd * sw };
  }
  const [top, bottom, left, right] = explicitPads(p);
  return { sh, sw, top, left, hy: (h - 1) * sh + kh - top - bottom, wy: (wd - 1) * sw + kw - left - right };
}

export function convTranspose2dForwardRef(x: NdArray, w: NdArray, b: NdArray | null, opts: ConvRefOptions = {}): NdArray {
  const [n, h, wd, cin] = x.shape;
  const [kh, kw, cout] = w.shape;
  const { sh, sw, top, left, hy, wy } = transposeLayout(x, w, opts);
  const y = ndZeros([n, hy, wy, cout]);
  if (b) for (let i = 0; i < y.data.length; i++) y.data[i] = b.data[i % cout];
  for (let ni = 0; ni < n; ni++)
    for (let hi = 0; hi < h; hi++)
      for (let wi = 0; wi < wd; wi++)
        for (let i = 0; i < kh; i++)
          for (let j = 0; j < kw; j++) {
            const oh = hi * sh - top + i;
            const ow = wi * sw - left + j;
            if (oh < 0 || oh >= hy || ow < 0 || ow >= wy) continue;
            for (let co = 0; co < cout; co++)
              for (let ci = 0; ci < cin; ci++) {
                y.data[at(y.shape, ni, oh, ow, co)] += x.data[at(x.shape, ni, hi, wi, ci)] * w.data[at(w.shape, i, j, co, ci)];
              }
          }
  return y;
}

export function convTranspose2dBackwardRef(x: NdArray, w: NdArray, dy: NdArray, opts: ConvRefOptions = {}): ConvGrads {
  const [n, h, wd, cin] = x.shape;
  const [kh, kw, cout] = w.shape;
  const { sh, sw, top, left, hy, wy } = transposeLayout(x, w, opts);
  const dx = ndZeros(x.shape);
  const dw = ndZeros(w.shape);
  const db = ndZeros([cout]);
  for (let i = 0; i < dy.data.length; i++) db.data[i % cout] += dy.data[i];
  for (let ni = 0; ni < n; ni++)
    for (let hi = 0; hi < h; hi++)
      for (let wi = 0; wi < wd; wi++)
        for (let i = 0; i < kh; i++)
          for (let j = 0; j < kw; j++) {
            const oh = hi * sh - top + i;
            const ow = wi * sw - left + j;
            if (oh < 0 || oh >= hy || ow < 0 || ow >= wy) continue;
            for (let co = 0; co < cout; co++)
              for (let ci = 0; ci < cin; ci++) {
                const g = dy.data[at(dy.shape, ni, oh, ow, co)];
                dx.data[at(x.shape, ni, hi, wi, ci)] += g * w.data[at(w.shape, i, j, co, ci)];
                dw.data[at(w.shape, i, j, co, ci)] += g * x.data[at(x.shape, ni, hi, wi, ci)];
              }
          }
  return { dx, dw, db };
}

/** The output shape convTranspose2dForwardRef produces, for building test data. */
export function convTranspose2dOutputShapeRef(x: NdArray, w: NdArray, opts: ConvRefOptions = {}): number[] {
  const { hy, wy } = transposeLayout(x, w, opts);
  return [x.shape[0], hy, wy, w.shape[2]];
}

/** The output shape conv2dForwardRef produces. */
export function conv2dOutputShapeRef(x: NdArray, w: NdArray, opts: ConvRefOptions = {}): number[] {
  const { ho, wo } = convLayout(x, w, opts);
  return [x.shape[0], ho, wo, w.shape[3]];
}
