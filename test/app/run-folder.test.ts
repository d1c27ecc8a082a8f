// The run folder is the run: --resume continues the folder it is given (wherever it was copied),
// as it was configured (its epochs, its task, its flags), and a new run never lands on top of an
// old one unless told to replace it. Also the flag checks that must come before the data scan,
// for train and for every combination of a sweep, and a --weights file that lacks base tensors.

import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildModel } from '../../src/app/model.js';
import { readConfig } from '../../src/app/run-dir.js';
import { importBaseWeights, runTraining } from '../../src/app/train-job.js';
import { helpText } from '../../src/cli/args.js';
import { runDemo } from '../../src/cli/demo.js';
import { runSweep } from '../../src/cli/sweep.js';
import { configFromFlags, resumeConfig, runTrain, trainSpec, validateTrainConfig } from '../../src/cli/train.js';
import { DataError } from '../../src/data/errors.js';
import { writeSyntheticDataset } from '../../src/data/synth.js';
import * as dn from '../../src/index.js';
import { encodeSafetensors, type HostTensor } from '../../src/io/safetensors.js';
import { vgg16 } from '../../src/models/vgg16.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

let work = '';
let data = '';
let run = '';
const quiet = () => {};
const TINY = { epochs: 1, size: 16, features: 4, depth: 2, batch: 4, augment: 'none', workers: 0, 'test-fraction': 0.2 };
const segment = (flags: Record<string, unknown>) => configFromFlags('segment', { data, ...TINY, ...flags });
/** Every file of a folder, name to bytes: "untouched" means this is equal before and after. */
const snapshot = (dir: string) => Object.fromEntries(readdirSync(dir).sort().map((f) => [f, readFileSync(join(dir, f)).toString('base64')]));

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'dawnet-run-folder-'));
  data = join(work, 'kaggle_3m');
  await writeSyntheticDataset(data, { patients: 6, seed: 8, size: 16, slicesPerPatient: [3, 5] });
  run = join(work, 'run');
  // The data given relative to the working directory, as a user types it.
  await runTraining(segment({ data: relative(process.cwd(), data), out: run }), { log: quiet });
}, 300_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('train --resume', () => {
  it('continues the folder it is given, not the one its config.json names, and leaves the original untouched', async () => {
    const copy = join(work, 'run-copy');
    cpSync(run, copy, { recursive: true });
    const before = snapshot(run);
    const logs: string[] = [];
    await runTraining(segment({ data: '', resume: copy, epochs: 2 }), { log: (m) => logs.push(m) }, true);
    expect(snapshot(run), 'the original run, byte for byte').toEqual(before);
    expect(logs).toContain(`resume: continuing ${copy} from epoch 2 of 2`);
    expect(logs).toContain(`split: the run's own, from ${join(copy, 'split.json')}`);
    const epochs = readFileSync(join(copy, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).epoch);
    expect(epochs).toEqual([0, 1]);
    expect(JSON.parse(readFileSync(join(copy, 'config.json'), 'utf8')).out).toBe(copy);
    expect((await readConfig(copy)).out).toBe(copy);
  }, 120_000);

  it("keeps the run's epochs unless --epochs gives a new target", async () => {
    expect((await resumeConfig('segment', { resume: run }, ['resume'])).epochs).toBe(1);
    expect((await resumeConfig('segment', { resume: run, epochs: 3 }, ['resume', 'epochs'])).epochs).toBe(3);
    const logs: string[] = [];
    const copy = join(work, 'run-more');
    cpSync(run, copy, { recursive: true });
    await runTraining({ ...(await resumeConfig('segment', { resume: copy, epochs: 2 }, ['resume', 'epochs'])), out: copy }, { log: (m) => logs.push(m) }, true);
    expect(logs).toContain('resume: the target is now 2 epochs (the run was set for 1)');
  }, 120_000);

  it('refuses another task and flags that would change the run; takes --data, and stores data absolute', async () => {
    const before = snapshot(run);
    await expect(runTrain(['classify', '--resume', run, '--lr', '5', '--batch', '8'])).rejects.toThrow(`${run} is a segment run, not classify: continue it with 'dawnet train segment --resume ${run}'`);
    await expect(runTrain(['segment', '--resume', run, '--lr', '5', '--batch=8', '--epochs', '2'])).rejects.toThrow(`--resume continues ${run} as it was configured; --lr, --batch would change it: start a new run with --out`);
    expect(snapshot(run)).toEqual(before);
    expect((await resumeConfig('segment', { resume: run, data: 'moved' }, ['resume', 'data'])).data).toBe('moved');
    // The original command with --resume added: flags that repeat what the run has, --out naming
    // the same folder and --workers (threads change nothing computed) are taken.
    const again = { resume: run, out: run, batch: 4, lr: 1e-4, size: 16, workers: 2 };
    const resumed = await resumeConfig('segment', again, ['resume', 'out', 'batch', 'lr', 'size', 'workers']);
    expect([resumed.batch, resumed.workers]).toEqual([4, 2]);
    await expect(resumeConfig('segment', { ...again, out: join(work, 'elsewhere') }, ['resume', 'out'])).rejects.toThrow('--out would change it');
    await expect(resumeConfig('segment', { resume: run, overwrite: true }, ['resume', 'overwrite'])).rejects.toThrow(`--overwrite replaces a run with a new one; --resume continues ${run}: give one of them`);
    expect(JSON.parse(readFileSync(join(run, 'config.json'), 'utf8')).data, 'typed relative, stored absolute').toBe(resolve(data));
  });
});

