// CPU references for conv1d, conv3d and convTranspose3d (float64), written from the definitions; conv3d:
//   y[n, do, ho, wo, co] = b[co] + Σ x[n, do·sd − front + a, ho·sh − top + i, wo·sw − left + j, ci] · w[a, i, j, ci, co]
// x [N, D, H, W, Cin], w [kd, kh, kw, Cin, Cout]; x is zero outside the volume. Padding as explicit
// [before, after] per axis (the tests work out 'same' themselves, as TensorFlow documents it).

import { ndZeros, type NdArray } from './array.js';

export function conv3dRef(x: NdArray, w: NdArray, b: NdArray | null, strides: number[], pads: [number, number][]): NdArray {
  const [n, dIn, hIn, wIn, cin] = x.shape;
  const [kd, kh, kw, , cout] = w.shape;
  const sizes = [dIn, hIn, wIn];
  const out = sizes.map((s, i) => Math.floor((s + pads[i][0] + pads[i][1] - [kd, kh, kw][i]) / strides[i]) + 1);
  const y = ndZeros([n, ...out, cout]);
  const xAt = (b0: number, z: number, r: number, c: number, ci: number) => x.data[(((b0 * dIn + z) * hIn + r) * wIn + c) * cin + ci];
  let o = 0;
  for (let b0 = 0; b0 < n; b0++) {
    for (let od = 0; od < out[0]; od++) {
      for (let oh = 0; oh < out[1]; oh++) {
        for (let ow = 0; ow < out[2]; ow++) {
          for (let co = 0; co < cout; co++, o++) {
            let s = b ? b.data[co] : 0;
            for (let a = 0; a < kd; a++) {
              const z = od * strides[0] - pads[0][0] + a;
              if (z < 0 || z >= dIn) continue;
              for (let i = 0; i < kh; i++) {
                const r = oh * strides[1] - pads[1][0] + i;
                if (r < 0 || r >= hIn) continue;
                for (let j = 0; j < kw; j++) {
                  const c = ow * strides[2] - pads[2][0] + j;
                  if (c < 0 || c >= wIn) continue;
                  for (let ci = 0; ci < cin; ci++) s += xAt(b0, z, r, c, ci) * w.data[(((a * kh + i) * kw + j) * cin + ci) * cout + co];
                }
              }
            }
            y.data[o] = s;
          }
        }
      }
    }
  }
  return y;
}

/**
 * convTranspose3d's reference (Keras's Conv3DTranspose): every input voxel scatters
 * x[n, z, r, q, ci] · w[a, i, j, co, ci] to y[n, z·sd + a − front, r·sh + i − top, q·sw + j − left,
 * co], plus b[co], dropping what lands outside y. `crop` gives [front, top, left] and y's sizes
 * [Dy, Hy, Wy]; without it, 'valid': nothing cropped, each side in·s + max(k − s, 0). (The tests work
 * out 'same' and PyTorch's p: Keras's in·s cropping floor(max(k − s, 0) / 2) before, and
 * (in − 1)·s + k − 2p cropping p.)
 */
export function convTranspose3dRef(x: NdArray, w: NdArray, b: NdArray | null, strides: number[], crop?: { front: number[]; out: number[] }): NdArray {
  const [n, dIn, hIn, wIn, cin] = x.shape;
  const [kd, kh, kw, cout] = w.shape;
  const k = [kd, kh, kw];
  const out = crop?.out ?? [dIn, hIn, wIn].map((s, i) => s * strides[i] + Math.max(k[i] - strides[i], 0));
  const front = crop?.front ?? [0, 0, 0];
  const y = ndZeros([n, ...out, cout]);
  const inside = (v: number, i: number) => v >= 0 && v < out[i];
  const yAt = (b0: number, z: number, r: number, q: number) => (((b0 * out[0] + z) * out[1] + r) * out[2] + q) * cout;
  for (let b0 = 0; b0 < n; b0++) {
    for (let z = 0; z < dIn; z++) {
      for (let r = 0; r < hIn; r++) {
        for (let q = 0; q < wIn; q++) {
          const xs = (((b0 * dIn + z) * hIn + r) * wIn + q) * cin;
          for (let a = 0; a < kd; a++) {
            for (let i = 0; i < kh; i++) {
              for (let j = 0; j < kw; j++) {
                const [yz, yr, yq] = [z * strides[0] + a - front[0], r * strides[1] + i - front[1], q * strides[2] + j - front[2]];
                if (!inside(yz, 0) || !inside(yr, 1) || !inside(yq, 2)) continue;
                const base = yAt(b0, yz, yr, yq);
                for (let co = 0; co < cout; co++) {
                  for (let ci = 0; ci < cin; ci++) y.data[base + co] += x.data[xs + ci] * w.data[(((a * kh + i) * kw + j) * cout + co) * cin + ci];
                }
              }
            }
          }
        }
      }
    }
  }
  if (b) for (let o = 0; o < y.data.length; o++) y.data[o] += b.data[o % cout];
  return y;
}

/**
 * conv1d's reference: y[n, o, co] = b[co] + Σ x[n, o·s − left + j·d, ci] · w[j, ci, co], x zero
 * outside [0, L), with explicit [left, right] padding.
 */
export function conv1dRef(x: NdArray, w: NdArray, b: NdArray | null, stride: number, pad: [number, number], dilation = 1): NdArray {
  const [n, l, cin] = x.shape;
  const [k, , cout] = w.shape;
  const lo = Math.floor((l + pad[0] + pad[1] - (k - 1) * dilation - 1) / stride) + 1;
  const y = ndZeros([n, lo, cout]);
  for (let b0 = 0; b0 < n; b0++) {
    for (let o = 0; o < lo; o++) {
      for (let co = 0; co < cout; co++) {
        let s = b ? b.data[co] : 0;
        for (let j = 0; j < k; j++) {
          const p = o * stride - pad[0] + j * dilation;
          if (p < 0 || p >= l) continue;
          for (let ci = 0; ci < cin; ci++) s += x.data[(b0 * l + p) * cin + ci] * w.data[(j * cin + ci) * cout + co];
        }
        y.data[(b0 * lo + o) * cout + co] = s;
      }
    }
  }
  return y;
}
