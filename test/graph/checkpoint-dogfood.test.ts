// dn.checkpoint used as a user would: a pass that fails after a checkpoint's backward has run must
// leave the weights' .grad as it was (backward()'s promise for every leaf); odd functions (an
// input unused, an input returned, one tensor returned twice) give the plain graph's gradients;
// a function that throws on its first run or on its recomputation leaks nothing; a Dropout in a
// nested checkpoint, in eval() and in train(); a customOp inside; and fit() on a module that
// checkpoints, with callbacks and gradient accumulation, trained as the plain module is.

import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

/** An op whose backward always fails, placed early in the graph so that its node runs last. */
const failsInBackward = dn.customOp({
  name: 'failsInBackward',
  forward: (_ctx, x: dn.Tensor) => dn.scale(x, 2),
  backward() {
    throw new RangeError('failsInBackward: no gradient today');
  },
});

describe('checkpoint in a pass that fails', () => {
  it("leaves the .grad of a weight the function reads as it was when a later node's backward throws", async () => {
    const x = dn.tensor([1, 2, 3], [3], { requiresGrad: true });
    const w = dn.tensor([1, 1, 1], [3], { requiresGrad: true });
    w.grad = dn.tensor([5, 5, 5], [3]);
    const before = dn.memory().bytesInUse;
    dn.scope(() => {
      // The checkpoint's node runs first in the backward (it is last in the forward); its
      // recomputation computes w's gradient, and only then does failsInBackward throw.
      const y = dn.checkpoint((t) => dn.mul(t, w), failsInBackward(x));
      expect(() => dn.sum(y).backward()).toThrow(RangeError);
    });
    await dn.sync();
    expect(Array.from(await w.grad!.toArray())).toEqual([5, 5, 5]);
    expect(x.grad).toBeNull();
    expect(dn.memory().bytesInUse).toBe(before);
    for (const t of [x, w]) t.dispose();
  });

  it('control: the same graph without the failure adds the weight’s gradient to the .grad it held', async () => {
    const x = dn.tensor([1, 2, 3], [3], { requiresGrad: true });
    const w = dn.tensor([1, 1, 1], [3], { requiresGrad: true });
    w.grad = dn.tensor([5, 5, 5], [3]);
    dn.scope(() => dn.sum(dn.checkpoint((t) => dn.mul(t, w), dn.scale(x, 2))).backward());
    expect(Array.from(await w.grad!.toArray())).toEqual([7, 9, 11]); // 5 + 2x
    expect(Array.from(await x.grad!.toArray())).toEqual([2, 2, 2]); // 2w
    for (const t of [x, w]) t.dispose();
  });
});

describe('checkpoint of unusual functions', () => {
  it('an unused input, an input returned as it is, one tensor returned twice: the plain gradients', async () => {
    const x = dn.tensor([1, 2, 3], [3], { requiresGrad: true });
    const unused = dn.tensor([7, 7, 7], [3], { requiresGrad: true });
    dn.scope(() => {
      const [a, b, same] = dn.checkpoint((t, _u) => {
        const s = dn.square(t);
        return [s, s, t];
      }, x, unused);
      const c = dn.checkpoint((t) => t, x);
      // L = Σ x² + 3 x² + x + 2x, so dL/dx = 8x + 3.
      dn.sum(dn.add(dn.add(a, dn.scale(b, 3)), dn.add(same, dn.scale(c, 2)))).backward();
    });
    expect(Array.from(await x.grad!.toArray())).toEqual([11, 19, 27]);
    expect(unused.grad).toBeNull(); // PyTorch gives None for an input the function never reads
    for (const t of [x, unused]) t.dispose();
  });

  it('a weight that is both an input and read from the closure gets both gradients', async () => {
    const w = dn.tensor([1, 2, 3], [3], { requiresGrad: true });
    dn.scope(() => dn.sum(dn.checkpoint((t) => dn.mul(t, w), w)).backward());
    expect(Array.from(await w.grad!.toArray())).toEqual([2, 4, 6]); // d(w²)/dw, one half by each path
    w.dispose();
  });

  it('a function that throws on its first run, or only on its recomputation, leaks nothing', async () => {
    const x = dn.tensor([1, 2, 3], [3], { requiresGrad: true });
    const before = dn.memory().bytesInUse;
    expect(() =>
      dn.scope(() =>
        dn.checkpoint((t) => {
          dn.square(t);
          throw new RangeError('first run');
        }, x),
      ),
    ).toThrow('first run');
    let runs = 0;
    dn.scope(() => {
      const y = dn.checkpoint((t) => {
        const s = dn.square(t);
        if (++runs === 2) throw new RangeError('recomputation');
        return s;
      }, x);
      expect(() => dn.sum(y).backward()).toThrow('recomputation');
    });
    await dn.sync();
    expect(runs).toBe(2);
    expect(x.grad).toBeNull();
    expect(dn.memory().bytesInUse).toBe(before);
    x.dispose();
  });

  it('runs a customOp inside, recording it only in the recomputation', async () => {
    let backwards = 0;
    const sumDiff = dn.customOp({
      name: 'sumDiff',
      forward: (_ctx, a: dn.Tensor, b: dn.Tensor) => [dn.add(a, b), dn.sub(a, b)],
      backward(_ctx, ds, dd) {
        backwards++;
        return [dn.add(ds, dd), dn.sub(ds, dd)];
      },
    });
    const a = dn.tensor([1, 2], [2], { requiresGrad: true });
    const b = dn.tensor([3, 5], [2], { requiresGrad: true }); // read by the function, not an input
    dn.scope(() => {
      const y = dn.checkpoint((u) => {
        const [s, d] = sumDiff(u, b);
        return dn.mul(s, d); // a² - b²
      }, a);
      dn.sum(y).backward();
    });
    expect(backwards).toBe(1);
    expect(Array.from(await a.grad!.toArray())).toEqual([2, 4]);
    expect(Array.from(await b.grad!.toArray())).toEqual([-6, -10]);
    for (const t of [a, b]) t.dispose();
  });
});

