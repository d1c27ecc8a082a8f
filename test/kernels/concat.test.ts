import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { concat, concatForward, split, splitForward } from '../../src/kernels/concat.js';
import { nd, type NdArray } from '../../src/reference/array.js';
import { concatRef, splitBackwardRef, splitRef } from '../../src/reference/concat.js';
import { expectClose } from '../helpers/close.js';
import { checkGrad } from '../helpers/finite-diff.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

const size = (shape: readonly number[]): number => shape.reduce((p, d) => p * d, 1);
/** Copies are exact: compare with the float64 reference rounded to float32, with zero tolerance. */
const f32 = (a: ArrayLike<number>): Float64Array => Float64Array.from(a, Math.fround);
const EXACT = { atol: 0, rtol: 0 };

const CONCAT_CASES = [
  { shapes: [[2, 3, 5, 3], [2, 3, 5, 5]], axis: -1 },
  { shapes: [[1, 4, 3, 2], [1, 4, 3, 1], [1, 4, 3, 3]], axis: 3 },
  { shapes: [[2, 3, 5, 3], [2, 4, 5, 3]], axis: 1 },
  { shapes: [[2, 1, 3, 2], [2, 2, 3, 2], [2, 3, 3, 2]], axis: 1 },
  { shapes: [[1, 2, 3], [2, 2, 3]], axis: 0 },
  { shapes: [[3, 4], [3, 0], [3, 2]], axis: -1 },
] as const;

describe('concat', () => {
  for (const [k, cs] of CONCAT_CASES.entries()) {
    const shapes = cs.shapes.map((s) => [...s]);
    const name = `concat ${JSON.stringify(cs.shapes)} axis ${cs.axis}`;
    const xs = shapes.map((s, i) => uniform(size(s), 10 * k + i));
    const outShape = concatRef(xs.map((x, i) => nd(x, shapes[i])), cs.axis).shape;
    const dy = uniform(size(outShape), 100 + k);
    const ax = cs.axis < 0 ? cs.axis + shapes[0].length : cs.axis;
    const sizes = shapes.map((s) => s[ax]);

    it(`${name}: CPU backward (split of dy) matches finite differences`, () => {
      const grads = splitRef(nd(dy, outShape), sizes, cs.axis);
      shapes.forEach((s, i) => {
        const forward = (v: Float64Array): NdArray => concatRef(xs.map((x, j) => nd(j === i ? v : x, shapes[j])), cs.axis);
        checkGrad(`${name} input ${i}`, forward, xs[i], dy, grads[i].data);
      });
    });

    it(`${name}: GPU forward and backward match CPU`, async () => {
      const ts = xs.map((x, i) => fromNd(x, shapes[i], true));
      const y = concat(ts, cs.axis);
      expect(y.shape).toEqual(outShape);
      expectClose(`${name} forward`, await y.toArray(), f32(concatRef(xs.map((x, i) => nd(x, shapes[i])), cs.axis).data), EXACT);
      const dyt = fromNd(dy, outShape);
      y.backward(dyt);
      const want = splitRef(nd(dy, outShape), sizes, cs.axis);
      for (const [i, t] of ts.entries()) {
        expectClose(`${name} grad ${i}`, await t.grad!.toArray(), f32(want[i].data), EXACT);
      }
      for (const t of [...ts, y, dyt]) t.dispose();
    });
  }

  it('computes gradients only for inputs that need them; the same tensor twice sums both parts', async () => {
    const a = fromNd(uniform(2 * 3 * 2, 200), [2, 3, 2], true);
    const b = fromNd(uniform(2 * 3 * 4, 201), [2, 3, 4]);
    const y = concat([a, b, a], -1);
    const dy = uniform(2 * 3 * 8, 202);
    const dyt = fromNd(dy, [2, 3, 8]);
    y.backward(dyt);
    expect(b.grad).toBeNull();
    const [first, , last] = splitRef(nd(dy, [2, 3, 8]), [2, 4, 2], -1);
    expectClose('concat repeated input', await a.grad!.toArray(), first.data.map((v, i) => v + last.data[i]));
    for (const t of [a, b, y, dyt]) t.dispose();
  });

  it('throws ShapeError before dispatch for bad inputs', () => {
    const a = dn.zeros([2, 3, 4, 5]);
    const b = dn.zeros([2, 3, 5, 5]);
    const c = dn.zeros([2, 3, 4]);
    const before = dn.memory().bytesInUse;
    expect(() => concat([a, b], -1)).toThrow(dn.ShapeError);
    expect(() => concatForward([a, b], 1)).toThrow(dn.ShapeError);
    expect(() => concat([a, c], 0)).toThrow(dn.ShapeError);
    expect(() => concat([a, a], 4)).toThrow(dn.ShapeError);
    expect(() => concat([], 0)).toThrow(dn.ShapeError);
    expect(() => split(a, [2, 2], -1)).toThrow(dn.ShapeError);
    expect(() => split(a, [5, -1, 1], -1)).toThrow(dn.ShapeError);
    expect(() => split(a, [1, 1], -5)).toThrow(dn.ShapeError);
    expect(dn.memory().bytesInUse).toBe(before);
    for (const t of [a, b, c]) t.dispose();
  });
});

