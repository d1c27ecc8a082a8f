// oneHot against its float64 reference, and the softmax family's checks of what it is given:
// shapes, kinds, options and axes, each refused with the op named first and nothing allocated.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { logSoftmax, oneHot, softmax, softmaxCrossEntropy, type CrossEntropyOptions } from '../../src/kernels/softmax.js';
import { nd } from '../../src/reference/array.js';
import { oneHotRef } from '../../src/reference/softmax.js';
import { expectThrows } from '../helpers/errors.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { withNarrowGrid } from '../helpers/narrow-grid.js';
import { uniform } from '../helpers/rng.js';

useGpu();

/** The values the GPU sees. */
const f32 = (x: ArrayLike<number>): Float64Array => Float64Array.from(Float32Array.from(x));

const ONE_HOT_CASES = [
  { name: 'integer labels', labels: [0, 1, 2, 3, 4, 2], shape: [6], classes: 5, hot: [0, 1, 2, 3, 4, 2] },
  { name: 'a trailing axis of 1', labels: [0, 1, 2, 2, 1, 0], shape: [2, 3, 1], classes: 3, hot: [0, 1, 2, 2, 1, 0] },
  { name: 'out of range', labels: [-1, 5, 7, 1e9, -1e9, 4], shape: [2, 3], classes: 5, hot: [-1, -1, -1, -1, -1, 4] },
  { name: 'non-integer', labels: [1.4, 1.6, 2.0000002, -0.4, -0.6, 4.4, 4.6, 0.9999999, 0.5, 2.5], shape: [10, 1], classes: 5, hot: [1, 2, 2, 0, -1, 4, -1, 1, 1, 3] },
  { name: 'NaN and infinities', labels: [Number.NaN, Infinity, -Infinity, 1], shape: [4], classes: 3, hot: [-1, -1, -1, 1] },
  { name: 'a scalar', labels: [2], shape: [], classes: 4, hot: [2] },
  { name: 'one class', labels: [0, 1, 0], shape: [3], classes: 1, hot: [0, -1, 0] },
] as const;

describe('oneHot', () => {
  for (const cs of ONE_HOT_CASES) {
    it(`${cs.name}: GPU matches CPU, and both put the 1s where expected`, async () => {
      const labels = f32(cs.labels);
      const want = oneHotRef(nd(labels, [...cs.shape]), cs.classes);
      const expected = cs.hot.flatMap((h) => Array.from({ length: cs.classes }, (_, k) => Number(k === h)));
      expect(Array.from(want.data)).toEqual(expected);
      const lt = fromNd(labels, [...cs.shape], true);
      const out = oneHot(lt, cs.classes);
      expect([...out.shape]).toEqual(want.shape);
      expect(out.requiresGrad).toBe(false);
      expect(out.node).toBeNull();
      expect(Array.from(await out.toArray())).toEqual(expected);
      lt.dispose();
      out.dispose();
    });
  }

  it('covers more rows than one grid dimension holds', async () => {
    const n = 70000;
    const labels = f32(Array.from({ length: n }, (_, i) => (i * 7) % 4));
    const got = await withNarrowGrid(async () => {
      const lt = fromNd(labels, [n, 1]);
      const out = oneHot(lt, 3);
      const values = await out.toArray();
      lt.dispose();
      out.dispose();
      return values;
    });
    expect(Array.from(got)).toEqual(Array.from(oneHotRef(nd(labels, [n, 1]), 3).data));
  });
});

// ---------------------------------------------------------------------------------------------

