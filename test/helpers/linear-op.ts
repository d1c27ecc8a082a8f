// Checks for ops that are linear in their input and move (or sum) elements without arithmetic on
// them: slice, reverse, tile. Such an op's gradient is the adjoint of its forward, which the float64
// reference gives exactly by probing one basis vector at a time: (Fᵀ dy)_j = <F e_j, dy>. So:
//   - the reference backward equals that adjoint exactly, and matches finite differences;
//   - the GPU forward equals the reference exactly (a copy of float32 values);
//   - the GPU backward equals the adjoint exactly: dy holds small integers, whose sums (tile's
//     backward) are exact in float32 in any order.

import { expect } from 'vitest';
import type * as dn from '../../src/index.js';
import { nd, type NdArray } from '../../src/reference/array.js';
import { expectClose } from './close.js';
import { checkGrad } from './finite-diff.js';
import { fromNd } from './gpu.js';
import { rng, uniform } from './rng.js';

export const EXACT = { atol: 0, rtol: 0 };

export const sizeOf = (shape: readonly number[]): number => shape.reduce((p, d) => p * d, 1);

/** Float32-representable uniform data of a shape. */
export const f32Data = (shape: number[], seed: number): NdArray => nd(Float32Array.from(uniform(sizeOf(shape), seed)), shape);

/** n nonzero integers in [−64, 64], seeded. */
export function integers(n: number, seed: number): Float64Array {
  const r = rng(seed);
  return Float64Array.from({ length: n }, () => (Math.floor(r() * 64) + 1) * (r() < 0.5 ? -1 : 1));
}

/** Fᵀ dy for a linear F on tensors of xShape, one basis vector at a time. */
export function adjointOf(forward: (x: NdArray) => NdArray, xShape: number[], dy: NdArray): Float64Array {
  const n = sizeOf(xShape);
  const basis = new Float64Array(n);
  return Float64Array.from({ length: n }, (_, j) => {
    basis.fill(0);
    basis[j] = 1;
    const column = forward(nd(basis, xShape)).data;
    return column.reduce((s, v, i) => s + v * dy.data[i], 0);
  });
}

export interface LinearCase {
  name: string;
  xShape: number[];
  seed: number;
  forwardRef: (x: NdArray) => NdArray;
  backwardRef: (dy: NdArray) => NdArray;
  gpu: (x: dn.Tensor) => dn.Tensor;
}

export async function checkLinearOp(cs: LinearCase): Promise<void> {
  const x = f32Data(cs.xShape, cs.seed);
  const want = cs.forwardRef(x);
  const dy = nd(integers(want.data.length, cs.seed + 1), want.shape);
  const adjoint = adjointOf(cs.forwardRef, cs.xShape, dy);
  const back = cs.backwardRef(dy);
  expectClose(`${cs.name} reference backward vs adjoint`, back.data, adjoint, EXACT);
  checkGrad(cs.name, (v) => cs.forwardRef(nd(v, cs.xShape)), x.data, dy.data, back.data);

  const xt = fromNd(x.data, cs.xShape, true);
  const y = cs.gpu(xt);
  expect(y.shape, `${cs.name} shape`).toEqual(want.shape);
  expectClose(`${cs.name} forward`, await y.toArray(), want.data, EXACT);
  const dyt = fromNd(dy.data, want.shape);
  y.backward(dyt);
  expectClose(`${cs.name} backward`, await xt.grad!.toArray(), adjoint, EXACT);
  for (const t of [xt, y, dyt]) t.dispose();
}
