// CPU reference for upsample2d (float64, NHWC). Each output pixel reads up to four input pixels with
// weights; the forward sums them and the backward scatters dy back with the same weights.
// Output position dst reads input position dst · r along an axis, with r as PyTorch's interpolate
// (align_corners=False, recompute_scale_factor unset) takes it: 1 / scale when the resize was asked
// by a scale, in / out when by a size. Bilinear with alignCorners (align_corners=True) reads
// dst · (in − 1) / (out − 1) instead, whatever the scale, so the corner pixels' centres meet.

import { ndZeros, type NdArray } from './array.js';

export type UpsampleRefMode = 'nearest' | 'bilinear';

/**
 * Nearest's source index. By a size: floor(dst · in / out), exactly (integer arithmetic). By a
 * scale: PyTorch's floorf(dst · (float)(1 / scale)), the ratio and the product held in float32
 * (Math.fround): a product that is whole in exact arithmetic may round either side of it, and
 * PyTorch's rounding decides which pixel is read.
 */
function nearestSource(dst: number, inSize: number, outSize: number, scale?: number): number {
  // PyTorch's float32 arithmetic in both modes: floor(dst · float32(ratio)), the ratio in / out or 1 / scale.
  const ratio = Math.fround(scale === undefined ? inSize / outSize : 1 / scale);
  const src = Math.floor(Math.fround(dst * ratio));
  return Math.min(src, inSize - 1);
}

/** The input positions output position `dst` reads along one axis, with their weights. */
function axisTaps(dst: number, inSize: number, outSize: number, mode: UpsampleRefMode, scale: number | undefined, alignCorners: boolean): [number, number][] {
  if (mode === 'nearest') return [[nearestSource(dst, inSize, outSize, scale), 1]];
  const ratio = alignCorners ? (outSize > 1 ? (inSize - 1) / (outSize - 1) : 0) : scale === undefined ? inSize / outSize : 1 / scale;
  const src = alignCorners ? dst * ratio : Math.max((dst + 0.5) * ratio - 0.5, 0);
  const i0 = Math.min(Math.floor(src), inSize - 1);
  const i1 = Math.min(i0 + 1, inSize - 1);
  const t = src - i0;
  return [[i0, 1 - t], [i1, t]];
}

/** [sh, sw] from a scale option, or none (the resize was asked by a size). */
export type UpsampleRefScale = number | readonly [number, number] | undefined;

const scalePair = (scale: UpsampleRefScale): [number | undefined, number | undefined] =>
  scale === undefined ? [undefined, undefined] : typeof scale === 'number' ? [scale, scale] : [scale[0], scale[1]];

/** Calls visit(outIndex, inIndex, weight) for every tap of every output element. */
function eachTap(
  xShape: number[],
  outH: number,
  outW: number,
  mode: UpsampleRefMode,
  scale: UpsampleRefScale,
  alignCorners: boolean,
  visit: (o: number, k: number, wt: number) => void,
): void {
  const [n, h, w, c] = xShape;
  const [sh, sw] = scalePair(scale);
  for (let b = 0; b < n; b++) {
    for (let oh = 0; oh < outH; oh++) {
      for (let ow = 0; ow < outW; ow++) {
        for (const [ih, wy] of axisTaps(oh, h, outH, mode, sh, alignCorners)) {
          for (const [iw, wx] of axisTaps(ow, w, outW, mode, sw, alignCorners)) {
            for (let ch = 0; ch < c; ch++) {
              visit(((b * outH + oh) * outW + ow) * c + ch, ((b * h + ih) * w + iw) * c + ch, wy * wx);
            }
          }
        }
      }
    }
  }
}

/** Resizes x to [N, outH, outW, C]; `scale` where the resize was asked by one (it sets the ratio unless alignCorners). */
export function upsample2dRef(x: NdArray, outH: number, outW: number, mode: UpsampleRefMode, scale?: UpsampleRefScale, alignCorners = false): NdArray {
  const [n, , , c] = x.shape;
  const y = ndZeros([n, outH, outW, c]);
  eachTap(x.shape, outH, outW, mode, scale, alignCorners, (o, k, wt) => (y.data[o] += wt * x.data[k]));
  return y;
}

export function upsample2dBackwardRef(xShape: number[], dy: NdArray, mode: UpsampleRefMode, scale?: UpsampleRefScale, alignCorners = false): NdArray {
  const [, outH, outW] = dy.shape;
  const dx = ndZeros(xShape);
  eachTap(xShape, outH, outW, mode, scale, alignCorners, (o, k, wt) => (dx.data[k] += wt * dy.data[o]));
  return dx;
}
