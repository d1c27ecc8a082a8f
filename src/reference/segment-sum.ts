// CPU reference (float64) for unsortedSegmentSum: y[j, k] = Σ x[c, k] over every c whose id is j,
// x viewed as [L, inner] with its first `idRank` axes (the ids' shape, L of them) flattened; ids
// outside [0, numSegments) add nowhere. Its gradient gathers dy's row by each id (zero for an id
// that adds nowhere).

import { ndZeros, type NdArray } from './array.js';

const size = (shape: number[]): number => shape.reduce((p, d) => p * d, 1);

export function unsortedSegmentSumRef(x: NdArray, ids: readonly number[], idRank: number, numSegments: number): NdArray {
  const rest = x.shape.slice(idRank);
  const inner = size(rest);
  const y = ndZeros([numSegments, ...rest]);
  ids.forEach((id, c) => {
    if (id < 0 || id >= numSegments) return;
    for (let k = 0; k < inner; k++) y.data[id * inner + k] += x.data[c * inner + k];
  });
  return y;
}

export function unsortedSegmentSumBackwardRef(dy: NdArray, ids: readonly number[], xShape: number[]): NdArray {
  const dx = ndZeros(xShape);
  const inner = size(dy.shape.slice(1));
  ids.forEach((id, c) => {
    if (id < 0 || id >= dy.shape[0]) return;
    for (let k = 0; k < inner; k++) dx.data[c * inner + k] = dy.data[id * inner + k];
  });
  return dx;
}
