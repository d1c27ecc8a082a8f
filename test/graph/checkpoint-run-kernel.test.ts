// dn.runKernel inside dn.checkpoint. The checkpoint's first run records nothing, so runKernel's
// refusal of an input that wants a gradient (its outputs have none) used to pass there and fire
// only in the backward's recomputation, after the forward had been trusted and its loss computed.
// Now it is refused at the checkpoint call, with what it allows outside kept allowed inside:
// dn.noGrad around the kernel, a customOp around it, and inputs that want no gradient.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { expectClose } from '../helpers/close.js';
import { disposeAfterEach, useGpu } from '../helpers/gpu.js';

useGpu();
const { track } = disposeAfterEach();

const DOUBLE = '@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) { if (g.x < params.n) { y[g.x] = 2.0 * x[g.x]; } }';
const double = (x: dn.Tensor): dn.Tensor =>
  dn.runKernel({ name: 'double', code: DOUBLE, inputs: { x }, outputs: { y: x.shape }, params: { n: ['u32', x.size] }, workgroups: Math.ceil(x.size / 64) }).y;

/** double with its backward, 2·dy. */
const doubleOp = dn.customOp({
  name: 'double',
  forward: (_ctx, x: dn.Tensor) => double(x),
  backward: (_ctx, dy: dn.Tensor) => [double(dy)],
});

const X = [0.5, -1, 2, 3];

describe('runKernel inside dn.checkpoint', () => {
  it('on an input that wants a gradient: refused at the call, naming the checkpoint, leaving nothing allocated', () => {
    const x = track(dn.tensor(X, [4], { requiresGrad: true }));
    const before = dn.memory().bytesInUse;
    let error: unknown = null;
    try {
      dn.checkpoint((v) => dn.square(double(v)), x);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(dn.ArgumentError);
    expect((error as Error).message).toMatch(/^runKernel\('double'\): input 'x' \(tensor#\d+ \[4\]\) requires a gradient, and a kernel's outputs have none \(inside dn\.checkpoint, whose backward runs fn again, recording\): give the kernel a backward with dn\.customOp/);
    expect(dn.memory().bytesInUse).toBe(before);
  });

  it('on a weight the function closes over: refused too, since the recomputation would record it', () => {
    const w = track(dn.tensor(X, [4], { requiresGrad: true }));
    const x = track(dn.tensor([1, 1, 1, 1], [4]));
    expect(() => dn.checkpoint((v) => dn.mul(v, double(w)), x)).toThrow(/^runKernel\('double'\): input 'x' .*inside dn\.checkpoint/);
  });

  it('writing a tensor that wants a gradient in place: refused at the call as outside it', () => {
    const w = track(dn.tensor(X, [4], { requiresGrad: true }));
    const x = track(dn.tensor([1, 1, 1, 1], [4], { requiresGrad: true }));
    const step = { name: 'zero', code: '@compute @workgroup_size(4) fn main(@builtin(local_invocation_index) i: u32) { w[i] = 0.0; }', outputs: { w: { tensor: w } }, workgroups: 1 } as const;
    expect(() => dn.checkpoint((v) => (dn.runKernel(step), dn.mul(v, 2)), x)).toThrow(/^runKernel\('zero'\): output 'w' .*requires a gradient; update it in place under dn\.noGrad/);
    expect(() => dn.runKernel(step)).toThrow(/requires a gradient; update it in place/);
  });

  it('under dn.noGrad inside the function: allowed, the kernel\'s output a constant to the gradient', async () => {
    const x = track(dn.tensor(X, [4], { requiresGrad: true }));
    // y = x · double(x), with double(x) a constant: dy/dx = double(x) = 2x.
    const y = track(dn.checkpoint((v) => dn.sum(dn.mul(v, dn.noGrad(() => double(v)))), x));
    y.backward();
    expectClose('x · const(2x)', await y.toArray(), [X.reduce((s, v) => s + 2 * v * v, 0)], { atol: 1e-6, rtol: 1e-6 });
    expectClose('d/dx', await track(x.grad!).toArray(), X.map((v) => 2 * v), { atol: 1e-6, rtol: 1e-6 });
  });

  it('inside a customOp: allowed, and the gradient is the one without the checkpoint', async () => {
    const grads: number[][] = [];
    for (const wrap of [false, true]) {
      const x = track(dn.tensor(X, [4], { requiresGrad: true }));
      const f = (v: dn.Tensor): dn.Tensor => dn.sum(dn.square(doubleOp(v)));
      // scope: the unwrapped run's intermediates are freed as the checkpoint frees its own.
      const y = track(wrap ? dn.checkpoint(f, x) : dn.scope(() => f(x)));
      y.backward();
      grads.push(Array.from(await track(x.grad!).toArray()));
    }
    // d/dx Σ (2x)² = 8x
    expectClose('without checkpoint', grads[0], X.map((v) => 8 * v), { atol: 1e-5, rtol: 1e-6 });
    expect(grads[1]).toEqual(grads[0]);
  });

  it('on inputs that want no gradient, beside ops that do: allowed', async () => {
    const x = track(dn.tensor(X, [4], { requiresGrad: true }));
    const mask = track(dn.tensor([1, 0, 1, 0], [4]));
    const y = track(dn.checkpoint((v, m) => dn.sum(dn.mul(v, double(m))), x, mask));
    y.backward();
    expect(Array.from(await track(x.grad!).toArray())).toEqual([2, 0, 2, 0]);
  });
});
