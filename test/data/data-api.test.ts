// dn.data, the LGG pipeline as a script uses it: a synthetic kaggle_3m folder scanned, split by
// patient, served to fit() by lggDataset (the CLI's runs use the same function): the batches'
// shapes and values, the labels for classification, the normalisation, replay by seed, the
// augmentation of training batches only, and bad options named.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

const S = 16;
const dir = mkdtempSync(join(tmpdir(), 'dawnet-data-api-'));
let slices: dn.data.LggSlice[] = [];

beforeAll(async () => {
  await dn.data.writeSyntheticDataset(dir, { patients: 4, seed: 5, size: S, slicesPerPatient: [3, 4] });
  const scanned = await dn.data.scanLgg(dir, { size: S });
  slices = scanned.slices;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** An epoch's batches as host arrays (the tensors disposed), as fit would receive them. */
async function epoch(ds: dn.data.LggFitDataset, e: number) {
  const out: { x: Float32Array; y: Float32Array; xShape: number[]; yShape: number[]; volumes?: string[] }[] = [];
  for await (const b of ds.batches(e)) {
    out.push({ x: await b.x.toArray(), y: await b.y!.toArray(), xShape: [...b.x.shape], yShape: [...b.y!.shape], volumes: b.volumes });
    b.x.dispose();
    b.y!.dispose();
  }
  return out;
}

describe('dn.data', () => {
  it('scans, splits by patient and serves segmentation batches: x [B, S, S, 3] z-scored, y the 0/1 masks', async () => {
    expect(slices.length).toBeGreaterThanOrEqual(12);
    const split = dn.data.splitDataset(slices, { seed: 1, test: 0.25, val: 0.34 });
    dn.data.checkNoPatientLeak(split);
    const ds = dn.data.lggDataset(split.train, { batchSize: 2, size: S, workers: 0 });
    try {
      const batches = await epoch(ds, 0);
      expect(batches.length).toBe(ds.batchCount);
      expect(batches.reduce((n, b) => n + b.xShape[0], 0)).toBe(split.train.length);
      for (const b of batches) {
        expect(b.xShape.slice(1)).toEqual([S, S, 3]);
        expect(b.yShape).toEqual([b.xShape[0], S, S, 1]);
        expect([...new Set(b.y)].every((v) => v === 0 || v === 1)).toBe(true);
        // Each image's channels z-scored: mean 0 over its pixels.
        const mean = b.x.subarray(0, S * S * 3).reduce((p, v) => p + v, 0) / (S * S * 3);
        expect(Math.abs(mean)).toBeLessThan(1e-4);
        const patients = new Set(split.train.map((s) => s.patient));
        for (const v of b.volumes!) expect(patients.has(v)).toBe(true);
      }
    } finally {
      await ds.close();
    }
  });

  it('classification batches carry the labels [B, 1]; the same seed replays a training epoch, augmentation included', async () => {
    const make = (seed: number) => dn.data.lggDataset(slices, { batchSize: 4, size: S, task: 'classify', train: true, augment: 'hflip+elastic', seed, workers: 0 });
    const [a, b, c] = [make(3), make(3), make(4)];
    try {
      const [ea, eb, ec] = [await epoch(a, 1), await epoch(b, 1), await epoch(c, 1)];
      for (const batch of ea) {
        expect(batch.yShape).toEqual([batch.xShape[0], 1]);
        expect([...batch.y].every((v) => v === 0 || v === 1)).toBe(true);
      }
      const labelled = ea.flatMap((batch) => [...batch.y]);
      expect(labelled.filter((v) => v === 1).length).toBe(slices.filter((s) => s.label === 1).length);
      expect(eb.map((batch) => [...batch.x])).toEqual(ea.map((batch) => [...batch.x]));
      expect(ec.map((batch) => [...batch.x])).not.toEqual(ea.map((batch) => [...batch.x]));
    } finally {
      await Promise.all([a.close(), b.close(), c.close()]);
    }
  });

  it("evaluation batches are neither shuffled nor augmented; 'none' leaves the pixels in 0..1", async () => {
    const ds = dn.data.lggDataset(slices, { batchSize: 3, size: S, normalize: 'none', workers: 0 });
    try {
      const [first, again] = [await epoch(ds, 0), await epoch(ds, 7)];
      expect(again.map((b) => [...b.x])).toEqual(first.map((b) => [...b.x]));
      const decoded = await dn.data.loadSlice(slices[0], S);
      expect(first[0].x.subarray(0, S * S * 3)).toEqual(decoded.image);
      expect(first[0].y.subarray(0, S * S)).toEqual(decoded.mask);
    } finally {
      await ds.close();
    }
  });

  it('names a bad option', () => {
    expect(() => dn.data.lggDataset(slices, { batchSize: 2, size: S, task: 'detect' as never })).toThrow(/lggDataset: task must be 'segment' or 'classify', got/);
    expect(() => dn.data.lggDataset(slices, { batchSize: 2, size: S, augment: 'rotate' as never })).toThrow(/lggDataset: augment must be 'none' or 'hflip' or/);
    expect(() => dn.data.lggDataset(slices, { batchSize: 2, size: S, normalize: 'minmax' as never })).toThrow(/lggDataset: normalize must be/);
    expect(() => dn.data.lggDataset(slices, { batchSize: 0, size: S })).toThrow(/batchSize must be a positive integer/);
    const read = async () => new Uint8Array(0);
    expect(() => dn.data.lggDataset(slices, { batchSize: 2, size: S, read, workers: 2 })).toThrow(/lggDataset: a read function decodes on the calling thread, so workers must be 0 or left out, got 2/);
  });
});
