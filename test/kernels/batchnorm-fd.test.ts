// batchNorm2d where a user meets awkward channels, against the float64 reference (whose gradients
// batchnorm.test.ts checks by finite differences, with the GPU at offsets of 2 to 4): channels
// offset by 1000 with a spread of 1 (un-normalised inputs), and a constant channel (zero variance,
// eps alone keeping 1/std finite), in training, the batch statistics' gradients included.

import { describe, it } from 'vitest';
import * as dn from '../../src/index.js';
import { nd } from '../../src/reference/array.js';
import { batchNormBackwardRef, batchNormForwardRef } from '../../src/reference/batchnorm.js';
import { expectClose, type Tolerance } from '../helpers/close.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

const f32 = (a: Float64Array): Float64Array => Float64Array.from(Float32Array.from(a));

async function compare(name: string, shape: number[], x: Float64Array, tol: Tolerance, dxTol: Tolerance): Promise<void> {
  const c = shape[3];
  const n = x.length;
  const gamma = f32(uniform(c, 61, 0.5, 1.5));
  const beta = f32(uniform(c, 62));
  const dy = f32(uniform(n, 63));
  const zeros = nd(new Float64Array(c), [c]);
  const ones = nd(new Float64Array(c).fill(1), [c]);
  const o = { training: true, momentum: 0.1, eps: 1e-5 };
  const want = batchNormForwardRef(nd(x, shape), nd(gamma, [c]), nd(beta, [c]), zeros, ones, o);
  const wantGrad = batchNormBackwardRef(nd(x, shape), nd(gamma, [c]), nd(dy, shape), zeros, ones, o);
  const [xt, gt, bt] = [fromNd(x, shape, true), fromNd(gamma, [c], true), fromNd(beta, [c], true)];
  const [rm, rv] = [dn.zeros([c]), dn.full([c], 1)];
  const y = dn.batchNorm2d(xt, gt, bt, rm, rv, o);
  const dyt = fromNd(dy, shape);
  y.backward(dyt);
  expectClose(`${name} y`, await y.toArray(), want.y.data, tol);
  expectClose(`${name} running mean`, await rm.toArray(), want.runningMean.data);
  // The running variance (unbiased, momentum 0.1) is where a one-pass variance would cancel at
  // offset 1000; its float32 error is 0.1 of the variance's, a few 1e-5 at most.
  expectClose(`${name} running variance`, await rv.toArray(), want.runningVar.data, { atol: 1e-4, rtol: 1e-4 });
  expectClose(`${name} dx`, await xt.grad!.toArray(), wantGrad.dx.data, dxTol);
  expectClose(`${name} dgamma`, await gt.grad!.toArray(), wantGrad.dgamma.data, tol);
  expectClose(`${name} dbeta`, await bt.grad!.toArray(), wantGrad.dbeta.data);
  for (const t of [xt, gt, bt, y, dyt, rm, rv]) t.dispose();
}

describe('batchNorm2d on the GPU at awkward channels', () => {
  // Offset 1000: x - mean carries float32's rounding of x and of the channel mean, 2^-24·1000 =
  // 6e-5 and a few times that, passed on by 1/std (~1.7). Measured worst on lavapipe for these
  // shapes: 1.3e-4 (y), 9.6e-5 (dx). atol 1e-3 leaves over 7x (the value groupnorm.test.ts takes
  // for its gradients at the same offset); a mean left in is off by 1000.
  const OFFSET_TOL: Tolerance = { atol: 1e-3, rtol: 1e-4 };
  for (const shape of [[2, 3, 5, 4], [5, 3, 3, 3]]) {
    it(`[${shape}] at offset 1000: forward, running mean and gradients match float64`, async () => {
      const n = shape.reduce((p, d) => p * d, 1);
      await compare(`offset [${shape}]`, shape, f32(uniform(n, 64, -1, 1).map((v) => v + 1000)), OFFSET_TOL, OFFSET_TOL);
    });
  }

  // Channel 1 constant (-3): its variance is 0, y = beta there and dx = gamma·(dy - mean(dy))/sqrt(eps),
  // 316x dy's float32 rounding summed over 30 pixels: atol 1e-4 on dx.
  it('a constant channel (zero variance) next to ordinary ones: y = beta there, finite gradients as float64', async () => {
    const shape = [2, 3, 5, 3];
    const x = f32(uniform(90, 65, -1, 1).map((v, i) => (i % 3 === 1 ? -3 : v)));
    await compare('constant channel', shape, x, {}, { atol: 1e-4, rtol: 1e-4 });
  });
});
