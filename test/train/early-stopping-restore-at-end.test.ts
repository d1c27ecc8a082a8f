// EarlyStopping's restoreBestWeights at the end of a run that did not stop: Keras 3 restores the
// best epoch's weights in on_train_end, so the model fit hands back is the best one even when the
// patience never ran out. An interrupted or failed run keeps its weights (they are what resumes).

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { EarlyStopping } from '../../src/train/callbacks.js';
import { FakeControl } from './fake-control.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

/** FakeControl with fit's end-of-run flag. */
class EndingControl extends FakeControl {
  finished?: boolean;
}

/** Runs `es` over the monitored values, the "weights" being the epoch; ends the run as `finished` says. */
function run(es: EarlyStopping, values: number[], finished: boolean): EndingControl {
  const ctl = new EndingControl();
  es.onTrainBegin(ctl);
  for (const [epoch, v] of values.entries()) {
    ctl.weights = epoch;
    es.onEpochEnd(epoch, { val_loss: v }, ctl);
    if (ctl.stopTraining) break;
  }
  if (finished) ctl.finished = true;
  es.onTrainEnd(ctl);
  expect(ctl.live.size, 'snapshots left behind').toBe(0);
  return ctl;
}

describe('EarlyStopping restoreBestWeights when the run does not stop', () => {
  it('restores the best epoch at the end of a finished run, as Keras 3', () => {
    const ctl = run(new EarlyStopping({ patience: 5, restoreBestWeights: true }), [0.5, 0.1, 0.3, 0.4], true);
    expect(ctl.restored).toEqual([1]);
    expect(ctl.weights).toBe(1);
  });

  it('restores once when the patience runs out (at the stop), not again at the end', () => {
    const ctl = run(new EarlyStopping({ patience: 2, restoreBestWeights: true }), [0.5, 0.1, 0.3, 0.4, 0.2], true);
    expect(ctl.restored).toEqual([1]);
  });

  it('leaves an interrupted run (finished unset) and one without restoreBestWeights as they are', () => {
    expect(run(new EarlyStopping({ patience: 5, restoreBestWeights: true }), [0.5, 0.1, 0.3], false).restored).toEqual([]);
    expect(run(new EarlyStopping({ patience: 5 }), [0.5, 0.1, 0.3], true).restored).toEqual([]);
  });

  it('through fit: the model ends with the best epoch weights', async () => {
    dn.setInitSeed(11);
    const net = new dn.nn.Linear(3, 1);
    const optimizer = new dn.optim.SGD(net.parameters(), { lr: 0.1 });
    const x = Float32Array.from({ length: 24 }, (_, i) => Math.sin(i));
    const y = Float32Array.from({ length: 8 }, (_, i) => Math.cos(i));
    const data = () => dn.train.arrayDataset({ data: x, shape: [8, 3] }, { data: y, shape: [8, 1] }, { batchSize: 4 });
    const monitored = [0.5, 0.2, 0.3, 0.4];
    const weights: number[][] = [];
    const record: dn.train.Callback = {
      onEpochEnd: async (epoch, logs) => {
        logs.val_score = monitored[epoch];
        weights.push([...(await net.parameters()[0].toArray())]);
      },
    };
    const es = new dn.train.EarlyStopping({ monitor: 'val_score', mode: 'min', patience: 10, restoreBestWeights: true });
    const history = await dn.train.fit(net, data(), null, { epochs: 4, loss: dn.mseLoss, optimizer, callbacks: [record, es] });
    expect(history.stoppedEarly).toBe(false);
    expect(weights[1]).not.toEqual(weights[3]);
    expect([...(await net.parameters()[0].toArray())]).toEqual(weights[1]);
    optimizer.dispose();
    net.dispose();
  });
});
