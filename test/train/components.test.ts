// Connected components against a brute-force reference (a breadth-first flood fill over float64
// masks, neighbours by the definition), on random 2-D and 3-D masks with every connectivity; the
// neighbourhoods worked by hand offset by offset; and the post-processing rules: the minSize
// boundary, keepLargest and its tie rule, per-volume stacking and the thresholding eval uses.
import { describe, expect, it } from 'vitest';
import { ArgumentError, ShapeError } from '../../src/errors.js';
import { labelComponents, postprocessMask, postprocessVolumes, type Connectivity } from '../../src/train/components.js';
import { rng } from '../helpers/rng.js';

/** Reference labels: flood fill from each unlabelled foreground voxel; neighbours differ by <= 1 on at most k axes. */
function floodFill(mask: Float64Array, shape: readonly number[], k: number): { labels: number[]; sizes: number[] } {
  const strides = shape.map((_, a) => shape.slice(a + 1).reduce((p, s) => p * s, 1));
  const coords = (i: number) => shape.map((s, a) => Math.floor(i / strides[a]) % s);
  const steps: number[][] = [];
  const all = (prefix: number[]): void => {
    if (prefix.length === shape.length) {
      const moved = prefix.filter((v) => v !== 0).length;
      if (moved >= 1 && moved <= k) steps.push(prefix);
      return;
    }
    for (const v of [-1, 0, 1]) all([...prefix, v]);
  };
  all([]);
  const labels = new Array<number>(mask.length).fill(0);
  const sizes = [0];
  for (let seed = 0; seed < mask.length; seed++) {
    if (mask[seed] === 0 || labels[seed] !== 0) continue;
    const label = sizes.length;
    sizes.push(0);
    const queue = [seed];
    labels[seed] = label;
    while (queue.length) {
      const at = coords(queue.shift()!);
      sizes[label]++;
      for (const s of steps) {
        const c = at.map((v, a) => v + s[a]);
        if (c.some((v, a) => v < 0 || v >= shape[a])) continue;
        const j = c.reduce((p, v, a) => p + v * strides[a], 0);
        if (mask[j] !== 0 && labels[j] === 0) {
          labels[j] = label;
          queue.push(j);
        }
      }
    }
  }
  sizes[0] = labels.filter((l) => l === 0).length;
  return { labels, sizes };
}

const AXES: Record<Connectivity, number> = { 4: 1, 8: 2, 6: 1, 18: 2, 26: 3 };

const RANDOM_CASES = [
  ...[[1, 1], [1, 9], [7, 1], [5, 5], [13, 17], [32, 31]].flatMap((shape) => [4, 8].map((connectivity) => ({ shape, connectivity }))),
  ...[[1, 6, 7], [3, 1, 9], [4, 5, 6], [7, 9, 8], [12, 13, 11]].flatMap((shape) => [6, 18, 26].map((connectivity) => ({ shape, connectivity }))),
] as { shape: number[]; connectivity: Connectivity }[];

