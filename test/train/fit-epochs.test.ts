// fit across epochs: conv tuning runs on the first batch the call trains, even when a resumed
// epoch skips all of its batches; and an epoch whose validation predictions are not finite logs
// NaN val metrics that the callbacks count as no improvement, instead of ending the run.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

/** A 4 -> 1 net with a sigmoid; `nanInEval` makes its eval-mode output NaN (a diverged model). */
class Net extends dn.Module {
  l = this.addModule('l', new dn.nn.Linear(4, 1));
  nanInEval = false;
  forward(x: dn.Tensor): dn.Tensor {
    const p = dn.sigmoid(this.l.forward(x));
    return this.nanInEval && !this.training ? dn.scale(p, Number.NaN) : p;
  }
}

const mse = (p: dn.Tensor, y: dn.Tensor) => dn.mean(dn.square(dn.sub(p, y)));

/** Fresh batches of 3 samples every epoch, as fit disposes those it is given. */
const data = (batches = 2) => ({
  batchCount: batches,
  *batches() {
    for (let i = 0; i < batches; i++) {
      yield { x: dn.tensor(Array.from({ length: 3 }, (_, r) => [r + i, 1, -1, 0.5 * r])), y: dn.tensor([[1], [0], [1]]) };
    }
  },
});

describe('fit across epochs', () => {
  it('tunes the convs on the first batch it trains: a resumed epoch that skips all its batches leaves it to the next', async () => {
    dn.setInitSeed(4);
    const net = new Net();
    const optimizer = new dn.optim.SGD(net.parameters(), { lr: 0.1 });
    const events: string[] = [];
    await dn.train.fit(net, data(), null, {
      epochs: 3,
      optimizer,
      loss: mse,
      tuneConvs: { reps: 1 },
      // Interrupted after its last batch: the first epoch has nothing left to train.
      resumeEpoch: { batches: 2, samples: 6, lossSum: 1.5, metricSum: 0 },
      log: (m) => events.push(m.startsWith('conv tuning:') ? 'tuning' : m),
      onBatch: (p) => events.push(`epoch ${p.epoch + 1} batch ${p.batch}`),
    });
    expect(events).toEqual(['tuning', 'epoch 2 batch 1', 'epoch 2 batch 2', 'epoch 3 batch 1', 'epoch 3 batch 2']);
    optimizer.dispose();
    net.dispose();
  });

  it('an epoch whose validation predictions are NaN logs NaN val metrics, and the callbacks go on from the best epoch', async () => {
    dn.setInitSeed(5);
    const net = new Net();
    const optimizer = new dn.optim.SGD(net.parameters(), { lr: 0.1 });
    const messages: string[] = [];
    // segmentationReport and binaryReport refuse a NaN prediction; fit must not reach them with one.
    const metrics = {
      dice: (s: dn.train.EvalSet) => dn.train.segmentationReport(s.pred, s.target, s.sampleSize).dicePerSlice,
      auc: (s: dn.train.EvalSet) => dn.train.binaryReport(s.pred, s.target).auc,
    };
    const earlyStopping = new dn.train.EarlyStopping({ monitor: 'val_loss', patience: 2, restoreBestWeights: true });
    const reduceLr = new dn.train.ReduceLROnPlateau({ monitor: 'val_loss', patience: 1, factor: 0.5 });
    let bestWeights: number[] = [];
    const history = await dn.train.fit(net, data(), data(1), {
      epochs: 5,
      optimizer,
      loss: mse,
      metrics,
      callbacks: [earlyStopping, reduceLr],
      log: (m) => messages.push(m),
      onEpoch: async (epoch) => {
        // From the second epoch on, the model's eval-mode output is NaN.
        if (epoch === 0) {
          bestWeights = Array.from(await net.l.weight.toArray());
          net.nanInEval = true;
        }
      },
    });
    const logs = history.logs;
    expect(Number.isFinite(logs[0].val_loss) && Number.isFinite(logs[0].val_dice)).toBe(true);
    for (const l of logs.slice(1)) {
      expect(l.val_loss).toBeNaN();
      expect(l.val_dice).toBeNaN();
      expect(l.val_auc).toBeNaN();
    }
    // Patience 2: two epochs without improvement on the first, then the first's weights restored.
    expect(history.epochs).toEqual([0, 1, 2]);
    expect(history.stoppedEarly).toBe(true);
    expect(earlyStopping.bestEpoch).toBe(0);
    expect(Array.from(await net.l.weight.toArray())).toEqual(bestWeights);
    // Each epoch logs the rate it trained at; the second and third each halve it (patience 1).
    expect(logs.map((l) => l.lr)).toEqual([0.1, 0.1, 0.05]);
    expect(optimizer.lr).toBe(0.025);
    expect(messages.filter((m) => m.startsWith("fit: epoch 2's validation predictions are not all finite (3 of 3, the first NaN); its val_dice, val_auc are NaN"))).toHaveLength(1);
    optimizer.dispose();
    net.dispose();
  });
});
