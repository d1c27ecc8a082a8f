// Inputs and the per-case checks for the pool tests (pool.test.ts, pool-torch.test.ts).

import { expect, it } from 'vitest';
import { avgPool2d, maxPool2d } from '../../src/kernels/pool.js';
import { AVG_POOL_OPTIONS, pool2dGeometry, type AvgPool2dOptions, type Pool2dOptions } from '../../src/kernels/pool-geometry.js';
import { nd } from '../../src/reference/array.js';
import { avgPool2dBackwardRef, avgPool2dRef, maxPool2dBackwardRef, maxPool2dRef } from '../../src/reference/pool.js';
import { expectClose } from '../helpers/close.js';
import { checkGrad } from '../helpers/finite-diff.js';
import { fromNd } from '../helpers/gpu.js';
import { rng, uniform } from '../helpers/rng.js';

/** n distinct values in [-1, 1), shuffled: no max-pool ties, gaps (2/n) far above the FD step. */
export function distinct(n: number, seed: number): Float64Array {
  const r = rng(seed);
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return Float64Array.from(order, (k) => ((k + 0.5) / n) * 2 - 1);
}

export const size = (shape: readonly number[]): number => shape.reduce((p, d) => p * d, 1);

export interface PoolCase<O> {
  shape: readonly number[];
  opts: O;
}

/** The output shape pool2dGeometry gives (the op's own rule, checked by hand elsewhere). */
export function outShapeOf(shape: readonly number[], opts: AvgPool2dOptions | Pool2dOptions): number[] {
  const g = pool2dGeometry('test', shape, opts, [...AVG_POOL_OPTIONS, 'dilation']);
  return [g.n, g.outH, g.outW, g.c];
}

/**
 * The three checks for each case (CPU backward against float64 finite differences, GPU forward
 * and backward against the CPU reference); x and dy seeded from `xSeed` and `dySeed` + the case's index.
 * Max pooling gets distinct inputs, so no window has a tie (a kink of the gradient).
 */
export function poolCaseTests(op: 'max' | 'avg', cases: readonly PoolCase<Pool2dOptions | AvgPool2dOptions>[], xSeed: number, dySeed: number): void {
  const ref = op === 'max' ? maxPool2dRef : avgPool2dRef;
  const backwardRef = (x: Float64Array, shape: number[], dy: Float64Array, yShape: number[], opts: AvgPool2dOptions) =>
    op === 'max' ? maxPool2dBackwardRef(nd(x, shape), nd(dy, yShape), opts) : avgPool2dBackwardRef(shape, nd(dy, yShape), opts);
  for (const [k, cs] of cases.entries()) {
    const shape = [...cs.shape];
    const name = `${op}Pool2d ${JSON.stringify(cs.shape)} ${JSON.stringify(cs.opts)}`;
    const x = op === 'max' ? distinct(size(shape), xSeed + k) : uniform(size(shape), xSeed + k);
    const yShape = outShapeOf(shape, cs.opts);
    const dy = uniform(size(yShape), dySeed + k);

    it(`${name}: CPU backward matches finite differences`, () => {
      const analytic = backwardRef(x, shape, dy, yShape, cs.opts);
      checkGrad(name, (v) => ref(nd(v, shape), cs.opts), x, dy, analytic.data);
    });

    it(`${name}: GPU forward and backward match CPU`, async () => {
      const xt = fromNd(x, shape, true);
      const y = op === 'max' ? maxPool2d(xt, cs.opts) : avgPool2d(xt, cs.opts);
      expect(y.shape).toEqual(yShape);
      expectClose(`${name} forward`, await y.toArray(), ref(nd(x, shape), cs.opts).data);
      const dyt = fromNd(dy, yShape);
      y.backward(dyt);
      expectClose(`${name} backward`, await xt.grad!.toArray(), backwardRef(x, shape, dy, yShape, cs.opts).data);
      for (const t of [xt, y, dyt]) t.dispose();
    });
  }
}
