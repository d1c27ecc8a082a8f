import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultConfig } from '../../src/app/config.js';
import { UsageError } from '../../src/cli/args.js';
import { formatSweepTable, sweepBestLine, sweepGrid, sweepRanks, type SweepRow } from '../../src/cli/sweep.js';
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
    const t = formatSweepTable([{ setting: 'none, batch 8, lr 0.001', augment: 'none', batch: 8, lr: 0.001, metric: 0.8123, loss: 0.2, run: 'x', status: 'finished' }], 'Dice');
    expect(t.split('\n')[0]).toMatch(/setting\s+test Dice\s+test loss\s+rank$/);
    expect(t).toContain('0.8123');
  });

  it('ranks the runs by their test metric, ties sharing a place, and names the best', () => {
    const row = (lr: number, metric: number): SweepRow => ({ setting: `none, batch 8, lr ${lr}`, augment: 'none', batch: 8, lr, metric, loss: 0.2, run: `runs/lr${lr}`, status: 'finished' });
    const diverged: SweepRow = { ...row(1e-2, NaN), loss: NaN, status: 'diverged', diverged: { message: 'm', epoch: 1, batch: 2, bestVal: null } };
    const rows = [row(1e-4, 0.7), row(3e-4, 0.9), row(1e-3, 0.7), diverged, row(3e-2, 0.95)];
    expect(sweepRanks(rows)).toEqual([3, 2, 3, null, 1]);
    const lines = formatSweepTable(rows, 'Dice').split('\n');
    expect(lines.slice(2).map((l) => /\.\d{4} +(\d+)$/.exec(l)?.[1] ?? '')).toEqual(['3', '2', '3', '', '1']);
    expect(sweepBestLine(rows, 'Dice')).toBe('best by test Dice (0.9500): none, batch 8, lr 0.03 (runs/lr0.03)');
    expect(sweepBestLine([row(1, 0.5), row(2, 0.5)], 'accuracy')).toBe('best by test accuracy (0.5000): none, batch 8, lr 1 (runs/lr1), none, batch 8, lr 2 (runs/lr2), tied');
    // --test-fraction 0: finished runs without a test metric; no rank column.
    expect(sweepBestLine([row(1, NaN)], 'Dice')).toBe('no run has a test Dice to rank by (--test-fraction 0 leaves no test set)');
    expect(formatSweepTable([row(1, NaN)], 'Dice').split('\n')[0]).not.toContain('rank');
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
  it('refuses an --out that is a file before the first run, and a U-Net option for classify', async () => {
    const file = join(work, 'notes.txt');
    writeFileSync(file, 'keep');
    const r = await runCli(cli, ['sweep', 'segment', '--data', work, '--out', file, '--lr', '1e-3', '--epochs', '1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`dawnet sweep: --out ${file} is a file; the sweep writes its runs' folders and sweep.json into a folder there`);
    expect(r.stdout).not.toContain('[1/');
    expect(readFileSync(file, 'utf8')).toBe('keep');
    const c = await runCli(cli, ['sweep', 'classify', '--data', work, '--depth', '2']);
    expect(c.code).toBe(1);
    expect(c.stderr).toContain('--depth is for segment');
  });

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
    // Ranked by test Dice; the best run (or runs, tied) named in sweep.json and under the table.
    const ranks = json.rows.map((row: { rank: number }) => row.rank);
    expect([...ranks].sort()).toEqual(json.rows[0].metric === json.rows[1].metric ? [1, 1] : [1, 2]);
    expect(json.best).toEqual(json.rows.filter((row: { rank: number }) => row.rank === 1).map((row: { run: string }) => row.run));
    expect(r.stdout).toMatch(/^best by test Dice \(\d\.\d{4}\): /m);
  }, 300_000);

  it('run again, reads finished runs back and resumes an interrupted one; a changed setting is refused by name', async () => {
    const data = join(work, 'data');
    const out = join(work, 'sweep');
    const [none, hflip] = JSON.parse(readFileSync(join(out, 'sweep.json'), 'utf8')).rows.map((row: { run: string }) => row.run);
    // The hflip run as if interrupted after its epoch: no eval.json or report yet.
    rmSync(join(hflip, 'eval.json'));
    rmSync(join(hflip, 'report.html'));
    const args = ['sweep', 'segment', '--data', data, '--out', out, '--augment', 'none,hflip', '--size', '32', '--features', '4', '--depth', '2', '--batch', '8'];
    const changed = await runCli(cli, [...args, '--epochs', '2']);
    expect(changed.code).toBe(1);
    expect(changed.stderr).toContain(`${none} holds a run with epochs 1, not 2`);
    expect(existsSync(join(hflip, 'report.html')), 'refused before any run').toBe(false);
    const r = await runCli(cli, [...args, '--epochs', '1'], { timeoutMs: 300_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.match(/finished earlier/g)?.length).toBe(1);
    expect(r.stdout).toContain(`resume: ${hflip} has trained all 1 epochs; finishing it (test evaluation and report)`);
    expect(r.stdout).toMatch(/none, batch 8, .*\n.*hflip, batch 8, /);
    const rows = JSON.parse(readFileSync(join(out, 'sweep.json'), 'utf8')).rows;
    expect(rows.map((row: { run: string }) => row.run)).toEqual([none, hflip]);
    for (const row of rows) expect(Number.isFinite(row.metric)).toBe(true);
    // --overwrite still starts afresh: nothing read back.
    const fresh = await runCli(cli, [...args, '--epochs', '1', '--overwrite'], { timeoutMs: 300_000 });
    expect(fresh.code, fresh.stderr).toBe(0);
    expect(fresh.stdout).not.toContain('finished earlier');
  }, 300_000);

  it('Ctrl-C stops the current run with a checkpoint and the finished runs\' table; the same command continues', async () => {
    const data = join(work, 'data');
    const out = join(work, 'sweep-stopped');
    const args = ['sweep', 'segment', '--data', data, '--out', out, '--augment', 'none,hflip', '--epochs', '1', '--size', '32', '--features', '4', '--depth', '2', '--batch', '8'];
    let sent = false;
    const first = await runCli(cli, args, {
      timeoutMs: 300_000,
      onStdout: (text, kill) => {
        if (!sent && /\[2\/2\]/.test(text)) {
          sent = true;
          kill('SIGINT');
        }
      },
    });
    expect(sent).toBe(true);
    expect(first.code, first.stderr).toBe(130);
    expect(first.stdout).toContain('interrupted: running the same command again continues the sweep');
    const partial = JSON.parse(readFileSync(join(out, 'sweep.json'), 'utf8')).rows;
    expect(partial.map((row: { augment: string }) => row.augment)).toEqual(['none']);
    const hflip = join(out, 'hflip_b8_lr0.0001');
    expect(existsSync(join(hflip, 'last.safetensors'))).toBe(true);
    expect(existsSync(join(hflip, 'report.html'))).toBe(false);
    const again = await runCli(cli, args, { timeoutMs: 300_000 });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout.match(/finished earlier/g)?.length).toBe(1);
    expect(again.stdout).toContain(`resume: continuing ${hflip} from epoch 1 of 1, after its first`);
    expect(existsSync(join(hflip, 'report.html'))).toBe(true);
    const rows = JSON.parse(readFileSync(join(out, 'sweep.json'), 'utf8')).rows;
    expect(rows.map((row: { augment: string }) => row.augment)).toEqual(['none', 'hflip']);
  }, 300_000);
});
