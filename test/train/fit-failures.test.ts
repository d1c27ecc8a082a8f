// What a failed step leaves behind. A caller who catches an error from fit (a LimitError in
// backward, say) and tries again with a smaller batch must get back all the memory the step
// held, and no half-summed gradients; evaluate frees its batch on error; and fit, evaluate and
// the learning-rate finder hand the model back in the training modes it came in.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { record } from '../../src/graph/autograd.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

/** A 4 -> 8 -> 1 net with a batch norm, so that train() and eval() differ. */
class Net extends dn.Module {
  l1 = this.addModule('l1', new dn.nn.Linear(4, 8));
  l2 = this.addModule('l2', new dn.nn.Linear(8, 1));
  forward(x: dn.Tensor): dn.Tensor {
    return this.l2.forward(dn.relu(this.l1.forward(x)));
  }
}

const mse = (p: dn.Tensor, y: dn.Tensor) => dn.mean(dn.square(dn.sub(p, y)));

/** A loss whose backward throws once it reaches the loss's own node, after the forward's graph is built. */
const lossWithFailingBackward = (p: dn.Tensor, y: dn.Tensor) => {
  const l = mse(p, y);
  // Made without recording: record() gives it its only node.
  const out = dn.noGrad(() => dn.scale(l, 1));
  return record('failingOp', [l], out, () => {
    throw new dn.LimitError('failingOp: no room for the gradient (a stand-in for the memory budget)');
  });
};

/**
 * Fresh batches every epoch, as fit disposes those it is given; made as they are asked for, so
 * that a step that fails leaves no batch of the test's own undisposed.
 */
const data = (batches = 2) => ({
  *batches() {
    for (let i = 0; i < batches; i++) {
      yield { x: dn.tensor(Array.from({ length: 3 }, (_, r) => [r + i, 1, -1, 0.5 * r])), y: dn.tensor([[1], [0], [1]]) };
    }
  },
});

describe('a step that fails', () => {
  it('in backward: fit frees the step and its graph, and leaves no gradient', async () => {
    dn.setInitSeed(3);
    const net = new Net();
    const opt = new dn.optim.Adam(net.parameters());
    await dn.sync();
    const before = dn.memory().bytesInUse;
    for (let attempt = 0; attempt < 3; attempt++) {
      await expect(dn.train.fit(net, data(), null, { epochs: 1, optimizer: opt, loss: lossWithFailingBackward })).rejects.toThrow(/failingOp: no room/);
      expect(dn.memory().bytesInUse, `bytes in use after failed fit ${attempt + 1}`).toBe(before);
    }
    for (const p of net.parameters()) expect(p.grad).toBeNull();
    // The caller's retry runs.
    const history = await dn.train.fit(net, data(), null, { epochs: 1, optimizer: opt, loss: mse });
    expect(Number.isFinite(history.logs[0].loss)).toBe(true);
    opt.dispose();
    net.dispose();
  });

  it('in backward, after an earlier batch of the accumulation group: no half-summed gradient survives', async () => {
    dn.setInitSeed(3);
    const net = new Net();
    const opt = new dn.optim.SGD(net.parameters(), { lr: 0.1 });
    let calls = 0;
    // The first batch's backward runs, the second's fails: the first batch's gradients were summed.
    const loss = (p: dn.Tensor, y: dn.Tensor) => (++calls === 2 ? lossWithFailingBackward(p, y) : mse(p, y));
    await expect(dn.train.fit(net, data(), null, { epochs: 1, optimizer: opt, loss, accumulate: 2 })).rejects.toThrow(/failingOp/);
    for (const p of net.parameters()) expect(p.grad).toBeNull();
    opt.dispose();
    net.dispose();
  });

  it('in a training metric: fit frees the loss it had computed', async () => {
    const net = new Net();
    const opt = new dn.optim.Adam(net.parameters());
    await dn.sync();
    const before = dn.memory().bytesInUse;
    const trainMetric = {
      name: 'broken',
      tensors: () => {
        throw new Error('broken metric');
      },
      value: () => 0,
    };
    await expect(dn.train.fit(net, data(), null, { epochs: 1, optimizer: opt, loss: mse, trainMetric })).rejects.toThrow(/broken metric/);
    expect(dn.memory().bytesInUse).toBe(before);
    opt.dispose();
    net.dispose();
  });

  it('in the learning-rate finder: the step is freed and the model and optimiser are as they were', async () => {
    dn.setInitSeed(4);
    const net = new Net();
    const opt = new dn.optim.Adam(net.parameters());
    const w0 = await net.l1.weight.toArray();
    await dn.sync();
    const before = dn.memory().bytesInUse;
    await expect(dn.train.findLearningRate(net, data(), { optimizer: opt, loss: lossWithFailingBackward, steps: 4 })).rejects.toThrow(/failingOp/);
    expect(dn.memory().bytesInUse).toBe(before);
    expect([...(await net.l1.weight.toArray())]).toEqual([...w0]);
    opt.dispose();
    net.dispose();
  });

  it('in evaluate: the batch is freed', async () => {
    const net = new Net();
    await dn.sync();
    const before = dn.memory().bytesInUse;
    const throwing = () => {
      throw new Error('loss failed');
    };
    await expect(dn.train.evaluate(net, data(1), throwing)).rejects.toThrow(/loss failed/);
    expect(dn.memory().bytesInUse).toBe(before);
    net.dispose();
  });
});

