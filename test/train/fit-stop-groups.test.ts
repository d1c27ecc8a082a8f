// fit's stop flag with gradient accumulation: a stop ends the current group of `accumulate`
// batches (or the epoch's last, shorter group), never cuts one short, so that the progress it
// saves resumes to the weights of a run never stopped, bit for bit.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import type { EpochProgress } from '../../src/train/fit.js';
import { useGpu } from '../helpers/gpu.js';
import { loss, Scale } from '../helpers/scale-model.js';

useGpu();

/** 8 one-sample batches: with accumulate 3, groups {1, 2, 3}, {4, 5, 6} and the short {7, 8} (1-based). */
const ROWS: [number, number][] = [[1, 10], [2, 4], [3, 1], [1, 2], [2, 5], [0.5, 3], [1.5, -1], [2.5, 2]];

/** Batches made as they are asked for; `known` gives fit the batch count, else it learns the end when they run out. */
function data(known: boolean, made: { count: number }): dn.train.Dataset {
  return {
    ...(known ? { batchCount: ROWS.length } : {}),
    *batches() {
      for (const [x, y] of ROWS) {
        made.count++;
        yield { x: dn.tensor([[x]]), y: dn.tensor([[y]]) };
      }
    },
  };
}

/** One epoch of SGD with accumulate 3; `stopAt` sets the stop flag after that (1-based) batch, and the run then resumes from where it stopped. */
async function run(stopAt: number | null, known = true) {
  const model = new Scale();
  const optimizer = new dn.optim.SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
  const signal = { stop: false };
  const made = { count: 0 };
  const interrupts: number[] = [];
  const opts = {
    epochs: 1,
    optimizer,
    loss,
    accumulate: 3,
    signal,
    onBatch: (p: dn.train.BatchProgress) => void (p.batch === stopAt && (signal.stop = true)),
    onInterrupt: (_e: number, p: EpochProgress) => void interrupts.push(p.batches),
  };
  try {
    const first = await dn.train.fit(model, data(known, made), data(known, { count: 0 }), opts);
    const stepsAtStop = optimizer.stepCount;
    const madeAtStop = made.count;
    if (first.interrupted) {
      signal.stop = false;
      const rest = await dn.train.fit(model, data(known, made), null, { ...opts, resumeEpoch: first.progress });
      expect(rest.interrupted).toBe(false);
    }
    return { first, stepsAtStop, madeAtStop, interrupts, steps: optimizer.stepCount, w: await model.w.item() };
  } finally {
    optimizer.dispose();
    model.dispose();
  }
}

describe('fit stopped with accumulate', () => {
  // Where the stop flag is set (1-based batch) and where the epoch stops: the end of its group.
  const cases = [
    { stopAt: 1, stopsAfter: 3, steps: 1 },
    { stopAt: 3, stopsAfter: 3, steps: 1 },
    { stopAt: 5, stopsAfter: 6, steps: 2 },
    // In the epoch's last, shorter group: its end is the epoch's, which fit knows from batchCount
    // or, without one, when the batches run out; either way it stops before validating.
    { stopAt: 7, stopsAfter: 8, steps: 3 },
  ] as const;
  for (const known of [true, false]) {
    for (const k of cases) {
      it(`stop set after batch ${k.stopAt}${known ? '' : ', no batchCount'}: ends after batch ${k.stopsAfter}, and the resumed epoch ends where a run never stopped does`, async () => {
        const whole = await run(null, known);
        const cut = await run(k.stopAt, known);
        expect(cut.first.interrupted).toBe(true);
        expect(cut.first.progress!.batches).toBe(k.stopsAfter);
        expect(cut.interrupts).toEqual([k.stopsAfter]);
        // No batch after the group's end was made, no validation run, no epoch logged.
        expect(cut.madeAtStop).toBe(k.stopsAfter);
        expect(cut.first.logs).toEqual([]);
        expect(cut.stepsAtStop).toBe(k.steps);
        expect([whole.steps, cut.steps]).toEqual([3, 3]);
        expect(cut.w).toBe(whole.w);
      });
    }
  }
});
