// `dawnet sweep` when a run does not finish. A loss that turns NaN (a TrainingError) is a result,
// 'diverged', recorded in its folder's diverged.json, and the sweep goes on; run again, it is read
// back, not retrained. Any other failure stops the sweep: the finished runs' table is still
// printed and written to sweep.json, and the failure reported (one line, exit status 1).
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { divergence, formatSweepTable, type SweepRow } from '../../src/cli/sweep.js';
import { buildCli, runCli, tempDir, type CliResult } from './helpers.js';

describe('sweep: a diverged run\'s record and row', () => {
  it('takes the epoch and batch the error carries, and the best finite validation epoch before it', () => {
    const records = [
      { epoch: 0, loss: 0.9, val_loss: 0.8, val_dice: 0.31 },
      { epoch: 1, loss: 0.7, val_loss: 0.6, val_dice: 0.52 },
      { epoch: 2, loss: 0.6, val_loss: NaN, val_dice: NaN },
    ];
    const d = divergence('training loss became NaN at epoch 4, batch 6; stopping; last good checkpoint: x', { epoch: 4, batch: 6 }, records, 'segment');
    expect(d).toMatchObject({ epoch: 4, batch: 6, bestVal: { epoch: 2, metric: 0.52, loss: 0.6 } });
    expect(divergence('training loss became Infinity', null, [], 'classify')).toMatchObject({ epoch: null, batch: null, bestVal: null });
    // A first epoch whose validation is NaN is not a best (as for ModelCheckpoint), nor is the null
    // that metrics.jsonl holds for a NaN.
    expect(divergence('x', null, [{ epoch: 0, val_loss: NaN, val_accuracy: NaN }], 'classify').bestVal).toBeNull();
    const fromJson = JSON.parse(JSON.stringify([{ epoch: 0, val_loss: NaN, val_dice: NaN }, { epoch: 1, val_loss: NaN, val_dice: 0.1 }]));
    expect(divergence('x', null, fromJson, 'segment').bestVal).toEqual({ epoch: 2, metric: 0.1, loss: NaN });
  });

  it('leaves a diverged row\'s test cells blank and says where in a note column', () => {
    const setting = { augment: 'none', batch: 8, lr: 0.001, run: 'x' };
    const rows: SweepRow[] = [
      { ...setting, setting: 'none, batch 8, lr 0.001', metric: 0.8123, loss: 0.2, status: 'finished' },
      { ...setting, setting: 'none, batch 8, lr 0.1', metric: NaN, loss: NaN, status: 'diverged', diverged: { message: 'm', epoch: 3, batch: 2, bestVal: { epoch: 2, metric: 0.5, loss: 0.7 } } },
      { ...setting, setting: 'none, batch 8, lr 1', metric: NaN, loss: NaN, status: 'diverged', diverged: { message: 'm', epoch: 1, batch: 6, bestVal: null } },
    ];
    const lines = formatSweepTable(rows, 'Dice').split('\n');
    expect(lines[0]).toMatch(/^setting\s+test Dice\s+test loss  rank  note$/);
    expect(lines[2]).toMatch(/^none, batch 8, lr 0\.001\s+0\.8123\s+0\.2000\s+1$/);
    expect(lines[3]).toMatch(/^none, batch 8, lr 0\.1\s+diverged at epoch 3, batch 2; best val Dice 0\.5000 \(val loss 0\.7000\) at epoch 2$/);
    expect(lines[4]).toMatch(/^none, batch 8, lr 1\s+diverged at epoch 1, batch 6$/);
    const noLoss = formatSweepTable([{ ...rows[1], diverged: { message: 'm', epoch: 2, batch: 1, bestVal: { epoch: 1, metric: 0.5, loss: NaN } } }], 'Dice');
    expect(noLoss.split('\n')[2]).toMatch(/diverged at epoch 2, batch 1; best val Dice 0\.5000 at epoch 1$/);
    expect(lines[3]).not.toContain('NaN');
  });
});

let cli = '';
let work = '';
let data = '';
beforeAll(async () => {
  cli = await buildCli();
  work = tempDir('dawnet-sweep-diverged-');
  data = join(work, 'data');
  expect((await runCli(cli, ['synth', '--out', data, '--patients', '6', '--seed', '4', '--size', '32', '--slices', '6-8'])).code).toBe(0);
}, 60_000);
afterAll(() => {
  if (cli) rmSync(dirname(cli), { recursive: true, force: true });
  if (work) rmSync(work, { recursive: true, force: true });
});

const tiny = ['--data', '', '--augment', 'none', '--epochs', '1', '--size', '32', '--features', '4', '--depth', '2'];
const sweepArgs = (out: string, batches: string) => ['sweep', 'segment', ...tiny.map((a) => a || data), '--out', out, '--batch', batches];
type JsonRow = { batch: number; run: string; metric: number | null; status: string; diverged?: { epoch: number; batch: number; bestVal: unknown; message: string } };
const rowsOf = (out: string) => JSON.parse(readFileSync(join(out, 'sweep.json'), 'utf8')).rows as JsonRow[];

/**
 * The code's fault injection: a NaN loss at the 6th batch of the first epoch, which runs of batch 8
 * and 16 (4 and 2 batches of the ~30 training slices) never reach and a run of batch 4 does.
 */
