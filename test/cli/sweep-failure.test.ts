// `dawnet sweep` when a run fails part-way through the grid: the finished runs' table is still
// printed and written to sweep.json, and the failure is reported (one line, exit status 1). A
// loss that turns NaN is not such a failure but a diverged run (sweep-diverged.test.ts).
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
  it('a run that cannot start (its folder taken by a file) stops the sweep; once the file is gone, the same command continues', async () => {
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
    // Run again without the file: the finished run is read back, the failed one trained.
    rmSync(taken);
    const again = await runCli(cli, sweepArgs(out, '8,4'), { timeoutMs: 300_000 });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout.match(/finished earlier/g)?.length).toBe(1);
    expect(rowsOf(out).map((row) => [row.batch, row.run])).toEqual([[8, join(out, 'none_b8_lr0.0001')], [4, taken]]);
  }, 300_000);
});
