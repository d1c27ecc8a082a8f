// The FMA peak's loop (bench/peak.ts): whichever unroll factor the peak keeps, a thread runs the
// number of fmas per chain its flop count claims. Checked against a float64 reference of the
// chains' recurrence; float32 arithmetic over 8 fmas of values below 10 stays within ~1e-6
// relative, while one fma more or less moves the sum by over 1% (each fma halves the chains'
// distance to their fixed point 0.5), so 1e-5 cannot pass on a wrong count.

import { describe, expect, it } from 'vitest';
import { emptyTensor } from '../../src/graph/tensor.js';
import { fmaFlops, fmaStep } from '../../bench/peak.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

/** What thread i writes after `fmas` rounds of a = a·0.5 + 0.25 on its 8 vec4 chains. */
function reference(i: number, fmas: number): number {
  const seed = Math.fround((i & 1023) * 0.001);
  let total = 0;
  for (let k = 0; k < 8; k++) {
    for (const off of [0, 0.25, 0.5, 0.75]) {
      let a = seed + k + off;
      for (let r = 0; r < fmas; r++) a = a * 0.5 + 0.25;
      total += a;
    }
  }
  return total;
}

describe('FMA peak loop', () => {
  it.each([1, 2, 4, 8])('runs 8 fmas per chain as %i per round', async (unroll) => {
    const out = emptyTensor([1 << 20], 'peak.test.out');
    try {
      fmaStep(out, 8 / unroll, unroll);
      const values = await out.toArray();
      for (const i of [0, 1, 777, 1023, 1024, (1 << 20) - 1]) {
        expect(values[i] / reference(i, 8) - 1, `thread ${i}`).toBeCloseTo(0, 5);
      }
      expect(Math.abs(values[5] / reference(5, 9) - 1)).toBeGreaterThan(0.01);
    } finally {
      out.dispose();
    }
  });

  it('counts 2 flops per lane of each vec4 fma', () => {
    expect(fmaFlops(16, 1)).toBe((1 << 20) * 16 * 8 * 4 * 2);
    expect(fmaFlops(4, 4)).toBe(fmaFlops(16, 1));
  });
});
