// clamp with a NaN bound: PyTorch's gives NaN everywhere, and a kernel's max(x, NaN) would leave x
// as it was; neither is what a NaN bound (a bad statistic, a missing value) should silently do, so
// it is refused by name. A NaN in x still propagates (clamp's own tests).
import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { ArgumentError } from '../../src/errors.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

describe('clamp with a NaN bound', () => {
  it('is refused, for min, max or both, naming the bound', () => {
    const x = dn.tensor([-1, 0.5, 2], [3]);
    expect(() => dn.clamp(x, Number.NaN)).toThrow(ArgumentError);
    expect(() => dn.clamp(x, Number.NaN)).toThrow(/clamp: a bound is NaN \(min NaN, max undefined\)/);
    expect(() => dn.clamp(x, undefined, Number.NaN)).toThrow(/clamp: a bound is NaN \(min undefined, max NaN\)/);
    expect(() => dn.clamp(x, 0, Number.NaN)).toThrow(ArgumentError);
    x.dispose();
  });
});
