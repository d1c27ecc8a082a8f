// An ensemble of runs (the folds of a cross-validation, as nnU-Net ensembles its five fold
// models) scored on the test patients they all held out: each run's best checkpoint predicts the
// test slices in turn, the probabilities are averaged, and the average is scored as one model's
// predictions would be, with eval's metrics, test-time augmentation and post-processing. There
// is no ensemble loss: the loss of an average is not the average of the losses, and a Dice loss
// depends on how the slices were batched.

import { DataError } from '../data/errors.js';
import { loadCheckpoint } from '../train/checkpoint.js';
import type { EvalSet } from '../train/fit.js';
import type { TrainConfig } from './config.js';
import { prepareData } from './data.js';
import { checkEvalOptions, predictSet, refuseForClassify, scoreSet, type EvalOptions, type EvalResult } from './eval-job.js';
import { buildModel } from './model.js';
import { fileExists, readConfig, readJson, runFiles, useRunTuning } from './run-dir.js';

export interface EnsembleResult extends EvalResult {
  /** The run folders averaged, in order. */
  members: string[];
}

/**
 * Averages the test-split predictions of `runs`' best checkpoints and scores the average; `data`
 * reads the slices from another kaggle_3m folder than the first run's, as `dawnet eval --data`.
 */
export async function evaluateEnsemble(runs: readonly string[], opts: EvalOptions & { log: (m: string) => void; data?: string }): Promise<EnsembleResult> {
  if (runs.length < 2) throw new DataError(`ensemble: needs two runs or more, got ${runs.length}`);
  const configs: TrainConfig[] = [];
  let testPatients: string[] | null = null;
  for (const run of runs) {
    const c = await readConfig(run);
    const { patients } = await readJson<{ patients: { test: string[] } }>(runFiles(run).split, 'split');
    const first = configs[0];
    if (first && c.task !== first.task) throw new DataError(`ensemble: ${run} is a ${c.task} run and ${runs[0]} a ${first.task} one`);
    if (first && c.size !== first.size) throw new DataError(`ensemble: ${run} works at ${c.size}x${c.size} and ${runs[0]} at ${first.size}x${first.size}`);
    const key = [...patients.test].sort().join('\n');
    if (testPatients && key !== testPatients.join('\n')) throw new DataError(`ensemble: ${run} holds out other test patients than ${runs[0]}; an ensemble is scored on the patients every member held out`);
    testPatients ??= key.split('\n');
    configs.push(c);
  }
  refuseForClassify(configs[0], opts);
  const { split } = await prepareData(opts.data ? { ...configs[0], data: opts.data } : configs[0], opts.log);
  if (!split.test.length) throw new DataError(`ensemble: ${runs[0]} has no test patients (--test-fraction 0)`);
  let sum: Float32Array | null = null;
  let first: EvalSet | null = null;
  for (const [i, c] of configs.entries()) {
    await useRunTuning(runs[i], () => {});
    const { model } = buildModel(c);
    try {
      const files = runFiles(runs[i]);
      await loadCheckpoint((await fileExists(files.best)) ? files.best : files.last, model);
      const { set } = await predictSet(c, model, split.test, opts.tta ?? 'none');
      if (!sum || !first) [sum, first] = [Float32Array.from(set.pred), set];
      else if (set.pred.length !== sum.length) throw new DataError(`ensemble: ${runs[i]} gave ${set.pred.length} predictions, ${runs[0]} ${sum.length}`);
      else for (let j = 0; j < sum.length; j++) sum[j] += set.pred[j];
    } finally {
      model.dispose();
    }
    opts.log(`ensemble: ${runs[i]} predicted the test split (${i + 1} of ${runs.length})`);
  }
  const pred = sum!.map((v) => v / runs.length);
  const result = scoreSet(configs[0], { ...first!, pred }, NaN, split.test.length, opts.log, opts, `test split, the average of ${runs.length} runs`);
  return { ...result, json: { ...result.json, ensemble: runs.slice() }, members: runs.slice() };
}

/** `dawnet eval RUN RUN...`: evaluateEnsemble with eval's checks of its options. */
export async function runEnsembleEval(runs: readonly string[], opts: EvalOptions & { log: (m: string) => void; data?: string }): Promise<EnsembleResult> {
  checkEvalOptions(opts);
  return evaluateEnsemble(runs, opts);
}
