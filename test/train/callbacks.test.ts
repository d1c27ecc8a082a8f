// Scripted metric sequences with the decisions Keras makes on them, worked out by hand from
// Keras's callback source (the comments trace each epoch).
import { describe, expect, it } from 'vitest';
import { ArgumentError } from '../../src/errors.js';
import { EarlyStopping, ModelCheckpoint, ReduceLROnPlateau, resolveMode, type Callback } from '../../src/train/callbacks.js';
import { FakeControl } from './fake-control.js';

async function run(cb: Callback, key: string, values: number[], ctl = new FakeControl()): Promise<{ ctl: FakeControl; lrs: number[]; epochs: number }> {
  await cb.onTrainBegin?.(ctl);
  const lrs: number[] = [];
  let epochs = 0;
  for (const [epoch, v] of values.entries()) {
    ctl.weights = epoch;
    await cb.onEpochEnd?.(epoch, { [key]: v }, ctl);
    lrs.push(ctl.lr);
    epochs++;
    if (ctl.stopTraining) break;
  }
  await cb.onTrainEnd?.(ctl);
  return { ctl, lrs, epochs };
}

describe('EarlyStopping', () => {
  it('stops after `patience` epochs without an improvement larger than minDelta, restoring the best weights', async () => {
    // e0 best=1.0 (snapshot); e1 0.9+0.001<1.0 improves, wait 0; e2 0.9005<0.9? no, wait 1;
    // e3 0.9002<0.9? no, wait 2 >= patience 2 -> stop at e3, restore e1's weights.
    const es = new EarlyStopping({ monitor: 'val_loss', minDelta: 0.001, patience: 2, restoreBestWeights: true });
    const { ctl, epochs } = await run(es, 'val_loss', [1.0, 0.9, 0.8995, 0.8992, 0.85, 0.86]);
    expect(epochs).toBe(4);
    expect(es.stoppedEpoch).toBe(3);
    expect(es.bestEpoch).toBe(1);
    expect(ctl.restored).toEqual([1]);
    expect(ctl.weights).toBe(1);
    expect(ctl.live.size).toBe(0); // snapshots released at the end
  });

  it('patience 0 still needs epoch > 0 to stop, and max mode for accuracy', async () => {
    const es = new EarlyStopping({ monitor: 'val_accuracy', patience: 0 });
    expect(es.mode).toBe('max');
    // e0 improves (first value); e1 0.5 > 0.6? no, wait 1 >= 0 and epoch 1 > 0 -> stop.
    const { epochs } = await run(es, 'val_accuracy', [0.6, 0.5, 0.9]);
    expect(epochs).toBe(2);
  });

  it('without restoreBestWeights keeps the last weights; a baseline not beaten does not reset wait', async () => {
    // baseline 0.5 (min mode): e0 1.0 improves on NaN but not on the baseline -> wait stays 1;
    // e1 0.9 improves best but not baseline -> wait 2 ... returns early on improvements;
    // e2 0.95 no improvement, wait 3 >= 3 -> stop at e2.
    const es = new EarlyStopping({ monitor: 'val_loss', patience: 3, baseline: 0.5 });
    const { ctl, epochs } = await run(es, 'val_loss', [1.0, 0.9, 0.95, 0.4]);
    expect(epochs).toBe(3);
    expect(ctl.restored).toEqual([]);
  });
});