describe('labelComponents', () => {
  for (const { shape, connectivity } of RANDOM_CASES) {
    it(`[${shape.join(', ')}] ${connectivity}-connected: count, sizes and labels (up to renaming) match the flood fill`, () => {
      const n = shape.reduce((p, s) => p * s, 1);
      // Densities around the percolation threshold give long, tangled components: many unions.
      for (const [seed, density] of [[1, 0.15], [2, 0.35], [3, 0.5], [4, 0.65], [5, 0.9]]) {
        const r = rng(seed * 101 + n);
        const mask = Float64Array.from({ length: n }, () => (r() < density ? 1 : 0));
        const want = floodFill(mask, shape, AXES[connectivity]);
        const got = labelComponents(mask, shape, connectivity);
        const what = `seed ${seed}, density ${density}`;
        expect(got.count, what).toBe(want.sizes.length - 1);
        expect([...got.sizes].sort((a, b) => a - b), what).toEqual([...want.sizes].sort((a, b) => a - b));
        expect(got.sizes[0], what).toBe(want.sizes[0]);
        const forward = new Map<number, number>();
        const backward = new Map<number, number>();
        for (let i = 0; i < n; i++) {
          const [g, w] = [got.labels[i], want.labels[i]];
          expect(g === 0, `${what}: background at voxel ${i}`).toBe(w === 0);
          // One label here per reference label and back: neither merged nor split.
          expect(forward.get(g) ?? w, `${what}: label ${g} merges two components (voxel ${i})`).toBe(w);
          expect(backward.get(w) ?? g, `${what}: a component is split into labels ${backward.get(w)} and ${g} (voxel ${i})`).toBe(g);
          forward.set(g, w);
          backward.set(w, g);
        }
        for (let l = 1; l <= got.count; l++) expect(got.sizes[l], `${what}: size of label ${l}`).toBe(want.sizes[forward.get(l)!]);
      }
    });
  }

  it('numbers components by their first voxel in raster order', () => {
    const r = rng(7);
    const mask = Float64Array.from({ length: 9 * 10 * 11 }, () => (r() < 0.3 ? 1 : 0));
    const { labels, count } = labelComponents(mask, [9, 10, 11], 6);
    const firsts = Array.from({ length: count }, (_, k) => labels.indexOf(k + 1));
    expect(firsts.every((f, k) => f >= 0 && (k === 0 || f > firsts[k - 1]))).toBe(true);
  });

  it('2-D: each of the 8 neighbours of the centre joins under 8-connectivity, only the 4 edge ones under 4', () => {
    for (let dy = -1; dy <= 1; dy++) {
      for (let dx = -1; dx <= 1; dx++) {
        if (!dy && !dx) continue;
        const mask = new Uint8Array(9);
        mask[4] = mask[(1 + dy) * 3 + 1 + dx] = 1;
        const diagonal = dy !== 0 && dx !== 0;
        expect(labelComponents(mask, [3, 3], 8).count, `offset ${dy},${dx}`).toBe(1);
        expect(labelComponents(mask, [3, 3], 4).count, `offset ${dy},${dx}`).toBe(diagonal ? 2 : 1);
      }
    }
  });

  it('3-D: each of the 26 neighbours joins under 26, faces and edges under 18, faces only under 6', () => {
    for (const [dz, dy, dx] of [-1, 0, 1].flatMap((z) => [-1, 0, 1].flatMap((y) => [-1, 0, 1].map((x) => [z, y, x])))) {
      const moved = [dz, dy, dx].filter((v) => v !== 0).length;
      if (!moved) continue;
      const mask = new Uint8Array(27);
      mask[13] = mask[(1 + dz) * 9 + (1 + dy) * 3 + 1 + dx] = 1;
      for (const c of [6, 18, 26] as const) expect(labelComponents(mask, [3, 3, 3], c).count, `offset ${dz},${dy},${dx}, ${c}`).toBe(moved <= AXES[c] ? 1 : 2);
    }
  });

  it('defaults to full connectivity: 8 in 2-D, 26 in 3-D', () => {
    expect(labelComponents([1, 0, 0, 1], [2, 2]).count).toBe(1);
    expect(labelComponents([1, 0, 0, 0, 0, 0, 0, 1], [2, 2, 2]).count).toBe(1);
  });

  it('a U shape is one component: a later row merges labels given earlier', () => {
    const u = [1, 0, 1, 1, 0, 1, 1, 1, 1];
    expect(labelComponents(u, [3, 3], 4)).toMatchObject({ count: 1, sizes: Int32Array.from([2, 7]) });
    expect(labelComponents(new Uint8Array(12), [3, 4]).count).toBe(0);
  });

  it('refuses bad shapes and connectivities', () => {
    expect(() => labelComponents([1, 0, 1], [2, 2])).toThrow(ShapeError);
    expect(() => labelComponents([1], [1])).toThrow(ShapeError);
    expect(() => labelComponents([1, 0], [2, 0.5 as number])).toThrow(ShapeError);
    expect(() => labelComponents([1, 0, 1, 0], [2, 2], 6)).toThrow(ArgumentError);
    expect(() => labelComponents(new Uint8Array(8), [2, 2, 2], 8)).toThrow(ArgumentError);
  });
});

/** A [h, w] mask with the given (y, x) pixels set. */
function pixels(h: number, w: number, at: [number, number][]): Uint8Array {
  const m = new Uint8Array(h * w);
  for (const [y, x] of at) m[y * w + x] = 1;
  return m;
}

const line = (y: number, x0: number, n: number): [number, number][] => Array.from({ length: n }, (_, k) => [y, x0 + k]);

