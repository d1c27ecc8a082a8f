// Normalisation layers in training mode: a frozen BatchNorm2d runs as in eval() (Keras's rule for a
// BatchNormalization with trainable = False), through its own forward, its fused forwardRelu and
// Sequential's fusion, and leaves its running statistics alone; a group or instance norm refuses
// an input with one value per group, which it would normalise to 0.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { BatchNorm2d, Conv2d, GroupNorm, InstanceNorm2d, ReLU, Sequential } from '../../src/nn/layers.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

const DATA = new Float32Array(2 * 5 * 6 * 3).map((_, i) => Math.sin(i * 0.37) * 2 + 0.3);

/** conv, batch norm, ReLU (the pair Sequential fuses), with running statistics moved off 0 and 1. */
function convBnRelu(): { net: Sequential; conv: Conv2d; bn: BatchNorm2d; x: dn.Tensor } {
  const conv = new Conv2d(3, 8, { seed: 3 });
  const bn = new BatchNorm2d(8, { momentum: 0.5 });
  const net = new Sequential(['conv', conv], ['bn', bn], ['relu', new ReLU()]);
  const x = dn.tensor(DATA, [2, 5, 6, 3]);
  dn.noGrad(() => dn.scope(() => void net.forward(x)));
  return { net, conv, bn, x };
}

const statsOf = (bn: BatchNorm2d) => Promise.all([bn.runningMean.toArray(), bn.runningVar.toArray()]);

/** The output of `net` on x and the gradient it sends to the conv's weight, read back. */
async function outputAndGradient(net: Sequential, conv: Conv2d, x: dn.Tensor): Promise<[Float32Array, Float32Array]> {
  const y = dn.scope(() => {
    const out = net.forward(x);
    dn.sum(dn.mul(out, out)).backward();
    return out;
  });
  const result = await Promise.all([y.toArray(), conv.weight.grad!.toArray()]);
  y.dispose();
  conv.weight.zeroGrad();
  return result;
}

describe('a frozen BatchNorm2d', () => {
  it('in train mode runs as in eval mode, fused after Sequential, and its running statistics stay as they were', async () => {
    const { net, conv, bn, x } = convBnRelu();
    expect(net.freeze('bn')).toBe(2);
    const stats = await statsOf(bn);
    net.train();
    const trained = await outputAndGradient(net, conv, x);
    expect(await statsOf(bn)).toEqual(stats);
    bn.eval();
    const evaluated = await outputAndGradient(net, conv, x);
    // The same kernels on the same numbers: equal to the bit, the gradient through the frozen norm too.
    expect(trained[0]).toEqual(evaluated[0]);
    expect(trained[1]).toEqual(evaluated[1]);
    // Its own forward (not fused) and forwardRelu follow the same rule.
    bn.train();
    const h = dn.noGrad(() => conv.forward(x));
    const [own, fused] = dn.noGrad(() => [bn.forward(h), bn.forwardRelu(h)]);
    bn.eval();
    const [ownEval, fusedEval] = dn.noGrad(() => [bn.forward(h), bn.forwardRelu(h)]);
    expect(await own.toArray()).toEqual(await ownEval.toArray());
    expect(await fused.toArray()).toEqual(await fusedEval.toArray());
    expect(await statsOf(bn)).toEqual(stats);
    for (const t of [h, own, fused, ownEval, fusedEval, x]) t.dispose();
    net.dispose();
  });

  it('unfrozen, or with only its weight frozen, it trains on batch statistics and updates them', async () => {
    const { net, conv, bn, x } = convBnRelu();
    for (const frozen of [[], ['bn.weight']]) {
      net.unfreeze();
      if (frozen.length) net.freeze(...frozen);
      const stats = await statsOf(bn);
      const trained = await outputAndGradient(net.train(), conv, x);
      const after = await statsOf(bn);
      // momentum 0.5 on another batch's statistics: every channel moves.
      for (const [i, name] of ['running_mean', 'running_var'].entries()) {
        expect(after[i].every((v, c) => v !== stats[i][c]), `${name} with ${frozen.join() || 'nothing'} frozen`).toBe(true);
      }
      const evaluated = await outputAndGradient(net.eval(), conv, x);
      expect(trained[0]).not.toEqual(evaluated[0]);
    }
    x.dispose();
    net.dispose();
  });
});

describe('group and instance norm on one value per group', () => {
  it('training refuses it with a ShapeError naming the layer and the input; eval() and larger groups run', async () => {
    const cases: [dn.Module, number[], string][] = [
      [new InstanceNorm2d(4), [2, 1, 1, 4], 'InstanceNorm2d: training needs more than one pixel per sample with one channel per group, got tensor#'],
      [new GroupNorm(4, 4), [1, 1, 1, 4], 'GroupNorm: training needs more than one pixel per sample with one channel per group, got tensor#'],
      // The attention gate's ψ norm under norm 'group': one group of one channel.
      [new GroupNorm(1, 1), [3, 1, 1, 1], 'GroupNorm: training needs more than one pixel per sample with one channel per group, got tensor#'],
    ];
    for (const [layer, shape, start] of cases) {
      const x = dn.full(shape, 0.7);
      const before = dn.memory().bytesInUse;
      let error: Error | null = null;
      try {
        layer.train().forward(x);
      } catch (e) {
        error = e as Error;
      }
      expect(dn.memory().bytesInUse).toBe(before);
      expect(error, start).toBeInstanceOf(dn.ShapeError);
      expect(error!.message.startsWith(start), error!.message).toBe(true);
      expect(error!.message).toContain(`[${shape.join(',')}]: each value would normalise to 0, leaving the bias alone`);
      // In eval() the layer still answers (its output is the bias, as PyTorch's in eval()).
      const y = layer.eval().forward(x);
      expect(Array.from(await y.toArray())).toEqual(new Array(x.size).fill(0));
      for (const t of [x, y]) t.dispose();
      layer.dispose();
    }
    // Two values per group (two channels, or two pixels of one channel) train.
    const pairs: [dn.Module, number[]][] = [
      [new GroupNorm(2, 4), [1, 1, 1, 4]],
      [new InstanceNorm2d(4), [1, 1, 2, 4]],
    ];
    for (const [layer, shape] of pairs) {
      const x = dn.tensor(new Float32Array(shape.reduce((a, b) => a * b)).map((_, i) => i % 3), shape);
      const y = layer.train().forward(x);
      expect(y.shape).toEqual(shape);
      for (const t of [x, y]) t.dispose();
      layer.dispose();
    }
  });

  it('inside a Sequential the error carries the layer path', () => {
    const net = new Sequential(['conv', new Conv2d(3, 4, { seed: 1 })], ['norm', new InstanceNorm2d(4)]);
    const x = dn.zeros([1, 1, 1, 3]);
    expect(() => dn.scope(() => net.forward(x))).toThrow(/^Sequential norm \(InstanceNorm2d 4\): InstanceNorm2d: training needs more than one pixel per sample/);
    x.dispose();
    net.dispose();
  });
});
