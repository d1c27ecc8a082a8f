// The volume ops' depth-axis helpers (src/kernels/volume-axes.ts): a size given as one number or
// three, a padding option, the planes a depth step takes, and zero planes around a volume.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { depthPlanes, padDepth, volumePadding, volumeTriple } from '../../src/kernels/volume-axes.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

describe('volume axes', () => {
  it('reads a size as one number or [depth, height, width], refusing others by name', () => {
    expect(volumeTriple('op', 'size', 2)).toEqual([2, 2, 2]);
    expect(volumeTriple('op', 'padding', [0, 1, 2], 0)).toEqual([0, 1, 2]);
    expect(() => volumeTriple('op', 'size', 0)).toThrow(/^op: size must be a positive integer or three of them/);
    expect(() => volumeTriple('op', 'padding', -1, 0)).toThrow(/^op: padding must be a non-negative integer/);
    expect(() => volumeTriple('op', 'size', [1, 2])).toThrow(dn.ShapeError);
  });

  it("reads padding as 'valid' (the default), 'same' or PyTorch's p per axis, refusing others by name", () => {
    expect([undefined, 'valid', 'same', 1, [0, 2, 1]].map((p) => volumePadding('op', p))).toEqual(['valid', 'valid', 'same', [1, 1, 1], [0, 2, 1]]);
    expect(() => volumePadding('op', 'full')).toThrow(dn.ArgumentError);
    expect(() => volumePadding('op', 'full')).toThrow(/^op: padding must be 'valid', 'same', a non-negative integer or \[pd, ph, pw\]/);
    expect(() => volumePadding('op', -1)).toThrow(dn.ShapeError);
    expect(() => volumePadding('op', [1, 1])).toThrow(dn.ShapeError);
  });

  it('takes every step-th plane from a first one, and pads planes of zeros before and after', async () => {
    // Plane z of the volume holds z everywhere: [1, 5, 1, 2, 1].
    const x = dn.tensor(Array.from({ length: 10 }, (_, i) => Math.floor(i / 2)), [1, 5, 1, 2, 1]);
    const every = depthPlanes(x, 1, 2, 2);
    const next = depthPlanes(x, 2, 1, 3);
    const padded = padDepth(x, 1, 2);
    expect(Array.from(await every.toArray())).toEqual([1, 1, 3, 3]);
    expect(Array.from(await next.toArray())).toEqual([2, 2, 3, 3, 4, 4]);
    expect(padded.shape).toEqual([1, 8, 1, 2, 1]);
    expect(Array.from(await padded.toArray())).toEqual([0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 0, 0, 0, 0]);
    expect(padDepth(x, 0, 0)).toBe(x);
    for (const t of [x, every, next, padded]) t.dispose();
  });
});
