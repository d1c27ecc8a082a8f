// medianOf: the one median of the metrics (segmentationReport), eval's figures over complete volumes
// and the HTML report's per-slice Dice line; numpy.median's rule.
import { describe, expect, it } from 'vitest';
import { medianOf } from '../../src/train/metrics.js';

describe('medianOf', () => {
  it('takes the middle value of an odd count and the mean of the two middle values of an even one, as numpy.median', () => {
    const CASES = [
      { xs: [5], want: 5 },
      { xs: [3, 1, 2], want: 2 },
      { xs: [0.85, 0.2, 0.77, 0.9], want: (0.77 + 0.85) / 2 },
      { xs: [-1, 7], want: 3 },
      { xs: [2, Infinity, 1, Infinity], want: Infinity },
      { xs: [1, Infinity, 2], want: 2 },
    ] as const;
    for (const c of CASES) expect(medianOf(c.xs), c.xs.join(', ')).toBe(c.want);
  });

  it('is NaN for no values and leaves its argument unsorted', () => {
    expect(medianOf([])).toBeNaN();
    const xs = [3, 1, 2, 0];
    expect(medianOf(xs)).toBe(1.5);
    expect(xs).toEqual([3, 1, 2, 0]);
  });
});
