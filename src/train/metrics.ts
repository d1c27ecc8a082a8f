// Evaluation metrics, computed on the host over a whole validation or test set (ROC AUC needs
// every score at once). Binary classification from probabilities with a threshold; segmentation
// overlap per slice and per volume (patient).
//
// Thresholds: a score or predicted probability is positive at p >= threshold (0.5; MONAI's
// AsDiscrete(threshold) is the same, Keras's binary_accuracy and torchmetrics take p > 0.5, which
// differs only at exactly 0.5); a label or true mask value is positive at >= 0.5 and > 0.5
// respectively (the same for 0/1 masks). Undefined ratios are NaN: precision with nothing predicted
// positive, specificity with no negative, F1 when TP + FP + FN = 0 (scikit-learn's
// zero_division=np.nan; its default gives 0 with a warning), and ROC AUC with one class only (recent
// scikit-learn's roc_auc_score returns NaN there too, older versions raise). ROC AUC is the
// Mann-Whitney statistic, ties counting one half, which equals roc_auc_score's trapezoidal area.
// Segmentation precision and recall pool every pixel of the set (one ratio of sums, not a mean
// of per-slice ratios).
//
// Empty slices: when both the true mask and the prediction are empty, Dice and IoU are 0/0. The
// policy is explicit: 'one' counts such a slice as a perfect 1 (what most Kaggle notebooks do,
// implicitly, through a smoothing term), 'skip' leaves it out of the mean (nnU-Net's NaN and
// nanmean). A prediction on an empty truth, or an empty prediction of a lesion, scores 0 under both.
// Per volume, the Dice of the volume's summed overlap, the volumes averaged with equal weight.
//
// Surface distances (HD95, ASSD; definitions in surface-distance.ts), when asked for: per volume in
// 3-D (the volume's slices stacked in the order they come, spacing [dz, dy, dx]) and per slice in
// 2-D. Both masks empty: a volume follows the empty policy ('one': distance 0, 'skip': left out);
// a slice is always left out, so the per-slice figures describe the slices that show a lesion or a
// prediction, not the many empty ones. Exactly one mask empty (a missed lesion or a false alarm)
// has no surface to measure against: 'skip' (default) leaves it out and counts it, 'infinity'
// scores it Infinity (MONAI's value), which makes the mean Infinity but keeps the median useful.
//
// Inputs are checked first (ArgumentError naming the function and the argument): arrays of one
// length, whole slices, a volume name per slice, no NaN score or mask value. Each of these used to
// give a number that looked fine and was wrong (a shorter truth read as background, 3 scores with
// 2 labels an AUC of 1, NaN predictions as empty masks), or, for sliceSize 0, never to return.

import { ArgumentError, ShapeError } from '../errors.js';
import { describeValue, expectChoice, expectHostArray, expectKnownOptions, expectNumber, expectOptionalNumber, expectOptions } from '../graph/args.js';
import { surfaceDistance, type SurfaceDistance } from './surface-distance.js';

export interface Confusion {
  tp: number;
  fp: number;
  tn: number;
  fn: number;
}

/** An array or typed array (its values are checked where they matter). */
const expectValues: typeof expectHostArray = expectHostArray;

/**
 * One score and one label per sample, none NaN: a NaN score has no rank and no side of the
 * threshold (a sort comparing it is undefined, and the AUC comes out wrong rather than NaN).
 */
function expectScored(op: string, scores: unknown, labels: unknown): asserts scores is ArrayLike<number> {
  expectValues(op, 'scores', scores);
  expectValues(op, 'labels', labels);
  if (scores.length !== labels.length) throw new ArgumentError(`${op}: scores has ${scores.length} values but labels has ${labels.length}; give one of each per sample`);
  for (const [role, values] of [['scores', scores], ['labels', labels]] as const) {
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (typeof v === 'number' && !Number.isNaN(v)) continue;
      const what = Number.isNaN(v) ? 'NaN' : describeValue(v);
      throw new ArgumentError(`${op}: ${role}[${i}] is ${what}; a ${role === 'scores' ? 'score' : 'label'} must be a number (a NaN has no rank and no side of the threshold; did the model's output diverge?)`);
    }
  }
}

