// CPU reference for upsample2d (float64, NHWC). Each output pixel reads up to four input pixels with
// weights; the forward sums them and the backward scatters dy back with the same weights.

import { ndZeros, type NdArray } from './array.js';

export type UpsampleRefMode = 'nearest' | 'bilinear';

/** The input positions output position `dst` reads along one axis, with their weights. */
function axisTaps(dst: number, inSize: number, outSize: number, mode: UpsampleRefMode): [number, number][] {
  if (mode === 'nearest') return [[Math.min(Math.floor((dst * inSize) / outSize), inSize - 1), 1]];
  const src = Math.max((dst + 0.5) * (inSize / outSize) - 0.5, 0);
  const i0 = Math.min(Math.floor(src), inSize - 1);
  const i1 = Math.min(i0 + 1, inSize - 1);
  const t = src - i0;
  return [[i0, 1 - t], [i1, t]];
}

/** Calls visit(outIndex, inIndex, weight) for every tap of every output element. */
function eachTap(xShape: number[], outH: number, outW: number, mode: UpsampleRefMode, visit: (o: number, k: number, wt: number) => void): void {
  const [n, h, w, c] = xShape;
  for (let b = 0; b < n; b++) {
    for (let oh = 0; oh < outH; oh++) {
      for (let ow = 0; ow < outW; ow++) {
        for (const [ih, wy] of axisTaps(oh, h, outH, mode)) {
          for (const [iw, wx] of axisTaps(ow, w, outW, mode)) {
            for (let ch = 0; ch < c; ch++) {
              visit(((b * outH + oh) * outW + ow) * c + ch, ((b * h + ih) * w + iw) * c + ch, wy * wx);
            }
          }
        }
      }
    }
  }
}

export function upsample2dRef(x: NdArray, outH: number, outW: number, mode: UpsampleRefMode): NdArray {
  const [n, , , c] = x.shape;
  const y = ndZeros([n, outH, outW, c]);
  eachTap(x.shape, outH, outW, mode, (o, k, wt) => (y.data[o] += wt * x.data[k]));
  return y;
}

export function upsample2dBackwardRef(xShape: number[], dy: NdArray, mode: UpsampleRefMode): NdArray {
  const [, outH, outW] = dy.shape;
  const dx = ndZeros(xShape);
  eachTap(xShape, outH, outW, mode, (o, k, wt) => (dx.data[k] += wt * dy.data[o]));
  return dx;
}
