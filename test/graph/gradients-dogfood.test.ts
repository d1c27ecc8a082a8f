// dn.gradients used as a user would: inputs from two branches, an intermediate and a leaf asked for
// together, the output as its own input, the parts of a split, inside noGrad and after backward,
// with retainGraph then backward, and gradients of a gradient. Each result is checked against
// float64 derivatives worked on the host, or against backward()'s own .grad bit for bit.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { expectClose } from '../helpers/close.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

/** x [4] and w [4] needing gradients, disposed (with any .grad) after fn however it ends. */
async function withLeaves(seed: number, fn: (x: dn.Tensor, w: dn.Tensor, xs: Float64Array, ws: Float64Array) => Promise<void> | void): Promise<void> {
  const xs = uniform(4, seed);
  const ws = uniform(4, seed + 1);
  const x = fromNd(xs, [4], true);
  const w = fromNd(ws, [4], true);
  try {
    await fn(x, w, xs, ws);
  } finally {
    x.dispose();
    w.dispose();
  }
}

describe('gradients through a graph of several branches', () => {
  it("sums an input's branches, gives an intermediate's own gradient with it, and matches backward bit for bit", () =>
    withLeaves(1, async (x, w, xs, ws) => {
      const before = dn.memory().bytesInUse;
      // loss = Σ tanh(x·w) + Σ x²: x reaches the loss by two branches, h by one.
      const forward = () => dn.scope(() => {
        const h = dn.tanh(dn.mul(x, w));
        return { h, loss: dn.add(dn.sum(h), dn.sum(dn.square(x))) };
      });
      const { h, loss } = forward();
      const [gx, gh, gw] = dn.gradients(loss, [x, h, w]);
      const t = xs.map((v, i) => Math.tanh(v * ws[i]));
      expectClose('dloss/dx', await gx!.toArray(), t.map((v, i) => (1 - v * v) * ws[i] + 2 * xs[i]));
      expectClose('dloss/dh', await gh!.toArray(), [1, 1, 1, 1]);
      const again = forward();
      again.loss.backward();
      expect(Array.from(await gx!.toArray())).toEqual(Array.from(await x.grad!.toArray()));
      expect(Array.from(await gw!.toArray())).toEqual(Array.from(await w.grad!.toArray()));
      for (const r of [gx, gh, gw, h, loss, again.h, again.loss]) r!.dispose();
      x.zeroGrad();
      w.zeroGrad();
      expect(dn.memory().bytesInUse).toBe(before);
    }));

  it('gives the output asked for as its own input dy itself, and each part of a split its own gradient', () =>
    withLeaves(3, async (x, w, xs, ws) => {
      const y = dn.mul(x, w);
      const dy = fromNd([1, -2, 3, -4], [4]);
      const [gy, gx] = dn.gradients(y, [y, x], { dy });
      dy.dispose();
      // A handle of its own: the caller's dy may go while the gradient is read.
      expect(Array.from(await gy!.toArray())).toEqual([1, -2, 3, -4]);
      expectClose('dy/dx · dy', await gx!.toArray(), ws.map((v, i) => v * [1, -2, 3, -4][i]));
      const { a, b, loss } = dn.scope(() => {
        const [a, b] = dn.split(dn.square(x), [1, 3], 0);
        return { a, b, loss: dn.add(dn.sum(dn.scale(a, 5)), dn.sum(dn.mul(b, dn.sum(a)))) };
      });
      const [ga, gb] = dn.gradients(loss, [a, b]);
      // d/da = 5 + Σ b, d/db = a (a a one-element part).
      const sq = xs.map((v) => v * v);
      expectClose('dloss/da', await ga!.toArray(), [5 + sq[1] + sq[2] + sq[3]]);
      expectClose('dloss/db', await gb!.toArray(), [sq[0], sq[0], sq[0]]);
      for (const r of [gy, gx, y, a, b, loss, ga, gb]) r!.dispose();
    }));
});

