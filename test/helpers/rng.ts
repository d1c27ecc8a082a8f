// Seeded random numbers for case tables: the same seed gives the same test data on every machine.

import { mulberry32 } from '../../src/util/random.js';

export const rng = mulberry32;

/** n uniform values in [lo, hi). */
export function uniform(n: number, seed: number, lo = -1, hi = 1): Float64Array {
  const r = rng(seed);
  return Float64Array.from({ length: n }, () => lo + (hi - lo) * r());
}

/** Uniform values kept at least `gap` away from zero: keeps ReLU and max-pool kinks out of gradient checks. */
export function awayFromZero(n: number, seed: number, gap = 0.05): Float64Array {
  const r = rng(seed);
  return Float64Array.from({ length: n }, () => {
    const v = gap + (1 - gap) * r();
    return r() < 0.5 ? -v : v;
  });
}
