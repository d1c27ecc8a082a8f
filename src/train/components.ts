// Connected components of a binary mask, on the host, and the post-processing that segmentation
// pipelines apply after thresholding: drop predicted lesions smaller than a size, keep only the
// largest. Masks are 2-D [H, W] or 3-D [D, H, W] (slices stacked along D); a voxel is foreground
// when its value is non-zero, so threshold probabilities first.
//
// Connectivity follows scipy.ndimage.generate_binary_structure(rank, k): two foreground voxels are
// neighbours when their coordinates differ by at most 1 on every axis and on at most k axes.
//   2-D: 4 (k = 1, edges), 8 (k = 2, edges and corners).
//   3-D: 6 (k = 1, faces), 18 (k = 2, faces and edges), 26 (k = 3, faces, edges and corners).
// A 2-D mask is labelled as a 3-D one of depth 1, where 4 and 8 are 6 and 18 (or 26) restricted to a
// plane.
//
// Method: a two-pass raster scan over a union-find of provisional labels (Rosenfeld & Pfaltz; Wu,
// Otoo & Suzuki 2009), not a flood fill. It reads each voxel's already-visited half-neighbourhood
// once, needs no queue (a flood fill's queue can reach the whole volume on a sprawling lesion), and
// its memory is one Int32Array of labels plus the equivalence table. It also keeps the tests honest:
// their reference is a breadth-first flood fill, a different algorithm, so they cannot share a bug.
// Unions link the larger root under the smaller, so every set's root is its smallest provisional
// label, which is the label of its first voxel in raster order; compacting roots in increasing
// order therefore numbers the components 1, 2, ... by their first voxel (z, then y, then x).

import { ArgumentError, ShapeError } from '../errors.js';
import { describeValue, expectHostArray, expectKnownOptions, expectNumber, expectOptions } from '../graph/args.js';

export type Connectivity = 4 | 8 | 6 | 18 | 26;

/** Allowed connectivities per rank, and the k (axes that may differ) each stands for. */
const CONNECTIVITY: Record<2 | 3, Partial<Record<Connectivity, number>>> = { 2: { 4: 1, 8: 2 }, 3: { 6: 1, 18: 2, 26: 3 } };

export interface Components {
  /** Per voxel: 0 for background, else the component's label 1..count, numbered by first voxel in raster order. */
  labels: Int32Array;
  count: number;
  /** Voxels per label, numpy.bincount(labels): sizes[0] is the background, sizes[k] component k. */
  sizes: Int32Array;
}

function checkShape(op: string, mask: ArrayLike<number>, shape: readonly number[]): [number, number, number] {
  expectHostArray(op, 'mask', mask);
  if (!Array.isArray(shape)) throw new ArgumentError(`${op}: shape must be [H, W] or [D, H, W], got ${describeValue(shape)}`);
  if (shape.length !== 2 && shape.length !== 3) throw new ShapeError(`${op}: shape must be [H, W] or [D, H, W], got [${shape.join(', ')}]`);
  if (!shape.every((s) => Number.isInteger(s) && s > 0)) throw new ShapeError(`${op}: shape must hold positive integers, got [${shape.join(', ')}]`);
  const size = shape.reduce((p, s) => p * s, 1);
  if (mask.length !== size) throw new ShapeError(`${op}: mask of ${mask.length} values does not match shape [${shape.join(', ')}] (${size} values)`);
  return shape.length === 3 ? [shape[0], shape[1], shape[2]] : [1, shape[0], shape[1]];
}

function axesFor(op: string, rank: number, connectivity: unknown): number {
  const k = CONNECTIVITY[rank as 2 | 3][connectivity as Connectivity];
  if (k === undefined) {
    const allowed = Object.keys(CONNECTIVITY[rank as 2 | 3]).join(' or ');
    throw new ArgumentError(`${op}: connectivity for a ${rank}-D mask must be ${allowed}, got ${String(connectivity)}`);
  }
  return k;
}

