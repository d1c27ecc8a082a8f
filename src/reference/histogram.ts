// CPU reference for histogram (torch.histc): counts of x's values in `bins` equal bins over
// [lo, hi], the last bin closed; values outside and NaN count nowhere; a range of one value is
// widened to [v − 1, v + 1]. The bin is computed in float32 steps as the kernel's formula is
// (⌊(v − lo)·bins / (hi − lo)⌋), so values away from the edges land alike.

import { ndZeros, type NdArray } from './array.js';

export function histogramRef(x: ArrayLike<number>, bins: number, lo: number, hi: number): NdArray {
  if (lo === hi) [lo, hi] = [lo - 1, hi + 1];
  const counts = ndZeros([bins]);
  const f = Math.fround;
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    if (!(v >= lo && v <= hi)) continue;
    const b = Math.min(Math.floor(f(f(f(v - lo) * bins) / f(hi - lo))), bins - 1);
    counts.data[b] += 1;
  }
  return counts;
}
