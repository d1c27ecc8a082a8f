// topk (src/kernels/topk.ts) against its reference (src/reference/topk.ts): values and indices
// exactly (a pick copies a float), for top-5 of 1000 classes, a full sort and k = 0; the order on
// ties, NaN, ±0 and ±inf; the gradient by gradcheck against the reference's finite differences
// (distinct values, so no pick changes under a step); the split past the binding limit; errors.

import { afterEach, describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { runtime } from '../../src/gpu/runtime.js';
import { topk, topkWay, withTopkWay } from '../../src/kernels/topk.js';
import { nd } from '../../src/reference/array.js';
import { topkRef } from '../../src/reference/topk.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

afterEach(() => runtime().setBindingLimit(null));

describe('topk', () => {
  for (const [shape, k] of [[[5, 1000], 5], [[3, 4, 7], 7], [[9], 3], [[2, 6], 0]] as [number[], number][]) {
    it(`${JSON.stringify(shape)} k ${k}: values and indices as the reference picks them`, async () => {
      const data = uniform(shape.reduce((p, d) => p * d, 1), 100 + k);
      const x = fromNd(data, shape);
      const { values, indices } = topk(x, k);
      const want = topkRef(nd(data, shape), k);
      expect(values.shape).toEqual(want.values.shape);
      expect(Array.from(await values.toArray())).toEqual(Array.from(Float32Array.from(want.values.data)));
      expect(Array.from(await indices.toArray())).toEqual(Array.from(want.indices.data));
      for (const t of [x, values, indices]) t.dispose();
    });
  }

  it('puts NaN first, then the numbers largest first, ties (and -0 with +0) by index', async () => {
    const row = [1, NaN, 3, 3, -Infinity, Infinity, -0, 0, NaN];
    const x = dn.tensor(row);
    const { values, indices } = topk(x, 9);
    expect(Array.from(await indices.toArray())).toEqual([1, 8, 5, 2, 3, 0, 6, 7, 4]);
    const v = Array.from(await values.toArray());
    expect(v.slice(0, 2).every(Number.isNaN)).toBe(true);
    expect(v.slice(2)).toEqual([Infinity, 3, 3, 1, -0, 0, -Infinity]);
    expect(Array.from(topkRef(nd(row, [9]), 9).indices.data)).toEqual([1, 8, 5, 2, 3, 0, 6, 7, 4]);
    for (const t of [x, values, indices]) t.dispose();
  });

  it('passes the gradient of each pick back to where it came from (gradcheck against the reference)', async () => {
    const x = fromNd(uniform(4 * 12, 110), [4, 12], true);
    const reference = (v: Float64Array) => topkRef(nd(v, [4, 12]), 5).values.data;
    const report = await dn.gradcheck((t: dn.Tensor) => {
      const { values, indices } = topk(t, 5);
      indices.dispose();
      return values;
    }, [x], { reference, elements: Infinity });
    expect(report.ok).toBe(true);
    expect(report.inputs[0].checked).toBe(48);
    x.dispose();
  });

  it('splits rows past the binding limit, to the same picks and gradient', async () => {
    const data = uniform(10 * 50, 111);
    const run = async () => {
      const x = fromNd(data, [10, 50], true);
      const { values, indices } = topk(x, 4);
      const dy = fromNd(uniform(40, 112), [10, 4]);
      values.backward(dy);
      const out = [await values.toArray(), await indices.toArray(), await x.grad!.toArray()].map((a) => Array.from(a));
      for (const t of [x, values, indices, dy]) t.dispose();
      return out;
    };
    const whole = await run();
    // Three rows of x (3·50 floats) fit a binding: four chunks.
    runtime().setBindingLimit(3 * 50 * 4);
    expect(await run()).toEqual(whole);
  });

  it('picks the same by sorting as by passes: values, indices and gradient, bit for bit', async () => {
    // Integer data: ties, which both must break to the lower index.
    const data = Array.from(uniform(6 * 300, 113), (v) => Math.floor(v * 20));
    data[7] = NaN;
    for (const k of [1, 17, 300]) {
      const results = [];
      for (const way of ['passes', 'sort'] as const) {
        const x = fromNd(data, [6, 300], true);
        const { values, indices } = withTopkWay(way, () => topk(x, k));
        const dy = fromNd(uniform(6 * k, 114), [6, k]);
        values.backward(dy);
        results.push([await values.toArray(), await indices.toArray(), await x.grad!.toArray()].map((a) => Array.from(a)));
        for (const t of [x, values, indices, dy]) t.dispose();
      }
      expect(results[1]).toEqual(results[0]);
    }
    const want = topkRef(nd(Float32Array.from(data), [6, 300]), 300);
    const x = fromNd(data, [6, 300]);
    const { values, indices } = withTopkWay('sort', () => topk(x, 300));
    expect(Array.from(await indices.toArray())).toEqual(Array.from(want.indices.data));
    for (const t of [x, values, indices]) t.dispose();
  });

  it('sorts where k passes over a row would read more than a sort', () => {
    expect(topkWay(1000, 5)).toBe('passes');
    expect(topkWay(1000, 1000)).toBe('sort');
    expect(topkWay(65536, 10)).toBe('passes');
  });

  it('refuses k past the axis, a k that is not a count, and a scalar, allocating nothing', () => {
    const x = dn.zeros([3, 4]);
    const scalar = dn.tensor([1], []);
    const before = dn.memory().bytesInUse;
    expect(() => topk(x, 5)).toThrow('topk: k is 5, more than the 4 values of the last axis of');
    expect(() => topk(x, -1)).toThrow(dn.ArgumentError);
    expect(() => topk(x, 1.5)).toThrow(/^topk: k must be/);
    expect(() => topk(scalar, 1)).toThrow(/^topk: x .* has no last axis/);
    expect(dn.memory().bytesInUse).toBe(before);
    for (const t of [x, scalar]) t.dispose();
  });
});
