// `dawnet eval`: test-split metrics of a run. Classification: accuracy, sensitivity, specificity,
// ROC AUC and the confusion matrix. Segmentation: Dice per slice (under the stated empty-slice
// policy), Dice per patient volume, IoU, precision and recall, and the surface distances HD95 and
// ASSD per volume and per lesion slice. Optionally with test-time augmentation (--tta flip), and
// with connected-component post-processing of the thresholded prediction per patient volume
// (--min-lesion-size, --keep-largest) before the segmentation metrics; the test loss is always of
// the model's raw output.

import type { LggSlice } from '../data/lgg.js';
import { ArgumentError } from '../errors.js';
import { DataError } from '../data/errors.js';
import { describeValue, expectChoice, expectNumber } from '../graph/args.js';
import type { Module } from '../nn/module.js';
import { postprocessVolumes } from '../train/components.js';
import { evaluate, type EvalSet } from '../train/fit.js';
import { binaryReport, segmentationReport, type SurfaceReport } from '../train/metrics.js';
import { TTA_MODES, TtaModel, type TtaMode } from '../train/tta.js';
import type { TrainConfig } from './config.js';
import { evaluationSlices, makeDataset } from './data.js';
import { lossFor } from './model.js';
import { readConfig, runFiles, useRunTuning, writeJson } from './run-dir.js';
import { loadRunModel } from './run-model.js';

export interface EvalResult {
  json: Record<string, unknown>;
  table: string;
  /** What the metrics were computed on: segmentation predictions are post-processed when asked. */
  set: EvalSet;
}

export interface EvalOptions {
  /** Test-time augmentation (default 'none'). */
  tta?: TtaMode;
  /** Voxel spacing [dz, dy, dx] for the surface distances (default [1, 1, 1], pixels). */
  spacing?: number[];
  /** Predicted lesions (components per patient volume) under this many voxels are removed (default 0: none). */
  minLesionSize?: number;
  /** Keep only each patient volume's largest predicted lesion, after minLesionSize. */
  keepLargest?: boolean;
}

/**
 * Full 26-connectivity in 3-D: a lesion cut obliquely by the slices touches itself across slices
 * only at edges and corners, and splitting it there would let minLesionSize delete real tumour.
 */
export const EVAL_CONNECTIVITY = 26;

const postprocessing = (o: EvalOptions): boolean => (o.minLesionSize ?? 0) > 0 || o.keepLargest === true;

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

/** Slices whose true mask is empty, binarised as the metrics do (above 0.5). */
function emptyTruthSlices(set: EvalSet): number {
  let count = 0;
  for (let from = 0; from < set.target.length; from += set.sampleSize) {
    if (!set.target.subarray(from, from + set.sampleSize).some((t) => t > 0.5)) count++;
  }
  return count;
}

/**
 * Segmentation metrics of an evaluated set, after the post-processing `opts` asks for: the eval.json
 * fields, the table rows (all but the loss) and the set the metrics were computed on.
 */
export function segmentationMetrics(set: EvalSet, c: Pick<TrainConfig, 'size' | 'emptyPolicy'>, opts: EvalOptions = {}): { json: Record<string, unknown>; rows: [string, string][]; set: EvalSet } {
  const minLesionSize = opts.minLesionSize ?? 0;
  const keepLargest = opts.keepLargest ?? false;
  const postprocess = { minLesionSize, keepLargest, connectivity: EVAL_CONNECTIVITY, removedComponents: 0, removedVoxels: 0 };
  let scored = set;
  if (postprocessing(opts)) {
    const p = postprocessVolumes(set.pred, [c.size, c.size], set.volumes, { minSize: minLesionSize, keepLargest, connectivity: EVAL_CONNECTIVITY });
    Object.assign(postprocess, { removedComponents: p.removedComponents, removedVoxels: p.removedVoxels });
    scored = { ...set, pred: p.pred };
  }
  const surface = { sliceShape: [c.size, c.size], spacing: opts.spacing };
  const r = segmentationReport(scored.pred, scored.target, scored.sampleSize, { emptyPolicy: c.emptyPolicy, volumes: scored.volumes, surface });
  const rows: [string, string][] = [
    [`Dice per slice (empty slices: ${r.emptyPolicy === 'one' ? 'count as 1' : 'skipped'})`, pct(r.dicePerSlice)],
    ['Dice per volume (patient)', pct(r.dicePerVolume)],
    ['IoU per slice', pct(r.iouPerSlice)],
    ['precision (pixels)', pct(r.precision)],
    ['recall (pixels)', pct(r.recall)],
    // emptySlices counts the slices where truth and prediction are both empty (the empty policy's).
    ['slices / empty truth / both empty', `${r.slices} / ${emptyTruthSlices(scored)} / ${r.emptySlices}`],
    ...surfaceRows(r.surface!),
  ];
  if (postprocessing(opts)) {
    const rule = [minLesionSize > 0 ? `lesions under ${minLesionSize} voxels dropped` : '', keepLargest ? 'largest kept' : ''].filter(Boolean).join(', ');
    rows.push([`post-processing (per volume, ${EVAL_CONNECTIVITY}-connected)`, `${rule}: ${postprocess.removedComponents} lesions, ${postprocess.removedVoxels} voxels removed`]);
  }
  return { json: { postprocess, ...r }, rows, set: scored };
}

