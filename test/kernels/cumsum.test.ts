// cumsum (src/kernels/cumsum.ts) against its float64 reference (src/reference/cumsum.ts): the
// forward on every axis, with exclusive and reverse, in floats and vec4s; its gradient by
// dn.gradcheck against the reference's finite differences (every element); the split past the
// binding limit, bit for bit; empty axes; argument errors.
//
// Tolerance of the forward: a float32 running sum of n terms in [-1, 1] rounds each add by at most
// 2^-24 of a partial sum no larger than n, so its error is at most n²·2^-24 (2.4e-5 at n = 20).

import { afterEach, describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { runtime } from '../../src/gpu/runtime.js';
import { cumsum, cumsumBlocks } from '../../src/kernels/cumsum.js';
import { nd } from '../../src/reference/array.js';
import { cumsumRef } from '../../src/reference/cumsum.js';
import { expectClose } from '../helpers/close.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

afterEach(() => runtime().setBindingLimit(null));

const CASES: { shape: number[]; axis: number }[] = [
  { shape: [20], axis: 0 },
  // The last axis (inner 1), a middle one with vec4 columns (inner 8), the first (inner 15).
  { shape: [3, 4, 17], axis: -1 },
  { shape: [2, 11, 8], axis: 1 },
  { shape: [6, 5, 3], axis: 0 },
];
const FLAGS: { exclusive?: boolean; reverse?: boolean }[] = [{}, { exclusive: true }, { reverse: true }, { exclusive: true, reverse: true }];

describe('cumsum', () => {
  CASES.forEach((cs, k) => {
    const axis = cs.axis < 0 ? cs.axis + cs.shape.length : cs.axis;
    const n = cs.shape[axis];
    for (const flags of FLAGS) {
      const name = `cumsum ${JSON.stringify(cs.shape)} axis ${cs.axis} ${JSON.stringify(flags)}`;
      it(`${name}: forward against the reference, gradient against its finite differences`, async () => {
        const data = uniform(cs.shape.reduce((p, d) => p * d, 1), 60 + k);
        const x = fromNd(data, cs.shape, true);
        const y = cumsum(x, cs.axis, flags);
        const want = cumsumRef(nd(data, cs.shape), axis, flags.exclusive, flags.reverse);
        expectClose(`${name} forward`, await y.toArray(), want.data, { atol: n * n * 2 ** -24, rtol: 0 });
        y.dispose();
        const reference = (v: Float64Array) => cumsumRef(nd(v, cs.shape), axis, flags.exclusive, flags.reverse).data;
        const report = await dn.gradcheck((t: dn.Tensor) => cumsum(t, cs.axis, flags), [x], { reference, elements: Infinity });
        expect(report.ok).toBe(true);
        expect(report.inputs[0].checked).toBe(data.length);
        x.dispose();
      });
    }
  });

  it('runs a long axis with few columns in blocks: exact on integer data, its gradient checked', async () => {
    // Integers from -8 to 8: every partial sum is a small integer, exact in float32 in any order,
    // so the blocked sums must equal the reference exactly.
    const integers = (n: number, seed: number) => uniform(n, seed).map((v) => Math.round(v * 8));
    const cases: { shape: number[]; axis: number; blocks: number }[] = [
      { shape: [5000], axis: 0, blocks: 78 },
      { shape: [2, 700, 4], axis: 1, blocks: 10 },
      { shape: [3, 1000], axis: 1, blocks: 15 },
    ];
    for (const [c, cs] of cases.entries()) {
      const columns = cs.shape.reduce((p, d) => p * d, 1) / cs.shape[cs.axis] / (cs.shape[cs.shape.length - 1] % 4 === 0 && cs.axis < cs.shape.length - 1 ? 4 : 1);
      expect(cumsumBlocks(columns, cs.shape[cs.axis]), JSON.stringify(cs)).toBe(cs.blocks);
      const data = integers(cs.shape.reduce((p, d) => p * d, 1), 80 + c);
      const x = fromNd(data, cs.shape);
      for (const flags of FLAGS) {
        const y = cumsum(x, cs.axis, flags);
        const want = cumsumRef(nd(data, cs.shape), cs.axis, flags.exclusive, flags.reverse);
        expectClose(`${JSON.stringify(cs.shape)} ${JSON.stringify(flags)}`, await y.toArray(), want.data, { atol: 0, rtol: 0 });
        y.dispose();
      }
      x.dispose();
    }
    // 300 values in 4 blocks: the gradient of the blocked passes on every element.
    expect(cumsumBlocks(1, 300)).toBe(4);
    const data = uniform(300, 90);
    const x = fromNd(data, [300], true);
    for (const flags of [{ exclusive: true }, { reverse: true }]) {
      const reference = (v: Float64Array) => cumsumRef(nd(v, [300]), 0, flags.exclusive, flags.reverse).data;
      const report = await dn.gradcheck((t: dn.Tensor) => cumsum(t, 0, flags), [x], { reference, elements: Infinity, forwardTolerance: { atol: 300 * 2 ** -24 * 300, rtol: 0 } });
      expect(report.ok).toBe(true);
    }
    x.dispose();
    // Many columns walk the axis in one pass each.
    expect(cumsumBlocks(8192, 100000)).toBe(1);
  });

  it('splits along the axes before it past the binding limit, to the same bits', async () => {
    const data = uniform(6 * 7 * 4, 70);
    const x = fromNd(data, [6, 7, 4], true);
    const whole = cumsum(x, 1, { reverse: true });
    const dy = fromNd(uniform(6 * 7 * 4, 71), [6, 7, 4]);
    whole.backward(dy);
    const [y0, g0] = [await whole.toArray(), await x.grad!.toArray()];
    x.grad!.dispose();
    x.grad = null;
    // Two of the 6 rows (2·7·4 floats) fit a binding: three chunks each way.
    runtime().setBindingLimit(2 * 7 * 4 * 4);
    const split = cumsum(x, 1, { reverse: true });
    split.backward(dy);
    expect(Array.from(await split.toArray())).toEqual(Array.from(y0));
    expect(Array.from(await x.grad!.toArray())).toEqual(Array.from(g0));
    for (const t of [x, whole, dy, split]) t.dispose();
  });

  it('keeps empty tensors empty, and refuses a scalar, an axis out of range and unknown options, allocating nothing', async () => {
    const empty = dn.zeros([3, 0, 2]);
    const y = cumsum(empty, 1);
    expect(y.shape).toEqual([3, 0, 2]);
    const x = dn.zeros([4, 3]);
    const scalar = dn.tensor([1], []);
    const before = dn.memory().bytesInUse;
    expect(() => cumsum(scalar)).toThrow(/^cumsum: x .* has no axis to sum along/);
    expect(() => cumsum(x, 2)).toThrow('cumsum: axis 2 is out of range for');
    expect(() => cumsum(x, 0.5)).toThrow(dn.ArgumentError);
    expect(() => cumsum(x, 0, { exclusive: 1 } as never)).toThrow(/^cumsum: exclusive/);
    expect(() => cumsum(x, 0, { reversed: true } as never)).toThrow(/^cumsum: .*reversed/);
    expect(dn.memory().bytesInUse).toBe(before);
    for (const t of [empty, y, x, scalar]) t.dispose();
  });
});
