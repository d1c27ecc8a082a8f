// A resumed run continues as the uninterrupted run would have: the same weights, optimiser and
// average bit for bit, the same metrics.jsonl, and a run that early stopping ended stays ended.
// And best.safetensors holds the weights of the epoch its metrics describe.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTraining } from '../../src/app/train-job.js';
import { configFromFlags } from '../../src/cli/train.js';
import { writeSyntheticDataset } from '../../src/data/synth.js';
import { decodeSafetensors } from '../../src/io/safetensors.js';
import { clearConvTuning } from '../../src/kernels/conv2d-tuning.js';
import * as dn from '../../src/index.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

let work = '';
let data = '';
// 15 training slices in batches of 4: 4 batches an epoch, the last of 3.
const TINY = { size: 16, features: 4, depth: 2, batch: 4, workers: 0, 'test-fraction': 0.2, augment: 'hflip+elastic' };
const segment = (flags: Record<string, unknown>) => configFromFlags('segment', { data, ...TINY, ...flags });

/** Every tensor of a checkpoint (model/, optim/, ema/) and its optimiser and EMA scalars. */
function checkpoint(path: string) {
  const { tensors, metadata } = decodeSafetensors(new Uint8Array(readFileSync(path)), path);
  const values = Object.fromEntries([...tensors].map(([n, t]) => [n, Array.from(t.data)]));
  const meta = JSON.parse(metadata.meta);
  return { values, optimizer: metadata.optimizer, ema: metadata.ema, modules: metadata.modules, epoch: meta.epoch, callbacks: meta.callbacks };
}
const modelValues = (path: string) => Object.fromEntries(Object.entries(checkpoint(path).values).filter(([n]) => n.startsWith('model/')));
/** metrics.jsonl without the wall-clock seconds. */
const metrics = (run: string) => readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => ({ ...JSON.parse(l), seconds: 0 }));

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'dawnet-resume-exact-'));
  data = join(work, 'data');
  await writeSyntheticDataset(data, { patients: 6, seed: 8, size: 16, slicesPerPatient: [3, 5] });
}, 300_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('a run interrupted part-way through an epoch', () => {
  // Ctrl-C in the second epoch stops at the end of its group of accumulated batches (or of the
  // epoch, whose last group is shorter): the second epoch's first batch with accumulate 2 stops
  // after batch 2; its last batch (4) with accumulate 3 after it, its short group stepped.
  const cases = [
    { accumulate: 2, stopAt: 1, trained: 2 },
    { accumulate: 3, stopAt: 4, trained: 4 },
  ] as const;
  for (const k of cases) {
    it(`accumulate ${k.accumulate}, stopped at batch ${k.stopAt}: resumes after batch ${k.trained} with weights, Adam, the average and metrics.jsonl as if never stopped`, async () => {
      const flags = { epochs: 3, ema: 0.9, accumulate: k.accumulate };
      const whole = join(work, `whole-${k.accumulate}`);
      await runTraining(segment({ ...flags, out: whole }), { log: () => {} });
      const cut = join(work, `cut-${k.accumulate}`);
      const signal = { stop: false };
      const first = await runTraining(segment({ ...flags, out: cut }), {
        log: () => {},
        signal,
        onBatch: (p) => void (p.epoch === 1 && p.batch === k.stopAt && (signal.stop = true)),
      });
      expect(first.interrupted).toBe(true);
      const logs: string[] = [];
      await runTraining(segment({ ...flags, out: cut }), { log: (m) => logs.push(m) }, true);
      expect(logs).toContain(`resume: continuing ${cut} from epoch 2 of 3, after its first ${k.trained} batches`);
      const [a, b] = [checkpoint(join(whole, 'last.safetensors')), checkpoint(join(cut, 'last.safetensors'))];
      expect(b.epoch).toBe(2);
      expect(Object.keys(b.values).some((n) => n.startsWith('ema/')) && Object.keys(b.values).some((n) => n.startsWith('optim/'))).toBe(true);
      expect(b).toEqual(a);
      expect(metrics(cut)).toEqual(metrics(whole));
    }, 120_000);
  }
});

