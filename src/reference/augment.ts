// CPU references for the augmentation kernels (float64), written as the specification:
//   - flips reverse W (horizontal) and/or H (vertical) per sample;
//   - sampling at a real-valued point follows scipy.ndimage's map_coordinates/affine_transform with
//     order 1 (bilinear) or 0 (nearest, rounding half up), the image extended beyond its edges by
//     the fill mode: 'reflect' = half-sample symmetric (d c b a | a b c d | d c b a), 'nearest' =
//     edge repeated, 'constant' = cval for any point outside [0, H-1] x [0, W-1];
//   - Keras' ImageDataGenerator builds its matrix as R(theta) . T(tx, ty) . Z(zx, zy), conjugated by
//     a shift to the image centre ((h-1)/2, (w-1)/2), and reads input = M . (row, col, 1);
//   - scipy.ndimage.gaussian_filter smooths along axis 0 then axis 1 with weights exp(-x^2/2s^2) on
//     [-r, r], r = int(4s + 0.5), normalised, lines extended half-sample symmetrically (mode
//     'reflect'); torchvision's gaussian_blur uses size int(8s + 1) made odd and extends lines
//     whole-sample symmetrically (torch 'reflect': d c b | a b c d | c b a);
//   - elastic: displacement (rows, cols) = smoothed noise times alpha ('scipy'), or, as torchvision,
//     times alpha/size in normalised grid units converted to pixels: rows alpha*H/(2W), columns
//     alpha*W/(2H) (torchvision scales its x field by alpha/H and its y field by alpha/W).

import { ndZeros, type NdArray } from './array.js';

export type FillModeRef = 'reflect' | 'nearest' | 'constant';

export interface SampleRefOptions {
  fillMode: FillModeRef;
  interpolation: 'bilinear' | 'nearest';
  threshold: boolean;
  cval: number;
}

/** Half-sample symmetric index: ... b a | a b c d | d c ... (scipy 'reflect'). */
export function reflectIndex(i: number, n: number): number {
  const period = 2 * n;
  const m = ((i % period) + period) % period;
  return m < n ? m : period - 1 - m;
}

/** Whole-sample symmetric index: ... c b | a b c d | c b ... (torch 'reflect', scipy 'mirror'). */
export function mirrorIndex(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * n - 2;
  const m = ((i % period) + period) % period;
  return m < n ? m : period - m;
}

export function flipRef(x: NdArray, horizontal: boolean[], vertical: boolean[]): NdArray {
  const [n, h, w, c] = x.shape;
  const out = ndZeros(x.shape);
  for (let b = 0; b < n; b++)
    for (let r = 0; r < h; r++)
      for (let col = 0; col < w; col++)
        for (let ch = 0; ch < c; ch++) {
          const sr = vertical[b] ? h - 1 - r : r;
          const sc = horizontal[b] ? w - 1 - col : col;
          out.data[((b * h + r) * w + col) * c + ch] = x.data[((b * h + sr) * w + sc) * c + ch];
        }
  return out;
}

/** The channels of sample b of x [N, H, W, C] at the point (y, xc). */
export function sampleRef(x: NdArray, b: number, y: number, xc: number, o: SampleRefOptions): number[] {
  const [, h, w, c] = x.shape;
  const finish = (v: number): number => (o.threshold ? (v > 0.5 ? 1 : 0) : v);
  if (o.fillMode === 'constant' && (y < 0 || y > h - 1 || xc < 0 || xc > w - 1)) return Array(c).fill(finish(o.cval));
  const index = (i: number, len: number): number =>
    o.fillMode === 'nearest' ? Math.min(Math.max(i, 0), len - 1) : reflectIndex(i, len);
  const at = (r: number, col: number, ch: number): number =>
    x.data[((b * h + index(r, h)) * w + index(col, w)) * c + ch];
  const values: number[] = [];
  for (let ch = 0; ch < c; ch++) {
    if (o.interpolation === 'nearest') {
      values.push(finish(at(Math.floor(y + 0.5), Math.floor(xc + 0.5), ch)));
      continue;
    }
    const y0 = Math.floor(y);
    const x0 = Math.floor(xc);
    const fy = y - y0;
    const fx = xc - x0;
    const top = (1 - fx) * at(y0, x0, ch) + fx * at(y0, x0 + 1, ch);
    const bottom = (1 - fx) * at(y0 + 1, x0, ch) + fx * at(y0 + 1, x0 + 1, ch);
    values.push(finish((1 - fy) * top + fy * bottom));
  }
  return values;
}

/** Warps every pixel: output (b, r, col) takes the channels at source(b, r, col). */
function warpRef(x: NdArray, source: (b: number, r: number, col: number) => [number, number], o: SampleRefOptions): NdArray {
  const [n, h, w, c] = x.shape;
  const out = ndZeros(x.shape);
  for (let b = 0; b < n; b++)
    for (let r = 0; r < h; r++)
      for (let col = 0; col < w; col++) {
        const [y, xc] = source(b, r, col);
        const v = sampleRef(x, b, y, xc, o);
        for (let ch = 0; ch < c; ch++) out.data[((b * h + r) * w + col) * c + ch] = v[ch];
      }
  return out;
}

