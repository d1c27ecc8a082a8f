// Hand-worked cases of the evaluation metrics against the reference libraries' definitions, so that
// a number dawnet reports can be put beside scikit-learn's, MedPy's or MONAI's: ROC AUC with ties
// (roc_auc_score), F1 (f1_score: 2TP / (2TP + FP + FN)), the confusion matrix's orientation, the
// segmentation threshold at exactly 0.5 (MONAI's AsDiscrete: p >= threshold), the empty-slice
// policy for each way a slice can be empty, the volume a patient's slices stack into, and the
// surface distances' boundary, border and spacing conventions (MedPy's hd95).
import { describe, expect, it } from 'vitest';
import { ArgumentError } from '../../src/errors.js';
import { binaryReport, confusion, rocAuc, segmentationReport } from '../../src/train/metrics.js';
import { multiClassReport } from '../../src/train/multiclass-metrics.js';
import { surfaceDistance } from '../../src/train/surface-distance.js';

describe('ROC AUC as scikit-learn computes it', () => {
  const CASES = [
    // [what, scores, labels, AUC worked by hand]
    ["scikit-learn's own example", [0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1], 0.75],
    // pairs (pos, neg): 0.5 > 0.1, 0.5 = 0.5 (one half), 0.9 > both: 3.5 / 4; the trapezoid of the
    // ROC curve (0,0) (0,.5) (.5,1) (1,1) gives the same 0.875
    ['a tie across the classes counts one half', [0.1, 0.5, 0.5, 0.9], [0, 0, 1, 1], 0.875],
    ['every score tied', [0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1], 0.5],
    ['two tied pairs', [0.2, 0.2, 0.8, 0.8], [0, 1, 0, 1], 0.5],
    ['perfectly reversed', [0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1], 0],
  ] as const;
  for (const [what, scores, labels, want] of CASES) {
    it(`${what}: ${want}`, () => {
      expect(rocAuc(scores, labels)).toBeCloseTo(want, 12);
      expect(rocAuc(Float32Array.from(scores), Float32Array.from(labels))).toBeCloseTo(want, 12);
      expect(binaryReport(scores, labels).auc).toBeCloseTo(want, 12);
    });
  }

  it('one class only: NaN, as recent scikit-learn returns with an UndefinedMetricWarning (older versions raise)', () => {
    expect(rocAuc([0.2, 0.9, 0.4], [1, 1, 1])).toBeNaN();
    expect(rocAuc([0.2, 0.9, 0.4], [0, 0, 0])).toBeNaN();
    expect(binaryReport([0.2, 0.9], [0, 0]).auc).toBeNaN();
  });
});

describe('threshold metrics and the confusion matrix', () => {
  it('a score of exactly the threshold is positive; the label a 0/1 (>= 0.5) class', () => {
    expect(confusion([0.5, 0.49999], [1, 1])).toEqual({ tp: 1, fp: 0, tn: 0, fn: 1 });
    // Orientation: a predicted positive whose label is negative is a false positive.
    expect(confusion([0.9, 0.1], [0, 1])).toEqual({ tp: 0, fp: 1, tn: 0, fn: 1 });
  });

  it('F1 is 2TP / (2TP + FP + FN) (scikit-learn\'s f1_score): 0, not NaN, when there is no true positive', () => {
    // tp 0, fp 1, fn 1: precision 0 and recall 0, whose harmonic mean is 0/0, but F1 is 0 / 2.
    const missed = binaryReport([0.9, 0.1], [0, 1]);
    expect([missed.precision, missed.recall, missed.f1]).toEqual([0, 0, 0]);
    // Nothing predicted positive: precision is undefined (NaN), F1 is still 0 / 2.
    const silent = binaryReport([0.1, 0.2], [1, 1]);
    expect(silent.precision).toBeNaN();
    expect([silent.recall, silent.f1]).toEqual([0, 0]);
    // tp 2, fp 1, fn 1: 4 / 6.
    expect(binaryReport([0.9, 0.6, 0.2, 0.4, 0.7, 0.1], [1, 0, 0, 1, 1, 0]).f1).toBeCloseTo(4 / 6, 12);
    // No positive anywhere (TP + FP + FN = 0): undefined, NaN (scikit-learn's zero_division=np.nan).
    expect(binaryReport([0.1, 0.2], [0, 0]).f1).toBeNaN();
  });

  it('accuracy, sensitivity, specificity and precision on the same counts', () => {
    // tp 3, fp 1, tn 4, fn 2
    const r = binaryReport([0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1, 0.05, 0.3], [1, 1, 1, 0, 1, 1, 0, 0, 0, 0]);
    expect([r.tp, r.fp, r.tn, r.fn]).toEqual([3, 1, 4, 2]);
    expect([r.accuracy, r.recall, r.specificity, r.precision]).toEqual([0.7, 0.6, 0.8, 0.75]);
  });
});