describe('training modes', () => {
  const modes = (net: Net) => [net.training, net.l1.training, net.l2.training];

  it('evaluate puts back each module training flag', async () => {
    const net = new Net();
    net.l2.eval();
    await dn.train.evaluate(net, data(1), mse);
    expect(modes(net)).toEqual([true, true, false]);
    net.dispose();
  });

  it('fit hands the model back in the modes it came in, with and without validation', async () => {
    for (const val of [data(1), null]) {
      for (const start of ['train', 'eval'] as const) {
        const net = new Net();
        net[start]();
        const opt = new dn.optim.SGD(net.parameters(), { lr: 0.01 });
        await dn.train.fit(net, data(), val, { epochs: 2, optimizer: opt, loss: mse });
        expect(modes(net), `modes after fit (val ${val ? 'given' : 'null'}, start ${start})`).toEqual(start === 'train' ? [true, true, true] : [false, false, false]);
        opt.dispose();
        net.dispose();
      }
    }
  });
});

describe('backward to a leaf disposed after the forward', () => {
  it('gives it no gradient and leaks nothing', async () => {
    const w = dn.tensor(new Float32Array(1024).fill(1), [1024], { requiresGrad: true });
    const x = dn.tensor(new Float32Array(1024).fill(2), [1024], { requiresGrad: true });
    await dn.sync();
    const before = dn.memory().bytesInUse;
    const loss = dn.scope(() => dn.sum(dn.mul(w, x)));
    w.dispose();
    loss.backward();
    expect(w.grad).toBeNull();
    // The live leaf still gets its gradient: w's values, saved by the product.
    expect([...(await x.grad!.toArray())].every((v) => v === 1)).toBe(true);
    loss.dispose();
    x.zeroGrad();
    x.dispose();
    await dn.sync();
    // w's buffer went back when the graph saving it was freed.
    expect(dn.memory().bytesInUse).toBe(before - 2 * 4096);
  });
});

describe('a dataset that hands out the same batches every epoch', () => {
  it('is told that fit disposes them, before the second epoch runs', async () => {
    const net = new Net();
    const opt = new dn.optim.SGD(net.parameters(), { lr: 0.01 });
    const batches = [{ x: dn.tensor([[1, 2, 3, 4]]), y: dn.tensor([[1]]) }];
    const reused = { batches: () => batches };
    await expect(dn.train.fit(net, reused, null, { epochs: 2, optimizer: opt, loss: mse })).rejects.toThrow(
      /^fit: batch 1 of epoch 2 has a disposed x: fit disposes each batch's x and y once it has used them, so batches\(epoch\) must make new tensors every time it is called/,
    );
    const fresh = { batches: () => [{ x: dn.tensor([[1, 2, 3, 4]]), y: dn.tensor([[1]]) }] };
    await dn.train.fit(net, fresh, null, { epochs: 1, optimizer: opt, loss: mse });
    await expect(dn.train.evaluate(net, reused, mse)).rejects.toThrow(/^evaluate: batch 1 of epoch 1 has a disposed x/);
    opt.dispose();
    net.dispose();
  });
});

describe('the learning-rate finder with batches it has disposed', () => {
  it('says that it disposes them, as fit does', async () => {
    const net = new Net();
    const opt = new dn.optim.SGD(net.parameters(), { lr: 0.01 });
    const batches = [{ x: dn.tensor([[1, 2, 3, 4]]), y: dn.tensor([[1]]) }];
    await expect(dn.train.findLearningRate(net, { batches: () => batches }, { optimizer: opt, loss: mse, steps: 3 })).rejects.toThrow(
      /^findLearningRate: batch 1 of epoch 2 has a disposed x: findLearningRate disposes each batch's x and y once it has used them/,
    );
    opt.dispose();
    net.dispose();
  });
});
