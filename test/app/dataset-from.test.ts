// The training dataset `train` builds (makeDataset) starts a resumed epoch at a batch: its
// batchesFrom(epoch, from) gives the whole epoch's batches from there on, augmented and normalised
// alike (each batch's augmentation is seeded by its index), so fit's resume need not make the
// batches it skips.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultConfig, type TrainConfig } from '../../src/app/config.js';
import { makeDataset } from '../../src/app/data.js';
import { scanLgg, type LggSlice } from '../../src/data/lgg.js';
import { writeSyntheticDataset } from '../../src/data/synth.js';
import type { Batch } from '../../src/train/fit.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

const temp = mkdtempSync(join(tmpdir(), 'dawnet-dataset-from-'));
let slices: LggSlice[];
const config: TrainConfig = { ...defaultConfig('segment'), size: 16, batch: 2, workers: 0, augment: 'hflip+elastic', normalize: 'zscore' };

beforeAll(async () => {
  await writeSyntheticDataset(temp, { patients: 2, seed: 3, size: 16, slicesPerPatient: [4, 4] });
  slices = (await scanLgg(temp, { size: 16 })).slices;
});
afterAll(() => rmSync(temp, { recursive: true, force: true }));

/** Each batch's images and targets as host arrays, the tensors disposed. */
async function read(batches: AsyncIterable<Batch> | Iterable<Batch>): Promise<Float32Array[][]> {
  const out: Float32Array[][] = [];
  for await (const b of batches) {
    out.push([await b.x.toArray(), await b.y.toArray()]);
    b.x.dispose();
    b.y.dispose();
  }
  return out;
}

describe('makeDataset: a resumed epoch starts at its batch', () => {
  it('batchesFrom(epoch, 2) equals the augmented epoch from its third batch on', async () => {
    const data = makeDataset(slices, config, { train: true });
    try {
      expect(typeof data.batchesFrom).toBe('function');
      const whole = await read(data.batches(1));
      const resumed = await read(data.batchesFrom!(1, 2));
      expect(whole.length).toBe(4);
      expect(resumed).toEqual(whole.slice(2));
    } finally {
      await data.close();
    }
  });
});