describe('postprocessMask', () => {
  // Three separate horizontal bars of 3, 4 and 5 pixels.
  const bars = pixels(5, 8, [...line(0, 0, 3), ...line(2, 0, 4), ...line(4, 0, 5)]);

  it('removes components under minSize; one of exactly minSize stays', () => {
    const r = postprocessMask(bars, [5, 8], { minSize: 4 });
    expect(r.mask).toEqual(pixels(5, 8, [...line(2, 0, 4), ...line(4, 0, 5)]));
    expect(r).toMatchObject({ components: 3, removedComponents: 1, removedVoxels: 3 });
    expect(postprocessMask(bars, [5, 8], { minSize: 5 }).mask).toEqual(pixels(5, 8, line(4, 0, 5)));
    expect(postprocessMask(bars, [5, 8], { minSize: 6 })).toMatchObject({ removedComponents: 3, removedVoxels: 12 });
    for (const minSize of [0, 1, 3]) expect(postprocessMask(bars, [5, 8], { minSize }).mask, `minSize ${minSize}`).toEqual(bars);
    expect(postprocessMask(bars, [5, 8]).mask).toEqual(bars);
  });

  it('keepLargest keeps the largest wherever it lies in raster order', () => {
    expect(postprocessMask(bars, [5, 8], { keepLargest: true }).mask).toEqual(pixels(5, 8, line(4, 0, 5)));
    const first = pixels(5, 8, [...line(0, 0, 6), ...line(2, 0, 2), ...line(4, 0, 5)]);
    expect(postprocessMask(first, [5, 8], { keepLargest: true })).toMatchObject({ mask: pixels(5, 8, line(0, 0, 6)), removedComponents: 2, removedVoxels: 7 });
    const middle = pixels(5, 8, [...line(0, 0, 2), ...line(2, 0, 7), ...line(4, 0, 5)]);
    expect(postprocessMask(middle, [5, 8], { keepLargest: true }).mask).toEqual(pixels(5, 8, line(2, 0, 7)));
  });

  it('keepLargest ties go to the component whose first voxel comes first in raster order', () => {
    const tie = pixels(5, 8, [...line(0, 4, 2), ...line(2, 0, 3), ...line(4, 0, 3)]);
    expect(postprocessMask(tie, [5, 8], { keepLargest: true }).mask).toEqual(pixels(5, 8, line(2, 0, 3)));
    // In 3-D the earlier slice wins, whatever the rows: slice 0's blob sits below slice 1's.
    const vol = new Uint8Array(2 * 4 * 4);
    vol.set([1, 1], 3 * 4);
    vol.set([1, 1], 16);
    const kept = postprocessMask(vol, [2, 4, 4], { keepLargest: true }).mask;
    expect([...kept.keys()].filter((i) => kept[i])).toEqual([12, 13]);
  });

  it('keepLargest after minSize: nothing is kept when every component is too small', () => {
    expect(postprocessMask(bars, [5, 8], { minSize: 6, keepLargest: true })).toMatchObject({ mask: new Uint8Array(40), removedComponents: 3 });
    expect(postprocessMask(new Uint8Array(40), [5, 8], { keepLargest: true })).toMatchObject({ mask: new Uint8Array(40), components: 0, removedComponents: 0 });
  });

  it('connectivity decides what counts as one lesion: a diagonal of 3 survives minSize 2 under 8, not under 4', () => {
    const diag = pixels(3, 3, [[0, 0], [1, 1], [2, 2]]);
    expect(postprocessMask(diag, [3, 3], { minSize: 2 }).mask).toEqual(diag);
    expect(postprocessMask(diag, [3, 3], { minSize: 2, connectivity: 4 }).mask).toEqual(new Uint8Array(9));
    const stair = new Uint8Array(8);
    stair[0] = stair[7] = 1; // (0,0,0) and (1,1,1): corner neighbours
    expect(postprocessMask(stair, [2, 2, 2], { minSize: 2 }).mask).toEqual(stair);
    expect(postprocessMask(stair, [2, 2, 2], { minSize: 2, connectivity: 18 }).removedVoxels).toBe(2);
  });

  it('refuses a negative or fractional minSize and a non-boolean keepLargest', () => {
    expect(() => postprocessMask(bars, [5, 8], { minSize: -1 })).toThrow(ArgumentError);
    expect(() => postprocessMask(bars, [5, 8], { minSize: 2.5 })).toThrow(ArgumentError);
    expect(() => postprocessMask(bars, [5, 8], { keepLargest: 'yes' as unknown as boolean })).toThrow(ArgumentError);
  });
});

describe('postprocessVolumes', () => {
  it('stacks each volume in slice order, thresholds at 0.5, zeroes removed voxels and keeps the others', () => {
    // Volumes a and b interleaved, 2x2 slices. a: a voxel at (0,0) in both its slices, a 2-voxel
    // lesion through the stack. b: one voxel in its first slice only.
    const pred = Float32Array.from([0.9, 0, 0, 0.2, /* b */ 0.7, 0, 0, 0, /* a */ 0.5, 0, 0, 0.49, /* b */ 0, 0, 0, 0]);
    const r = postprocessVolumes(pred, [2, 2], ['a', 'b', 'a', 'b'], { minSize: 2 });
    expect(r).toMatchObject({ volumes: 2, components: 2, removedComponents: 1, removedVoxels: 1 });
    expect(Array.from(r.pred)).toEqual(Array.from(Float32Array.from([0.9, 0, 0, 0.2, 0, 0, 0, 0, 0.5, 0, 0, 0.49, 0, 0, 0, 0])));
    // Without volume names the four slices are one volume: b's voxel joins a's through slice 1.
    expect(postprocessVolumes(pred, [2, 2], undefined, { minSize: 2 })).toMatchObject({ volumes: 1, components: 1, removedVoxels: 0 });
    expect(() => postprocessVolumes(pred, [3, 2], undefined, {})).toThrow(ShapeError);
    expect(() => postprocessVolumes(pred, [2, 2], ['a'], {})).toThrow(ShapeError);
  });
});
