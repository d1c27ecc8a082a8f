// CPU reference for transpose (float64): y[c_0, …, c_{r−1}] = x at the coordinates where axis
// perm[d] takes c_d.

import { ndZeros, type NdArray } from './array.js';

export function transposeRef(x: NdArray, perm: number[]): NdArray {
  const shape = perm.map((a) => x.shape[a]);
  const y = ndZeros(shape);
  const coords = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < y.data.length; i++) {
    let rest = i;
    for (let d = shape.length - 1; d >= 0; d--) {
      coords[d] = rest % shape[d];
      rest = Math.floor(rest / shape[d]);
    }
    const src = new Array<number>(x.shape.length);
    perm.forEach((a, d) => (src[a] = coords[d]));
    y.data[i] = src.reduce((at, c, k) => at * x.shape[k] + c, 0);
  }
  y.data.forEach((at, i) => (y.data[i] = x.data[at]));
  return y;
}