/** A threshold given as a number (positional) or as { threshold } (options), 0.5 by default. */
function thresholdOf(op: string, v: unknown): number {
  if (v === undefined) return 0.5;
  if (typeof v === 'number') {
    expectNumber(op, 'threshold', v);
    return v;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new ArgumentError(`${op}: threshold must be a number or { threshold }, got ${describeValue(v)}`);
  }
  expectKnownOptions(op, v, ['threshold']);
  const t = (v as { threshold?: unknown }).threshold;
  expectOptionalNumber(op, 'threshold', t);
  return (t as number | undefined) ?? 0.5;
}

/** Threshold: a number, or { threshold } (the options form). */
export function confusion(scores: ArrayLike<number>, labels: ArrayLike<number>, threshold: number | { threshold?: number } = 0.5): Confusion {
  expectScored('confusion', scores, labels);
  return countConfusion(scores, labels, thresholdOf('confusion', threshold));
}

function countConfusion(scores: ArrayLike<number>, labels: ArrayLike<number>, threshold: number): Confusion {
  const c = { tp: 0, fp: 0, tn: 0, fn: 0 };
  for (let i = 0; i < scores.length; i++) {
    const p = scores[i] >= threshold;
    const y = labels[i] >= 0.5;
    if (p && y) c.tp++;
    else if (p) c.fp++;
    else if (y) c.fn++;
    else c.tn++;
  }
  return c;
}

const ratio = (a: number, b: number): number => (b === 0 ? NaN : a / b);

export interface BinaryReport extends Confusion {
  accuracy: number;
  precision: number;
  /** Also called sensitivity. */
  recall: number;
  specificity: number;
  f1: number;
  auc: number;
}

/** Threshold: a number, or { threshold } (the options form); 0.5 by default. */
export function binaryReport(scores: ArrayLike<number>, labels: ArrayLike<number>, threshold: number | { threshold?: number } = 0.5): BinaryReport {
  expectScored('binaryReport', scores, labels);
  const c = countConfusion(scores, labels, thresholdOf('binaryReport', threshold));
  const precision = ratio(c.tp, c.tp + c.fp);
  const recall = ratio(c.tp, c.tp + c.fn);
  return {
    ...c,
    accuracy: ratio(c.tp + c.tn, c.tp + c.tn + c.fp + c.fn),
    precision,
    recall,
    specificity: ratio(c.tn, c.tn + c.fp),
    // scikit-learn's f1_score: F1 = 2TP / (2TP + FP + FN). The harmonic mean of precision and
    // recall is the same number wherever both are defined, but it is 0/0 when TP = 0 (precision
    // 0 or undefined, recall 0), where F1 is 0: a classifier that finds none of the positives.
    // Undefined (NaN) only when TP + FP + FN = 0, scikit-learn's zero_division=np.nan.
    f1: ratio(2 * c.tp, 2 * c.tp + c.fp + c.fn),
    auc: mannWhitneyAuc(scores, labels),
  };
}

/**
 * Area under the ROC curve as the Mann-Whitney statistic: the probability that a random positive
 * scores above a random negative, ties counting one half. NaN when a class is absent.
 */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  expectScored('rocAuc', scores, labels);
  return mannWhitneyAuc(scores, labels);
}

function mannWhitneyAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const idx = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[a] - scores[b]);
  let rankSumPos = 0;
  let pos = 0;
  for (let i = 0; i < idx.length; ) {
    let j = i;
    while (j + 1 < idx.length && scores[idx[j + 1]] === scores[idx[i]]) j++;
    const avgRank = (i + j) / 2 + 1; // 1-based ranks, ties share the average
    for (let k = i; k <= j; k++) {
      if (labels[idx[k]] >= 0.5) {
        rankSumPos += avgRank;
        pos++;
      }
    }
    i = j + 1;
  }
  const neg = scores.length - pos;
  if (pos === 0 || neg === 0) return NaN;
  return (rankSumPos - (pos * (pos + 1)) / 2) / (pos * neg);
}

export type EmptyPolicy = 'one' | 'skip';
const EMPTY_POLICIES: readonly EmptyPolicy[] = ['one', 'skip'];

export interface Overlap {
  intersection: number;
  predicted: number;
  truth: number;
}

