// A resumed epoch over a dataset that can start part-way (Dataset.batchesFrom, here a
// BatchLoader with augmentation seeded by epoch and batch, as the app's training data is): fit
// makes only the batches it trains, and the run ends bit for bit where the uninterrupted one does.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { augmentBatch } from '../../src/data/augment.js';
import { BatchLoader } from '../../src/data/batches.js';
import { readFileBytes, scanLgg, type LggSlice } from '../../src/data/lgg.js';
import { writeSyntheticDataset } from '../../src/data/synth.js';
import * as dn from '../../src/index.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

const temp = mkdtempSync(join(tmpdir(), 'dawnet-fit-resume-loader-'));
const S = 8;
let slices: LggSlice[];

beforeAll(async () => {
  // 2 patients of 5 or 6 slices, in batches of 3.
  await writeSyntheticDataset(temp, { patients: 2, seed: 3, size: 16, slicesPerPatient: [5, 6] });
  slices = (await scanLgg(temp, { size: S })).slices;
});
afterAll(() => rmSync(temp, { recursive: true, force: true }));

class Net extends dn.Module {
  conv = this.addModule('conv', new dn.nn.Conv2d(3, 1, { kernelSize: 1 }));
  forward(x: dn.Tensor): dn.Tensor {
    return dn.sigmoid(this.conv.forward(x));
  }
}

const mse = (p: dn.Tensor, y: dn.Tensor) => dn.mean(dn.square(dn.sub(p, y)));

/** Training batches from a loader, augmented on the GPU by a seed of (epoch, batch); `reads` counts the files decoded. */
function augmentedData(startsPartWay: boolean) {
  const counter = { reads: 0 };
  const read = (path: string) => {
    counter.reads++;
    return readFileBytes(path);
  };
  const loader = new BatchLoader(slices, { batchSize: 3, size: S, seed: 7, workers: 0, read });
  async function* from(epoch: number, start = 0): AsyncGenerator<dn.train.Batch> {
    for await (const b of loader.epoch(epoch, start)) {
      const x = dn.tensor(b.images, [b.count, S, S, 3]);
      const m = dn.tensor(b.masks, [b.count, S, S, 1]);
      const aug = augmentBatch(x, m, 'hflip+elastic', (7 * 100003 + epoch * 1009 + b.index) >>> 0);
      x.dispose();
      m.dispose();
      yield { x: aug.images, y: aug.masks! };
    }
  }
  const data: dn.train.Dataset = { batches: (epoch) => from(epoch), batchCount: loader.batchesPerEpoch };
  if (startsPartWay) data.batchesFrom = from;
  return { data, counter, close: () => loader.close() };
}

/** Two epochs of Adam from the same initial weights; `stopAt` interrupts the second epoch after that batch, then resumes it. */
async function run(stopAt: number | null, startsPartWay = true) {
  dn.setInitSeed(12);
  const net = new Net();
  const optimizer = new dn.optim.Adam(net.parameters(), { lr: 0.05 });
  const { data, counter, close } = augmentedData(startsPartWay);
  const signal = { stop: false };
  const opts = { epochs: 2, optimizer, loss: mse, signal, onBatch: (p: dn.train.BatchProgress) => void (p.epoch === 1 && p.batch === stopAt && (signal.stop = true)) };
  try {
    let history = await dn.train.fit(net, data, null, opts);
    let resumedReads = 0;
    if (stopAt !== null) {
      expect(history.interrupted).toBe(true);
      signal.stop = false;
      counter.reads = 0;
      const first = history.logs;
      history = await dn.train.fit(net, data, null, { ...opts, initialEpoch: 1, resumeEpoch: history.progress });
      history.logs = [...first, ...history.logs];
      resumedReads = counter.reads;
    }
    const weights = await Promise.all([...net.stateDict().values()].map(async (t) => Array.from(await t.toArray())));
    return { weights, losses: history.logs.map((l) => l.loss), resumedReads };
  } finally {
    await close();
    optimizer.dispose();
    net.dispose();
  }
}

describe('fit resuming an epoch through Dataset.batchesFrom', () => {
  it('decodes only the batches it trains and ends with the weights and losses of the uninterrupted run', async () => {
    const whole = await run(null);
    expect(slices.length).toBeGreaterThan(6);
    const resumed = await run(2);
    // The second epoch's batches after its first two (6 slices), an image and a mask file each.
    expect(resumed.resumedReads).toBe(2 * (slices.length - 6));
    expect(resumed.weights).toEqual(whole.weights);
    expect(resumed.losses).toEqual(whole.losses);
  }, 60_000);

  it('a dataset without batchesFrom resumes to the same weights, drawing the trained batches again', async () => {
    const whole = await run(null);
    const drawn = await run(2, false);
    expect(drawn.resumedReads).toBe(2 * slices.length);
    expect(drawn.weights).toEqual(whole.weights);
  }, 60_000);
});
