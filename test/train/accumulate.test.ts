// fit's gradient accumulation: two batches accumulated take the same step as one batch holding
// both (the mean loss over the samples), and a trailing shorter group still steps.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { expectClose } from '../helpers/close.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

class Scale extends dn.Module {
  w = this.addParameter('w', dn.tensor([[0.5]], undefined, { requiresGrad: true }));
  forward(x: dn.Tensor): dn.Tensor {
    return dn.matmul(x, this.w);
  }
}

const loss = (p: dn.Tensor, y: dn.Tensor) => dn.mean(dn.square(dn.sub(p, y)));

/** w after one epoch of SGD (lr 0.1) over `batches` ([x, y] rows each), and the optimiser steps taken. */
async function trainedW(batches: [number[], number[]][], accumulate?: number): Promise<{ w: number; steps: number }> {
  const model = new Scale();
  const optimizer = new dn.optim.SGD(model.parameters(), { lr: 0.1 });
  let steps = 0;
  const original = optimizer.step.bind(optimizer);
  optimizer.step = () => {
    steps++;
    original();
  };
  const data = { batches: () => batches.map(([x, y]) => ({ x: dn.tensor(x.map((v) => [v])), y: dn.tensor(y.map((v) => [v])) })) };
  await dn.train.fit(model, data, null, { epochs: 1, optimizer, loss, accumulate });
  const w = await model.w.item();
  optimizer.dispose();
  model.dispose();
  return { w, steps };
}

describe('fit with accumulate', () => {
  it('two batches accumulated step as one batch of both', async () => {
    const one = await trainedW([[[1, 2], [10, 4]]]);
    const two = await trainedW([[[1], [10]], [[2], [4]]], 2);
    const plain = await trainedW([[[1], [10]], [[2], [4]]]);
    expect([one.steps, two.steps, plain.steps]).toEqual([1, 1, 2]);
    expectClose('accumulated w', [two.w], [one.w]);
    // Without accumulation the two steps land elsewhere: the test can tell them apart.
    expect(Math.abs(plain.w - one.w)).toBeGreaterThan(0.01);
  });

  it('a last, shorter group steps too: three batches by two make two steps', async () => {
    expect((await trainedW([[[1], [10]], [[2], [4]], [[3], [1]]], 2)).steps).toBe(2);
  });

  it('accumulate must be a whole number of batches', async () => {
    const model = new Scale();
    const optimizer = new dn.optim.SGD(model.parameters());
    await expect(dn.train.fit(model, { batches: () => [] }, null, { epochs: 1, optimizer, loss, accumulate: 1.5 })).rejects.toThrow(/^fit: accumulate/);
    optimizer.dispose();
    model.dispose();
  });
});