/** Overlap counts of binarised masks (prediction thresholded, truth > 0.5), values from..to. */
export function overlap(pred: ArrayLike<number>, truth: ArrayLike<number>, threshold = 0.5, from = 0, to?: number): Overlap {
  const op = 'overlap';
  expectValues(op, 'pred', pred);
  expectValues(op, 'truth', truth);
  // Past a mask's end the loop read undefined as background: masks of other lengths gave counts, silently.
  if (truth.length !== pred.length) throw new ArgumentError(`${op}: pred has ${pred.length} values but truth has ${truth.length}`);
  expectNumber(op, 'threshold', threshold);
  expectNumber(op, 'from', from, { integer: true, min: 0, max: pred.length });
  const end = to ?? pred.length;
  expectNumber(op, 'to', end, { integer: true, min: from, max: pred.length });
  return countOverlap(pred, truth, threshold, from, end);
}

function countOverlap(pred: ArrayLike<number>, truth: ArrayLike<number>, threshold: number, from: number, to: number): Overlap {
  const o = { intersection: 0, predicted: 0, truth: 0 };
  for (let i = from; i < to; i++) {
    const p = pred[i] >= threshold ? 1 : 0;
    const t = truth[i] > 0.5 ? 1 : 0;
    o.intersection += p & t;
    o.predicted += p;
    o.truth += t;
  }
  return o;
}

/**
 * Checked here, where every report's Dice passes, so that no caller can take another word
 * ('zero') for 'skip': the two policies are the only ones.
 */
/** An Overlap's three counts, whole numbers >= 0: a missing one made the ratio NaN. */
function expectOverlap(op: string, o: unknown): asserts o is Overlap {
  const counts = o as Partial<Overlap> | null;
  const ok = typeof o === 'object' && o !== null && [counts!.intersection, counts!.predicted, counts!.truth].every((c) => Number.isInteger(c) && c! >= 0);
  if (!ok) throw new ArgumentError(`${op}: o must be overlap()'s { intersection, predicted, truth } counts, got ${describeValue(o)}`);
}

export function diceOf(o: Overlap, empty: EmptyPolicy): number | null {
  expectOverlap('diceOf', o);
  expectChoice('diceOf', 'emptyPolicy', empty, EMPTY_POLICIES, false);
  const denom = o.predicted + o.truth;
  if (denom === 0) return empty === 'one' ? 1 : null;
  return (2 * o.intersection) / denom;
}

export function iouOf(o: Overlap, empty: EmptyPolicy): number | null {
  expectOverlap('iouOf', o);
  expectChoice('iouOf', 'emptyPolicy', empty, EMPTY_POLICIES, false);
  const union = o.predicted + o.truth - o.intersection;
  if (union === 0) return empty === 'one' ? 1 : null;
  return o.intersection / union;
}

export interface SegmentationReport {
  /** Mean Dice over slices, under `emptyPolicy`. */
  dicePerSlice: number;
  iouPerSlice: number;
  /** Mean over volumes of the Dice of each volume's summed overlap (Buda et al.'s figure). */
  dicePerVolume: number;
  precision: number;
  recall: number;
  emptyPolicy: EmptyPolicy;
  slices: number;
  emptySlices: number;
  /** Each slice's Dice (null where skipped), for distributions. */
  sliceDice: (number | null)[];
  /** Present when `surface` was asked for. */
  surface?: SurfaceReport;
}

export type OneEmptyPolicy = 'skip' | 'infinity';
const ONE_EMPTY_POLICIES: readonly OneEmptyPolicy[] = ['skip', 'infinity'];

export interface SurfaceOptions {
  /** Voxel spacing [dz, dy, dx] (default [1, 1, 1], pixels); slices use [dy, dx]. */
  spacing?: readonly number[];
  /** A slice's [H, W] (default: square, sqrt(sliceSize) on a side). */
  sliceShape?: readonly number[];
  /** Exactly one of truth and prediction empty: left out ('skip', default) or Infinity. */
  oneEmpty?: OneEmptyPolicy;
  /**
   * Volumes missing a slice (eval's incompleteVolumes): no 3-D distance is measured across the
   * gap. Their rows keep Dice and say `incomplete`, with no HD95 or ASSD, and the volume figures
   * and counts are over the other volumes; their slices' 2-D figures count as any slice's.
   */
  incomplete?: ReadonlySet<string>;
}

