import { describe, expect, it } from 'vitest';
import { ArgumentError, ShapeError } from '../../src/errors.js';
import { binaryReport, confusion, diceOf, iouOf, rocAuc, segmentationReport } from '../../src/train/metrics.js';
import { multiClassReport } from '../../src/train/multiclass-metrics.js';

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

describe('segmentation surface distances', () => {
  /** A 6x6 slice with the 2x2 square whose top-left corner is (y, x); null gives an empty slice. */
  const slice = (at: [number, number] | null) =>
    Array.from({ length: 36 }, (_, i) => {
      if (!at) return 0;
      const [dy, dx] = [Math.floor(i / 6) - at[0], (i % 6) - at[1]];
      return dy >= 0 && dy < 2 && dx >= 0 && dx < 2 ? 1 : 0;
    });
  // v1: a square and the prediction one pixel right, then an empty slice; v2: a missed lesion;
  // v3: the prediction two pixels right; v4: nothing anywhere. Every voxel of a 2x2 square is on
  // its boundary, so offset 1 gives distances {0 x4, 1 x4} (HD95 1, ASSD 0.5), offset 2 gives
  // {1 x4, 2 x4} (HD95 2, ASSD 1.5), in 2-D and in 3-D alike.
  const truth = [[1, 1], null, [2, 2], [1, 1], null].flatMap((a) => slice(a as [number, number] | null));
  const pred = [[1, 2], null, null, [1, 3], null].flatMap((a) => slice(a as [number, number] | null));
  const volumes = ['v1', 'v1', 'v2', 'v3', 'v4'];

  it('is absent unless asked for', () => {
    expect(segmentationReport(pred, truth, 36, { volumes })).not.toHaveProperty('surface');
  });

  it("empty policy 'one', one-empty 'skip': a missed lesion is counted and left out, an empty volume scores 0", () => {
    const s = segmentationReport(pred, truth, 36, { volumes, emptyPolicy: 'one', surface: true }).surface!;
    expect(s.perVolume).toEqual([
      { volume: 'v1', dice: 0.5, hd95: 1, assd: 0.5 },
      { volume: 'v2', dice: 0, hd95: null, assd: null },
      { volume: 'v3', dice: 0, hd95: 2, assd: 1.5 },
      { volume: 'v4', dice: 1, hd95: 0, assd: 0 },
    ]);
    expect([s.hd95PerVolume, s.hd95PerVolumeMedian, s.assdPerVolume, s.assdPerVolumeMedian]).toEqual([1, 1, 2 / 3, 0.5]);
    expect([s.volumesScored, s.volumesOneEmpty, s.volumesBothEmpty]).toEqual([3, 1, 1]);
    // Slices: the two lesion slices; the missed one is counted, the empty ones never enter.
    expect([s.hd95PerSlice, s.hd95PerSliceMedian, s.assdPerSlice, s.assdPerSliceMedian]).toEqual([1.5, 1.5, 1, 1]);
    expect([s.slicesScored, s.slicesOneEmpty]).toEqual([2, 1]);
    expect([s.spacing, s.oneEmpty]).toEqual([[1, 1, 1], 'skip']);
  });

  it("empty policy 'skip', one-empty 'infinity': the mean goes to Infinity, the median stays finite", () => {
    const s = segmentationReport(pred, truth, 36, { volumes, emptyPolicy: 'skip', surface: { oneEmpty: 'infinity' } }).surface!;
    expect(s.perVolume.map((v) => v.hd95)).toEqual([1, Infinity, 2, null]);
    expect([s.hd95PerVolume, s.hd95PerVolumeMedian, s.assdPerVolumeMedian]).toEqual([Infinity, 2, 1.5]);
    expect([s.volumesScored, s.volumesOneEmpty, s.volumesBothEmpty]).toEqual([3, 1, 1]);
    expect([s.hd95PerSliceMedian, s.slicesScored, s.slicesOneEmpty]).toEqual([2, 3, 1]);
  });

  it('spacing [dz, dy, dx] scales each axis: slices use [dy, dx], volumes also dz', () => {
    // a: one pixel right (dx); b: one pixel down (dy); c: the same square one slice later (dz).
    const t = [[1, 1], [1, 1], [1, 1], null].flatMap((a) => slice(a as [number, number] | null));
    const p = [[1, 2], [2, 1], null, [1, 1]].flatMap((a) => slice(a as [number, number] | null));
    const s = segmentationReport(p, t, 36, { volumes: ['a', 'b', 'c', 'c'], surface: { spacing: [5, 3, 2] } }).surface!;
    expect(s.perVolume.map((v) => v.hd95)).toEqual([2, 3, 5]);
    expect(s.perVolume.map((v) => v.assd)).toEqual([1, 1.5, 5]);
    expect([s.hd95PerSlice, s.slicesScored, s.slicesOneEmpty]).toEqual([2.5, 2, 2]);
  });

  it('rejects an unknown one-empty policy and a spacing that is not [dz, dy, dx]', () => {
    expect(() => segmentationReport(pred, truth, 36, { surface: { oneEmpty: 'zero' as 'skip' } })).toThrow(ArgumentError);
    expect(() => segmentationReport(pred, truth, 36, { surface: { spacing: [1, 1] } })).toThrow(ArgumentError);
  });

  it('non-square slices need their shape', () => {
    const m = [0, 1, 1, 0, 1, 1];
    expect(() => segmentationReport(m, m, 6, { surface: true })).toThrow(ShapeError);
    expect(segmentationReport(m, m, 6, { surface: { sliceShape: [2, 3] } }).surface!.hd95PerVolume).toBe(0);
  });
});

