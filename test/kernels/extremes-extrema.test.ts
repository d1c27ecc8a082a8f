// max, min, argmax, argmin and max pooling over infinities, against PyTorch's results worked out
// by hand: a row holding +inf and -inf, a row of only -inf, and ties at +inf. max/min's gradient
// goes to the winner and is split evenly among ties, -inf ties included (PyTorch's amax/amin);
// argmax/argmin take the first of a tie. A max-pool window of only -inf outputs -inf and sends
// its gradient to the window's first element inside the input, as PyTorch's CPU loop (it starts
// from that element and moves only on a strictly larger value). Every expected value is exact.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { fromNd, useGpu } from '../helpers/gpu.js';

useGpu();

const INF = Infinity;
const ROWS = [1, INF, -INF, 3, -INF, -INF, -INF, -INF, 2, 2, INF, INF];

/** The op's output and the gradient of its outputs' sum. */
async function run(op: (x: dn.Tensor) => dn.Tensor, x: number[], shape: number[]): Promise<{ y: number[]; grad: number[] }> {
  const xt = fromNd(x, shape, true);
  const y = op(xt);
  const ones = fromNd(new Array<number>(y.size).fill(1), [...y.shape]);
  y.backward(ones);
  const out = { y: Array.from(await y.toArray()), grad: Array.from(await xt.grad!.toArray()) };
  for (const t of [xt, y, ones]) t.dispose();
  return out;
}

describe('extrema over infinities', () => {
  it('max and min over rows: the infinite winner, the gradient to it or split among ties', async () => {
    const max = await run((x) => dn.max(x, -1), ROWS, [3, 4]);
    expect(max.y).toEqual([INF, -INF, INF]);
    expect(max.grad).toEqual([0, 1, 0, 0, 0.25, 0.25, 0.25, 0.25, 0, 0, 0.5, 0.5]);
    const min = await run((x) => dn.min(x, -1), ROWS, [3, 4]);
    expect(min.y).toEqual([-INF, -INF, 2]);
    expect(min.grad).toEqual([0, 0, 1, 0, 0.25, 0.25, 0.25, 0.25, 0.5, 0.5, 0, 0]);
  });

  it('argmax and argmin: the first of a tie, infinities included', async () => {
    const x = fromNd(ROWS, [3, 4]);
    const [amax, amin] = [dn.argmax(x, -1), dn.argmin(x, -1)];
    expect(Array.from(await amax.toArray())).toEqual([1, 0, 2]);
    expect(Array.from(await amin.toArray())).toEqual([2, 0, 0]);
    for (const t of [x, amax, amin]) t.dispose();
  });

  it('maxPool2d: a window of only -inf gives -inf and its first element the gradient; +inf wins', async () => {
    // [1, 2, 4, 1]: the left 2x2 window all -inf, the right one holding +inf.
    const x = [-INF, -INF, 1, INF, -INF, -INF, 2, 3];
    const pooled = await run((t) => dn.maxPool2d(t, { size: 2, stride: 2 }), x, [1, 2, 4, 1]);
    expect(pooled.y).toEqual([-INF, INF]);
    expect(pooled.grad).toEqual([1, 0, 0, 1, 0, 0, 0, 0]);
    // Padding 1, 3x3 windows over a 2x2 of -inf: every window's first element inside is (0, 0).
    const padded = await run((t) => dn.maxPool2d(t, { size: 3, stride: 1, padding: 1 }), [-INF, -INF, -INF, -INF], [1, 2, 2, 1]);
    expect(padded.y).toEqual([-INF, -INF, -INF, -INF]);
    expect(padded.grad).toEqual([4, 0, 0, 0]);
  });
});
