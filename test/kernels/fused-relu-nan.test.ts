// NaN through every fused ReLU: conv2d with activation 'relu' under each algorithm the tests can
// force (the GEMM epilogue, the staged and fused Winograd output transforms, the uniform-weights
// kernel, Winograd by uniform GEMMs) and batchNorm2d's relu option. PyTorch's relu keeps NaN;
// max(v, 0) in WGSL need not (lavapipe's gave 0), so a NaN input must come out NaN, not 0.
// The backward follows PyTorch's threshold_backward(dy, y, 0): a NaN output passes dy.

import { afterEach, describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { batchNorm2d } from '../../src/kernels/batchnorm.js';
import { conv2dGeometry } from '../../src/kernels/conv2d.js';
import { algorithmRuns, convAlgorithm } from '../../src/kernels/conv2d-winograd-run.js';
import { nd } from '../../src/reference/array.js';
import { batchNormBackwardRef, batchNormForwardRef } from '../../src/reference/batchnorm.js';
import { conv2dForwardRef } from '../../src/reference/conv.js';
import { unaryBackwardRef, unaryForwardRef } from '../../src/reference/elementwise.js';
import { expectClose, type Tolerance } from '../helpers/close.js';
import { useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

afterEach(() => dn.setConvAlgorithm('auto'));

/** float32 values, as the GPU holds them, in float64 for the references. */
const f32 = (x: ArrayLike<number>): Float64Array => Float64Array.from(Float32Array.from(x));

/** NaN exactly where `want` is NaN, and the rest close to it. */
function expectCloseKeepingNan(what: string, got: ArrayLike<number>, want: ArrayLike<number>, tol: Tolerance): void {
  const mismatched = Array.from(want, (w, i) => i).filter((i) => Number.isNaN(got[i]) !== Number.isNaN(want[i]));
  expect(mismatched, `${what}: NaN where the reference has none, or a number where it has NaN`).toEqual([]);
  const numbers = Array.from(want, (w, i) => i).filter((i) => !Number.isNaN(want[i]));
  expectClose(what, numbers.map((i) => got[i]), numbers.map((i) => want[i]), tol);
}

// 3x3, stride 1, 'same', 8 -> 8 channels: inside every algorithm's reach (Winograd's 3x3 stride 1,
// output channels in vec4s for the fused and uniform kernels, 2.3 KiB of weights for a uniform
// binding, and each U[ξ] of 8x8 floats a whole 256-byte uniform offset for 'winograd-uniform').
// One NaN input value, at pixel (2, 3) channel 1, reaches the 3x3 outputs around it.
const X_SHAPE = [1, 6, 7, 8];
const W_SHAPE = [3, 3, 8, 8];
const OPTS = { padding: 'same' } as const;
const NAN_AT = ((0 * 6 + 2) * 7 + 3) * 8 + 1;
const ALGORITHMS = ['direct', 'winograd', 'winograd-fused', 'uniform-weights', 'winograd-uniform'] as const;

// As conv2d-relu.test.ts: sums of 72 products in [-1, 1]; Winograd's rounding is 10-100x direct's.
const TOL = { atol: 1e-4, rtol: 1e-4 };
const WINOGRAD_TOL = { atol: 1e-3, rtol: 1e-3 };

describe("conv2d with activation 'relu' keeps NaN", () => {
  const x = f32(uniform(X_SHAPE.reduce((p, d) => p * d, 1), 61));
  x[NAN_AT] = Number.NaN;
  const w = f32(uniform(W_SHAPE.reduce((p, d) => p * d, 1), 62));
  const b = f32(uniform(8, 63));
  const dy = f32(uniform(6 * 7 * 8, 64));
  const want = conv2dForwardRef(nd(x, X_SHAPE), nd(w, W_SHAPE), nd(b, [8]), OPTS);

  for (const algorithm of ALGORITHMS) {
    it(`${algorithm}: NaN where the conv gives NaN (the outputs around the NaN input at least), max(y, 0) elsewhere; NaN outputs pass dy to db`, async () => {
      const g = conv2dGeometry(X_SHAPE, W_SHAPE, OPTS);
      expect(algorithmRuns(algorithm, 'forward', g), `${algorithm} can run this conv`).toBe(true);
      dn.setConvAlgorithm(algorithm);
      expect(convAlgorithm('forward', g)).toBe(algorithm);
      const [xt, wt, bt] = [dn.tensor(x, X_SHAPE), dn.tensor(w, W_SHAPE), dn.tensor(b, [8], { requiresGrad: true })];
      const y = dn.conv2d(xt, wt, bt, { ...OPTS, activation: 'relu' });
      const plain = dn.conv2d(xt, wt, bt, OPTS);
      const [got, conv] = [await y.toArray(), await plain.toArray()];

      // The reference's NaNs (the 9 pixels around the input NaN, every channel) are NaN here. The
      // direct conv has exactly those; Winograd spreads a NaN over its 4x4 output blocks, so
      // there the plain conv's own NaNs are the measure: the fused ReLU keeps each, adds none.
      const refNans = [...want.data.keys()].filter((i) => Number.isNaN(want.data[i]));
      expect(refNans.length).toBe(9 * 8);
      for (const i of refNans) expect(Number.isNaN(got[i]), `${algorithm} output ${i}: ${got[i]}`).toBe(true);
      expect([...got].map(Number.isNaN)).toEqual([...conv].map(Number.isNaN));
      if (algorithm === 'direct') expect([...got].map(Number.isNaN)).toEqual([...want.data].map(Number.isNaN));
      const numbers = [...got.keys()].filter((i) => !Number.isNaN(got[i]));
      expect(numbers.map((i) => got[i])).toEqual(numbers.map((i) => Math.max(conv[i], 0)));
      expect(numbers.some((i) => got[i] === 0) && numbers.some((i) => got[i] > 0), 'both sides of the kink').toBe(true);
      const relu = unaryForwardRef('relu', want);
      expectClose(algorithm, numbers.map((i) => got[i]), numbers.map((i) => relu.data[i]), algorithm === 'direct' ? TOL : WINOGRAD_TOL);

      // db[c] = Σ dy over the outputs the ReLU passes: positive or NaN (PyTorch's threshold_backward).
      const dyt = dn.tensor(dy, [1, 6, 7, 8]);
      y.backward(dyt);
      const wantDb = new Float64Array(8);
      got.forEach((v, i) => (wantDb[i % 8] += v > 0 || Number.isNaN(v) ? dy[i] : 0));
      // Sums of 42 values in [-1, 1]: float32 rounding well inside the defaults.
      expectClose(`${algorithm} db`, await bt.grad!.toArray(), wantDb);
      for (const t of [xt, wt, bt, y, plain, dyt]) t.dispose();
    });
  }
});

describe("batchNorm2d's fused ReLU keeps NaN", () => {
  // C = 3 runs one channel per thread, C = 4 four (vec4). Training: the NaN makes its channel's
  // mean NaN, so the whole channel is NaN (0 before, silently); inference: only its own output.
  for (const c of [3, 4]) {
    for (const training of [false, true]) {
      const mode = training ? 'training' : 'inference';
      it(`${c} channels, ${mode}: forward and backward match the reference batch norm then ReLU, NaNs included`, async () => {
        const shape = [2, 3, 5, c];
        const n = shape.reduce((p, d) => p * d, 1);
        const x = f32(uniform(n, 70 + c, -1, 1));
        x[7 * c + 1] = Number.NaN;
        const [gamma, beta] = [f32(uniform(c, 71, 0.5, 1.5)), f32(uniform(c, 72))];
        const [rm, rv] = [f32(uniform(c, 73)), f32(uniform(c, 74, 0.5, 2))];
        const dy = f32(uniform(n, 75));
        const o = { training, momentum: 0.1, eps: 1e-5 };
        const r = { x: nd(x, shape), gamma: nd(gamma, [c]), beta: nd(beta, [c]), rm: nd(rm, [c]), rv: nd(rv, [c]) };
        const bn = batchNormForwardRef(r.x, r.gamma, r.beta, r.rm, r.rv, o);
        const masked = unaryBackwardRef('relu', bn.y, nd(dy, shape));
        const grads = batchNormBackwardRef(r.x, r.gamma, masked, r.rm, r.rv, o);

        const xt = dn.tensor(x, shape, { requiresGrad: true });
        const [gt, bt] = [dn.tensor(gamma, [c], { requiresGrad: true }), dn.tensor(beta, [c], { requiresGrad: true })];
        const [rmt, rvt] = [dn.tensor(rm, [c]), dn.tensor(rv, [c])];
        const y = batchNorm2d(xt, gt, bt, rmt, rvt, { ...o, relu: true });
        const got = await y.toArray();
        expect(Number.isNaN(got[7 * c + 1])).toBe(true);
        expect([...got].filter(Number.isNaN).length).toBe(training ? n / c : 1);
        // The house defaults: batch_norm.test.ts's tolerances, which these outputs meet in float32.
        expectCloseKeepingNan(`${mode} relu(y)`, got, unaryForwardRef('relu', bn.y).data, {});
        const dyt = dn.tensor(dy, shape);
        y.backward(dyt);
        expectCloseKeepingNan(`${mode} dx`, await xt.grad!.toArray(), grads.dx.data, {});
        expectCloseKeepingNan(`${mode} dgamma`, await gt.grad!.toArray(), grads.dgamma.data, {});
        expectCloseKeepingNan(`${mode} dbeta`, await bt.grad!.toArray(), grads.dbeta.data, {});
        for (const t of [xt, gt, bt, rmt, rvt, y, dyt]) t.dispose();
      });
    }
  }
});
