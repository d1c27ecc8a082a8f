import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { bceDiceLoss } from '../../src/kernels/loss.js';
import { Adam } from '../../src/optim/adam.js';
import { unet } from '../../src/models/unet.js';
import { vgg16, vggClassifier } from '../../src/models/vgg16.js';
import { restoreState, snapshotState } from '../../src/train/checkpoint.js';
import { useGpu } from '../helpers/gpu.js';
import { rng } from '../helpers/rng.js';

useGpu();

describe('model sizes', () => {
  it("Buda's U-Net has 7,763,041 parameters with the PyTorch module's names", () => {
    const m = unet();
    expect(m.parameterCount()).toBe(7_763_041);
    const names = m.namedParameters().map((p) => p.name);
    expect(names.slice(0, 3)).toEqual(['encoder1.enc1conv1.weight', 'encoder1.enc1norm1.weight', 'encoder1.enc1norm1.bias']);
    expect(names).toContain('upconv4.weight');
    expect(names).toContain('decoder1.dec1conv2.weight');
    expect(names.slice(-2)).toEqual(['conv.weight', 'conv.bias']);
    expect(m.namedBuffers().map((b) => b.name)).toContain('bottleneck.bottlenecknorm2.running_var');
    m.dispose();
  });

  it('an option given as undefined takes its default, as an unset config field would pass it', () => {
    // A spread of { features: undefined } over the defaults built convs of NaN channels.
    const m = unet({ features: undefined, depth: undefined, up: undefined });
    expect(m.parameterCount()).toBe(7_763_041);
    m.dispose();
  });

  it('VGG16 without top has 14,714,688 parameters', () => {
    const m = vgg16({ includeTop: false });
    expect(m.parameterCount()).toBe(14_714_688);
    expect(m.namedParameters()[0].name).toBe('features.block1_conv1.weight');
    m.dispose();
  });
});

/** Synthetic "tumour" images: a bright disc in channel 1 whose mask is the target. */
function discBatch(n: number, size: number, seed: number): { x: Float32Array; y: Float32Array } {
  const r = rng(seed);
  const x = new Float32Array(n * size * size * 3);
  const y = new Float32Array(n * size * size);
  for (let b = 0; b < n; b++) {
    const cy = 3 + r() * (size - 6);
    const cx = 3 + r() * (size - 6);
    const rad = 2 + r() * 2;
    for (let i = 0; i < size; i++) {
      for (let j = 0; j < size; j++) {
        const inside = (i - cy) ** 2 + (j - cx) ** 2 < rad * rad ? 1 : 0;
        const p = (b * size + i) * size + j;
        y[p] = inside;
        x[p * 3] = 0.3 + 0.1 * r();
        x[p * 3 + 1] = 0.2 + 0.6 * inside + 0.1 * r();
        x[p * 3 + 2] = 0.5 * r();
      }
    }
  }
  return { x, y };
}

/** `steps` optimiser steps on the loss `lossOf` builds; each step's loss, read back. */
async function trainSteps(opt: Adam, steps: number, lossOf: () => dn.Tensor, after?: (step: number) => void): Promise<number[]> {
  const losses: number[] = [];
  for (let step = 1; step <= steps; step++) {
    const loss = dn.scope(() => {
      const l = lossOf();
      l.backward();
      return l;
    });
    opt.step();
    opt.zeroGrad();
    losses.push(await loss.item());
    loss.dispose();
    after?.(step);
  }
  return losses;
}

