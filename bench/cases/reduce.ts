// Reductions: the whole tensor to one number (a loss), and [N, H, W, C] -> [C] (batch-norm
// statistics, bias gradients). Memory bound: the input is read once.

import { columnSumsWay, sum, withColumnSumsWay } from '../../src/kernels/reduce.js';
import { count, dims, f32Bytes, scaled, family, ways, type BenchCase, type CaseFamily } from '../case.js';

type Kernels = { sum: typeof sum };

function cases(k: Kernels, scale: number): BenchCase[] {
  const s = scaled(256, scale);
  const x = [scaled(16, scale), s, s, 32];
  const n = count(x);
  return [
    {
      id: 'sum-all/unet-l1',
      group: 'reduce',
      shape: `${dims(x)} -> []`,
      metric: 'bytes',
      work: f32Bytes(n),
      // Positive data so the sum is large next to its rounding error.
      inputs: [{ name: 'x', shape: x, data: 'positive' }],
      dawnet: ([a]) => k.sum(a),
      tfjs: (tf, [a]) => tf.sum(a),
      // Each of dawnet's 256 lanes adds n/256 terms in sequence; tfjs sums in a different order.
      tolerance: 1e-3,
    },
    {
      id: 'sum-nhw/unet-l1',
      group: 'reduce',
      shape: `${dims(x)} -> [32]`,
      metric: 'bytes',
      work: f32Bytes(n, 32),
      inputs: [{ name: 'x', shape: x, data: 'positive' }],
      dawnet: ([a]) => k.sum(a, [0, 1, 2]),
      tfjs: (tf, [a]) => tf.sum(a, [0, 1, 2]),
      tolerance: 1e-3,
      // The column kernel or the general route: the one the adapter does not take, beside.
      ...ways(['columns', 'threads'], () => columnSumsWay(n / 32), withColumnSumsWay),
    },
  ];
}

export const reduceFamily: CaseFamily = family('reduce', async () => ({ sum }), cases);
