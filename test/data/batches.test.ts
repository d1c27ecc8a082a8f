// The batch loader on a small synthetic data set: seeded order per epoch, layout and values of
// a batch, the prefetch bound, worker and no-worker paths giving identical batches, errors.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchLoader, type Batch, type BatchOptions } from '../../src/data/batches.js';
import { DataError } from '../../src/data/errors.js';
import { loadSlice, scanLgg, type LggSlice } from '../../src/data/lgg.js';
import { writeSyntheticDataset } from '../../src/data/synth.js';

const temp = mkdtempSync(join(tmpdir(), 'dawnet-batches-'));
const S = 16;
let slices: LggSlice[];

beforeAll(async () => {
  await writeSyntheticDataset(temp, { patients: 3, seed: 11, size: 24, slicesPerPatient: [7, 9] });
  slices = (await scanLgg(temp, { size: S })).slices;
});
afterAll(() => rmSync(temp, { recursive: true, force: true }));

async function collect(options: BatchOptions, epoch = 0, samples: readonly LggSlice[] = slices): Promise<Batch[]> {
  const loader = new BatchLoader(samples, options);
  try {
    const out: Batch[] = [];
    for await (const b of loader.epoch(epoch)) out.push(b);
    return out;
  } finally {
    await loader.close();
  }
}

const ids = (batches: Batch[]) => batches.flatMap((b) => b.ids);

describe('BatchLoader without workers', () => {
  it('yields NHWC images in 0..1, {0,1} masks and labels that match the scan', async () => {
    const batches = await collect({ batchSize: 4, size: S, seed: 1, workers: 0 });
    expect(batches).toHaveLength(Math.ceil(slices.length / 4));
    expect(ids(batches).sort()).toEqual(slices.map((s) => s.id).sort());
    const byId = new Map(slices.map((s) => [s.id, s]));
    for (const b of batches) {
      expect(b.images).toHaveLength(b.count * S * S * 3);
      expect(b.masks).toHaveLength(b.count * S * S);
      expect(b.images.every((v) => v >= 0 && v <= 1)).toBe(true);
      expect(b.masks.every((v) => v === 0 || v === 1)).toBe(true);
      b.ids.forEach((id, i) => expect(b.labels[i]).toBe(byId.get(id)!.label));
    }
    // Sample i of a batch is exactly the slice decoded on its own.
    const b = batches[1]!;
    const one = await loadSlice(byId.get(b.ids[2]!)!, S);
    expect(b.images.subarray(2 * S * S * 3, 3 * S * S * 3)).toEqual(one.image);
    expect(b.masks.subarray(2 * S * S, 3 * S * S)).toEqual(one.mask);
  });

  it('shuffles per epoch with the seed: same seed same order, new epoch new order', async () => {
    const a0 = ids(await collect({ batchSize: 5, size: S, seed: 7, workers: 0 }, 0));
    const b0 = ids(await collect({ batchSize: 5, size: S, seed: 7, workers: 0 }, 0));
    const a1 = ids(await collect({ batchSize: 5, size: S, seed: 7, workers: 0 }, 1));
    const c0 = ids(await collect({ batchSize: 5, size: S, seed: 8, workers: 0 }, 0));
    expect(b0).toEqual(a0);
    expect(a1).not.toEqual(a0);
    expect(c0).not.toEqual(a0);
    const loader = new BatchLoader(slices, { batchSize: 5, size: S, seed: 7, workers: 0 });
    expect(a0).toEqual(loader.order(0).map((i) => slices[i]!.id));
    const plain = ids(await collect({ batchSize: 5, size: S, shuffle: false, workers: 0 }));
    expect(plain).toEqual(slices.map((s) => s.id));
  });

  it('drops the last short batch only when asked', async () => {
    const n = slices.length;
    const kept = await collect({ batchSize: 4, size: S, workers: 0 });
    const dropped = await collect({ batchSize: 4, size: S, workers: 0, dropLast: true });
    expect(kept.at(-1)!.count).toBe(n % 4 || 4);
    expect(dropped).toHaveLength(Math.floor(n / 4));
    expect(dropped.every((b) => b.count === 4)).toBe(true);
  });
});