describe('an older run', () => {
  it('resumes though its config.json lacks the fields later versions added', async () => {
    const old = join(work, 'run-older');
    cpSync(run, old, { recursive: true });
    const config = JSON.parse(readFileSync(join(old, 'config.json'), 'utf8'));
    for (const k of ['folds', 'fold', 'tuneConvs', 'clipGradNorm', 'accumulate', 'lrSchedule', 'optimizer', 'norm', 'attention', 'ema']) delete config[k];
    writeFileSync(join(old, 'config.json'), JSON.stringify(config));
    const c = await resumeConfig('segment', { resume: old }, ['resume']);
    expect(() => validateTrainConfig(c, true)).not.toThrow();
    expect([c.clipGradNorm, c.accumulate, c.ema, c.optimizer]).toEqual([0, 1, 0, 'adam']);
  });
});

describe('a new run into a folder', () => {
  it('--overwrite that fails before the run starts (no data) leaves the old run whole', async () => {
    const old = join(work, 'run-kept');
    cpSync(run, old, { recursive: true });
    const before = snapshot(old);
    await expect(runTraining(segment({ out: old, data: join(work, 'no-such-data') }), { log: quiet }, false, true)).rejects.toThrow('no-such-data');
    expect(snapshot(old)).toEqual(before);
  });

  it('--overwrite that fails after the data scan leaves the old run whole, its list of skipped files included', async () => {
    const old = join(work, 'run-list');
    cpSync(run, old, { recursive: true });
    writeFileSync(join(old, 'data-problems.txt'), 'the old run\'s list\n');
    const before = snapshot(old);
    // Data with a slice whose mask is gone: the new run's scan skips it, and would list it.
    const bad = join(work, 'kaggle_3m-bad');
    cpSync(data, bad, { recursive: true });
    const patient = readdirSync(bad).filter((f) => f.startsWith('TCGA_')).sort()[0];
    rmSync(join(bad, patient, `${patient}_1_mask.tif`));
    // A classifier whose --weights file is not a weights file fails after the scan, before the old
    // run is cleared (a missing one is named before the scan).
    const logs: string[] = [];
    const weights = join(work, 'not-weights.h5');
    writeFileSync(weights, 'not an HDF5 file');
    const c = configFromFlags('classify', { data: bad, out: old, weights, epochs: 1, batch: 4, workers: 0, 'test-fraction': 0.2 });
    await expect(runTraining(c, { log: (m) => logs.push(m) }, false, true)).rejects.toThrow('not-weights.h5');
    expect(logs.some((l) => l.startsWith('data: skipped 1 problem file(s)')), logs.join('\n')).toBe(true);
    expect(snapshot(old)).toEqual(before);
  }, 120_000);

  it('refuses one that holds a run, leaving it byte for byte', async () => {
    const before = snapshot(run);
    const err = await runTraining(segment({ out: run }), { log: quiet }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataError);
    expect((err as Error).message).toBe(`${run} holds a run already: --resume ${run} continues it; choose another --out, or --overwrite to replace it`);
    expect(snapshot(run)).toEqual(before);
  });

  it('--overwrite removes the old run first: an interrupted new run leaves no old best, eval or report', async () => {
    const old = join(work, 'run-old');
    cpSync(run, old, { recursive: true });
    writeFileSync(join(old, 'notes.txt'), 'mine');
    const result = await runTraining(segment({ out: old }), { log: quiet, signal: { stop: true } }, false, true);
    expect(result.interrupted).toBe(true);
    for (const f of ['best.safetensors', 'eval.json', 'report.html']) expect(existsSync(join(old, f)), f).toBe(false);
    expect(readFileSync(join(old, 'metrics.jsonl'), 'utf8')).toBe('');
    expect(readFileSync(join(old, 'notes.txt'), 'utf8'), 'only the run files go').toBe('mine');
    expect(helpText(trainSpec)).toContain('--overwrite');
  }, 120_000);

  it("demo refuses a user's run folder before writing its synthetic data there", async () => {
    const mine = join(work, 'run-mine');
    cpSync(run, mine, { recursive: true });
    const before = snapshot(mine);
    await expect(runDemo(['--out', mine])).rejects.toThrow(`${mine} holds a run already`);
    expect(snapshot(mine)).toEqual(before);
  });

  it('refuses a file as --out before the data is scanned', async () => {
    const file = join(work, 'afile');
    writeFileSync(file, 'x');
    const logs: string[] = [];
    await expect(runTraining(segment({ out: file }), { log: (m) => logs.push(m) })).rejects.toThrow(`${file}: not a folder; --out names the run folder to create`);
    expect(logs).toEqual([]);
  });
});

