// `dawnet eval`: test-split metrics of a run. Classification: accuracy, sensitivity, specificity,
// ROC AUC and the confusion matrix. Segmentation: Dice per slice (under the stated empty-slice
// policy), Dice per patient volume, IoU, precision and recall, and the surface distances HD95 and
// ASSD per volume and per lesion slice. Optionally with test-time augmentation (--tta flip), and
// with connected-component post-processing of the thresholded prediction per patient volume
// (--min-lesion-size, --keep-largest) before the segmentation metrics; the test loss is always of
// the model's raw output.
// A patient's slices take their place in the volume by slice number (LggSlice.index). A volume
// missing a number from 1 to its highest (a slice the data scan skipped as damaged, or a slice-level
// split) is incomplete: stacking what is left would put the gap's neighbours one slice apart, so it
// is left out of the per-volume HD95 and ASSD (the missing slice's voxels are unknown, so no z
// placement could measure its surface without inventing them), and post-processing labels it with
// an empty wall at each gap so that lesions on both sides are not joined. Its per-volume Dice is
// over the slices it has, marked incomplete.

import type { LggSlice } from '../data/lgg.js';
import { ArgumentError } from '../errors.js';
import { DataError } from '../data/errors.js';
import { describeValue, expectChoice, expectNumber } from '../graph/args.js';
import type { Module } from '../nn/module.js';
import { postprocessVolumes } from '../train/components.js';
import { evaluate, type EvalSet } from '../train/fit.js';
import { binaryReport, segmentationReport, type SegmentationReport, type SurfaceReport } from '../train/metrics.js';
import { TTA_MODES, TtaModel, type TtaMode } from '../train/tta.js';
import { WINDOW_WEIGHTINGS, type WindowWeighting } from '../train/sliding-window.js';
import type { TrainConfig } from './config.js';
import { evaluationSlices, makeDataset } from './data.js';
import { lossFor } from './model.js';
import { readConfig, runFiles, useRunTuning, writeJson } from './run-dir.js';
import { loadRunModel } from './run-model.js';
import { predictVolumeSet } from './volume-eval.js';

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
  /** A 3-D run's sliding windows averaged alike ('uniform', the default) or by nnU-Net's Gaussian. */
  windowWeighting?: WindowWeighting;
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

/** A patient volume whose slices are not numbered 1..n in order. */
export interface IncompleteVolume {
  volume: string;
  /** Slices it has. */
  slices: number;
  /** Numbers from 1 to its highest that none of its slices has. */
  missing: number[];
  /** Its slices came out of slice-number order, or a number repeats (two folders of one patient). */
  unordered: boolean;
}

/** What eval.json says of the volumes' geometry, in words. */
export const VOLUME_RULE =
  'slices placed by slice number; a volume missing a number from 1 to its highest (a slice the data scan skipped) or out of order is incomplete: ' +
  'its Dice per volume is over the slices it has, it is left out of HD95 and ASSD per volume (per-slice figures kept), ' +
  'and post-processing does not join lesions across its gaps';

/** Each volume's slice positions in the set, volumes in order of first appearance ('all' without names). */
function slicesByVolume(volumes: readonly string[] | undefined, n: number): Map<string, number[]> {
  const groups = new Map<string, number[]>();
  for (let s = 0; s < n; s++) {
    const key = volumes?.[s] ?? 'all';
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key)!.push(s);
  }
  return groups;
}

/** The volumes of a set whose slice numbers (`numbers[i]` of slice i) are not 1, 2, ..., n in the set's order. */
export function incompleteVolumes(volumes: readonly string[] | undefined, numbers: readonly number[]): IncompleteVolume[] {
  const out: IncompleteVolume[] = [];
  for (const [volume, slices] of slicesByVolume(volumes, numbers.length)) {
    const nums = slices.map((s) => numbers[s]);
    if (nums.every((k, i) => k === i + 1)) continue;
    const present = new Set(nums);
    const missing: number[] = [];
    for (let k = 1, top = Math.max(...nums); k < top; k++) if (!present.has(k)) missing.push(k);
    out.push({ volume, slices: nums.length, missing, unordered: nums.some((k, i) => i > 0 && k <= nums[i - 1]) });
  }
  return out;
}

/**
 * postprocessVolumes with each volume's slices placed by slice number, and an empty slice wherever
 * two neighbours' numbers are not consecutive: a wall for the labelling, so no component spans a
 * gap, never scored. Complete volumes are labelled exactly as postprocessVolumes labels them.
 */
