// transpose's reduced paths (kernels/transpose.ts) against the float64 reference: every permutation
// of ranks 2-5 on shapes with size-1 axes and sizes that are and are not multiples of 4, forward
// and backward (exact: a transpose copies), and which kernel each kind of permutation runs: none
// for one that only moves size-1 axes (a view), the 4x4 block kernel, the vec4 row copy, the scalar
// gather at the reduced rank.

import { afterEach, describe, expect, it, vi } from 'vitest';
import { runtime, type KernelSpec } from '../../src/gpu/runtime.js';
import { transpose, transposeAxes } from '../../src/kernels/transpose.js';
import { nd } from '../../src/reference/array.js';
import { transposeRef } from '../../src/reference/transpose.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

function permutations(n: number): number[][] {
  if (n === 1) return [[0]];
  return permutations(n - 1).flatMap((p) => Array.from({ length: n }, (_, k) => [...p.slice(0, k), n - 1, ...p.slice(k)]));
}

const SHAPES = [[4, 8], [3, 5], [1, 6], [4, 1, 8], [2, 3, 5], [2, 1, 4, 4], [1, 3, 1, 5], [8, 4, 1, 3], [2, 1, 4, 3, 4], [4, 1, 2, 1, 8]] as const;
const size = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

/** Kernels dispatched while fn runs, as 'name|key'. */
function kernelsOf(fn: () => void): string[] {
  const spy = vi.spyOn(runtime(), 'dispatch');
  try {
    fn();
    return spy.mock.calls.map(([spec]) => `${(spec as KernelSpec).name}|${(spec as KernelSpec).key}`);
  } finally {
    spy.mockRestore();
  }
}

afterEach(() => vi.restoreAllMocks());

describe('transpose: every permutation of ranks 2-5', () => {
  for (const shape of SHAPES) {
    it(`${JSON.stringify(shape)}: forward and backward match the reference for all ${permutations(shape.length).length} perms`, async () => {
      const x = nd(uniform(size(shape), 91), [...shape]);
      const xt = fromNd(x.data, [...shape], true);
      for (const p of permutations(shape.length)) {
        const want = transposeRef(x, p);
        const y = transpose(xt, p);
        expect(y.shape, `perm ${p}`).toEqual(want.shape);
        expect(Array.from(await y.toArray()), `forward, perm ${p}`).toEqual(Array.from(Float32Array.from(want.data)));
        const dy = nd(uniform(want.data.length, 92), want.shape);
        const dyt = fromNd(dy.data, want.shape);
        y.backward(dyt);
        const inverse = p.map((_, d) => p.indexOf(d));
        expect(Array.from(await xt.grad!.toArray()), `backward, perm ${p}`).toEqual(Array.from(Float32Array.from(transposeRef(dy, inverse).data)));
        xt.zeroGrad();
        y.dispose();
        dyt.dispose();
      }
      xt.dispose();
    });
  }
});

describe('transpose: the reduced path each permutation takes', () => {
  const CASES = [
    { shape: [2, 3, 4], perm: [0, 1, 2], kernels: [] },
    { shape: [1, 64, 1, 8], perm: [2, 1, 0, 3], kernels: [] },
    { shape: [5, 1, 7], perm: [1, 0, 2], kernels: [] },
    { shape: [2, 8, 8, 4], perm: [0, 3, 1, 2], kernels: ['transpose.block4|r3'] },
    { shape: [8, 12], perm: [1, 0], kernels: ['transpose.block4|r2'] },
    { shape: [3, 2, 2, 8], perm: [1, 0, 2, 3], kernels: ['transpose|r3w4'] },
    { shape: [2, 3, 5], perm: [0, 2, 1], kernels: ['transpose|r3w1'] },
    { shape: [2, 3, 5, 7], perm: [3, 1, 0, 2], kernels: ['transpose|r4w1'] },
  ] as const;
  for (const cs of CASES) {
    it(`${JSON.stringify(cs.shape)} by ${JSON.stringify(cs.perm)} runs ${cs.kernels.length ? cs.kernels.join(', ') : 'no kernel (a view)'}, and so does its backward`, async () => {
      const x = nd(uniform(size(cs.shape), 93), [...cs.shape]);
      const xt = fromNd(x.data, [...cs.shape], true);
      let y = xt;
      expect(kernelsOf(() => (y = transpose(xt, [...cs.perm])))).toEqual(cs.kernels);
      expect(Array.from(await y.toArray())).toEqual(Array.from(Float32Array.from(transposeRef(x, [...cs.perm]).data)));
      const dyt = fromNd(uniform(y.size, 94), [...y.shape]);
      // Each inverse permutation here reduces to the same kind of path as its forward.
      expect(kernelsOf(() => y.backward(dyt)).filter((k) => k.startsWith('transpose'))).toEqual(cs.kernels);
      for (const t of [xt, y, dyt]) t.dispose();
    });
  }

  it('merges output axes that are neighbours in x and drops size-1 axes', () => {
    expect(transposeAxes([8, 128, 128, 32], [0, 3, 1, 2])).toEqual([
      { size: 8, stride: 524288 },
      { size: 32, stride: 1 },
      { size: 16384, stride: 32 },
    ]);
    expect(transposeAxes([8, 128, 128, 32], [1, 0, 2, 3])).toEqual([
      { size: 128, stride: 4096 },
      { size: 8, stride: 524288 },
      { size: 4096, stride: 1 },
    ]);
    expect(transposeAxes([1, 4096, 1, 1024], [2, 1, 0, 3])).toEqual([]);
  });
});