describe('segmentation overlap', () => {
  it('a probability of exactly 0.5 is foreground (MONAI AsDiscrete: p >= threshold)', () => {
    const r = segmentationReport([0.5, 0.49999, 0, 0], [1, 1, 0, 0], 4);
    expect(r.sliceDice).toEqual([2 / 3]);
    expect(segmentationReport([0.5, 0.7, 0, 0], [1, 1, 0, 0], 4, { threshold: 0.6 }).sliceDice).toEqual([2 / 3]);
  });

  it('the empty-slice policy covers only both empty: a prediction on an empty truth, or a missed lesion, is 0', () => {
    // slices: both empty; prediction only; truth only
    const pred = [0, 0, /**/ 0.9, 0, /**/ 0, 0];
    const truth = [0, 0, /**/ 0, 0, /**/ 1, 0];
    const one = segmentationReport(pred, truth, 2, { emptyPolicy: 'one' });
    expect(one.sliceDice).toEqual([1, 0, 0]);
    expect([one.dicePerSlice, one.iouPerSlice, one.emptySlices]).toEqual([1 / 3, 1 / 3, 1]);
    const skip = segmentationReport(pred, truth, 2, { emptyPolicy: 'skip' });
    expect(skip.sliceDice).toEqual([null, 0, 0]);
    expect([skip.dicePerSlice, skip.iouPerSlice, skip.emptySlices]).toEqual([0, 0, 1]);
    // Precision and recall pool every pixel of the set: 0 of 1 predicted, 0 of 1 true.
    expect([one.precision, one.recall]).toEqual([0, 0]);
  });

  it('per volume: each volume\'s summed overlap, the volumes averaged with equal weight', () => {
    // Volume a: a 1-pixel hit and a 3-pixel lesion missed (Dice 2 / 5); volume b: a perfect slice.
    const pred = [1, 0, 0, 0, /**/ 0, 0, 0, 0, /**/ 1, 1, 0, 0];
    const truth = [1, 0, 0, 0, /**/ 1, 1, 1, 0, /**/ 1, 1, 0, 0];
    const r = segmentationReport(pred, truth, 4, { volumes: ['a', 'a', 'b'] });
    expect(r.dicePerVolume).toBeCloseTo((2 / 5 + 1) / 2, 12);
    // Per slice: 1, 0, 1
    expect(r.dicePerSlice).toBeCloseTo(2 / 3, 12);
  });

  it('a NaN prediction is refused, not read as background (a diverged model scored Dice 1 on every empty slice)', () => {
    expect(() => segmentationReport([0.9, NaN, 0, 0], [1, 1, 0, 0], 4)).toThrow(ArgumentError);
    expect(() => segmentationReport([0.9, NaN, 0, 0], [1, 1, 0, 0], 4)).toThrow(/^segmentationReport: pred\[1\] is NaN/);
  });

  it("a volume's slices stack in the order they come, whatever lies between them", () => {
    // Volume a is slices 0 and 2; truth in the first, the same pixel predicted in the second: one
    // slice apart in a's stack (dz = 3), though two apart in the set.
    const px = (on: boolean) => [on ? 1 : 0, 0, 0, 0];
    const truth = [...px(true), ...px(false), ...px(false)];
    const pred = [...px(false), ...px(false), ...px(true)];
    const s = segmentationReport(pred, truth, 4, { volumes: ['a', 'b', 'a'], surface: { spacing: [3, 1, 1] } }).surface!;
    expect(s.perVolume.find((v) => v.volume === 'a')).toMatchObject({ hd95: 3, assd: 3 });
  });
});

