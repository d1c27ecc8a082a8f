// The run report's validation-slice captions score each slice as the metrics do: the prediction at
// p >= 0.5, and a slice with nothing in mask or prediction under the run's empty-slice policy.
import { describe, expect, it } from 'vitest';
import { sliceDiceText } from '../../src/app/report-job.js';

describe('sample captions', () => {
  it('Dice at p >= 0.5, as segmentationReport counts it', () => {
    expect(sliceDiceText([0.5, 0.49, 0, 0], [1, 1, 0, 0], 'one')).toBe('Dice 0.667');
    expect(sliceDiceText([0.9, 0, 0, 0], [0, 0, 0, 0], 'skip')).toBe('Dice 0.000');
  });

  it("both empty: 1 under policy 'one', left out (not a perfect 1) under 'skip'", () => {
    expect(sliceDiceText([0.1, 0.2], [0, 0], 'one')).toBe('Dice 1.000');
    expect(sliceDiceText([0.1, 0.2], [0, 0], 'skip')).toBe('Dice n/a (both empty, skipped)');
  });
});
