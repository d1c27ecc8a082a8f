// The conv rows' extra sides on GPUs: the uniform-weights kernel, Winograd by it, and the row-patch
// kernel at the pixel counts a thread other than the default, where each runs the conv (bench/cases/conv2d.ts).
import { describe, expect, it } from 'vitest';
import { load, pixelSides } from '../../bench/cases/conv2d.js';
import { conv2dGeometry } from '../../src/kernels/conv2d.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

describe('pixelSides', () => {
  it('times the other pixel counts of the uniform-weights algorithms and row-patch where they run, on GPUs only', async () => {
    const k = await load();
    const g = (n: number, side: number, cin: number, cout: number) => conv2dGeometry([n, side, side, cin], [3, 3, cin, cout], { padding: 'same' });
    const names = (dir: 'forward' | 'backwardInput' | 'backwardWeight', geometry: ReturnType<typeof g>) => pixelSides(k, dir, geometry, true).map((s) => `${s.algorithm} P=${s.pixels}`);
    // U-Net l1 (32 -> 32): both fit the forward; default 4 pixels, so 1, 2 and 8.
    expect(names('forward', g(2, 32, 32, 32))).toEqual(['uniform-weights P=1', 'uniform-weights P=2', 'uniform-weights P=8', 'winograd-uniform P=1', 'winograd-uniform P=2', 'winograd-uniform P=8']);
    // VGG conv1_1 (3 -> 64): default 2 pixels; Winograd's U[ξ] of 3 x 64 floats fits too; and the
    // row-patch kernel (default 4 pixels) at 2 and 8.
    expect(names('forward', g(4, 32, 3, 64))).toEqual(['uniform-weights P=1', 'uniform-weights P=4', 'winograd-uniform P=1', 'winograd-uniform P=4', 'row-patch P=2', 'row-patch P=8']);
    // U-Net l2 (64 -> 64): the weights are too many for the kernel itself, not for U[ξ]; dx has 64 outputs too.
    expect(names('forward', g(2, 16, 64, 64))).toEqual(['winograd-uniform P=1', 'winograd-uniform P=4']);
    expect(names('backwardInput', g(2, 16, 64, 64))).toEqual(['winograd-uniform P=1', 'winograd-uniform P=4']);
    // dx of 128 -> 32 has 128 outputs: too many for a thread. No weight gradient either way.
    expect(names('backwardInput', g(2, 8, 128, 32))).toEqual([]);
    expect(names('backwardWeight', g(2, 32, 32, 32))).toEqual([]);
    expect(pixelSides(k, 'forward', g(2, 32, 32, 32), false), 'CPU adapters: none').toEqual([]);
  });
});
