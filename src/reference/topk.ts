// CPU reference for topk: each row of the last axis sorted by (NaN first, then value descending,
// then index ascending, -0 and +0 equal), its first k taken; the gradient puts each pick's dy back
// at the index it came from.

import { ndZeros, type NdArray } from './array.js';

/** The order topk picks in: a before b. */
function before(a: number, ai: number, b: number, bi: number): boolean {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && (!Number.isNaN(b) || ai < bi);
  return a > b || (a === b && ai < bi);
}

export function topkRef(x: NdArray, k: number): { values: NdArray; indices: NdArray } {
  const c = x.shape[x.shape.length - 1];
  const rows = c === 0 ? 0 : x.data.length / c;
  const shape = [...x.shape.slice(0, -1), k];
  const [values, indices] = [ndZeros(shape), ndZeros(shape)];
  for (let r = 0; r < rows; r++) {
    const order = Array.from({ length: c }, (_, i) => i).sort((i, j) => {
      const [a, b] = [x.data[r * c + i], x.data[r * c + j]];
      return before(a, i, b, j) ? -1 : before(b, j, a, i) ? 1 : 0;
    });
    for (let j = 0; j < k; j++) {
      values.data[r * k + j] = x.data[r * c + order[j]];
      indices.data[r * k + j] = order[j];
    }
  }
  return { values, indices };
}
