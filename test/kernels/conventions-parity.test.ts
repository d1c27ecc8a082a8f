// What a port from PyTorch or Keras gets from dawnet's ops, case by case, with expected numbers
// worked by hand (and checked with torch 1.13 in float64, the value quoted beside each). Each case
// pins one documented convention: where dawnet follows one library and not the other, both are
// here, so that the README's word on it stays true.
import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { expectClose } from '../helpers/close.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

/** x [1, 4, 4, 1] holding 1..16 row by row. */
const grid4 = (): dn.Tensor => dn.tensor(Float32Array.from({ length: 16 }, (_, i) => i + 1), [1, 4, 4, 1]);

async function values(t: dn.Tensor): Promise<number[]> {
  const v = Array.from(await t.toArray());
  t.dispose();
  return v;
}

describe("'same' padding is TensorFlow's: the odd pixel at the bottom and right", () => {
  it('conv2d 3x3 stride 2 on 4x4: pads [0, 1, 0, 1]; explicit padding 1 is PyTorch padding=1', async () => {
    const x = grid4();
    const w = dn.full([3, 3, 1, 1], 1);
    // Window sums: TF's windows start at rows/cols 0 and 2 (pad after), PyTorch's at -1 and 1.
    expect(await values(dn.conv2d(x, w, null, { stride: 2, padding: 'same' }))).toEqual([54, 45, 72, 54]);
    // torch: F.conv2d(x, ones, stride=2, padding=1) = [14, 30, 57, 99]
    expect(await values(dn.conv2d(x, w, null, { stride: 2, padding: 1 }))).toEqual([14, 30, 57, 99]);
    for (const t of [x, w]) t.dispose();
  });

  it("stride 1 is PyTorch's padding='same' too, even kernels and dilation included", async () => {
    const x = grid4();
    const [w2, w3] = [dn.full([2, 2, 1, 1], 1), dn.full([3, 3, 1, 1], 1)];
    // torch: F.conv2d(x, ones(2x2), padding='same'): the extra row and column after
    const even = [14, 18, 22, 12, 30, 34, 38, 20, 46, 50, 54, 28, 27, 29, 31, 16];
    expect(await values(dn.conv2d(x, w2, null, { padding: 'same' }))).toEqual(even);
    // torch: F.conv2d(x, ones(3x3), padding='same', dilation=2)
    const dilated = [24, 28, 24, 28, 40, 44, 40, 44, 24, 28, 24, 28, 40, 44, 40, 44];
    expect(await values(dn.conv2d(x, w3, null, { padding: 'same', dilation: 2 }))).toEqual(dilated);
    for (const t of [x, w2, w3]) t.dispose();
  });

  it('maxPool2d and avgPool2d 3x3 stride 2: Keras\'s windows; padding never wins a max nor counts in a mean', async () => {
    const x = grid4();
    expect(await values(dn.maxPool2d(x, { size: 3, stride: 2, padding: 'same' }))).toEqual([11, 12, 15, 16]);
    // 54/9, 45/6, 72/6, 54/4: the real pixels of each window (tf.nn.avg_pool 'SAME').
    expect(await values(dn.avgPool2d(x, { size: 3, stride: 2, padding: 'same' }))).toEqual([6, 7.5, 12, 13.5]);
    x.dispose();
  });

  it("PyTorch's padded pools: pad2d then 'valid' (max: -Infinity fill; avg: zeros, count_include_pad=True)", async () => {
    const x = grid4();
    // torch: F.max_pool2d(x, 3, 2, padding=1) = [6, 8, 14, 16]
    const xm = dn.pad2d(x, 1, { value: -Infinity });
    expect(await values(dn.maxPool2d(xm, { size: 3, stride: 2 }))).toEqual([6, 8, 14, 16]);
    // torch: F.avg_pool2d(x, 3, 2, padding=1) · 9 = [14, 30, 57, 99]
    const xa = dn.pad2d(x, 1);
    expectClose('avgPool2d count_include_pad', await values(dn.avgPool2d(xa, { size: 3, stride: 2 })), [14 / 9, 30 / 9, 57 / 9, 99 / 9]);
    for (const t of [x, xm, xa]) t.dispose();
  });

  it("PyTorch's padding, ceil_mode and count_include_pad given to the pools directly", async () => {
    const x = grid4();
    // padding=1 alone: the values torch gave the pad2d compositions above.
    expect(await values(dn.maxPool2d(x, { size: 3, stride: 2, padding: 1 }))).toEqual([6, 8, 14, 16]);
    expectClose('avgPool2d padding=1', await values(dn.avgPool2d(x, { size: 3, stride: 2, padding: 1 })), [14 / 9, 30 / 9, 57 / 9, 99 / 9]);
    // ceil_mode=True, worked by hand from PyTorch's rules (not run through torch, which this
    // machine lacks): out = ceil((4 + 2 - 3) / 2) + 1 = 3, kept since its last window starts at
    // 2 * 2 - 1 = 3 < 4 + 1. Windows start at rows -1, 1, 3; the last covers row 3, padding row 4
    // and row 5 past the padding. The max is each window's last real pixel.
    const ceil = { size: 3, stride: 2, padding: 1, ceilMode: true } as const;
    expect(await values(dn.maxPool2d(x, ceil))).toEqual([6, 8, 8, 14, 16, 16, 14, 16, 16]);
    // Sums [14, 30, 12, 57, 99, 36, 27, 45, 16]. count_include_pad=True divides by min(start + 3,
    // 4 + 1) - start per axis, 3, 3, 2: the padding counts, the overhang past it does not.
    const sums = [14, 30, 12, 57, 99, 36, 27, 45, 16];
    expectClose('avgPool2d ceil_mode', await values(dn.avgPool2d(x, ceil)), sums.map((s, i) => s / ([3, 3, 2][Math.floor(i / 3)] * [3, 3, 2][i % 3])));
    // count_include_pad=False: the real pixels alone, 2, 3, 1 per axis.
    const real = [2, 3, 1];
    expectClose('avgPool2d count_include_pad=False', await values(dn.avgPool2d(x, { ...ceil, countIncludePad: false })), sums.map((s, i) => s / (real[Math.floor(i / 3)] * real[i % 3])));
    x.dispose();
  });

  it("a window's NaN wins the max; of two, the first in scan order takes dy (PyTorch's index points at the last)", async () => {
    const x = dn.tensor([1, NaN, NaN, 2], [1, 2, 2, 1], { requiresGrad: true });
    const y = dn.maxPool2d(x, { size: 2 });
    y.backward();
    // torch: max_pool2d(..., return_indices=True) gives index 2 and x.grad [0, 0, 1, 0].
    expect(await values(y)).toEqual([NaN]);
    expect(Array.from(await x.grad!.toArray())).toEqual([0, 1, 0, 0]);
    x.dispose();
  });

  it("2x2 stride 2 'same' is PyTorch's ceil_mode=True (max and avg) on odd sizes", async () => {
    const x = dn.tensor(Float32Array.from({ length: 25 }, (_, i) => i + 1), [1, 5, 5, 1]);
    // torch: F.max_pool2d(x, 2, 2, ceil_mode=True), F.avg_pool2d(x, 2, 2, ceil_mode=True)
    expect(await values(dn.maxPool2d(x, { size: 2, stride: 2, padding: 'same' }))).toEqual([7, 9, 10, 17, 19, 20, 22, 24, 25]);
    expect(await values(dn.avgPool2d(x, { size: 2, stride: 2, padding: 'same' }))).toEqual([4, 6, 7.5, 14, 16, 17.5, 21.5, 23.5, 25]);
    x.dispose();
  });
});

