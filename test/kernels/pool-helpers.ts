// Inputs for the pool tests (pool.test.ts, pool-torch.test.ts).

import { rng } from '../helpers/rng.js';

/** n distinct values in [-1, 1), shuffled: no max-pool ties, gaps (2/n) far above the FD step. */
export function distinct(n: number, seed: number): Float64Array {
  const r = rng(seed);
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return Float64Array.from(order, (k) => ((k + 0.5) / n) * 2 - 1);
}

export const size = (shape: readonly number[]): number => shape.reduce((p, d) => p * d, 1);
