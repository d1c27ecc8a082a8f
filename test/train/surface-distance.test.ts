// Surface distances against a brute-force float64 reference (every pair of boundary voxels), on
// random small 2-D and 3-D masks with and without anisotropic spacing, against scipy computing
// MedPy's definition (test/fixtures/surface-distance/make_fixtures.py), and on cases worked by hand.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ArgumentError, ShapeError } from '../../src/errors.js';
import { percentileSorted, surfaceDistance } from '../../src/train/surface-distance.js';
import { rng } from '../helpers/rng.js';

/** Boundary voxels by the definition: foreground with a background face neighbour, the outside background. */
function boundaryPoints(m: ArrayLike<number>, shape: readonly number[]): number[][] {
  const dims = shape.length;
  const strides = shape.map((_, k) => shape.slice(k + 1).reduce((p, s) => p * s, 1));
  const points: number[][] = [];
  for (let i = 0; i < m.length; i++) {
    if (!m[i]) continue;
    const at = shape.map((s, k) => Math.floor(i / strides[k]) % s);
    let edge = false;
    for (let k = 0; k < dims && !edge; k++) {
      for (const step of [-1, 1]) {
        const c = at[k] + step;
        if (c < 0 || c >= shape[k] || !m[i + step * strides[k]]) edge = true;
      }
    }
    if (edge) points.push(at);
  }
  return points;
}

/** numpy.percentile(values, q) with the default linear method, written out. */
function numpyPercentile(values: number[], q: number): number {
  const s = [...values].sort((x, y) => x - y);
  const rank = ((s.length - 1) * q) / 100;
  const below = Math.floor(rank);
  const above = Math.ceil(rank);
  return s[below] * (1 - (rank - below)) + s[above] * (rank - below);
}

function bruteForce(a: ArrayLike<number>, b: ArrayLike<number>, shape: readonly number[], spacing: readonly number[]) {
  const pa = boundaryPoints(a, shape);
  const pb = boundaryPoints(b, shape);
  const nearest = (p: number[], qs: number[][]) =>
    Math.min(...qs.map((q) => Math.sqrt(q.reduce((s, qk, k) => s + ((qk - p[k]) * spacing[k]) ** 2, 0))));
  const all = [...pa.map((p) => nearest(p, pb)), ...pb.map((p) => nearest(p, pa))];
  return { hd95: numpyPercentile(all, 95), assd: all.reduce((s, v) => s + v, 0) / all.length, hd: Math.max(...all), na: pa.length, nb: pb.length };
}

function randomBlobMask(shape: readonly number[], seed: number, density: number): Uint8Array {
  const r = rng(seed);
  const size = shape.reduce((p, s) => p * s, 1);
  // A few filled boxes plus speckle: holes, separate parts and voxels touching the image edge.
  const m = Uint8Array.from({ length: size }, () => (r() < density * 0.3 ? 1 : 0));
  const strides = shape.map((_, k) => shape.slice(k + 1).reduce((p, s) => p * s, 1));
  for (let box = 0; box < 3; box++) {
    const lo = shape.map((s) => Math.floor(r() * s));
    const hi = lo.map((l, k) => Math.min(shape[k], l + 1 + Math.floor(r() * shape[k] * density)));
    for (let i = 0; i < size; i++) {
      const at = shape.map((s, k) => Math.floor(i / strides[k]) % s);
      if (at.every((c, k) => c >= lo[k] && c < hi[k])) m[i] = 1;
    }
  }
  return m;
}

const CASES = [
  { name: '2-D 9x11', shape: [9, 11], spacing: [1, 1], seed: 1 },
  { name: '2-D 16x13 anisotropic', shape: [16, 13], spacing: [0.7, 1.9], seed: 2 },
  { name: '2-D 1x12 single row', shape: [1, 12], spacing: [1, 1], seed: 3 },
  { name: '3-D 5x7x8', shape: [5, 7, 8], spacing: [1, 1, 1], seed: 4 },
  { name: '3-D 6x9x7 anisotropic', shape: [6, 9, 7], spacing: [2.5, 0.8, 1.3], seed: 5 },
  { name: '3-D 3x12x10 thin slab', shape: [3, 12, 10], spacing: [4, 1, 1], seed: 6 },
] as const;

describe('surfaceDistance against all pairs of boundary voxels', () => {
  for (const c of CASES) {
    for (const density of [0.25, 0.5]) {
      it(`${c.name}, density ${density}`, () => {
        const a = randomBlobMask(c.shape, c.seed * 10 + density * 4, density);
        const b = randomBlobMask(c.shape, c.seed * 10 + density * 4 + 1, density);
        const got = surfaceDistance(a, b, c.shape, c.spacing);
        const want = bruteForce(a, b, c.shape, c.spacing);
        expect([got.boundaryA, got.boundaryB], c.name).toEqual([want.na, want.nb]);
        expect(got.hd95, `${c.name} hd95`).toBeCloseTo(want.hd95, 10);
        expect(got.assd, `${c.name} assd`).toBeCloseTo(want.assd, 10);
        expect(got.hd, `${c.name} hd`).toBeCloseTo(want.hd, 10);
      });
    }
  }
});