export interface SurfaceReport {
  spacing: number[];
  oneEmpty: OneEmptyPolicy;
  /** Mean and median over volumes, in spacing units. */
  hd95PerVolume: number;
  hd95PerVolumeMedian: number;
  assdPerVolume: number;
  assdPerVolumeMedian: number;
  /** Mean and median over slices where truth or prediction is non-empty. */
  hd95PerSlice: number;
  hd95PerSliceMedian: number;
  assdPerSlice: number;
  assdPerSliceMedian: number;
  /** Values behind the volume figures, and the volumes with exactly one / both masks empty. */
  volumesScored: number;
  volumesOneEmpty: number;
  volumesBothEmpty: number;
  slicesScored: number;
  slicesOneEmpty: number;
  /** Per volume, in order of first appearance; null where a policy left the value out. */
  perVolume: { volume: string; dice: number | null; hd95: number | null; assd: number | null; incomplete?: true }[];
  /** Volumes left out as incomplete (SurfaceOptions.incomplete); absent when none were given. */
  volumesIncomplete?: number;
}

export interface SegmentationOptions {
  emptyPolicy?: EmptyPolicy;
  volumes?: string[];
  threshold?: number;
  surface?: boolean | SurfaceOptions;
}

const SEGMENTATION_OPTIONS = ['emptyPolicy', 'volumes', 'threshold', 'surface'] as const;
const SURFACE_OPTIONS = ['spacing', 'sliceShape', 'oneEmpty', 'incomplete'] as const;

/**
 * No NaN among the values: a NaN is neither above nor below the threshold, so it would be read as
 * background, and a diverged model's all-NaN output would score Dice 1 on every empty slice.
 */
function expectNoNaN(op: string, role: string, values: ArrayLike<number>): void {
  for (let i = 0; i < values.length; i++) {
    if (Number.isNaN(values[i])) throw new ArgumentError(`${op}: ${role}[${i}] is NaN; a NaN is on neither side of the threshold (did the model's output diverge?)`);
  }
}

/** The number of slices, after checking that pred, truth and volumes describe the same ones. */
function sliceCount(pred: unknown, truth: unknown, sliceSize: unknown, opts: SegmentationOptions): number {
  const op = 'segmentationReport';
  expectValues(op, 'pred', pred);
  expectValues(op, 'truth', truth);
  expectNumber(op, 'sliceSize', sliceSize, { integer: true, min: 1 });
  if (truth.length !== pred.length) throw new ArgumentError(`${op}: truth has ${truth.length} values but pred has ${pred.length}`);
  if (pred.length % sliceSize) throw new ArgumentError(`${op}: ${pred.length} values are not whole slices of sliceSize ${sliceSize}`);
  const n = pred.length / sliceSize;
  expectNoNaN(op, 'pred', pred);
  expectNoNaN(op, 'truth', truth);
  expectOptions(op, opts, "{ emptyPolicy: 'one', volumes }");
  // The surface distances' own options go inside `surface`; given beside it, they are named so.
  for (const key of Object.keys(opts).filter((k) => (SURFACE_OPTIONS as readonly string[]).includes(k))) {
    throw new ArgumentError(`${op}: '${key}' is an option of the surface distances: give it as { surface: { ${key} } }`);
  }
  expectKnownOptions(op, opts, SEGMENTATION_OPTIONS);
  expectChoice(op, 'emptyPolicy', opts.emptyPolicy, EMPTY_POLICIES);
  expectOptionalNumber(op, 'threshold', opts.threshold);
  if (opts.surface !== undefined && typeof opts.surface !== 'boolean' && (typeof opts.surface !== 'object' || opts.surface === null)) {
    throw new ArgumentError(`${op}: surface must be true, false or { spacing, sliceShape, oneEmpty }, got ${describeValue(opts.surface)}`);
  }
  if (typeof opts.surface === 'object') expectKnownOptions(`${op}: surface`, opts.surface, SURFACE_OPTIONS);
  const { volumes } = opts;
  if (volumes !== undefined && (!Array.isArray(volumes) || volumes.length !== n)) {
    throw new ArgumentError(`${op}: volumes must name the volume of each of the ${n} slices, got ${describeValue(volumes)}`);
  }
  return n;
}

