// tile against its float64 reference over ranks 1-5, reps including 1 and 0; its gradient (a
// gather-sum over the tiles) against finite differences and, exactly, against the reference's
// adjoint; reps of ones is the identity; argument errors name the op.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { tile } from '../../src/kernels/tile.js';
import type { NdArray } from '../../src/reference/array.js';
import { gatherBackwardRef, gatherRef, tileIndices } from '../../src/reference/slice.js';
import { expectClose } from '../helpers/close.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { checkLinearOp, EXACT, f32Data } from '../helpers/linear-op.js';

useGpu();

const CASES: { shape: number[]; reps: number[] }[] = [
  { shape: [5], reps: [3] },
  { shape: [5], reps: [1] },
  { shape: [3, 2], reps: [1, 3] },
  { shape: [3, 2], reps: [4, 1] },
  { shape: [2, 3, 5], reps: [2, 1, 3] },
  { shape: [3, 1, 5, 3], reps: [1, 5, 2, 3] },
  { shape: [2, 1, 3, 1, 2], reps: [1, 2, 1, 3, 2] },
  { shape: [2, 3, 5], reps: [3, 0, 2] },
  { shape: [3, 2], reps: [3, 3] },
];

describe('tile', () => {
  CASES.forEach((cs, k) => {
    const name = `tile ${JSON.stringify(cs.shape)} by ${JSON.stringify(cs.reps)}`;
    const index = tileIndices(cs.shape, cs.reps);
    it(`${name}: forward, backward (sum over tiles), adjoint`, () =>
      checkLinearOp({
        name,
        xShape: cs.shape,
        seed: 10 + 2 * k,
        forwardRef: (x: NdArray) => gatherRef(x, index),
        backwardRef: (dy: NdArray) => gatherBackwardRef(dy, cs.shape, index),
        gpu: (x) => tile(x, cs.reps),
      }));
  });

  it('reps of ones is the identity', async () => {
    const x = f32Data([3, 4, 5], 50);
    const xt = fromNd(x.data, x.shape);
    const y = tile(xt, [1, 1, 1]);
    expect(y.shape).toEqual(x.shape);
    expectClose('tile by ones', await y.toArray(), x.data, EXACT);
    for (const t of [xt, y]) t.dispose();
  });

  it('argument errors name the op and allocate nothing', () => {
    const x = dn.zeros([4, 3]);
    const before = dn.memory().bytesInUse;
    for (const reps of [[2], [1, 2, 3]]) {
      expect(() => tile(x, reps)).toThrow(dn.ShapeError);
      expect(() => tile(x, reps)).toThrow(/^tile: /);
    }
    for (const reps of [[1, -1], [1, 1.5], 2 as unknown as number[]]) {
      expect(() => tile(x, reps)).toThrow(dn.ArgumentError);
      expect(() => tile(x, reps)).toThrow(/^tile: /);
    }
    expect(dn.memory().bytesInUse).toBe(before);
    x.dispose();
  });
});
