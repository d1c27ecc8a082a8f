// sort and argsort (src/kernels/sort.ts, the merge passes of src/kernels/sort-merge.ts) against
// the reference (src/reference/sort.ts): values and indices exactly (a sort copies floats), for
// rows of 1 to 3000 (powers of two and not: a last run short or alone), many rows, one long row;
// ties kept in index order (integer data, and a row of NaN, ±0 and ±inf); other axes; the gradient by gradcheck against the reference's finite differences (distinct
// values, so a step moves no value past another); the split past the binding limit; errors.

import { afterEach, describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { runtime } from '../../src/gpu/runtime.js';
import { sort, VALUE_KEYS } from '../../src/kernels/sort.js';
import { mergePasses, sortRows } from '../../src/kernels/sort-merge.js';
import { nd } from '../../src/reference/array.js';
import { sortRef } from '../../src/reference/sort.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

afterEach(() => runtime().setBindingLimit(null));

const size = (shape: number[]) => shape.reduce((p, d) => p * d, 1);

/** x's sort on the GPU against the reference's, values (as float32) and indices exactly. */
async function expectSorted(data: ArrayLike<number>, shape: number[], axis: number, descending: boolean): Promise<void> {
  const x = fromNd(data, shape);
  const { values, indices } = sort(x, axis, { descending });
  // The reference sorts the float32 values the GPU holds: two float64s may round to one float32.
  const want = sortRef(nd(Float32Array.from(data), shape), axis < 0 ? axis + shape.length : axis, descending);
  expect(values.shape).toEqual(shape);
  expect(Array.from(await indices.toArray())).toEqual(Array.from(want.indices.data));
  expect(Array.from(await values.toArray())).toEqual(Array.from(Float32Array.from(want.values.data)));
  for (const t of [x, values, indices]) t.dispose();
}

describe('sort', () => {
  // Rows of 512 merge whole runs; 3, 7, 1000 and 3000 end in a short run or one with no partner.
  const shapes: number[][] = [[9], [4, 1], [3, 7], [700, 3], [2, 512], [5, 1000], [2, 3000]];
  for (const shape of shapes) {
    for (const descending of [false, true]) {
      it(`${JSON.stringify(shape)} ${descending ? 'descending' : 'ascending'}: as the reference orders it`, async () => {
        await expectSorted(uniform(size(shape), shape.length * 31 + shape[0]), shape, -1, descending);
      });
    }
  }

  it('keeps equal values in index order, both ways (integer data: many ties)', async () => {
    const shape = [6, 700];
    const data = Array.from(uniform(size(shape), 7), (v) => Math.floor(v * 4));
    await expectSorted(data, shape, -1, false);
    await expectSorted(data, shape, -1, true);
  });

  it('one long row (2^17 values: 17 merge passes)', async () => {
    await expectSorted(uniform(2 ** 17, 8), [2 ** 17], 0, false);
  });

  it('puts NaN last ascending and first descending, -0 with +0 and ties by index', async () => {
    const row = [1, NaN, 3, 3, -Infinity, Infinity, -0, 0, NaN];
    const x = dn.tensor(row);
    const up = sort(x);
    const down = sort(x, -1, { descending: true });
    expect(Array.from(await up.indices.toArray())).toEqual([4, 6, 7, 0, 2, 3, 5, 1, 8]);
    expect(Array.from(await down.indices.toArray())).toEqual([1, 8, 5, 2, 3, 0, 6, 7, 4]);
    const v = Array.from(await up.values.toArray());
    expect(v.slice(0, 7)).toEqual([-Infinity, -0, 0, 1, 3, 3, Infinity]);
    expect(v.slice(7).every(Number.isNaN)).toBe(true);
    expect(Array.from(sortRef(nd(row, [9]), 0).indices.data)).toEqual([4, 6, 7, 0, 2, 3, 5, 1, 8]);
    expect(Array.from(sortRef(nd(row, [9]), 0, true).indices.data)).toEqual([1, 8, 5, 2, 3, 0, 6, 7, 4]);
    for (const t of [x, up.values, up.indices, down.values, down.indices]) t.dispose();
  });

  it('sorts along any axis', async () => {
    const shape = [4, 6, 5];
    const data = uniform(size(shape), 9);
    await expectSorted(data, shape, 0, false);
    await expectSorted(data, shape, 1, true);
    await expectSorted(data, shape, -2, false);
  });

  for (const [shape, axis] of [[[4, 12], -1], [[3, 5, 4], 1]] as [number[], number][]) {
    it(`${JSON.stringify(shape)} axis ${axis}: passes each value's gradient back to where it came from (gradcheck)`, async () => {
      const x = fromNd(uniform(size(shape), 10 + axis), shape, true);
      const ax = axis < 0 ? axis + shape.length : axis;
      const report = await dn.gradcheck((t: dn.Tensor) => {
        const { values, indices } = sort(t, axis, { descending: axis > 0 });
        indices.dispose();
        return values;
      }, [x], { reference: (v: Float64Array) => sortRef(nd(v, shape), ax, axis > 0).values.data, elements: Infinity });
      expect(report.ok).toBe(true);
      expect(report.inputs[0].checked).toBe(size(shape));
      x.dispose();
    });
  }

  it('splits rows past the binding limit, to the same order and gradient', async () => {
    const data = uniform(40 * 30, 11);
    const run = async () => {
      const x = fromNd(data, [40, 30], true);
      const { values, indices } = sort(x);
      const dy = fromNd(uniform(40 * 30, 12), [40, 30]);
      values.backward(dy);
      const out = [await values.toArray(), await indices.toArray(), await x.grad!.toArray()].map((a) => Array.from(a));
      for (const t of [x, values, indices, dy]) t.dispose();
      return out;
    };
    const whole = await run();
    // A binding of 100 floats holds 3 rows of 30: 14 chunks, the last of one row.
    runtime().setBindingLimit(100 * 4);
    expect(await run()).toEqual(whole);
  });

  it('argsort gives the indices alone, recording nothing', async () => {
    const x = fromNd(uniform(30, 13), [5, 6], true);
    const idx = dn.argsort(x, 0, { descending: true });
    expect(idx.requiresGrad).toBe(false);
    expect(Array.from(await idx.toArray())).toEqual(Array.from(sortRef(nd(await x.toArray(), [5, 6]), 0, true).indices.data));
    for (const t of [x, idx]) t.dispose();
  });

  it('an empty axis or batch gives empty results', async () => {
    for (const shape of [[3, 0], [0, 5]]) {
      const x = dn.zeros(shape);
      const { values, indices } = sort(x);
      expect(values.shape).toEqual(shape);
      expect(indices.shape).toEqual(shape);
      for (const t of [x, values, indices]) t.dispose();
    }
  });

  it('sortRows gives each row its keys in order and their positions, in ⌈log₂c⌉ merge passes', async () => {
    expect([0, 1, 2, 3, 4, 5, 1000, 1024, 1025].map(mergePasses)).toEqual([0, 0, 1, 2, 2, 3, 10, 10, 11]);
    const x = dn.tensor([3, 1, 2, 1, 0, 5, -1, 5, 4, 2], [2, 5]);
    const { keys, order } = sortRows(x, 2, 5, VALUE_KEYS.ascending);
    expect(Array.from(new Uint32Array((await order.toArray()).buffer))).toEqual([4, 1, 3, 2, 0, 1, 4, 3, 0, 2]);
    const k = new Uint32Array((await keys.toArray()).buffer);
    for (const r of [0, 1]) for (let i = 1; i < 5; i++) expect(k[r * 5 + i]).toBeGreaterThanOrEqual(k[r * 5 + i - 1]);
    for (const t of [x, keys, order]) t.dispose();
  });

  it('refuses a scalar, an axis out of range, unknown or mistyped options, allocating nothing', () => {
    const x = dn.zeros([3, 4]);
    const scalar = dn.tensor([1], []);
    const before = dn.memory().bytesInUse;
    expect(() => sort(scalar)).toThrow(/^sort: x .* has no axis to sort along/);
    expect(() => sort(x, 2)).toThrow(dn.ShapeError);
    expect(() => dn.argsort(x, 0.5)).toThrow(/^argsort: axis must be an integer/);
    expect(() => sort(x, -1, { descending: 'yes' } as never)).toThrow(/^sort: descending must be true or false/);
    expect(() => sort(x, -1, { stable: true } as never)).toThrow(dn.ArgumentError);
    expect(dn.memory().bytesInUse).toBe(before);
    for (const t of [x, scalar]) t.dispose();
  });
});