describe('prefetch', () => {
  it('never decodes more than `prefetch` batches ahead of a slow consumer', async () => {
    const batchSize = 2;
    const prefetch = 2;
    let reads = 0;
    const read = async (path: string) => {
      reads++;
      return new Uint8Array(readFileSync(path));
    };
    const loader = new BatchLoader(slices, { batchSize, size: S, workers: 0, prefetch, read });
    let consumed = 0;
    for await (const b of loader.epoch(0)) {
      consumed++;
      await new Promise((r) => setTimeout(r, 15)); // a slow training step
      // Two files a slice: the held batch and at most `prefetch` more have been read, never beyond.
      expect(reads).toBeLessThanOrEqual(2 * batchSize * Math.min(consumed + prefetch, loader.batchesPerEpoch));
      expect(b.index).toBe(consumed - 1);
    }
    const stats = loader.stats();
    expect(stats.maxBatchesAhead).toBe(prefetch);
    expect(stats.maxSlicesInFlight).toBeLessThanOrEqual((prefetch + 1) * batchSize);
    expect(stats.batchesYielded).toBe(loader.batchesPerEpoch);
    // With a slow consumer the prefetched batches are ready: the reads ran ahead.
    expect(reads).toBe(2 * slices.length);
    await loader.close();
  });

  it('prefetch 0 decodes each batch on demand', async () => {
    const loader = new BatchLoader(slices, { batchSize: 3, size: S, workers: 0, prefetch: 0 });
    // While the consumer holds a batch, nothing further has been started.
    for await (const _ of loader.epoch(0)) expect(loader.stats().batchesStarted).toBe(loader.stats().batchesYielded);
    expect(loader.stats().maxBatchesAhead).toBe(0);
  });
});

describe('BatchLoader with worker threads', () => {
  it('gives batches identical to the no-worker path', async () => {
    const options = { batchSize: 4, size: S, seed: 3, prefetch: 2 };
    const plain = await collect({ ...options, workers: 0 }, 2);
    const threaded = await collect({ ...options, workers: 2 }, 2);
    expect(threaded).toHaveLength(plain.length);
    threaded.forEach((b, i) => {
      const p = plain[i]!;
      expect(b.ids).toEqual(p.ids);
      expect(b.labels).toEqual(p.labels);
      expect(b.images).toEqual(p.images);
      expect(b.masks).toEqual(p.masks);
    });
  }, 60_000);

  it('reports a corrupt slice as a DataError naming the file, on both paths', async () => {
    const broken = join(temp, 'broken.tif');
    writeFileSync(broken, 'not a tiff');
    const samples = [...slices.slice(0, 3), { ...slices[3]!, imagePath: broken }];
    for (const workers of [0, 1]) {
      const error = await collect({ batchSize: 2, size: S, shuffle: false, workers }, 0, samples).catch((e: unknown) => e);
      expect(error, `workers: ${workers}`).toBeInstanceOf(DataError);
      expect((error as Error).message).toContain(broken);
    }
  }, 60_000);

  it('can stop mid-epoch and close', async () => {
    const loader = new BatchLoader(slices, { batchSize: 2, size: S, workers: 2, prefetch: 3 });
    for await (const b of loader.epoch(0)) {
      expect(b.count).toBe(2);
      break;
    }
    await loader.close();
    await expect(loader.epoch(1).next()).rejects.toThrow(DataError);
  }, 60_000);
});

describe('BatchLoader options', () => {
  it('rejects bad sizes and counts', () => {
    expect(() => new BatchLoader(slices, { batchSize: 0, size: S })).toThrow(DataError);
    expect(() => new BatchLoader(slices, { batchSize: 2, size: 0 })).toThrow(DataError);
    expect(() => new BatchLoader(slices, { batchSize: 2, size: S, prefetch: -1 })).toThrow(DataError);
    expect(() => new BatchLoader(slices, { batchSize: 2, size: S, workers: 1.5 })).toThrow(DataError);
  });
});
