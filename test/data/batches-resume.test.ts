// A resumed epoch starts at a batch (BatchLoader.epoch(epoch, from)): it decodes only the batches
// from there on, and they are those of the whole epoch from there on, sample for sample, with
// the same index (which the training's augmentation is seeded by).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchLoader, type Batch, type BatchOptions } from '../../src/data/batches.js';
import { DataError } from '../../src/data/errors.js';
import { readFileBytes, scanLgg, type LggSlice } from '../../src/data/lgg.js';
import { writeSyntheticDataset } from '../../src/data/synth.js';

const temp = mkdtempSync(join(tmpdir(), 'dawnet-batches-resume-'));
const S = 16;
let slices: LggSlice[];

beforeAll(async () => {
  await writeSyntheticDataset(temp, { patients: 2, seed: 5, size: 16, slicesPerPatient: [5, 6] });
  slices = (await scanLgg(temp, { size: S })).slices;
});
afterAll(() => rmSync(temp, { recursive: true, force: true }));

/** The batches of `epoch` from `from` on, and how many files the loader read for them. */
async function drawn(epoch: number, from?: number, options: Partial<BatchOptions> = {}): Promise<{ batches: Batch[]; reads: number; started: number }> {
  let reads = 0;
  const read = (path: string) => {
    reads++;
    return readFileBytes(path);
  };
  const loader = new BatchLoader(slices, { batchSize: 3, size: S, seed: 9, workers: 0, read, ...options });
  try {
    const batches: Batch[] = [];
    for await (const b of loader.epoch(epoch, from)) batches.push(b);
    return { batches, reads, started: loader.stats().batchesStarted };
  } finally {
    await loader.close();
  }
}

describe('BatchLoader.epoch from a batch', () => {
  it('yields the whole epoch\'s batches from there on, decoding none before', async () => {
    const whole = await drawn(1);
    const n = whole.batches.length;
    expect(n).toBe(Math.ceil(slices.length / 3));
    // Two files (image and mask) per slice.
    expect(whole.reads).toBe(2 * slices.length);
    for (const from of [1, 2, n - 1]) {
      const resumed = await drawn(1, from);
      expect(resumed.batches).toEqual(whole.batches.slice(from));
      expect(resumed.batches.map((b) => b.index)).toEqual(whole.batches.slice(from).map((b) => b.index));
      expect(resumed.started).toBe(n - from);
      expect(resumed.reads).toBe(2 * whole.batches.slice(from).reduce((k, b) => k + b.count, 0));
    }
  });

  it('from the end yields nothing and reads nothing; from 0 is the whole epoch', async () => {
    const whole = await drawn(0);
    const end = await drawn(0, whole.batches.length);
    expect([end.batches.length, end.reads, end.started]).toEqual([0, 0, 0]);
    expect((await drawn(0, 0)).batches).toEqual(whole.batches);
  });

  it('holds with prefetch 0 and with the last batch dropped', async () => {
    const whole = await drawn(2, 0, { prefetch: 0, dropLast: true });
    const resumed = await drawn(2, 1, { prefetch: 0, dropLast: true });
    expect(resumed.batches).toEqual(whole.batches.slice(1));
    expect(resumed.batches.every((b) => b.count === 3)).toBe(true);
  });

  it('refuses a start outside the epoch', async () => {
    const loader = new BatchLoader(slices, { batchSize: 3, size: S, workers: 0 });
    try {
      for (const from of [-1, 1.5, loader.batchesPerEpoch + 1]) {
        await expect(loader.epoch(0, from).next()).rejects.toThrow(DataError);
      }
    } finally {
      await loader.close();
    }
  });
});