describe('argument and shape checks', () => {
  it('reject bad inputs with the op named first, before allocating', () => {
    const scalar = dn.tensor([1], []);
    const emptyAxis = dn.zeros([3, 0]);
    const z = dn.zeros([2, 3]);
    const other = dn.zeros([3, 2]);
    const disposed = dn.zeros([2, 3]);
    disposed.dispose();
    const before = dn.memory().bytesInUse;
    for (const [name, op] of [['softmax', softmax], ['logSoftmax', logSoftmax]] as const) {
      expectThrows(() => op(scalar), dn.ShapeError, `${name}: `);
      expectThrows(() => op(emptyAxis), dn.ShapeError, `${name}: `);
      expectThrows(() => op([1, 2] as unknown as dn.Tensor), dn.ArgumentError, `${name}: `);
      expectThrows(() => op(disposed), dn.DisposedError, `${name}: `);
    }
    const ce = 'softmaxCrossEntropy';
    expectThrows(() => softmaxCrossEntropy(z, other), dn.ShapeError, `${ce}: `);
    expectThrows(() => softmaxCrossEntropy(scalar, scalar), dn.ShapeError, `${ce}: `);
    expectThrows(() => softmaxCrossEntropy(emptyAxis, emptyAxis), dn.ShapeError, `${ce}: `);
    expectThrows(() => softmaxCrossEntropy(z, z, { labelSmoothing: 1.5 }), dn.ShapeError, `${ce}: `);
    expectThrows(() => softmaxCrossEntropy(z, z, { labelSmoothing: -0.1 }), dn.ShapeError, `${ce}: `);
    expectThrows(() => softmaxCrossEntropy(z, z, { labelSmoothing: Number.NaN }), dn.ShapeError, `${ce}: `);
    expectThrows(() => softmaxCrossEntropy(z, z, { reduction: 'avg' as 'mean' }), dn.ArgumentError, `${ce}: `);
    expectThrows(() => softmaxCrossEntropy(z, 'y' as unknown as dn.Tensor), dn.ArgumentError, `${ce}: `);
    expectThrows(() => softmaxCrossEntropy(z, z, 'mean' as CrossEntropyOptions), dn.ArgumentError, `${ce}: `);
    for (const classes of [0, 2.5, -1, Number.NaN, '3']) {
      expectThrows(() => oneHot(z, classes as number), dn.ArgumentError, 'oneHot: ');
    }
    expectThrows(() => oneHot(null as unknown as dn.Tensor, 3), dn.ArgumentError, 'oneHot: ');
    expect(dn.memory().bytesInUse).toBe(before);
    for (const t of [scalar, emptyAxis, z, other]) t.dispose();
  });

  it('softmaxCrossEntropy rejects logits with no rows', () => {
    const z = dn.zeros([0, 3]);
    expectThrows(() => softmaxCrossEntropy(z, z), dn.ShapeError, 'softmaxCrossEntropy: ');
    z.dispose();
  });

  it("softmaxCrossEntropy given class ids (PyTorch's target) says to one-hot them; another shape gets no such hint", () => {
    const z = dn.zeros([4, 3]);
    for (const shape of [[4], [4, 1]]) {
      const ids = dn.zeros(shape);
      expect(() => softmaxCrossEntropy(z, ids)).toThrow(/dn\.oneHot\(labels, 3\)/);
      ids.dispose();
    }
    const other = dn.zeros([4, 2]);
    expect(() => softmaxCrossEntropy(z, other)).toThrow(/must have the same shape$/);
    for (const t of [z, other]) t.dispose();
  });
});

// ---------------------------------------------------------------------------------------------
// Axes and options. The kernels normalise the last axis only; softmax(x, 0) and logSoftmax(x, 0)
// used to ignore the axis and normalise the last one anyway. An axis is now accepted only where it
// names the last (-1 or rank - 1), so a PyTorch port's dim=1 (NCHW's channels; here NHWC's are
// already last) is an ArgumentError instead of a silent wrong answer.

describe('softmax and logSoftmax axes, softmaxCrossEntropy options', () => {
  it('the last axis, as -1 or rank - 1, gives what no axis gives', async () => {
    const x = dn.tensor(f32(uniform(24, 1600, -3, 3)), [2, 3, 4]);
    for (const op of [softmax, logSoftmax]) {
      const outs = [op(x), op(x, -1), op(x, 2)];
      const [plain, ...rest] = await Promise.all(outs.map((t) => t.toArray()));
      for (const r of rest) expect([...r]).toEqual([...plain]);
      for (const t of outs) t.dispose();
    }
    x.dispose();
  });

  it('any other axis is an ArgumentError naming the op, before allocating', () => {
    const x = dn.zeros([2, 3, 4]);
    const before = dn.memory().bytesInUse;
    for (const [name, op] of [['softmax', softmax], ['logSoftmax', logSoftmax]] as const) {
      for (const axis of [0, 1, -2, 3, -4]) {
        expectThrows(() => op(x, axis), dn.ArgumentError, `${name}: `);
        expect(() => op(x, axis)).toThrow(/only the last axis \(-1 or 2/);
      }
      for (const axis of [1.5, Number.NaN, '2', { axis: 2 }]) expectThrows(() => op(x, axis as number), dn.ArgumentError, `${name}: `);
    }
    expect(dn.memory().bytesInUse).toBe(before);
    x.dispose();
  });

  it("softmaxCrossEntropy refuses an unknown option (PyTorch's label_smoothing, Keras's from_logits) by name", () => {
    const z = dn.zeros([2, 3]);
    const before = dn.memory().bytesInUse;
    for (const opts of [{ label_smoothing: 0.1 }, { reduction: 'sum', fromLogits: true }]) {
      expectThrows(() => softmaxCrossEntropy(z, z, opts as CrossEntropyOptions), dn.ArgumentError, 'softmaxCrossEntropy: ');
      expect(() => softmaxCrossEntropy(z, z, opts as CrossEntropyOptions)).toThrow(/unknown option '\w+'; the options are reduction, labelSmoothing/);
    }
    expect(dn.memory().bytesInUse).toBe(before);
    z.dispose();
  });
});
