// Evaluation metrics, computed on the host over a whole validation or test set (ROC AUC needs
// every score at once). Binary classification from probabilities with a threshold; segmentation
// overlap per slice and per volume (patient).
//
// Empty slices: when both the true mask and the prediction are empty, Dice and IoU are 0/0. The
// policy is explicit: 'one' counts such a slice as a perfect 1 (what most Kaggle notebooks do,
// implicitly, through a smoothing term), 'skip' leaves it out of the mean.

export interface Confusion {
  tp: number;
  fp: number;
  tn: number;
  fn: number;
}

export function confusion(scores: ArrayLike<number>, labels: ArrayLike<number>, threshold = 0.5): Confusion {
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

export function binaryReport(scores: ArrayLike<number>, labels: ArrayLike<number>, threshold = 0.5): BinaryReport {
  const c = confusion(scores, labels, threshold);
  const precision = ratio(c.tp, c.tp + c.fp);
  const recall = ratio(c.tp, c.tp + c.fn);
  return {
    ...c,
    accuracy: ratio(c.tp + c.tn, c.tp + c.tn + c.fp + c.fn),
    precision,
    recall,
    specificity: ratio(c.tn, c.tn + c.fp),
    f1: ratio(2 * precision * recall, precision + recall),
    auc: rocAuc(scores, labels),
  };
}

/**
 * Area under the ROC curve as the Mann-Whitney statistic: the probability that a random positive
 * scores above a random negative, ties counting one half. NaN when a class is absent.
 */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
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

export interface Overlap {
  intersection: number;
  predicted: number;
  truth: number;
}

/** Overlap counts of binarised masks (prediction thresholded, truth > 0.5). */
export function overlap(pred: ArrayLike<number>, truth: ArrayLike<number>, threshold = 0.5, from = 0, to = pred.length): Overlap {
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

export function diceOf(o: Overlap, empty: EmptyPolicy): number | null {
  const denom = o.predicted + o.truth;
  if (denom === 0) return empty === 'one' ? 1 : null;
  return (2 * o.intersection) / denom;
}

export function iouOf(o: Overlap, empty: EmptyPolicy): number | null {
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
}

/**
 * pred and truth hold `n` slices of `sliceSize` values each; `volumes[i]` names the volume
 * (patient) of slice i, or is omitted to treat the set as one volume.
 */
export function segmentationReport(
  pred: ArrayLike<number>,
  truth: ArrayLike<number>,
  sliceSize: number,
  opts: { emptyPolicy?: EmptyPolicy; volumes?: string[]; threshold?: number } = {},
): SegmentationReport {
  const empty = opts.emptyPolicy ?? 'one';
  const n = Math.round(pred.length / sliceSize);
  const sliceDice: (number | null)[] = [];
  const ious: number[] = [];
  const perVolume = new Map<string, Overlap>();
  const total: Overlap = { intersection: 0, predicted: 0, truth: 0 };
  let emptySlices = 0;
  for (let s = 0; s < n; s++) {
    const o = overlap(pred, truth, opts.threshold ?? 0.5, s * sliceSize, (s + 1) * sliceSize);
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
    total.intersection += o.intersection;
    total.predicted += o.predicted;
    total.truth += o.truth;
  }
  const mean = (xs: number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
  const volumeDice = [...perVolume.values()].map((o) => diceOf(o, empty)).filter((d): d is number => d !== null);
  return {
    dicePerSlice: mean(sliceDice.filter((d): d is number => d !== null)),
    iouPerSlice: mean(ious),
    dicePerVolume: mean(volumeDice),
    precision: ratio(total.intersection, total.predicted),
    recall: ratio(total.intersection, total.truth),
    emptyPolicy: empty,
    slices: n,
    emptySlices,
    sliceDice,
  };
}
