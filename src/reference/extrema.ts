// CPU references for max, min, argmax and argmin over axes (float64), the specification of
// src/kernels/extrema.ts:
//   - NaN outranks every number: an output is NaN when any element it reduces is NaN;
//   - an output's holders are the elements equal to it (all its NaNs when it is NaN); argmax and
//     argmin give the first holder's index along the axis, the gradient goes to all holders,
//     split evenly (dx = dy / holders), as PyTorch's amax and amin split it.

import { nd, ndZeros, type NdArray } from './array.js';

export type ExtremumKind = 'max' | 'min';

/** v outranks w: NaN beats any number, numbers compare as the kind says. */
function beats(kind: ExtremumKind, v: number, w: number): boolean {
  if (Number.isNaN(v) || Number.isNaN(w)) return Number.isNaN(v) && !Number.isNaN(w);
  return kind === 'max' ? v > w : v < w;
}

function same(v: number, w: number): boolean {
  return v === w || (Number.isNaN(v) && Number.isNaN(w));
}

/** Row-major strides of a shape. */
function strides(shape: number[]): number[] {
  return shape.map((_, i) => shape.slice(i + 1).reduce((p, d) => p * d, 1));
}

/** The flat output index of input element i when `axes` are reduced away. */
function outputIndex(shape: number[], axes: number[], i: number): number {
  const st = strides(shape);
  let o = 0;
  for (let d = 0; d < shape.length; d++) {
    if (!axes.includes(d)) o = o * shape[d] + (Math.floor(i / st[d]) % shape[d]);
  }
  return o;
}

export interface ExtremumRef {
  /** The extremum of each output, axes dropped. */
  value: NdArray;
  /** How many reduced elements hold it. */
  holders: NdArray;
}

/** max or min over `axes` (all when omitted), scanning the input in row-major order. */
export function extremumRef(kind: ExtremumKind, x: NdArray, axes?: number[]): ExtremumRef {
  const ax = axes ?? x.shape.map((_, i) => i);
  const outShape = x.shape.filter((_, i) => !ax.includes(i));
  const value = ndZeros(outShape);
  const holders = ndZeros(outShape);
  for (let i = 0; i < x.data.length; i++) {
    const o = outputIndex(x.shape, ax, i);
    const v = x.data[i];
    if (holders.data[o] === 0 || beats(kind, v, value.data[o])) {
      value.data[o] = v;
      holders.data[o] = 1;
    } else if (same(v, value.data[o])) {
      holders.data[o]++;
    }
  }
  return { value, holders };
}

/** dL/dx of max or min over `axes`, given dL/dy: dy / holders at each holder, 0 elsewhere. */
export function extremumBackwardRef(kind: ExtremumKind, x: NdArray, dy: NdArray, axes?: number[]): NdArray {
  const ax = axes ?? x.shape.map((_, i) => i);
  const { value, holders } = extremumRef(kind, x, ax);
  const dx = ndZeros(x.shape);
  for (let i = 0; i < x.data.length; i++) {
    const o = outputIndex(x.shape, ax, i);
    if (same(x.data[i], value.data[o])) dx.data[i] = dy.data[o] / holders.data[o];
  }
  return dx;
}

/** argmax or argmin along one axis: the first holder's index along it, as a float. */
export function argExtremumRef(kind: ExtremumKind, x: NdArray, axis: number): NdArray {
  const { value } = extremumRef(kind, x, [axis]);
  const index = nd(new Array<number>(value.data.length).fill(-1), value.shape);
  const along = strides(x.shape)[axis];
  for (let i = 0; i < x.data.length; i++) {
    const o = outputIndex(x.shape, [axis], i);
    if (index.data[o] < 0 && same(x.data[i], value.data[o])) index.data[o] = Math.floor(i / along) % x.shape[axis];
  }
  return index;
}
