// CPU references (float64) for the 3-D pools and nearest upsampling, from the definitions: x
// [N, D, H, W, C]; a pool's window at (do, ho, wo) covers planes do·sd .. do·sd + kd − 1 and the
// same on H and W ('valid'), taking their maximum or mean; upsample3d copies x[n, z / sd, r / sh,
// c / sw] (integer division) to every output voxel.

import { ndZeros, type NdArray } from './array.js';

/**
 * Calls visit(o, at) for every output element o of a 'valid' pool over x, in output order, with
 * the flat indices into x of its window, in scan order (depth, rows, columns).
 */
function eachWindow(x: NdArray, size: number[], stride: number[], visit: (o: number, at: number[]) => void): number[] {
  const [n, d, h, w, c] = x.shape;
  const out = [d, h, w].map((s, i) => Math.floor((s - size[i]) / stride[i]) + 1);
  let o = 0;
  for (let b = 0; b < n; b++) {
    for (let z = 0; z < out[0]; z++) {
      for (let r = 0; r < out[1]; r++) {
        for (let q = 0; q < out[2]; q++) {
          for (let ch = 0; ch < c; ch++, o++) {
            const at: number[] = [];
            for (let a = 0; a < size[0]; a++) {
              for (let i = 0; i < size[1]; i++) {
                for (let j = 0; j < size[2]; j++) at.push((((b * d + z * stride[0] + a) * h + r * stride[1] + i) * w + q * stride[2] + j) * c + ch);
              }
            }
            visit(o, at);
          }
        }
      }
    }
  }
  return [n, ...out, c];
}

function pool3dRef(x: NdArray, size: number[], stride: number[], mean: boolean): NdArray {
  const values: number[] = [];
  const shape = eachWindow(x, size, stride, (_, at) => {
    const v = at.map((i) => x.data[i]);
    values.push(mean ? v.reduce((s, e) => s + e, 0) / v.length : Math.max(...v));
  });
  const y = ndZeros(shape);
  y.data.set(values);
  return y;
}

export const maxPool3dRef = (x: NdArray, size: number[], stride: number[]): NdArray => pool3dRef(x, size, stride, false);
export const avgPool3dRef = (x: NdArray, size: number[], stride: number[]): NdArray => pool3dRef(x, size, stride, true);

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
export function maxPool3dBackwardRef(x: NdArray, dy: NdArray, size: number[], stride: number[]): NdArray {
  const dx = ndZeros(x.shape);
  eachWindow(x, size, stride, (o, at) => {
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