export async function evaluateRun(c: TrainConfig, model: Module, slices: LggSlice[], log: (m: string) => void, opts: EvalOptions = {}): Promise<EvalResult> {
  refuseForClassify(c, opts);
  const { loss, set } = await predictSet(c, model, slices, opts.tta ?? 'none');
  return scoreSet(c, set, loss, slices.length, log, opts);
}

/** The model's predictions (with `tta`) and mean loss over `slices`, as evaluate() gives them. */
export async function predictSet(c: TrainConfig, model: Module, slices: LggSlice[], tta: TtaMode): Promise<{ loss: number; set: EvalSet }> {
  const data = makeDataset(slices, c, { train: false });
  try {
    return await evaluate(tta === 'none' ? model : new TtaModel(model, tta), data, lossFor(c));
  } finally {
    await data.close();
  }
}

/** The metrics of predictions `set` over `slices` slices: eval.json's fields and the printed table (logged). */
function scoreSet(c: TrainConfig, set: EvalSet, testLoss: number, slices: number, log: (m: string) => void, opts: EvalOptions = {}): EvalResult {
  const tta = opts.tta ?? 'none';
  let json: Record<string, unknown>;
  let rows: [string, string][];
  let scored = set;
  if (c.task === 'classify') {
    const r = binaryReport(set.pred, set.target);
    json = { task: c.task, tta, slices, loss: testLoss, ...r, confusion: { tp: r.tp, fp: r.fp, tn: r.tn, fn: r.fn } };
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
    const m = segmentationMetrics(set, c, opts);
    json = { task: c.task, tta, loss: testLoss, ...m.json };
    rows = [['test loss', pct(testLoss)], ...m.rows];
    scored = m.set;
  }
  if (tta !== 'none') rows.push(['test-time augmentation', tta]);
  const width = Math.max(...rows.map(([k]) => k.length));
  const table = rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join('\n');
  log(`test split (${slices} slices):\n${table}`);
  return { json, table, set: scored };
}

/** Post-processing asked of a classify run: an ArgumentError, before any work. */
export function refuseForClassify(c: TrainConfig, opts: EvalOptions): void {
  if (c.task === 'classify' && postprocessing(opts)) {
    throw new ArgumentError('eval: minLesionSize and keepLargest post-process segmentation masks, and this run is classify');
  }
}

/** eval's options checked, each fault an ArgumentError naming it (what a caller in code may pass). */
export function checkEvalOptions(opts: EvalOptions & { data?: string; allPatients?: boolean }): void {
  expectChoice('eval', 'tta', opts.tta, TTA_MODES);
  const sp = opts.spacing;
  if (sp !== undefined && !(Array.isArray(sp) && sp.length === 3 && sp.every((d) => Number.isFinite(d) && d > 0))) {
    throw new ArgumentError(`eval: spacing must be three positive numbers [dz, dy, dx], got ${describeValue(sp)}`);
  }
  if (opts.minLesionSize !== undefined) expectNumber('eval', 'minLesionSize', opts.minLesionSize, { integer: true, min: 0 });
  if (opts.keepLargest !== undefined && typeof opts.keepLargest !== 'boolean') throw new ArgumentError(`eval: keepLargest must be a boolean, got ${describeValue(opts.keepLargest)}`);
  if (opts.allPatients && !opts.data) throw new ArgumentError('eval: allPatients scores an external data folder; give it as data');
}

/** runEval's and the ensemble's options besides EvalOptions. */
export interface EvalRunOptions extends EvalOptions {
  log: (m: string) => void;
  /** Another kaggle_3m folder than the run's. */
  data?: string;
  /** Score every patient of `data` (an external test set) instead of the run's test patients; RUN/eval.json is then left as it is. */
  allPatients?: boolean;
}

/** Loads a run's best checkpoint (or its last) and evaluates the test split (or, allPatients, all of `data`). */
export async function runEval(runDir: string, opts: EvalRunOptions): Promise<EvalResult> {
  checkEvalOptions(opts);
  const c = await readConfig(runDir);
  refuseForClassify(c, opts);
  if (opts.data) c.data = opts.data;
  const files = runFiles(runDir);
  const test = await evaluationSlices(c, runDir, opts.log, opts.allPatients);
  if (!test.length) throw new DataError(`${runDir}: no test patients (trained with --test-fraction 0), so nothing to evaluate; --data DIR --all-patients scores another folder`);
  const model = await loadRunModel([runDir], [c], opts.log);
  let result: EvalResult;
  try {
    await useRunTuning(runDir, opts.log);
    result = await evaluateRun(c, model, test, opts.log, opts);
  } finally {
    model.dispose();
  }
  // The run's eval.json is its own test split's: an external set's scores go where --out says.
  if (!opts.allPatients) await writeJson(files.eval, result.json);
  return { ...result, json: opts.allPatients ? { ...result.json, data: c.data, allPatients: true } : result.json };
}
