// affine and elastic refuse numeric options that are not finite numbers, and parameter sets with
// a missing or non-finite value: each used to warp the whole batch to NaN (widthShift NaN, a
// params entry without tx), or to read only the first two values of an alpha range of three.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

describe('augment number options', () => {
  let x: dn.Tensor;
  beforeEach(() => {
    x = dn.tensor(Float32Array.from({ length: 2 * 5 * 4 }, (_, i) => i), [2, 5, 4, 1]);
  });
  afterEach(() => x.dispose());
  const bad = (o: object) => () => dn.augment.affine(x, { seed: 1, ...o } as dn.augment.AffineOptions);

  it('affine refuses a non-number or NaN range', () => {
    expect(bad({ widthShift: Number.NaN })).toThrow(dn.ArgumentError);
    expect(bad({ heightShift: Infinity })).toThrow(dn.ArgumentError);
    expect(bad({ rotation: '10' })).toThrow(dn.ArgumentError);
    expect(bad({ zoom: [0.9, Number.NaN] })).toThrow(dn.ArgumentError);
    expect(bad({ zoom: [0.8, 1, 1.2] })).toThrow(dn.ArgumentError);
  });

  it('affine refuses given parameters with a value missing, non-finite or unknown', () => {
    const one = { theta: 0, tx: 1, ty: 0, zx: 1, zy: 1 };
    expect(bad({ params: [one, { theta: 0, ty: 0, zx: 1, zy: 1 }] })).toThrow(dn.ArgumentError);
    expect(bad({ params: [one, { ...one, zy: Number.NaN }] })).toThrow(dn.ArgumentError);
    expect(bad({ params: [one, { ...one, rotation: 3 }] })).toThrow(dn.ArgumentError);
  });

  it('elastic refuses a sigma that is not a number and an alpha range that is not a pair', () => {
    expect(() => dn.augment.elastic(x, { alpha: 3, sigma: '2' } as unknown as dn.augment.ElasticOptions)).toThrow(dn.ArgumentError);
    expect(() => dn.augment.elastic(x, { alpha: [1, 2, 3], sigma: 2 } as unknown as dn.augment.ElasticOptions)).toThrow(dn.ArgumentError);
  });

  it('still warps with valid numbers, finite everywhere', async () => {
    const { image } = dn.augment.affine(x, { seed: 1, rotation: 10, widthShift: 0.1, heightShift: 1, zoom: [0.9, 1.1] });
    expect((await image.toArray()).every(Number.isFinite)).toBe(true);
    image.dispose();
  });
});
