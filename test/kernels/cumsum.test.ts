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
import { cumsum } from '../../src/kernels/cumsum.js';
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