const SPLIT_CASES = [
  { shape: [2, 3, 5, 8], sizes: [3, 5], axis: -1 },
  { shape: [2, 7, 3, 2], sizes: [2, 4, 1], axis: 1 },
  { shape: [5, 3], sizes: [1, 0, 4], axis: 0 },
] as const;

describe('split', () => {
  for (const [k, cs] of SPLIT_CASES.entries()) {
    const shape = [...cs.shape];
    const sizes = [...cs.sizes];
    const name = `split ${JSON.stringify(cs.shape)} into ${JSON.stringify(cs.sizes)} on axis ${cs.axis}`;
    const x = uniform(size(shape), 300 + k);
    const parts = splitRef(nd(x, shape), sizes, cs.axis);
    const dys = parts.map((p, i) => uniform(p.data.length, 400 + 10 * k + i));

    it(`${name}: CPU backward matches finite differences`, () => {
      // The parts flattened one after another, probed with their dys laid out the same way.
      const forward = (v: Float64Array): NdArray => {
        const flat = splitRef(nd(v, shape), sizes, cs.axis).flatMap((p) => Array.from(p.data));
        return nd(flat, [flat.length]);
      };
      const r = Float64Array.from(dys.flatMap((d) => Array.from(d)));
      const analytic = splitBackwardRef(dys.map((d, i) => nd(d, parts[i].shape)), cs.axis);
      checkGrad(name, forward, x, r, analytic.data);
    });

    it(`${name}: GPU forward and backward match CPU; a part without a gradient counts as zeros`, async () => {
      const xt = fromNd(x, shape, true);
      const ys = split(xt, sizes, cs.axis);
      for (const [i, y] of ys.entries()) {
        expect(y.shape).toEqual(parts[i].shape);
        expectClose(`${name} part ${i}`, await y.toArray(), f32(parts[i].data), EXACT);
      }
      // Loss = sum over every part but the second of <part, dy>: the tape sums the parts' gradients.
      const weights = dys.map((d, i) => fromNd(d, parts[i].shape));
      const loss = dn.scope(() => {
        const terms = ys.map((y, i) => (i === 1 ? null : dn.sum(dn.mul(y, weights[i])))).filter((t) => t !== null);
        return terms.reduce((acc, t) => dn.add(acc, t));
      });
      loss.backward();
      const zeroed = dys.map((d, i) => nd(i === 1 ? new Float64Array(d.length) : d, parts[i].shape));
      expectClose(`${name} backward`, await xt.grad!.toArray(), splitBackwardRef(zeroed, cs.axis).data);
      for (const t of [xt, ...ys, ...weights, loss]) t.dispose();
    });
  }

  it('splitForward is the inverse of concatForward', async () => {
    const x = fromNd(uniform(2 * 5 * 3 * 4, 500), [2, 5, 3, 4]);
    const parts = splitForward(x, [1, 3, 1], 1);
    const back = concatForward(parts, 1);
    expect(Array.from(await back.toArray())).toEqual(Array.from(await x.toArray()));
    for (const t of [x, ...parts, back]) t.dispose();
  });
});
