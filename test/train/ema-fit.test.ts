// fit with a weight average (ema): validation on the averaged weights (checked by hand where they
// differ from the live ones), one update per optimiser step under accumulate, restore-best and
// ModelCheckpoint keeping the averaged weights, and checkpoints that resume the average exactly.

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { decodeSafetensors, encodeSafetensors } from '../../src/io/safetensors.js';
import { BatchNorm2d, Conv2d, Sequential } from '../../src/nn/layers.js';
import { expectClose } from '../helpers/close.js';
import { useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

const dir = mkdtempSync(join(tmpdir(), 'dawnet-ema-'));

class Scale extends dn.Module {
  w = this.addParameter('w', dn.tensor([[0.5]], undefined, { requiresGrad: true }));
  forward(x: dn.Tensor): dn.Tensor {
    return dn.matmul(x, this.w);
  }
}

const mse = (p: dn.Tensor, y: dn.Tensor) => dn.mean(dn.square(dn.sub(p, y)));
/** A dataset of [x, y] rows per batch, for the one-weight model. */
const rows = (batches: [number[], number[]][]) => ({
  batches: () => batches.map(([x, y]) => ({ x: dn.tensor(x.map((v) => [v])), y: dn.tensor(y.map((v) => [v])) })),
});

describe('fit with ema: validation', () => {
  it('val_loss and val metrics are the averaged weights\', and the live weights are back after', async () => {
    // One SGD step (lr 0.1) from w = 0.5 on (x 1, y 10): gradient 2(0.5 - 10) = -19, live w = 2.4.
    // The average with decay 0.5, no warmup: 0.5 · 0.5 + 0.5 · 2.4 = 1.45.
    const model = new Scale();
    const optimizer = new dn.optim.SGD(model.parameters(), { lr: 0.1 });
    const val = rows([[[1, 2], [3, 3]]]);
    const history = await dn.train.fit(model, rows([[[1], [10]]]), val, {
      epochs: 1, optimizer, loss: mse, ema: { decay: 0.5, warmup: false }, metrics: { pred0: (s) => s.pred[0] },
    });
    const [averaged, live] = [1.45, 2.4];
    const valLoss = (w: number) => ((w - 3) ** 2 + (2 * w - 3) ** 2) / 2;
    expect(Math.abs(valLoss(averaged) - valLoss(live))).toBeGreaterThan(0.5);
    expectClose('val_loss', [history.logs[0].val_loss], [valLoss(averaged)]);
    expectClose('val_pred0', [history.logs[0].val_pred0], [averaged]);
    expectClose('live w after fit', await model.w.toArray(), [live]);
    optimizer.dispose();
    model.dispose();
  });

  it('ema must be a WeightEma of this model or options', async () => {
    const [model, other] = [new Scale(), new Scale()];
    const optimizer = new dn.optim.SGD(model.parameters());
    const foreign = new dn.train.WeightEma(other);
    for (const ema of [foreign, 0.999, { decay: 2 }]) {
      await expect(dn.train.fit(model, rows([]), null, { epochs: 1, optimizer, loss: mse, ema: ema as dn.train.WeightEma })).rejects.toBeInstanceOf(dn.ArgumentError);
    }
    foreign.dispose();
    optimizer.dispose();
    model.dispose();
    other.dispose();
  });
});

/** One epoch of SGD (lr 0.1) with a WeightEma (decay 0.5, no warmup); the float64 simulation alongside. */
async function averagedAfter(batches: [number[], number[]][], accumulate: number): Promise<{ updates: number; got: number; want: number }> {
  const model = new Scale();
  const optimizer = new dn.optim.SGD(model.parameters(), { lr: 0.1 });
  const ema = new dn.train.WeightEma(model, { decay: 0.5, warmup: false });
  await dn.train.fit(model, rows(batches), null, { epochs: 1, optimizer, loss: mse, accumulate, ema });
  // Each step takes the mean gradient of its group's batches, the last, shorter group's included.
  let [w, e, g, group] = [0.5, 0.5, 0, 0];
  batches.forEach(([x, y], i) => {
    g += x.reduce((s, xv, k) => s + (2 * xv * (w * xv - y[k])) / x.length, 0);
    group++;
    if ((i + 1) % accumulate === 0 || i === batches.length - 1) {
      w -= (0.1 * g) / group;
      [g, group] = [0, 0];
      e = 0.5 * e + 0.5 * w;
    }
  });
  const out = { updates: ema.updates, got: (await ema.shadows().get('w')!.toArray())[0], want: e };
  ema.dispose();
  optimizer.dispose();
  model.dispose();
  return out;
}

describe('fit with ema and accumulate', () => {
  const batches: [number[], number[]][] = [[[1], [10]], [[2], [4]], [[3], [1]], [[1], [2]], [[2], [5]]];
  it('one update per optimiser step: five batches by two are three updates', async () => {
    const r = await averagedAfter(batches, 2);
    expect(r.updates).toBe(3);
    expectClose('average after accumulated steps', [r.got], [r.want]);
  });

  it('without accumulate, one update per batch', async () => {
    const r = await averagedAfter(batches, 1);
    expect(r.updates).toBe(5);
    expectClose('average after plain steps', [r.got], [r.want]);
  });
});

describe('fit with ema: what callbacks keep and save', () => {
  it('ModelCheckpoint writes the averaged weights as the model, which a plain load (eval, predict) gets', async () => {
    const model = new Scale();
    const optimizer = new dn.optim.SGD(model.parameters(), { lr: 0.1 });
    const ema = new dn.train.WeightEma(model, { decay: 0.5, warmup: false });
    const path = join(dir, 'best.safetensors');
    const checkpoint = new dn.train.ModelCheckpoint(path, { monitor: 'val_loss', saveBestOnly: true });
    await dn.train.fit(model, rows([[[1], [10]]]), rows([[[1], [3]]]), { epochs: 1, optimizer, loss: mse, ema, callbacks: [checkpoint] });
    expect(checkpoint.saves).toEqual([0]);
    const averaged = await ema.shadows().get('w')!.toArray();
    const { tensors, metadata } = decodeSafetensors(readFileSync(path), path);
    expect(tensors.get('model/w')!.data).toEqual(averaged);
    expect(tensors.get('ema/w')!.data).toEqual(averaged);
    expect(JSON.parse(metadata.ema)).toEqual({ decay: 0.5, warmup: false, updates: 1, model: 'averaged' });
    const plain = new Scale();
    await dn.train.loadCheckpoint(path, plain);
    expect(await plain.w.toArray()).toEqual(averaged);
    expect(await plain.w.toArray()).not.toEqual(await model.w.toArray());
    for (const m of [model, plain]) m.dispose();
    ema.dispose();
    optimizer.dispose();
  });

  it("EarlyStopping's restore-best puts the best epoch's averaged weights into the model and the average", async () => {
    const model = new Scale();
    const optimizer = new dn.optim.SGD(model.parameters(), { lr: 0.1 });
    const ema = new dn.train.WeightEma(model, { decay: 0.5, warmup: false });
    const scores = [1, 0, 0];
    let calls = 0;
    let bestAverage: Float32Array = new Float32Array();
    const stop = new dn.train.EarlyStopping({ monitor: 'val_score', mode: 'max', patience: 1, restoreBestWeights: true });
    const history = await dn.train.fit(model, rows([[[1], [10]]]), rows([[[1], [3]]]), {
      epochs: 3, optimizer, loss: mse, ema, callbacks: [stop],
      metrics: { score: () => scores[calls++] },
      onEpoch: async (epoch) => {
        if (epoch === 0) bestAverage = await ema.shadows().get('w')!.toArray();
      },
    });
    expect(history.stoppedEarly).toBe(true);
    expect(history.epochs).toEqual([0, 1]);
    expect(await model.w.toArray()).toEqual(bestAverage);
    expect(await ema.shadows().get('w')!.toArray()).toEqual(bestAverage);
    ema.dispose();
    optimizer.dispose();
    model.dispose();
  });
});

// A model with batch norm, so that buffers are averaged too, and Adam, whose state also resumes.
const convNet = () => new Sequential(['conv', new Conv2d(1, 2, { seed: 5 })], ['bn', new BatchNorm2d(2)], ['head', new Conv2d(2, 1, { seed: 6 })]);
const images = (seed: number) => ({
  batches: (epoch: number) => [0, 1].map((b) => ({
    x: dn.tensor(Float32Array.from(uniform(32, seed + 10 * epoch + b)), [2, 4, 4, 1]),
    y: dn.tensor(Float32Array.from(uniform(32, seed + 500 + 10 * epoch + b)), [2, 4, 4, 1]),
  })),
});

interface Run {
  model: Sequential;
  optimizer: dn.optim.Adam;
  ema: dn.train.WeightEma;
}
const newRun = (): Run => {
  const model = convNet();
  return { model, optimizer: new dn.optim.Adam(model.trainableParameters(), { lr: 0.01 }), ema: new dn.train.WeightEma(model, { decay: 0.9 }) };
};
const trainRun = (r: Run, epochs: number, initialEpoch = 0) =>
  dn.train.fit(r.model, images(1), images(2), { epochs, initialEpoch, optimizer: r.optimizer, loss: mse, ema: r.ema });
const freeRun = (r: Run) => {
  r.ema.dispose();
  r.optimizer.dispose();
  r.model.dispose();
};

describe('checkpoints with an ema', () => {
  it('resuming from a checkpoint gives bit-identical averages and weights to an uninterrupted run', async () => {
    const whole = newRun();
    await trainRun(whole, 3);
    const first = newRun();
    await trainRun(first, 2);
    const path = join(dir, 'last.safetensors');
    await dn.train.saveCheckpoint(path, first.model, first.optimizer, { epoch: 1 }, first.ema);
    freeRun(first);
    const resumed = newRun();
    const loaded = await dn.train.loadCheckpoint(path, resumed.model, resumed.optimizer, resumed.ema);
    expect(loaded.emaRestored).toBe(true);
    expect(resumed.ema.updates).toBe(4);
    await trainRun(resumed, 3, 2);
    expect(resumed.ema.updates).toBe(whole.ema.updates);
    expect(resumed.ema.names).toContain('bn.running_mean');
    const [a, b] = [whole.ema.shadows(), resumed.ema.shadows()];
    for (const [name, t] of a) expect(await b.get(name)!.toArray(), `ema ${name}`).toEqual(await t.toArray());
    const live = resumed.model.stateDict();
    for (const [name, t] of whole.model.stateDict()) expect(await live.get(name)!.toArray(), `live ${name}`).toEqual(await t.toArray());
    freeRun(whole);
    freeRun(resumed);
  });

  it('a checkpoint without EMA state loads into an EMA, which restarts from the loaded weights', async () => {
    const a = newRun();
    await trainRun(a, 1);
    const path = join(dir, 'plain.safetensors');
    await dn.train.saveCheckpoint(path, a.model, a.optimizer, { epoch: 0 });
    const b = newRun();
    const loaded = await dn.train.loadCheckpoint(path, b.model, b.optimizer, b.ema);
    expect(loaded.emaRestored).toBe(false);
    expect(b.ema.updates).toBe(0);
    const state = a.model.stateDict();
    for (const [name, t] of b.ema.shadows()) expect(await t.toArray(), name).toEqual(await state.get(name)!.toArray());
    freeRun(a);
    freeRun(b);
  });

  it('EMA state that does not match is a ShapeError, EMA tensors without metadata a FormatError, both naming the file', async () => {
    const a = newRun();
    const path = join(dir, 'ema.safetensors');
    await dn.train.saveCheckpoint(path, a.model, null, {}, a.ema);
    // The same model with its head frozen: the checkpoint's weights fit, its averages do not.
    const b = convNet();
    b.freeze('head');
    const emaB = new dn.train.WeightEma(b);
    const mismatch = await dn.train.loadCheckpoint(path, b, null, emaB).catch((e: unknown) => e);
    expect(mismatch).toBeInstanceOf(dn.ShapeError);
    expect((mismatch as Error).message).toMatch(/ema\.safetensors: .*unexpected \[head\.weight, head\.bias\]/);
    const { tensors, metadata } = decodeSafetensors(readFileSync(path), path);
    delete metadata.ema;
    const broken = join(dir, 'no-ema-meta.safetensors');
    writeFileSync(broken, encodeSafetensors(tensors, metadata));
    await expect(dn.train.loadCheckpoint(broken, a.model, null, a.ema)).rejects.toThrow(/no-ema-meta\.safetensors/);
    await expect(dn.train.loadCheckpoint(broken, a.model, null, a.ema)).rejects.toBeInstanceOf(dn.FormatError);
    // Loading the weights alone ignores the averages.
    expect((await dn.train.loadCheckpoint(path, b)).emaRestored).toBe(false);
    emaB.dispose();
    b.dispose();
    freeRun(a);
  });
});