describe('a Dropout inside nested checkpoints', () => {
  const x = () => dn.tensor([1, 2, 3, 4, 5, 6, 7, 8], [8], { requiresGrad: true });
  const nested = (drop: dn.nn.Dropout, v: dn.Tensor) => dn.checkpoint((u) => dn.checkpoint((t) => drop.forward(dn.square(t)), u), v);

  it('in eval() is the identity both times', async () => {
    const drop = new dn.nn.Dropout(0.5, 3);
    drop.eval();
    const v = x();
    dn.scope(() => dn.sum(nested(drop, v)).backward());
    expect(Array.from(await v.grad!.toArray())).toEqual([2, 4, 6, 8, 10, 12, 14, 16]);
    v.dispose();
  });

  it('in train() recomputes the mask of the forward, at both depths', async () => {
    const drop = new dn.nn.Dropout(0.5, 3);
    const v = x();
    const y = nested(drop, v);
    dn.scope(() => dn.sum(y).backward());
    const ys = await y.toArray();
    const grads = await v.grad!.toArray();
    // y = mask · 2x² with mask in {0, 1} (scaled by 1/(1-p) = 2), so dL/dx = 2x · y / x².
    const want = Array.from(ys, (yi, i) => (2 * (i + 1) * yi) / (i + 1) ** 2);
    expect(Array.from(grads)).toEqual(want);
    expect(ys.some((yi) => yi === 0) && ys.some((yi) => yi !== 0)).toBe(true); // the mask does drop
    for (const t of [v, y]) t.dispose();
  });
});

/** Two Linear layers with a Dropout between; `checkpointed` runs each layer's forward under dn.checkpoint. */
class Mlp extends dn.Module {
  a: dn.nn.Linear;
  drop = new dn.nn.Dropout(0.25, 9);
  b: dn.nn.Linear;
  constructor(checkpointed: boolean) {
    super();
    dn.setInitSeed(11);
    this.a = new dn.nn.Linear(3, 5);
    this.b = new dn.nn.Linear(5, 2);
    if (checkpointed) for (const m of [this.a, this.drop, this.b]) m.useCheckpointing();
  }
  forward(x: dn.Tensor): dn.Tensor {
    return this.b.forward(dn.tanh(this.drop.forward(this.a.forward(x))));
  }
}

describe('fit on a module that checkpoints', () => {
  it('trains as the plain module does, bit for bit, with EarlyStopping, ModelCheckpoint and accumulate', async () => {
    const xs = uniform(4 * 4 * 3, 41);
    const ys = uniform(4 * 4 * 2, 42);
    const batches = () => [0, 1, 2, 3].map((k) => ({ x: fromNd(xs.subarray(12 * k, 12 * k + 12), [4, 3]), y: fromNd(ys.subarray(8 * k, 8 * k + 8), [4, 2]) }));
    const loss = (p: dn.Tensor, y: dn.Tensor) => dn.mean(dn.square(dn.sub(p, y)));
    const run = async (checkpointed: boolean) => {
      const dir = mkdtempSync(join(tmpdir(), 'dawnet-ckpt-fit-'));
      const model = new Mlp(checkpointed);
      const optimizer = new dn.optim.SGD(model.parameters(), { lr: 0.2, momentum: 0.5 });
      const callbacks = [
        new dn.train.EarlyStopping({ monitor: 'val_loss', patience: 1, restoreBestWeights: true }),
        new dn.train.ModelCheckpoint(join(dir, 'best-{epoch}.safetensors'), { monitor: 'val_loss', saveBestOnly: true }),
      ];
      const history = await dn.train.fit(model, { batches }, { batches }, { epochs: 3, optimizer, loss, accumulate: 2, callbacks, verbose: 0 });
      const weights = await Promise.all(model.parameters().map((t) => t.toArray()));
      const files = readdirSync(dir).sort();
      rmSync(dir, { recursive: true });
      optimizer.dispose();
      model.dispose();
      return { history, weights, files };
    };
    const plain = await run(false);
    const checked = await run(true);
    expect(checked.files.length).toBeGreaterThan(0);
    expect(checked.files).toEqual(plain.files);
    expect(checked.weights).toEqual(plain.weights);
    expect(JSON.stringify(checked.history)).toEqual(JSON.stringify(plain.history));
  });
});
