// `dawnet eval`: test-split metrics of a run. Classification: accuracy, sensitivity, specificity,
// ROC AUC and the confusion matrix. Segmentation: Dice per slice (under the stated empty-slice
// policy), Dice per patient volume, IoU, precision and recall, and the surface distances HD95 and
// ASSD per volume and per lesion slice. Optionally with test-time augmentation (--tta flip).

import type { LggSlice } from '../data/lgg.js';
import { ArgumentError } from '../errors.js';
import { describeValue, expectChoice } from '../graph/args.js';
import type { Module } from '../nn/module.js';
import { loadCheckpoint } from '../train/checkpoint.js';
import { evaluate, type EvalSet } from '../train/fit.js';
import { binaryReport, segmentationReport, type SurfaceReport } from '../train/metrics.js';
import { TTA_MODES, TtaModel, type TtaMode } from '../train/tta.js';
import type { TrainConfig } from './config.js';
import { makeDataset, prepareData } from './data.js';
import { buildModel, lossFor } from './model.js';
import { fileExists, readConfig, runFiles, useRunTuning, writeJson } from './run-dir.js';

export interface EvalResult {
  json: Record<string, unknown>;
  table: string;
  set: EvalSet;
}

export interface EvalOptions {
  /** Test-time augmentation (default 'none'). */
  tta?: TtaMode;
  /** Voxel spacing [dz, dy, dx] for the surface distances (default [1, 1, 1], pixels). */
  spacing?: number[];
}

const pct = (v: number): string => (Number.isFinite(v) ? v.toFixed(4) : 'n/a');
const dist = (v: number): string => (Number.isFinite(v) ? v.toFixed(3) : Number.isNaN(v) ? 'n/a' : String(v));

function surfaceRows(s: SurfaceReport): [string, string][] {
  const unit = s.spacing.every((d) => d === 1) ? 'pixels' : `spacing ${s.spacing.join(' x ')}`;
  const left = s.oneEmpty === 'skip' ? 'left out' : 'scored Infinity';
  return [
    [`HD95 per volume, mean / median (${unit})`, `${dist(s.hd95PerVolume)} / ${dist(s.hd95PerVolumeMedian)}`],
    ['ASSD per volume, mean / median', `${dist(s.assdPerVolume)} / ${dist(s.assdPerVolumeMedian)}`],
    ['HD95 per lesion slice, mean / median', `${dist(s.hd95PerSlice)} / ${dist(s.hd95PerSliceMedian)}`],
    ['ASSD per lesion slice, mean / median', `${dist(s.assdPerSlice)} / ${dist(s.assdPerSliceMedian)}`],
    [`surface: scored / one mask empty (${left})`, `volumes ${s.volumesScored} / ${s.volumesOneEmpty}, slices ${s.slicesScored} / ${s.slicesOneEmpty}`],
  ];
}

export async function evaluateRun(c: TrainConfig, model: Module, slices: LggSlice[], log: (m: string) => void, opts: EvalOptions = {}): Promise<EvalResult> {
  const tta = opts.tta ?? 'none';
  const data = makeDataset(slices, c, { train: false });
  const lossFn = lossFor(c);
  const { loss: testLoss, set } = await evaluate(tta === 'none' ? model : new TtaModel(model, tta), data, lossFn);
  await data.close();
  let json: Record<string, unknown>;
  let rows: [string, string][];
  if (c.task === 'classify') {
    const r = binaryReport(set.pred, set.target);
    json = { task: c.task, tta, slices: slices.length, loss: testLoss, ...r, confusion: { tp: r.tp, fp: r.fp, tn: r.tn, fn: r.fn } };
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
    const surface = { sliceShape: [c.size, c.size], spacing: opts.spacing };
    const r = segmentationReport(set.pred, set.target, set.sampleSize, { emptyPolicy: c.emptyPolicy, volumes: set.volumes, surface });
    json = { task: c.task, tta, loss: testLoss, ...r };
    rows = [
      ['test loss', pct(testLoss)],
      [`Dice per slice (empty slices: ${r.emptyPolicy === 'one' ? 'count as 1' : 'skipped'})`, pct(r.dicePerSlice)],
      ['Dice per volume (patient)', pct(r.dicePerVolume)],
      ['IoU per slice', pct(r.iouPerSlice)],
      ['precision (pixels)', pct(r.precision)],
      ['recall (pixels)', pct(r.recall)],
      ['slices / empty', `${r.slices} / ${r.emptySlices}`],
      ...surfaceRows(r.surface!),
    ];
  }
  if (tta !== 'none') rows.push(['test-time augmentation', tta]);
  const width = Math.max(...rows.map(([k]) => k.length));
  const table = rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join('\n');
  log(`test split (${slices.length} slices):\n${table}`);
  return { json, table, set };
}

/** Loads a run's best checkpoint (or its last) and evaluates the test split. */
export async function runEval(runDir: string, opts: EvalOptions & { data?: string; log: (m: string) => void }): Promise<EvalResult> {
  expectChoice('eval', 'tta', opts.tta, TTA_MODES);
  const sp = opts.spacing;
  if (sp !== undefined && !(Array.isArray(sp) && sp.length === 3 && sp.every((d) => Number.isFinite(d) && d > 0))) {
    throw new ArgumentError(`eval: spacing must be three positive numbers [dz, dy, dx], got ${describeValue(sp)}`);
  }
  const c = await readConfig(runDir);
  if (opts.data) c.data = opts.data;
  const files = runFiles(runDir);
  const { split } = await prepareData(c, opts.log);
  const { model } = buildModel(c);
  const ckpt = (await fileExists(files.best)) ? files.best : files.last;
  await loadCheckpoint(ckpt, model);
  opts.log(`model: ${ckpt}`);
  await useRunTuning(runDir, opts.log);
  const result = await evaluateRun(c, model, split.test, opts.log, opts);
  model.dispose();
  await writeJson(files.eval, result.json);
  return result;
}
