// fit's gradient accumulation: two batches accumulated take the same step as one batch holding
// both (the mean loss over the samples), and a trailing shorter group still steps, on the mean
// over its own batches.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { expectClose } from '../helpers/close.js';
import { useGpu } from '../helpers/gpu.js';
import { loss, Scale } from '../helpers/scale-model.js';

useGpu();

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

/**
 * float64: w after SGD (lr 0.1) from 0.5, one step per group of batch indices, each on the mean
 * over its batches of d/dw mean((x w - y)²) = mean(2 x (x w - y)).
 */
function hostW(batches: [number[], number[]][], groups: number[][]): number {
  let w = 0.5;
  for (const group of groups) {
    const grads = group.map((b) => {
      const [x, y] = batches[b];
      return x.reduce((s, xv, k) => s + 2 * xv * (xv * w - y[k]), 0) / x.length;
    });
    w -= (0.1 * grads.reduce((a, g) => a + g, 0)) / group.length;
  }
  return w;
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

  it('the last, shorter group steps on the mean of its own batches, not a share of accumulate', async () => {
    // Groups {b0, b1} and {b2}: w 0.5 -> 2.05 (mean gradient -15.5) -> -1.04 (b2's gradient 30.9).
    // Scaled by 1/2 as if a full group, b2 would move w half as far, to 0.505.
    const batches: [number[], number[]][] = [[[1], [10]], [[2], [4]], [[3], [1]]];
    const want = hostW(batches, [[0, 1], [2]]);
    expect(want).toBeCloseTo(-1.04, 12);
    const accumulated = await trainedW(batches, 2);
    // b0 and b1 hold one sample each, so their mean is the loss of a batch holding both.
    const concatenated = await trainedW([[[1, 2], [10, 4]], [[3], [1]]]);
    expect([accumulated.steps, concatenated.steps]).toEqual([2, 2]);
    // float32 over two steps of size ~1.5 and ~3: within the float32 defaults of the float64 value.
    expectClose('w, accumulated', [accumulated.w], [want]);
    expectClose('w, accumulated vs one batch of b0 and b1', [accumulated.w], [concatenated.w]);
  });

  it("a stop is not a group's end: the group steps whole (more in fit-stop-groups.test.ts)", async () => {
    // accumulate 3, stop set after batch 2 of 5: batch 3 ends the group, one step on the mean of b0 to b2.
    const batches: [number[], number[]][] = [[[1], [10]], [[2], [4]], [[3], [1]], [[1], [2]], [[2], [5]]];
    const model = new Scale();
    const optimizer = new dn.optim.SGD(model.parameters(), { lr: 0.1 });
    const signal = { stop: false };
    // Made as they are asked for: the batches after the group are never made (nor left undisposed).
    const data = {
      *batches() {
        for (const [x, y] of batches) yield { x: dn.tensor(x.map((v) => [v])), y: dn.tensor(y.map((v) => [v])) };
      },
    };
    const onBatch = (p: dn.train.BatchProgress) => {
      if (p.batch === 2) signal.stop = true;
    };
    const history = await dn.train.fit(model, data, null, { epochs: 1, optimizer, loss, accumulate: 3, signal, onBatch });
    expect(history.interrupted).toBe(true);
    expect(history.progress!.batches).toBe(3);
    expect(optimizer.stepCount).toBe(1);
    expectClose('w after the group', [await model.w.item()], [hostW(batches, [[0, 1, 2]])]);
    optimizer.dispose();
    model.dispose();
  });

  it('accumulate must be a whole number of batches', async () => {
    const model = new Scale();
    const optimizer = new dn.optim.SGD(model.parameters());
    await expect(dn.train.fit(model, { batches: () => [] }, null, { epochs: 1, optimizer, loss, accumulate: 1.5 })).rejects.toThrow(/^fit: accumulate/);
    optimizer.dispose();
    model.dispose();
  });
});
