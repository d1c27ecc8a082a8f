// fit refuses a callback it would never call: a Keras-style object (on_epoch_end), a hook fit has
// no callback form of (onBatchEnd: fit's onBatch takes it), an object with no hook at all, or the
// class itself instead of a callback made from it. Each used to run the whole fit without a word.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

const data = () => dn.train.arrayDataset({ data: [1, 2, 3, 4], shape: [4, 1] }, { data: [0, 1, 0, 1], shape: [4, 1] }, { batchSize: 2 });

const CASES = [
  ["Keras's on_epoch_end", { on_epoch_end: () => undefined }, /callbacks\[0\] \(an object\) has on_epoch_end, Keras's name: fit calls onEpochEnd/],
  ['onBatchEnd', { onBatchEnd: () => undefined, onEpochEnd: () => undefined }, /has onBatchEnd, which fit never calls: use fit's onBatch option/],
  ['no hook', { onEpochEnds: () => undefined }, /has none of onTrainBegin, onEpochBegin, onEpochEnd, onTrainEnd/],
  ['the class', dn.train.EarlyStopping, /callbacks\[0\] is the class EarlyStopping, not a callback made from it/],
] as const;

describe('fit: callbacks it would never call', () => {
  for (const [name, cb, message] of CASES) {
    it(`refuses ${name}`, async () => {
      dn.setInitSeed(1);
      const net = new dn.nn.Linear(1, 1);
      const optimizer = new dn.optim.SGD(net.parameters(), { lr: 0.1 });
      const before = await net.parameters()[0].toArray();
      const err = await dn.train.fit(net, data(), null, { epochs: 1, loss: dn.mseLoss, optimizer, callbacks: [cb as never] }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(dn.ArgumentError);
      expect((err as Error).message).toMatch(message);
      expect(await net.parameters()[0].toArray(), 'trained before refusing').toEqual(before);
      optimizer.dispose();
      net.dispose();
    });
  }

  it('takes class instances, whose hooks are on the prototype', async () => {
    class Counter implements dn.train.Callback {
      epochs = 0;
      onEpochEnd(): void {
        this.epochs++;
      }
    }
    const counter = new Counter();
    const net = new dn.nn.Linear(1, 1);
    const optimizer = new dn.optim.SGD(net.parameters(), { lr: 0.1 });
    await dn.train.fit(net, data(), null, { epochs: 2, loss: dn.mseLoss, optimizer, callbacks: [counter, new dn.train.ReduceLROnPlateau({ monitor: 'loss' })] });
    expect(counter.epochs).toBe(2);
    optimizer.dispose();
    net.dispose();
  });
});
