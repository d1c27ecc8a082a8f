// Argument checks of `dawnet convert` and `dawnet synth` that need no GPU.
import { describe, expect, it } from 'vitest';
import { parseConvertArgs } from '../../src/cli/convert.js';
import { UsageError } from '../../src/cli/args.js';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkSeed as checkSynthSeed } from '../../src/cli/args.js';
import { checkSynthBounds, runSynth } from '../../src/cli/synth.js';

describe('convert arguments', () => {
  it('splits --key=value at the first = only', () => {
    expect(parseConvertArgs(['in.pt', '--out=w/x=1.safetensors'])!.out).toBe('w/x=1.safetensors');
    expect(parseConvertArgs(['in.pt', '--out', 'a=b.safetensors', '--model=unet'])).toMatchObject({ out: 'a=b.safetensors', model: 'unet' });
  });
});

describe('synth bounds', () => {
  it('refuses a --size or --patients too large with a UsageError', async () => {
    await expect(runSynth(['--out', '/tmp/never-written', '--size', '100000'])).rejects.toThrow(UsageError);
    await expect(runSynth(['--out', '/tmp/never-written', '--size', '100000'])).rejects.toThrow(/^--size must be/);
    expect(() => checkSynthBounds(64, 1_000_000)).toThrow(/^--patients must be/);
    expect(() => checkSynthBounds(64, 4)).not.toThrow();
  });
});

describe('synth output folder and seed', () => {
  it('refuses a folder that holds anything, leaving it as it was', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dawnet-synth-'));
    try {
      await writeFile(join(dir, 'data.csv'), 'real data');
      const tiny = ['--out', dir, '--patients', '1', '--size', '16', '--slices', '2-3'];
      await expect(runSynth(tiny)).rejects.toThrow(/is not empty \(data\.csv\)/);
      expect(await readdir(dir)).toEqual(['data.csv']);
      expect(await readFile(join(dir, 'data.csv'), 'utf8')).toBe('real data');
      await expect(runSynth(['--out', join(dir, 'data.csv'), ...tiny.slice(2)])).rejects.toThrow(UsageError);
      // A new folder inside is written as before.
      await runSynth(['--out', join(dir, 'new'), ...tiny.slice(2)]);
      expect((await readdir(join(dir, 'new'))).length).toBeGreaterThan(1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a seed that the generator would read as another (fractional, negative, past 2^32 - 1)', () => {
    for (const seed of [1.5, -1, 2 ** 32]) expect(() => checkSynthSeed(seed)).toThrow(/^--seed must be/);
    for (const seed of [0, 7, 2 ** 32 - 1]) expect(() => checkSynthSeed(seed)).not.toThrow();
  });
});
