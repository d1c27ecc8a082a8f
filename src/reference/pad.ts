// CPU reference for pad2d (float64): every output pixel takes the input pixel its row and column
// map to (constant: none outside, which takes the value); the backward sends each output's dy to
// that same input pixel, so it is written from the forward's map, not from the kernel's gather.

import { ndZeros, type NdArray } from './array.js';

export type PadModeRef = 'constant' | 'reflect' | 'replicate';

function source(i: number, n: number, mode: PadModeRef): number {
  if (i >= 0 && i < n) return i;
  if (mode === 'constant') return -1;
  if (mode === 'replicate') return i < 0 ? 0 : n - 1;
  return i < 0 ? -i : 2 * (n - 1) - i;
}

/** Calls f(outIndex, inIndex or −1) for every output element. */
function forEachPair(shape: number[], pads: number[], mode: PadModeRef, f: (o: number, s: number) => void): void {
  const [n, h, w, c] = shape;
  const [top, bottom, left, right] = pads;
  const [oh, ow] = [h + top + bottom, w + left + right];
  for (let b = 0; b < n; b++)
    for (let y = 0; y < oh; y++)
      for (let x = 0; x < ow; x++) {
        const [sy, sx] = [source(y - top, h, mode), source(x - left, w, mode)];
        for (let k = 0; k < c; k++) f(((b * oh + y) * ow + x) * c + k, sy < 0 || sx < 0 ? -1 : ((b * h + sy) * w + sx) * c + k);
      }
}

export function pad2dRef(x: NdArray, pads: number[], mode: PadModeRef, value = 0): NdArray {
  const [n, h, w, c] = x.shape;
  const y = ndZeros([n, h + pads[0] + pads[1], w + pads[2] + pads[3], c]);
  forEachPair(x.shape, pads, mode, (o, s) => (y.data[o] = s < 0 ? value : x.data[s]));
  return y;
}

export function pad2dBackwardRef(xShape: number[], dy: NdArray, pads: number[], mode: PadModeRef): NdArray {
  const dx = ndZeros(xShape);
  forEachPair(xShape, pads, mode, (o, s) => {
    if (s >= 0) dx.data[s] += dy.data[o];
  });
  return dx;
}
