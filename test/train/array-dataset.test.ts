// dn.train.arrayDataset: fit's dataset over host arrays (Keras's fit(x, y, batch_size, shuffle)).
// Every sample once an epoch, in order or in a seeded order of the epoch's own; fresh tensors each
// time (fit disposes them); a resumed epoch starts at its batch; bad input named.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import type { Batch } from '../../src/train/fit.js';
import { useGpu } from '../helpers/gpu.js';
import { loss, Scale } from '../helpers/scale-model.js';

useGpu();

// 5 samples of 2x1 images (x = [i, 10 + i]) and one label each (y = i).
const x = { data: Float32Array.from([0, 10, 1, 11, 2, 12, 3, 13, 4, 14]), shape: [5, 2, 1] };
const y = { data: [0, 1, 2, 3, 4], shape: [5, 1] };

/** Each batch's x and y rows as arrays, the tensors disposed. */
async function drawn(batches: Iterable<Batch> | AsyncIterable<Batch>): Promise<{ x: number[]; y: number[]; shape: number[] }[]> {
  const out = [];
  for await (const b of batches) {
    out.push({ x: Array.from(await b.x.toArray()), y: Array.from(await b.y.toArray()), shape: [...b.x.shape] });
    b.x.dispose();
    b.y.dispose();
  }
  return out;
}

describe('arrayDataset', () => {
  it('batches the rows in order, the last batch short, the shapes kept', async () => {
    const data = dn.train.arrayDataset(x, y, { batchSize: 2 });
    expect(data.batchCount).toBe(3);
    expect(data.size).toBe(5);
    const batches = await drawn(data.batches(0));
    expect(batches.map((b) => b.y)).toEqual([[0, 1], [2, 3], [4]]);
    expect(batches[1]).toEqual({ x: [2, 12, 3, 13], y: [2, 3], shape: [2, 2, 1] });
    expect(await drawn(dn.train.arrayDataset(x, y, { batchSize: 2, dropLast: true }).batches(0))).toHaveLength(2);
    expect((await drawn(dn.train.arrayDataset(x, y).batches(0))).map((b) => b.y)).toEqual([[0, 1, 2, 3, 4]]);
  });

  it('shuffles each epoch anew, x and y together, the same for the same seed', async () => {
    const data = dn.train.arrayDataset(x, y, { batchSize: 5, shuffle: true, seed: 3 });
    const [e0] = await drawn(data.batches(0));
    const [e1] = await drawn(data.batches(1));
    expect([...e0.y].sort()).toEqual([0, 1, 2, 3, 4]);
    expect(e0.y).not.toEqual(e1.y);
    // x's rows follow y's: row k of x is [i, 10 + i] for label i.
    expect(e0.x).toEqual(e0.y.flatMap((i) => [i, 10 + i]));
    expect((await drawn(dn.train.arrayDataset(x, y, { batchSize: 5, shuffle: true, seed: 3 }).batches(1)))[0].y).toEqual(e1.y);
  });

  it('starts a resumed epoch at its batch: batchesFrom equals the rest of the epoch', async () => {
    const data = dn.train.arrayDataset(x, y, { batchSize: 2, shuffle: true, seed: 9 });
    expect(await drawn(data.batchesFrom!(2, 1))).toEqual((await drawn(data.batches(2))).slice(1));
  });

  it('trains with fit: one epoch of SGD over two batches takes two steps', async () => {
    const model = new Scale();
    const optimizer = new dn.optim.SGD(model.parameters(), { lr: 0.01 });
    // y = 2x: the weight moves from 0.5 toward 2.
    const data = dn.train.arrayDataset({ data: [1, 2, 3, 4], shape: [4, 1] }, { data: [2, 4, 6, 8], shape: [4, 1] }, { batchSize: 2 });
    const history = await dn.train.fit(model, data, data, { epochs: 2, optimizer, loss });
    expect(history.logs).toHaveLength(2);
    expect(history.logs[1].val_loss).toBeLessThan(history.logs[0].val_loss!);
    expect(optimizer.stepCount).toBe(4);
    optimizer.dispose();
    model.dispose();
  });

  it('names what is wrong with its input', () => {
    expect(() => dn.train.arrayDataset({ data: [1, 2, 3], shape: [2, 2] }, y)).toThrow(/^arrayDataset: x\.data holds 3 values, where shape \[2,2\] needs 4/);
    expect(() => dn.train.arrayDataset(x, { data: [1, 2], shape: [2, 1] })).toThrow(/^arrayDataset: x holds 5 samples and y 2/);
    expect(() => dn.train.arrayDataset(new Float32Array(4) as never, y)).toThrow(/^arrayDataset: x must be \{ data, shape \}/);
    expect(() => dn.train.arrayDataset(x, y, { batchSize: 0 })).toThrow(dn.ArgumentError);
    expect(() => dn.train.arrayDataset(x, y, { batch_size: 2 } as never)).toThrow(/batch_size/);
  });
});
