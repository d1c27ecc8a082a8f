// Learning-rate schedules: the schedule functions' values, and LearningRateScheduler setting the
// optimiser's rate at the start of each epoch inside fit, from the resumed epoch on.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

describe('schedules', () => {
  it("cosineDecay: linear warm-up, then half a cosine from lr towards minLr, reached when the run ends (PyTorch's CosineAnnealingLR)", () => {
    const s = dn.train.cosineDecay({ lr: 1, epochs: 6, minLr: 0.1, warmupEpochs: 2 });
    const got = [0, 1, 2, 3, 4, 5, 6, 9].map((e) => s(e, 0));
    // After the warm-up, t = (epoch - 2) / 4: 0, 1/4, 2/4, 3/4 over epochs 2..5, 1 from epoch 6.
    const cos = (t: number) => 0.1 + 0.9 * (1 + Math.cos(Math.PI * t)) / 2;
    const want = [0.5, 1, cos(0), cos(1 / 4), cos(2 / 4), cos(3 / 4), cos(1), cos(1)];
    got.forEach((v, i) => expect(v).toBeCloseTo(want[i], 12));
    // With minLr 0 the last epoch still trains: PyTorch's CosineAnnealingLR(T_max = 4) gives
    // 0.5 (1 + cos(3π/4)) = 0.1464 there.
    expect(dn.train.cosineDecay({ lr: 1, epochs: 4 })(3, 0)).toBeCloseTo(0.5 * (1 + Math.cos((3 * Math.PI) / 4)), 12);
    expect(dn.train.cosineDecay({ lr: 1, epochs: 1 })(0, 0)).toBe(1);
  });

  it('stepDecay: lr · factor^floor(epoch / every)', () => {
    const s = dn.train.stepDecay({ lr: 0.8, every: 3, factor: 0.5 });
    expect([0, 2, 3, 5, 6, 9].map((e) => s(e, 0))).toEqual([0.8, 0.8, 0.4, 0.4, 0.2, 0.1]);
  });

  it('bad options are ArgumentErrors naming the schedule', () => {
    expect(() => dn.train.cosineDecay({ lr: 1, epochs: 0 })).toThrow(/^cosineDecay: epochs/);
    expect(() => dn.train.cosineDecay({ lr: 1, epochs: 5, warmupEpochs: 5 })).toThrow(dn.ArgumentError);
    expect(() => dn.train.cosineDecay({ lr: 1, epochs: 5, minLr: 2 })).toThrow(/^cosineDecay: minLr/);
    expect(() => dn.train.stepDecay({ lr: 1, every: 2, factor: 0 })).toThrow(/^stepDecay: factor/);
    expect(() => new dn.train.LearningRateScheduler(0.1 as never)).toThrow(/^LearningRateScheduler: schedule/);
  });
});

describe('LearningRateScheduler in fit', () => {
  const tinyRun = async (callbacks: dn.train.Callback[], initialEpoch = 0) => {
    const model = new dn.nn.Sequential(new dn.nn.Linear(2, 1, { seed: 1 }));
    const optimizer = new dn.optim.SGD(model.parameters(), { lr: 1 });
    const data = { batches: () => [{ x: dn.tensor([[1, 2]]), y: dn.tensor([[1]]) }] };
    const lrs: number[] = [];
    const loss = (p: dn.Tensor, y: dn.Tensor) => dn.mean(dn.square(dn.sub(p, y)));
    try {
      const history = await dn.train.fit(model, data, null, { epochs: 4, initialEpoch, optimizer, loss, callbacks, onEpoch: () => void lrs.push(optimizer.lr) });
      return { lrs, logged: history.logs.map((l) => l.lr) };
    } finally {
      optimizer.dispose();
      model.dispose();
    }
  };

  it('sets the rate before each epoch, which the epoch logs record', async () => {
    const { lrs, logged } = await tinyRun([new dn.train.LearningRateScheduler(dn.train.stepDecay({ lr: 0.4, every: 1, factor: 0.5 }))]);
    expect(lrs).toEqual([0.4, 0.2, 0.1, 0.05]);
    expect(logged).toEqual(lrs);
  });

  it('a resumed run starts the schedule at its initial epoch', async () => {
    const seen: number[] = [];
    const { lrs } = await tinyRun([new dn.train.LearningRateScheduler((epoch) => (seen.push(epoch), 0.01 * epoch))], 2);
    expect(seen).toEqual([2, 3]);
    expect(lrs).toEqual([0.02, 0.03]);
  });

  it('a schedule that returns no learning rate stops fit with an ArgumentError', async () => {
    await expect(tinyRun([new dn.train.LearningRateScheduler(() => Number.NaN)])).rejects.toThrow(/^LearningRateScheduler: schedule\(0, 1\)/);
  });
});
