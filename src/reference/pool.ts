// CPU references for pooling (float64, NHWC): the windows written out as loops, the backward as the
// scatter that the GPU's gather must agree with. Written from the specs, not from the GPU's code:
// TensorFlow's 'same'; PyTorch's padding, ceil_mode (pooling_output_shape) and avg_pool2d's divisor
// (count_include_pad, divisor_override), counted position by position rather than by formula.

import { ndZeros, type NdArray } from './array.js';

export interface PoolRefOptions {
  size: number | readonly [number, number];
  stride?: number | readonly [number, number];
  padding?: 'valid' | 'same' | number | readonly [number, number];
  ceilMode?: boolean;
  countIncludePad?: boolean;
  divisorOverride?: number;
  /** Max pool only: taps this far apart (PyTorch's dilation). */
  dilation?: number | readonly [number, number];
}

interface Windows {
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  dh: number;
  dw: number;
  padTop: number;
  padLeft: number;
  outH: number;
  outW: number;
  /** Padding positions that count in a mean's divisor: PyTorch's explicit padding with count_include_pad. */
  countsPadding: boolean;
}

const pairOf = (v: number | readonly [number, number]): [number, number] => (typeof v === 'number' ? [v, v] : [v[0], v[1]]);

/**
 * PyTorch's pooling_output_shape, dilation 1: floor((in + 2p - k + (ceil ? s - 1 : 0)) / s) + 1,
 * then in ceil mode one fewer if the last window would start at or past in + p.
 */
function torchOut(size: number, k: number, s: number, p: number, ceilMode: boolean): number {
  let out = Math.floor((size + 2 * p - k + (ceilMode ? s - 1 : 0)) / s) + 1;
  if (ceilMode && (out - 1) * s >= size + p) out--;
  return out;
}

/** Output size and padding: 'same' is TF's (out = ceil(in / stride)); 'valid' is padding 0. */
function windows(h: number, w: number, opts: PoolRefOptions): Windows {
  const [kh, kw] = pairOf(opts.size);
  const [sh, sw] = pairOf(opts.stride ?? [kh, kw]);
  const [dh, dw] = pairOf(opts.dilation ?? 1);
  // The window's span with its dilation's gaps (PyTorch's dilation * (kernel_size - 1) + 1).
  const [spanH, spanW] = [dh * (kh - 1) + 1, dw * (kw - 1) + 1];
  const padding = opts.padding ?? 'valid';
  if (padding === 'same') {
    const outH = Math.ceil(h / sh);
    const outW = Math.ceil(w / sw);
    const padTop = Math.floor(Math.max(0, (outH - 1) * sh + spanH - h) / 2);
    const padLeft = Math.floor(Math.max(0, (outW - 1) * sw + spanW - w) / 2);
    return { kh, kw, sh, sw, dh, dw, padTop, padLeft, outH, outW, countsPadding: false };
  }
  const [ph, pw] = padding === 'valid' ? [0, 0] : pairOf(padding);
  const ceilMode = opts.ceilMode ?? false;
  return {
    kh, kw, sh, sw, dh, dw, padTop: ph, padLeft: pw,
    outH: torchOut(h, spanH, sh, ph, ceilMode),
    outW: torchOut(w, spanW, sw, pw, ceilMode),
    countsPadding: opts.countIncludePad ?? true,
  };
}

/**
 * Calls visit(outIndex, inIndices, divisor) for every output element, with the real input pixels
 * of its window and what avg_pool2d divides its sum by: divisorOverride, else the window's positions
 * that are real pixels or, where padding counts, padding (rows -padTop .. h + padTop - 1, columns
 * alike); a ceil-mode window's positions beyond the padding never count.
 */
function eachWindow(shape: number[], opts: PoolRefOptions, visit: (o: number, window: number[], divisor: number) => void): number[] {
  const [n, h, w, c] = shape;
  const g = windows(h, w, opts);
  const inPadded = (ih: number, iw: number) => ih >= -g.padTop && ih < h + g.padTop && iw >= -g.padLeft && iw < w + g.padLeft;
  for (let b = 0; b < n; b++) {
    for (let oh = 0; oh < g.outH; oh++) {
      for (let ow = 0; ow < g.outW; ow++) {
        for (let ch = 0; ch < c; ch++) {
          const window: number[] = [];
          let counted = 0;
          for (let i = 0; i < g.kh; i++) {
            for (let j = 0; j < g.kw; j++) {
              const ih = oh * g.sh - g.padTop + i * g.dh;
              const iw = ow * g.sw - g.padLeft + j * g.dw;
              const real = ih >= 0 && ih < h && iw >= 0 && iw < w;
              if (real) window.push(((b * h + ih) * w + iw) * c + ch);
              if (real || (g.countsPadding && inPadded(ih, iw))) counted++;
            }
          }
          visit(((b * g.outH + oh) * g.outW + ow) * c + ch, window, opts.divisorOverride ?? counted);
        }
      }
    }
  }
  return [n, g.outH, g.outW, c];
}

