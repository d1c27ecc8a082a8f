import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { expectThrows } from '../helpers/errors.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

describe('reshape', () => {
  it('takes whole sizes and at most one -1, as PyTorch', async () => {
    const x = dn.tensor([1, 2, 3, 4, 5, 6], [6]);
    const cases = [
      [[2, 3], [2, 3]],
      [[-1, 2], [3, 2]],
      [[3, -1], [3, 2]],
      [[1, 6, 1], [1, 6, 1]],
      [[-1], [6]],
    ] as const;
    for (const [shape, want] of cases) {
      const y = dn.reshape(x, shape);
      expect(y.shape).toEqual(want);
      expect(await y.toNested()).not.toEqual([]);
      y.dispose();
    }
    const empty = dn.zeros([0, 4]);
    const flat = dn.reshape(empty, [2, 0, 3]);
    expect(flat.shape).toEqual([2, 0, 3]);
    for (const t of [x, empty, flat]) t.dispose();
  });

  it('refuses sizes that are not whole numbers >= 0 or a single -1, naming reshape and the shape', () => {
    const x4 = dn.tensor([1, 2, 3, 4], [4]);
    const x6 = dn.tensor([1, 2, 3, 4, 5, 6], [6]);
    const before = dn.memory().bytesInUse;
    const shapeErrors = [
      [x4, [-2, -2], 'reshape: size 0 of [-2,-2] is -2'],
      [x4, [0.5, 8], 'reshape: size 0 of [0.5,8] is 0.5'],
      [x6, [-3, -1], 'reshape: size 0 of [-3,-1] is -3'],
      [x6, [2, NaN], 'reshape: size 1 of [2,NaN] is NaN'],
      [x6, [Infinity, 0], 'reshape: size 0 of [Infinity,0] is Infinity'],
      [x6, [-1, -1], 'reshape: at most one -1 in [-1,-1]'],
      [x6, [0, -1], 'reshape: cannot view'],
      [x6, [4, -1], 'reshape: cannot view'],
      [x6, [2, 2], 'reshape: cannot view'],
    ] as const;
    for (const [x, shape, start] of shapeErrors) expectThrows(() => dn.reshape(x, shape), dn.ShapeError, start);
    expectThrows(() => dn.reshape(x4, ['2', 2] as never), dn.ArgumentError, "reshape: size 0 of the shape must be a number, got the string '2'");
    expectThrows(() => dn.reshape(x4, 4 as never), dn.ArgumentError, 'reshape: shape must be an array of sizes');
    expect(dn.memory().bytesInUse).toBe(before);
    x4.dispose();
    x6.dispose();
  });

  it('Tensor.share refuses a shape with invalid sizes even where their product fits', () => {
    const x = dn.tensor([1, 2, 3, 4], [4]);
    expectThrows(() => x.share([-2, -2]), dn.ShapeError, 'share: invalid shape [-2,-2]');
    expectThrows(() => x.share([0.5, 8]), dn.ShapeError, 'share: invalid shape [0.5,8]');
    x.dispose();
  });
});
