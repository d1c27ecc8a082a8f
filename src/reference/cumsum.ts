// CPU reference (float64) for cumsum: tf.cumsum's running sums along one axis, with its exclusive
// and reverse flags, written as the definition: y[i] sums x[i'] over i' <= i (exclusive: i' < i;
// reverse: i' >= i, or i' > i). Its backward is the same sum with the direction reversed.

import { ndZeros, type NdArray } from './array.js';

export function cumsumRef(x: NdArray, axis: number, exclusive = false, reverse = false): NdArray {
  const y = ndZeros(x.shape);
  const n = x.shape[axis];
  const inner = x.shape.slice(axis + 1).reduce((p, d) => p * d, 1);
  const outer = x.shape.slice(0, axis).reduce((p, d) => p * d, 1);
  for (let o = 0; o < outer; o++) {
    for (let k = 0; k < inner; k++) {
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let j = 0; j < n; j++) {
          const counted = reverse ? (exclusive ? j > i : j >= i) : exclusive ? j < i : j <= i;
          if (counted) s += x.data[(o * n + j) * inner + k];
        }
        y.data[(o * n + i) * inner + k] = s;
      }
    }
  }
  return y;
}
