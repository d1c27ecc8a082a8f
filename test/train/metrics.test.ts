import { describe, expect, it } from 'vitest';
import { binaryReport, rocAuc, segmentationReport } from '../../src/train/metrics.js';

describe('classification metrics', () => {
  it('confusion-based metrics on a hand-counted example', () => {
    // threshold 0.5: predictions 1,1,0,0,1,0 vs labels 1,0,0,1,1,0 -> tp 2, fp 1, tn 2, fn 1
    const r = binaryReport([0.9, 0.6, 0.2, 0.4, 0.7, 0.1], [1, 0, 0, 1, 1, 0]);
    expect([r.tp, r.fp, r.tn, r.fn]).toEqual([2, 1, 2, 1]);
    expect(r.accuracy).toBeCloseTo(4 / 6, 12);
    expect(r.precision).toBeCloseTo(2 / 3, 12);
    expect(r.recall).toBeCloseTo(2 / 3, 12);
    expect(r.specificity).toBeCloseTo(2 / 3, 12);
  });

  it('ROC AUC equals the fraction of correctly ordered positive/negative pairs, ties counting half', () => {
    const scores = [0.1, 0.4, 0.35, 0.8, 0.4];
    const labels = [0, 0, 1, 1, 1];
    // pairs (pos, neg): 0.35>0.1 yes, 0.35>0.4 no, 0.8>both yes yes, 0.4>0.1 yes, 0.4=0.4 half -> 4.5/6
    expect(rocAuc(scores, labels)).toBeCloseTo(4.5 / 6, 12);
    expect(rocAuc([0.2, 0.3], [1, 1])).toBeNaN();
  });
});

describe('segmentation metrics', () => {
  // three 2x2 slices: a partial hit, an empty slice predicted empty, a miss
  const truth = [1, 1, 0, 0, /**/ 0, 0, 0, 0, /**/ 1, 0, 0, 0];
  const pred = [0.9, 0.1, 0.8, 0.2, /**/ 0.1, 0, 0, 0, /**/ 0, 0, 0, 0.7];

  it('per-slice Dice with empty slices counted as 1', () => {
    const r = segmentationReport(pred, truth, 4, { emptyPolicy: 'one' });
    // slice Dice: 2*1/(2+2) = 0.5, empty -> 1, 0/(1+1) = 0
    expect(r.sliceDice).toEqual([0.5, 1, 0]);
    expect(r.dicePerSlice).toBeCloseTo(0.5, 12);
    expect(r.emptySlices).toBe(1);
    // IoU: 1/3, 1, 0
    expect(r.iouPerSlice).toBeCloseTo((1 / 3 + 1) / 3, 12);
  });

  it('per-slice Dice with empty slices skipped, and per-volume Dice', () => {
    const r = segmentationReport(pred, truth, 4, { emptyPolicy: 'skip', volumes: ['p1', 'p1', 'p2'] });
    expect(r.sliceDice).toEqual([0.5, null, 0]);
    expect(r.dicePerSlice).toBeCloseTo(0.25, 12);
    // p1 sums to inter 1, pred 2, truth 2 -> 0.5; p2 -> 0; mean 0.25
    expect(r.dicePerVolume).toBeCloseTo(0.25, 12);
    expect(r.precision).toBeCloseTo(1 / 3, 12);
    expect(r.recall).toBeCloseTo(1 / 3, 12);
  });
});