describe('early stopping and resume', () => {
  it("a run resumed before early stopping fires restores the best epoch's weights, as the uninterrupted run does", async () => {
    const flags = { epochs: 4, patience: 1, 'min-delta': 0.5 };
    const whole = join(work, 'es-whole');
    await runTraining(segment({ ...flags, out: whole }), { log: () => {} });
    // One epoch, then resumed: the second epoch stops the run and restores the first's weights.
    const resumed = join(work, 'es-resumed');
    await runTraining(segment({ ...flags, epochs: 1, out: resumed }), { log: () => {} });
    const logs: string[] = [];
    await runTraining(segment({ ...flags, out: resumed }), { log: (m) => logs.push(m) }, true);
    // The value as the log prints it, read back from metrics.jsonl: it differs from adapter to adapter.
    expect(logs).toContain(`EarlyStopping: restoring the weights of epoch 1 (val_loss ${metrics(resumed)[0].val_loss})`);
    expect(checkpoint(join(resumed, 'last.safetensors'))).toEqual(checkpoint(join(whole, 'last.safetensors')));
  }, 120_000);

  it('best.safetensors holds its own epoch, not the one early stopping restored; a stopped run resumes as finished', async () => {
    // Patience 1 with a min delta no epoch beats: the second epoch stops the run and restores the
    // first epoch's weights, while its val_dice is the best yet.
    const stopped = join(work, 'stopped');
    const logs: string[] = [];
    await runTraining(segment({ out: stopped, epochs: 4, patience: 1, 'min-delta': 0.5 }), { log: (m) => logs.push(m) });
    const [one, two] = metrics(stopped);
    expect(logs).toContain(`EarlyStopping: restoring the weights of epoch 1 (val_loss ${one.val_loss})`);
    expect(logs).toContain(`ModelCheckpoint: val_dice improved from ${one.val_dice.toFixed(5)} to ${two.val_dice.toFixed(5)}; saving ${join(stopped, 'best.safetensors')}`);
    // The same two epochs without early stopping: its last.safetensors has the second epoch's weights.
    const plain = join(work, 'plain');
    await runTraining(segment({ out: plain, epochs: 2 }), { log: () => {} });
    expect(checkpoint(join(stopped, 'best.safetensors')).epoch).toBe(1);
    expect(modelValues(join(stopped, 'best.safetensors'))).toEqual(modelValues(join(plain, 'last.safetensors')));
    // Resumed with a later target, the run does not train on: left alone it had stopped.
    const before = [readFileSync(join(stopped, 'last.safetensors')), metrics(stopped)];
    const again: string[] = [];
    await runTraining(segment({ out: stopped, epochs: 6 }), { log: (m) => again.push(m) }, true);
    expect(again).toContain(`resume: ${stopped} was stopped early after epoch 2 (no val_loss improvement in 1 epochs); finishing it (test evaluation and report)`);
    expect([readFileSync(join(stopped, 'last.safetensors')), metrics(stopped)]).toEqual(before);
  }, 120_000);
});

describe('what a resume leaves behind', () => {
  it("a resume that fails before fit begins frees early stopping's restore point with the model", async () => {
    const run = join(work, 'failing-resume');
    await runTraining(segment({ out: run, epochs: 1 }), { log: () => {} });
    expect(Object.keys(checkpoint(join(run, 'last.safetensors')).values).some((n) => n.startsWith('earlyStopping/'))).toBe(true);
    await dn.sync();
    const before = dn.memory().bytesInUse;
    // A fractional target stands in for any failure between loading the checkpoint and fit's
    // callbacks beginning: fit refuses it after the restore point is on the GPU.
    await expect(runTraining(segment({ out: run, epochs: 2.5 }), { log: () => {} }, true)).rejects.toThrow(dn.ArgumentError);
    await dn.sync();
    expect(dn.memory().bytesInUse).toBe(before);
  }, 120_000);

  it('--tune-convs, interrupted after the last batch of an epoch: the resumed run tunes its first batch and saves the choices', async () => {
    const run = join(work, 'tuned');
    const flags = { out: run, epochs: 2, 'tune-convs': true };
    const signal = { stop: false };
    try {
      const first = await runTraining(segment(flags), { log: () => {}, signal, onBatch: (p) => void (p.epoch === 0 && p.batch === 4 && (signal.stop = true)) });
      expect(first.interrupted).toBe(true);
      // As in a new process: no choices in force.
      clearConvTuning();
      const logs: string[] = [];
      await runTraining(segment(flags), { log: (m) => logs.push(m) }, true);
      expect(logs).toContain(`resume: continuing ${run} from epoch 1 of 2, after its first 4 batches`);
      expect(logs.filter((l) => l.startsWith('conv tuning: '))).toHaveLength(1);
      expect(JSON.parse(readFileSync(join(run, 'conv-tuning.json'), 'utf8')).convs.length).toBeGreaterThan(0);
    } finally {
      clearConvTuning();
    }
  }, 180_000);
});