describe('gradients and the graph', () => {
  it('keeps the graph for a backward() with retainGraph, which then gives .grad the same values', () =>
    withLeaves(5, async (x) => {
      const y = dn.scope(() => dn.sum(dn.exp(x)));
      const g = dn.gradients(y, x, { retainGraph: true })!;
      y.backward();
      expect(Array.from(await x.grad!.toArray())).toEqual(Array.from(await g.toArray()));
      expect(() => y.backward()).toThrow(/already freed/);
      g.dispose();
      y.dispose();
    }));

  it('works inside noGrad on a graph recorded outside it, and refuses an output recorded inside', () =>
    withLeaves(6, async (x, _w, xs) => {
      const y = dn.scope(() => dn.sum(dn.square(x)));
      const g = dn.noGrad(() => dn.gradients(y, x))!;
      expectClose('d Σx² / dx', await g.toArray(), xs.map((v) => 2 * v));
      const z = dn.noGrad(() => dn.sum(x));
      expect(() => dn.gradients(z, x)).toThrow(dn.ShapeError);
      for (const t of [y, g, z]) t.dispose();
    }));

  it('refuses a graph an earlier backward() freed, naming the op, with nothing allocated', () =>
    withLeaves(7, async (x, w) => {
      const y = dn.scope(() => dn.sum(dn.mul(x, w)));
      y.backward();
      x.zeroGrad();
      w.zeroGrad();
      const before = dn.memory().bytesInUse;
      expect(() => dn.gradients(y, x)).toThrow(/backward: the graph through sum was already freed/);
      expect(dn.memory().bytesInUse).toBe(before);
      y.dispose();
    }));

  // As torch.autograd.grad(y2, h), only the nodes between y2 and h run: what lies below h is not
  // needed, so neither freed by an earlier backward nor consumed by this call matters. Running the
  // whole graph below the output, both threw "the graph through tanh was already freed".
  it('needs only the part of the graph above an intermediate input, freed below by a backward', () =>
    withLeaves(10, async (x, w) => {
      const { h, y1, y2 } = dn.scope(() => {
        const h = dn.tanh(dn.mul(x, w));
        return { h, y1: dn.sum(h), y2: dn.sum(dn.square(h)) };
      });
      try {
        y1.backward();
        dn.gradients(y2, h)?.dispose();
      } finally {
        for (const t of [h, y1, y2]) t.dispose();
        x.zeroGrad();
        w.zeroGrad();
      }
    }));

  it('leaves the part of the graph below an intermediate input for a later backward', () =>
    withLeaves(8, async (x, w) => {
      const { h, y1, y2 } = dn.scope(() => {
        const h = dn.tanh(dn.mul(x, w));
        return { h, y1: dn.sum(h), y2: dn.sum(dn.square(h)) };
      });
      try {
        const gh = dn.gradients(y2, h);
        gh?.dispose();
        y1.backward();
        expect(x.grad).not.toBeNull();
      } finally {
        for (const t of [h, y1, y2]) t.dispose();
        x.zeroGrad();
        w.zeroGrad();
      }
    }));
});

describe('gradients of a gradient', () => {
  it('hands back an unrecorded gradient (no create_graph): it has no gradient of its own, and in a new loss it counts as a constant', () =>
    withLeaves(9, async (x, _w, xs) => {
      const y = dn.scope(() => dn.sum(dn.pow(x, 3)));
      const g = dn.gradients(y, x)!;
      expect(g.requiresGrad).toBe(false);
      const gs = dn.sum(g);
      expect(() => dn.gradients(gs, x)).toThrow(/does not require a gradient/);
      // d/dx Σ g·x with g = 3x² held constant is g (PyTorch's answer without create_graph),
      // not the 9x² a recorded g would give.
      const penalty = dn.scope(() => dn.sum(dn.mul(g, x)));
      const gp = dn.gradients(penalty, x)!;
      expectClose('g as a constant', await gp.toArray(), xs.map((v) => 3 * v * v));
      for (const t of [y, g, gs, penalty, gp]) t.dispose();
    }));
});
