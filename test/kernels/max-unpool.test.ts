// maxPool2dWithIndices and maxUnpool2d (src/kernels/max-unpool.ts) against the float64 references
// (src/reference/pool.ts): values and indices are selections and placements, never arithmetic, so
// the GPU must equal the reference exactly; the reference backward against finite differences;
// duplicate and invalid indices; PyTorch's output sizes; chunks past the binding limit.

import { afterEach, describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { ArgumentError } from '../../src/errors.js';
import { runtime } from '../../src/gpu/runtime.js';
import { maxPool2dWithIndices, maxUnpool2d, unpoolGeometry, type MaxUnpool2dOptions } from '../../src/kernels/max-unpool.js';
import { nd } from '../../src/reference/array.js';
import { maxPool2dBackwardRef, maxPool2dIndicesRef, maxPool2dRef, maxUnpool2dBackwardRef, maxUnpool2dRef, type PoolRefOptions } from '../../src/reference/pool.js';
import { expectClose } from '../helpers/close.js';
import { checkGrad } from '../helpers/finite-diff.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { rng, uniform } from '../helpers/rng.js';

useGpu();
afterEach(() => runtime().setBindingLimit(null));

const size = (shape: readonly number[]): number => shape.reduce((p, d) => p * d, 1);
/** Small integers: windows tie often, so the first-winner rule is exercised. */
const ties = (n: number, seed: number): Float64Array => {
  const r = rng(seed);
  return Float64Array.from({ length: n }, () => Math.floor(r() * 4));
};
const same = (got: ArrayLike<number>, want: ArrayLike<number>, what: string) => expect(Array.from(got), what).toEqual(Array.from(want));

const POOLS: { name: string; shape: number[]; opts: PoolRefOptions & dn.Pool2dOptions }[] = [
  { name: '2x2 stride 2, odd sides', shape: [2, 7, 9, 3], opts: { size: 2, stride: 2 } },
  { name: '3x3 stride 2 padding 1 ceilMode (overlapping)', shape: [2, 9, 8, 5], opts: { size: 3, stride: 2, padding: 1, ceilMode: true } },
  { name: "TF's 'same', 4 channels (vec4)", shape: [1, 5, 6, 4], opts: { size: 2, stride: 2, padding: 'same' } },
];

describe('maxPool2dWithIndices', () => {
  for (const p of POOLS) {
    it(`${p.name}: y, PyTorch's indices and y's gradient match CPU`, async () => {
      const xd = ties(size(p.shape), 3);
      const x = fromNd(xd, p.shape, true);
      const { y, indices } = maxPool2dWithIndices(x, p.opts);
      same(await y.toArray(), maxPool2dRef(nd(xd, p.shape), p.opts).data, 'y');
      same(await indices.toArray(), maxPool2dIndicesRef(nd(xd, p.shape), p.opts).data, 'indices');
      expect(indices.requiresGrad).toBe(false);
      const dyd = uniform(y.size, 4);
      const dy = fromNd(dyd, [...y.shape]);
      y.backward(dy);
      // A pixel winning overlapping windows sums their dy: float32 against float64.
      expectClose('dx', await x.grad!.toArray(), maxPool2dBackwardRef(nd(xd, p.shape), nd(dyd, [...y.shape]), p.opts).data);
      for (const t of [x, y, indices, dy]) t.dispose();
    });
  }
});

/** GPU unpool of x by `indices` and its gradient against the reference. */
async function checkUnpool(xd: Float64Array, id: Float64Array, shape: number[], opts: MaxUnpool2dOptions, seed = 5): Promise<void> {
  const g = unpoolGeometry(shape, opts);
  const x = fromNd(xd, shape, true);
  const indices = fromNd(id, shape);
  const y = maxUnpool2d(x, indices, opts);
  expect(y.shape).toEqual([g.n, g.outH, g.outW, g.c]);
  same(await y.toArray(), Float32Array.from(maxUnpool2dRef(nd(xd, shape), nd(id, shape), g.outH, g.outW).data), 'y');
  const dyd = uniform(y.size, seed);
  const dy = fromNd(dyd, [...y.shape]);
  y.backward(dy);
  const want = maxUnpool2dBackwardRef(nd(id, shape), nd(dyd, [...y.shape]), g.outH, g.outW);
  same(await x.grad!.toArray(), Float32Array.from(want.data), 'dx');
  for (const t of [x, indices, y, dy]) t.dispose();
}

describe('maxUnpool2d', () => {
  it("undoes a 2x2 pool: each value back at its winner's place, zeros elsewhere; outputSize picks the odd side", async () => {
    const shape = [2, 7, 9, 3];
    const xd = ties(size(shape), 6);
    const x = fromNd(xd, shape);
    const { y, indices } = maxPool2dWithIndices(x, { size: 2, stride: 2 });
    const pooled = [...y.shape];
    const [yd, id] = [Float64Array.from(await y.toArray()), Float64Array.from(await indices.toArray())];
    // Without outputSize, 3x4 unpools to 6x8; with it, to the 7x9 it came from.
    expect(unpoolGeometry(pooled, { size: 2 })).toMatchObject({ outH: 6, outW: 8 });
    await checkUnpool(yd, id, pooled, { size: 2, outputSize: [7, 9] });
    // Every winner is back where it was: unpool(pool(x)) equals x at the winners.
    const up = maxUnpool2d(y, indices, { size: 2, outputSize: [7, 9] });
    const back = await up.toArray();
    const kept = maxUnpool2dRef(nd(yd, pooled), nd(id, pooled), 7, 9).data;
    kept.forEach((v, i) => expect(back[i]).toBe(v));
    for (let i = 0; i < back.length; i++) if (back[i] !== 0) expect(back[i]).toBe(xd[i]);
    for (const t of [x, y, indices, up]) t.dispose();
  });

  it('several inputs at one place: the last in NHWC order wins and alone gets the gradient', async () => {
    // Overlapping 3x3 stride-2 windows share their border pixels' maxima.
    const shape = [2, 9, 8, 5];
    const xd = ties(size(shape), 8);
    const x = fromNd(xd, shape);
    const opts = { size: 3, stride: 2, padding: 1 } as const;
    const { y, indices } = maxPool2dWithIndices(x, opts);
    const pooled = [...y.shape];
    const id = Float64Array.from(await indices.toArray());
    const places = new Set<string>();
    let shared = 0;
    id.forEach((k, i) => {
      const key = `${Math.floor(i / (pooled[1] * pooled[2] * pooled[3]))},${k},${i % pooled[3]}`;
      if (places.has(key)) shared++;
      places.add(key);
    });
    expect(shared, 'the data has shared winners').toBeGreaterThan(0);
    await checkUnpool(uniform(size(pooled), 9), id, pooled, { ...opts, outputSize: [9, 8] });
    for (const t of [x, y, indices]) t.dispose();
  });

  it('indices that are not whole numbers in the plane place nothing and get no gradient (by hand)', async () => {
    // A 2x2 input of 2 channels into a 2x2 plane (size 1). Channel 0's indices 3, NaN, -1, 1: only
    // x = 1 (to place 3) and x = 7 (to place 1) land. Channel 1's 0, 2.5, 4, 0: x = 2 and x = 8
    // both at place 0, where the later, 8, stays; 2.5 and 4 (past the plane's 4 places) land nowhere.
    const shape = [1, 2, 2, 2];
    const xd = Float64Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
    const id = Float64Array.from([3, 0, NaN, 2.5, -1, 4, 1, 0]);
    const opts: MaxUnpool2dOptions = { size: 1, stride: 1 };
    await checkUnpool(xd, id, shape, opts);
    const x = fromNd(xd, shape, true);
    const indices = fromNd(id, shape);
    const y = maxUnpool2d(x, indices, opts);
    same(await y.toArray(), [0, 8, 7, 0, 0, 0, 1, 0], 'y by hand');
    const total = dn.sum(y);
    total.backward();
    same(await x.grad!.toArray(), [1, 0, 0, 0, 0, 0, 1, 1], 'dx by hand');
    for (const t of [x, indices, y, total]) t.dispose();
  });

  it('the reference gradient matches finite differences (float64)', () => {
    const shape = [2, 3, 4, 3];
    const r = rng(11);
    const id = Float64Array.from({ length: size(shape) }, () => Math.floor(r() * 5 * 6));
    const xd = uniform(size(shape), 12);
    const dy = uniform(2 * 5 * 6 * 3, 13);
    const analytic = maxUnpool2dBackwardRef(nd(id, shape), nd(dy, [2, 5, 6, 3]), 5, 6);
    checkGrad('maxUnpool2d', (v) => maxUnpool2dRef(nd(v, shape), nd(id, shape), 5, 6), xd, dy, analytic.data);
  });

  it('past the binding limit: chunks of samples, staged where misaligned, match the whole', async () => {
    const shape = [6, 5, 7, 3];
    const xd = ties(size(shape), 14);
    const id = Float64Array.from(ties(size(shape), 15).map((v, i) => (v * 7 + i) % 99));
    const opts: MaxUnpool2dOptions = { size: 2, stride: 2 };
    const run = async () => {
      const x = fromNd(xd, shape, true);
      const indices = fromNd(id, shape);
      const y = maxUnpool2d(x, indices, opts);
      const dy = fromNd(uniform(y.size, 16), [...y.shape]);
      y.backward(dy);
      const out = [await y.toArray(), await x.grad!.toArray()];
      for (const t of [x, indices, y, dy]) t.dispose();
      return out;
    };
    const whole = await run();
    const before = runtime().dispatchCount;
    runtime().setBindingLimit(2400); // one sample's output is 10x14x3 floats = 1680 bytes
    const split = await run();
    runtime().setBindingLimit(null);
    expect(runtime().dispatchCount - before, 'more dispatches').toBeGreaterThan(6);
    split.forEach((t, i) => same(t, whole[i], `output ${i}`));
    await checkUnpool(xd, id, shape, opts);
  });

  it("checks its arguments as PyTorch's _unpool_output_size does, naming the option", () => {
    const x = dn.zeros([1, 3, 4, 2]);
    const idx = dn.zeros([1, 3, 4, 2]);
    expect(unpoolGeometry([1, 3, 4, 2], { size: 2 })).toMatchObject({ outH: 6, outW: 8 });
    expect(unpoolGeometry([1, 3, 4, 2], { size: 3, stride: 2, padding: 1 })).toMatchObject({ outH: 5, outW: 7 });
    // Within a stride of the default: 5 and 7 are, 4 and 9 are not.
    expect(unpoolGeometry([1, 3, 4, 2], { size: 2, outputSize: [7, 9] })).toMatchObject({ outH: 7, outW: 9 });
    // The pooled input's whole shape, as PyTorch takes a whole size; N and C must be x's.
    expect(unpoolGeometry([1, 3, 4, 2], { size: 2, outputSize: [1, 7, 9, 2] })).toMatchObject({ outH: 7, outW: 9 });
    expect(() => unpoolGeometry([1, 3, 4, 2], { size: 2, outputSize: [1, 7, 9, 3] })).toThrow(/outputSize \[1,7,9,3\] has another batch or channel count than x \[1,3,4,2\]/);
    expect(() => maxUnpool2d(x, idx, { size: 2, outputSize: [8, 8] })).toThrow(/outputSize \[8, 8\] is not one a pool of size \[2, 2\], stride \[2, 2\] and padding \[0, 0\] takes to 3x4/);
    expect(() => maxUnpool2d(x, idx, { size: 2, dilation: 2 } as MaxUnpool2dOptions)).toThrow(ArgumentError);
    expect(() => maxUnpool2d(x, idx, { size: 0 })).toThrow(/maxUnpool2d: size must be a whole number >= 1/);
    const [narrow, flat] = [dn.zeros([1, 3, 4, 1]), dn.zeros([3, 4, 2])];
    expect(() => maxUnpool2d(x, narrow, { size: 2 })).toThrow(/indices \S+ \[1,3,4,1\] must have x's shape \[1,3,4,2\]/);
    expect(() => maxUnpool2d(flat, idx, { size: 2 })).toThrow(/maxUnpool2d: x must be NHWC/);
    for (const t of [x, idx, narrow, flat]) t.dispose();
  });
});
