// transpose against its float64 reference: NCHW to NHWC and back, a full reversal, rank 1 and 5,
// the gradient (the inverse permutation) against the reference and finite differences.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { transpose } from '../../src/kernels/transpose.js';
import { nd } from '../../src/reference/array.js';
import { transposeRef } from '../../src/reference/transpose.js';
import { checkGrad } from '../helpers/finite-diff.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

const CASES: [number[], number[] | undefined][] = [
  [[2, 3, 4, 5], [0, 2, 3, 1]],
  [[2, 4, 5, 3], [0, 3, 1, 2]],
  [[3, 4, 5], undefined],
  [[7], [0]],
  [[2, 1, 3, 2, 4], [4, 2, 0, 3, 1]],
  [[6, 5], [-1, -2]],
];

describe('transpose', () => {
  for (const [shape, perm] of CASES) {
    const p = perm ? perm.map((a) => (a < 0 ? a + shape.length : a)) : shape.map((_, d) => shape.length - 1 - d);
    const name = `${JSON.stringify(shape)} by ${JSON.stringify(perm ?? 'reversal')}`;
    const x = nd(uniform(shape.reduce((a, b) => a * b, 1), 71), shape);
    const inverse = p.map((_, d) => p.indexOf(d));

    it(`${name}: matches the reference, and its gradient the inverse transpose`, async () => {
      const want = transposeRef(x, p);
      const xt = fromNd(x.data, shape, true);
      const y = transpose(xt, perm);
      expect(y.shape).toEqual(want.shape);
      // A copy: exact.
      expect(Array.from(await y.toArray())).toEqual(Array.from(Float32Array.from(want.data)));
      const dy = nd(uniform(want.data.length, 72), want.shape);
      checkGrad(name, (v) => transposeRef(nd(v, shape), p), x.data, dy.data, transposeRef(dy, inverse).data);
      const dyt = fromNd(dy.data, want.shape);
      y.backward(dyt);
      expect(Array.from(await xt.grad!.toArray())).toEqual(Array.from(Float32Array.from(transposeRef(dy, inverse).data)));
      for (const t of [xt, y, dyt]) t.dispose();
    });
  }

  it('a perm that is not a permutation of the axes is a ShapeError naming transpose', () => {
    const x = dn.zeros([2, 3, 4]);
    expect(() => transpose(x, [0, 1])).toThrow(/^transpose: perm/);
    expect(() => transpose(x, [0, 1, 1])).toThrow(dn.ShapeError);
    expect(() => transpose(x, [0, 1, 3])).toThrow(dn.ShapeError);
    x.dispose();
  });
});
