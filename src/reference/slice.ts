// CPU references (float64) for slice, stridedSlice, reverse, tile, gather, stack and unstack.
//
// The first five are gathers: y[c_0, …, c_k] = x[index_0[c_0], …, index_k[c_k]], with one list of
// x indices per axis, written out below the way each op is documented (tf.slice, Python slicing,
// tf.reverse, tf.tile, tf.gather). The backward of a gather is its adjoint: dx[j] = Σ dy[c] over
// every c that reads j (at most one c for a slice or a reverse, one per tile for tile, one per
// time an id is listed for gather).

import { ndZeros, type NdArray } from './array.js';

/** Calls fn with every multi-index of `shape` in row-major order and its flat position. */
function eachIndex(shape: number[], fn: (index: number[], flat: number) => void): void {
  const total = shape.reduce((p, d) => p * d, 1);
  const index = new Array<number>(shape.length).fill(0);
  for (let flat = 0; flat < total; flat++) {
    fn(index, flat);
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++index[d] < shape[d]) break;
      index[d] = 0;
    }
  }
}

const flatOf = (index: number[], shape: number[]): number => index.reduce((flat, v, d) => flat * shape[d] + v, 0);

const count = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i);

/** tf.slice: size[d] indices from begin[d] (negative: from the end), size −1 to the end; missing axes whole. */
export function sliceIndices(shape: number[], begin: number[], size: number[] = []): number[][] {
  return shape.map((n, d) => {
    const raw = begin[d] ?? 0;
    const start = raw < 0 ? raw + n : raw;
    const length = size[d] === undefined || size[d] === -1 ? n - start : size[d];
    return count(start, length);
  });
}

/** Python's x[start:stop:step] on each axis, start and stop clamped as slice.indices(n) does. */
export function stridedSliceIndices(shape: number[], begin: number[], end: number[], strides: number[]): number[][] {
  return shape.map((n, d) => {
    if (d >= begin.length) return count(0, n);
    const step = strides[d];
    let start = begin[d] < 0 ? begin[d] + n : begin[d];
    let stop = end[d] < 0 ? end[d] + n : end[d];
    const list: number[] = [];
    if (step > 0) {
      start = Math.min(Math.max(start, 0), n);
      stop = Math.min(Math.max(stop, 0), n);
      for (let i = start; i < stop; i += step) list.push(i);
    } else {
      start = Math.min(Math.max(start, -1), n - 1);
      stop = Math.min(Math.max(stop, -1), n - 1);
      for (let i = start; i > stop; i += step) list.push(i);
    }
    return list;
  });
}

/** tf.reverse: the listed axes (negative from the end) run backwards. */
export function reverseIndices(shape: number[], axes: number[]): number[][] {
  const flipped = axes.map((a) => (a < 0 ? a + shape.length : a));
  return shape.map((n, d) => (flipped.includes(d) ? count(0, n).reverse() : count(0, n)));
}

/** tf.tile: axis d is 0…n−1 over again, reps[d] times. */
export function tileIndices(shape: number[], reps: number[]): number[][] {
  return shape.map((n, d) => Array.from({ length: n * reps[d] }, (_, i) => i % n));
}

/** tf.gather along `axis` with a list of ids (whole numbers in range): that axis is the list, the others whole. */
export function indexGatherIndices(shape: number[], ids: number[], axis: number): number[][] {
  return shape.map((n, d) => (d === axis ? ids.slice() : count(0, n)));
}

export function gatherRef(x: NdArray, index: number[][]): NdArray {
  const y = ndZeros(index.map((list) => list.length));
  eachIndex(y.shape, (c, flat) => {
    y.data[flat] = x.data[flatOf(c.map((v, d) => index[d][v]), x.shape)];
  });
  return y;
}

/** The adjoint of gatherRef: every dy element added to the x element it was read from. */
export function gatherBackwardRef(dy: NdArray, xShape: number[], index: number[][]): NdArray {
  const dx = ndZeros(xShape);
  eachIndex(dy.shape, (c, flat) => {
    dx.data[flatOf(c.map((v, d) => index[d][v]), xShape)] += dy.data[flat];
  });
  return dx;
}

/** tf.stack: y[…, k, …] (k at `axis` of the result) = xs[k][…]. */
export function stackRef(xs: NdArray[], axis: number): NdArray {
  const shape = [...xs[0].shape];
  const ax = axis < 0 ? axis + shape.length + 1 : axis;
  shape.splice(ax, 0, xs.length);
  const y = ndZeros(shape);
  eachIndex(shape, (c, flat) => {
    const inner = c.filter((_, d) => d !== ax);
    y.data[flat] = xs[c[ax]].data[flatOf(inner, xs[0].shape)];
  });
  return y;
}

/** tf.unstack: the slices of x along `axis`, that axis removed. Also stack's backward. */
export function unstackRef(x: NdArray, axis: number): NdArray[] {
  const ax = axis < 0 ? axis + x.shape.length : axis;
  const shape = x.shape.filter((_, d) => d !== ax);
  return count(0, x.shape[ax]).map((k) => {
    const part = ndZeros(shape);
    eachIndex(shape, (c, flat) => {
      const full = [...c.slice(0, ax), k, ...c.slice(ax)];
      part.data[flat] = x.data[flatOf(full, x.shape)];
    });
    return part;
  });
}