/**
 * pred and truth hold `n` slices of `sliceSize` values each; `volumes[i]` names the volume
 * (patient) of slice i, or is omitted to treat the set as one volume. `surface` adds HD95 and ASSD
 * (off by default: the per-epoch validation metrics need only Dice); a volume's slices are stacked
 * in the order they come, so give them in slice order, as the unshuffled evaluation set has them.
 */
export function segmentationReport(
  pred: ArrayLike<number>,
  truth: ArrayLike<number>,
  sliceSize: number,
  opts: SegmentationOptions = {},
): SegmentationReport {
  const n = sliceCount(pred, truth, sliceSize, opts);
  const empty = opts.emptyPolicy ?? 'one';
  const sliceDice: (number | null)[] = [];
  const ious: number[] = [];
  const perVolume = new Map<string, Overlap>();
  const volumeSlices = new Map<string, number[]>();
  const total: Overlap = { intersection: 0, predicted: 0, truth: 0 };
  let emptySlices = 0;
  for (let s = 0; s < n; s++) {
    const o = countOverlap(pred, truth, opts.threshold ?? 0.5, s * sliceSize, (s + 1) * sliceSize);
    if (o.predicted + o.truth === 0) emptySlices++;
    sliceDice.push(diceOf(o, empty));
    const iou = iouOf(o, empty);
    if (iou !== null) ious.push(iou);
    const key = opts.volumes?.[s] ?? 'all';
    const v = perVolume.get(key) ?? { intersection: 0, predicted: 0, truth: 0 };
    v.intersection += o.intersection;
    v.predicted += o.predicted;
    v.truth += o.truth;
    perVolume.set(key, v);
    if (!volumeSlices.has(key)) volumeSlices.set(key, []);
    volumeSlices.get(key)!.push(s);
    total.intersection += o.intersection;
    total.predicted += o.predicted;
    total.truth += o.truth;
  }
  const volumeDice = [...perVolume.values()].map((o) => diceOf(o, empty)).filter((d): d is number => d !== null);
  const report: SegmentationReport = {
    dicePerSlice: meanOf(sliceDice.filter((d): d is number => d !== null)),
    iouPerSlice: meanOf(ious),
    dicePerVolume: meanOf(volumeDice),
    precision: ratio(total.intersection, total.predicted),
    recall: ratio(total.intersection, total.truth),
    emptyPolicy: empty,
    slices: n,
    emptySlices,
    sliceDice,
  };
  if (opts.surface) {
    const masks = { pred, truth, sliceSize, threshold: opts.threshold ?? 0.5 };
    report.surface = surfaceReport(masks, volumeSlices, perVolume, empty, opts.surface === true ? {} : opts.surface);
  }
  return report;
}

/** The arithmetic mean; NaN for none. */
export const meanOf = (xs: readonly number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);

/**
 * The middle value, or the mean of the two middle values of an even count (numpy.median); NaN for
 * none. The one median of the metrics, eval's figures and the HTML report; `xs` is left as it is.
 */
export function medianOf(xs: readonly number[]): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function sliceShapeOf(sliceSize: number, shape: readonly number[] | undefined): [number, number] {
  if (shape) {
    if (shape.length !== 2 || shape[0] * shape[1] !== sliceSize) {
      throw new ShapeError(`segmentationReport: sliceShape [${shape.join(', ')}] does not hold ${sliceSize} values per slice`);
    }
    return [shape[0], shape[1]];
  }
  const side = Math.round(Math.sqrt(sliceSize));
  if (side * side !== sliceSize) throw new ShapeError(`segmentationReport: slices of ${sliceSize} values are not square; give surface.sliceShape [H, W]`);
  return [side, side];
}

/** The scored value of one comparison under the policies, or null when left out. */
function scored(r: SurfaceDistance, bothEmptyZero: boolean, oneEmpty: OneEmptyPolicy): SurfaceDistance | null {
  if (r.empty === 'both') return bothEmptyZero ? { ...r, hd95: 0, assd: 0, hd: 0 } : null;
  if (r.empty === 'one') return oneEmpty === 'infinity' ? r : null;
  return r;
}