describe('surface distances: boundary, border and spacing (MedPy)', () => {
  it('single voxels with anisotropic spacing [dz, dy, dx]: the Euclidean distance in spacing units', () => {
    const a = new Uint8Array(2 * 3 * 3);
    const b = new Uint8Array(2 * 3 * 3);
    a[0] = 1; // (z 0, y 0, x 0)
    b[9 + 6] = 1; // (z 1, y 2, x 0): 3 apart along z, 2 * 2 along y
    const r = surfaceDistance(a, b, [2, 3, 3], [3, 2, 1]);
    expect([r.hd95, r.assd, r.hd, r.boundaryA, r.boundaryB]).toEqual([5, 5, 5, 1, 1]);
  });

  it('an object filling the image: its edge voxels are boundary, the outside counting as background', () => {
    // Truth fills a 4x4 image (12 ring voxels on its boundary), prediction is its inner 2x2 (all boundary).
    const truth = new Uint8Array(16).fill(1);
    const pred = Uint8Array.from({ length: 16 }, (_, i) => (i >> 2 >= 1 && i >> 2 <= 2 && (i & 3) >= 1 && (i & 3) <= 2 ? 1 : 0));
    const r = surfaceDistance(pred, truth, [4, 4]);
    expect([r.boundaryA, r.boundaryB]).toEqual([4, 12]);
    // pred -> truth: 4 x 1; truth -> pred: 8 edge voxels at 1, 4 corners at sqrt 2. Sorted union of
    // 16: position 15 * 0.95 = 14.25 lies between two sqrt 2.
    expect(r.hd95).toBeCloseTo(Math.SQRT2, 12);
    expect(r.assd).toBeCloseTo((12 + 4 * Math.SQRT2) / 16, 12);
  });

  it('HD95 pools both directed sets (MedPy), not the larger directed 95th percentile (MONAI)', () => {
    // A = {0}, B = {0, 3} on one row: directed sets [0] and [0, 3]. MedPy: percentile([0, 0, 3], 95)
    // = 2.7; MONAI's max(percentile([0], 95), percentile([0, 3], 95)) would be 2.85. ASSD pools them
    // too (MONAI's symmetric mean, 1); MedPy's assd, the mean of the two directed means, would be 0.75.
    const r = surfaceDistance([1, 0, 0, 0], [1, 0, 0, 1], [1, 4]);
    expect(r.hd95).toBeCloseTo(2.7, 12);
    expect(r.assd).toBeCloseTo(1, 12);
  });
});

describe('multi-class metrics', () => {
  it('a NaN score is refused: it has no argmax (it read as the first class)', () => {
    expect(() => multiClassReport([0.2, 0.8, NaN, 0.5], [1, 0], 2)).toThrow(ArgumentError);
    expect(() => multiClassReport([0.2, 0.8, NaN, 0.5], [1, 0], 2)).toThrow(/^multiClassReport: scores\[2\] is NaN/);
  });

  it('an absent class: counted 1 under "one", left out of the mean under "skip", with or without the background', () => {
    // Two pixels of classes 0 and 1, both right; class 2 absent from truth and prediction.
    const scores = [0.9, 0.05, 0.05, /**/ 0.1, 0.8, 0.1];
    expect(multiClassReport(scores, [0, 1], 3, { ignoreBackground: true }).meanDice).toBe(1);
    const skip = multiClassReport(scores, [0, 1], 3, { emptyPolicy: 'skip', ignoreBackground: true });
    expect([skip.dice, skip.meanDice]).toEqual([[1, 1, null], 1]);
    // A class predicted but absent from the truth scores 0 under either policy.
    const wrong = multiClassReport([0.1, 0.1, 0.8, /**/ 0.1, 0.8, 0.1], [0, 1], 3, { emptyPolicy: 'skip' });
    expect(wrong.dice).toEqual([0, 1, 0]);
    expect(wrong.confusion).toEqual([[0, 0, 1], [0, 1, 0], [0, 0, 0]]);
  });
});