describe('convTranspose2d against ConvTranspose2d and Conv2DTranspose', () => {
  // x [[1, 2], [3, 4]], w 3x3 holding 1..9 (PyTorch [in, out, kh, kw] and dawnet [kh, kw, out, in]
  // hold the same numbers with one channel each way). The full scatter, 5x5, stride 2:
  const full = [
    [1, 2, 5, 4, 6],
    [4, 5, 14, 10, 12],
    [10, 14, 36, 24, 30],
    [12, 15, 34, 20, 24],
    [21, 24, 55, 32, 36],
  ];
  const crop = (top: number, left: number, n: number) => full.slice(top, top + n).flatMap((r) => r.slice(left, left + n));
  const run = async (padding: 'same' | 'valid' | [number, number, number, number]) => {
    const x = dn.tensor([1, 2, 3, 4], [1, 2, 2, 1]);
    const w = dn.tensor(Float32Array.from({ length: 9 }, (_, i) => i + 1), [3, 3, 1, 1]);
    const y = dn.convTranspose2d(x, w, null, { stride: 2, padding });
    const shape = y.shape;
    const v = await values(y);
    for (const t of [x, w]) t.dispose();
    return { shape, v };
  };

  it("'valid' is the full scatter (torch padding=0: (H − 1)·s + k)", async () => {
    const { shape, v } = await run('valid');
    expect(shape).toEqual([1, 5, 5, 1]);
    expect(v).toEqual(crop(0, 0, 5));
  });

  it("'same' is Keras's H·s, cropping k − s at the bottom and right", async () => {
    const { shape, v } = await run('same');
    expect(shape).toEqual([1, 4, 4, 1]);
    expect(v).toEqual(crop(0, 0, 4));
  });

  it('PyTorch padding p, output_padding op is [p, p − op, p, p − op]', async () => {
    // torch: F.conv_transpose2d(x, w, stride=2, padding=1, output_padding=1), rows 1..4 of the scatter
    const { shape, v } = await run([1, 0, 1, 0]);
    expect(shape).toEqual([1, 4, 4, 1]);
    expect(v).toEqual([5, 14, 10, 12, 14, 36, 24, 30, 15, 34, 20, 24, 24, 55, 32, 36]);
    expect(v).toEqual(crop(1, 1, 4));
  });
});

