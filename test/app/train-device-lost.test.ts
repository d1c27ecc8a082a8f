// The GPU lost mid-run (a driver reset; here device.destroy() from a hook): the run stops with a
// DeviceLostError that says what happened, where, and that --resume continues from the last
// checkpoint; every file the run had saved is byte for byte as it was (a save begins with a
// readback, which the lost device fails, so nothing is written from it); and after a new init()
// the resume finishes the run.

import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTraining, type TrainHooks } from '../../src/app/train-job.js';
import { configFromFlags } from '../../src/cli/train.js';
import { writeSyntheticDataset } from '../../src/data/synth.js';
import { runtime } from '../../src/gpu/runtime.js';
import * as dn from '../../src/index.js';

let work = '';
let data = '';
const TINY = { size: 16, features: 4, depth: 2, batch: 4, workers: 0, 'test-fraction': 0.2, augment: 'none', epochs: 3 };
const segment = (out: string) => configFromFlags('segment', { data, out, ...TINY });

/** Every file of the run folder and its bytes. */
const files = (run: string) => new Map(readdirSync(run).map((f) => [f, readFileSync(join(run, f))]));
const metricEpochs = (run: string) => readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).epoch as number);

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'dawnet-device-lost-'));
  data = join(work, 'data');
  await writeSyntheticDataset(data, { patients: 6, seed: 8, size: 16, slicesPerPatient: [3, 5] });
  await dn.init();
}, 120_000);

afterAll(() => {
  dn.shutdown();
  rmSync(work, { recursive: true, force: true });
});

/**
 * Runs into `run` with `lose(hooks)` destroying the device somewhere; returns the error the run
 * stopped with and the folder's files as they were the moment the device went.
 */
async function losingRun(run: string, lose: (destroy: () => void) => Partial<TrainHooks>): Promise<{ err: unknown; before: Map<string, Buffer> }> {
  let before = new Map<string, Buffer>();
  const destroy = () => {
    before = files(run);
    runtime().device.destroy();
  };
  const err = await runTraining(segment(run), { log: () => {}, ...lose(destroy) }).then(() => null, (e: unknown) => e);
  // A new device for what follows, as the message tells a library user.
  await dn.init();
  return { err, before };
}

describe('a GPU device lost during a training run', () => {
  it('mid-epoch: stops with where and --resume, damages nothing saved, and the resume finishes', async () => {
    const run = join(work, 'mid-epoch');
    const { err, before } = await losingRun(run, (destroy) => ({ onBatch: (p) => void (p.epoch === 1 && p.batch === 2 && destroy()) }));
    expect(err).toBeInstanceOf(dn.DeviceLostError);
    const last = join(run, 'last.safetensors');
    expect((err as Error).message).toMatch(/^GPU device lost \(destroyed: .*\) in epoch 2 \(2 of its batches trained\), so the run stopped/);
    expect((err as Error).message).toContain(`--resume ${run} continues it from its last checkpoint, ${last}`);
    expect(before.has('last.safetensors')).toBe(true);
    expect(files(run)).toEqual(before);
    const again = await runTraining(segment(run), { log: () => {} }, true);
    expect(again.interrupted).toBe(false);
    expect(metricEpochs(run)).toEqual([0, 1, 2]);
  });

  it('as a checkpoint is being saved: the file is left as it was, not written from the lost device', async () => {
    const run = join(work, 'saving');
    // ModelCheckpoint says it is saving just before it reads the weights back: the second time is epoch 2's.
    let saves = 0;
    const { err, before } = await losingRun(run, (destroy) => ({ log: (m) => void (m.startsWith('ModelCheckpoint:') && ++saves === 2 && destroy()) }));
    expect(saves).toBe(2);
    expect(err).toBeInstanceOf(dn.DeviceLostError);
    expect(before.has('best.safetensors')).toBe(true);
    expect(files(run)).toEqual(before);
    expect(readdirSync(run).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('before the first epoch ended: says there is no checkpoint yet and that --resume starts the run again', async () => {
    const run = join(work, 'first-epoch');
    const { err } = await losingRun(run, (destroy) => ({ onBatch: (p) => void (p.epoch === 0 && p.batch === 1 && destroy()) }));
    expect(err).toBeInstanceOf(dn.DeviceLostError);
    expect((err as Error).message).toContain(`--resume ${run} starts it again (no epoch had finished, so there is no checkpoint)`);
  });
});
