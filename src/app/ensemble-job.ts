// An ensemble of runs (the folds of a cross-validation, as nnU-Net ensembles its five fold
// models) scored on the test patients they all held out: the runs' best checkpoints loaded side by
// side into one EnsembleModel (run-model.ts; train/ensemble.ts: the mean of their outputs), which eval scores as
// it scores one model, loss, test-time augmentation and post-processing included.

import { DataError } from '../data/errors.js';
import { nodePath } from '../io/files.js';
import type { TrainConfig } from './config.js';
import { evaluationSlices, savedSplit } from './data.js';
import { checkEvalOptions, evaluateRun, refuseForClassify, type EvalResult, type EvalRunOptions } from './eval-job.js';
import { readConfig, runFiles, useRunTuning } from './run-dir.js';
import { loadRunModel } from './run-model.js';

export interface EnsembleResult extends EvalResult {
  /** The run folders averaged, in order. */
  members: string[];
}

/**
 * Averages the test-split predictions of `runs`' best checkpoints and scores the average; `data`
 * reads the slices from another kaggle_3m folder than the first run's, as `dawnet eval --data`.
 */
export async function evaluateEnsemble(runs: readonly string[], opts: EvalRunOptions): Promise<EnsembleResult> {
  if (runs.length < 2) throw new DataError(`ensemble: needs two runs or more, got ${runs.length}`);
  await warnRepeatedMembers(runs, opts.log);
  const configs: TrainConfig[] = [];
  let testPatients: string[] | null = null;
  for (const run of runs) {
    const c = await readConfig(run);
    const saved = await savedSplit(run);
    if (!saved) throw new DataError(`ensemble: ${runFiles(run).split} is missing: a member's test patients are what the ensemble is scored on`);
    const { patients } = saved.split;
    if (configs.length) checkSameInput(runs[0], configs[0], run, c);
    const key = [...patients.test].sort().join('\n');
    if (testPatients && key !== testPatients.join('\n')) throw new DataError(`ensemble: ${run} holds out other test patients than ${runs[0]}; an ensemble is scored on the patients every member held out`);
    testPatients ??= key.split('\n');
    configs.push(c);
  }
  refuseForClassify(configs[0], opts);
  // The members held out the same patients (checked above): the first one's split.json has them.
  const test = await evaluationSlices(opts.data ? { ...configs[0], data: opts.data } : configs[0], runs[0], opts.log, opts.allPatients);
  if (!test.length) throw new DataError(`ensemble: ${runs[0]} has no test patients (--test-fraction 0)`);
  await useRunTuning(runs[0], () => {});
  const model = await loadRunModel(runs, configs, opts.log);
  try {
    const result = await evaluateRun(configs[0], model, test, opts.log, opts);
    const external = opts.allPatients ? { data: opts.data, allPatients: true } : {};
    return { ...result, json: { ...result.json, ...external, ensemble: runs.slice() }, members: runs.slice() };
  } finally {
    model.dispose();
  }
}

/**
 * Warns of a run given twice (`runs/a runs/a`, `runs/a ./runs/a/`): its checkpoint counts double in
 * the average, which is rarely what was meant (a typo of another fold's name), yet allowed, since a
 * run averaged with itself is the run alone, (p + p) / 2 = p, a check of the ensemble itself.
 * Folders are compared as absolute paths.
 */
export async function warnRepeatedMembers(runs: readonly string[], log: (m: string) => void): Promise<void> {
  const { resolve } = await nodePath();
  const seen = new Map<string, string>();
  for (const run of runs) {
    const earlier = seen.get(resolve(run));
    const also = earlier !== undefined && earlier !== run ? ` (also as ${earlier})` : '';
    if (earlier !== undefined) log(`warning: ensemble: ${run} is given twice${also}, so its checkpoint counts twice in the average`);
    else seen.set(resolve(run), run);
  }
}

/** Two members of an ensemble must be of one task and read the same input (size, normalisation). */
export function checkSameInput(firstRun: string, first: TrainConfig, run: string, c: TrainConfig): void {
  if (c.task !== first.task) throw new DataError(`ensemble: ${run} is a ${c.task} run and ${firstRun} a ${first.task} one`);
  if (c.size !== first.size || c.normalize !== first.normalize) {
    throw new DataError(`ensemble: ${run} reads its slices at ${c.size}x${c.size}, normalised '${c.normalize}', and ${firstRun} at ${first.size}x${first.size}, '${first.normalize}': the members must see the same input`);
  }
  // A 3-D run's model takes volumes, a 2-D run's slices; windows of two depths would not average plane by plane.
  const [a, b] = [first.volumeDepth ?? 0, c.volumeDepth ?? 0];
  if (a !== b) {
    const what = (d: number) => (d ? `volume patches of ${d} planes (a 3-D U-Net)` : 'slices (a 2-D U-Net)');
    throw new DataError(`ensemble: ${run} was trained on ${what(b)} and ${firstRun} on ${what(a)}: the members must see the same input`);
  }
}

/** `dawnet eval RUN RUN...`: evaluateEnsemble with eval's checks of its options. */
export async function runEnsembleEval(runs: readonly string[], opts: EvalRunOptions): Promise<EnsembleResult> {
  checkEvalOptions(opts);
  return evaluateEnsemble(runs, opts);
}
