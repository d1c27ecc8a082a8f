// What fit tells the user. A callback monitoring a metric that fit never logs ('val_acc' for
// 'val_accuracy') would never act; fit says so once per run for each callback and metric: through
// its log when given one, through console.warn when not (the default log says nothing). And a step
// whose loss turned NaN stops training with a TrainingError before a metric sees its predictions.

import { afterEach, describe, expect, it, vi } from 'vitest';
import * as dn from '../../src/index.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

class Scale extends dn.Module {
  w = this.addParameter('w', dn.tensor([[0.5]], undefined, { requiresGrad: true }));
  forward(x: dn.Tensor): dn.Tensor {
    return dn.matmul(x, this.w);
  }
}

/** A weight gone NaN: every prediction and the loss are NaN. */
class Diverged extends dn.Module {
  w = this.addParameter('w', dn.tensor([[NaN]], undefined, { requiresGrad: true }));
  forward(x: dn.Tensor): dn.Tensor {
    return dn.matmul(x, this.w);
  }
}

const loss = (p: dn.Tensor, y: dn.Tensor) => dn.mean(dn.square(dn.sub(p, y)));
const rows = (x: number[], y: number[]) => ({ batches: () => [{ x: dn.tensor(x.map((v) => [v])), y: dn.tensor(y.map((v) => [v])) }] });

/** Three epochs with two callbacks on the misspelt 'val_acc' (fit logs val_loss and val_accuracy). */
async function fitWithMisspeltMonitor(log?: (m: string) => void): Promise<void> {
  const model = new Scale();
  const optimizer = new dn.optim.SGD(model.parameters(), { lr: 0.01 });
  const callbacks = [new dn.train.EarlyStopping({ monitor: 'val_acc', patience: 0 }), new dn.train.ReduceLROnPlateau({ monitor: 'val_acc', patience: 0 })];
  const metrics = { accuracy: () => 0.5 };
  const history = await dn.train.fit(model, rows([1, 2], [2, 4]), rows([3], [6]), { epochs: 3, optimizer, loss, metrics, callbacks, log });
  // Neither callback acted: no early stop, the learning rate untouched.
  expect([history.epochs, history.stoppedEarly, optimizer.lr]).toEqual([[0, 1, 2], false, 0.01]);
  optimizer.dispose();
  model.dispose();
}

const WARNINGS = [
  "EarlyStopping: metric 'val_acc' is not in the logs (loss, val_loss, val_accuracy); EarlyStopping does nothing while it is missing",
  "ReduceLROnPlateau: metric 'val_acc' is not in the logs (loss, val_loss, val_accuracy, lr); ReduceLROnPlateau does nothing while it is missing",
];

describe('fit warns of a monitored metric missing from the logs', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('on console.warn, once per callback and metric over three epochs, when fit has no log', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    await fitWithMisspeltMonitor();
    expect(warn.mock.calls).toEqual(WARNINGS.map((m) => [m]));
  });

  it('in the log when fit has one, and not on the console', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const lines: string[] = [];
    await fitWithMisspeltMonitor((m) => lines.push(m));
    expect(lines).toEqual(WARNINGS);
    expect(warn).not.toHaveBeenCalled();
  });
});

describe('fit on a diverged step', () => {
  it("is a TrainingError, though the training metric refuses the step's NaN predictions", async () => {
    const model = new Diverged();
    const optimizer = new dn.optim.SGD(model.parameters(), { lr: 0.01 });
    // binaryReport refuses NaN scores (ArgumentError): it must not run before the loss is checked.
    const accuracy: dn.train.TrainMetric = { name: 'accuracy', tensors: (p, y) => [p.share(), y.share()], value: ([p, y]) => dn.train.binaryReport(p, y).accuracy };
    const error = await dn.train.fit(model, rows([1, 2], [1, 0]), null, { epochs: 1, optimizer, loss, trainMetric: accuracy }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(dn.TrainingError);
    expect((error as Error).message.startsWith('training loss became NaN at epoch 1, batch 1'), (error as Error).message).toBe(true);
    expect((error as dn.TrainingError).at).toEqual({ epoch: 1, batch: 1 });
    optimizer.dispose();
    model.dispose();
  });
});

describe("fit on a loss that is not one number", () => {
  it('is an ArgumentError naming fit and what the loss returned, and the weight is untouched', async () => {
    const model = new Scale();
    const optimizer = new dn.optim.SGD(model.parameters(), { lr: 0.01 });
    // Per-sample squared errors, not reduced: backward alone would say 'not a scalar; pass dy'.
    const perSample = (p: dn.Tensor, y: dn.Tensor) => dn.square(dn.sub(p, y));
    const error = await dn.train.fit(model, rows([1, 2], [2, 4]), null, { epochs: 1, optimizer, loss: perSample }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(dn.ArgumentError);
    expect((error as Error).message).toMatch(/^fit: the loss must return one number as a tensor \(reduce it, e\.g\. dn\.mean\(\.\.\.\)\); loss\(pred, y\) returned tensor#\d+ \[2,1\]/);
    expect(await model.w.toArray()).toEqual(Float32Array.of(0.5));
    optimizer.dispose();
    model.dispose();
  });
});