describe('training a tiny U-Net', () => {
  it('overfits a handful of synthetic images (loss falls by an order of magnitude) without leaking', async () => {
    dn.setInitSeed(3);
    const model = unet({ features: 4, depth: 2 });
    const opt = new Adam(model.trainableParameters(), { lr: 0.02 });
    const { x, y } = discBatch(4, 16, 5);
    const xt = dn.tensor(x, [4, 16, 16, 3]);
    const yt = dn.tensor(y, [4, 16, 16, 1]);
    let bytesAt10 = 0;
    const losses = await trainSteps(opt, 120, () => bceDiceLoss(model.forward(xt), yt), (step) => {
      if (step === 10) bytesAt10 = dn.memory().bytesInUse;
    });
    expect(dn.memory().bytesInUse).toBe(bytesAt10);
    expect(losses[losses.length - 1]).toBeLessThan(losses[0] / 10);
    for (const t of [xt, yt]) t.dispose();
    opt.dispose();
    model.dispose();
  });

  it('multi-class: logits, softmax cross-entropy and per-class Dice against one-hot masks learn the same discs', async () => {
    dn.setInitSeed(4);
    const model = unet({ features: 4, depth: 2, outChannels: 2, output: 'logits' });
    const opt = new Adam(model.trainableParameters(), { lr: 0.02 });
    const { x, y } = discBatch(4, 16, 6);
    const xt = dn.tensor(x, [4, 16, 16, 3]);
    const labels = dn.tensor(y, [4, 16, 16, 1]);
    const target = dn.oneHot(labels, 2);
    expect(target.shape).toEqual([4, 16, 16, 2]);
    const losses = await trainSteps(opt, 100, () => {
      const z = model.forward(xt);
      return dn.add(dn.softmaxCrossEntropy(z, target), dn.diceLoss(dn.softmax(z), target, { perChannel: true }));
    });
    expect(losses[losses.length - 1]).toBeLessThan(losses[0] / 10);
    // The same weights behind output: 'softmax' give class probabilities summing to 1 per pixel.
    const probs = unet({ features: 4, depth: 2, outChannels: 2, output: 'softmax' });
    const weights = snapshotState(model);
    restoreState(probs, weights);
    for (const t of weights.values()) t.dispose();
    const [p, z] = dn.noGrad(() => [probs.forward(xt), model.forward(xt)]);
    const [host, logits] = [await p.toArray(), await z.toArray()];
    for (let i = 0; i < host.length; i += 2) {
      expect(host[i] + host[i + 1]).toBeCloseTo(1, 5);
      // softmax of two logits is the sigmoid of their difference
      expect(host[i + 1]).toBeCloseTo(1 / (1 + Math.exp(logits[i] - logits[i + 1])), 5);
    }
    z.dispose();
    for (const t of [xt, labels, target, p]) t.dispose();
    opt.dispose();
    model.dispose();
    probs.dispose();
  });

  it("nnU-Net's layers (instance norm, leaky ReLU) train at batch 1; group norm builds and runs", async () => {
    dn.setInitSeed(5);
    const model = unet({ features: 4, depth: 2, norm: 'instance', activation: 'leakyRelu' });
    expect(model.namedBuffers()).toEqual([]);
    expect(model.module('encoder1.enc1norm1')).toBeInstanceOf(dn.nn.InstanceNorm2d);
    expect(model.module('encoder1.enc1relu1')).toBeInstanceOf(dn.nn.LeakyReLU);
    // Same parameters as the batch-norm U-Net: a weight and a bias per normalised channel.
    const batch = unet({ features: 4, depth: 2 });
    expect(model.parameterCount()).toBe(batch.parameterCount());
    batch.dispose();
    const opt = new Adam(model.trainableParameters(), { lr: 0.02 });
    const { x, y } = discBatch(1, 16, 7);
    const [xt, yt] = [dn.tensor(x, [1, 16, 16, 3]), dn.tensor(y, [1, 16, 16, 1])];
    const losses = await trainSteps(opt, 80, () => bceDiceLoss(model.forward(xt), yt));
    expect(losses[losses.length - 1]).toBeLessThan(losses[0] / 5);
    const grouped = unet({ features: 8, depth: 1, norm: 'group', normGroups: 4 });
    expect((grouped.module('encoder1.enc1norm1') as dn.nn.GroupNorm).groups).toBe(4);
    const out = dn.noGrad(() => grouped.forward(xt));
    expect(out.shape).toEqual([1, 16, 16, 1]);
    for (const t of [xt, yt, out]) t.dispose();
    opt.dispose();
    model.dispose();
    grouped.dispose();
  });

  it('the frozen VGG classifier computes no gradient for its base', async () => {
    const model = vggClassifier({ inputSize: 32, widthScale: 1 / 16, hidden: 8 });
    const x = dn.tensor(new Float32Array(2 * 32 * 32 * 3).fill(0.5), [2, 32, 32, 3]);
    const y = dn.tensor([1, 0], [2, 1]);
    const loss = dn.scope(() => dn.mean(dn.square(dn.sub(model.forward(x), y))));
    loss.backward();
    expect(model.base.parameters().every((p) => p.grad === null)).toBe(true);
    expect(model.head.parameters().every((p) => p.grad !== null)).toBe(true);
    for (const t of [x, y, loss]) t.dispose();
    model.dispose();
  });

  it('the VGG classifier refuses images of another size than it was built for, by name', () => {
    const model = vggClassifier({ inputSize: 64, widthScale: 1 / 16, hidden: 8 });
    const x = dn.zeros([1, 32, 32, 3]);
    expect(() => model.forward(x)).toThrow(/^VggClassifier: built for 64x64 inputs \(inputSize\), got tensor#\d+ \[1,32,32,3\]$/);
    // 80 px flattens as 64 px does (two 2x2 cells after five pools): that is no mistake.
    const z = dn.zeros([1, 80, 80, 3]);
    const y = dn.noGrad(() => model.eval().forward(z));
    expect(y.shape).toEqual([1, 1]);
    for (const t of [x, z, y]) t.dispose();
    model.dispose();
  });
});
