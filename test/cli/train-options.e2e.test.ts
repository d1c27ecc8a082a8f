// Training through the real CLI on a synthetic data set, continued: an interrupted run resumed,
// a NaN loss stopping cleanly, --tune-convs and --conv-tuning, and the schedule and norm options
// (split from train.e2e.test.ts, so the test forks share the load).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeSafetensors } from '../../src/io/safetensors.js';
import { runCli, useCliWorkspace } from './helpers.js';

let cli = '';
let work = '';
let data = '';
useCliWorkspace('dawnet-e2e-', ['--patients', '14', '--seed', '3', '--size', '32', '--slices', '10-16'], (ws) => ({ cli, work, data } = ws));

const SEGMENT = ['--size', '32', '--features', '8', '--depth', '3', '--batch', '8', '--lr', '0.003', '--loss', 'bce+dice', '--augment', 'hflip'];

describe('interruptions', () => {
  it('Ctrl-C mid-run saves a checkpoint and --resume finishes the run', async () => {
    const run = join(work, 'resume');
    let sent = false;
    const first = await runCli(cli, ['train', 'segment', '--data', data, '--out', run, '--epochs', '6', ...SEGMENT], {
      timeoutMs: 300_000,
      onStdout: (out, kill) => {
        if (!sent && /epoch 2\/6/.test(out)) {
          sent = true;
          kill('SIGINT');
        }
      },
    });
    expect(sent).toBe(true);
    expect(first.code).toBe(130);
    expect(existsSync(join(run, 'last.safetensors'))).toBe(true);
    expect(existsSync(join(run, 'eval.json'))).toBe(false);
    const second = await runCli(cli, ['train', 'segment', '--resume', run, '--epochs', '6'], { timeoutMs: 300_000 });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/resume: continuing .* from epoch \d of 6/);
    const epochs = readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).epoch);
    expect(epochs).toEqual([0, 1, 2, 3, 4, 5]);
    expect(existsSync(join(run, 'eval.json'))).toBe(true);
  }, 600_000);

  it('a run resumed from a checkpoint with the same seed continues the same run', async () => {
    const straight = join(work, 'straight');
    const resumed = join(work, 'resumed');
    const a = await runCli(cli, ['train', 'segment', '--data', data, '--out', straight, '--epochs', '3', ...SEGMENT]);
    expect(a.code, a.stderr).toBe(0);
    const b1 = await runCli(cli, ['train', 'segment', '--data', data, '--out', resumed, '--epochs', '1', ...SEGMENT]);
    expect(b1.code, b1.stderr).toBe(0);
    const b2 = await runCli(cli, ['train', 'segment', '--resume', resumed, '--epochs', '3']);
    expect(b2.code, b2.stderr).toBe(0);
    const weights = (dir: string) => decodeSafetensors(new Uint8Array(readFileSync(join(dir, 'last.safetensors'))), dir).tensors;
    const wa = weights(straight);
    const wb = weights(resumed);
    expect([...wb.keys()]).toEqual([...wa.keys()]);
    // Same data order, augmentation draws, optimiser state and batch-norm statistics: bit-identical.
    for (const [name, t] of wa) expect(Buffer.from(wb.get(name)!.data.buffer).equals(Buffer.from(t.data.buffer)), name).toBe(true);
  }, 300_000);

  it('a NaN loss stops the run with a message and keeps the last good checkpoint', async () => {
    const run = join(work, 'nan');
    const ok = await runCli(cli, ['train', 'segment', '--data', data, '--out', run, '--epochs', '1', ...SEGMENT]);
    expect(ok.code, ok.stderr).toBe(0);
    const before = readFileSync(join(run, 'last.safetensors'));
    const child = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      import('node:child_process').then(({ spawn }) => {
        const p = spawn(process.execPath, [cli, 'train', 'segment', '--resume', run, '--epochs', '3'], { env: { ...process.env, DAWNET_INJECT_NAN_AT_BATCH: '2' } });
        let stderr = '';
        p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        p.on('exit', (code) => resolve({ code, stderr }));
      });
    });
    expect(child.code).toBe(1);
    expect(child.stderr).toMatch(/loss became NaN at epoch 2, batch 2.*last good checkpoint/);
    expect(readFileSync(join(run, 'last.safetensors')).equals(before)).toBe(true);
  }, 300_000);
});

