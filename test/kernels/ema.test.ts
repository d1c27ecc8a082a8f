// The weight average's update kernel, e ← d·e + (1 − d)·w in place, against its float64 reference:
// sizes on both sides of the vec4 path and past one workgroup, decays from 0 (copy) to 0.999.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { emaUpdate } from '../../src/kernels/ema.js';
import { expectClose } from '../helpers/close.js';
import { emaUpdateRef } from '../helpers/ema-ref.js';
import { useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

const CASES = [
  { shape: [1], decay: 0.999 },
  { shape: [7], decay: 0.5 },
  { shape: [3, 3, 4, 8], decay: 0.999 },
  { shape: [33, 40], decay: 0.9 },
  { shape: [1027], decay: 0.1 },
  { shape: [12], decay: 0 },
] as const;

describe('emaUpdate', () => {
  for (const [k, { shape, decay }] of CASES.entries()) {
    it(`[${shape}] decay ${decay}: matches the float64 reference`, async () => {
      const n = shape.reduce((a: number, b: number) => a * b, 1);
      // Shadow and live weights far apart, so that a weight on the wrong side of the sum shows.
      const e0 = Float32Array.from(uniform(n, 10 + k, 2, 3));
      const w = Float32Array.from(uniform(n, 20 + k, -3, -2));
      const shadow = dn.tensor(e0, [...shape]);
      const live = dn.tensor(w, [...shape]);
      emaUpdate(shadow, live, decay);
      // Two steps: the second reads what the first wrote in place.
      emaUpdate(shadow, live, decay);
      const want = emaUpdateRef(emaUpdateRef(e0, w, decay), w, decay);
      expectClose(`ema.update [${shape}] d ${decay}`, await shadow.toArray(), want);
      expect(await live.toArray(), 'the live tensor is only read').toEqual(w);
      shadow.dispose();
      live.dispose();
    });
  }

  it('tensors of different sizes are a ShapeError', () => {
    const a = dn.zeros([4]);
    const b = dn.zeros([5]);
    expect(() => emaUpdate(a, b, 0.9)).toThrow(dn.ShapeError);
    a.dispose();
    b.dispose();
  });
});