/** The neighbour offsets the raster scan has already visited: first non-zero step is -1. */
function causalOffsets(k: number, planar: boolean): [number, number, number][] {
  const out: [number, number, number][] = [];
  for (const dz of planar ? [0] : [-1, 0, 1]) {
    for (const dy of [-1, 0, 1]) {
      for (const dx of [-1, 0, 1]) {
        const moved = (dz !== 0 ? 1 : 0) + (dy !== 0 ? 1 : 0) + (dx !== 0 ? 1 : 0);
        const first = dz !== 0 ? dz : dy !== 0 ? dy : dx;
        if (moved >= 1 && moved <= k && first === -1) out.push([dz, dy, dx]);
      }
    }
  }
  return out;
}

/**
 * Labels the connected components of `mask` (non-zero is foreground). Default connectivity is the
 * full neighbourhood, 8 in 2-D and 26 in 3-D, as MONAI's KeepLargestConnectedComponent uses.
 */
export function labelComponents(mask: ArrayLike<number>, shape: readonly number[], connectivity?: Connectivity): Components {
  const op = 'labelComponents';
  const [d, h, w] = checkShape(op, mask, shape);
  const k = axesFor(op, shape.length, connectivity ?? (shape.length === 3 ? 26 : 8));
  const offsets = causalOffsets(k, shape.length === 2).map(([dz, dy, dx]) => ({ dz, dy, dx, step: (dz * h + dy) * w + dx }));
  const labels = new Int32Array(d * h * w);
  let parent = new Int32Array(1024);
  let next = 0;
  // Path halving: each step points a node at its grandparent, so later finds are short.
  const find = (a: number): number => {
    while (parent[a] !== a) a = parent[a] = parent[parent[a]];
    return a;
  };
  for (let z = 0, i = 0; z < d; z++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++, i++) {
        if (!mask[i]) continue;
        let l = 0;
        for (const o of offsets) {
          if (z + o.dz < 0 || y + o.dy < 0 || y + o.dy >= h || x + o.dx < 0 || x + o.dx >= w) continue;
          const m = labels[i + o.step];
          if (m === 0 || m === l) continue;
          if (l === 0) {
            l = m;
            continue;
          }
          const a = find(l);
          const b = find(m);
          if (a < b) parent[b] = a;
          else if (b < a) parent[a] = b;
          l = a < b ? a : b;
        }
        if (l === 0) {
          if (++next === parent.length) {
            const grown = new Int32Array(parent.length * 2);
            grown.set(parent);
            parent = grown;
          }
          l = parent[next] = next;
        }
        labels[i] = l;
      }
    }
  }
  // Roots are the smallest label of their set, so they are met before any label that points at them.
  const final = new Int32Array(next + 1);
  let count = 0;
  for (let l = 1; l <= next; l++) final[l] = find(l) === l ? ++count : final[find(l)];
  const sizes = new Int32Array(count + 1);
  for (let i = 0; i < labels.length; i++) sizes[(labels[i] = final[labels[i]])]++;
  return { labels, count, sizes };
}

export interface PostprocessOptions {
  /** Components with fewer voxels are removed; one of exactly minSize stays (default 0: none removed). */
  minSize?: number;
  /** Keep only the largest component left after minSize; a tie goes to the lowest label (first in raster order). */
  keepLargest?: boolean;
  /** Default 8 in 2-D, 26 in 3-D. */
  connectivity?: Connectivity;
}

export interface PostprocessResult {
  /** 1 where a kept component lies, else 0. */
  mask: Uint8Array;
  components: number;
  removedComponents: number;
  removedVoxels: number;
}

function checkPostprocessOptions(op: string, opts: PostprocessOptions, known = ['minSize', 'keepLargest', 'connectivity']): void {
  expectOptions(op, opts, '{ minSize: 10, keepLargest: true }');
  expectKnownOptions(op, opts, known, {});
  if (opts.minSize !== undefined) expectNumber(op, 'minSize', opts.minSize, { integer: true, min: 0 });
  if (opts.keepLargest !== undefined && typeof opts.keepLargest !== 'boolean') throw new ArgumentError(`${op}: keepLargest must be a boolean, got ${String(opts.keepLargest)}`);
}

