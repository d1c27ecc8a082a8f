// dn.gradients (src/graph/gradients.ts): gradients handed back, of leaves and of recorded results,
// equal to what backward() accumulates (same kernels, so bit for bit) and to the host's float64
// derivative; no .grad changes; duplicates, unused inputs, retainGraph and scopes behave as
// PyTorch's torch.autograd.grad does, and wrong arguments are refused by name.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { expectClose } from '../helpers/close.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

/** y = Σ tanh(x · w)², with h = tanh(x · w) returned too. */
function graph(x: dn.Tensor, w: dn.Tensor): { h: dn.Tensor; y: dn.Tensor } {
  return dn.scope(() => {
    const h = dn.tanh(dn.mul(x, w));
    return { h, y: dn.sum(dn.square(h)) };
  });
}

describe('gradients', () => {
  it("gives leaves' and a recorded result's gradients, backward's own, changing no .grad", async () => {
    const xs = uniform(6, 1);
    const ws = uniform(6, 2);
    const x = fromNd(xs, [2, 3], true);
    const w = fromNd(ws, [2, 3], true);
    const before = dn.memory().bytesInUse;
    const { h, y } = graph(x, w);
    const [gx, gh, gw] = dn.gradients(y, [x, h, w]);
    expect([x.grad, w.grad]).toEqual([null, null]);
    // float64: dy/dh = 2h, dy/dx = 2h(1 - h²)w; float32 tanh and products: F32's tolerances.
    const hv = xs.map((v, i) => Math.tanh(v * ws[i]));
    expectClose('dy/dh', await gh!.toArray(), hv.map((v) => 2 * v));
    expectClose('dy/dx', await gx!.toArray(), hv.map((v, i) => 2 * v * (1 - v * v) * ws[i]));
    // The same pass as backward's: bit for bit.
    const again = graph(x, w);
    again.y.backward();
    again.h.dispose();
    again.y.dispose();
    expect(Array.from(await gx!.toArray())).toEqual(Array.from(await x.grad!.toArray()));
    expect(Array.from(await gw!.toArray())).toEqual(Array.from(await w.grad!.toArray()));
    for (const t of [gx, gh, gw, h, y]) t!.dispose();
    x.zeroGrad();
    w.zeroGrad();
    expect(dn.memory().bytesInUse).toBe(before);
    x.dispose();
    w.dispose();
  });

  it('gives an input asked for twice a handle each, null for an unused one, and results a scope disposes', async () => {
    const x = fromNd(uniform(4, 3), [4], true);
    const w = fromNd(uniform(4, 4), [4], true);
    const unused = fromNd(uniform(4, 5), [4], true);
    const before = dn.memory().bytesInUse;
    const { h, y } = graph(x, w);
    const [a, b, none] = dn.gradients(y, [x, x, unused]);
    h.dispose();
    y.dispose();
    expect(none).toBeNull();
    a!.dispose();
    expect(Array.from(await b!.toArray()).every(Number.isFinite)).toBe(true);
    b!.dispose();
    dn.scope(() => {
      dn.gradients(dn.scope(() => graph(x, w).y), x);
    });
    expect(dn.memory().bytesInUse).toBe(before);
    for (const t of [x, w, unused]) t.dispose();
  });

  it('keeps the graph with retainGraph, and frees it otherwise', () => {
    const x = fromNd(uniform(4, 6), [4], true);
    const w = fromNd(uniform(4, 7), [4], true);
    dn.scope(() => {
      const { y } = graph(x, w);
      dn.gradients(y, x, { retainGraph: true });
      dn.gradients(y, w);
      expect(() => dn.gradients(y, x)).toThrow(/already freed/);
    });
    x.dispose();
    w.dispose();
  });

  it('refuses an input that needs no gradient, a non-scalar output without dy, a dy of another shape, unknown options', () => {
    const x = fromNd(uniform(4, 8), [4], true);
    const c = fromNd(uniform(4, 9), [4]);
    dn.scope(() => {
      const y = dn.mul(x, c);
      expect(() => dn.gradients(dn.sum(y), c)).toThrow('gradients: inputs[0] (tensor#');
      expect(() => dn.gradients(dn.sum(y), c)).toThrow(/does not require a gradient, so none flows to it/);
      expect(() => dn.gradients(y, x)).toThrow(/^gradients: output tensor#\d+ \[4\] is not a scalar; pass \{ dy \} of its shape/);
      expect(() => dn.gradients(y, x, { dy: c.share([2, 2]) })).toThrow(/^gradients: dy .* must have the shape of output/);
      expect(() => dn.gradients(y, x, { retain: true } as never)).toThrow(dn.ArgumentError);
      const [g] = dn.gradients(y, [x], { dy: c });
      expect(g!.shape).toEqual([4]);
    });
    x.dispose();
    c.dispose();
  });
});
