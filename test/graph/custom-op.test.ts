// dn.customOp (src/graph/custom-op.ts): a user-written backward on the tape. The op under test is a
// runKernel forward, y = x² · a + b (a a tensor, b a number), whose backward is written with dawnet
// ops; its gradients are checked against float64 central differences of the same function, as every
// built-in op's. Then the rules: zeros for an unused output's gradient, one result per argument,
// shapes checked, tensors made before the call never taken over by the node, saved tensors kept
// past the user's dispose(), nothing recorded (or kept) without a gradient to compute.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { expectClose } from '../helpers/close.js';
import { expectThrows } from '../helpers/errors.js';
import { numericGrad } from '../helpers/finite-diff.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

/** y = x * x * a + b, elementwise, by a kernel of the user's. */
function squareScaleKernel(x: dn.Tensor, a: dn.Tensor, b: number): dn.Tensor {
  return dn.runKernel({
    name: 'squareScale',
    code: `@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  if (g.x < params.n) { y[g.x] = x[g.x] * x[g.x] * a[g.x] + params.b; }
}`,
    inputs: { x, a },
    outputs: { y: x.shape },
    params: { n: ['u32', x.size], b: ['f32', b] },
    workgroups: Math.ceil(x.size / 64),
  }).y;
}

const squareScale = dn.customOp({
  name: 'squareScale',
  forward(ctx, x: dn.Tensor, a: dn.Tensor, b: number) {
    ctx.save(x, a);
    return squareScaleKernel(x, a, b);
  },
  backward(ctx, dy) {
    const [x, a] = ctx.saved;
    const dx = ctx.needsInputGrad[0] ? dn.mul(dy, dn.scale(dn.mul(x, a), 2)) : null;
    const da = ctx.needsInputGrad[1] ? dn.mul(dy, dn.square(x)) : null;
    return [dx, da, null];
  },
});

describe('customOp', () => {
  it("gives the user's backward to the tape: gradients match float64 finite differences", async () => {
    const n = 150;
    const xs = uniform(n, 11);
    const as = uniform(n, 12);
    const r = uniform(n, 13); // L = Σ r · y, so dL/dy = r
    const x = fromNd(xs, [3, 50], true);
    const a = fromNd(as, [3, 50], true);
    const weights = fromNd(r, [3, 50]);
    const y = squareScale(x, a, 0.5);
    expect(y.requiresGrad).toBe(true);
    dn.scope(() => dn.sum(dn.mul(y, weights)).backward());
    const f = (xv: Float64Array, av: Float64Array) => xv.reduce((s, v, i) => s + r[i] * (v * v * av[i] + 0.5), 0);
    expectClose('y', await y.toArray(), Float64Array.from(xs, (v, i) => v * v * as[i] + 0.5), { atol: 3e-7, rtol: 0 });
    // Float32 products of values below 2 against float64 differences (accurate to ~1e-9): F32.
    expectClose('dx', await x.grad!.toArray(), numericGrad((v) => f(v, as), xs));
    expectClose('da', await a.grad!.toArray(), numericGrad((v) => f(xs, v), as));
    for (const t of [x, a, weights, y]) t.dispose();
  });

  it('computes no gradient for an argument that needs none, and accumulates over two uses', async () => {
    const x = dn.tensor([1, 2, 3], undefined, { requiresGrad: true });
    const a = dn.tensor([2, 2, 2]);
    const y1 = squareScale(x, a, 0);
    const y2 = squareScale(x, a, 1);
    dn.scope(() => dn.add(dn.sum(y1), dn.sum(y2)).backward());
    expect(Array.from(await x.grad!.toArray())).toEqual([8, 16, 24]); // 2 · 2x · a
    expect(a.grad).toBeNull();
    for (const t of [x, a, y1, y2]) t.dispose();
  });

  it('passes zeros for an output nothing used, and takes a dy returned as it stands', async () => {
    const split = dn.customOp({
      name: 'passAndDouble',
      forward: (_ctx, x: dn.Tensor) => [dn.scale(x, 1), dn.scale(x, 2)],
      backward: (_ctx, dFirst, dSecond) => dn.add(dFirst, dn.scale(dSecond, 2)),
    });
    const x = dn.tensor([1, -1], undefined, { requiresGrad: true });
    const [first, second] = split(x);
    dn.scope(() => dn.sum(dn.mul(second, second)).backward()); // first is unused: its gradient arrives as zeros
    expect(Array.from(await x.grad!.toArray())).toEqual([8, -8]); // d(4x²)/dx
    for (const t of [x, first, second]) t.dispose();

    const identity = dn.customOp({ name: 'identity', forward: (_ctx, v: dn.Tensor) => v, backward: (_ctx, dy) => dy });
    const z = dn.tensor([3, 4], undefined, { requiresGrad: true });
    const out = identity(z);
    expect(out).not.toBe(z); // a new handle: the node does not take over its own input
    expect(z.node).toBeNull();
    dn.scope(() => dn.sum(dn.scale(out, 3)).backward());
    expect(Array.from(await z.grad!.toArray())).toEqual([3, 3]);
    expect(Array.from(await z.toArray())).toEqual([3, 4]); // still readable
    z.dispose();
    out.dispose();
  });

  it('keeps saved tensors after the user disposes them, and frees them after backward', async () => {
    const x = dn.tensor([1, 2], undefined, { requiresGrad: true });
    const a = dn.tensor([3, 4]);
    const y = squareScale(x, a, 0);
    a.dispose();
    const node = y.node!;
    expect(node.saved.map((t) => t.disposed)).toEqual([false, false]);
    const loss = dn.sum(y);
    loss.backward();
    expect(Array.from(await x.grad!.toArray())).toEqual([6, 16]); // 2x · a, with the a disposed above
    expect(node.saved, 'freed once backward has run').toEqual([]);
    for (const t of [x, y, loss]) t.dispose();
  });

  it('records nothing and keeps nothing when no argument needs a gradient', async () => {
    const x = dn.tensor([1, 2]);
    const a = dn.tensor([1, 1]);
    const before = dn.memory().bytesInUse;
    const y = squareScale(x, a, 0);
    expect(y.requiresGrad).toBe(false);
    expect(y.node).toBeNull();
    y.dispose();
    expect(dn.memory().bytesInUse).toBe(before);
    dn.scope(() => {
      const z = dn.noGrad(() => squareScale(dn.tensor([1], undefined, { requiresGrad: true }), dn.tensor([1]), 0));
      expect(z.node).toBeNull();
    });
    for (const t of [x, a]) t.dispose();
  });
});

