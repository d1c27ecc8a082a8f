// Multi-class segmentation (or classification) metrics on the host, over a whole set: each
// pixel's predicted class is the argmax of its C scores (softmax probabilities or logits), its
// true class the argmax of a one-hot (or soft) target, or a class id. Per class, Dice and IoU of
// the set's summed overlap; a class absent from both prediction and truth is 0/0, settled by the
// same explicit policy as the binary metrics ('one' counts it perfect, 'skip' leaves it out, as
// nnU-Net's NaN and nanmean). The overlap is pooled over everything passed in: nnU-Net and MONAI's
// DiceMetric score each case and average the cases, which is this report called once per case.
// The confusion matrix is scikit-learn's orientation: rows the true class, columns the predicted.

import { ArgumentError, ShapeError } from '../errors.js';
import { expectChoice, expectHostArray, expectKnownOptions, expectNumber, expectOptionalBoolean, expectOptions } from '../graph/args.js';
import { diceOf, iouOf, type EmptyPolicy, type Overlap } from './metrics.js';

export interface MultiClassReport {
  /** Per class c: Dice and IoU (null where skipped), and how many pixels are truly c. */
  dice: (number | null)[];
  iou: (number | null)[];
  support: number[];
  /** Mean over the classes counted (all, or all but class 0 with ignoreBackground). */
  meanDice: number;
  meanIou: number;
  /** Fraction of pixels whose class is right. */
  accuracy: number;
  /** confusion[t][p]: pixels of true class t predicted as p. */
  confusion: number[][];
  emptyPolicy: EmptyPolicy;
}

export interface MultiClassOptions {
  emptyPolicy?: EmptyPolicy;
  /** Leave class 0 (background) out of the means, as MONAI's include_background=False. */
  ignoreBackground?: boolean;
}

/** Index of the largest of `c` values from `at` (the first on ties). */
function argmax(v: ArrayLike<number>, at: number, c: number): number {
  let best = 0;
  for (let k = 1; k < c; k++) if (v[at + k] > v[at + best]) best = k;
  return best;
}

/**
 * scores: pixels × classes values (NHWC's channels last); target: the same layout one-hot or soft,
 * or one class id per pixel (pixels values).
 */
export function multiClassReport(scores: ArrayLike<number>, target: ArrayLike<number>, classes: number, opts: MultiClassOptions = {}): MultiClassReport {
  const op = 'multiClassReport';
  expectHostArray(op, 'scores', scores);
  expectHostArray(op, 'target', target);
  expectNumber(op, 'classes', classes, { integer: true, min: 2 });
  expectOptions(op, opts, "{ emptyPolicy: 'skip', ignoreBackground: true }");
  expectKnownOptions(op, opts, ['emptyPolicy', 'ignoreBackground'], {});
  expectChoice(op, 'emptyPolicy', opts.emptyPolicy, ['one', 'skip']);
  expectOptionalBoolean(op, 'ignoreBackground', opts.ignoreBackground);
  if (scores.length % classes) throw new ShapeError(`multiClassReport: ${scores.length} scores are not pixels of ${classes} classes`);
  const pixels = scores.length / classes;
  const ids = target.length === pixels;
  if (!ids && target.length !== scores.length) {
    throw new ShapeError(`multiClassReport: target has ${target.length} values; expected ${scores.length} (one-hot) or ${pixels} (class ids)`);
  }
  // A NaN is never larger than another score, so argmax would hand its pixel to the first class.
  for (const [role, values] of [['scores', scores], ['target', target]] as const) {
    for (let i = 0; i < values.length; i++) {
      if (Number.isNaN(values[i])) throw new ArgumentError(`multiClassReport: ${role}[${i}] is NaN; a NaN has no argmax (did the model's output diverge?)`);
    }
  }
  const confusion = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  for (let i = 0; i < pixels; i++) {
    const t = ids ? Math.round(target[i]) : argmax(target, i * classes, classes);
    if (!(t >= 0 && t < classes)) throw new ShapeError(`multiClassReport: class id ${target[i]} at pixel ${i} is outside [0, ${classes})`);
    confusion[t][argmax(scores, i * classes, classes)]++;
  }
  const empty = opts.emptyPolicy ?? 'one';
  const overlaps: Overlap[] = confusion.map((row, c) => ({
    intersection: row[c],
    truth: row.reduce((a, b) => a + b, 0),
    predicted: confusion.reduce((a, r) => a + r[c], 0),
  }));
  const dice = overlaps.map((o) => diceOf(o, empty));
  const iou = overlaps.map((o) => iouOf(o, empty));
  const counted = (xs: (number | null)[]) => xs.filter((x, c): x is number => x !== null && !(opts.ignoreBackground && c === 0));
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
  return {
    dice,
    iou,
    support: overlaps.map((o) => o.truth),
    meanDice: mean(counted(dice)),
    meanIou: mean(counted(iou)),
    accuracy: pixels ? confusion.reduce((a, row, c) => a + row[c], 0) / pixels : NaN,
    confusion,
    emptyPolicy: empty,
  };
}
