// Batch norm with one value per channel (N*H*W = 1): refused in training, as PyTorch's "Expected
// more than 1 value per channel when training" (the batch variance is 0 and every output would be
// the bias); normalised with the running statistics in eval() and when frozen, which is how a
// trained model with a 1x1 bottleneck predicts one image. An empty batch (N = 0) is not refused,
// as PyTorch since 1.4: an empty output, the running statistics untouched, gamma and beta's
// gradients zero.
import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { batchNorm2d, batchNorm2dForward } from '../../src/kernels/batchnorm.js';
import { nd } from '../../src/reference/array.js';
import { batchNormForwardRef } from '../../src/reference/batchnorm.js';
import { expectClose } from '../helpers/close.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

const C = 3;
const one = [0.5, -1.25, 2] as const;

/** The running-statistics normalisation of `x` [1,1,1,C] by a layer's current weights and stats. */
async function inferenceRef(layer: dn.nn.BatchNorm2d, x: readonly number[]): Promise<Float64Array> {
  const [g, b, rm, rv] = await Promise.all([layer.weight, layer.bias, layer.runningMean, layer.runningVar].map((t) => t.toArray()));
  const v = (a: Float32Array) => nd(a, [C]);
  return batchNormForwardRef(nd(x, [1, 1, 1, C]), v(g), v(b), v(rm), v(rv), { training: false, eps: 1e-5 }).y.data;
}

describe('batchNorm2d with one value per channel', () => {
  it('the op refuses training, fused ReLU, untracked or raw, naming the shape', () => {
    dn.scope(() => {
      const x = dn.tensor([...one], [1, 1, 1, C]);
      const p = dn.full([C], 1);
      const refuse = (f: () => unknown) => {
        expect(f).toThrow(dn.ShapeError);
        expect(f).toThrow(/^batchNorm2d: expected more than 1 value per channel when training, got x \[1,1,1,3\]/);
      };
      refuse(() => batchNorm2d(x, p, p, p, p, { training: true }));
      refuse(() => batchNorm2d(x, p, p, p, p, { training: true, relu: true }));
      refuse(() => batchNorm2d(x, p, p, null, null, { training: true }));
      refuse(() => batchNorm2dForward(x, p, p, p, p, { training: true }));
    });
  });

  it('the op runs in inference mode, and in training from two values per channel', async () => {
    const x = dn.tensor([...one], [1, 1, 1, C]);
    const gamma = dn.tensor([1, 2, 0.5]);
    const beta = dn.tensor([0.1, 0, -0.2]);
    const rm = dn.tensor([0.25, -1, 1]);
    const rv = dn.tensor([4, 0.5, 2]);
    const y = batchNorm2d(x, gamma, beta, rm, rv, { training: false });
    const ref = batchNormForwardRef(nd(one, [1, 1, 1, C]), nd([1, 2, 0.5], [C]), nd([0.1, 0, -0.2], [C]), nd([0.25, -1, 1], [C]), nd([4, 0.5, 2], [C]), { training: false });
    expectClose('batchNorm2d inference [1,1,1,3] y', await y.toArray(), ref.y.data);
    const two = dn.tensor([...one, 1, 1, 1], [1, 2, 1, C]);
    const y2 = batchNorm2d(two, gamma, beta, rm, rv, { training: true });
    expect(y2.shape).toEqual([1, 2, 1, C]);
    for (const t of [x, gamma, beta, rm, rv, y, two, y2]) t.dispose();
  });

  it('an empty batch trains to an empty output, the running statistics untouched, zero gradients for gamma and beta', async () => {
    dn.setInitSeed(4);
    const bn = new dn.nn.BatchNorm2d(C);
    const net = new dn.nn.Sequential(bn, new dn.nn.ReLU());
    const stats = async () => Promise.all([bn.runningMean, bn.runningVar].map(async (t) => [...(await t.toArray())]));
    const before = await stats();
    const x = dn.zeros([0, 4, 4, C]);
    x.requiresGrad = true;
    for (const y of [bn.forward(x), net.forward(x)]) {
      expect(y.shape).toEqual([0, 4, 4, C]);
      const loss = dn.sum(y);
      loss.backward();
      expect([...(await bn.weight.grad!.toArray())]).toEqual([0, 0, 0]);
      expect([...(await bn.bias.grad!.toArray())]).toEqual([0, 0, 0]);
      expect(x.grad!.shape).toEqual([0, 4, 4, C]);
      bn.zeroGrad();
      for (const t of [y, loss]) t.dispose();
    }
    expect(await stats()).toEqual(before);
    x.dispose();
    net.dispose();
  });

  it('the layer refuses it in train(), alone or fused in a Sequential, and runs in eval() and frozen', async () => {
    dn.setInitSeed(3);
    const bn = new dn.nn.BatchNorm2d(C);
    const net = new dn.nn.Sequential(bn, new dn.nn.ReLU());
    // A training step on a batch of two gives the running statistics something to hold.
    const batch = dn.tensor([...one, 1, 1.5, -3], [2, 1, 1, C]);
    dn.noGrad(() => bn.forward(batch)).dispose();
    const x = dn.tensor([...one], [1, 1, 1, C]);
    expect(() => bn.forward(x)).toThrow(dn.ShapeError);
    expect(() => bn.forward(x)).toThrow(/batchNorm2d: expected more than 1 value per channel when training, got x \[1,1,1,3\]/);
    expect(() => net.forward(x)).toThrow(dn.ShapeError);
    expect(() => net.forward(x)).toThrow(/BatchNorm2d.*expected more than 1 value per channel/);

    const want = await inferenceRef(bn, one);
    bn.eval();
    const yEval = bn.forward(x);
    expectClose('BatchNorm2d eval() [1,1,1,3] y', await yEval.toArray(), want);

    // Frozen in train(): the running statistics, left as they were.
    bn.train();
    expect(bn.freeze()).toBeGreaterThan(0);
    const before = [...(await bn.runningVar.toArray())];
    const yFrozen = net.forward(x);
    expectClose('BatchNorm2d frozen [1,1,1,3] relu(y)', await yFrozen.toArray(), want.map((v) => Math.max(0, v)));
    expect([...(await bn.runningVar.toArray())]).toEqual(before);
    for (const t of [batch, x, yEval, yFrozen]) t.dispose();
    net.dispose();
  });
});
