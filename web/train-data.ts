// The Train panel's data: slices of synthetic patients drawn in the page with the same phantom
// generator as `dawnet synth` (src/data/synth.ts, browser-safe), kept as host arrays: images
// z-scored per slice and channel as the CLI trains, masks 0/1, and the raw RGB for previews.

import { zscoreImages } from '../src/data/normalize.js';
import { synthesizePatient } from '../src/data/synth.js';

export interface SliceSet {
  size: number;
  count: number;
  /** [count, size, size, 3], z-scored. */
  images: Float32Array;
  /** [count, size, size, 1], 0 or 1. */
  masks: Float32Array;
  /** [count, size, size, 3] in 0..1, for display. */
  rgb: Float32Array;
}

/** All slices of patients `first` .. `first + patients - 1` of the seed, `slicesPerPatient` each. */
export function syntheticSlices(size: number, first: number, patients: number, slicesPerPatient: number, seed: number): SliceSet {
  const taken = new Set<string>();
  const slices = [];
  for (let p = first; p < first + patients; p++) {
    slices.push(...synthesizePatient(p, { patients: first + patients, seed, size, slicesPerPatient: [slicesPerPatient, slicesPerPatient] }, taken).slices);
  }
  const pixels = size * size;
  const rgb = new Float32Array(slices.length * pixels * 3);
  const masks = new Float32Array(slices.length * pixels);
  slices.forEach((s, i) => {
    for (let k = 0; k < pixels * 3; k++) rgb[i * pixels * 3 + k] = s.image[k]! / 255;
    for (let k = 0; k < pixels; k++) masks[i * pixels + k] = s.mask[k]! ? 1 : 0;
  });
  const images = Float32Array.from(rgb);
  zscoreImages(images, slices.length, pixels, 3);
  return { size, count: slices.length, images, masks, rgb };
}

/** Copies the listed slices into one batch: images [n, S, S, 3] and masks [n, S, S, 1]. */
export function gatherBatch(set: SliceSet, indices: readonly number[]): { images: Float32Array; masks: Float32Array } {
  const pixels = set.size * set.size;
  const images = new Float32Array(indices.length * pixels * 3);
  const masks = new Float32Array(indices.length * pixels);
  indices.forEach((src, i) => {
    images.set(set.images.subarray(src * pixels * 3, (src + 1) * pixels * 3), i * pixels * 3);
    masks.set(set.masks.subarray(src * pixels, (src + 1) * pixels), i * pixels);
  });
  return { images, masks };
}

export function tumourSlices(set: SliceSet): number[] {
  const pixels = set.size * set.size;
  const out: number[] = [];
  for (let i = 0; i < set.count; i++) if (set.masks.subarray(i * pixels, (i + 1) * pixels).some((v) => v > 0)) out.push(i);
  return out;
}
