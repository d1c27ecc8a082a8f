import { readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultConfig } from '../../src/app/config.js';
import { UsageError } from '../../src/cli/args.js';
import { formatSweepTable, sweepGrid } from '../../src/cli/sweep.js';
import { buildCli, runCli, tempDir } from './helpers.js';

describe('sweep grid and table', () => {
  it('crosses presets, batch sizes and learning rates, one run folder each', () => {
    const base = { ...defaultConfig('segment'), out: 'runs/s' };
    const grid = sweepGrid(base, ['none', 'hflip'], [8, 16], [1e-3]);
    expect(grid.map((c) => [c.augment, c.batch, c.lr])).toEqual([['none', 8, 1e-3], ['none', 16, 1e-3], ['hflip', 8, 1e-3], ['hflip', 16, 1e-3]]);
    expect(new Set(grid.map((c) => c.out)).size).toBe(4);
    expect(() => sweepGrid(base, ['sideways'], [], [])).toThrow();
  });

  it('refuses a value given twice, which would train one setting into one folder twice', () => {
    const base = { ...defaultConfig('segment'), out: 'runs/s' };
    expect(() => sweepGrid(base, ['none'], [16, 16], [])).toThrow(/^--batch lists 16 twice$/);
    expect(() => sweepGrid(base, ['none'], [], [1e-4, 0.0001])).toThrow(/^--lr lists 0.0001 twice$/);
    expect(() => sweepGrid(base, ['hflip', 'none', 'hflip'], [], [])).toThrow(UsageError);
    expect(sweepGrid(base, ['none'], [8, 16], [1e-4, 3e-4])).toHaveLength(4);
  });

  it('formats the notebook-style table', () => {
    const t = formatSweepTable([{ setting: 'none, batch 8, lr 0.001', augment: 'none', batch: 8, lr: 0.001, metric: 0.8123, loss: 0.2, run: 'x' }], 'Dice');
    expect(t.split('\n')[0]).toMatch(/setting\s+test Dice\s+test loss/);
    expect(t).toContain('0.8123');
  });
});

let cli = '';
let work = '';
beforeAll(async () => {
  cli = await buildCli();
  work = tempDir('dawnet-sweep-');
});
afterAll(() => {
  rmSync(dirname(cli), { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

describe('dawnet sweep', () => {
  it('trains each setting and prints the table', async () => {
    const data = join(work, 'data');
    expect((await runCli(cli, ['synth', '--out', data, '--patients', '6', '--seed', '4', '--size', '32', '--slices', '6-8'])).code).toBe(0);
    const out = join(work, 'sweep');
    const r = await runCli(cli, ['sweep', 'segment', '--data', data, '--out', out, '--augment', 'none,hflip', '--epochs', '1', '--size', '32', '--features', '4', '--depth', '2', '--batch', '8'], { timeoutMs: 300_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/setting\s+test Dice\s+test loss/);
    const json = JSON.parse(readFileSync(join(out, 'sweep.json'), 'utf8'));
    expect(json.rows.map((row: { augment: string }) => row.augment)).toEqual(['none', 'hflip']);
    for (const row of json.rows) expect(Number.isFinite(row.metric)).toBe(true);
  }, 300_000);
});