describe('EarlyStopping resumed with its state', () => {
  const resumed = (weights?: { w: number }) => {
    const es = new EarlyStopping({ patience: 1, restoreBestWeights: true });
    es.setState({ wait: 0, best: 0.5, bestEpoch: 1, stoppedEpoch: 0 });
    if (weights) es.resumeRestorePoint(weights);
    return es;
  };
  it('restores the best weights handed back with it, and keeps their epoch', async () => {
    const ctl = new FakeControl();
    const es = resumed({ w: 42 });
    await es.onTrainBegin(ctl);
    ctl.weights = 3;
    es.onEpochEnd(3, { val_loss: 0.9 }, ctl);
    expect([ctl.stopTraining, ctl.restored, es.bestEpoch]).toEqual([true, [42], 1]);
    expect(ctl.logs).toContain('EarlyStopping: restoring the weights of epoch 2 (val_loss 0.5)');
    es.onTrainEnd(ctl);
  });
  it('without them, restores the first weights after the resume, says so, and keeps the best epoch', async () => {
    const ctl = new FakeControl();
    const es = resumed();
    await es.onTrainBegin(ctl);
    ctl.weights = 3;
    es.onEpochEnd(3, { val_loss: 0.9 }, ctl);
    expect([ctl.stopTraining, ctl.restored, es.bestEpoch, es.getState().bestEpoch]).toEqual([true, [3], 1, 1]);
    expect(ctl.logs[0]).toMatch(/^EarlyStopping: restoring the weights of epoch 4, the first since the run resumed: the best, epoch 2's/);
    es.onTrainEnd(ctl);
  });
});

describe('ReduceLROnPlateau', () => {
  it('reduces by factor after patience, honours cooldown, minDelta and minLr', async () => {
    // lr 1, factor 0.5, patience 2, minDelta 0.01, cooldown 1, minLr 0.1
    // e0 best 1.0 | e1 0.995 !< 0.99 wait 1 | e2 0.99 !< 0.99 wait 2 -> lr 0.5, cooldown 1
    // e3 cooldown->0, 0.95 < 0.99 best | e4 wait 1 | e5 wait 2 -> 0.25, cooldown 1
    // e6 cooldown->0, no improvement, wait 1 | e7 wait 2 -> max(0.125, 0.1) = 0.125 | e8 wait 1
    const cb = new ReduceLROnPlateau({ factor: 0.5, patience: 2, minDelta: 0.01, cooldown: 1, minLr: 0.1 });
    const { lrs } = await run(cb, 'val_loss', [1.0, 0.995, 0.99, 0.95, 0.949, 0.948, 0.947, 0.946, 0.945]);
    expect(lrs).toEqual([1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.125, 0.125]);
  });

  it('never goes below minLr', async () => {
    const cb = new ReduceLROnPlateau({ factor: 0.2, patience: 1, minLr: 0.05 });
    // e0 best | e1 wait 1 -> 0.2 | e2 -> 0.05 (floor) | e3: lr 0.05 is not > minLr: stays
    const { lrs } = await run(cb, 'val_loss', [1, 1, 1, 1]);
    expect(lrs.map((v) => Number(v.toFixed(6)))).toEqual([1, 0.2, 0.05, 0.05]);
  });
});

describe('ModelCheckpoint', () => {
  it('saveBestOnly saves when the monitored metric improves (auto -> max for accuracy)', async () => {
    const cb = new ModelCheckpoint('run/best-{epoch}.safetensors', { monitor: 'val_accuracy', saveBestOnly: true });
    const { ctl } = await run(cb, 'val_accuracy', [0.5, 0.6, 0.6, 0.55, 0.7]);
    expect(cb.saves).toEqual([0, 1, 4]);
    expect(ctl.saved).toEqual(['run/best-001.safetensors', 'run/best-002.safetensors', 'run/best-005.safetensors']);
    // The first save improves on nothing: Keras's words, -inf for a metric that rises.
    expect(ctl.logs[0]).toBe('ModelCheckpoint: val_accuracy improved from -inf to 0.50000; saving run/best-001.safetensors');
    expect(ctl.logs[1]).toBe('ModelCheckpoint: val_accuracy improved from 0.50000 to 0.60000; saving run/best-002.safetensors');
    const byLoss = await run(new ModelCheckpoint('run/best.safetensors', { saveBestOnly: true }), 'val_loss', [2]);
    expect(byLoss.ctl.logs).toEqual(['ModelCheckpoint: val_loss improved from inf to 2.00000; saving run/best.safetensors']);
    // Without validation the metric is NaN: each epoch's checkpoint is kept, and said so plainly
    // (a NaN among finite values: callbacks-nan.test.ts).
    const noVal = await run(new ModelCheckpoint('run/best.safetensors', { saveBestOnly: true }), 'val_loss', [NaN, NaN]);
    expect(noVal.ctl.saved).toHaveLength(2);
    expect(noVal.ctl.logs).toEqual(new Array(2).fill('ModelCheckpoint: val_loss is NaN (nothing validated, or not finite) and no epoch has set a best; saving run/best.safetensors as the latest'));
  });

  it('saves every epoch without saveBestOnly', async () => {
    const cb = new ModelCheckpoint('run/last.safetensors');
    const { ctl } = await run(cb, 'val_loss', [3, 2, 4]);
    expect(ctl.saved).toHaveLength(3);
  });

  it('auto mode follows the metric name', () => {
    expect(resolveMode('auto', 'val_loss')).toBe('min');
    expect(resolveMode('auto', 'val_dice')).toBe('max');
    expect(resolveMode('min', 'val_accuracy')).toBe('min');
  });
});

describe('callback options', () => {
  // [what the caller wrote, the call, the message's start]
  const REFUSED: [string, () => unknown, string][] = [
    ["Keras's restore_best_weights", () => new EarlyStopping({ restore_best_weights: true } as never), "EarlyStopping: unknown option 'restore_best_weights' (did you mean restoreBestWeights?); the options are monitor, minDelta"],
    ["Keras's save_best_only", () => new ModelCheckpoint('best.safetensors', { save_best_only: true } as never), "ModelCheckpoint: unknown option 'save_best_only' (did you mean saveBestOnly?)"],
    ["Keras's min_lr", () => new ReduceLROnPlateau({ min_lr: 0.4 } as never), "ReduceLROnPlateau: unknown option 'min_lr' (did you mean minLr?)"],
    ['an option no callback has', () => new EarlyStopping({ verbose: 1 } as never), "EarlyStopping: unknown option 'verbose'; the options are monitor"],
    ["mode 'minimize'", () => new EarlyStopping({ mode: 'minimize' as never }), "EarlyStopping: mode must be 'min' or 'max' or 'auto'"],
    ['a mode of ReduceLROnPlateau', () => new ReduceLROnPlateau({ mode: 'maximum' as never }), 'ReduceLROnPlateau: mode'],
    ['a mode of ModelCheckpoint', () => new ModelCheckpoint('best.safetensors', { mode: 'up' as never }), 'ModelCheckpoint: mode'],
    ['the monitor where the options go', () => new EarlyStopping('val_dice' as never), "EarlyStopping: options must be an object such as { monitor: 'val_dice' }"],
    ['null options', () => new ReduceLROnPlateau(null as never), 'ReduceLROnPlateau: options'],
    ['a number for the monitor', () => new EarlyStopping({ monitor: 3 as never }), 'EarlyStopping: monitor'],
    ['an empty monitor', () => new ModelCheckpoint('best.safetensors', { monitor: '' }), 'ModelCheckpoint: monitor'],
    ['ModelCheckpoint without a path', () => new (ModelCheckpoint as never as new () => unknown)(), 'ModelCheckpoint: path must be a non-empty string'],
    ['ModelCheckpoint with the path in the options', () => new ModelCheckpoint({ path: 'best.safetensors' } as never), 'ModelCheckpoint: path must be a non-empty string'],
    ['ModelCheckpoint with an empty path', () => new ModelCheckpoint(''), 'ModelCheckpoint: path'],
    ['saveBestOnly a string', () => new ModelCheckpoint('best.safetensors', { saveBestOnly: 'yes' as never }), 'ModelCheckpoint: saveBestOnly'],
    ['factor 1 (never reduces)', () => new ReduceLROnPlateau({ factor: 1 }), 'ReduceLROnPlateau: factor must be a finite number > 0 and < 1'],
    ['factor -0.5', () => new ReduceLROnPlateau({ factor: -0.5 }), 'ReduceLROnPlateau: factor'],
    ['factor 0', () => new ReduceLROnPlateau({ factor: 0 }), 'ReduceLROnPlateau: factor'],
    ["patience '2'", () => new ReduceLROnPlateau({ patience: '2' as never }), 'ReduceLROnPlateau: patience must be an integer >= 0'],
    ['patience 1.5', () => new ReduceLROnPlateau({ patience: 1.5 }), 'ReduceLROnPlateau: patience'],
    ['a negative cooldown', () => new ReduceLROnPlateau({ cooldown: -1 }), 'ReduceLROnPlateau: cooldown'],
    ['a negative minDelta', () => new ReduceLROnPlateau({ minDelta: -0.1 }), 'ReduceLROnPlateau: minDelta'],
    ['a negative minLr', () => new ReduceLROnPlateau({ minLr: -1e-3 }), 'ReduceLROnPlateau: minLr'],
    ['patience -1', () => new EarlyStopping({ patience: -1 }), 'EarlyStopping: patience must be an integer >= 0'],
    ['a minDelta that is not a number', () => new EarlyStopping({ minDelta: '0.01' as never }), 'EarlyStopping: minDelta'],
    ['a string baseline', () => new EarlyStopping({ baseline: '0.5' as never }), 'EarlyStopping: baseline'],
    ['a NaN baseline', () => new EarlyStopping({ baseline: NaN }), 'EarlyStopping: baseline'],
    ['restoreBestWeights a string', () => new EarlyStopping({ restoreBestWeights: 'true' as never }), 'EarlyStopping: restoreBestWeights'],
    ['startFromEpoch -1', () => new EarlyStopping({ startFromEpoch: -1 }), 'EarlyStopping: startFromEpoch'],
  ];
  for (const [what, make, start] of REFUSED) {
    it(`${what}: ArgumentError '${start}...' when made`, () => {
      let error: unknown;
      try {
        make();
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ArgumentError);
      expect((error as Error).message.startsWith(start), (error as Error).message).toBe(true);
    });
  }

  it('takes every option it lists', () => {
    const es = new EarlyStopping({ monitor: 'val_dice', minDelta: 0.01, patience: 3, mode: 'max', baseline: 0.5, restoreBestWeights: true, startFromEpoch: 2 });
    expect([es.monitor, es.minDelta, es.patience, es.mode]).toEqual(['val_dice', 0.01, 3, 'max']);
    // As Keras, the magnitude of minDelta counts: its sign is the mode's.
    expect(new EarlyStopping({ minDelta: -0.01 }).minDelta).toBe(0.01);
    const lr = new ReduceLROnPlateau({ monitor: 'val_dice', factor: 0.5, patience: 0, mode: 'min', minDelta: 0, cooldown: 2, minLr: 1e-5 });
    expect([lr.monitor, lr.factor, lr.patience, lr.mode, lr.minDelta, lr.cooldown, lr.minLr]).toEqual(['val_dice', 0.5, 0, 'min', 0, 2, 1e-5]);
    const mc = new ModelCheckpoint('best.safetensors', { monitor: 'val_loss', saveBestOnly: true, mode: 'max' });
    expect([mc.monitor, mc.mode]).toEqual(['val_loss', 'max']);
  });
});

describe('a monitored metric missing from the logs', () => {
  class WarningControl extends FakeControl {
    warnings: string[] = [];
    warn(m: string): void { this.warnings.push(m); }
  }

  it('is warned about once per run for each callback and metric, through warn(), not every epoch', async () => {
    const ctl = new WarningControl();
    const es = new EarlyStopping({ monitor: 'val_acc', patience: 0 });
    const lr = new ReduceLROnPlateau({ monitor: 'val_acc', patience: 0 });
    for (const cb of [es, lr]) await cb.onTrainBegin?.(ctl);
    for (let epoch = 0; epoch < 3; epoch++) {
      for (const cb of [es, lr]) await cb.onEpochEnd?.(epoch, { loss: 1, val_accuracy: 0.5 }, ctl);
    }
    expect(ctl.warnings).toEqual([
      "EarlyStopping: metric 'val_acc' is not in the logs (loss, val_accuracy); EarlyStopping does nothing while it is missing",
      "ReduceLROnPlateau: metric 'val_acc' is not in the logs (loss, val_accuracy, lr); ReduceLROnPlateau does nothing while it is missing",
    ]);
    expect(ctl.logs).toEqual([]);
    expect([ctl.stopTraining, ctl.lr]).toEqual([false, 1]);
    // A new run (its own control) is told again.
    const next = new WarningControl();
    await run(new ModelCheckpoint('best.safetensors', { monitor: 'val_acc', saveBestOnly: true }), 'val_accuracy', [0.5, 0.6], next);
    expect(next.warnings).toHaveLength(1);
    expect(next.warnings[0].startsWith("ModelCheckpoint: metric 'val_acc'")).toBe(true);
  });

  it('goes to log() where the control has no warn()', async () => {
    const { ctl } = await run(new EarlyStopping({ monitor: 'val_acc' }), 'val_accuracy', [0.5, 0.6, 0.7]);
    expect(ctl.logs).toEqual(["EarlyStopping: metric 'val_acc' is not in the logs (val_accuracy); EarlyStopping does nothing while it is missing"]);
  });
});
