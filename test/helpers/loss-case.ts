// Shared pieces of the loss tests (focal-loss, overlap-loss): float32-rounded data, random masks,
// and one GPU run of a loss with its gradient.

import { expect } from 'vitest';
import * as dn from '../../src/index.js';
import { fromNd } from './gpu.js';
import { rng } from './rng.js';

/** Values as the GPU holds them: rounded to float32, then widened for the float64 references. */
export const f32 = (x: ArrayLike<number>): Float64Array => Float64Array.from(Float32Array.from(x));

export const size = (shape: readonly number[]): number => shape.reduce((p, d) => p * d, 1);

/** A binary mask with about `fill` of its pixels set. */
export function mask(n: number, seed: number, fill: number): Float64Array {
  const r = rng(seed);
  return Float64Array.from({ length: n }, () => (r() < fill ? 1 : 0));
}

/** A loss and its input's gradient on the GPU, for upstream dy(m) shaped like the loss (m values). */
export async function runLossGpu(fn: (x: dn.Tensor, y: dn.Tensor) => dn.Tensor, x: Float64Array, y: Float64Array, shape: number[], dy: (m: number) => Float64Array) {
  const xt = fromNd(x, shape, true);
  const yt = fromNd(y, shape);
  const loss = fn(xt, yt);
  const lossShape = [...loss.shape];
  const value = await loss.toArray();
  const dyt = fromNd(dy(loss.size), lossShape);
  loss.backward(dyt);
  const grad = await xt.grad!.toArray();
  for (const t of [xt, yt, loss, dyt]) t.dispose();
  return { lossShape, value, grad };
}

/**
 * A [2, 4, 4, 1] prediction against targets of another shape (channels, batch, rank): each a
 * ShapeError whose message starts with the loss's name.
 */
export function expectMismatchedShapesRefused(name: string, fn: (p: dn.Tensor, y: dn.Tensor) => unknown, p: dn.Tensor): void {
  const starts = new RegExp(`^${name}: `);
  for (const shape of [[2, 4, 4, 2], [1, 4, 4, 1], [2, 16]]) {
    const y = dn.zeros(shape);
    expect(() => fn(p, y)).toThrow(dn.ShapeError);
    expect(() => fn(p, y)).toThrow(starts);
    y.dispose();
  }
}
