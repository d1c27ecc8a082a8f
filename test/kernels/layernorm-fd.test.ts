// layerNorm's gradients against central differences of a layer norm written out directly in
// float64 (one row at a time, independent of groupnorm.ts's reference, whose backward over the
// [rows, C] view is layerNorm's reference), for x, gamma and beta, ranks 1 to 4, odd C, batches and
// both eps; then the GPU (both routes) where a user meets awkward rows: a large offset (activations
// near 1000), and constant rows (zero variance, padding), where eps alone keeps 1/std finite.
// layernorm.test.ts compares the GPU with the references at offsets of 3 to 7.

import { afterEach, describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { overrideRowKernelChoice } from '../../src/kernels/softmax-rows.js';
import { nd, type NdArray } from '../../src/reference/array.js';
import { groupNormBackwardRef, groupNormForwardRef } from '../../src/reference/groupnorm.js';
import { expectClose, type Tolerance } from '../helpers/close.js';
import { layerNormDirect } from '../helpers/layernorm-direct.js';
import { checkGrad } from '../helpers/finite-diff.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();
afterEach(() => overrideRowKernelChoice(null));

/** The direct layer norm as an NdArray of x's shape. */
function direct(x: Float64Array, shape: number[], gamma: Float64Array, beta: Float64Array, eps: number): NdArray {
  return nd(layerNormDirect(x, shape[shape.length - 1], gamma, beta, eps), shape);
}

const f32 = (a: Float64Array): Float64Array => Float64Array.from(Float32Array.from(a));
const sizeOf = (s: number[]): number => s.reduce((p, d) => p * d, 1);

/** The reference over the [rows, C] view: groupNorm's with one group. */
function reference(x: Float64Array, shape: number[], gamma: Float64Array, beta: Float64Array, dy: Float64Array, eps: number) {
  const c = shape[shape.length - 1];
  const rows = [x.length / c, c];
  const y = groupNormForwardRef(nd(x, rows), nd(gamma, [c]), nd(beta, [c]), 1, eps).y.data;
  return { y, ...groupNormBackwardRef(nd(x, rows), nd(gamma, [c]), nd(dy, rows), 1, eps) };
}

async function runGpu(route: 'rows' | 'groups', x: Float64Array, shape: number[], gamma: Float64Array, beta: Float64Array, dy: Float64Array, eps: number) {
  overrideRowKernelChoice(route === 'rows' ? 'cpu' : 'gpu');
  const c = shape[shape.length - 1];
  const [xt, gt, bt] = [fromNd(x, shape, true), fromNd(gamma, [c], true), fromNd(beta, [c], true)];
  const y = dn.layerNorm(xt, gt, bt, { eps });
  expect(y.shape).toEqual(shape);
  const dyt = fromNd(dy, shape);
  y.backward(dyt);
  const got = { y: await y.toArray(), dx: await xt.grad!.toArray(), dgamma: await gt.grad!.toArray(), dbeta: await bt.grad!.toArray() };
  for (const t of [xt, gt, bt, y, dyt]) t.dispose();
  return got;
}

const CASES: [number[], number][] = [[[5], 1e-5], [[3, 7], 1e-5], [[2, 3, 5], 1e-3], [[2, 2, 3, 4], 1e-5], [[4, 1], 1e-5]];

describe('layerNorm: the reference against finite differences', () => {
  for (const [k, [shape, eps]] of CASES.entries()) {
    it(`[${shape}] eps ${eps}: dx, dgamma and dbeta`, () => {
      const c = shape[shape.length - 1];
      const n = sizeOf(shape);
      const x = uniform(n, 300 + k, -2, 2).map((v, i) => v + (i % 3));
      const gamma = uniform(c, 310 + k, 0.5, 1.5);
      const beta = uniform(c, 320 + k);
      const dy = uniform(n, 330 + k);
      const want = reference(x, shape, gamma, beta, dy, eps);
      expectClose(`[${shape}] forward, reference vs direct`, want.y, direct(x, shape, gamma, beta, eps).data, { atol: 1e-12, rtol: 1e-12 });
      checkGrad(`[${shape}] dx`, (v) => direct(v, shape, gamma, beta, eps), x, dy, want.dx.data);
      checkGrad(`[${shape}] dgamma`, (v) => direct(x, shape, v, beta, eps), gamma, dy, want.dgamma.data);
      checkGrad(`[${shape}] dbeta`, (v) => direct(x, shape, gamma, v, eps), beta, dy, want.dbeta.data);
    });
  }
});

describe('layerNorm on the GPU at awkward rows', () => {
  // Offset 1000 with a spread of 1: every x - mean carries the float32 rounding of x and of the
  // row's mean, 2^-24·1000 = 6e-5 and a few times that (the mean's sum rounds once per add), which
  // 1/std (~1.7) and gamma pass on. Measured worst on lavapipe, both routes, C = 7, 8, 96: 2.8e-4
  // on y, dx and dgamma. atol 1e-3 leaves 3.5x; a missing mean or a wrong variance is off by O(1).
  const OFFSET_TOL: Tolerance = { atol: 1e-3, rtol: 1e-4 };
  for (const route of ['rows', 'groups'] as const) {
    for (const shape of [[2, 3, 7], [3, 8], [2, 96]]) {
      it(`${route}: [${shape}] at offset 1000: forward and gradients match float64`, async () => {
        const c = shape[shape.length - 1];
        const n = sizeOf(shape);
        const x = f32(uniform(n, 41, -1, 1).map((v) => v + 1000));
        const gamma = f32(uniform(c, 42, 0.5, 1.5));
        const beta = f32(uniform(c, 43));
        const dy = f32(uniform(n, 44));
        const want = reference(x, shape, gamma, beta, dy, 1e-5);
        const got = await runGpu(route, x, shape, gamma, beta, dy, 1e-5);
        expectClose(`${route} [${shape}] y`, got.y, want.y, OFFSET_TOL);
        expectClose(`${route} [${shape}] dx`, got.dx, want.dx.data, OFFSET_TOL);
        expectClose(`${route} [${shape}] dgamma`, got.dgamma, want.dgamma.data, OFFSET_TOL);
        expectClose(`${route} [${shape}] dbeta`, got.dbeta, want.dbeta.data);
      });
    }
  }

  // Constant rows: variance 0, so xhat = 0, y = beta exactly and dx = (g - mean(g))/sqrt(eps), with
  // 1/sqrt(eps) = 316 at eps 1e-5: dy's float32 rounding (1e-7 relative) times 316 and a sum over
  // C = 5, so atol 1e-4 on dx; a row that divided by 0 gives NaN or ∞ and fails.
  for (const route of ['rows', 'groups'] as const) {
    it(`${route}: constant rows (zero variance), one offset each: y = beta, finite gradients as float64`, async () => {
      const shape = [3, 5];
      const x = Float64Array.from([2.5, 2.5, 2.5, 2.5, 2.5, -7, -7, -7, -7, -7, 0, 0, 0, 0, 0]);
      const gamma = f32(uniform(5, 51, 0.5, 1.5));
      const beta = f32(uniform(5, 52));
      const dy = f32(uniform(15, 53));
      const want = reference(x, shape, gamma, beta, dy, 1e-5);
      const got = await runGpu(route, x, shape, gamma, beta, dy, 1e-5);
      expectClose(`${route} y`, got.y, want.y);
      expectClose(`${route} dx`, got.dx, want.dx.data, { atol: 1e-4, rtol: 1e-4 });
      expectClose(`${route} dgamma`, got.dgamma, want.dgamma.data);
      expectClose(`${route} dbeta`, got.dbeta, want.dbeta.data);
    });
  }
});