describe('metric input checks', () => {
  const truth = [1, 1, 0, 0, /**/ 0, 0, 0, 0, /**/ 1, 0, 0, 0];
  const pred = [0.9, 0.1, 0.8, 0.2, /**/ 0.1, 0, 0, 0, /**/ 0, 0, 0, 0.7];
  // [what the caller wrote, the call, the message's start]
  const REFUSED: [string, () => unknown, string][] = [
    ['segmentationReport with sliceSize 0 (looped forever)', () => segmentationReport(pred, truth, 0), 'segmentationReport: sliceSize must be an integer >= 1'],
    ['segmentationReport with a fractional sliceSize', () => segmentationReport(pred, truth, 2.5), 'segmentationReport: sliceSize'],
    ['segmentationReport with a shorter truth (read as background)', () => segmentationReport(pred, truth.slice(0, 8), 4), 'segmentationReport: truth has 8 values but pred has 12'],
    ['segmentationReport with part of a slice (rounded)', () => segmentationReport(pred, truth, 5), 'segmentationReport: 12 values are not whole slices of sliceSize 5'],
    ["segmentationReport with fewer volumes than slices (the rest lumped into 'all')", () => segmentationReport(pred, truth, 4, { volumes: ['p1', 'p1'] }), 'segmentationReport: volumes must name the volume of each of the 3 slices'],
    ['segmentationReport with a string for volumes', () => segmentationReport(pred, truth, 4, { volumes: 'p1' as never }), 'segmentationReport: volumes'],
    ["segmentationReport with emptyPolicy 'zero' (acted as 'skip')", () => segmentationReport(pred, truth, 4, { emptyPolicy: 'zero' as never }), "segmentationReport: emptyPolicy must be 'one' or 'skip'"],
    ['segmentationReport with a snake_case option', () => segmentationReport(pred, truth, 4, { empty_policy: 'skip' } as never), "segmentationReport: unknown option 'empty_policy'"],
    ['segmentationReport with a string threshold', () => segmentationReport(pred, truth, 4, { threshold: '0.5' as never }), 'segmentationReport: threshold'],
    ['segmentationReport with a string for surface', () => segmentationReport(pred, truth, 4, { surface: 'yes' as never }), 'segmentationReport: surface'],
    ['segmentationReport with spacing beside surface (ignored)', () => segmentationReport(pred, truth, 4, { surface: true, spacing: [3, 1, 1] } as never), "segmentationReport: 'spacing' is an option of the surface distances: give it as { surface: { spacing } }"],
    ['segmentationReport with a misspelt surface option (ignored)', () => segmentationReport(pred, truth, 4, { surface: { spacng: [3, 1, 1] } as never }), "segmentationReport: surface: unknown option 'spacng'"],
    ['segmentationReport of a number', () => segmentationReport(3 as never, truth, 4), 'segmentationReport: pred'],
    ["multiClassReport with emptyPolicy 'zero'", () => multiClassReport([0.9, 0.1, 0.2, 0.8], [0, 1], 2, { emptyPolicy: 'zero' as never }), "multiClassReport: emptyPolicy must be 'one' or 'skip'"],
    ["diceOf with policy 'zero'", () => diceOf({ intersection: 0, predicted: 0, truth: 0 }, 'zero' as never), 'diceOf: emptyPolicy'],
    ["iouOf with policy 'zero'", () => iouOf({ intersection: 1, predicted: 1, truth: 1 }, 'zero' as never), 'iouOf: emptyPolicy'],
    ['rocAuc of 3 scores and 2 labels (gave 1)', () => rocAuc([0.1, 0.9, 0.5], [0, 1]), 'rocAuc: scores has 3 values but labels has 2'],
    ['rocAuc with a NaN score (gave 0.667)', () => rocAuc([0.1, NaN, 0.6, 0.9], [0, 1, 0, 1]), 'rocAuc: scores[1] is NaN; a score must be a number (a NaN has no rank'],
    ['rocAuc with a NaN label', () => rocAuc([0.1, 0.9], [0, NaN]), 'rocAuc: labels[1] is NaN'],
    ['rocAuc with a string score', () => rocAuc([0.1, '0.9'] as never, [0, 1]), "rocAuc: scores[1] is the string '0.9'"],
    ['rocAuc of a number', () => rocAuc(0.5 as never, [1]), 'rocAuc: scores must be an array'],
    ['binaryReport of mismatched lengths', () => binaryReport([0.1, 0.9, 0.5], [0, 1]), 'binaryReport: scores has 3 values but labels has 2'],
    ['binaryReport with a NaN score', () => binaryReport([NaN, 0.9], [0, 1]), 'binaryReport: scores[0] is NaN'],
    ['binaryReport with a misspelt threshold option', () => binaryReport([0.1, 0.9], [0, 1], { thresh: 0.7 } as never), "binaryReport: unknown option 'thresh'"],
    ['binaryReport with a string threshold', () => binaryReport([0.1, 0.9], [0, 1], '0.7' as never), "binaryReport: threshold must be a number or { threshold }, got the string '0.7'"],
    ['binaryReport with a NaN threshold', () => binaryReport([0.1, 0.9], [0, 1], NaN), 'binaryReport: threshold'],
    ['confusion of mismatched lengths', () => confusion([0.1, 0.9], [0, 1, 1]), 'confusion: scores has 2 values but labels has 3'],
  ];
  for (const [what, call, start] of REFUSED) {
    it(`${what}: ArgumentError '${start}...'`, () => {
      let error: unknown;
      try {
        call();
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ArgumentError);
      expect((error as Error).message.startsWith(start), (error as Error).message).toBe(true);
    });
  }

  it('a tensor where the host values go (metrics run on the host) is refused saying how to read it back', () => {
    // Shaped as a tensor is to the check (a toArray method), without a device for this file.
    const tensorLike = { shape: [12], toArray: async () => new Float32Array(12) };
    for (const call of [() => segmentationReport(tensorLike as never, truth, 4), () => binaryReport(tensorLike as never, truth)]) {
      expect(call).toThrow(ArgumentError);
      expect(call).toThrow(/await t\.toArray\(\) first/);
    }
    expect(() => rocAuc(0.5 as never, [1])).not.toThrow(/toArray/);
  });

  it('binaryReport and confusion take the threshold positionally or as { threshold }', () => {
    // threshold 0.7: predictions 1,0,0,0,1,0 vs labels 1,0,0,1,1,0 -> tp 2, fp 0, tn 3, fn 1
    const scores = [0.9, 0.6, 0.2, 0.4, 0.7, 0.1];
    const labels = [1, 0, 0, 1, 1, 0];
    const positional = binaryReport(scores, labels, 0.7);
    const options = binaryReport(scores, labels, { threshold: 0.7 });
    expect([options.tp, options.fp, options.tn, options.fn]).toEqual([2, 0, 3, 1]);
    expect(options).toEqual(positional);
    expect(binaryReport(scores, labels, {})).toEqual(binaryReport(scores, labels));
    expect(confusion(scores, labels, { threshold: 0.7 })).toEqual({ tp: 2, fp: 0, tn: 3, fn: 1 });
    // Infinite scores rank like any other: the positives at +Infinity above every negative.
    expect(rocAuc([-Infinity, 0.5, Infinity, Infinity], [0, 0, 1, 1])).toBe(1);
  });

  it('an empty set is zero slices, not an error', () => {
    const r = segmentationReport([], [], 4, { volumes: [] });
    expect([r.slices, r.dicePerSlice]).toEqual([0, NaN]);
  });
});