interface Masks {
  pred: ArrayLike<number>;
  truth: ArrayLike<number>;
  sliceSize: number;
  threshold: number;
}

function surfaceReport(m: Masks, volumeSlices: Map<string, number[]>, perVolume: Map<string, Overlap>, empty: EmptyPolicy, o: SurfaceOptions): SurfaceReport {
  const { pred, truth, sliceSize, threshold } = m;
  const [h, w] = sliceShapeOf(sliceSize, o.sliceShape);
  const spacing = [...(o.spacing ?? [1, 1, 1])];
  if (spacing.length !== 3) throw new ArgumentError(`segmentationReport: surface.spacing must be [dz, dy, dx], got [${spacing.join(', ')}]`);
  expectChoice('segmentationReport', 'surface.oneEmpty', o.oneEmpty, ONE_EMPTY_POLICIES);
  const oneEmpty = o.oneEmpty ?? 'skip';
  // Binarised as overlap() does: the prediction at the threshold, the truth above 0.5.
  const p = new Uint8Array(pred.length);
  const t = new Uint8Array(truth.length);
  for (let i = 0; i < p.length; i++) {
    p[i] = pred[i] >= threshold ? 1 : 0;
    t[i] = truth[i] > 0.5 ? 1 : 0;
  }
  const vol = { hd95: [] as number[], assd: [] as number[], oneEmpty: 0, bothEmpty: 0 };
  const sl = { hd95: [] as number[], assd: [] as number[], oneEmpty: 0 };
  const rows: SurfaceReport['perVolume'] = [];
  for (const [volume, slices] of volumeSlices) {
    const vp = new Uint8Array(slices.length * sliceSize);
    const vt = new Uint8Array(slices.length * sliceSize);
    slices.forEach((s, k) => {
      const [sp, st] = [p.subarray(s * sliceSize, (s + 1) * sliceSize), t.subarray(s * sliceSize, (s + 1) * sliceSize)];
      vp.set(sp, k * sliceSize);
      vt.set(st, k * sliceSize);
      const r = surfaceDistance(sp, st, [h, w], spacing.slice(1));
      if (r.empty === 'one') sl.oneEmpty++;
      const v = scored(r, false, oneEmpty);
      if (v) {
        sl.hd95.push(v.hd95);
        sl.assd.push(v.assd);
      }
    });
    if (o.incomplete?.has(volume)) {
      rows.push({ volume, dice: diceOf(perVolume.get(volume)!, empty), hd95: null, assd: null, incomplete: true });
      continue;
    }
    const r = surfaceDistance(vp, vt, [slices.length, h, w], spacing);
    if (r.empty === 'one') vol.oneEmpty++;
    if (r.empty === 'both') vol.bothEmpty++;
    const v = scored(r, empty === 'one', oneEmpty);
    if (v) {
      vol.hd95.push(v.hd95);
      vol.assd.push(v.assd);
    }
    rows.push({ volume, dice: diceOf(perVolume.get(volume)!, empty), hd95: v?.hd95 ?? null, assd: v?.assd ?? null });
  }
  return {
    spacing,
    oneEmpty,
    hd95PerVolume: meanOf(vol.hd95),
    hd95PerVolumeMedian: medianOf(vol.hd95),
    assdPerVolume: meanOf(vol.assd),
    assdPerVolumeMedian: medianOf(vol.assd),
    hd95PerSlice: meanOf(sl.hd95),
    hd95PerSliceMedian: medianOf(sl.hd95),
    assdPerSlice: meanOf(sl.assd),
    assdPerSliceMedian: medianOf(sl.assd),
    volumesScored: vol.hd95.length,
    volumesOneEmpty: vol.oneEmpty,
    volumesBothEmpty: vol.bothEmpty,
    slicesScored: sl.hd95.length,
    slicesOneEmpty: sl.oneEmpty,
    perVolume: rows,
    ...(o.incomplete ? { volumesIncomplete: rows.filter((r) => r.incomplete).length } : {}),
  };
}
