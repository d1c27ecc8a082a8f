// split's and unstack's gradient through their one multi-output tape node (kernels/concat.ts)
// against the float64 reference: all parts used, some, one, none but a later op's, a retained graph
// run twice, and the cost that makes it linear: one slab copy per used part, one zeroing per run of
// unused parts, and no full-size add of the parts' gradients.

import { describe, expect, it, vi } from 'vitest';
import * as dn from '../../src/index.js';
import { runtime, type KernelSpec } from '../../src/gpu/runtime.js';
import { split } from '../../src/kernels/concat.js';
import { unstack } from '../../src/kernels/stack.js';
import { nd, ndZeros } from '../../src/reference/array.js';
import { splitBackwardRef, splitRef } from '../../src/reference/concat.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

const size = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

const CASES = [
  { shape: [3, 4, 5], sizes: [1, 2, 2], axis: 2, used: [0, 1, 2] },
  { shape: [3, 4, 5], sizes: [1, 2, 2], axis: 2, used: [1] },
  { shape: [3, 4, 5], sizes: [1, 2, 2], axis: -1, used: [0, 2] },
  { shape: [6, 2, 3], sizes: [1, 1, 1, 1, 1, 1], axis: 0, used: [0, 1, 2, 3, 4, 5] },
  { shape: [6, 2, 3], sizes: [2, 0, 4], axis: 0, used: [2] },
  { shape: [2, 7, 3, 2], sizes: [3, 1, 3], axis: 1, used: [0, 2] },
  { shape: [2, 7, 3, 2], sizes: [7], axis: 1, used: [0] },
] as const;

/** Kernel names dispatched while fn runs (in a scope, which frees the loss's intermediates). */
function kernelsOf(fn: () => void): string[] {
  const spy = vi.spyOn(runtime(), 'dispatch');
  try {
    dn.scope(fn);
    return spy.mock.calls.map(([spec]) => (spec as KernelSpec).name);
  } finally {
    spy.mockRestore();
  }
}

describe('split: the gradient of x from any subset of the parts', () => {
  for (const cs of CASES) {
    it(`${JSON.stringify(cs.shape)} into ${JSON.stringify(cs.sizes)} on axis ${cs.axis}, parts ${JSON.stringify(cs.used)} used`, async () => {
      const x = nd(uniform(size(cs.shape), 61), [...cs.shape]);
      const xt = fromNd(x.data, [...cs.shape], true);
      const parts = split(xt, [...cs.sizes], cs.axis);
      const want = splitRef(x, [...cs.sizes], cs.axis);
      for (let i = 0; i < parts.length; i++) expect(Array.from(await parts[i].toArray())).toEqual(Array.from(Float32Array.from(want[i].data)));
      const dys = want.map((p, i) => ((cs.used as readonly number[]).includes(i) ? nd(uniform(p.data.length, 62 + i), p.shape) : ndZeros(p.shape)));
      const rs = dys.map((d) => fromNd(d.data, d.shape));
      const names = kernelsOf(() => {
        const terms = (cs.used as readonly number[]).map((i) => dn.sum(dn.mul(parts[i], rs[i])));
        terms.reduce((a, b) => dn.add(a, b)).backward();
      });
      expect(Array.from(await xt.grad!.toArray())).toEqual(Array.from(Float32Array.from(splitBackwardRef(dys, cs.axis).data)));
      // One slab copy per used part; the add.forward calls are the loss's scalar sums, none x-sized.
      expect(names.filter((n) => n === 'split.backward').length).toBe(cs.used.length);
      expect(names.filter((n) => n === 'add.forward').length).toBeLessThanOrEqual(cs.used.length - 1);
      for (const t of [xt, ...parts, ...rs]) t.dispose();
    });
  }

  it('all 100 parts of an unstack: the backward writes x once, with no add of full-size gradients', async () => {
    const shape = [100, 3, 2];
    const x = nd(uniform(size(shape), 63), shape);
    const xt = fromNd(x.data, shape, true);
    const parts = unstack(xt, 0);
    const names = kernelsOf(() => dn.sum(dn.stack(parts.map((p) => dn.mul(p, 2)), 0)).backward());
    expect(names.filter((n) => n === 'split.backward').length).toBe(100);
    expect(names.filter((n) => n === 'split.zero').length).toBe(0);
    expect(names.filter((n) => n.startsWith('add')).length).toBe(0);
    expect(Array.from(await xt.grad!.toArray())).toEqual(new Array(x.data.length).fill(2));
    for (const t of [xt, ...parts]) t.dispose();
  });

  it('a retained graph gives the same gradient on a second backward (the shared gradient is reset)', async () => {
    const xt = fromNd(uniform(24, 64), [2, 3, 4], true);
    const [a, b] = split(xt, [1, 3], -1);
    const loss = dn.scope(() => dn.add(dn.sum(dn.mul(a, 3)), dn.sum(b)));
    loss.backward({ retainGraph: true });
    const first = Array.from(await xt.grad!.toArray());
    xt.zeroGrad();
    loss.backward();
    expect(Array.from(await xt.grad!.toArray())).toEqual(first);
    expect(first.slice(0, 4)).toEqual([3, 1, 1, 1]);
    for (const t of [xt, a, b, loss]) t.dispose();
  });

  it('frees what it allocates', async () => {
    const xt = fromNd(uniform(60, 65), [3, 4, 5], true);
    const before = dn.memory().bytesInUse;
    dn.scope(() => {
      const parts = split(xt, [2, 3], 2);
      dn.sum(parts[1]).backward();
    });
    xt.zeroGrad();
    expect(dn.memory().bytesInUse).toBe(before);
    xt.dispose();
  });

  it('each part backpropagated on its own (an unstack loop) sums into x: split saves nothing a pass frees', async () => {
    const xt = fromNd([1, 2, 3, 4, 5, 6], [3, 2], true);
    dn.scope(() => {
      const rows = unstack(xt, 0);
      // loss_i = sum(row_i * (i + 1)): x's gradient is row i's weight on each of its values.
      rows.forEach((r, i) => dn.sum(dn.scale(r, i + 1)).backward());
    });
    expect([...(await xt.grad!.toArray())]).toEqual([1, 1, 2, 2, 3, 3]);
    // The same part twice, as the single-output parts allowed before.
    xt.zeroGrad();
    dn.scope(() => {
      const [a] = split(xt, [1, 1], 1);
      dn.sum(a).backward();
      dn.sum(a).backward();
    });
    expect([...(await xt.grad!.toArray())]).toEqual([2, 0, 2, 0, 2, 0]);
    xt.zeroGrad();
    xt.dispose();
  });
});