async function withNanAtBatch6(args: string[]): Promise<CliResult> {
  process.env.DAWNET_INJECT_NAN_AT_BATCH = '6';
  try {
    return await runCli(cli, args, { timeoutMs: 300_000 });
  } finally {
    delete process.env.DAWNET_INJECT_NAN_AT_BATCH;
  }
}

/** Every file under `dir` with its modification time, sweep.json left out (each sweep writes it). */
function mtimes(dir: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of readdirSync(dir, { recursive: true }) as string[]) {
    const path = join(dir, name);
    if (name !== 'sweep.json' && statSync(path).isFile()) out[name] = statSync(path).mtimeMs;
  }
  return out;
}

describe('dawnet sweep, a run whose loss diverges', () => {
  it('is marked diverged and the sweep goes on; run again, it is read back, not retrained', async () => {
    const out = join(work, 'middle');
    const r = await withNanAtBatch6(sweepArgs(out, '8,4,16'));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain('failed');
    const diverged = join(out, 'none_b4_lr0.0001');
    expect(r.stdout).toContain(`diverged: training loss became NaN at epoch 1, batch 6; stopping; no epoch had finished, so there is no checkpoint; recorded in ${diverged}/diverged.json, the sweep goes on`);
    expect(r.stdout).toContain('[3/3] augment none, batch 16');
    expect(r.stdout).toMatch(/setting\s+test Dice\s+test loss  rank  note\n.*\nnone, batch 8, lr 0\.0001 +\d\.\d{4} +\d\.\d{4} +[12]\nnone, batch 4, lr 0\.0001 +diverged at epoch 1, batch 6\nnone, batch 16, lr 0\.0001 +\d\.\d{4} +\d\.\d{4} +[12]\nbest by test Dice/);
    expect(r.stdout).toContain('1 of 3 runs diverged (their rows say where); the other 2 finished');
    const rows = rowsOf(out);
    expect(rows.map((row) => [row.batch, row.status])).toEqual([[8, 'finished'], [4, 'diverged'], [16, 'finished']]);
    expect(rows[1]).toMatchObject({ run: diverged, metric: null, diverged: { epoch: 1, batch: 6, bestVal: null } });
    expect(Number.isFinite(rows[2].metric)).toBe(true);
    expect(JSON.parse(readFileSync(join(diverged, 'diverged.json'), 'utf8'))).toMatchObject({ epoch: 1, batch: 6, bestVal: null });
    expect(existsSync(join(out, 'none_b16_lr0.0001', 'report.html'))).toBe(true);

    // Without the fault a retrained run would finish: read back as diverged, nothing in any run folder rewritten.
    const before = mtimes(out);
    const again = await runCli(cli, sweepArgs(out, '8,4,16'), { timeoutMs: 300_000 });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout.match(/finished earlier/g)?.length).toBe(2);
    expect(again.stdout).toContain(`diverged earlier: read back from ${diverged}/diverged.json, not trained again`);
    expect(mtimes(out)).toEqual(before);
    expect(rowsOf(out)).toEqual(rows);

    // Its folder deleted, the run trains afresh (and, without the fault, finishes).
    rmSync(diverged, { recursive: true });
    const retried = await runCli(cli, sweepArgs(out, '8,4,16'), { timeoutMs: 300_000 });
    expect(retried.code, retried.stderr).toBe(0);
    expect(retried.stdout.match(/finished earlier/g)?.length).toBe(2);
    expect(rowsOf(out).map((row) => row.status)).toEqual(['finished', 'finished', 'finished']);
    expect(existsSync(join(diverged, 'diverged.json'))).toBe(false);
  }, 300_000);

  it('another failure after it still stops the sweep, the diverged row in the table so far', async () => {
    const out = join(work, 'then-failed');
    const taken = join(out, 'none_b8_lr0.0001');
    mkdirSync(out, { recursive: true });
    writeFileSync(taken, 'not a run folder');
    const r = await withNanAtBatch6(sweepArgs(out, '4,8'));
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toMatch(/\nnone, batch 4, lr 0\.0001 +diverged at epoch 1, batch 6\nno run has a test Dice to rank by\n0 of 2 runs finished, 1 diverged\n/);
    expect(r.stderr.trim().split('\n')).toEqual([`dawnet sweep: run 2/2 (augment none, batch 8, lr 0.0001 -> ${taken}) failed: ${taken}: not a folder; --out names the run folder to create`]);
    expect(rowsOf(out).map((row) => row.status)).toEqual(['diverged']);
  }, 300_000);

  it('a sweep whose every run diverged is still complete: exit status 0, and a last line that says so', async () => {
    const out = join(work, 'all');
    const r = await withNanAtBatch6(sweepArgs(out, '4'));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n').at(-1)).toBe('every run diverged (its loss turned NaN or infinite): the sweep is complete, but no setting trained to the end');
    expect(rowsOf(out).map((row) => row.status)).toEqual(['diverged']);
    // --overwrite trains it afresh, its old record removed first.
    const fresh = await runCli(cli, [...sweepArgs(out, '4'), '--overwrite'], { timeoutMs: 300_000 });
    expect(fresh.code, fresh.stderr).toBe(0);
    expect(fresh.stdout).not.toMatch(/diverged(:| earlier| at)/);
    expect(existsSync(join(out, 'none_b4_lr0.0001', 'diverged.json'))).toBe(false);
    expect(rowsOf(out).map((row) => row.status)).toEqual(['finished']);
  }, 300_000);
});

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
