// CPU references for the multi-class ops in src/kernels/softmax.ts (float64 loops, the
// specification). Every op works over the last axis: C = shape[rank - 1], and each of the
// size / C rows is one pixel's channels (NHWC) or one sample's classes ([N, C]).

import { nd, ndZeros, type NdArray } from './array.js';

export type Reduction = 'mean' | 'sum' | 'none';

function rowsOf(x: NdArray): { rows: number; c: number } {
  const c = x.shape[x.shape.length - 1];
  return { rows: x.data.length / c, c };
}

/** m + log sum_c exp(x_c - m) for the row at `base`, with m the row's max (no exp overflows). */
function logSumExp(x: Float64Array, base: number, c: number): number {
  let m = -Infinity;
  for (let k = 0; k < c; k++) m = Math.max(m, x[base + k]);
  let s = 0;
  for (let k = 0; k < c; k++) s += Math.exp(x[base + k] - m);
  return m + Math.log(s);
}

// ---------------------------------------------------------------------------------------------
// softmax: y = exp(x - lse); dx = y * (dy - sum_c dy_c y_c)

export function softmaxRef(x: NdArray): NdArray {
  const { rows, c } = rowsOf(x);
  const y = ndZeros(x.shape);
  for (let r = 0; r < rows; r++) {
    const lse = logSumExp(x.data, r * c, c);
    for (let k = 0; k < c; k++) y.data[r * c + k] = Math.exp(x.data[r * c + k] - lse);
  }
  return y;
}

export function softmaxBackwardRef(x: NdArray, dy: NdArray): NdArray {
  const { rows, c } = rowsOf(x);
  const y = softmaxRef(x);
  const dx = ndZeros(x.shape);
  for (let r = 0; r < rows; r++) {
    let dot = 0;
    for (let k = 0; k < c; k++) dot += dy.data[r * c + k] * y.data[r * c + k];
    for (let k = 0; k < c; k++) dx.data[r * c + k] = y.data[r * c + k] * (dy.data[r * c + k] - dot);
  }
  return dx;
}

// ---------------------------------------------------------------------------------------------
// logSoftmax: y = x - lse; dx = dy - exp(y) * sum_c dy_c

export function logSoftmaxRef(x: NdArray): NdArray {
  const { rows, c } = rowsOf(x);
  const y = ndZeros(x.shape);
  for (let r = 0; r < rows; r++) {
    const lse = logSumExp(x.data, r * c, c);
    for (let k = 0; k < c; k++) y.data[r * c + k] = x.data[r * c + k] - lse;
  }
  return y;
}

export function logSoftmaxBackwardRef(x: NdArray, dy: NdArray): NdArray {
  const { rows, c } = rowsOf(x);
  const y = logSoftmaxRef(x);
  const dx = ndZeros(x.shape);
  for (let r = 0; r < rows; r++) {
    let total = 0;
    for (let k = 0; k < c; k++) total += dy.data[r * c + k];
    for (let k = 0; k < c; k++) dx.data[r * c + k] = dy.data[r * c + k] - Math.exp(y.data[r * c + k]) * total;
  }
  return dx;
}

// ---------------------------------------------------------------------------------------------
// Categorical cross-entropy from logits z against targets y (one-hot or soft), with label
// smoothing e: t = y (1 - e) + e / C, l_row = sum_c t_c (lse - z_c).
// dl_row/dz_c = softmax(z)_c * sum_k t_k - t_c (sum_k t_k is 1 for proper distributions).

export interface CrossEntropyRefOptions {
  reduction?: Reduction;
  labelSmoothing?: number;
}

function smoothed(y: number, c: number, e: number): number {
  return y * (1 - e) + e / c;
}

/** The loss: [] for 'mean' (over rows) and 'sum', z.shape without its last axis for 'none'. */
export function softmaxCrossEntropyRef(z: NdArray, y: NdArray, o: CrossEntropyRefOptions = {}): NdArray {
  const { reduction = 'mean', labelSmoothing = 0 } = o;
  const { rows, c } = rowsOf(z);
  const perRow = ndZeros(z.shape.slice(0, -1));
  for (let r = 0; r < rows; r++) {
    const lse = logSumExp(z.data, r * c, c);
    let l = 0;
    for (let k = 0; k < c; k++) {
      // A class of target 0 adds 0, also where z = -inf masks it (0 * inf is NaN).
      const t = smoothed(y.data[r * c + k], c, labelSmoothing);
      if (t !== 0) l += t * (lse - z.data[r * c + k]);
    }
    perRow.data[r] = l;
  }
  if (reduction === 'none') return perRow;
  const total = perRow.data.reduce((a, b) => a + b, 0);
  return nd([reduction === 'mean' ? total / rows : total], []);
}

/** dL/dz for upstream dy: one value for 'mean' and 'sum', one per row for 'none'. */
export function softmaxCrossEntropyBackwardRef(z: NdArray, y: NdArray, dy: NdArray, o: CrossEntropyRefOptions = {}): NdArray {
  const { reduction = 'mean', labelSmoothing = 0 } = o;
  const { rows, c } = rowsOf(z);
  const p = softmaxRef(z);
  const dz = ndZeros(z.shape);
  for (let r = 0; r < rows; r++) {
    const up = reduction === 'none' ? dy.data[r] : reduction === 'mean' ? dy.data[0] / rows : dy.data[0];
    let tsum = 0;
    for (let k = 0; k < c; k++) tsum += smoothed(y.data[r * c + k], c, labelSmoothing);
    for (let k = 0; k < c; k++) {
      const i = r * c + k;
      dz.data[i] = up * (p.data[i] * tsum - smoothed(y.data[i], c, labelSmoothing));
    }
  }
  return dz;
}

/** dL/dy for upstream dy: (1 - e) (lse - z_c) times the row's upstream (the loss is linear in y). */
export function softmaxCrossEntropyTargetBackwardRef(z: NdArray, y: NdArray, dy: NdArray, o: CrossEntropyRefOptions = {}): NdArray {
  const { reduction = 'mean', labelSmoothing = 0 } = o;
  const { rows, c } = rowsOf(z);
  const dt = ndZeros(y.shape);
  for (let r = 0; r < rows; r++) {
    const up = reduction === 'none' ? dy.data[r] : reduction === 'mean' ? dy.data[0] / rows : dy.data[0];
    const lse = logSumExp(z.data, r * c, c);
    for (let k = 0; k < c; k++) dt.data[r * c + k] = up * (1 - labelSmoothing) * (lse - z.data[r * c + k]);
  }
  return dt;
}

// ---------------------------------------------------------------------------------------------
// oneHot: labels [...] or [..., 1] -> [..., classes]. A label rounds to the nearest integer
// (halves up); one that then falls outside [0, classes), or is NaN or infinite, gives a row of zeros.

export function oneHotRef(labels: NdArray, classes: number): NdArray {
  const lead = labels.shape.at(-1) === 1 ? labels.shape.slice(0, -1) : labels.shape;
  const out = ndZeros([...lead, classes]);
  labels.data.forEach((v, r) => {
    const k = Math.floor(v + 0.5);
    if (k >= 0 && k < classes) out.data[r * classes + k] = 1;
  });
  return out;
}
