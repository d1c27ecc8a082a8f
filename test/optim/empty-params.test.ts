// An optimiser over an empty parameter list stepped nothing, and the run trained nothing, silently;
// it is refused as PyTorch's "optimizer got an empty parameter list" is.
import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import type { Optimizer } from '../../src/optim/optimizer.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

const builders: [string, (ps: dn.Tensor[] | dn.optim.NamedParameter[]) => Optimizer][] = [
  ['Adam', (ps) => new dn.optim.Adam(ps)],
  ['Adam.keras', (ps) => dn.optim.Adam.keras(ps)],
  ['AdamW', (ps) => new dn.optim.AdamW(ps)],
  ['SGD', (ps) => new dn.optim.SGD(ps, { momentum: 0.9 })],
  ['RMSprop', (ps) => new dn.optim.RMSprop(ps)],
  ['RMSprop.keras', (ps) => dn.optim.RMSprop.keras(ps)],
  ['Adagrad', (ps) => new dn.optim.Adagrad(ps)],
];

describe('an optimiser over no parameters', () => {
  it('is refused by every optimiser, naming it and the likely causes', () => {
    for (const [kind, make] of builders) {
      let error: unknown;
      try {
        make([]);
      } catch (e) {
        error = e;
      }
      expect(error, kind).toBeInstanceOf(dn.ArgumentError);
      expect((error as Error).message, kind).toMatch(new RegExp(`^${kind}: got an empty parameter list, so it would train nothing`));
      expect((error as Error).message).toMatch(/no trainable parameters, every parameter frozen .* a filter that matched nothing/);
    }
  });

  it("is refused for a model whose parameters are all frozen (its trainableParameters() is empty)", () => {
    const model = new dn.nn.Linear(2, 1);
    model.freeze();
    expect(() => new dn.optim.Adam(model.trainableParameters())).toThrow(dn.ArgumentError);
    // Control: unfrozen, the same model's parameters make an optimiser.
    model.unfreeze();
    const adam = new dn.optim.Adam(model.trainableParameters());
    expect(adam.parameterTensors()).toHaveLength(2);
    adam.dispose();
    model.dispose();
  });

  it('control: a non-empty list builds every optimiser, and a step updates the parameter', async () => {
    for (const [kind, make] of builders) {
      const w = dn.tensor([1, -2], [2], { requiresGrad: true, name: 'w' });
      const opt = make([w]);
      expect(opt.kind).toBe(kind.replace('.keras', '')); // a Keras builder makes the optimiser of its kind
      w.grad = dn.tensor([0.5, -0.5], [2]);
      opt.step();
      const after = Array.from(await w.toArray());
      expect(after[0], kind).toBeLessThan(1);
      expect(after[1], kind).toBeGreaterThan(-2);
      opt.dispose();
      w.zeroGrad();
      w.dispose();
    }
  });
});
