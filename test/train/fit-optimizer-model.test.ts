// fit's optimiser and model must go together: an optimiser over another model's parameters used
// to step nothing (the run trained nothing, silently), a disposed model failed inside the first
// forward, and a trainable parameter the optimiser does not hold kept a gradient that grew over
// the whole run and, with clipGradNorm, shrank every step by a norm the step did not apply.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

const x = Float32Array.from({ length: 36 }, (_, i) => Math.sin(1.7 * i));
const y = Float32Array.from({ length: 12 }, (_, i) => 0.5 * x[3 * i] - x[3 * i + 1] + 0.2);
const data = () => dn.train.arrayDataset({ data: x, shape: [12, 3] }, { data: y, shape: [12, 1] }, { batchSize: 4 });
const net = () => {
  dn.setInitSeed(3);
  return new dn.nn.Linear(3, 1);
};

describe('fit: optimiser and model', () => {
  it('refuses an optimiser that holds none of the model parameters, before training', async () => {
    const a = net();
    const b = net();
    const optimizer = new dn.optim.SGD(b.parameters(), { lr: 0.1 });
    const before = await a.parameters()[0].toArray();
    const err = await dn.train.fit(a, data(), null, { epochs: 1, loss: dn.mseLoss, optimizer }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(dn.ArgumentError);
    expect((err as Error).message).toMatch(/^fit: the optimiser \(SGD\) holds none of the model's 2 trainable parameters/);
    expect(await a.parameters()[0].toArray()).toEqual(before);
    optimizer.dispose();
    a.dispose();
    b.dispose();
  });

  it('refuses a disposed model by name, as a DisposedError', async () => {
    const a = net();
    const optimizer = new dn.optim.SGD(a.parameters(), { lr: 0.1 });
    a.dispose();
    const err = await dn.train.fit(a, data(), null, { epochs: 1, loss: dn.mseLoss, optimizer }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(dn.DisposedError);
    expect((err as Error).message).toMatch(/^fit: the model \(Linear\) was disposed/);
    optimizer.dispose();
  });

  it('clips by the norm of what the optimiser steps, and leaves no gradient on the parameters it does not hold', async () => {
    // The same bias trajectory whether the weight is frozen or merely left out of the optimiser.
    const run = async (freeze: boolean) => {
      const a = net();
      if (freeze) a.freeze('weight');
      const [weight, bias] = a.parameters();
      const optimizer = new dn.optim.SGD([bias], { lr: 0.1 });
      await dn.train.fit(a, data(), null, { epochs: 3, loss: dn.mseLoss, optimizer, clipGradNorm: 0.01 });
      const out = { bias: [...(await bias.toArray())], weightGrad: weight.grad };
      optimizer.dispose();
      a.dispose();
      return out;
    };
    const frozen = await run(true);
    const left = await run(false);
    expect(left.weightGrad).toBeNull();
    expect(left.bias).toEqual(frozen.bias);
  });
});
