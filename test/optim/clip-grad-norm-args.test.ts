// clipGradNorm's arguments: PyTorch's norm_type and error_if_nonfinite (its third and fourth) are
// refused rather than ignored (an Infinity norm_type clipped by the L2 norm, silently), and
// model.namedParameters() is taken as the optimisers take it.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

describe('clipGradNorm arguments', () => {
  it("refuses PyTorch's norm_type and error_if_nonfinite", () => {
    const p = dn.tensor([3, 4], [2], { requiresGrad: true });
    p.grad = dn.tensor([3, 4], [2]);
    const call = dn.optim.clipGradNorm as (...args: unknown[]) => dn.Tensor;
    expect(() => call([p], 1, Infinity)).toThrow(dn.ArgumentError);
    expect(() => call([p], 1, 2, true)).toThrow(/takes \(params, maxNorm\) only/);
    p.dispose();
  });

  it('takes { name, tensor } entries: the norm and the clipped gradients match the bare tensors', async () => {
    const net = new dn.nn.Linear(2, 1);
    const [w, b] = net.parameters();
    w.grad = dn.tensor([[3], [0]]);
    b.grad = dn.tensor([4]);
    const norm = dn.optim.clipGradNorm(net.namedParameters(), 1);
    expect((await norm.toArray())[0]).toBeCloseTo(5, 5);
    expect([...(await w.grad!.toArray())].map((v) => +v.toFixed(5))).toEqual([0.6, 0]);
    expect((await b.grad!.toArray())[0]).toBeCloseTo(0.8, 5);
    norm.dispose();
    net.zeroGrad();
    net.dispose();
  });
});
