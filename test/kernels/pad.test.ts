// pad2d against its float64 reference, whose backward is checked against finite differences:
// each mode, scalar and vec4 channels, pads up to one less than the size (reflect's limit), pads
// wider than the image (replicate), and the argument errors.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { pad2d, type PadMode } from '../../src/kernels/pad.js';
import { nd } from '../../src/reference/array.js';
import { pad2dBackwardRef, pad2dRef } from '../../src/reference/pad.js';
import { expectClose } from '../helpers/close.js';
import { checkGrad } from '../helpers/finite-diff.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

const CASES: [PadMode, number[], [number, number, number, number]][] = [
  ['constant', [2, 3, 4, 3], [1, 2, 0, 3]],
  ['constant', [1, 2, 2, 4], [2, 2, 2, 2]],
  ['reflect', [2, 4, 5, 3], [3, 1, 2, 4]],
  ['reflect', [1, 3, 3, 8], [2, 2, 2, 2]],
  ['reflect', [1, 2, 6, 1], [1, 0, 5, 5]],
  ['replicate', [2, 3, 2, 3], [4, 1, 0, 5]],
  ['replicate', [1, 1, 1, 4], [2, 3, 1, 2]],
];

describe('pad2d', () => {
  for (const [mode, shape, pads] of CASES) {
    const name = `${mode} ${JSON.stringify(shape)} pads ${JSON.stringify(pads)}`;
    const x = nd(uniform(shape.reduce((a, b) => a * b, 1), 81), shape);
    const value = mode === 'constant' ? 0.75 : 0;
    const y = pad2dRef(x, pads, mode, value);
    const dy = nd(uniform(y.data.length, 82), y.shape);

    it(`${name}: the reference's backward matches finite differences`, () => {
      checkGrad(name, (v) => pad2dRef(nd(v, shape), pads, mode, value), x.data, dy.data, pad2dBackwardRef(shape, dy, pads, mode).data);
    });

    it(`${name}: GPU forward and backward match the reference`, async () => {
      const xt = fromNd(x.data, shape, true);
      const yt = pad2d(xt, pads, { mode, value });
      expect(yt.shape).toEqual(y.shape);
      // Copies and sums of at most a few values: float32 rounding only.
      expectClose(`${name} forward`, await yt.toArray(), y.data);
      const dyt = fromNd(dy.data, y.shape);
      yt.backward(dyt);
      expectClose(`${name} backward`, await xt.grad!.toArray(), pad2dBackwardRef(shape, dy, pads, mode).data);
      for (const t of [xt, yt, dyt]) t.dispose();
    });
  }

  it('one number pads every side; bad pads, modes and reflect past the size are errors naming pad2d', () => {
    const x = dn.zeros([1, 3, 3, 2]);
    const y = pad2d(x, 1);
    expect(y.shape).toEqual([1, 5, 5, 2]);
    const flat = dn.zeros([3, 3]);
    const before = dn.memory().bytesInUse;
    expect(() => pad2d(x, [1, 2, 3] as never)).toThrow(/^pad2d: pads/);
    expect(() => pad2d(x, -1)).toThrow(dn.ShapeError);
    expect(() => pad2d(x, 3, { mode: 'reflect' })).toThrow(/^pad2d: reflect padding must be less/);
    expect(() => pad2d(x, 1, { mode: 'wrap' as never })).toThrow(dn.ArgumentError);
    expect(() => pad2d(flat, 1)).toThrow(/^pad2d: expected an NHWC input/);
    expect(dn.memory().bytesInUse).toBe(before);
    for (const t of [x, y, flat]) t.dispose();
  });
});
