import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/errors.js';
import { multiClassReport } from '../../src/train/multiclass-metrics.js';

describe('multiClassReport', () => {
  // Six pixels, three classes. True classes 0 0 1 1 2 0; predicted (argmax) 0 1 1 1 0 0.
  const scores = [0.7, 0.2, 0.1, /**/ 0.3, 0.6, 0.1, /**/ 0.1, 0.8, 0.1, /**/ 0.2, 0.5, 0.3, /**/ 0.5, 0.1, 0.4, /**/ 0.9, 0, 0.1];
  const ids = [0, 0, 1, 1, 2, 0];
  const oneHot = ids.flatMap((c) => [0, 1, 2].map((k) => (k === c ? 1 : 0)));

  it('hand-counted confusion, per-class Dice and IoU, means and accuracy', () => {
    const r = multiClassReport(scores, ids, 3);
    expect(r.confusion).toEqual([[2, 1, 0], [0, 2, 0], [1, 0, 0]]);
    // class 0: tp 2, fp 1, fn 1; class 1: tp 2, fp 1, fn 0; class 2: tp 0, fp 0, fn 1
    expect(r.dice).toEqual([4 / 6, 4 / 5, 0]);
    expect(r.iou).toEqual([2 / 4, 2 / 3, 0]);
    expect(r.support).toEqual([3, 2, 1]);
    expect(r.meanDice).toBeCloseTo((4 / 6 + 4 / 5) / 3, 12);
    expect(r.accuracy).toBeCloseTo(4 / 6, 12);
    expect(multiClassReport(scores, oneHot, 3)).toEqual(r);
    expect(multiClassReport(scores, ids, 3, { ignoreBackground: true }).meanDice).toBeCloseTo((4 / 5 + 0) / 2, 12);
  });

  it('a class absent from prediction and truth follows the empty policy', () => {
    const two = [0.9, 0.1, 0, /**/ 0.2, 0.7, 0.1];
    expect(multiClassReport(two, [0, 1], 3).dice).toEqual([1, 1, 1]);
    const skip = multiClassReport(two, [0, 1], 3, { emptyPolicy: 'skip' });
    expect(skip.dice).toEqual([1, 1, null]);
    expect(skip.meanDice).toBe(1);
  });

  it('mismatched sizes and bad class ids are ShapeErrors naming the function', () => {
    expect(() => multiClassReport(scores, [0, 1], 3)).toThrow(ShapeError);
    expect(() => multiClassReport(scores.slice(1), ids, 3)).toThrow(/^multiClassReport: /);
    expect(() => multiClassReport(scores, [0, 0, 1, 1, 5, 0], 3)).toThrow(/^multiClassReport: class id 5/);
    expect(() => multiClassReport(scores, ids, 1)).toThrow(ShapeError);
  });
});
