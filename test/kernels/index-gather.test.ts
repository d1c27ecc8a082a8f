// gather (src/kernels/index-gather.ts) against its float64 reference (a gather whose list on the
// axis is the ids: src/reference/slice.ts): forward exactly, its gradient (each slice summed over
// the times it is picked) against finite differences of the reference and exactly against the
// reference's adjoint, on every axis, in floats and vec4s, with repeated and unordered ids. Then
// what ids a tensor can hold (rounded; outside the axis: NaN, and no gradient), ids of any shape,
// the split past the binding limit, empty cases, and the errors for ids given as numbers.

import { afterEach, describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { runtime } from '../../src/gpu/runtime.js';
import { gather } from '../../src/kernels/index-gather.js';
import { backwardWay, gatherBackward } from '../../src/kernels/index-gather-backward.js';
import type { NdArray } from '../../src/reference/array.js';
import { gatherBackwardRef, gatherRef, indexGatherIndices } from '../../src/reference/slice.js';
import { expectClose } from '../helpers/close.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { checkLinearOp, EXACT, f32Data } from '../helpers/linear-op.js';

useGpu();

afterEach(() => runtime().setBindingLimit(null));

const CASES: { shape: number[]; ids: number[]; axis: number; as: 'tensor' | 'array' }[] = [
  // Rows of an embedding table [V, D], ids repeated and out of order; D = 8 runs in vec4s.
  { shape: [6, 8], ids: [4, 0, 4, 5, 1, 4], axis: 0, as: 'tensor' },
  { shape: [6, 3], ids: [2, 2, 0], axis: 0, as: 'array' },
  // A middle axis (NHWC channels picked from a map) and the last (inner 1).
  { shape: [2, 3, 5, 4], ids: [3, 0, 3], axis: 2, as: 'tensor' },
  { shape: [2, 3, 5], ids: [4, 1, 1, 0, 2, 4, 3], axis: -1, as: 'array' },
  { shape: [3, 7, 2], ids: [6], axis: 1, as: 'tensor' },
];

const ids = (list: number[], as: 'tensor' | 'array') => (as === 'tensor' ? dn.tensor(list, [list.length]) : list);

describe('gather', () => {
  CASES.forEach((cs, k) => {
    const axis = cs.axis < 0 ? cs.axis + cs.shape.length : cs.axis;
    const index = indexGatherIndices(cs.shape, cs.ids, axis);
    const name = `gather ${JSON.stringify(cs.shape)} axis ${cs.axis} ids ${JSON.stringify(cs.ids)} (${cs.as})`;
    it(`${name}: forward, backward (each slice summed over its picks), adjoint`, async () => {
      const idx = ids(cs.ids, cs.as);
      await checkLinearOp({
        name,
        xShape: cs.shape,
        seed: 30 + 2 * k,
        forwardRef: (x: NdArray) => gatherRef(x, index),
        backwardRef: (dy: NdArray) => gatherBackwardRef(dy, cs.shape, index),
        gpu: (x) => gather(x, idx, cs.axis),
      });
      if (idx instanceof dn.Tensor) idx.dispose();
    });
  });

  it('takes ids of any shape in place of the axis, a scalar id dropping it', async () => {
    const x = f32Data([3, 4, 8], 40);
    const xt = fromNd(x.data, x.shape);
    const grid = dn.tensor([[3, 1], [0, 3], [2, 2]]);
    const y = gather(xt, grid, 1);
    expect(y.shape).toEqual([3, 3, 2, 8]);
    expectClose('ids [3, 2]', await y.toArray(), gatherRef(x, indexGatherIndices(x.shape, [3, 1, 0, 3, 2, 2], 1)).data, EXACT);
    const one = dn.tensor([2], []);
    const s = gather(xt, one, 1);
    expect(s.shape).toEqual([3, 8]);
    expectClose('scalar id', await s.toArray(), gatherRef(x, indexGatherIndices(x.shape, [2], 1)).data, EXACT);
    for (const t of [xt, grid, y, one, s]) t.dispose();
  });

  it('rounds ids to the nearest integer; one outside the axis (or NaN) gives NaN and takes no gradient', async () => {
    const x = f32Data([4, 4], 41);
    const xt = fromNd(x.data, x.shape, true);
    const idx = dn.tensor([1.4, 2.6, -1, 4, NaN, 0.5, -0.4]);
    const y = gather(xt, idx);
    const got = await y.toArray();
    const rows = [1, 3, -1, -1, -1, 1, 0];
    rows.forEach((r, c) => {
      const row = Array.from(got.subarray(c * 4, c * 4 + 4));
      if (r < 0) expect(row.every(Number.isNaN), `id ${c}: NaN`).toBe(true);
      else expect(row).toEqual(Array.from(x.data.subarray(r * 4, r * 4 + 4)));
    });
    const dy = dn.tensor(Float32Array.from({ length: 28 }, (_, i) => i + 1), [7, 4]);
    y.backward(dy);
    // Row 1 is picked by ids 0 and 5, row 3 by id 1, row 0 by id 6; the NaN rows add nothing.
    const want = new Float32Array(16);
    rows.forEach((r, c) => {
      if (r >= 0) for (let k = 0; k < 4; k++) want[r * 4 + k] += c * 4 + k + 1;
    });
    expectClose('dx', await xt.grad!.toArray(), want, EXACT);
    for (const t of [xt, idx, y, dy]) t.dispose();
  });

  it('sums the gradient the same, to the bit, by scanning the ids and by sorting them, and picks the cheaper', async () => {
    // Float data, ids repeated, unordered and some outside the axis (3 rows of x, 8 floats a row:
    // vec4s; and 3 floats: scalars), two outer rows.
    const list = [2, 0, 2, -1, 1.6, 7, 2, NaN, 0];
    for (const inner of [8, 3]) {
      const g = { outer: 2, n: 3, inner };
      const dyData = f32Data([2, list.length, inner], 45 + inner);
      const dy = fromNd(dyData.data, dyData.shape);
      const idx = dn.tensor(list);
      const xShape = [2, 3, inner];
      const [scan, sorted] = (['scan', 'sorted'] as const).map((way) => gatherBackward(dy, idx, xShape, g, list.length, way));
      const [a, b] = [await scan.toArray(), await sorted.toArray()];
      expect(Array.from(b)).toEqual(Array.from(a));
      // Against the reference: ids 1.6 -> 2, the rest outside add nothing.
      const valid = [2, 0, 2, -1, 2, -1, 2, -1, 0];
      const want = new Float64Array(2 * 3 * inner);
      for (let o = 0; o < 2; o++) valid.forEach((j, c) => {
        if (j >= 0) for (let k = 0; k < inner; k++) want[(o * 3 + j) * inner + k] += dyData.data[(o * list.length + c) * inner + k];
      });
      expectClose(`dx inner ${inner}`, a, want, { atol: 1e-6, rtol: 1e-6 });
      for (const t of [dy, idx, scan, sorted]) t.dispose();
    }
    // An embedding table's rows, 512 ids: sorting; 4 rows of 2 picked by 64 ids: scanning.
    expect(backwardWay({ outer: 1, n: 4096, inner: 256 }, 512)).toBe('sorted');
    expect(backwardWay({ outer: 1, n: 4, inner: 2 }, 64)).toBe('scan');
  });

  it('splits along the axes before it past the binding limit, with the same values', async () => {
    const x = f32Data([6, 5, 4], 42);
    const list = [4, 0, 4, 2];
    const index = indexGatherIndices(x.shape, list, 1);
    const dyData = f32Data([6, 4, 4], 43);
    // Two of the 6 outer rows of x (2·5·4 floats) fit a binding: three chunks each way.
    runtime().setBindingLimit(2 * 5 * 4 * 4);
    const xt = fromNd(x.data, x.shape, true);
    const idx = dn.tensor(list);
    const y = gather(xt, idx, 1);
    expectClose('chunked forward', await y.toArray(), gatherRef(x, index).data, EXACT);
    const dy = fromNd(dyData.data, dyData.shape);
    y.backward(dy);
    const wantDx = gatherBackwardRef(dyData, x.shape, index).data;
    expectClose('chunked backward', await xt.grad!.toArray(), wantDx, { atol: 1e-6, rtol: 1e-6 });
    for (const way of ['scan', 'sorted'] as const) {
      const dx = gatherBackward(dy, idx, x.shape, { outer: 6, n: 5, inner: 4 }, list.length, way);
      expectClose(`chunked backward (${way})`, await dx.toArray(), wantDx, { atol: 1e-6, rtol: 1e-6 });
      dx.dispose();
    }
    for (const t of [xt, idx, y, dy]) t.dispose();
    // One outer row of x bigger than the binding: refused before anything is allocated.
    runtime().setBindingLimit(64);
    const big = dn.zeros([1, 40]);
    const before = dn.memory().bytesInUse;
    expect(() => gather(big, [0], 0)).toThrow(dn.LimitError);
    expect(() => gather(big, [0], 0)).toThrow(/^gather\.forward: /);
    expect(dn.memory().bytesInUse).toBe(before);
    big.dispose();
  });

  it('empty cases: no ids (and a gradient of zeros), an empty axis (every id outside it)', async () => {
    const xt = fromNd(f32Data([3, 4], 44).data, [3, 4], true);
    const none = gather(xt, [], 0);
    expect(none.shape).toEqual([0, 4]);
    const total = dn.sum(none);
    total.backward();
    expect(Array.from(await xt.grad!.toArray())).toEqual(new Array(12).fill(0));
    const empty = dn.zeros([2, 0, 3], { requiresGrad: true });
    const idx = dn.tensor([0, 1]);
    const nan = gather(empty, idx, 1);
    expect(nan.shape).toEqual([2, 2, 3]);
    expect(Array.from(await nan.toArray()).every(Number.isNaN)).toBe(true);
    const dy = dn.zeros([2, 2, 3]);
    nan.backward(dy);
    expect(empty.grad!.shape).toEqual([2, 0, 3]);
    for (const t of [xt, none, total, empty, idx, nan, dy]) t.dispose();
  });

  it('refuses ids given as numbers that name no slice, an axis out of range and a scalar x, allocating nothing', () => {
    const x = dn.zeros([4, 3]);
    const scalar = dn.tensor([1], []);
    const before = dn.memory().bytesInUse;
    expect(() => gather(x, [0, 4])).toThrow('gather: indices[1] is the number 4, not an integer in [0, 4) (the size of axis 0)');
    expect(() => gather(x, [1.5])).toThrow(/^gather: indices\[0\] is the number 1.5, not an integer/);
    expect(() => gather(x, Int32Array.of(2, -1), 0)).toThrow(/^gather: indices\[1\] is the number -1/);
    expect(() => gather(x, [0, 3], 1)).toThrow('gather: indices[1] is the number 3, not an integer in [0, 3) (the size of axis 1)');
    expect(() => gather(x, 'abc' as unknown as number[])).toThrow(dn.ArgumentError);
    expect(() => gather(x, [0], 2)).toThrow(dn.ShapeError);
    expect(() => gather(x, [0], -3)).toThrow('gather: axis -3 is out of range for');
    expect(() => gather(scalar, [0])).toThrow(/^gather: x .* has no axis to gather along/);
    expect(dn.memory().bytesInUse).toBe(before);
    for (const t of [x, scalar]) t.dispose();
  });
});
