// `dawnet train` twice with the same flags, in two processes, on this adapter: the same run bit for
// bit (metrics.jsonl but for its wall-clock `seconds`, the weights files, eval.json), whatever
// lavapipe's thread count (LP_NUM_THREADS) and the number of decoding threads (--workers), which
// change only what runs when, never what is summed in which order. test/train/determinism.test.ts
// has the library's side (fits in one process, memory the kernels never wrote, conv tunings).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, useCliWorkspace } from './helpers.js';

let cli = '';
let work = '';
let data = '';
useCliWorkspace('dawnet-determinism-', ['--patients', '6', '--seed', '4', '--size', '32', '--slices', '4-6'], (ws) => ({ cli, work, data } = ws));

/** Trains into `name` with `flags` after the common ones, lavapipe on `threads` threads. */
async function train(task: string, name: string, flags: string[], threads: number): Promise<string> {
  const out = join(work, name);
  const r = await runCli(cli, ['train', task, '--data', data, '--out', out, '--size', '32', '--epochs', '2', '--lr', '0.003', ...flags], { env: { LP_NUM_THREADS: String(threads) } });
  expect(r.code, r.stderr).toBe(0);
  return out;
}

/** metrics.jsonl's records with `seconds`, the one field that measures time, taken out. */
function metrics(run: string): Record<string, unknown>[] {
  return readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((line) => {
    const { seconds, ...rest } = JSON.parse(line);
    expect(typeof seconds).toBe('number');
    return rest;
  });
}

const bytes = (run: string, file: string) => readFileSync(join(run, file));

/** Every result of run `b` as run `a` has it, byte for byte; the names of those that differ. */
function differences(a: string, b: string): string[] {
  const files = ['last.safetensors', 'best.safetensors', 'eval.json', 'split.json'].filter((f) => !bytes(a, f).equals(bytes(b, f)));
  return JSON.stringify(metrics(a)) === JSON.stringify(metrics(b)) ? files : ['metrics.jsonl', ...files];
}

describe('dawnet train, the same flags in two processes', () => {
  it('segment: the same metrics, weights and test results bit for bit across thread counts and decoding workers', async () => {
    const flags = ['--features', '4', '--depth', '2', '--batch', '4', '--augment', 'hflip+elastic', '--seed', '5'];
    const a = await train('segment', 'seg-a', [...flags, '--workers', '0'], 1);
    const b = await train('segment', 'seg-b', [...flags, '--workers', '2'], 3);
    expect(metrics(a).length).toBe(2);
    expect(differences(a, b)).toEqual([]);
    // Control: another seed gives another run, so the comparison can tell two apart.
    const c = await train('segment', 'seg-c', [...flags.slice(0, -1), '6', '--workers', '0'], 1);
    expect(differences(a, c)).toEqual(expect.arrayContaining(['metrics.jsonl', 'last.safetensors', 'split.json']));
  }, 120_000);

  it('classify (VGG16 with dropout): the same bit for bit across thread counts and decoding workers', async () => {
    const flags = ['--width-scale', '0.0625', '--batch', '8', '--seed', '5'];
    const a = await train('classify', 'cls-a', [...flags, '--workers', '0'], 1);
    const b = await train('classify', 'cls-b', [...flags, '--workers', '2'], 3);
    expect(differences(a, b)).toEqual([]);
  }, 120_000);
});
