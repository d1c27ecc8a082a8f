// Gradient clipping by global norm against its float64 reference: clipped and unclipped cases,
// parameters without a gradient left alone, and fit's clipGradNorm option.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { clipByGlobalNorm } from '../../src/kernels/clip.js';
import { clipByGlobalNormRef } from '../../src/reference/clip.js';
import { expectClose } from '../helpers/close.js';
import { useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

// Sizes across the reduction's shapes: a scalar-like bias, an odd size, a vec4 multiple, and a
// tensor past one workgroup's 256 threads.
const SHAPES = [[1], [7], [3, 3, 4, 8], [33, 40]];

describe('clipByGlobalNorm', () => {
  for (const maxNorm of [0.5, 1e3]) {
    it(`maxNorm ${maxNorm} (${maxNorm < 1 ? 'clips' : 'leaves the gradients as they are'}): matches the reference`, async () => {
      const host = SHAPES.map((s, k) => Float32Array.from(uniform(s.reduce((a, b) => a * b, 1), 70 + k)));
      const grads = host.map((h, k) => dn.tensor(h, SHAPES[k]));
      const { clipped, norm } = clipByGlobalNorm(grads, maxNorm);
      const want = clipByGlobalNormRef(host, maxNorm);
      expect(want.norm > maxNorm).toBe(maxNorm < 1);
      // A sum of squares of ~1400 float32 values: rtol 1e-4 (the default) holds.
      expectClose('norm', [await norm.item()], [want.norm]);
      for (const [k, c] of clipped.entries()) {
        expect(c.shape).toEqual(SHAPES[k]);
        expectClose(`clipped ${k}`, await c.toArray(), want.clipped[k]);
      }
      for (const t of [...grads, ...clipped, norm]) t.dispose();
    });
  }

  // A NaN gradient makes the norm NaN and so the factor; WGSL's min(1, NaN) may return the 1 (it
  // did on lavapipe), which left every other gradient unclipped. PyTorch (and the reference) scale
  // them all by NaN. An infinite one makes the factor 0: finite gradients 0, the infinite one NaN.
  for (const [what, bad] of [['NaN', Number.NaN], ['an infinity', Infinity]] as const) {
    it(`a gradient holding ${what}: the norm and the clipped gradients as the reference's, NaN where it has NaN`, async () => {
      const host = SHAPES.map((s, k) => Float32Array.from(uniform(s.reduce((a, b) => a * b, 1), 80 + k)));
      host[2][5] = bad;
      const grads = host.map((h, k) => dn.tensor(h, SHAPES[k]));
      const { clipped, norm } = clipByGlobalNorm(grads, 0.5);
      const want = clipByGlobalNormRef(host, 0.5);
      expect(await norm.item()).toBe(want.norm);
      for (const [k, c] of clipped.entries()) {
        const got = await c.toArray();
        expect([...got].map(Number.isNaN), `clipped ${k}: NaN where the reference has NaN`).toEqual([...want.clipped[k]].map(Number.isNaN));
        expect([...got].filter((v) => !Number.isNaN(v))).toEqual([...want.clipped[k]].filter((v) => !Number.isNaN(v)));
      }
      for (const t of [...grads, ...clipped, norm]) t.dispose();
    });
  }

  it('no gradients: a zero norm and nothing else', async () => {
    const { clipped, norm } = clipByGlobalNorm([], 1);
    expect(clipped).toEqual([]);
    expect(await norm.item()).toBe(0);
    norm.dispose();
  });
});

describe('optim.clipGradNorm', () => {
  it('swaps in the clipped gradients, skips parameters without one, returns the norm', async () => {
    const a = dn.tensor([3, 0], [2], { requiresGrad: true });
    const b = dn.tensor([0, 4], [2], { requiresGrad: true });
    const frozen = dn.tensor([1], [1]);
    const loss = dn.scope(() => dn.sum(dn.add(dn.mul(a, a), dn.mul(b, b))));
    loss.backward(); // grads 2a = [6, 0] and 2b = [0, 8]: norm 10
    const norm = dn.optim.clipGradNorm([a, b, frozen], 5);
    expectClose('norm', [await norm.item()], [10]);
    expectClose('a.grad', await a.grad!.toArray(), [3, 0]);
    expectClose('b.grad', await b.grad!.toArray(), [0, 4]);
    expect(frozen.grad).toBeNull();
    expect(() => dn.optim.clipGradNorm([a], 0)).toThrow(dn.ArgumentError);
    for (const t of [a, b, frozen, loss, norm]) t.dispose();
  });

  it('fit with clipGradNorm steps on the clipped gradient', async () => {
    // One parameter w, loss (w - 10)² at w = 0: gradient -20. SGD with lr 1 moves w by the
    // clipped gradient, 0.5 with clipGradNorm 0.5 against 20 without.
    for (const [clip, want] of [[0.5, 0.5], [undefined, 20]] as const) {
      const model = new (class extends dn.Module {
        w = this.addParameter('w', dn.tensor([0], [1, 1], { requiresGrad: true }));
        forward(x: dn.Tensor): dn.Tensor {
          return dn.matmul(x, this.w);
        }
      })();
      const optimizer = new dn.optim.SGD(model.parameters(), { lr: 1 });
      const data = { batches: () => [{ x: dn.tensor([1], [1, 1]), y: dn.tensor([10], [1, 1]) }] };
      const loss = (p: dn.Tensor, y: dn.Tensor) => dn.sum(dn.square(dn.sub(p, y)));
      await dn.train.fit(model, data, null, { epochs: 1, optimizer, loss, clipGradNorm: clip });
      expectClose(`w after one step (clip ${clip})`, await model.w.toArray(), [want]);
      optimizer.dispose();
      model.dispose();
    }
  });
});
