// An optimiser's learning rate set after construction (a schedule, or a user's opt.lr = x) is checked
// as the constructor's is: a plain field took a string or NaN, and the next step multiplied by it.
import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

describe('optimizer.lr', () => {
  it('refuses a string, NaN, infinity and a negative rate, naming the optimiser, and keeps the old rate', () => {
    const w = dn.tensor([1, 2], [2], { requiresGrad: true });
    for (const opt of [new dn.optim.SGD([w], { lr: 0.1 }), new dn.optim.Adam([w], { lr: 0.1 })]) {
      for (const bad of ['0.1', Number.NaN, Infinity, -1]) {
        expect(() => {
          opt.lr = bad as number;
        }, String(bad)).toThrow(dn.ArgumentError);
        expect(opt.lr).toBe(0.1);
      }
      expect(() => {
        opt.lr = '0.1' as unknown as number;
      }).toThrow(new RegExp(`^${opt.kind}: lr`));
      opt.dispose();
    }
    w.dispose();
  });

  it('takes a new rate for the next step', async () => {
    const w = dn.tensor([1, 2], [2], { requiresGrad: true });
    const opt = new dn.optim.SGD([w], { lr: 0.1 });
    opt.lr = 0.5;
    dn.scope(() => dn.sum(w).backward());
    opt.step();
    expect(Array.from(await w.toArray())).toEqual([0.5, 1.5]);
    opt.dispose();
    w.dispose();
  });
});
