// Surface distances between two binary masks, on the host: the 95th-percentile Hausdorff distance
// (HD95) and the average symmetric surface distance (ASSD), for 2-D [H, W] or 3-D [D, H, W] masks
// (slices stacked along D) with voxel spacing [dy, dx] or [dz, dy, dx] (default 1 per axis, so
// distances are in pixels).
//
// Definitions (MedPy's, medpy.metric.binary):
//   - boundary of A: the voxels of A with a background neighbour in the 4-neighbourhood (2-D) or the
//     6-neighbourhood (3-D); outside the image counts as background. This is A minus A eroded by
//     scipy's cross-shaped structure with border_value 0, as MedPy and MONAI compute it.
//   - d(a, B) for a boundary voxel a of A: the Euclidean distance, in spacing units, from a to the
//     nearest boundary voxel of B; and likewise d(b, A). Voxels on both boundaries are at 0.
//   - HD95: numpy.percentile(union of both directed sets, 95) with numpy's default 'linear'
//     interpolation: position (n - 1) * 0.95 in the sorted union, interpolated between its floor
//     and ceiling. This is MedPy's hd95. MONAI's compute_hausdorff_distance(percentile=95) differs:
//     it takes the larger of the two directed 95th percentiles.
//   - ASSD: the mean of the union, sum / (|dA| + |dB|) (Heimann et al. 2009; MONAI's
//     compute_average_surface_distance(symmetric=True)). MedPy's assd differs when the boundaries
//     have different sizes: it averages the two directed means.
//   - HD: the maximum of the union.
// Empty masks: both empty gives NaN (nothing to measure), exactly one empty gives Infinity (MONAI's
// value; MedPy raises). `empty` says which, so callers can apply their own policy.
//
// Method: an exact Euclidean distance transform to each boundary, by one pass per axis of
// Felzenszwalb & Huttenlocher's lower envelope of parabolas (2012), with the axis' spacing, then a
// lookup at the other mask's boundary voxels. Everything runs inside the bounding box of A and B:
// every boundary voxel lies in it, and a separable transform restricted to a box that holds all the
// feature points is exact inside that box, so a small lesion in a 256x256x60 volume costs little.

import { ArgumentError, ShapeError } from '../errors.js';
import { describeValue, expectHostArray } from '../graph/args.js';

export interface SurfaceDistance {
  hd95: number;
  assd: number;
  hd: number;
  /** 'both': both masks empty (distances NaN); 'one': exactly one empty (distances Infinity). */
  empty: 'none' | 'one' | 'both';
  /** Boundary voxels of a and of b. */
  boundaryA: number;
  boundaryB: number;
}

/** The value at fraction p (0..1) of sorted values, interpolated linearly (numpy.percentile's default). */
export function percentileSorted(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const pos = (n - 1) * p;
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, n - 1);
  return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
}

interface Box {
  d: number;
  h: number;
  w: number;
}

function checkArgs(a: ArrayLike<number>, b: ArrayLike<number>, shape: readonly number[], spacing: readonly number[] | undefined): number[] {
  const op = 'surfaceDistance';
  expectHostArray(op, 'a', a);
  expectHostArray(op, 'b', b);
  if (!Array.isArray(shape)) throw new ArgumentError(`${op}: shape must be [H, W] or [D, H, W], got ${describeValue(shape)}`);
  if (spacing !== undefined && !Array.isArray(spacing)) throw new ArgumentError(`${op}: spacing must be an array of numbers, got ${describeValue(spacing)}`);
  if (shape.length !== 2 && shape.length !== 3) throw new ShapeError(`${op}: shape must be [H, W] or [D, H, W], got [${shape.join(', ')}]`);
  if (!shape.every((s) => Number.isInteger(s) && s > 0)) throw new ShapeError(`${op}: shape must hold positive integers, got [${shape.join(', ')}]`);
  const size = shape.reduce((p, s) => p * s, 1);
  if (a.length !== size || b.length !== size) throw new ShapeError(`${op}: masks of ${a.length} and ${b.length} values do not match shape [${shape.join(', ')}] (${size} values)`);
  const sp = spacing ?? shape.map(() => 1);
  if (sp.length !== shape.length || !sp.every((s) => Number.isFinite(s) && s > 0)) {
    throw new ArgumentError(`${op}: spacing must be ${shape.length} positive numbers (one per axis of [${shape.join(', ')}]), got [${sp.join(', ')}]`);
  }
  return [...sp];
}

/** Both masks cropped to the bounding box of their union, or null when both are empty. */
function crop(a: ArrayLike<number>, b: ArrayLike<number>, d: number, h: number, w: number): { ca: Uint8Array; cb: Uint8Array; box: Box } | null {
  let [z0, y0, x0, z1, y1, x1] = [d, h, w, -1, -1, -1];
  for (let z = 0, i = 0; z < d; z++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++, i++) {
        if (!a[i] && !b[i]) continue;
        z0 = Math.min(z0, z);
        z1 = Math.max(z1, z);
        y0 = Math.min(y0, y);
        y1 = Math.max(y1, y);
        x0 = Math.min(x0, x);
        x1 = Math.max(x1, x);
      }
    }
  }
  if (z1 < 0) return null;
  const box = { d: z1 - z0 + 1, h: y1 - y0 + 1, w: x1 - x0 + 1 };
  const ca = new Uint8Array(box.d * box.h * box.w);
  const cb = new Uint8Array(ca.length);
  for (let z = 0, j = 0; z < box.d; z++) {
    for (let y = 0; y < box.h; y++) {
      const row = ((z + z0) * h + y + y0) * w + x0;
      for (let x = 0; x < box.w; x++, j++) {
        ca[j] = a[row + x] ? 1 : 0;
        cb[j] = b[row + x] ? 1 : 0;
      }
    }
  }
  return { ca, cb, box };
}

