// CPU references (float64) for the 3-D pools and nearest upsampling, from the definitions: x
// [N, D, H, W, C]; with padding [before, after] on each axis (none by default: 'valid'), a pool's
// window at (do, ho, wo) covers planes do·sd − before .. do·sd − before + kd − 1 and the same on H
// and W, out = floor((in + before + after − k) / s) + 1 per axis (TensorFlow's 'same' and PyTorch's
// p are both such pads; the tests work them out). A window's voxels outside the volume are
// padding: never its maximum; in a mean counted in the divisor only with countIncludePad, and then
// only those inside the padding (PyTorch's (min(start + k, in + p) − max(start, −p)) per axis).
// upsample3d copies x[n, z / sd, r / sh, c / sw] (integer division) to every output voxel.

import { ndZeros, type NdArray } from './array.js';

type Pads = readonly (readonly [number, number])[];

const NO_PADS: Pads = [[0, 0], [0, 0], [0, 0]];

/**
 * Calls visit(o, at, counted) for every output element o of a pool over x, in output order, with
 * the flat indices into x of its window's voxels inside the volume, in scan order (depth, rows,
 * columns), and how many of its positions lie inside the padded volume.
 */
function eachWindow(x: NdArray, size: number[], stride: number[], pads: Pads, visit: (o: number, at: number[], counted: number) => void): number[] {
  const [n, d, h, w, c] = x.shape;
  const dims = [d, h, w];
  const out = dims.map((s, i) => Math.floor((s + pads[i][0] + pads[i][1] - size[i]) / stride[i]) + 1);
  const inside = (v: number, i: number) => v >= 0 && v < dims[i];
  const padded = (v: number, i: number) => v >= -pads[i][0] && v < dims[i] + pads[i][1];
  let o = 0;
  for (let b = 0; b < n; b++) {
    for (let z = 0; z < out[0]; z++) {
      for (let r = 0; r < out[1]; r++) {
        for (let q = 0; q < out[2]; q++) {
          for (let ch = 0; ch < c; ch++, o++) {
            const at: number[] = [];
            let counted = 0;
            for (let a = 0; a < size[0]; a++) {
              for (let i = 0; i < size[1]; i++) {
                for (let j = 0; j < size[2]; j++) {
                  const [zz, rr, qq] = [z * stride[0] - pads[0][0] + a, r * stride[1] - pads[1][0] + i, q * stride[2] - pads[2][0] + j];
                  if (padded(zz, 0) && padded(rr, 1) && padded(qq, 2)) counted++;
                  if (inside(zz, 0) && inside(rr, 1) && inside(qq, 2)) at.push((((b * d + zz) * h + rr) * w + qq) * c + ch);
                }
              }
            }
            visit(o, at, counted);
          }
        }
      }
    }
  }
  return [n, ...out, c];
}

function pool3dRef(x: NdArray, size: number[], stride: number[], pads: Pads, mean: boolean, countIncludePad: boolean): NdArray {
  const values: number[] = [];
  const shape = eachWindow(x, size, stride, pads, (_, at, counted) => {
    const v = at.map((i) => x.data[i]);
    values.push(mean ? v.reduce((s, e) => s + e, 0) / (countIncludePad ? counted : v.length) : Math.max(...v));
  });
  const y = ndZeros(shape);
  y.data.set(values);
  return y;
}

/** The max of each window's voxels inside the volume (padding never wins). */
export const maxPool3dRef = (x: NdArray, size: number[], stride: number[], pads: Pads = NO_PADS): NdArray => pool3dRef(x, size, stride, pads, false, false);

/** The mean of each window: its voxels' sum over their count, or with countIncludePad over the positions inside the padded volume. */
export const avgPool3dRef = (x: NdArray, size: number[], stride: number[], pads: Pads = NO_PADS, countIncludePad = false): NdArray =>
  pool3dRef(x, size, stride, pads, true, countIncludePad);

export function upsample3dRef(x: NdArray, scale: number[]): NdArray {
  const [n, d, h, w, c] = x.shape;
  const y = ndZeros([n, d * scale[0], h * scale[1], w * scale[2], c]);
  let o = 0;
  for (let b = 0; b < n; b++) {
    for (let z = 0; z < d * scale[0]; z++) {
      for (let r = 0; r < h * scale[1]; r++) {
        for (let q = 0; q < w * scale[2]; q++) {
          const src = (((b * d + Math.floor(z / scale[0])) * h + Math.floor(r / scale[1])) * w + Math.floor(q / scale[2])) * c;
          for (let ch = 0; ch < c; ch++, o++) y.data[o] = x.data[src + ch];
        }
      }
    }
  }
  return y;
}

/** maxPool3d's gradient: each window's dy to its first maximum in scan order (PyTorch's winner). */
export function maxPool3dBackwardRef(x: NdArray, dy: NdArray, size: number[], stride: number[], pads: Pads = NO_PADS): NdArray {
  const dx = ndZeros(x.shape);
  eachWindow(x, size, stride, pads, (o, at) => {
    const best = at.reduce((win, i) => (x.data[i] > x.data[win] ? i : win), at[0]);
    dx.data[best] += dy.data[o];
  });
  return dx;
}

/**
 * Trilinear upsampling (PyTorch's align_corners=False): each output voxel the weighted mean of
 * the 8 input voxels around src = (o + 0.5) / s − 0.5 on each axis (clamped at 0; the upper
 * neighbour clamped at the last voxel).
 */
export function upsample3dTrilinearRef(x: NdArray, scale: number[]): NdArray {
  const [n, d, h, w, c] = x.shape;
  const sizes = [d, h, w];
  const y = ndZeros([n, d * scale[0], h * scale[1], w * scale[2], c]);
  const axis = (o: number, i: number): [number, number, number] => {
    const src = Math.max((o + 0.5) / scale[i] - 0.5, 0);
    const lo = Math.min(Math.floor(src), sizes[i] - 1);
    return [lo, Math.min(lo + 1, sizes[i] - 1), src - lo];
  };
  let o = 0;
  for (let b = 0; b < n; b++) {
    for (let z = 0; z < d * scale[0]; z++) {
      for (let r = 0; r < h * scale[1]; r++) {
        for (let q = 0; q < w * scale[2]; q++) {
          const [az, ar, aq] = [axis(z, 0), axis(r, 1), axis(q, 2)];
          for (let ch = 0; ch < c; ch++, o++) {
            let v = 0;
            for (const [zi, wz] of [[az[0], 1 - az[2]], [az[1], az[2]]]) {
              for (const [ri, wr] of [[ar[0], 1 - ar[2]], [ar[1], ar[2]]]) {
                for (const [qi, wq] of [[aq[0], 1 - aq[2]], [aq[1], aq[2]]]) {
                  v += wz * wr * wq * x.data[(((b * d + zi) * h + ri) * w + qi) * c + ch];
                }
              }
            }
            y.data[o] = v;
          }
        }
      }
    }
  }
  return y;
}
