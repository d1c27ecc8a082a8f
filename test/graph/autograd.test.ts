import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { reshape } from '../../src/graph/reshape.js';
import { expectClose } from '../helpers/close.js';
import { expectThrows } from '../helpers/errors.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

describe('autograd', () => {
  it('a tensor used twice gets both contributions', async () => {
    const x = dn.tensor([1, -2, 3], [3], { requiresGrad: true });
    // L = sum(x*x + 3x) => dL/dx = 2x + 3
    const loss = dn.scope(() => dn.sum(dn.add(dn.mul(x, x), dn.scale(x, 3))));
    loss.backward();
    expectClose('grad', await x.grad!.toArray(), [5, -1, 9]);
    loss.dispose();
    x.dispose();
  });

  it('accumulates into .grad across backward calls until zeroGrad', async () => {
    const x = dn.tensor([2, 4], [2], { requiresGrad: true });
    for (let i = 0; i < 2; i++) {
      const l = dn.scope(() => dn.sum(dn.square(x)));
      l.backward();
      l.dispose();
    }
    expectClose('accumulated', await x.grad!.toArray(), [8, 16]);
    x.zeroGrad();
    expect(x.grad).toBeNull();
    x.dispose();
  });

  it('noGrad records nothing and frozen inputs get no gradient', async () => {
    const w = dn.tensor([1, 2], [2], { requiresGrad: true });
    const frozen = dn.tensor([3, 4], [2], { requiresGrad: false });
    const y = dn.noGrad(() => dn.mul(w, frozen));
    expect(y.requiresGrad).toBe(false);
    expect(y.node).toBeNull();
    const l = dn.scope(() => dn.sum(dn.mul(w, frozen)));
    l.backward();
    expect(frozen.grad).toBeNull();
    expectClose('w grad', await w.grad!.toArray(), [3, 4]);
    for (const t of [w, frozen, y, l]) t.dispose();
  });

  it('disposing intermediates does not cut the graph', async () => {
    const x = dn.tensor([0.5, -1.5], [2], { requiresGrad: true });
    const a = dn.tanh(x);
    const b = dn.square(a);
    a.dispose(); // the user is done with a; backward still needs the path through it
    const l = dn.sum(b);
    b.dispose();
    l.backward();
    const want = [0.5, -1.5].map((v) => 2 * Math.tanh(v) * (1 - Math.tanh(v) ** 2));
    expectClose('grad through disposed intermediates', await x.grad!.toArray(), want);
    l.dispose();
    x.dispose();
  });

  it('a graph that is never backpropagated frees its saved tensors when disposed', async () => {
    const x = dn.tensor([1, 2, 3, 4], [4], { requiresGrad: true });
    const before = dn.memory().bytesInUse;
    const l = dn.scope(() => dn.sum(dn.sigmoid(dn.exp(x))));
    expect(dn.memory().bytesInUse).toBeGreaterThan(before);
    l.dispose();
    expect(dn.memory().bytesInUse).toBe(before);
    x.dispose();
  });

  it('a second backward through a freed graph is an error, retainGraph allows it', async () => {
    const x = dn.tensor([1, 2], [2], { requiresGrad: true });
    const l = dn.scope(() => dn.sum(dn.exp(x)));
    l.backward(undefined, { retainGraph: true });
    l.backward(undefined, { retainGraph: true });
    l.backward();
    expect(() => l.backward()).toThrow(dn.ShapeError);
    expectClose('three backward passes', await x.grad!.toArray(), [1, 2].map((v) => 3 * Math.exp(v)), { rtol: 1e-5 });
    l.dispose();
    x.dispose();
  });

  it('reshape is a view whose gradient flows back in the original shape', async () => {
    const x = dn.tensor([1, 2, 3, 4, 5, 6], [2, 3], { requiresGrad: true });
    const y = reshape(x, [3, -1]);
    expect(y.shape).toEqual([3, 2]);
    const l = dn.scope(() => dn.sum(dn.mul(y, dn.tensor([1, 2], [2]))));
    l.backward();
    expect(x.grad!.shape).toEqual([2, 3]);
    expectClose('reshape grad', await x.grad!.toArray(), [1, 2, 1, 2, 1, 2]);
    expect(() => reshape(x, [4, -1])).toThrow(dn.ShapeError);
    for (const t of [x, y, l]) t.dispose();
  });

  it('backward(dy) refuses a dy whose shape is not the output\'s, before touching any grad', () => {
    const x = dn.tensor([1, 2, 3, 4, 5, 6], [2, 3], { requiresGrad: true });
    const y = dn.scope(() => dn.mul(x, x));
    const v = dn.tensor([1, 2, 3], [3], { requiresGrad: true });
    const twice = dn.scope(() => dn.add(v, v));
    const bad = [
      [y, dn.zeros([3, 2]), 'same size, another shape'],
      [y, dn.zeros([6]), 'same size, flat'],
      [y, dn.zeros([2, 4]), 'larger'],
      [v, dn.zeros([2]), 'smaller, on a leaf'],
      [twice, dn.zeros([]), 'a scalar for a vector'],
      [twice, dn.zeros([1, 3]), 'an extra axis of 1'],
    ] as const;
    const before = dn.memory().bytesInUse;
    for (const [out, dy, what] of bad) expectThrows(() => out.backward(dy), dn.ShapeError, `backward: dy ${dy.describe()} must have the shape of`, what);
    expect(dn.memory().bytesInUse).toBe(before);
    expect(x.grad).toBeNull();
    expect(v.grad).toBeNull();
    for (const t of [x, y, v, twice, ...bad.map(([, dy]) => dy)]) t.dispose();
  });

  it('backward(dy) refuses a dy that is not a live Tensor by kind', () => {
    const x = dn.tensor([1, 2, 3], [3], { requiresGrad: true });
    const y = dn.scope(() => dn.square(x));
    for (const dy of [2, [1, 1, 1], 'ones', new Float32Array(3)]) {
      expectThrows(() => y.backward(dy as unknown as dn.Tensor), dn.ArgumentError, `backward: dy must be a Tensor of the shape of ${y.describe()} (or options`, String(dy));
    }
    const gone = dn.full([3], 1);
    gone.dispose();
    expectThrows(() => y.backward(gone), dn.DisposedError, 'backward: dy');
    expect(x.grad).toBeNull();
    for (const t of [x, y]) t.dispose();
  });

  it('backward({ retainGraph }) takes the options where dy goes, as PyTorch\'s backward(retain_graph=True)', async () => {
    const x = dn.tensor([1, 2], [2], { requiresGrad: true });
    const l = dn.scope(() => dn.sum(dn.exp(x)));
    l.backward({ retainGraph: true } as never);
    l.backward();
    expectClose('two backward passes', await x.grad!.toArray(), [1, 2].map((v) => 2 * Math.exp(v)), { rtol: 1e-5 });
    expectThrows(() => l.backward({ retainGrph: true } as never), dn.ArgumentError, "backward: unknown option 'retainGrph'");
    expectThrows(() => l.backward({ retainGraph: 'yes' } as never), dn.ArgumentError, 'backward: retainGraph must be true or false');
    expectThrows(() => l.backward(undefined, { retainGraph: 1 as never }), dn.ArgumentError, 'backward: retainGraph must be true or false');
    // The options in their own place are checked as strictly: a misspelt key would drop retainGraph.
    expectThrows(() => l.backward(undefined, { retainGrph: true } as never), dn.ArgumentError, "backward: unknown option 'retainGrph'");
    expectThrows(() => l.backward(undefined, null as never), dn.ArgumentError, 'backward: options');
    l.dispose();
    x.dispose();
  });

  it('a disposed tensor used again throws DisposedError', () => {
    const x = dn.tensor([1], [1]);
    x.dispose();
    expect(() => dn.relu(x)).toThrow(dn.DisposedError);
  });
});
