// `dawnet sweep` when a run fails part-way through the grid: the finished runs' table is still
// printed and written to sweep.json, and the failure is reported (one line, exit status 1).
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCli, runCli, tempDir } from './helpers.js';

let cli = '';
let work = '';
let data = '';
beforeAll(async () => {
  cli = await buildCli();
  work = tempDir('dawnet-sweep-failure-');
  data = join(work, 'data');
  expect((await runCli(cli, ['synth', '--out', data, '--patients', '6', '--seed', '4', '--size', '32', '--slices', '6-8'])).code).toBe(0);
}, 60_000);
afterAll(() => {
  if (cli) rmSync(dirname(cli), { recursive: true, force: true });
  if (work) rmSync(work, { recursive: true, force: true });
});

const tiny = ['--data', '', '--augment', 'none', '--epochs', '1', '--size', '32', '--features', '4', '--depth', '2'];
const sweepArgs = (out: string, batches: string) => ['sweep', 'segment', ...tiny.map((a) => a || data), '--out', out, '--batch', batches];
const rowsOf = (out: string) => JSON.parse(readFileSync(join(out, 'sweep.json'), 'utf8')).rows as { batch: number; run: string; metric: number }[];

describe('dawnet sweep, a run failing part-way', () => {
  it('a run whose loss turns NaN: the finished run\'s table is kept, the failure reported', async () => {
    const out = join(work, 'nan');
    // The code's fault injection: a NaN loss at the 6th batch of the first epoch, which the run
    // of batch 8 (4 batches of its ~30 training slices) never reaches and the run of batch 4 does.
    process.env.DAWNET_INJECT_NAN_AT_BATCH = '6';
    let r;
    try {
      r = await runCli(cli, sweepArgs(out, '8,4'), { timeoutMs: 300_000 });
    } finally {
      delete process.env.DAWNET_INJECT_NAN_AT_BATCH;
    }
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toContain('[2/2] augment none, batch 4');
    expect(r.stdout).toMatch(/setting\s+test Dice\s+test loss\n.*\nnone, batch 8, lr 0\.0001\s/);
    expect(r.stdout).not.toMatch(/^none, batch 4/m);
    expect(r.stdout).toContain('1 of 2 runs finished');
    const failed = join(out, 'none_b4_lr0.0001');
    expect(r.stderr.trim().split('\n')).toEqual([
      `dawnet sweep: run 2/2 (augment none, batch 4, lr 0.0001 -> ${failed}) failed: training loss became NaN at epoch 1, batch 6; stopping; no epoch had finished, so there is no checkpoint`,
    ]);
    const rows = rowsOf(out);
    expect(rows.map((row) => [row.batch, row.run])).toEqual([[8, join(out, 'none_b8_lr0.0001')]]);
    expect(Number.isFinite(rows[0].metric)).toBe(true);
    // Run again without the fault: the finished run is read back, the failed one trained.
    const again = await runCli(cli, sweepArgs(out, '8,4'), { timeoutMs: 300_000 });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout.match(/finished earlier/g)?.length).toBe(1);
    expect(rowsOf(out).map((row) => [row.batch, row.run])).toEqual([[8, join(out, 'none_b8_lr0.0001')], [4, failed]]);
  }, 300_000);

  it('a run that cannot start (its folder taken by a file): the same', async () => {
    const out = join(work, 'taken');
    const first = await runCli(cli, sweepArgs(out, '8'), { timeoutMs: 300_000 });
    expect(first.code, first.stderr).toBe(0);
    const taken = join(out, 'none_b4_lr0.0001');
    writeFileSync(taken, 'not a run folder');
    const r = await runCli(cli, sweepArgs(out, '8,4'), { timeoutMs: 300_000 });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toContain('finished earlier');
    expect(r.stdout).toContain('1 of 2 runs finished');
    expect(r.stderr.trim().split('\n')).toEqual([`dawnet sweep: run 2/2 (augment none, batch 4, lr 0.0001 -> ${taken}) failed: ${taken}: not a folder; --out names the run folder to create`]);
    expect(rowsOf(out).map((row) => row.batch)).toEqual([8]);
    expect(readFileSync(taken, 'utf8'), 'the file in the way is left alone').toBe('not a run folder');
  }, 300_000);
});
