// fit's options, checked before the first batch: Keras's fit arguments (batchSize, validation_data) and
// misspelt options were read by no one and trained as if absent; Keras's metric names and a lone
// callback failed with a TypeError at the end of the first epoch.

import { describe, expect, it, vi } from 'vitest';
import * as dn from '../../src/index.js';
import { useGpu } from '../helpers/gpu.js';
import { loss, Scale } from '../helpers/scale-model.js';

useGpu();

let made = 0;
const rows = { batches: () => (made++, [{ x: dn.tensor([[1], [2]]), y: dn.tensor([[2], [4]]) }]) };

const CASES = [
  ['batchSize (Keras)', { batchSize: 2 }],
  ['batch_size (Keras, snake_case)', { batch_size: 2 }],
  ['verbose that is not a boolean or Keras\'s 0, 1, 2', { verbose: 'auto' }],
  ['validation_data (Keras)', { validation_data: rows }],
  ['clip_grad_norm (snake_case)', { clip_grad_norm: 1 }],
  ['an unknown option', { lossWeights: [1] }],
  ["Keras's metric names", { metrics: ['accuracy'] }],
  ['a metric that is no function', { metrics: { acc: 'accuracy' } }],
  ['a lone callback', { callbacks: new dn.train.EarlyStopping({ patience: 1 }) }],
] as const;

describe('fit refuses options it would not read, before the first batch', () => {
  for (const [what, extra] of CASES) {
    it(what, async () => {
      const model = new Scale();
      const optimizer = new dn.optim.SGD(model.parameters(), { lr: 0.01 });
      made = 0;
      const opts = { epochs: 1, optimizer, loss, ...extra } as unknown as dn.train.FitOptions;
      const error = await dn.train.fit(model, rows, rows, opts).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(dn.ArgumentError);
      expect(made, 'batches made before the error').toBe(0);
      optimizer.dispose();
      model.dispose();
    });
  }

  it('takes metrics as functions of the validation set by name', async () => {
    const model = new Scale();
    const optimizer = new dn.optim.SGD(model.parameters(), { lr: 0.01 });
    const metrics = { n: (set: dn.train.EvalSet) => set.pred.length };
    const history = await dn.train.fit(model, rows, rows, { epochs: 1, optimizer, loss, metrics, callbacks: [] });
    expect(history.logs[0].val_n).toBe(2);
    optimizer.dispose();
    model.dispose();
  });
});

describe('fit with verbose', () => {
  it("prints Keras's line per epoch to log (or console.log), with the callbacks' messages", async () => {
    const model = new Scale();
    const optimizer = new dn.optim.SGD(model.parameters(), { lr: 1e-4 });
    const lines: string[] = [];
    const print = vi.spyOn(console, 'log').mockImplementation((m: string) => void lines.push(`console: ${m}`));
    try {
      await dn.train.fit(model, rows, rows, { epochs: 2, optimizer, loss, verbose: true, log: (m) => lines.push(m) });
      expect(lines).toHaveLength(2);
      // w = 0.5, x = [1, 2], y = [2, 4]: loss ((0.5 - 2)^2 + (1 - 4)^2) / 2 = 5.625 before the step.
      expect(lines[0]).toMatch(/^epoch 1\/2 - \d+\.\ds - loss: 5\.6250 - val_loss: 5\.6\d{3} - lr: 1\.00e-4$/);
      expect(lines[1]).toMatch(/^epoch 2\/2 - /);
      lines.length = 0;
      await dn.train.fit(model, rows, null, { epochs: 1, optimizer, loss, verbose: 1, callbacks: [new dn.train.EarlyStopping({ monitor: 'loss', patience: 0 })] });
      expect(lines).toEqual([expect.stringMatching(/^console: epoch 1\/1 - \d+\.\ds - loss: \d\.\d{4} - lr: 1\.00e-4$/)]);
      lines.length = 0;
      await dn.train.fit(model, rows, null, { epochs: 1, optimizer, loss });
      expect(lines).toEqual([]);
    } finally {
      print.mockRestore();
      optimizer.dispose();
      model.dispose();
    }
  });
});
