// A training step of the two notebook models, shrunk, with runtime().setBindingLimit() lowered below
// their activations (so convolutions, batch norm, pooling, concat, upsampling and the element-wise
// ops all split their work, src/kernels/chunking.ts) but above their weights, which are bound whole.
// The loss and every parameter gradient must agree with the same step under the device's limit.

import { afterEach, describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { runtime } from '../../src/gpu/runtime.js';
import { bceDiceLoss } from '../../src/kernels/loss.js';
import { unet } from '../../src/models/unet.js';
import { Conv2d, Dropout, Flatten, Linear, MaxPool2d, ReLU, Sequential, Sigmoid } from '../../src/nn/layers.js';
import type { Module } from '../../src/nn/module.js';
import { expectClose } from '../helpers/close.js';
import { useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

afterEach(() => runtime().setBindingLimit(null));

interface Step {
  loss: number;
  grads: Map<string, Float32Array>;
  dispatches: number;
}

/** One forward and backward pass of a freshly built model (same init seed: same weights and dropout seeds). */
async function step(build: () => Module, x: Float32Array, xShape: number[], y: Float32Array, yShape: number[], loss: (p: dn.Tensor, y: dn.Tensor) => dn.Tensor): Promise<Step> {
  dn.setInitSeed(7);
  const model = build();
  const [xt, yt] = [dn.tensor(x, xShape), dn.tensor(y, yShape)];
  const before = runtime().dispatchCount;
  const l = dn.scope(() => {
    const v = loss(model.forward(xt), yt);
    v.backward();
    return v;
  });
  const dispatches = runtime().dispatchCount - before;
  const grads = new Map<string, Float32Array>();
  for (const p of model.namedParameters()) grads.set(p.name, await p.tensor.grad!.toArray());
  const value = await l.item();
  for (const t of [xt, yt, l]) t.dispose();
  model.dispose();
  return { loss: value, grads, dispatches };
}

// Batch norm's statistics and the weight and bias gradients are sums over the split batch, added in
// another order: they differ by float32 rounding (measured within atol 1e-6, rtol 1e-5), so the
// default tolerance holds; a missed or doubled chunk would be off by O(1).
const TOL = { atol: 1e-5, rtol: 1e-4 };

async function compare(name: string, limit: number, run: () => Promise<Step>): Promise<void> {
  const whole = await run();
  runtime().setBindingLimit(limit);
  const split = await run();
  runtime().setBindingLimit(null);
  expect(split.dispatches, `${name}: the lowered limit splits the work`).toBeGreaterThan(whole.dispatches);
  expectClose(`${name} loss`, [split.loss], [whole.loss], TOL);
  expect([...split.grads.keys()]).toEqual([...whole.grads.keys()]);
  for (const [k, g] of split.grads) expectClose(`${name} ${k}.grad`, g, whole.grads.get(k)!, TOL);
}

describe('a training step with activations larger than a binding', () => {
  it('tiny U-Net (features 4, depth 2, batch 3 of 16x16): same loss and gradients', async () => {
    const [n, s] = [3, 16];
    const x = Float32Array.from(uniform(n * s * s * 3, 1, 0, 1));
    const y = Float32Array.from(uniform(n * s * s, 2, 0, 1), (v) => (v > 0.6 ? 1 : 0));
    // 10 KiB: the level-1 activations (12 KiB) and the skip concat (24 KiB) split by samples; the
    // largest weight (bottleneck 3x3x16x16, 9 KiB) and one sample of the concat (8 KiB) fit.
    await compare('U-Net', 10 * 1024, () =>
      step(() => unet({ features: 4, depth: 2 }), x, [n, s, s, 3], y, [n, s, s, 1], (p, t) => bceDiceLoss(p, t)));
  });

  it('tiny VGG-style classifier (batch 5 of 16x16, dropout): same loss and gradients', async () => {
    const [n, s] = [5, 16];
    const x = Float32Array.from(uniform(n * s * s * 3, 3, 0, 1));
    const y = Float32Array.from([1, 0, 1, 1, 0]);
    const build = () =>
      new Sequential(
        new Conv2d(3, 4), new ReLU(), new Conv2d(4, 8), new ReLU(), new MaxPool2d(2),
        new Conv2d(8, 8), new ReLU(), new MaxPool2d(2),
        new Flatten(), new Linear(4 * 4 * 8, 8), new ReLU(), new Dropout(0.3), new Linear(8, 1), new Sigmoid(),
      );
    // 8 KiB: every conv activation of the batch (15 to 40 KiB) splits, one sample's (at most 8 KiB)
    // and the largest weight (the 128x8 dense layer, 4 KiB) fit.
    await compare('VGG-style', 8 * 1024, () =>
      step(build, x, [n, s, s, 3], y, [n, 1], (p, t) => dn.mean(dn.square(dn.sub(p, t)))));
  });
});
