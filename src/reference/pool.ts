// CPU references for pooling (float64, NHWC): the windows written out as loops, the backward as the
// scatter that the GPU's gather must agree with.

import { ndZeros, type NdArray } from './array.js';

export interface PoolRefOptions {
  size: number | readonly [number, number];
  stride?: number | readonly [number, number];
  padding?: 'valid' | 'same';
}

interface Windows {
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  padTop: number;
  padLeft: number;
  outH: number;
  outW: number;
}

/** Output size and padding: 'valid' keeps whole windows; 'same' is TF's (out = ceil(in / stride)). */
function windows(h: number, w: number, opts: PoolRefOptions): Windows {
  const [kh, kw] = typeof opts.size === 'number' ? [opts.size, opts.size] : opts.size;
  const stride = opts.stride ?? [kh, kw];
  const [sh, sw] = typeof stride === 'number' ? [stride, stride] : stride;
  if ((opts.padding ?? 'valid') === 'valid') {
    return { kh, kw, sh, sw, padTop: 0, padLeft: 0, outH: Math.floor((h - kh) / sh) + 1, outW: Math.floor((w - kw) / sw) + 1 };
  }
  const outH = Math.ceil(h / sh);
  const outW = Math.ceil(w / sw);
  const padTop = Math.floor(Math.max(0, (outH - 1) * sh + kh - h) / 2);
  const padLeft = Math.floor(Math.max(0, (outW - 1) * sw + kw - w) / 2);
  return { kh, kw, sh, sw, padTop, padLeft, outH, outW };
}

/** Calls visit(outIndex, inIndices) for every output element and the real input pixels of its window. */
function eachWindow(shape: number[], opts: PoolRefOptions, visit: (o: number, window: number[]) => void): number[] {
  const [n, h, w, c] = shape;
  const g = windows(h, w, opts);
  for (let b = 0; b < n; b++) {
    for (let oh = 0; oh < g.outH; oh++) {
      for (let ow = 0; ow < g.outW; ow++) {
        for (let ch = 0; ch < c; ch++) {
          const window: number[] = [];
          for (let i = 0; i < g.kh; i++) {
            for (let j = 0; j < g.kw; j++) {
              const ih = oh * g.sh - g.padTop + i;
              const iw = ow * g.sw - g.padLeft + j;
              if (ih >= 0 && ih < h && iw >= 0 && iw < w) window.push(((b * h + ih) * w + iw) * c + ch);
            }
          }
          visit(((b * g.outH + oh) * g.outW + ow) * c + ch, window);
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

/** Mean over the window's real pixels (padding is not counted). */
export function avgPool2dRef(x: NdArray, opts: PoolRefOptions): NdArray {
  const values: number[] = [];
  const shape = eachWindow(x.shape, opts, (o, window) => {
    values[o] = window.reduce((s, k) => s + x.data[k], 0) / window.length;
  });
  const y = ndZeros(shape);
  y.data.set(values);
  return y;
}

export function avgPool2dBackwardRef(xShape: number[], dy: NdArray, opts: PoolRefOptions): NdArray {
  const dx = ndZeros(xShape);
  eachWindow(xShape, opts, (o, window) => {
    for (const k of window) dx.data[k] += dy.data[o] / window.length;
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
