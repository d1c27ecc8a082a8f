// nn.Embedding (src/nn/embedding.ts): rows of its table by id, any id shape; N(0, 1) rows by
// default, the same for the same seed; trains, moving only the rows some id picks; PyTorch's
// state-dict name; its arguments checked when built.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { initValues } from '../../src/nn/init.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

describe('nn.Embedding', () => {
  it('gives the rows of its table for ids of any shape', async () => {
    const emb = new dn.nn.Embedding(10, 4, { seed: 3 });
    const table = await emb.weight.toArray();
    expect(Array.from(table)).toEqual(Array.from(initValues('normal', [10, 4], 3)));
    const ids = dn.tensor([[7, 0, 7], [9, 2, 1]]);
    const y = emb.forward(ids);
    expect(y.shape).toEqual([2, 3, 4]);
    const got = await y.toArray();
    [7, 0, 7, 9, 2, 1].forEach((id, c) => expect(Array.from(got.subarray(c * 4, c * 4 + 4))).toEqual(Array.from(table.subarray(id * 4, id * 4 + 4))));
    expect([...emb.stateDict().keys()]).toEqual(['weight']);
    expect(emb.summary()).toContain('Embedding');
    for (const t of [ids, y]) t.dispose();
    emb.dispose();
  });

  it("starts its rows as N(0, 1) draws (PyTorch's), the same for the same seed", () => {
    const values = initValues('normal', [256, 16], 11);
    const mean = values.reduce((s, v) => s + v, 0) / values.length;
    const std = Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / values.length);
    // 4096 draws: the mean's standard error is 1/64 and the std's about 0.011; these bounds are 4σ.
    expect(Math.abs(mean)).toBeLessThan(0.0625);
    expect(Math.abs(std - 1)).toBeLessThan(0.045);
    expect(Array.from(initValues('normal', [256, 16], 11))).toEqual(Array.from(values));
    expect(Array.from(initValues('normal', [256, 16], 12))).not.toEqual(Array.from(values));
  });

  it('trains: the picked rows move to their targets, the others stay as they were', async () => {
    const emb = new dn.nn.Embedding(6, 3, { seed: 5 });
    const before = await emb.weight.toArray();
    const ids = dn.tensor([4, 1, 4]);
    const target = dn.tensor([[1, 2, 3], [-1, 0, 1], [1, 2, 3]]);
    const opt = new dn.optim.Adam(emb.parameters(), { lr: 0.1 });
    const lossAt = async () => {
      const loss = dn.scope(() => dn.mseLoss(emb.forward(ids), target));
      const value = await loss.item();
      loss.dispose();
      return value;
    };
    const first = await lossAt();
    for (let step = 0; step < 150; step++) {
      dn.scope(() => {
        opt.zeroGrad();
        dn.mseLoss(emb.forward(ids), target).backward();
        opt.step();
      });
    }
    const last = await lossAt();
    expect(first).toBeGreaterThan(0.5);
    expect(last).toBeLessThan(1e-3);
    const after = await emb.weight.toArray();
    for (const row of [0, 2, 3, 5]) expect(Array.from(after.subarray(row * 3, row * 3 + 3))).toEqual(Array.from(before.subarray(row * 3, row * 3 + 3)));
    expect(Array.from(after.subarray(12, 15)).map((v) => Math.round(v * 100) / 100)).toEqual([1, 2, 3]);
    opt.dispose();
    for (const t of [ids, target]) t.dispose();
    emb.dispose();
  });

  it('checks its arguments when built, naming the layer', () => {
    expect(() => new dn.nn.Embedding(0, 4)).toThrow(/^Embedding: numEmbeddings must be/);
    expect(() => new dn.nn.Embedding(4, 2.5)).toThrow(/^Embedding: embeddingDim must be/);
    expect(() => new dn.nn.Embedding(4, 2, { init: 'gaussian' } as never)).toThrow(/^Embedding: init must be/);
    expect(() => new dn.nn.Embedding(4, 2, { bias: false } as never)).toThrow(/^Embedding: /);
    const emb = new dn.nn.Embedding(4, 2);
    expect(() => emb.forward([1, 2] as never)).toThrow(/^Embedding: ids must be a Tensor/);
    emb.dispose();
  });
});