describe('--tune-convs', () => {
  it('tunes on the first batch, keeps the choices in the run folder, reuses them on --resume and in eval, and tunes again for another adapter', async () => {
    const run = join(work, 'tuned');
    const tuning = join(run, 'conv-tuning.json');
    const a = await runCli(cli, ['train', 'segment', '--data', data, '--out', run, '--epochs', '1', '--tune-convs', ...SEGMENT], { timeoutMs: 200_000 });
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toMatch(/conv tuning: \d+ convs with a choice of algorithm timed in/);
    const saved = JSON.parse(readFileSync(tuning, 'utf8'));
    expect(saved.format).toBe('dawnet-conv-tuning');
    // The U-Net's 3x3 convs, forward and backward input, at the first batch's size.
    expect(saved.convs.length).toBeGreaterThan(4);
    for (const c of saved.convs) expect(c.geometry.n).toBe(8);
    const b = await runCli(cli, ['train', 'segment', '--resume', run, '--epochs', '2'], { timeoutMs: 200_000 });
    expect(b.code, b.stderr).toBe(0);
    expect(b.stdout).toContain(`conv tuning: ${saved.convs.length} choices from ${tuning}`);
    expect(b.stdout).not.toMatch(/timed in/);
    // eval runs the run's model with its choices too.
    const e = await runCli(cli, ['eval', run]);
    expect(e.code, e.stderr).toBe(0);
    expect(e.stdout).toContain(`conv tuning: ${saved.convs.length} choices from ${tuning}`);
    // --conv-tuning: a new run starts with the tuned run's choices, keeps a copy, and its resume takes the copy.
    const shared = join(work, 'shared-tuning');
    const f = await runCli(cli, ['train', 'segment', '--data', data, '--out', shared, '--epochs', '1', '--conv-tuning', tuning, ...SEGMENT], { timeoutMs: 200_000 });
    expect(f.code, f.stderr).toBe(0);
    expect(f.stdout).toContain(`conv tuning: ${saved.convs.length} choices from ${tuning}`);
    expect(f.stdout).not.toMatch(/timed in/);
    expect(readFileSync(join(shared, 'conv-tuning.json'), 'utf8')).toBe(readFileSync(tuning, 'utf8'));
    expect(JSON.parse(readFileSync(join(shared, 'config.json'), 'utf8')).convTuning).toBe(tuning);
    const g = await runCli(cli, ['train', 'segment', '--resume', shared, '--epochs', '2'], { timeoutMs: 200_000 });
    expect(g.code, g.stderr).toBe(0);
    expect(g.stdout).toContain(`conv tuning: ${saved.convs.length} choices from ${join(shared, 'conv-tuning.json')}`);
    // Refused before a folder is made: with --tune-convs, and another adapter's file.
    const both = await runCli(cli, ['train', 'segment', '--data', data, '--out', join(work, 'both'), '--conv-tuning', tuning, '--tune-convs', ...SEGMENT]);
    expect(both.code).toBe(1);
    expect(both.stderr).toMatch(/--conv-tuning takes its conv algorithms from .* give one of them/);
    const foreign = join(work, 'foreign-tuning.json');
    writeFileSync(foreign, JSON.stringify({ ...saved, adapter: 'some other GPU' }));
    const other = await runCli(cli, ['train', 'segment', '--data', data, '--out', join(work, 'foreign'), '--conv-tuning', foreign, ...SEGMENT]);
    expect(other.code).toBe(1);
    expect(other.stderr).toContain(foreign);
    expect(existsSync(join(work, 'foreign'))).toBe(false);
    writeFileSync(tuning, JSON.stringify({ ...saved, adapter: 'some other GPU' }));
    const c = await runCli(cli, ['train', 'segment', '--resume', run, '--epochs', '3'], { timeoutMs: 200_000 });
    expect(c.code, c.stderr).toBe(0);
    expect(c.stdout).toMatch(/some other GPU.*not used/);
    expect(c.stdout).toMatch(/conv tuning: \d+ convs with a choice of algorithm timed in/);
    expect(JSON.parse(readFileSync(tuning, 'utf8')).adapter).toBe(saved.adapter);
  }, 600_000);
});

describe('--lr-schedule cosine and --clip-grad-norm', () => {
  it('the epochs run at the cosine schedule\'s rates, kept in config.json for --resume', async () => {
    const run = join(work, 'cosine');
    const a = await runCli(cli, ['train', 'segment', '--data', data, '--out', run, '--epochs', '3', '--lr-schedule', 'cosine', '--clip-grad-norm', '1', '--accumulate', '2', ...SEGMENT], { timeoutMs: 200_000 });
    expect(a.code, a.stderr).toBe(0);
    const lrs = readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).lr);
    // --lr 0.003 towards 0.003 / 100 over 3 epochs: t = 0, 1/3, 2/3.
    const [lr, min] = [0.003, 0.00003];
    const want = [0, 1 / 3, 2 / 3].map((t) => min + ((lr - min) * (1 + Math.cos(Math.PI * t))) / 2);
    lrs.forEach((v: number, i: number) => expect(v).toBeCloseTo(want[i], 9));
    const config = JSON.parse(readFileSync(join(run, 'config.json'), 'utf8'));
    expect([config.lrSchedule, config.clipGradNorm, config.accumulate]).toEqual(['cosine', 1, 2]);
    const bad = await runCli(cli, ['train', 'segment', '--data', data, '--out', join(work, 'bad'), '--clip-grad-norm', '-1', ...SEGMENT]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--clip-grad-norm/);
  }, 300_000);

  it('--norm instance trains a U-Net without running statistics, which eval rebuilds from the run', async () => {
    const run = join(work, 'instance');
    const a = await runCli(cli, ['train', 'segment', '--data', data, '--out', run, '--epochs', '1', '--norm', 'instance', ...SEGMENT], { timeoutMs: 200_000 });
    expect(a.code, a.stderr).toBe(0);
    const { tensors, metadata } = decodeSafetensors(readFileSync(join(run, 'last.safetensors')), 'last');
    expect(JSON.parse(metadata.meta).architecture.norm).toBe('instance');
    const names = [...tensors.keys()];
    expect(names).toContain('model/encoder1.enc1norm1.weight');
    expect(names.some((n) => n.includes('running_mean'))).toBe(false);
    const e = await runCli(cli, ['eval', run, '--json']);
    expect(e.code, e.stderr).toBe(0);
  }, 300_000);
});