/** The window's maximum; the first one in scan order on ties; the first NaN where there is one (PyTorch's index points at the last). */
function winner(x: NdArray, window: number[]): number {
  const firstNan = window.find((k) => Number.isNaN(x.data[k]));
  if (firstNan !== undefined) return firstNan;
  let best = window[0];
  for (const k of window) if (x.data[k] > x.data[best]) best = k;
  return best;
}

export function maxPool2dRef(x: NdArray, opts: PoolRefOptions): NdArray {
  const values: number[] = [];
  const shape = eachWindow(x.shape, opts, (o, window) => (values[o] = x.data[winner(x, window)]));
  const y = ndZeros(shape);
  y.data.set(values);
  return y;
}

/** dx: each window's dy added to its winner. */
export function maxPool2dBackwardRef(x: NdArray, dy: NdArray, opts: PoolRefOptions): NdArray {
  const dx = ndZeros(x.shape);
  eachWindow(x.shape, opts, (o, window) => (dx.data[winner(x, window)] += dy.data[o]));
  return dx;
}

/** The sum over the window's real pixels (padding holds zeros) over its divisor (see eachWindow). */
export function avgPool2dRef(x: NdArray, opts: PoolRefOptions): NdArray {
  const values: number[] = [];
  const shape = eachWindow(x.shape, opts, (o, window, divisor) => {
    values[o] = window.reduce((s, k) => s + x.data[k], 0) / divisor;
  });
  const y = ndZeros(shape);
  y.data.set(values);
  return y;
}

export function avgPool2dBackwardRef(xShape: number[], dy: NdArray, opts: PoolRefOptions): NdArray {
  const dx = ndZeros(xShape);
  eachWindow(xShape, opts, (o, window, divisor) => {
    for (const k of window) dx.data[k] += dy.data[o] / divisor;
  });
  return dx;
}

/** [N,H,W,C] -> [N,C]: the mean over H and W. */
export function globalAvgPool2dRef(x: NdArray): NdArray {
  const [n, h, w, c] = x.shape;
  const y = ndZeros([n, c]);
  for (let b = 0; b < n; b++) {
    for (let p = 0; p < h * w; p++) {
      for (let ch = 0; ch < c; ch++) y.data[b * c + ch] += x.data[(b * h * w + p) * c + ch] / (h * w);
    }
  }
  return y;
}

export function globalAvgPool2dBackwardRef(xShape: number[], dy: NdArray): NdArray {
  const [n, h, w, c] = xShape;
  const dx = ndZeros(xShape);
  for (let b = 0; b < n; b++) {
    for (let p = 0; p < h * w; p++) {
      for (let ch = 0; ch < c; ch++) dx.data[(b * h * w + p) * c + ch] = dy.data[b * c + ch] / (h * w);
    }
  }
  return dx;
}

/** max_pool2d's return_indices: each window's winner as h * W + w within its sample's channel plane (PyTorch's). */
export function maxPool2dIndicesRef(x: NdArray, opts: PoolRefOptions): NdArray {
  const [, h, w, c] = x.shape;
  const values: number[] = [];
  const shape = eachWindow(x.shape, opts, (o, window) => {
    const pixel = Math.floor(winner(x, window) / c) % (h * w);
    values[o] = pixel;
  });
  const out = ndZeros(shape);
  out.data.set(values);
  return out;
}

/**
 * For each output element of max_unpool2d ([N, outH, outW, C]), the input element whose value it
 * holds: the last one (in NHWC order) whose index points at it, as PyTorch's CPU loop leaves it;
 * -1 where none does. Indices that are not whole numbers in [0, outH·outW) point nowhere.
 */
function unpoolSources(indices: NdArray, outH: number, outW: number): Int32Array {
  const [n, h, w, c] = indices.shape;
  const src = new Int32Array(n * outH * outW * c).fill(-1);
  for (let i = 0; i < indices.data.length; i++) {
    const k = indices.data[i];
    if (!(Number.isInteger(k) && k >= 0 && k < outH * outW)) continue;
    const b = Math.floor(i / (h * w * c));
    src[(b * outH * outW + k) * c + (i % c)] = i;
  }
  return src;
}

/** max_unpool2d: each input value placed at its index in its sample's channel plane, zeros elsewhere. */
export function maxUnpool2dRef(x: NdArray, indices: NdArray, outH: number, outW: number): NdArray {
  const [n, , , c] = x.shape;
  const y = ndZeros([n, outH, outW, c]);
  unpoolSources(indices, outH, outW).forEach((s, o) => (y.data[o] = s < 0 ? 0 : x.data[s]));
  return y;
}

/** Its gradient: dy at each input's place where that input's value is the one the output holds, 0 for the rest. */
export function maxUnpool2dBackwardRef(indices: NdArray, dy: NdArray, outH: number, outW: number): NdArray {
  const dx = ndZeros(indices.shape);
  unpoolSources(indices, outH, outW).forEach((s, o) => {
    if (s >= 0) dx.data[s] = dy.data[o];
  });
  return dx;
}
