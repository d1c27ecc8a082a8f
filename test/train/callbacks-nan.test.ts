// A NaN monitored value, first or later, is never an improvement, as in Keras (best starts at
// +-inf and np.less(nan, best) is False): it counts toward patience, and the first finite value
// after it is the best. Traced by hand from keras/src/callbacks (early_stopping.py,
// reduce_lr_on_plateau.py, model_checkpoint.py), as callbacks.test.ts does.
import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { EarlyStopping, ModelCheckpoint, ReduceLROnPlateau, type Callback } from '../../src/train/callbacks.js';
import { useGpu } from '../helpers/gpu.js';
import { FakeControl } from './fake-control.js';

useGpu();

/** Runs `cb` over the values of `key`, one per epoch, until it stops training; the rate after each epoch. */
async function run(cb: Callback, key: string, values: number[]) {
  const ctl = new FakeControl();
  await cb.onTrainBegin?.(ctl);
  const lrs: number[] = [];
  for (const [epoch, v] of values.entries()) {
    ctl.weights = epoch;
    await cb.onEpochEnd?.(epoch, { [key]: v }, ctl);
    lrs.push(ctl.lr);
    if (ctl.stopTraining) break;
  }
  await cb.onTrainEnd?.(ctl);
  return { ctl, lrs, epochs: lrs.length };
}

describe('a NaN first epoch', () => {
  it('EarlyStopping: the first finite epoch after a NaN first is the best', async () => {
    // Keras, patience 2: e0 NaN < inf? no, wait 1 (epoch 0 never stops), best weights e0's by the
    // fallback; e1 1.0 < inf, best, wait 0; e2 1.2 wait 1; e3 1.3 wait 2 -> stop, restore e1's.
    const es = new EarlyStopping({ monitor: 'val_loss', patience: 2, restoreBestWeights: true });
    const { ctl, epochs } = await run(es, 'val_loss', [NaN, 1.0, 1.2, 1.3, 0.5]);
    expect([epochs, es.stoppedEpoch, es.bestEpoch, es.best]).toEqual([4, 3, 1, 1.0]);
    expect(ctl.restored).toEqual([1]);
    expect(ctl.live.size).toBe(0);
    // Max mode alike: e0 NaN wait 1; e1 0.5 best; e2 0.4 wait 1 >= 1 -> stop.
    const dice = new EarlyStopping({ monitor: 'val_dice', patience: 1 });
    expect((await run(dice, 'val_dice', [NaN, 0.5, 0.4, 0.9])).epochs).toBe(3);
    expect([dice.bestEpoch, dice.best]).toEqual([1, 0.5]);
  });

  it('EarlyStopping: NaN epochs in a row run out the patience, and the first epoch\'s weights are restored', async () => {
    // Keras, patience 2: e0 wait 1; e1 wait 2 >= 2 and epoch 1 > 0 -> stop before the finite e2.
    const es = new EarlyStopping({ monitor: 'val_loss', patience: 2, restoreBestWeights: true });
    const { ctl, epochs } = await run(es, 'val_loss', [NaN, NaN, 1.0]);
    expect([epochs, es.stoppedEpoch, es.bestEpoch]).toEqual([2, 1, 0]);
    expect(es.best).toBeNaN();
    expect(ctl.restored).toEqual([0]);
    expect(ctl.logs).toContain('EarlyStopping: restoring the weights of epoch 1 (val_loss NaN)');
    // Patience 1 with a NaN first: epoch 0 never stops, and the finite e1 improves.
    const once = new EarlyStopping({ monitor: 'val_loss', patience: 1 });
    expect((await run(once, 'val_loss', [NaN, 1.0, 0.9])).epochs).toBe(3);
    expect(once.getState()).toEqual({ wait: 0, best: 0.9, bestEpoch: 2, stoppedEpoch: 0 });
  });

  it('ReduceLROnPlateau: the NaN counts toward patience; the first finite value is the best', async () => {
    // Keras, patience 1, factor 0.5: e0 NaN < inf - 1e-4? no, wait 1 >= 1 -> lr 0.5; e1 1.0 best;
    // e2 1.0 < 1.0 - 1e-4? no, wait 1 -> 0.25.
    const cb = new ReduceLROnPlateau({ factor: 0.5, patience: 1 });
    const { lrs } = await run(cb, 'val_loss', [NaN, 1.0, 1.0]);
    expect(lrs).toEqual([0.5, 0.5, 0.25]);
    expect(cb.best).toBe(1.0);
    // Patience 2: the NaN and the unimproved e2 make two: e2 reduces.
    const two = new ReduceLROnPlateau({ factor: 0.5, patience: 2 });
    expect((await run(two, 'val_loss', [NaN, NaN, 1.0, 1.0, 1.0])).lrs).toEqual([1, 0.5, 0.5, 0.5, 0.25]);
  });

  it('ModelCheckpoint: the NaN epoch is kept only until the first finite one, which is the best; a later NaN is not saved', async () => {
    const cb = new ModelCheckpoint('run/best-{epoch}.safetensors', { monitor: 'val_loss', saveBestOnly: true });
    const { ctl } = await run(cb, 'val_loss', [NaN, 0.8, NaN, 0.9, 0.7]);
    expect(cb.saves).toEqual([0, 1, 4]);
    expect(cb.best).toBe(0.7);
    expect(ctl.logs).toEqual([
      'ModelCheckpoint: val_loss is NaN (nothing validated, or not finite) and no epoch has set a best; saving run/best-001.safetensors as the latest',
      'ModelCheckpoint: val_loss improved from inf to 0.80000; saving run/best-002.safetensors',
      'ModelCheckpoint: val_loss improved from 0.80000 to 0.70000; saving run/best-005.safetensors',
    ]);
  });
});

class Net extends dn.Module {
  l = this.addModule('l', new dn.nn.Linear(4, 1));
  nanInEval = true;
  forward(x: dn.Tensor): dn.Tensor {
    const p = dn.sigmoid(this.l.forward(x));
    return this.nanInEval && !this.training ? dn.scale(p, Number.NaN) : p;
  }
}

const data = (batches: number) => ({
  batchCount: batches,
  *batches() {
    for (let i = 0; i < batches; i++) yield { x: dn.tensor(Array.from({ length: 3 }, (_, r) => [r + i, 1, -1, 0.5 * r])), y: dn.tensor([[1], [0], [1]]) };
  },
});

describe('fit with a first epoch whose validation is NaN', () => {
  it('early stopping counts it and takes the second epoch as the best', async () => {
    dn.setInitSeed(6);
    const net = new Net();
    const optimizer = new dn.optim.SGD(net.parameters(), { lr: 0.1 });
    const es = new EarlyStopping({ monitor: 'val_loss', patience: 3 });
    const states: Record<string, number>[] = [];
    const history = await dn.train.fit(net, data(2), data(1), {
      epochs: 3,
      optimizer,
      loss: (p, y) => dn.mean(dn.square(dn.sub(p, y))),
      callbacks: [es],
      log: () => {},
      onEpoch: () => {
        states.push(es.getState());
        net.nanInEval = false;
      },
    });
    const [first, second] = history.logs;
    expect(first.val_loss).toBeNaN();
    expect(Number.isFinite(second.val_loss)).toBe(true);
    expect(states[0]).toEqual({ wait: 1, best: NaN, bestEpoch: 0, stoppedEpoch: 0 });
    expect(states[1]).toEqual({ wait: 0, best: second.val_loss, bestEpoch: 1, stoppedEpoch: 0 });
    optimizer.dispose();
    net.dispose();
  });
});
