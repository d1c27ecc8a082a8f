// stack and unstack (concat and split of reshaped views) against their float64 references, for
// inputs of rank 0-4 on every axis (negative ones too); gradients against finite differences of
// the reference and, exactly, against its adjoint (unstack and stack are each other's); stack
// then unstack is the identity; argument errors name the op.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { stack, unstack } from '../../src/kernels/stack.js';
import { nd, type NdArray } from '../../src/reference/array.js';
import { stackRef, unstackRef } from '../../src/reference/slice.js';
import { expectClose } from '../helpers/close.js';
import { checkGrad } from '../helpers/finite-diff.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { adjointOf, EXACT, f32Data, integers, sizeOf } from '../helpers/linear-op.js';

useGpu();

const CASES: { shape: number[]; count: number; axis: number }[] = [
  { shape: [], count: 3, axis: 0 },
  { shape: [5], count: 2, axis: 0 },
  { shape: [5], count: 3, axis: -1 },
  { shape: [3, 2], count: 3, axis: 1 },
  { shape: [2, 3, 5], count: 1, axis: 3 },
  { shape: [2, 3, 5], count: 3, axis: -2 },
  ...[0, 1, 2, 3, 4].map((axis) => ({ shape: [2, 3, 1, 3], count: 3, axis })),
];

/** Everything in one flat vector, for the adjoint and finite-difference probes. */
const flat = (parts: NdArray[]): NdArray => {
  const data = parts.flatMap((p) => Array.from(p.data));
  return nd(data, [data.length]);
};

describe('stack and unstack', () => {
  CASES.forEach((cs, k) => {
    const name = `stack ${cs.count} × ${JSON.stringify(cs.shape)} on axis ${cs.axis}`;
    const n = sizeOf(cs.shape);
    const stackFlat = (v: NdArray): NdArray => stackRef(Array.from({ length: cs.count }, (_, i) => nd(v.data.subarray(i * n, (i + 1) * n), cs.shape)), cs.axis);

    it(`${name}: forward, backward, adjoint; unstack inverts it`, async () => {
      const xs = Array.from({ length: cs.count }, (_, i) => f32Data(cs.shape, 10 * k + i));
      const want = stackRef(xs, cs.axis);
      const dy = nd(integers(want.data.length, 10 * k + 9), want.shape);
      const back = flat(unstackRef(dy, cs.axis));
      expectClose(`${name} reference backward vs adjoint`, back.data, adjointOf(stackFlat, [cs.count * n], dy), EXACT);
      checkGrad(name, (v) => stackFlat(nd(v, [v.length])), flat(xs).data, dy.data, back.data);

      const ts = xs.map((x) => fromNd(x.data, cs.shape, true));
      const y = stack(ts, cs.axis);
      expect(y.shape).toEqual(want.shape);
      expectClose(`${name} forward`, await y.toArray(), want.data, EXACT);
      const dyt = fromNd(dy.data, want.shape);
      y.backward(dyt);
      const grads = unstackRef(dy, cs.axis);
      for (const [i, t] of ts.entries()) expectClose(`${name} grad ${i}`, await t.grad!.toArray(), grads[i].data, EXACT);

      const parts = unstack(y, cs.axis);
      expect(parts.length).toBe(cs.count);
      for (const [i, p] of parts.entries()) {
        expect(p.shape).toEqual(cs.shape);
        expectClose(`${name} unstack(stack) part ${i}`, await p.toArray(), xs[i].data, EXACT);
      }
      for (const t of [...ts, y, dyt, ...parts]) t.dispose();
    });
  });

  for (const [shape, axis] of [[[3, 5, 2], 0], [[3, 5, 2], 1], [[3, 5, 2], -1], [[7], 0]] as const) {
    const name = `unstack ${JSON.stringify(shape)} on axis ${axis}`;
    it(`${name}: forward, backward, adjoint`, async () => {
      const x = f32Data([...shape], 100 + axis);
      const want = unstackRef(x, axis);
      const dys = want.map((p, i) => nd(integers(p.data.length, 200 + i), p.shape));
      const back = stackRef(dys, axis);
      const unstackFlat = (v: NdArray): NdArray => flat(unstackRef(nd(v.data, [...shape]), axis));
      expectClose(`${name} reference backward vs adjoint`, back.data, adjointOf(unstackFlat, [x.data.length], flat(dys)), EXACT);
      checkGrad(name, (v) => unstackFlat(nd(v, [v.length])), x.data, flat(dys).data, back.data);

      const xt = fromNd(x.data, [...shape], true);
      const parts = unstack(xt, axis);
      for (const [i, p] of parts.entries()) expectClose(`${name} part ${i}`, await p.toArray(), want[i].data, EXACT);
      // Loss = Σ_i <part_i, dy_i>: the tape sums every part's gradient into x's.
      const weights = dys.map((d) => fromNd(d.data, d.shape));
      const loss = dn.scope(() => parts.map((p, i) => dn.sum(dn.mul(p, weights[i]))).reduce((a, b) => dn.add(a, b)));
      loss.backward();
      expectClose(`${name} backward`, await xt.grad!.toArray(), back.data, EXACT);
      for (const t of [xt, ...parts, ...weights, loss]) t.dispose();
    });
  }

  it('an axis of size 0 unstacks into no tensors', () => {
    const x = dn.zeros([2, 0, 3]);
    expect(unstack(x, 1)).toEqual([]);
    x.dispose();
  });

  it('argument errors name the op and allocate nothing', () => {
    const [a, b, c] = [dn.zeros([2, 3]), dn.zeros([2, 3]), dn.zeros([3, 2])];
    const before = dn.memory().bytesInUse;
    const shapeErrors: [RegExp, () => unknown][] = [
      [/^stack: /, () => stack([a, c])],
      [/^stack: /, () => stack([a, b], 3)],
      [/^stack: /, () => stack([a, b], -4)],
      [/^unstack: /, () => unstack(a, 2)],
      [/^unstack: /, () => unstack(a, -3)],
    ];
    for (const [message, f] of shapeErrors) {
      expect(f).toThrow(dn.ShapeError);
      expect(f).toThrow(message);
    }
    const argumentErrors: [RegExp, () => unknown][] = [
      [/^stack: /, () => stack([])],
      [/^stack: /, () => stack([a, 2 as unknown as dn.Tensor])],
      [/^stack: /, () => stack([a, b], 0.5)],
      [/^unstack: /, () => unstack([a] as unknown as dn.Tensor)],
    ];
    for (const [message, f] of argumentErrors) {
      expect(f).toThrow(dn.ArgumentError);
      expect(f).toThrow(message);
    }
    expect(dn.memory().bytesInUse).toBe(before);
    for (const t of [a, b, c]) t.dispose();
  });
});
