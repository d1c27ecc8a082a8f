// CPU references for concat and split (float64): walk every element by its multi-index.

import { ndZeros, type NdArray } from './array.js';

/** Position of flat index i in `shape`, as a multi-index. */
function unflatten(i: number, shape: number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = i % shape[d];
    i = Math.floor(i / shape[d]);
  }
  return idx;
}

function flatten(idx: number[], shape: number[]): number {
  return idx.reduce((flat, v, d) => flat * shape[d] + v, 0);
}

export function concatRef(xs: NdArray[], axis: number): NdArray {
  const rank = xs[0].shape.length;
  const ax = axis < 0 ? axis + rank : axis;
  const shape = [...xs[0].shape];
  shape[ax] = xs.reduce((s, x) => s + x.shape[ax], 0);
  const out = ndZeros(shape);
  let offset = 0;
  for (const x of xs) {
    for (let i = 0; i < x.data.length; i++) {
      const idx = unflatten(i, x.shape);
      idx[ax] += offset;
      out.data[flatten(idx, shape)] = x.data[i];
    }
    offset += x.shape[ax];
  }
  return out;
}

/** Also the backward of concat: the parts of dy. */
export function splitRef(x: NdArray, sizes: number[], axis: number): NdArray[] {
  const ax = axis < 0 ? axis + x.shape.length : axis;
  let offset = 0;
  return sizes.map((size) => {
    const shape = [...x.shape];
    shape[ax] = size;
    const part = ndZeros(shape);
    for (let i = 0; i < part.data.length; i++) {
      const idx = unflatten(i, shape);
      idx[ax] += offset;
      part.data[i] = x.data[flatten(idx, x.shape)];
    }
    offset += size;
    return part;
  });
}

/** The backward of split: the parts' gradients concatenated back (a part without one counts as zeros). */
export function splitBackwardRef(dys: NdArray[], axis: number): NdArray {
  return concatRef(dys, axis);
}