describe('upsample2d', () => {
  it("bilinear is PyTorch's align_corners=False (and Keras's UpSampling2D, TF2's half-pixel resize)", async () => {
    const x = dn.tensor([0, 1, 2, 3], [1, 1, 4, 1]);
    // torch: F.interpolate(x, scale_factor=2, mode='bilinear', align_corners=False); align_corners=True
    // would give 0, 3/7, 6/7, ...
    expectClose('bilinear x2', await values(dn.upsample2d(x, { scale: [1, 2], mode: 'bilinear' })), [0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3]);
    x.dispose();
  });

  it('a fractional scale reads at dst / scale, as interpolate(scale_factor) without recompute_scale_factor', async () => {
    const x = dn.tensor([0, 1, 2, 3, 4], [1, 1, 5, 1]);
    // torch, scale_factor 1.5 on 5 pixels (7 out, ratio 2/3, not 5/7):
    expectClose('bilinear x1.5', await values(dn.upsample2d(x, { scale: [1, 1.5], mode: 'bilinear' })), [0, 0.5, 7 / 6, 11 / 6, 2.5, 19 / 6, 23 / 6]);
    expect(await values(dn.upsample2d(x, { scale: [1, 1.5] }))).toEqual([0, 0, 1, 2, 2, 3, 4]);
    x.dispose();
  });
});

describe('batchNorm2d', () => {
  it("PyTorch's update: momentum 0.1 weighs the batch, the running variance unbiased, the output by the biased one", async () => {
    const x = dn.tensor([1, 2, 3, 4], [1, 2, 2, 1]);
    const [gamma, beta, rm, rv] = [dn.full([1], 1), dn.zeros([1]), dn.zeros([1]), dn.full([1], 1)];
    const y = dn.batchNorm2d(x, gamma, beta, rm, rv, { training: true });
    // mean 2.5, biased variance 1.25 (normalises), unbiased 5/3 (into running_var); eps 1e-5.
    const s = Math.sqrt(1.25 + 1e-5);
    expectClose('bn y', await values(y), [-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s]);
    expectClose('bn running_mean', await rm.toArray(), [0.25]);
    expectClose('bn running_var', await rv.toArray(), [0.9 + 0.1 * (5 / 3)]);
    // eval: the running statistics, torch's (x - 0.25) / sqrt(1.0666667 + 1e-5).
    const e = dn.batchNorm2d(x, gamma, beta, rm, rv, { training: false });
    const r = Math.sqrt(0.9 + 0.1 * (5 / 3) + 1e-5);
    expectClose('bn eval', await values(e), [1, 2, 3, 4].map((v) => (v - 0.25) / r));
    for (const t of [x, gamma, beta, rm, rv]) t.dispose();
  });
});

describe('activations', () => {
  it("defaults: leakyRelu slope 0.01 and ELU alpha 1 (PyTorch's; Keras's LeakyReLU is 0.3), gelu both forms", async () => {
    const x = dn.tensor([-1, 1], [2]);
    expectClose('leakyRelu', await values(dn.leakyRelu(x)), [-0.01, 1]);
    const layer = new dn.nn.LeakyReLU();
    expectClose('LeakyReLU()', await values(layer.forward(x)), [-0.01, 1]);
    expectClose('elu', await values(dn.elu(x)), [Math.expm1(-1), 1]);
    // torch: gelu(1) = 0.841344746068543, gelu(1, approximate='tanh') = 0.8411919906082768
    expectClose('gelu', await values(dn.gelu(x)), [-1 + 0.841344746068543, 0.841344746068543]);
    expectClose('gelu tanh', await values(dn.gelu(x, { approximate: 'tanh' })), [-1 + 0.8411919906082768, 0.8411919906082768]);
    expectClose('softplus', await values(dn.softplus(x)), [Math.log1p(Math.exp(-1)), 1.3132616875182228]);
    x.dispose();
  });
});

describe('reductions', () => {
  it('argmax takes the first of tied maxima; max (torch.amax) splits the gradient among them', async () => {
    const x = dn.tensor([1, 3, 3, 2], [4], { requiresGrad: true });
    expect(await values(dn.argmax(x, 0))).toEqual([1]);
    const m = dn.max(x, 0);
    m.backward();
    // torch: amax(x, 0).backward() and max(x).backward() give [0, .5, .5, 0]; max(x, 0)[0] gives [0, 1, 0, 0].
    expect(Array.from(await x.grad!.toArray())).toEqual([0, 0.5, 0.5, 0]);
    for (const t of [x, m]) t.dispose();
  });

  it("an empty list of axes reduces nothing (NumPy's and tf.reduce_sum's; torch.sum(x, dim=[]) reduces all)", async () => {
    const x = dn.tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    for (const f of [dn.sum, dn.mean, dn.max, dn.min]) {
      const y = f(x, []);
      expect(y.shape).toEqual([2, 3]);
      expect(await values(y)).toEqual([1, 2, 3, 4, 5, 6]);
    }
    x.dispose();
  });
});
