// Gradient clipping by global norm (src/kernels/clip.ts) with a norm past 1.8e19, where Σg²
// overflows float32: one gradient of 3e19 among small ones, and ~1300 gradients of ~1e18. The norm
// must be the float64 one and every gradient g·maxNorm/norm (before the fix the +inf total made
// the factor 0 and zeroed them all). An ordinary norm must stay bit for bit what the square op,
// reduce.ts's sum, add and sqrt give (the route clipping took before), and a NaN or an infinite
// gradient must give what the float64 reference gives (NaN; +inf and a factor of 0). Each case runs
// with its tensors bound whole and split at a 4 KiB binding limit (the squares pass in chunks, its
// scaled partials at offsets across chunks and tensors).
//
// Tolerances (atol 0: the clipped small gradients are ~1e-20, where no absolute floor means
// anything). One gradient of 3e19: the scaled total is its square, rounded once (0.5 ulp), the
// small ones' squares vanishing below it; the sqrt halves that and rounds itself (Vulkan lets sqrt
// err by a few ulp, inheriting inversesqrt's 2): rtol 5e-7 (about 4 ulp) on the norm. ~1e18 each:
// a sum of 1340 positive terms (a vec4 dot, a squares thread's 16 loads in a row, reduce.ts's
// passes over the partials, the adds across tensors) meets at most ~32 roundings of at most 2^-24
// of the total each, 1.9e-6, half that on the norm, plus the sqrt's: rtol 2e-6 (measured 1e-8).
// The clipped gradients add the factor's division (WGSL's f32 division may err by 2.5 ulp, 3e-7)
// and the product's rounding (6e-8): rtol norm's + 5e-7. A partial lost or counted twice moves
// these by 1e-3 or more.

import { afterEach, describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { runtime } from '../../src/gpu/runtime.js';
import { clipByGlobalNorm } from '../../src/kernels/clip.js';
import { clipByGlobalNormRef } from '../../src/reference/clip.js';
import { expectClose } from '../helpers/close.js';
import { useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();
afterEach(() => runtime().setBindingLimit(null));

const size = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

// Odd sizes (scalar kernels) and multiples of 4 (vec4), one past a workgroup's 256 vec4s; split:
// sizes past the 1024 floats a 4 KiB binding holds.
const LAYOUTS = [
  { name: 'bound whole', limit: null, shapes: [[7], [33, 40], [1], [3, 4]] },
  { name: 'split at a 4 KiB binding limit', limit: 4096, shapes: [[7], [3000], [1025]] },
] as const;

/** Seeded gradients of the layout's shapes, float32; `fill(k, i, u)` the value from u in [-1, 1). */
function gradients(shapes: readonly (readonly number[])[], seed: number, fill = (_k: number, _i: number, u: number) => u): Float32Array[] {
  return shapes.map((s, k) => Float32Array.from(uniform(size(s), seed + k), (u, i) => fill(k, i, u)));
}

async function clip(host: Float32Array[], shapes: readonly (readonly number[])[], maxNorm: number): Promise<{ norm: number; clipped: Float32Array[] }> {
  const grads = host.map((h, k) => dn.tensor(h, [...shapes[k]]));
  const { clipped, norm } = clipByGlobalNorm(grads, maxNorm);
  const out = { norm: await norm.item(), clipped: await Promise.all(clipped.map((c) => c.toArray() as Promise<Float32Array>)) };
  for (const t of [...grads, ...clipped, norm]) t.dispose();
  return out;
}

/** Σg² in float32 as a plain sum sees it: +inf when the norm passes ~1.8e19. */
const f32SumOfSquares = (host: Float32Array[]): number => Math.fround(host.reduce((s, h) => s + h.reduce((a, v) => a + v * v, 0), 0));

describe('clipByGlobalNorm past float32 overflow of Σg²', () => {
  for (const layout of LAYOUTS) {
    const cases = [
      // The big value in the second tensor, past its first workgroup (and chunk, when split).
      { what: 'one gradient of 3e19, the others in [-1, 1]', fill: (k: number, i: number, u: number) => (k === 1 && i === 1300 % size(layout.shapes[1]) ? 3e19 : u), rtol: 5e-7 },
      { what: 'every gradient ~1e18 (0.5e18 to 1.5e18, either sign)', fill: (_k: number, _i: number, u: number) => Math.sign(u) * (0.5 + Math.abs(u)) * 1e18, rtol: 2e-6 },
    ];
    for (const c of cases) {
      it(`${c.what}, ${layout.name}: the float64 norm, and g·maxNorm/norm`, async () => {
        if (layout.limit) runtime().setBindingLimit(layout.limit);
        const host = gradients(layout.shapes, 20, c.fill);
        expect(f32SumOfSquares(host), 'Σg² overflows float32').toBe(Infinity);
        const want = clipByGlobalNormRef(host, 0.5);
        const got = await clip(host, layout.shapes, 0.5);
        expectClose('norm', [got.norm], [want.norm], { atol: 0, rtol: c.rtol });
        for (const [k, g] of got.clipped.entries()) expectClose(`clipped ${k}`, g, want.clipped[k], { atol: 0, rtol: c.rtol + 5e-7 });
      });
    }

    it(`ordinary gradients, ${layout.name}: the norm bit for bit as sqrt of the summed squares`, async () => {
      if (layout.limit) runtime().setBindingLimit(layout.limit);
      const host = gradients(layout.shapes, 30);
      const got = await clip(host, layout.shapes, 0.5);
      // The route clipping took before the overflow fallback, by the public ops.
      const before = dn.scope(() => {
        const sums = host.map((h, k) => dn.sum(dn.square(dn.tensor(h, [...layout.shapes[k]]))));
        return dn.sqrt(sums.reduce((a, s) => dn.add(a, s)));
      });
      expect(got.norm).toBe(await before.item());
      before.dispose();
      // The default tolerance: a sum of squares of ~1300 values in [-1, 1], as clip.test.ts's.
      const want = clipByGlobalNormRef(host, 0.5);
      for (const [k, g] of got.clipped.entries()) expectClose(`clipped ${k}`, g, want.clipped[k]);
    });

    // Beside a 3e19: the overflow fallback must not turn a NaN or an infinity into a finite norm.
    for (const [what, bad] of [['NaN', Number.NaN], ['+inf', Infinity], ['-inf', -Infinity]] as const) {
      it(`a ${what} gradient beside one of 3e19, ${layout.name}: the reference's norm, and NaN where it has NaN`, async () => {
        if (layout.limit) runtime().setBindingLimit(layout.limit);
        const host = gradients(layout.shapes, 40, (k, i, u) => (k === 1 && i === 5 ? 3e19 : k === 2 && i === 0 ? bad : u));
        const want = clipByGlobalNormRef(host, 0.5);
        const got = await clip(host, layout.shapes, 0.5);
        expect(got.norm).toBe(want.norm);
        for (const [k, g] of got.clipped.entries()) {
          expect([...g].map(Number.isNaN), `clipped ${k}: NaN where the reference has NaN`).toEqual([...want.clipped[k]].map(Number.isNaN));
          expect([...g].filter((v) => !Number.isNaN(v))).toEqual([...want.clipped[k]].filter((v) => !Number.isNaN(v)));
        }
      });
    }
  }
});
