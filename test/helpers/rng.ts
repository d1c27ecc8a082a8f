// Seeded random numbers for case tables: the same seed gives the same test data on every machine.

export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

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
