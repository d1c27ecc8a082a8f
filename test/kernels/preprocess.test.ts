import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { CAFFE_BGR_MEAN, channelAffine, imagenetPreprocess, TORCH_MEAN, TORCH_STD } from '../../src/kernels/preprocess.js';
import { expectClose } from '../helpers/close.js';
import { useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

/** CPU reference: out[..., c] = x[..., perm[c]] * scale[c] + shift[c]. */
function affineRef(x: ArrayLike<number>, c: number, perm: number[], scale: number[], shift: number[]): number[] {
  return Array.from({ length: x.length }, (_, i) => {
    const ch = i % c;
    return x[i - ch + perm[ch]] * scale[ch] + shift[ch];
  });
}

describe('channel affine preprocessing', () => {
  it('matches the CPU reference for a 4-channel permutation', async () => {
    const data = uniform(2 * 5 * 3 * 4, 31);
    const x = dn.tensor(Float32Array.from(data), [2, 5, 3, 4]);
    const a = { perm: [3, 0, 2, 1], scale: [1, -2, 0.5, 3], shift: [0.1, 0, -1, 2] };
    const y = channelAffine(x, a);
    expectClose('channelAffine', await y.toArray(), affineRef(data, 4, a.perm, a.scale, a.shift));
    for (const t of [x, y]) t.dispose();
  });

  it("Keras 'caffe' mode: RGB in [0,1] -> BGR * 255 minus the ImageNet BGR mean", async () => {
    const x = dn.tensor([0.1, 0.5, 0.9], [1, 1, 1, 3]);
    const y = imagenetPreprocess(x, 'caffe');
    // BGR = (0.9, 0.5, 0.1) * 255 - mean; float32 scaling of values near 255: atol 1e-4.
    expectClose('caffe', await y.toArray(), [0.9 * 255 - CAFFE_BGR_MEAN[0], 0.5 * 255 - CAFFE_BGR_MEAN[1], 0.1 * 255 - CAFFE_BGR_MEAN[2]], { atol: 1e-4 });
    const z = imagenetPreprocess(x, 'torch');
    expectClose('torch', await z.toArray(), [0.1, 0.5, 0.9].map((v, i) => (v - TORCH_MEAN[i]) / TORCH_STD[i]), { atol: 1e-5 });
    for (const t of [x, y, z]) t.dispose();
  });

  it('rejects more than 4 channels and bad permutations', () => {
    const x = dn.zeros([1, 2, 2, 5]);
    expect(() => channelAffine(x, { perm: [0, 1, 2, 3, 4], scale: [1, 1, 1, 1, 1], shift: [0, 0, 0, 0, 0] })).toThrow(dn.ShapeError);
    const y = dn.zeros([1, 2, 2, 3]);
    expect(() => channelAffine(y, { perm: [0, 1, 3], scale: [1, 1, 1], shift: [0, 0, 0] })).toThrow(dn.ShapeError);
    x.dispose();
    y.dispose();
  });
});