describe('flag checks before the data scan', () => {
  it('names the flag: --lr-factor, --workers, --depth, --features', () => {
    const check = (flags: Record<string, unknown>) => () => validateTrainConfig(segment(flags), false);
    expect(check({ 'lr-factor': 2 })).toThrow(/^--lr-factor must be between 0 and 1/);
    expect(check({ 'lr-factor': 0 })).toThrow(/^--lr-factor must be between 0 and 1/);
    expect(check({ workers: 1.5 })).toThrow(/^--workers must be a whole number/);
    expect(check({ depth: 0 })).toThrow(/^--depth must be a positive whole number, got 0/);
    expect(check({ features: 2.5 })).toThrow(/^--features must be a positive whole number, got 2.5/);
    expect(check({ workers: 0, 'lr-factor': 0.5 })).not.toThrow();
    // The callbacks' settings, which would otherwise fail only once the run's folder is written.
    expect(check({ patience: 2.5 })).toThrow(/^--patience must be a whole number of epochs, 0 or more, got 2.5/);
    expect(check({ 'lr-patience': -1 })).toThrow(/^--lr-patience must be a whole number of epochs/);
  });

  it('sweep checks every combination before the first run', async () => {
    const out = join(work, 'sweep');
    const sweep = (...extra: string[]) => runSweep(['segment', '--data', data, '--out', out, '--augment', 'none', ...extra]);
    await expect(sweep('--epochs', '0')).rejects.toThrow(/^--epochs must be a positive whole number, got 0/);
    await expect(sweep('--size', '30', '--depth', '2')).rejects.toThrow(/^--size 30 must be a multiple of 4/);
    await expect(runSweep(['classify', '--data', data, '--out', out, '--loss', 'dice'])).rejects.toThrow(/^--loss dice is a segmentation loss/);
    expect(existsSync(out)).toBe(false);
  });

  it('sweep refuses, before the first run, a combination whose folder holds a run of other settings', async () => {
    const out = join(work, 'sweep-again');
    // A run of other settings (this file's run, test fraction 0.2) where the sweep's first combination
    // goes: the sweep would table it as its own, so it refuses it (one of its own settings it would continue).
    cpSync(run, join(out, 'none_b4_lr0.0001'), { recursive: true });
    const sweep = runSweep(['segment', '--data', data, '--out', out, '--augment', 'none', '--batch', '4', '--lr', '1e-4,3e-4', '--size', '16', '--features', '4', '--depth', '2']);
    await expect(sweep).rejects.toThrow(`${join(out, 'none_b4_lr0.0001')} holds a run with testFraction 0.2, not 0.1: its results would stand in the table for this sweep's`);
    expect(existsSync(join(out, 'none_b4_lr0.0003')), 'nothing trained').toBe(false);
  });
});

describe('classify --weights', () => {
  it('refuses a file that lacks some of the base tensors, naming them', async () => {
    dn.setInitSeed(77);
    const donor = vgg16({ widthScale: 0.125 });
    const tensors = new Map<string, HostTensor>();
    for (const p of donor.namedParameters()) if (!p.name.includes('block5')) tensors.set(p.name, { shape: [...p.tensor.shape], data: await p.tensor.toArray() });
    donor.dispose();
    const weights = join(work, 'vgg16-partial.safetensors');
    writeFileSync(weights, encodeSafetensors(tensors, { format: 'dawnet-weights-1', model: 'vgg16', converted_from: 'test' }));
    const c = configFromFlags('classify', { data, weights, 'width-scale': 0.125, size: 32 });
    const { model } = buildModel(c);
    try {
      await expect(importBaseWeights(c, model, quiet)).rejects.toThrow(new RegExp(`^${weights.replace(/[.]/g, '\\.')}: 6 of the VGG16 base's tensors are missing \\(features\\.block5_conv1\\.weight, `));
    } finally {
      model.dispose();
    }
  }, 60_000);
});
