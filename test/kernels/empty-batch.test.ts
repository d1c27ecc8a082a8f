// An empty batch (N = 0), as PyTorch takes one: conv2d (plain, strided, dilated, grouped, with
// its fused ReLU), convTranspose2d and depthwiseConv2d give one sample's output size with N = 0
// and zero weight and bias gradients; a conv / batch norm / ReLU / pool stack and the U-Net run
// forward and backward through it, the running statistics untouched.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { isEmptyBatch } from '../../src/kernels/empty-batch.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

const zerosOf = async (t: dn.Tensor): Promise<number[]> => [...(await t.toArray())];

describe('an empty batch', () => {
  it("conv2d: one sample's output size, no work, zero weight and bias gradients", async () => {
    const cases: [dn.Conv2dOptions, number[], number[]][] = [
      [{ padding: 'same' }, [3, 3, 3, 4], [0, 8, 8, 4]],
      [{ padding: 'valid', stride: 2 }, [3, 3, 3, 4], [0, 3, 3, 4]],
      [{ padding: 'valid', dilation: 2 }, [3, 3, 3, 4], [0, 4, 4, 4]],
      [{ padding: 'same', activation: 'relu' }, [3, 3, 3, 4], [0, 8, 8, 4]],
      [{ padding: 'same', groups: 3 }, [3, 3, 1, 6], [0, 8, 8, 6]],
    ];
    for (const [opts, wShape, want] of cases) {
      const x = dn.zeros([0, 8, 8, 3]);
      x.requiresGrad = true;
      const w = dn.full(wShape, 0.5);
      w.requiresGrad = true;
      const b = dn.full([wShape[3]], 0.1);
      b.requiresGrad = true;
      const y = dn.conv2d(x, w, b, opts);
      expect(y.shape, JSON.stringify(opts)).toEqual(want);
      const loss = dn.sum(y);
      loss.backward();
      expect(x.grad!.shape).toEqual([0, 8, 8, 3]);
      expect((await zerosOf(w.grad!)).every((v) => v === 0)).toBe(true);
      expect(await zerosOf(b.grad!)).toEqual(new Array(wShape[3]).fill(0));
      for (const t of [x, w, b, y, loss]) t.dispose();
    }
  });

  it('a conv, batch norm, ReLU and pool stack trains through it, the running statistics untouched', async () => {
    dn.setInitSeed(5);
    const net = new dn.nn.Sequential(new dn.nn.Conv2d(3, 4), new dn.nn.BatchNorm2d(4), new dn.nn.ReLU(), new dn.nn.MaxPool2d(2));
    const bn = net.module('1') as dn.nn.BatchNorm2d;
    const stats = await Promise.all([bn.runningMean, bn.runningVar].map(zerosOf));
    const x = dn.zeros([0, 8, 8, 3]);
    const y = net.forward(x);
    expect(y.shape).toEqual([0, 4, 4, 4]);
    const loss = dn.sum(y);
    loss.backward();
    for (const { name, tensor } of net.namedParameters()) expect((await zerosOf(tensor.grad!)).every((v) => v === 0), name).toBe(true);
    expect(await Promise.all([bn.runningMean, bn.runningVar].map(zerosOf))).toEqual(stats);
    for (const t of [x, y, loss]) t.dispose();
    net.dispose();
  });

  it('convTranspose2d and depthwiseConv2d (plain and dilated) alike', async () => {
    const cases: [string, () => [dn.Tensor, dn.Tensor, dn.Tensor, (x: dn.Tensor, w: dn.Tensor, b: dn.Tensor) => dn.Tensor], number[]][] = [
      ['convTranspose2d stride 2', () => [dn.zeros([0, 5, 5, 3]), dn.full([2, 2, 4, 3], 0.5), dn.full([4], 0.1), (x, w, b) => dn.convTranspose2d(x, w, b, { stride: 2 })], [0, 10, 10, 4]],
      ['depthwiseConv2d', () => [dn.zeros([0, 8, 8, 3]), dn.full([3, 3, 3, 2], 0.5), dn.full([6], 0.1), (x, w, b) => dn.depthwiseConv2d(x, w, b, { padding: 'valid' })], [0, 6, 6, 6]],
      ['depthwiseConv2d dilated', () => [dn.zeros([0, 8, 8, 3]), dn.full([3, 3, 3, 1], 0.5), dn.full([3], 0.1), (x, w, b) => dn.depthwiseConv2d(x, w, b, { padding: 'valid', dilation: 2 })], [0, 4, 4, 3]],
    ];
    for (const [name, make, want] of cases) {
      const [x, w, b, op] = make();
      for (const t of [x, w, b]) t.requiresGrad = true;
      const y = op(x, w, b);
      expect(y.shape, name).toEqual(want);
      const loss = dn.sum(y);
      loss.backward();
      expect(x.grad!.shape, name).toEqual(x.shape);
      for (const t of [w, b]) expect((await zerosOf(t.grad!)).every((v) => v === 0), name).toBe(true);
      for (const t of [x, w, b, y, loss]) t.dispose();
    }
  });

  it('the U-Net runs forward and backward through it; a loss over no pixels is refused, naming itself', async () => {
    dn.setInitSeed(6);
    const net = dn.models.unet({ features: 4, depth: 2 });
    const x = dn.zeros([0, 16, 16, 3]);
    const mask = dn.zeros([0, 16, 16, 1]);
    const y = net.forward(x);
    expect(y.shape).toEqual([0, 16, 16, 1]);
    const total = dn.sum(y);
    total.backward();
    for (const { name, tensor } of net.namedParameters()) expect((await zerosOf(tensor.grad!)).every((v) => v === 0), name).toBe(true);
    // A mean over no pixels has no value (PyTorch's is NaN): the losses say so instead.
    expect(() => dn.bceDiceLoss(y, mask)).toThrow(/^bceDiceLoss: prediction \S+ \[0,16,16,1\] is empty/);
    for (const t of [x, mask, y, total]) t.dispose();
    net.dispose();
  });

  it("group, instance and layer norm alike: nnU-Net's U-Net and a VGG classifier (Flatten) run through it", async () => {
    const x = dn.zeros([0, 8, 8, 4]);
    x.requiresGrad = true;
    const [gamma, beta] = [dn.full([4], 1), dn.zeros([4])];
    for (const t of [gamma, beta]) t.requiresGrad = true;
    for (const [name, f] of [
      ['groupNorm', () => dn.groupNorm(x, gamma, beta, { groups: 2 })],
      ['layerNorm', () => dn.layerNorm(x, gamma, beta)],
    ] as const) {
      const y = f();
      expect(y.shape, name).toEqual([0, 8, 8, 4]);
      const total = dn.sum(y);
      total.backward();
      for (const t of [gamma, beta]) expect(await zerosOf(t.grad!), name).toEqual([0, 0, 0, 0]);
      for (const t of [y, total]) t.dispose();
    }
    // Still checked as a sample would be.
    expect(() => dn.groupNorm(x, gamma, beta, { groups: 3 })).toThrow(/^groupNorm: 4 channels do not split into 3 groups/);
    for (const t of [x, gamma, beta]) t.dispose();
    dn.setInitSeed(7);
    const models = [dn.models.unet({ features: 8, depth: 2, norm: 'instance' }), dn.models.vggClassifier({ inputSize: 32, widthScale: 0.125, hidden: 8 })];
    for (const [net, shape, out] of [[models[0], [0, 16, 16, 3], [0, 16, 16, 1]], [models[1], [0, 32, 32, 3], [0, 1]]] as const) {
      const input = dn.zeros([...shape]);
      const y = net.forward(input);
      expect(y.shape).toEqual(out);
      const total = dn.sum(y);
      total.backward();
      for (const t of [input, y, total]) t.dispose();
      net.dispose();
    }
  });

  it('is N = 0 over samples that are not empty themselves', () => {
    const shapes: [number[], boolean][] = [[[0, 8, 8, 3], true], [[0, 4], true], [[1, 8, 8, 3], false], [[0, 0, 8, 3], false], [[0], false]];
    for (const [shape, want] of shapes) {
      const t = dn.zeros(shape);
      expect(isEmptyBatch(t), JSON.stringify(shape)).toBe(want);
      t.dispose();
    }
  });

  it('a wrong weight is still refused', () => {
    const x = dn.zeros([0, 8, 8, 3]);
    const w = dn.zeros([3, 3, 2, 4]);
    expect(() => dn.conv2d(x, w)).toThrow(dn.ShapeError);
    for (const t of [x, w]) t.dispose();
  });
});