describe('surfaceDistance against scipy (MedPy\'s hd95)', () => {
  const cases = JSON.parse(readFileSync(join(import.meta.dirname, '../fixtures/surface-distance/expected.json'), 'utf8')) as {
    shape: number[];
    spacing: number[];
    a: number[];
    b: number[];
    hd95: number;
    assd: number;
  }[];
  for (const c of cases) {
    it(`[${c.shape.join(', ')}] spacing [${c.spacing.join(', ')}]`, () => {
      const r = surfaceDistance(c.a, c.b, c.shape, c.spacing);
      expect(r.hd95).toBeCloseTo(c.hd95, 10);
      expect(r.assd).toBeCloseTo(c.assd, 10);
    });
  }
});

describe('surfaceDistance by hand', () => {
  /** An h x w image with the squares [y, y + s) x [x, x + s) set. */
  const square = (h: number, w: number, y: number, x: number, s: number) =>
    Uint8Array.from({ length: h * w }, (_, i) => (Math.floor(i / w) >= y && Math.floor(i / w) < y + s && i % w >= x && i % w < x + s ? 1 : 0));

  it('two squares k pixels apart along x: HD = HD95 = k, every boundary voxel moves k', () => {
    for (const k of [1, 2, 5]) {
      const a = square(20, 24, 4, 3, 6);
      const b = square(20, 24, 4, 3 + k, 6);
      const r = surfaceDistance(a, b, [20, 24]);
      expect(r.hd).toBeCloseTo(k, 12);
      expect(r.hd95).toBeCloseTo(k, 12);
      // The 6x6 boundary has 20 voxels; the 2*(6-k) top/bottom voxels in the overlap sit on the
      // other boundary (0), the left column of A and the right of B are k away, and the rest in between.
      expect(r.boundaryA).toBe(20);
    }
  });

  it('the same offset along x with spacing dx = 0.5 halves the distances; dy leaves them alone', () => {
    const a = square(20, 24, 4, 3, 6);
    const b = square(20, 24, 4, 6, 6);
    expect(surfaceDistance(a, b, [20, 24], [3, 0.5]).hd).toBeCloseTo(1.5, 12);
  });

  it('HD95 interpolates linearly (numpy), and ASSD is the mean of the union', () => {
    // One row: A = {0}, B = {0, 3}. Every foreground pixel is boundary (the outside is background).
    // Union of d(A->B) = [0] and d(B->A) = [0, 3] is [0, 0, 3]: position 0.95 * 2 = 1.9 gives 2.7.
    const r = surfaceDistance([1, 0, 0, 0], [1, 0, 0, 1], [1, 4]);
    expect(r.hd95).toBeCloseTo(2.7, 12);
    expect(r.assd).toBeCloseTo(1, 12);
    expect(percentileSorted([0, 0, 3], 0.95)).toBeCloseTo(2.7, 12);
  });

  it('boundary in 3-D uses the 6-neighbourhood: a 3x3x3 cube has 26 boundary voxels, a 3x3 square 8', () => {
    const cube = new Uint8Array(5 * 5 * 5);
    for (let z = 1; z < 4; z++) for (let y = 1; y < 4; y++) for (let x = 1; x < 4; x++) cube[(z * 5 + y) * 5 + x] = 1;
    expect(surfaceDistance(cube, cube, [5, 5, 5]).boundaryA).toBe(26);
    expect(surfaceDistance(square(5, 5, 1, 1, 3), square(5, 5, 1, 1, 3), [5, 5]).boundaryA).toBe(8);
    // A diagonal-only neighbour does not make a voxel inner: the centre of a plus has four face neighbours.
    const plus = [0, 1, 0, 1, 1, 1, 0, 1, 0];
    expect(surfaceDistance(plus, plus, [3, 3]).boundaryA).toBe(4);
  });

  it('slices stacked in 3-D: a lesion shifted by one slice with dz = 3 is 3 away', () => {
    const vol = (z: number) => {
      const m = new Uint8Array(4 * 6 * 6);
      m.set(square(6, 6, 1, 1, 4), z * 36);
      return m;
    };
    const r = surfaceDistance(vol(1), vol(2), [4, 6, 6], [3, 1, 1]);
    // Each single-slice lesion is all boundary, and each voxel has its twin one slice away.
    expect(r.hd).toBeCloseTo(3, 12);
    expect(r.assd).toBeCloseTo(3, 12);
  });

  it('empty masks: both empty is NaN, one empty is Infinity, and say which', () => {
    const empty = new Uint8Array(16);
    const some = square(4, 4, 1, 1, 2);
    expect(surfaceDistance(empty, empty, [4, 4])).toMatchObject({ hd95: NaN, assd: NaN, empty: 'both' });
    expect(surfaceDistance(some, empty, [4, 4])).toMatchObject({ hd95: Infinity, assd: Infinity, empty: 'one' });
    expect(surfaceDistance(empty, some, [4, 4]).empty).toBe('one');
  });

  it('rejects masks that do not match the shape, and bad spacing', () => {
    expect(() => surfaceDistance([1, 0, 0], [1, 0, 0, 0], [2, 2])).toThrow(ShapeError);
    expect(() => surfaceDistance([1, 0, 0, 0], [1, 0, 0, 0], [4])).toThrow(ShapeError);
    expect(() => surfaceDistance([1, 0, 0, 0], [1, 0, 0, 0], [2, 2], [1, 0])).toThrow(ArgumentError);
    expect(() => surfaceDistance([1, 0, 0, 0], [1, 0, 0, 0], [2, 2], [1, 1, 1])).toThrow(ArgumentError);
  });
});
