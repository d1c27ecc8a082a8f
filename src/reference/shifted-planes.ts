// CPU reference (float64) for addShiftedPlanes (src/kernels/shifted-planes.ts): a volume's planes
// added, shifted along depth, to a running sum. y [N, Din, ...], sum and out [N, Dout, ...]:
//
//   out[n, p] = sum[n, p] + y[n, p + shift]   where 0 <= p + shift < Din, else sum[n, p]
//
// (no sum: zeros in its place). The backward: dSum = dOut, and dY[n, q] = dOut[n, q − shift] where
// 0 <= q − shift < Dout, else 0: the same shift read the other way.

import { ndZeros, type NdArray } from './array.js';

export function addShiftedPlanesRef(sum: NdArray | null, y: NdArray, shift: number, depth: number): NdArray {
  const [n, depthIn, ...rest] = y.shape;
  const plane = rest.reduce((p, d) => p * d, 1);
  const out = ndZeros([n, depth, ...rest]);
  for (let b = 0; b < n; b++)
    for (let p = 0; p < depth; p++) {
      const q = p + shift;
      for (let e = 0; e < plane; e++) {
        const o = (b * depth + p) * plane + e;
        const fromY = q >= 0 && q < depthIn ? y.data[(b * depthIn + q) * plane + e] : 0;
        out.data[o] = (sum ? sum.data[o] : 0) + fromY;
      }
    }
  return out;
}

/** The gradients of sum and y from dOut [N, Dout, ...], for y of `depthIn` planes. */
export function addShiftedPlanesBackwardRef(dOut: NdArray, shift: number, depthIn: number): { dSum: NdArray; dY: NdArray } {
  const [n, depth, ...rest] = dOut.shape;
  const plane = rest.reduce((p, d) => p * d, 1);
  const dY = ndZeros([n, depthIn, ...rest]);
  for (let b = 0; b < n; b++)
    for (let q = 0; q < depthIn; q++) {
      const p = q - shift;
      if (p < 0 || p >= depth) continue;
      for (let e = 0; e < plane; e++) dY.data[(b * depthIn + q) * plane + e] = dOut.data[(b * depth + p) * plane + e];
    }
  return { dSum: { data: Float64Array.from(dOut.data), shape: [...dOut.shape] }, dY };
}
