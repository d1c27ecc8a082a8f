// train's --seed: the seeded generators read it as a 32-bit unsigned integer, so a seed they would
// read as another (1.5 as 1, -1 as 4294967295, 2^32 as 0) is refused by name before anything runs.
import { describe, expect, it } from 'vitest';
import { configFromFlags, validateTrainConfig } from '../../src/cli/train.js';

describe('train --seed', () => {
  const config = (seed: number) => configFromFlags('segment', { data: 'd', seed });
  it('takes every whole number a 32-bit generator can hold', () => {
    for (const seed of [0, 42, 2 ** 32 - 1]) expect(() => validateTrainConfig(config(seed), false)).not.toThrow();
  });
  it('refuses one the generators would read as another seed', () => {
    for (const seed of [1.5, -1, 2 ** 32, Number.NaN]) {
      expect(() => validateTrainConfig(config(seed), false), String(seed)).toThrow(`--seed must be a whole number from 0 to 4294967295, got ${seed}`);
    }
  });
});
