// Reproducibility of training on one adapter: the same seeds give the same run bit for bit.
// Every reduction in dawnet's kernels sums in a fixed order (no float atomics; the one atomic,
// maxUnpool2d's claim, is an integer max), and every random draw is seeded (layer init by
// setInitSeed, dropout by its layer's seed and call count, shuffles and augmentation by the seeds
// given), so nothing here may depend on scheduling, on what ran before in the process, or on what
// the buffer pool hands out. What does change the bits: another conv algorithm (a tuning), and
// another adapter. test/cli/train-determinism.e2e.test.ts checks the same across processes.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { runtime } from '../../src/gpu/runtime.js';
import { emptyTensor, readTensors } from '../../src/graph/tensor.js';
import { useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

const [N, S] = [7, 16];

/** A U-Net (conv, batch norm, pool, transposed conv, concat) behind an input dropout. */
class Net extends dn.Module {
  drop = this.addModule('drop', new dn.nn.Dropout(0.2));
  unet = this.addModule('unet', dn.models.unet({ features: 4, depth: 2 }));
  forward(x: dn.Tensor): dn.Tensor {
    return this.unet.forward(this.drop.forward(x));
  }
}

/** Seeded shuffles in batches of 3 (the last of 1), each batch flipped and elastically deformed by a seed of its epoch and index. */
function dataset(): dn.train.Dataset {
  const x = { data: Float32Array.from(uniform(N * S * S * 3, 11)), shape: [N, S, S, 3] };
  const y = { data: Float32Array.from(uniform(N * S * S, 12, 0, 1), (v) => (v > 0.7 ? 1 : 0)), shape: [N, S, S, 1] };
  const base = dn.train.arrayDataset(x, y, { batchSize: 3, shuffle: true, seed: 5 });
  return {
    batchCount: base.batchCount,
    async *batches(epoch: number) {
      let index = 0;
      for await (const b of base.batches(epoch)) {
        const seed = epoch * 1000 + index++;
        const flipped = dn.augment.flip(b.x, { seed, mask: b.y });
        const warped = dn.augment.elastic(flipped.image, { alpha: 3, sigma: 2, seed, mask: flipped.mask });
        for (const t of [b.x, b.y, flipped.image, flipped.mask!]) t.dispose();
        yield { x: warped.image, y: warped.mask! };
      }
    },
  };
}

interface Run {
  /** fit's running loss after every batch, and each epoch's logs. */
  losses: number[];
  logs: dn.train.Logs[];
  /** Every parameter and buffer (batch norm's running statistics), by name. */
  state: Record<string, Float32Array>;
}

/** Two epochs (or `epochs`) of Adam on the Dice loss from init seed `seed`, with validation. */
async function train(seed: number, extra: Partial<dn.train.FitOptions> = {}): Promise<Run> {
  dn.setInitSeed(seed);
  const net = new Net();
  const optimizer = new dn.optim.Adam(net.parameters(), { lr: 1e-2 });
  const losses: number[] = [];
  const logs: dn.train.Logs[] = [];
  try {
    await dn.train.fit(net, dataset(), dataset(), {
      epochs: 2,
      ...extra,
      optimizer,
      loss: dn.diceLoss,
      onBatch: (p) => void losses.push(p.loss),
      onEpoch: (_, l) => void logs.push({ ...l }),
    });
    const named = [...net.namedParameters(), ...net.namedBuffers()];
    const values = await readTensors(named.map((n) => n.tensor));
    return { losses, logs, state: Object.fromEntries(named.map((n, i) => [n.name, values[i]])) };
  } finally {
    optimizer.dispose();
    net.dispose();
  }
}

/** The names of the tensors whose bits differ (NaN equals NaN, -0 differs from 0). */
function differing(a: Run, b: Run): string[] {
  expect(Object.keys(b.state)).toEqual(Object.keys(a.state));
  return Object.keys(a.state).filter((k) => !Buffer.from(a.state[k].buffer).equals(Buffer.from(b.state[k].buffer)));
}

/**
 * Makes the pool a debugging allocator for the duration of `fn`: every storage buffer released is
 * filled with NaN when it becomes free (after the submit that may still read it, so the fill
 * cannot reach those reads), so a kernel that reads memory it did not write in this step reads NaN
 * instead of whatever an earlier step left there (the same in two identical runs, so unseen).
 */
async function withNaNOnFree<T>(fn: () => Promise<T>): Promise<T> {
  const rt = runtime();
  const pool = rt.pool as unknown as { pending: { buffer: GPUBuffer }[]; onSubmit(): void };
  const original = pool.onSubmit;
  // Free buffers from before would be handed out first (the oldest go first): gone.
  await dn.sync();
  dn.trimMemory();
  pool.onSubmit = function (this: typeof pool) {
    for (const { buffer } of this.pending) {
      if (buffer.usage & GPUBufferUsage.STORAGE) rt.device.queue.writeBuffer(buffer, 0, new Float32Array(buffer.size / 4).fill(Number.NaN));
    }
    original.call(this);
  };
  try {
    return await fn();
  } finally {
    pool.onSubmit = original;
  }
}

describe('training reproducibility on one adapter', () => {
  let first: Run;

  it('two fits from the same seeds in one process give the same losses, logs, weights and running statistics, bit for bit', async () => {
    first = await train(21);
    const again = await train(21);
    expect(first.losses.length).toBe(6);
    expect(again.losses).toEqual(first.losses);
    expect(again.logs).toEqual(first.logs);
    expect(differing(first, again)).toEqual([]);
    // Control: another init seed gives other weights and losses, so the comparison can tell runs apart.
    const other = await train(22);
    expect(other.losses).not.toEqual(first.losses);
    expect(differing(first, other).length).toBe(Object.keys(first.state).length);
  }, 60_000);

  it('buffers filled with NaN when freed change nothing: no kernel of the step reads memory it did not write', async () => {
    const polluted = await withNaNOnFree(async () => {
      // Control: a freed buffer comes back from the pool full of NaN, not as it was left.
      const t = dn.tensor(new Float32Array(4096).fill(1));
      await t.toArray().finally(() => t.dispose());
      await dn.sync();
      const reused = emptyTensor([4096], 'determinism.reused');
      const seen = await reused.toArray().finally(() => reused.dispose());
      expect(seen.every(Number.isNaN)).toBe(true);
      return train(21);
    });
    expect(polluted.losses).toEqual(first.losses);
    expect(differing(first, polluted)).toEqual([]);
  }, 60_000);

  it('a saved conv tuning, loaded before each run, gives the same bits every time; other algorithms give others', async () => {
    // Tuning times the algorithms on the wall clock or GPU timestamps, so two tunings may choose
    // differently (and the tuned run's first batch ran the rules' algorithms): what is reproducible
    // is a run that loads the choices.
    await train(30, { epochs: 1, tuneConvs: { reps: 1 } });
    const saved = dn.convTuning();
    expect(saved.convs.length).toBeGreaterThan(0);
    const withTuning = async (tuning: dn.ConvTuning) => {
      dn.clearConvTuning();
      dn.applyConvTuning(tuning);
      return train(21).finally(() => dn.clearConvTuning());
    };
    const [a, b] = [await withTuning(saved), await withTuning(saved)];
    expect(b.losses).toEqual(a.losses);
    expect(differing(a, b)).toEqual([]);
    // Control: every conv by another algorithm (Winograd for 3x3 stride-1 convs tuned otherwise, else direct) changes the weights.
    const winogradRuns = ({ geometry: g }: dn.TunedConv) => g.kh === 3 && g.kw === 3 && g.sh === 1 && g.sw === 1;
    const other = (c: dn.TunedConv) => (c.algorithm !== 'winograd' && winogradRuns(c) ? ('winograd' as const) : ('direct' as const));
    const swapped = { ...saved, convs: saved.convs.map(({ tile: _, ...c }) => ({ ...c, algorithm: other(c) })) };
    expect(differing(a, await withTuning(swapped)).length).toBeGreaterThan(0);
  }, 60_000);
});