function postprocessPlaced(pred: Float32Array, size: number, volumes: readonly string[] | undefined, numbers: readonly number[], opts: { minSize: number; keepLargest: boolean }): { pred: Float32Array; removedComponents: number; removedVoxels: number; gaps: number } {
  const plane = size * size;
  const out = Float32Array.from(pred);
  const total = { removedComponents: 0, removedVoxels: 0, gaps: 0 };
  for (const slices of slicesByVolume(volumes, numbers.length).values()) {
    const order = [...slices].sort((a, b) => numbers[a] - numbers[b]);
    const placed: number[] = [];
    order.forEach((s, k) => {
      if (k > 0 && numbers[s] !== numbers[order[k - 1]] + 1) placed.push(-1);
      placed.push(s);
    });
    total.gaps += placed.length - order.length;
    const stack = new Float32Array(placed.length * plane);
    placed.forEach((s, k) => {
      if (s >= 0) stack.set(pred.subarray(s * plane, (s + 1) * plane), k * plane);
    });
    const r = postprocessVolumes(stack, [size, size], undefined, { ...opts, connectivity: EVAL_CONNECTIVITY });
    total.removedComponents += r.removedComponents;
    total.removedVoxels += r.removedVoxels;
    placed.forEach((s, k) => {
      if (s >= 0) out.set(r.pred.subarray(k * plane, (k + 1) * plane), s * plane);
    });
  }
  return { pred: out, ...total };
}

/** Numbers as ranges: [3, 4, 5, 9] is '3-5, 9'. */
function ranges(nums: number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < nums.length; ) {
    let j = i;
    while (j + 1 < nums.length && nums[j + 1] === nums[j] + 1) j++;
    parts.push(j > i ? `${nums[i]}-${nums[j]}` : `${nums[i]}`);
    i = j + 1;
  }
  return parts.join(', ');
}

/** Volumes named shown in the printed table; eval.json lists them all. */
const INCOMPLETE_SHOWN = 10;

function incompleteRow(incomplete: IncompleteVolume[], volumes: number): [string, string] {
  const named = incomplete.slice(0, INCOMPLETE_SHOWN).map((v) => {
    const why = [v.missing.length ? `slice${v.missing.length > 1 ? 's' : ''} ${ranges(v.missing)} missing` : '', v.unordered ? 'out of order' : ''].filter(Boolean).join(', ');
    return `${v.volume} (${why})`;
  });
  const more = incomplete.length > INCOMPLETE_SHOWN ? `, and ${incomplete.length - INCOMPLETE_SHOWN} more (eval.json: volumeGeometry)` : '';
  return ['incomplete volumes: left out of HD95/ASSD per volume', `${incomplete.length} of ${volumes}: ${named.join(', ')}${more}`];
}

/**
 * Segmentation metrics of an evaluated set, after the post-processing `opts` asks for: the eval.json
 * fields, the table rows (all but the loss) and the set the metrics were computed on.
 * `sliceNumbers[i]` is slice i's number in its volume (LggSlice.index): volumes are placed by them
 * and those with a number missing are incomplete (VOLUME_RULE, stated in the json as volumeGeometry).
 * Without them each volume's slices are taken as numbered 1..n in the order they come.
 */
export function segmentationMetrics(set: EvalSet, c: Pick<TrainConfig, 'size' | 'emptyPolicy'>, opts: EvalOptions = {}, sliceNumbers?: readonly number[]): { json: Record<string, unknown>; rows: [string, string][]; set: EvalSet } {
  const n = set.pred.length / set.sampleSize;
  if (sliceNumbers && sliceNumbers.length !== n) throw new ArgumentError(`eval: ${sliceNumbers.length} slice numbers for ${n} slices`);
  const numbers = sliceNumbers ?? positionsInVolume(set.volumes, n);
  const incomplete = incompleteVolumes(set.volumes, numbers);
  const minLesionSize = opts.minLesionSize ?? 0;
  const keepLargest = opts.keepLargest ?? false;
  const postprocess = { minLesionSize, keepLargest, connectivity: EVAL_CONNECTIVITY, removedComponents: 0, removedVoxels: 0 };
  let scored = set;
  let gaps = 0;
  if (postprocessing(opts)) {
    const p = postprocessPlaced(set.pred, c.size, set.volumes, numbers, { minSize: minLesionSize, keepLargest });
    Object.assign(postprocess, { removedComponents: p.removedComponents, removedVoxels: p.removedVoxels });
    gaps = p.gaps;
    scored = { ...set, pred: p.pred };
  }
  // An incomplete volume gets no 3-D distance (SurfaceOptions.incomplete): none is measured across its gap.
  const surface = { sliceShape: [c.size, c.size], spacing: opts.spacing, ...(incomplete.length ? { incomplete: new Set(incomplete.map((v) => v.volume)) } : {}) };
  const r: SegmentationReport = segmentationReport(scored.pred, scored.target, scored.sampleSize, { emptyPolicy: c.emptyPolicy, volumes: scored.volumes, surface });
  const volumeCount = r.surface!.perVolume.length;
  const rows: [string, string][] = [
    [`Dice per slice (empty slices: ${r.emptyPolicy === 'one' ? 'count as 1' : 'skipped'})`, pct(r.dicePerSlice)],
    ['Dice per volume (patient)', `${pct(r.dicePerVolume)}${incomplete.length ? ` (${incomplete.length} of ${volumeCount} volumes incomplete: over the slices they have)` : ''}`],
    ['IoU per slice', pct(r.iouPerSlice)],
    ['precision (pixels)', pct(r.precision)],
    ['recall (pixels)', pct(r.recall)],
    // emptySlices counts the slices where truth and prediction are both empty (the empty policy's).
    ['slices / empty truth / both empty', `${r.slices} / ${emptyTruthSlices(scored)} / ${r.emptySlices}`],
    ...surfaceRows(r.surface!),
  ];
  if (incomplete.length) rows.push(incompleteRow(incomplete, volumeCount));
  if (postprocessing(opts)) {
    const rule = [minLesionSize > 0 ? `lesions under ${minLesionSize} voxels dropped` : '', keepLargest ? 'largest kept' : ''].filter(Boolean).join(', ');
    const walls = gaps ? `, not joined across ${gaps} slice gap${gaps > 1 ? 's' : ''}` : '';
    rows.push([`post-processing (per volume, ${EVAL_CONNECTIVITY}-connected${walls})`, `${rule}: ${postprocess.removedComponents} lesions, ${postprocess.removedVoxels} voxels removed`]);
  }
  const geometry = sliceNumbers ? { volumeGeometry: { rule: VOLUME_RULE, complete: volumeCount - incomplete.length, incomplete } } : {};
  return { json: { postprocess, ...r, ...geometry }, rows, set: scored };
}