type Mat3 = number[][];

function matmul3(a: Mat3, b: Mat3): Mat3 {
  return a.map((row) => [0, 1, 2].map((j) => row[0] * b[0][j] + row[1] * b[1][j] + row[2] * b[2][j]));
}

/** Keras' transform for theta (degrees), shifts tx (rows) / ty (cols) in pixels, zooms zx / zy. */
export function kerasMatrixRef(p: { theta: number; tx: number; ty: number; zx: number; zy: number }, h: number, w: number): Mat3 {
  const t = (p.theta * Math.PI) / 180;
  const rotation = [[Math.cos(t), -Math.sin(t), 0], [Math.sin(t), Math.cos(t), 0], [0, 0, 1]];
  const shift = [[1, 0, p.tx], [0, 1, p.ty], [0, 0, 1]];
  const zoom = [[p.zx, 0, 0], [0, p.zy, 0], [0, 0, 1]];
  const ox = h / 2 - 0.5;
  const oy = w / 2 - 0.5;
  const toCentre = [[1, 0, ox], [0, 1, oy], [0, 0, 1]];
  const fromCentre = [[1, 0, -ox], [0, 1, -oy], [0, 0, 1]];
  return matmul3(matmul3(toCentre, matmul3(matmul3(rotation, shift), zoom)), fromCentre);
}

/** Affine warp with one Keras-style 3x3 matrix per sample. */
export function affineRef(x: NdArray, matrices: Mat3[], o: SampleRefOptions): NdArray {
  return warpRef(x, (b, r, col) => {
    const m = matrices[b];
    return [m[0][0] * r + m[0][1] * col + m[0][2], m[1][0] * r + m[1][1] * col + m[1][2]];
  }, o);
}

/** scipy.ndimage.gaussian_filter1d (mode 'reflect') or torchvision's 1-D blur on one line. */
export function gaussianFilter1dRef(line: ArrayLike<number>, sigma: number, parametrisation: 'scipy' | 'torchvision'): Float64Array {
  const n = line.length;
  if (!(sigma > 0)) return Float64Array.from(line);
  const torchSize = Math.trunc(8 * sigma + 1) | 1;
  const radius = parametrisation === 'scipy' ? Math.trunc(4 * sigma + 0.5) : (torchSize - 1) / 2;
  const weights: number[] = [];
  for (let k = -radius; k <= radius; k++) weights.push(Math.exp(-(k * k) / (2 * sigma * sigma)));
  const total = weights.reduce((s, v) => s + v, 0);
  const extend = parametrisation === 'scipy' ? reflectIndex : mirrorIndex;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let acc = 0;
    for (let k = -radius; k <= radius; k++) acc += (weights[k + radius] / total) * line[extend(i + k, n)];
    out[i] = acc;
  }
  return out;
}

/** Smooths each of N planes [H, W] (flat [N, H, W]) along H, then along W. */
export function smoothPlanesRef(noise: ArrayLike<number>, n: number, h: number, w: number, sigma: number, parametrisation: 'scipy' | 'torchvision'): Float64Array {
  const out = Float64Array.from(noise);
  for (let b = 0; b < n; b++) {
    for (let col = 0; col < w; col++) {
      const line = Array.from({ length: h }, (_, r) => out[(b * h + r) * w + col]);
      gaussianFilter1dRef(line, sigma, parametrisation).forEach((v, r) => (out[(b * h + r) * w + col] = v));
    }
    for (let r = 0; r < h; r++) {
      const start = (b * h + r) * w;
      out.set(gaussianFilter1dRef(out.subarray(start, start + w), sigma, parametrisation), start);
    }
  }
  return out;
}

export interface ElasticRefOptions extends SampleRefOptions {
  sigma: number;
  /** Per sample. */
  alphas: number[];
  parametrisation: 'scipy' | 'torchvision';
}

/** The displacement field in pixels: rows and columns, each flat [N, H, W]. */
export function elasticFieldRef(dx: ArrayLike<number>, dy: ArrayLike<number>, shape: number[], o: ElasticRefOptions): { rows: Float64Array; cols: Float64Array } {
  const [n, h, w] = shape;
  const rows = smoothPlanesRef(dx, n, h, w, o.sigma, o.parametrisation);
  const cols = smoothPlanesRef(dy, n, h, w, o.sigma, o.parametrisation);
  for (let i = 0; i < rows.length; i++) {
    const alpha = o.alphas[Math.floor(i / (h * w))];
    const torch = o.parametrisation === 'torchvision';
    rows[i] *= torch ? (alpha * h) / (2 * w) : alpha;
    cols[i] *= torch ? (alpha * w) / (2 * h) : alpha;
  }
  return { rows, cols };
}

/** The notebook's elastic_transform: the image read at (row + dx, col + dy), same field for all channels. */
export function elasticRef(x: NdArray, dx: ArrayLike<number>, dy: ArrayLike<number>, o: ElasticRefOptions): NdArray {
  const [, h, w] = x.shape;
  const { rows, cols } = elasticFieldRef(dx, dy, x.shape, o);
  return warpRef(x, (b, r, col) => {
    const p = (b * h + r) * w + col;
    return [r + rows[p], col + cols[p]];
  }, o);
}