/** The mask with components under `minSize` voxels removed and, with `keepLargest`, all but the largest. */
export function postprocessMask(mask: ArrayLike<number>, shape: readonly number[], opts: PostprocessOptions = {}): PostprocessResult {
  checkPostprocessOptions('postprocessMask', opts);
  const { labels, count, sizes } = labelComponents(mask, shape, opts.connectivity);
  const minSize = opts.minSize ?? 0;
  const keep = new Uint8Array(count + 1);
  for (let l = 1; l <= count; l++) keep[l] = sizes[l] >= minSize ? 1 : 0;
  if (opts.keepLargest) {
    let best = 0;
    // Strictly larger, scanning labels upwards: ties keep the first component in raster order.
    for (let l = 1; l <= count; l++) if (keep[l] && (best === 0 || sizes[l] > sizes[best])) best = l;
    keep.fill(0);
    keep[best] = best === 0 ? 0 : 1;
  }
  const out = new Uint8Array(labels.length);
  let removedComponents = 0;
  let removedVoxels = 0;
  for (let l = 1; l <= count; l++) {
    if (keep[l]) continue;
    removedComponents++;
    removedVoxels += sizes[l];
  }
  for (let i = 0; i < labels.length; i++) out[i] = keep[labels[i]];
  return { mask: out, components: count, removedComponents, removedVoxels };
}

export interface VolumePostprocess {
  /** The predictions with every removed voxel set to 0, the others unchanged. */
  pred: Float32Array;
  volumes: number;
  components: number;
  removedComponents: number;
  removedVoxels: number;
}

/**
 * postprocessMask per volume in 3-D on predictions thresholded at `threshold` (default 0.5, as the
 * metrics threshold them). pred holds slices of sliceShape [H, W]; volumes[i] names slice i's
 * volume, and a volume's slices are stacked in the order they come (segmentationReport's rule);
 * without volumes the whole set is one volume.
 */
export function postprocessVolumes(
  pred: ArrayLike<number>,
  sliceShape: readonly [number, number],
  volumes: readonly string[] | undefined,
  opts: PostprocessOptions & { threshold?: number } = {},
): VolumePostprocess {
  const op = 'postprocessVolumes';
  checkPostprocessOptions(op, opts, ['minSize', 'keepLargest', 'connectivity', 'threshold']);
  expectHostArray(op, 'pred', pred);
  if (!Array.isArray(sliceShape) || sliceShape.length !== 2) throw new ArgumentError(`${op}: sliceShape must be [H, W], got ${describeValue(sliceShape)}`);
  if (opts.threshold !== undefined) expectNumber(op, 'threshold', opts.threshold);
  const sliceSize = sliceShape[0] * sliceShape[1];
  const n = pred.length / sliceSize;
  if (!Number.isInteger(n)) throw new ShapeError(`${op}: ${pred.length} values are not whole slices of [${sliceShape.join(', ')}]`);
  if (volumes && volumes.length !== n) throw new ShapeError(`${op}: ${volumes.length} volume names for ${n} slices`);
  const threshold = opts.threshold ?? 0.5;
  const groups = new Map<string, number[]>();
  for (let s = 0; s < n; s++) {
    const key = volumes?.[s] ?? 'all';
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key)!.push(s);
  }
  const out = Float32Array.from(pred);
  const total = { volumes: groups.size, components: 0, removedComponents: 0, removedVoxels: 0 };
  for (const slices of groups.values()) {
    const stacked = new Uint8Array(slices.length * sliceSize);
    slices.forEach((s, k) => {
      for (let j = 0; j < sliceSize; j++) stacked[k * sliceSize + j] = pred[s * sliceSize + j] >= threshold ? 1 : 0;
    });
    const r = postprocessMask(stacked, [slices.length, sliceShape[0], sliceShape[1]], { minSize: opts.minSize, keepLargest: opts.keepLargest, connectivity: opts.connectivity });
    total.components += r.components;
    total.removedComponents += r.removedComponents;
    total.removedVoxels += r.removedVoxels;
    slices.forEach((s, k) => {
      for (let j = 0; j < sliceSize; j++) if (stacked[k * sliceSize + j] && !r.mask[k * sliceSize + j]) out[s * sliceSize + j] = 0;
    });
  }
  return { pred: out, ...total };
}