/** Each slice's position in its volume, from 1: the numbers of volumes taken as complete. */
function positionsInVolume(volumes: readonly string[] | undefined, n: number): number[] {
  const numbers = new Array<number>(n);
  for (const slices of slicesByVolume(volumes, n).values()) slices.forEach((s, k) => (numbers[s] = k + 1));
  return numbers;
}

export async function evaluateRun(c: TrainConfig, model: Module, slices: LggSlice[], log: (m: string) => void, opts: EvalOptions = {}): Promise<EvalResult> {
  refuseForClassify(c, opts);
  refuseWeightingForSlices(c, opts.windowWeighting);
  if ((c.volumeDepth ?? 0) > 0) {
    // A 3-D run: whole volumes by sliding windows, scored slice by slice as a 2-D run.
    const weighting = opts.windowWeighting ?? 'uniform';
    const v = await predictVolumeSet(c, model, slices, opts.tta ?? 'none', weighting);
    log(`volumes: ${new Set(v.set.volumes).size} predicted whole, windows of ${c.volumeDepth} planes ${Math.ceil(c.volumeDepth! / 2)} apart, ${weighting} weights`);
    const result = scoreSet(c, v.set, v.loss, v.slices, log, opts);
    return { ...result, json: { ...result.json, windowWeighting: weighting } };
  }
  const { loss, set } = await predictSet(c, model, slices, opts.tta ?? 'none');
  return scoreSet(c, set, loss, slices, log, opts);
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

/** The metrics of predictions `set` over `slices` (in the set's order): eval.json's fields and the printed table (logged). */
function scoreSet(c: TrainConfig, set: EvalSet, testLoss: number, slices: LggSlice[], log: (m: string) => void, opts: EvalOptions = {}): EvalResult {
  const tta = opts.tta ?? 'none';
  let json: Record<string, unknown>;
  let rows: [string, string][];
  let scored = set;
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
    const m = segmentationMetrics(set, c, opts, slices.map((s) => s.index));
    json = { task: c.task, tta, loss: testLoss, ...m.json };
    rows = [['test loss', pct(testLoss)], ...m.rows];
    scored = m.set;
  }
  if (tta !== 'none') rows.push(['test-time augmentation', tta]);
  const width = Math.max(...rows.map(([k]) => k.length));
  const table = rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join('\n');
  log(`test split (${slices.length} slices):\n${table}`);
  return { json, table, set: scored };
}

/** Window weighting asked of a run of slices (2-D): an ArgumentError, before any work. */
export function refuseWeightingForSlices(c: TrainConfig, weighting: WindowWeighting | undefined): void {
  if (weighting === 'gaussian' && !((c.volumeDepth ?? 0) > 0)) {
    throw new ArgumentError(`windowWeighting 'gaussian' weighs a 3-D run's sliding windows (train --volume-depth), and ${c.out} predicts slice by slice`);
  }
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
  expectChoice('eval', 'windowWeighting', opts.windowWeighting, WINDOW_WEIGHTINGS);
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
  refuseWeightingForSlices(c, opts.windowWeighting);
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
