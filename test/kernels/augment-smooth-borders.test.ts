// augment.smooth folds a tap back into the line only where it falls off an end: taps inside the
// line read it directly. The sums must stay the same float for float as folding every tap (the
// elastic tests compare the GPU with the reference at float32 rounding, and the field moves whole
// images), so besides the float64 reference each case runs the fold-every-tap kernel kept here and
// compares bit for bit. The cases put lines shorter than the radius (every tap folds, several
// periods deep), lines of one pixel, and lines long enough to have an interior, in both extensions.

import { describe, expect, it, vi } from 'vitest';
import { runtime, type KernelSpec } from '../../src/gpu/runtime.js';
import { packParams, u32 } from '../../src/gpu/params.js';
import { emptyTensor, type Tensor } from '../../src/graph/tensor.js';
import { gaussianWeights, SMOOTH_DECLS, SMOOTH_LINE, smoothField, type Parametrisation } from '../../src/kernels/augment.js';
import { linearGrid, LINEAR_MAIN_ARGS, linearIndex } from '../../src/kernels/wgsl.js';
import { smoothPlanesRef } from '../../src/reference/augment.js';
import { expectClose } from '../helpers/close.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

/** The kernel before the split: every tap through the signed-% fold (its declarations and line are augment.smooth's). */
const foldEveryTap: KernelSpec = {
  name: 'test.smoothFoldEveryTap',
  key: '',
  inputs: 3,
  outputs: 1,
  wgsl: () => /* wgsl */ `
${SMOOTH_DECLS}
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let i = ${linearIndex()};
  if (i >= params.total) { return; }
${SMOOTH_LINE}
  var acc = 0.0;
  for (var t = 0u; t <= 2u * params.radius; t++) {
    let j = foldLine(i32(pos + t) - i32(params.radius), i32(len));
    acc += weights[t] * src[lineStart + u32(j) * stride];
  }
  if (params.scaled == 1u) { acc *= scales[b * params.k + kk]; }
  out[i] = acc;
}`,
};

function foldEveryTapField(x: Tensor, weights: Tensor, scales: Tensor, wholeSample: boolean): Tensor {
  const pass = (src: Tensor, axis: number, scaled: boolean): Tensor => {
    const [n, h, w, k] = src.shape;
    const out = emptyTensor(src.shape, 'test.smooth.out');
    const params = packParams([n * h * w * k, h, w, k, axis, (weights.size - 1) / 2, wholeSample ? 1 : 0, scaled ? 1 : 0].map((v) => u32(v)));
    runtime().dispatch(foldEveryTap, { inputs: [src.slice, weights.slice, scales.slice], outputs: [out.slice], params }, linearGrid(n * h * w * k));
    return out;
  };
  const alongH = pass(x, 0, false);
  const field = pass(alongH, 1, true);
  alongH.dispose();
  return field;
}

const CASES = [
  // Radius 16 against lines of 3 and 50: every tap of the short lines folds, several periods deep.
  { shape: [1, 3, 50, 2], sigma: 4, parametrisation: 'scipy' },
  { shape: [1, 3, 50, 2], sigma: 4, parametrisation: 'torchvision' },
  // Lines of one pixel (torchvision's whole-sample fold has its own case for them).
  { shape: [2, 1, 9, 2], sigma: 2.5, parametrisation: 'torchvision' },
  { shape: [2, 9, 1, 2], sigma: 2.5, parametrisation: 'scipy' },
  // Odd sizes with an interior: radius 10 (scipy) and 10 (torchvision) in lines of 37 to 41.
  { shape: [2, 41, 37, 2], sigma: 2.5, parametrisation: 'scipy' },
  { shape: [2, 41, 37, 2], sigma: 2.5, parametrisation: 'torchvision' },
  // Radius 48 (sigma 12): lines of 100 and 97, two pixels of interior in the second.
  { shape: [1, 100, 97, 2], sigma: 12, parametrisation: 'scipy' },
  { shape: [1, 100, 97, 2], sigma: 12, parametrisation: 'torchvision' },
] as const satisfies readonly { shape: number[]; sigma: number; parametrisation: Parametrisation }[];

describe('augment.smooth near the borders and inside', () => {
  for (const [k, cs] of CASES.entries()) {
    it(`${JSON.stringify(cs.shape)} sigma ${cs.sigma} ${cs.parametrisation}: float64 reference, and bit for bit the fold-every-tap kernel`, async () => {
      const [n, h, w] = cs.shape;
      const noise = uniform(n * h * w * 2, 300 + k);
      const scales = uniform(2 * n, 320 + k, 0.5, 3);
      const weights = gaussianWeights(cs.sigma, cs.parametrisation);
      const [noiseT, weightsT, scalesT] = [fromNd(noise, [...cs.shape]), fromNd(weights, [weights.length]), fromNd(scales, [n, 2])];
      const spy = vi.spyOn(runtime(), 'dispatch');
      const field = smoothField(noiseT, weightsT, scalesT, cs.parametrisation);
      expect(spy.mock.calls.map(([spec]) => spec.name)).toEqual(['augment.smooth', 'augment.smooth']);
      spy.mockRestore();
      const folded = foldEveryTapField(noiseT, weightsT, scalesT, cs.parametrisation === 'torchvision');
      const [got, same] = [await field.toArray(), await folded.toArray()];
      const want = new Float64Array(noise.length);
      for (const comp of [0, 1]) {
        const planes = Float64Array.from({ length: n * h * w }, (_, p) => noise[2 * p + comp]);
        smoothPlanesRef(planes, n, h, w, cs.sigma, cs.parametrisation).forEach((v, p) => (want[2 * p + comp] = v * scales[Math.floor(p / (h * w)) * 2 + comp]));
      }
      // Weighted means of values in [-1, 1] (weights summing to 1) times scales up to 3: float32
      // rounding stays near 3 · 2^-24 · sqrt(97), far inside the house defaults.
      expectClose(`smooth ${k}`, got, want);
      const firstDiff = got.findIndex((v, i) => !Object.is(v, same[i]));
      expect(firstDiff, `smooth ${k}: first element that differs from the fold-every-tap kernel`).toBe(-1);
      for (const t of [noiseT, weightsT, scalesT, field, folded]) t.dispose();
    });
  }
});
