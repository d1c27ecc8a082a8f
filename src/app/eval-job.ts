// `dawnet eval`: test-split metrics of a run. Classification: accuracy, sensitivity, specificity,
// ROC AUC and the confusion matrix. Segmentation: Dice per slice (under the stated empty-slice
// policy), Dice per patient volume, IoU, precision and recall.

import type { LggSlice } from '../data/lgg.js';
import type { Module } from '../nn/module.js';
import { loadCheckpoint } from '../train/checkpoint.js';
import { evaluate, type EvalSet } from '../train/fit.js';
import { binaryReport, segmentationReport } from '../train/metrics.js';
import type { TrainConfig } from './config.js';
import { makeDataset, prepareData } from './data.js';
import { buildModel, lossFor } from './model.js';
import { fileExists, readConfig, runFiles, useRunTuning, writeJson } from './run-dir.js';

export interface EvalResult {
  json: Record<string, unknown>;
  table: string;
  set: EvalSet;
}

const pct = (v: number): string => (Number.isFinite(v) ? v.toFixed(4) : 'n/a');

export async function evaluateRun(c: TrainConfig, model: Module, slices: LggSlice[], log: (m: string) => void): Promise<EvalResult> {
  const data = makeDataset(slices, c, { train: false });
  const lossFn = lossFor(c);
  const { loss: testLoss, set } = await evaluate(model, data, lossFn);
  await data.close();
  let json: Record<string, unknown>;
  let rows: [string, string][];
  if (c.task === 'classify') {
    const r = binaryReport(set.pred, set.target);
    json = { task: c.task, slices: slices.length, loss: testLoss, ...r, confusion: { tp: r.tp, fp: r.fp, tn: r.tn, fn: r.fn } };
    rows = [
      ['test loss', pct(testLoss)],
      ['accuracy', pct(r.accuracy)],
      ['sensitivity (recall)', pct(r.recall)],
      ['specificity', pct(r.specificity)],
      ['precision', pct(r.precision)],
      ['ROC AUC', pct(r.auc)],
      ['confusion', `tp ${r.tp}  fp ${r.fp}  fn ${r.fn}  tn ${r.tn}`],
    ];
  } else {
    const r = segmentationReport(set.pred, set.target, set.sampleSize, { emptyPolicy: c.emptyPolicy, volumes: set.volumes });
    json = { task: c.task, loss: testLoss, ...r };
    rows = [
      ['test loss', pct(testLoss)],
      [`Dice per slice (empty slices: ${r.emptyPolicy === 'one' ? 'count as 1' : 'skipped'})`, pct(r.dicePerSlice)],
      ['Dice per volume (patient)', pct(r.dicePerVolume)],
      ['IoU per slice', pct(r.iouPerSlice)],
      ['precision (pixels)', pct(r.precision)],
      ['recall (pixels)', pct(r.recall)],
      ['slices / empty', `${r.slices} / ${r.emptySlices}`],
    ];
  }
  const width = Math.max(...rows.map(([k]) => k.length));
  const table = rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join('\n');
  log(`test split (${slices.length} slices):\n${table}`);
  return { json, table, set };
}

/** Loads a run's best checkpoint (or its last) and evaluates the test split. */
export async function runEval(runDir: string, opts: { data?: string; log: (m: string) => void }): Promise<EvalResult> {
  const c = await readConfig(runDir);
  if (opts.data) c.data = opts.data;
  const files = runFiles(runDir);
  const { split } = await prepareData(c, opts.log);
  const { model } = buildModel(c);
  const ckpt = (await fileExists(files.best)) ? files.best : files.last;
  await loadCheckpoint(ckpt, model);
  opts.log(`model: ${ckpt}`);
  await useRunTuning(runDir, opts.log);
  const result = await evaluateRun(c, model, split.test, opts.log);
  model.dispose();
  await writeJson(files.eval, result.json);
  return result;
}