describe('customOp refuses, naming the op', () => {
  const one = dn.tensor;
  it('a backward that returns too few gradients', () => {
    const bad = dn.customOp({ name: 'bad', forward: (_c, x: dn.Tensor, y: dn.Tensor) => dn.add(x, y), backward: (_c, dy) => [dy] });
    const x = one([1], undefined, { requiresGrad: true });
    const y = bad(x, x);
    const loss = dn.sum(y);
    expectThrows(() => loss.backward(), dn.ArgumentError, 'bad: backward must return one gradient per argument of forward (2)');
    for (const t of [x, y, loss]) t.dispose();
  });

  it('a gradient of the wrong shape, and one for a number', () => {
    const wrongShape = dn.customOp({ name: 'wrongShape', forward: (_c, x: dn.Tensor) => dn.sum(x), backward: (_c, dy) => dy });
    const forNumber = dn.customOp({ name: 'forNumber', forward: (_c, x: dn.Tensor, _k: number) => dn.scale(x, 2), backward: (_c, dy) => [dy, dy] });
    const x = one([1, 2], undefined, { requiresGrad: true });
    const s = wrongShape(x);
    expectThrows(() => s.backward(), dn.ShapeError, "wrongShape: backward's gradient for argument 0 has shape []; the argument");
    const t = forNumber(x, 3);
    const loss = dn.sum(t);
    expectThrows(() => loss.backward(), dn.ArgumentError, 'forNumber: backward returned a gradient for argument 1, the number 3');
    for (const v of [x, s, t, loss]) v.dispose();
  });

  it('a forward that returns no tensor, a disposed argument, a definition without backward', () => {
    const empty = dn.customOp({ name: 'empty', forward: () => [] as dn.Tensor[], backward: () => null });
    const x = one([1]);
    const before = dn.memory().bytesInUse;
    expectThrows(() => empty(), dn.ArgumentError, 'empty: forward must return a Tensor or a non-empty array of Tensors');
    const leaky = dn.customOp({ name: 'leaky', forward: (_c, v: dn.Tensor) => [dn.scale(v, 2), 7 as never], backward: () => null });
    expectThrows(() => leaky(x), dn.ArgumentError, 'leaky: forward must return a Tensor or an array of Tensors; item 1 is the number 7');
    expect(dn.memory().bytesInUse, 'the forward made a tensor before failing: freed').toBe(before);
    const gone = one([1]);
    gone.dispose();
    expectThrows(() => leaky(gone), dn.DisposedError, 'leaky: argument 0');
    expectThrows(() => dn.customOp({ name: 'half', forward: () => x } as never), dn.ArgumentError, "customOp('half'): backward must be a function");
    x.dispose();
  });
});
