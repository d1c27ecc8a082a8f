// Runs with an empty part of the split finish: --val-fraction 0 (no validation: the report shows
// no validation slices, the callbacks that watch val_* have nothing to act on) and --test-fraction 0
// (no test evaluation; test/cli/cv.test.ts runs it through cv).
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTraining } from '../../src/app/train-job.js';
import { configFromFlags } from '../../src/cli/train.js';
import { writeSyntheticDataset } from '../../src/data/synth.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

let work = '';
let data = '';
beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'dawnet-empty-parts-'));
  data = join(work, 'kaggle_3m');
  await writeSyntheticDataset(data, { patients: 5, seed: 12, size: 16, slicesPerPatient: [3, 4] });
}, 60_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

const flags = (out: string, extra: Record<string, unknown>) => configFromFlags('segment', { data, out, epochs: 2, size: 16, features: 4, depth: 2, batch: 4, augment: 'none', workers: 0, ...extra });

describe('a split with an empty part', () => {
  it('--val-fraction 0: trains, tests and writes its report without validation slices', async () => {
    const out = join(work, 'no-val');
    const logs: string[] = [];
    const result = await runTraining(flags(out, { 'val-fraction': 0 }), { log: (m) => logs.push(m) });
    expect(result.interrupted).toBe(false);
    expect(JSON.parse(readFileSync(join(out, 'split.json'), 'utf8')).patients.val).toEqual([]);
    expect(JSON.parse(readFileSync(join(out, 'eval.json'), 'utf8')).slices).toBeGreaterThan(0);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html).not.toContain('data-testid="section-samples"');
    const epochs = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(epochs.map((e) => e.val_loss)).toEqual([null, null]);
  }, 120_000);

  it('--test-fraction 0: trains and writes its report, with no test evaluation', async () => {
    const out = join(work, 'no-test');
    const logs: string[] = [];
    const result = await runTraining(flags(out, { 'test-fraction': 0 }), { log: (m) => logs.push(m) });
    expect(result.test).toBeNull();
    expect(existsSync(join(out, 'eval.json'))).toBe(false);
    expect(existsSync(join(out, 'report.html'))).toBe(true);
    expect(logs).toContain('test: no test patients (--test-fraction 0), so no test evaluation and no eval.json');
  }, 120_000);
});
