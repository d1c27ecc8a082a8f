// An optimiser's state (momenta, moments, accumulators) is made on its first step. A training
// step written as PyTorch's loop inside dn.scope (forward, loss, backward, step) must not have
// that state disposed with the step's temporaries.
import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

const MAKERS = [
  ['SGD', (ps: dn.Tensor[]) => new dn.optim.SGD(ps, { lr: 0.1, momentum: 0.9 })],
  ['Adam', (ps: dn.Tensor[]) => new dn.optim.Adam(ps, { lr: 0.1 })],
  ['RMSprop', (ps: dn.Tensor[]) => new dn.optim.RMSprop(ps, { lr: 0.1 })],
  ['Adagrad', (ps: dn.Tensor[]) => new dn.optim.Adagrad(ps, { lr: 0.1 })],
] as const;

describe('optimiser state made inside dn.scope', () => {
  for (const [name, make] of MAKERS) {
    it(`${name}: survives the scope of its first step`, async () => {
      const w = dn.tensor([1, -2, 3], [3], { requiresGrad: true });
      const opt = make([w]);
      const step = () =>
        dn.scope(() => {
          opt.zeroGrad();
          dn.sum(dn.square(w)).backward();
          opt.step();
        });
      step();
      for (const t of opt.stateDict().tensors.values()) expect(t.disposed, `${name} state after the first scoped step`).toBe(false);
      step();
      expect((await w.toArray()).every(Number.isFinite)).toBe(true);
      opt.dispose();
      w.dispose();
    });
  }
});
