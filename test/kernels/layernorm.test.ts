// layerNorm over the last axis: the GPU op against a direct float64 layer norm (each row by its
// own mean and biased variance) and against the group-norm reference over the [rows, C] view,
// whose gradients test/kernels/groupnorm.test.ts checks by finite differences; the gradients here
// against that reference's backward.

import { afterEach, describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { layerNorm } from '../../src/kernels/layernorm.js';
import { overrideRowKernelChoice } from '../../src/kernels/softmax-rows.js';
import { layerNormRowsForward } from '../../src/kernels/layernorm-rows.js';
import { LayerNorm } from '../../src/nn/layers.js';
import { nd } from '../../src/reference/array.js';
import { groupMoments, groupNormBackwardRef, groupNormForwardRef } from '../../src/reference/groupnorm.js';
import { layerNormDirect } from '../helpers/layernorm-direct.js';
import { expectClose } from '../helpers/close.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

// float32 sums over rows of up to 96 values and a few operations each: ~1e-6 relative; 1e-4
// leaves room, and a row normalised by the wrong statistics is off by O(1).
const TOL = { atol: 1e-4, rtol: 1e-4 };


const f32 = (a: Float64Array): Float64Array => Float64Array.from(Float32Array.from(a));

afterEach(() => overrideRowKernelChoice(null));

describe('layerNorm', () => {
  // Both routes on this device: the thread-per-row kernels (CPU adapters; vec4 where C % 4 = 0,
  // else scalar) and group norm's (GPUs).
  for (const route of ['rows', 'groups'] as const)
  for (const [shape, eps] of [[[3, 5, 8], 1e-5], [[7, 96], 1e-3], [[2, 3, 4, 6], 1e-5], [[5], 1e-5], [[4, 1], 1e-5], [[300, 12], 1e-5]] as [number[], number][]) {
    it(`${route}: [${shape}] eps ${eps}: forward and gradients match the float64 references`, async () => {
      overrideRowKernelChoice(route === 'rows' ? 'cpu' : 'gpu');
      const c = shape[shape.length - 1];
      const n = shape.reduce((p, d) => p * d, 1);
      // An offset row mean (3 + ...) so a missing mean subtraction shows.
      const x = f32(uniform(n, 11, -1, 1).map((v, i) => v + 3 + (i % 5)));
      const gamma = f32(uniform(c, 12, 0.5, 1.5));
      const beta = f32(uniform(c, 13, -0.5, 0.5));
      const dy = f32(uniform(n, 14, -1, 1));
      const [xt, gt, bt] = [fromNd(x, shape, true), fromNd(gamma, [c], true), fromNd(beta, [c], true)];
      const y = layerNorm(xt, gt, bt, { eps });
      expect(y.shape).toEqual(shape);
      const got = await y.toArray();
      expectClose('y vs direct', got, layerNormDirect(x, c, gamma, beta, eps), TOL);
      const rows = nd(x, [n / c, c]);
      expectClose('y vs group norm', got, groupNormForwardRef(rows, nd(gamma, [c]), nd(beta, [c]), 1, eps).y.data, TOL);
      const dyt = fromNd(dy, shape);
      y.backward(dyt);
      const want = groupNormBackwardRef(rows, nd(gamma, [c]), nd(dy, [n / c, c]), 1, eps);
      expectClose('dx', await xt.grad!.toArray(), want.dx.data, TOL);
      expectClose('dgamma', await gt.grad!.toArray(), want.dgamma.data, TOL);
      expectClose('dbeta', await bt.grad!.toArray(), want.dbeta.data, TOL);
      for (const t of [xt, gt, bt, y, dyt]) t.dispose();
    });
  }

  it('the row kernels keep each row\'s mean and 1 / std for the backward (vec4 and scalar rows)', async () => {
    for (const c of [12, 7]) {
      const x = f32(uniform(5 * c, 21, -2, 2).map((v) => v + 10));
      const [xt, g, b] = [fromNd(x, [5, c]), dn.full([c], 1), dn.full([c], 0)];
      const { y, mean, invStd } = layerNormRowsForward(xt, g, b, 1e-5);
      const want = groupMoments(nd(x, [5, c]), 1);
      expectClose(`mean c=${c}`, await mean.toArray(), want.mean, TOL);
      expectClose(`invStd c=${c}`, await invStd.toArray(), want.invStd, TOL);
      for (const t of [xt, g, b, y, mean, invStd]) t.dispose();
    }
  });

  it('nn.LayerNorm holds PyTorch-named weight (ones) and bias (zeros) and normalises each row', async () => {
    const layer = new LayerNorm(4);
    expect([...layer.stateDict().keys()]).toEqual(['weight', 'bias']);
    const x = dn.tensor([[1, 2, 3, 4], [10, 10, 10, 14]]);
    const y = layer.forward(x);
    const want = layerNormDirect(Float64Array.from([1, 2, 3, 4, 10, 10, 10, 14]), 4, new Float64Array(4).fill(1), new Float64Array(4), 1e-5);
    expectClose('y', await y.toArray(), want, TOL);
    for (const t of [x, y]) t.dispose();
    layer.dispose();
  });

  it('a gamma or beta of the wrong size, a scalar x and a bad eps fail naming layerNorm', () => {
    const x = dn.zeros([2, 3]);
    const [g3, g4] = [dn.zeros([3]), dn.zeros([4])];
    expect(() => layerNorm(x, g4, g3)).toThrow(dn.ShapeError);
    expect(() => layerNorm(x, g4, g3)).toThrow(/^layerNorm: gamma \[4\] does not match the last axis \(3\)/);
    expect(() => layerNorm(x, g3, g4)).toThrow(/^layerNorm: beta/);
    const s = dn.zeros([]);
    expect(() => layerNorm(s, g3, g3)).toThrow(/^layerNorm: x \[\] has no axis/);
    expect(() => layerNorm(x, g3, g3, { eps: -1 })).toThrow(dn.ArgumentError);
    expect(() => layerNorm(x, g3, g3, { eps: -1 })).toThrow(/^layerNorm: /);
    for (const t of [x, g3, g4, s]) t.dispose();
  });
});