/**
 * Boundary voxels of m inside the box. Neighbours outside the box are background: the box holds
 * every foreground voxel, and outside the image is background by definition. `planar` leaves the
 * D axis out of the neighbourhood (2-D masks, D = 1).
 */
function boundary(m: Uint8Array, box: Box, planar: boolean): Uint8Array {
  const { d, h, w } = box;
  const plane = h * w;
  const out = new Uint8Array(m.length);
  for (let z = 0, i = 0; z < d; z++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++, i++) {
        if (!m[i]) continue;
        const edge =
          x === 0 || !m[i - 1] || x === w - 1 || !m[i + 1] ||
          y === 0 || !m[i - w] || y === h - 1 || !m[i + w] ||
          (!planar && (z === 0 || !m[i - plane] || z === d - 1 || !m[i + plane]));
        if (edge) out[i] = 1;
      }
    }
  }
  return out;
}

/** Scratch arrays for the 1-D transform, sized for the longest line. */
interface Lines {
  v: Int32Array;
  z: Float64Array;
  f: Float64Array;
}

/**
 * In place on the line g[start + q * stride], q < n, samples `step` apart: g(p) becomes
 * min over q of (p - q)^2 step^2 + g(q). Infinite samples hold no parabola, so a line without a
 * finite sample stays infinite (and Infinity - Infinity never arises).
 */
function transformLine(g: Float64Array, start: number, stride: number, n: number, step: number, s: Lines): void {
  const { v, z, f } = s;
  let k = -1;
  for (let q = 0; q < n; q++) {
    const fq = g[start + q * stride];
    f[q] = fq;
    if (fq === Infinity) continue;
    const pq = q * step;
    let cross = -Infinity;
    while (k >= 0) {
      const pr = v[k] * step;
      // Where the parabola from q overtakes the one from v[k]; v[k] is hidden if that is left of z[k].
      cross = (fq + pq * pq - (f[v[k]] + pr * pr)) / (2 * (pq - pr));
      if (cross > z[k]) break;
      k--;
    }
    k++;
    v[k] = q;
    z[k] = k === 0 ? -Infinity : cross;
  }
  if (k < 0) return;
  z[k + 1] = Infinity;
  for (let q = 0, j = 0; q < n; q++) {
    const pq = q * step;
    while (z[j + 1] < pq) j++;
    const dq = pq - v[j] * step;
    g[start + q * stride] = dq * dq + f[v[j]];
  }
}

/** Squared distance from every voxel of the box to the nearest set voxel of `feature`. */
function squaredDistance(feature: Uint8Array, box: Box, spacing: readonly number[]): Float64Array {
  const { d, h, w } = box;
  const [dz, dy, dx] = spacing;
  const g = new Float64Array(feature.length);
  for (let i = 0; i < g.length; i++) g[i] = feature[i] ? 0 : Infinity;
  const longest = Math.max(d, h, w);
  const s: Lines = { v: new Int32Array(longest), z: new Float64Array(longest + 1), f: new Float64Array(longest) };
  const plane = h * w;
  for (let z = 0; z < d; z++) for (let y = 0; y < h; y++) transformLine(g, z * plane + y * w, 1, w, dx, s);
  for (let z = 0; z < d; z++) for (let x = 0; x < w; x++) transformLine(g, z * plane + x, w, h, dy, s);
  if (d > 1) for (let i = 0; i < plane; i++) transformLine(g, i, plane, d, dz, s);
  return g;
}

/** Distances at the set voxels of `from` to the nearest set voxel of `to`, appended at `into[at..]`. */
function directed(from: Uint8Array, toSquared: Float64Array, into: Float64Array, at: number): number {
  for (let i = 0; i < from.length; i++) if (from[i]) into[at++] = Math.sqrt(toSquared[i]);
  return at;
}

/**
 * HD95, ASSD and HD between masks a and b (nonzero = foreground) of shape [H, W] or [D, H, W]
 * (row-major, W fastest), spacing one positive number per axis in the same order.
 */
export function surfaceDistance(a: ArrayLike<number>, b: ArrayLike<number>, shape: readonly number[], spacing?: readonly number[]): SurfaceDistance {
  const sp = checkArgs(a, b, shape, spacing);
  const planar = shape.length === 2;
  const [d, h, w] = planar ? [1, shape[0], shape[1]] : shape;
  const spacing3 = planar ? [1, sp[0], sp[1]] : sp;
  const cropped = crop(a, b, d, h, w);
  if (!cropped) return { hd95: NaN, assd: NaN, hd: NaN, empty: 'both', boundaryA: 0, boundaryB: 0 };
  const { ca, cb, box } = cropped;
  const ea = boundary(ca, box, planar);
  const eb = boundary(cb, box, planar);
  const na = ea.reduce((n, v) => n + v, 0);
  const nb = eb.reduce((n, v) => n + v, 0);
  if (na === 0 || nb === 0) return { hd95: Infinity, assd: Infinity, hd: Infinity, empty: 'one', boundaryA: na, boundaryB: nb };
  const all = new Float64Array(na + nb);
  directed(ea, squaredDistance(eb, box, spacing3), all, 0);
  directed(eb, squaredDistance(ea, box, spacing3), all, na);
  all.sort();
  const sum = all.reduce((t, v) => t + v, 0);
  return { hd95: percentileSorted(all, 0.95), assd: sum / all.length, hd: all[all.length - 1], empty: 'none', boundaryA: na, boundaryB: nb };
}
