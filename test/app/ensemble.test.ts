// The ensemble of runs (src/app/ensemble-job.ts, train/ensemble.ts) in process, on two tiny folds
// of a synthetic set: the average of the members' own test predictions scored as eval scores one
// model; a run ensembled with itself scores exactly as its own eval, loss included; members that
// held out other patients are refused; loadRunModel, which eval, predict and ensembles load
// through, frees what it built when a checkpoint does not load.

import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluateEnsemble } from '../../src/app/ensemble-job.js';
import { predictSet, runEval, segmentationMetrics } from '../../src/app/eval-job.js';
import { runPredict } from '../../src/app/predict-job.js';
import { prepareData } from '../../src/app/data.js';
import { buildModel } from '../../src/app/model.js';
import { readConfig } from '../../src/app/run-dir.js';
import { loadRunModel } from '../../src/app/run-model.js';
import { runTraining } from '../../src/app/train-job.js';
import { configFromFlags } from '../../src/cli/train.js';
import { writeSyntheticDataset } from '../../src/data/synth.js';
import { DataError } from '../../src/data/errors.js';
import { memory } from '../../src/index.js';
import { EnsembleModel } from '../../src/train/ensemble.js';
import { loadCheckpoint } from '../../src/train/checkpoint.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

let work = '';
const runs: string[] = [];
const quiet = () => {};

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'dawnet-ensemble-'));
  const data = join(work, 'kaggle_3m');
  await writeSyntheticDataset(data, { patients: 7, seed: 6, size: 16, slicesPerPatient: [4, 5] });
  const flags = { data, epochs: 1, size: 16, features: 4, depth: 2, batch: 4, augment: 'none', workers: 0, folds: 3, 'test-fraction': 0.3 };
  for (const fold of [0, 1]) {
    const out = join(work, `fold-${fold + 1}`);
    await runTraining({ ...configFromFlags('segment', { ...flags, out }), fold }, { log: quiet });
    runs.push(out);
  }
  // The same data split another way: other test patients.
  const other = join(work, 'other');
  await runTraining(configFromFlags('segment', { ...flags, folds: 0, seed: 9, out: other }), { log: quiet });
  runs.push(other);
}, 300_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

async function testPredictions(run: string) {
  const c = await readConfig(run);
  const { split } = await prepareData(c, quiet);
  const { model } = buildModel(c);
  await loadCheckpoint(join(run, 'best.safetensors'), model);
  const { set } = await predictSet(c, model, split.test, 'none');
  model.dispose();
  return { c, set };
}

describe('evaluateEnsemble', () => {
  it("scores the average of the members' test predictions", async () => {
    const [a, b] = [await testPredictions(runs[0]), await testPredictions(runs[1])];
    const pred = a.set.pred.map((v, i) => (v + b.set.pred[i]) / 2);
    const want = segmentationMetrics({ ...a.set, pred }, a.c).json;
    const got = await evaluateEnsemble(runs.slice(0, 2), { log: quiet });
    expect(got.members).toEqual(runs.slice(0, 2));
    expect(got.json.ensemble).toEqual(runs.slice(0, 2));
    // The GPU adds in float32 and halves; the reference average rounds once: equal but for an
    // ulp, which no prediction here sits within of the 0.5 threshold.
    for (const k of ['dicePerSlice', 'dicePerVolume', 'iouPerSlice', 'precision', 'recall']) expect(got.json[k] as number, k).toBeCloseTo(want[k] as number, 10);
    const surface = (j: Record<string, unknown>) => (j.surface as { hd95PerVolume: number }).hd95PerVolume;
    expect(surface(got.json)).toBeCloseTo(surface(want), 10);
    expect(Number.isFinite(got.json.loss)).toBe(true);
    // The members disagree, so the average is not simply one of them.
    expect(a.set.pred.some((v, i) => v !== b.set.pred[i])).toBe(true);
  }, 120_000);

  it('a run ensembled with itself scores as its own eval', async () => {
    const own = JSON.parse(readFileSync(join(runs[0], 'eval.json'), 'utf8'));
    const got = await evaluateEnsemble([runs[0], runs[0]], { log: quiet });
    // (p + p) / 2 is p exactly: the same predictions, so the same loss and metrics bit for bit.
    for (const k of ['loss', 'dicePerSlice', 'dicePerVolume', 'precision', 'recall']) expect(got.json[k], k).toBe(own[k]);
  }, 120_000);

  it('refuses members with other test patients, and fewer than two', async () => {
    await expect(evaluateEnsemble([runs[0], runs[2]], { log: quiet })).rejects.toThrow(DataError);
    await expect(evaluateEnsemble([runs[0], runs[2]], { log: quiet })).rejects.toThrow(/other holds out other test patients than .*fold-1; an ensemble is scored on the patients every member held out/);
    await expect(evaluateEnsemble([runs[0]], { log: quiet })).rejects.toThrow(/needs two runs or more, got 1/);
  });
});

describe('loadRunModel', () => {
  it("loads one run's best checkpoint, or several runs as their ensemble, saying which", async () => {
    const configs = [await readConfig(runs[0]), await readConfig(runs[1])];
    const logs: string[] = [];
    const one = await loadRunModel([runs[0]], [configs[0]], (m) => logs.push(m));
    expect(one).not.toBeInstanceOf(EnsembleModel);
    one.dispose();
    const both = await loadRunModel(runs.slice(0, 2), configs, (m) => logs.push(m));
    expect(both).toBeInstanceOf(EnsembleModel);
    expect((both as EnsembleModel).members).toHaveLength(2);
    both.dispose();
    expect(logs).toEqual([`model: ${join(runs[0], 'best.safetensors')}`, `ensemble: 2 runs (${runs[0]}, ${runs[1]})`]);
  }, 60_000);

  it('a checkpoint that does not load: an error naming it, and every model built so far freed', async () => {
    const broken = join(work, 'broken');
    cpSync(runs[1], broken, { recursive: true });
    writeFileSync(join(broken, 'best.safetensors'), 'not a checkpoint');
    const c = await readConfig(runs[0]);
    const before = memory().bytesInUse;
    await expect(loadRunModel([runs[0], broken], [c, c], quiet)).rejects.toThrow(join(broken, 'best.safetensors'));
    expect(memory().bytesInUse).toBe(before);
    // eval and predict load through it and free as well.
    await expect(runEval(broken, { log: quiet })).rejects.toThrow(join(broken, 'best.safetensors'));
    expect(memory().bytesInUse).toBe(before);
    await expect(runPredict(runs[0], [], join(work, 'predict-broken'), quiet, { ensemble: [broken] })).rejects.toThrow(join(broken, 'best.safetensors'));
    expect(memory().bytesInUse).toBe(before);
  }, 60_000);

  it('predict frees its model when a slice fails', async () => {
    const before = memory().bytesInUse;
    const missing = join(work, 'no-such-slice.tif');
    await expect(runPredict(runs[0], [missing], join(work, 'predict-missing'), quiet)).rejects.toThrow('no-such-slice.tif');
    expect(memory().bytesInUse).toBe(before);
  }, 60_000);
});
