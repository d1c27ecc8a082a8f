// CPU reference for sort, and for quantile, read from it: each row along one axis put in order by
// value (ascending: the numbers as floats order them, -0 and +0 equal, NaN after all of them;
// descending: the reverse, NaN first), equal values keeping their index order (a stable sort,
// torch.sort's stable=True); the gradient puts each place's dy back at the index its value came
// from.

import { ndZeros, type NdArray } from './array.js';

/** Ascending order: NaN after every number, -0 equal to +0 (a === b). */
function ascending(a: number, b: number): number {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number(Number.isNaN(a)) - Number(Number.isNaN(b));
  return a === b ? 0 : a < b ? -1 : 1;
}

export function sortRef(x: NdArray, axis: number, descending = false): { values: NdArray; indices: NdArray } {
  const n = x.shape[axis];
  const inner = x.shape.slice(axis + 1).reduce((p, d) => p * d, 1);
  const outer = x.shape.slice(0, axis).reduce((p, d) => p * d, 1);
  const [values, indices] = [ndZeros(x.shape), ndZeros(x.shape)];
  for (let o = 0; o < outer; o++) {
    for (let k = 0; k < inner; k++) {
      const at = (i: number) => (o * n + i) * inner + k;
      // Array.prototype.sort is stable: equal values stay in index order.
      const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => (descending ? -1 : 1) * ascending(x.data[at(i)], x.data[at(j)]));
      order.forEach((src, place) => {
        values.data[at(place)] = x.data[at(src)];
        indices.data[at(place)] = src;
      });
    }
  }
  return { values, indices };
}

/** sort's gradient: dx at each value's index gets dy at the place it was sorted to. */
export function sortBackwardRef(dy: NdArray, indices: NdArray, axis: number): NdArray {
  const dx = ndZeros(dy.shape);
  const n = dy.shape[axis];
  const inner = dy.shape.slice(axis + 1).reduce((p, d) => p * d, 1);
  for (let e = 0; e < dy.data.length; e++) {
    const k = e % inner;
    const o = Math.floor(e / (n * inner));
    dx.data[(o * n + indices.data[e]) * inner + k] = dy.data[e];
  }
  return dx;
}

/**
 * quantile's reference ('linear', torch.quantile's and NumPy's default): each q at place q·(n − 1)
 * of the row sorted ascending, between its two neighbours by the fraction; NaN for a row holding
 * NaN. Along `axis`, the result with that axis replaced by the q's (size 1 for each).
 */
export function quantileRef(x: NdArray, qs: readonly number[], axis: number): NdArray {
  const { values } = sortRef(x, axis);
  const n = x.shape[axis];
  const inner = x.shape.slice(axis + 1).reduce((p, d) => p * d, 1);
  const outer = x.shape.slice(0, axis).reduce((p, d) => p * d, 1);
  const y = ndZeros(x.shape.map((d, i) => (i === axis ? qs.length : d)));
  for (let o = 0; o < outer; o++) {
    for (let k = 0; k < inner; k++) {
      const at = (i: number) => values.data[(o * n + i) * inner + k];
      qs.forEach((q, j) => {
        const place = q * (n - 1);
        const lo = Math.floor(place);
        const f = place - lo;
        const v = f === 0 ? at(lo) : at(lo) + (at(lo + 1) - at(lo)) * f;
        y.data[(o * qs.length + j) * inner + k] = Number.isNaN(at(n - 1)) ? NaN : v;
      });
    }
  }
  return y;
}
