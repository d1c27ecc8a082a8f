// A run without validation slices (--val-fraction 0): val_loss is NaN every epoch, and a NaN never
// improves (callbacks-nan.test.ts), so early stopping and ReduceLROnPlateau are left out: the run
// trains every epoch at its rate, and best.safetensors holds its last epoch.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTraining } from '../../src/app/train-job.js';
import { configFromFlags } from '../../src/cli/train.js';
import { writeSyntheticDataset } from '../../src/data/synth.js';
import { decodeSafetensors } from '../../src/io/safetensors.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

let work = '';
let data = '';
beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'dawnet-no-val-'));
  data = join(work, 'kaggle_3m');
  await writeSyntheticDataset(data, { patients: 4, seed: 21, size: 16, slicesPerPatient: [2, 3] });
}, 60_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('--val-fraction 0', () => {
  it('trains every epoch at its rate with patience 1, and keeps the last epoch as best.safetensors', async () => {
    const out = join(work, 'run');
    const logs: string[] = [];
    const flags = { data, out, epochs: 3, size: 16, features: 4, depth: 1, batch: 4, augment: 'none', workers: 0, 'val-fraction': 0, patience: 1, 'lr-patience': 1 };
    const result = await runTraining(configFromFlags('segment', flags), { log: (m) => logs.push(m) });
    expect(result.history.stoppedEarly).toBe(false);
    expect(logs).toContain('no validation slices: early stopping and ReduceLROnPlateau are off (they watch val_loss)');
    const epochs = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(epochs.map((e) => [e.epoch, e.val_loss, e.lr])).toEqual([0, 1, 2].map((e) => [e, null, epochs[0].lr]));
    const best = decodeSafetensors(new Uint8Array(readFileSync(join(out, 'best.safetensors'))), 'best');
    expect(JSON.parse(best.metadata.meta).epoch).toBe(2);
  }, 120_000);
});
