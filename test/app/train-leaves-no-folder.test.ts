// A new run whose data is refused before it writes anything leaves no empty run folder behind
// (the CLI left one for each failed attempt, counted by the next scan of the parent); a folder
// that was there before, or has anything in it, stays. A missing weights file is named first.

import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runTraining } from '../../src/app/train-job.js';
import { configFromFlags } from '../../src/cli/train.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

const work = mkdtempSync(join(tmpdir(), 'dawnet-no-folder-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const quiet = { log: () => undefined };

describe('a refused new run', () => {
  it('removes the run folder it made, and only that', async () => {
    const config = (out: string) => configFromFlags('segment', { data: join(work, 'no-such-data'), out, size: 32, features: 4, depth: 2 });
    const fresh = join(work, 'runs', 'fresh');
    await expect(runTraining(config(fresh), quiet)).rejects.toThrow(/no-such-data/);
    expect(existsSync(fresh)).toBe(false);
    // A folder the user made first, and one with a file of theirs, are left as they were.
    const mine = join(work, 'mine');
    mkdirSync(mine);
    await expect(runTraining(config(mine), quiet)).rejects.toThrow(/no-such-data/);
    expect(existsSync(mine)).toBe(true);
    writeFileSync(join(mine, 'notes.txt'), 'keep');
    await expect(runTraining(config(mine), quiet)).rejects.toThrow(/no-such-data/);
    expect(readdirSync(mine)).toEqual(['notes.txt']);
  });

  it('names a weights file that is not there before making the run folder', async () => {
    const out = join(work, 'runs', 'vgg');
    const weights = join(work, 'missing.h5');
    const config = configFromFlags('classify', { data: join(work, 'no-such-data'), out, size: 32, weights });
    await expect(runTraining(config, quiet)).rejects.toThrow(`${weights}: no such weights file (the classifier's VGG16 base)`);
    expect(existsSync(out)).toBe(false);
  });
});
