// A saved run config is checked before anything is rebuilt from it (runConfigFault, readConfig):
// every config train writes passes, and a hand-edited one names the file and the field at fault.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultConfig, runConfigFault } from '../../src/app/config.js';
import { readConfig } from '../../src/app/run-dir.js';
import { configFromFlags } from '../../src/cli/train.js';
import { FormatError } from '../../src/errors.js';

const work = mkdtempSync(join(tmpdir(), 'dawnet-run-config-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The config train would write for these flags, as its JSON round trip stores it. */
const saved = (task: 'classify' | 'segment', flags: Record<string, unknown> = {}) => JSON.parse(JSON.stringify(configFromFlags(task, { data: 'd', out: 'o', ...flags })));

describe('runConfigFault', () => {
  it('passes every config train writes, and one from before the optional fields', () => {
    expect(runConfigFault(saved('segment'))).toBeNull();
    expect(runConfigFault(saved('classify', { weights: 'vgg16.h5' }))).toBeNull();
    expect(runConfigFault(saved('segment', { norm: 'group', attention: true, optimizer: 'adamw', 'lr-schedule': 'cosine', ema: 0.999, folds: 5, fold: 2 }))).toBeNull();
    const older = saved('segment');
    for (const k of ['folds', 'fold', 'tuneConvs', 'clipGradNorm', 'accumulate', 'lrSchedule', 'optimizer', 'norm', 'attention', 'ema']) delete older[k];
    expect(runConfigFault(older)).toBeNull();
  });

  it('names a missing field, a value of the wrong kind and an unknown choice', () => {
    const { data: _, ...noData } = saved('segment');
    expect(runConfigFault(noData)).toBe("'data' is missing");
    expect(runConfigFault({ ...saved('segment'), size: '256' })).toBe("'size' must be a positive whole number, got \"256\"");
    expect(runConfigFault({ ...saved('segment'), normalize: 'minmax' })).toBe("'normalize' must be one of 'zscore', 'zscore-volume', 'imagenet', 'none', got \"minmax\"");
    expect(runConfigFault({ ...saved('segment'), norm: 'layer' })).toBe("'norm' must be one of 'batch', 'instance', 'group', got \"layer\"");
    expect(runConfigFault({ ...defaultConfig('classify'), weights: 3 })).toBe("'weights' must be a string or null, got 3");
    expect(runConfigFault([1, 2])).toBe('not a JSON object');
  });
});

describe('readConfig', () => {
  it('a FormatError naming config.json and the field', async () => {
    const run = join(work, 'edited');
    const { task: _, ...noTask } = saved('segment');
    mkdirSync(run);
    writeFileSync(join(run, 'config.json'), JSON.stringify(noTask));
    const error = await readConfig(run).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FormatError);
    expect((error as Error).message).toBe(`${join(run, 'config.json')}: run config: 'task' is missing`);
    writeFileSync(join(run, 'config.json'), JSON.stringify(saved('segment')));
    expect((await readConfig(run)).task).toBe('segment');
  });

  it('a run folder that is not there, or is a file, is said as such (eval nothere named nothere/config.json)', async () => {
    const none = join(work, 'nothere');
    await expect(readConfig(none)).rejects.toThrow(`${none}: no such run folder`);
    const file = join(work, 'a-file');
    writeFileSync(file, 'x');
    await expect(readConfig(file)).rejects.toThrow(`${file}: a file, not a run folder`);
    const empty = join(work, 'empty');
    mkdirSync(empty);
    await expect(readConfig(empty)).rejects.toThrow(/config\.json: missing run config \(is this a dawnet run folder\?\)/);
  });
});
