// A training run that meets a full or failing disk, or finds what a killed run left behind:
// - a refused write of last.safetensors or metrics.jsonl stops the run with the file named, the
//   disk's fault said and --resume given; the previous checkpoint is whole, and the resume (the
//   disk writable again) finishes with one metrics line per epoch;
// - the temporaries of writes cut off by a kill are removed by the next run in the folder, those
//   of a process still running and files of other names are not;
// - a new run removes the run files of a folder that holds no run (no config.json), so a stale
//   last.safetensors is never resumed as its own; other files there stay.
// Faults are injected into node:fs/promises (test/cli/fault-fs.mjs).

import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readConfig } from '../../src/app/run-dir.js';
import { runTraining } from '../../src/app/train-job.js';
import { configFromFlags } from '../../src/cli/train.js';
import { writeSyntheticDataset } from '../../src/data/synth.js';
import { FormatError } from '../../src/errors.js';
import { decodeSafetensors } from '../../src/io/safetensors.js';
import { injectWriteFaults } from '../cli/fault-fs.mjs';
import { useGpu } from '../helpers/gpu.js';

useGpu();

let work = '';
let data = '';
const TINY = { size: 16, features: 4, depth: 2, batch: 4, workers: 0, 'test-fraction': 0.2, augment: 'none', epochs: 2 };
const segment = (out: string) => configFromFlags('segment', { data, out, ...TINY });
const quiet = { log: () => {} };

/** The epoch a checkpoint was saved after. */
const savedEpoch = (path: string) => JSON.parse(decodeSafetensors(new Uint8Array(readFileSync(path)), path).metadata.meta).epoch as number;
/** metrics.jsonl's epochs, every line parsed (a torn one throws). */
const metricEpochs = (run: string) => readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).epoch as number);
const temporaries = (run: string) => readdirSync(run).filter((f) => f.endsWith('.tmp'));

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'dawnet-disk-faults-'));
  data = join(work, 'data');
  await writeSyntheticDataset(data, { patients: 6, seed: 8, size: 16, slicesPerPatient: [3, 5] });
}, 120_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

/** runTraining with a write fault in force; the error it stopped with. */
async function failingRun(out: string, fault: Parameters<typeof injectWriteFaults>[0]): Promise<NodeJS.ErrnoException> {
  const restore = injectWriteFaults(fault);
  try {
    return await runTraining(segment(out), quiet).then(
      () => expect.fail('the run should have stopped'),
      (e: NodeJS.ErrnoException) => e,
    );
  } finally {
    restore();
  }
}

describe('a disk that refuses a write', () => {
  it("ENOSPC on epoch 2's last.safetensors: named, said, --resume given; epoch 1's checkpoint kept; the resume finishes", async () => {
    const run = join(work, 'enospc-last');
    // Writes of last.safetensors: epoch 1's goes through, epoch 2's meets the full disk.
    const e = await failingRun(run, { file: 'last.safetensors', mode: 'enospc', skip: 1 });
    const last = join(run, 'last.safetensors');
    expect([e.code, e.path]).toEqual(['ENOSPC', last]);
    expect(e.message).toContain(`saveCheckpoint: cannot write ${last}: the disk is full`);
    expect(e.message).toContain(`--resume ${run} continues it from its last checkpoint, ${last}`);
    expect(savedEpoch(last)).toBe(0);
    expect(temporaries(run)).toEqual([]);
    const again = await runTraining(segment(run), quiet, true);
    expect(again.interrupted).toBe(false);
    expect(savedEpoch(last)).toBe(1);
    expect(metricEpochs(run)).toEqual([0, 1]);
    expect(existsSync(join(run, 'eval.json'))).toBe(true);
  });

  it("in a cv fold or a sweep run, says to run the whole command again, not --resume (the hooks' continueWith)", async () => {
    const run = join(work, 'enospc-cv');
    const restore = injectWriteFaults({ file: 'last.safetensors', mode: 'enospc', skip: 1 });
    let e: NodeJS.ErrnoException;
    try {
      e = await runTraining(segment(run), { ...quiet, continueWith: 'running the same dawnet cv command again continues the cv' }).then(
        () => expect.fail('the run should have stopped'),
        (err: NodeJS.ErrnoException) => err,
      );
    } finally {
      restore();
    }
    const last = join(run, 'last.safetensors');
    expect(e.message).toContain(`once the disk takes writes again, running the same dawnet cv command again continues the cv (this run from its last checkpoint, ${last})`);
    expect(e.message).not.toContain('--resume');
  });

  it('EIO on a metrics.jsonl line: named, said; the half line it left is gone after the resume', async () => {
    const run = join(work, 'eio-metrics');
    // Writes of metrics.jsonl: the new run's empty file, epoch 1's line, then epoch 2's fails.
    const e = await failingRun(run, { file: 'metrics.jsonl', mode: 'eio', skip: 2 });
    const metrics = join(run, 'metrics.jsonl');
    expect([e.code, e.path]).toEqual(['EIO', metrics]);
    expect(e.message).toContain(`cannot write ${metrics}: the disk reported an input/output error`);
    expect(e.message).toContain(`--resume ${run}`);
    const lines = readFileSync(metrics, 'utf8').split('\n');
    expect(() => JSON.parse(lines[1])).toThrow(SyntaxError);
    await runTraining(segment(run), quiet, true);
    expect(metricEpochs(run)).toEqual([0, 1]);
  });
});

describe('what a killed run left in its folder', () => {
  /** The id of a process that has ended. */
  const deadPid = () => spawnSync(process.execPath, ['-e', '0']).pid!;

  it("the next run removes its cut-off writes' temporaries, not a running process's nor other files", async () => {
    const run = join(work, 'stale');
    await runTraining(segment(run), quiet);
    const dead = deadPid();
    const stale = [`.last.safetensors.${dead}.1795826933631.tmp`, `.config.json.${dead}.1795826933632.tmp`];
    // The test runner's parent is running; a name that is no run file's is not writeFileAtomic's for the run.
    const kept = [`.best.safetensors.${process.ppid}.1795826933633.tmp`, `.notes.txt.${dead}.1795826933634.tmp`];
    for (const f of [...stale, ...kept]) writeFileSync(join(run, f), 'half a file');
    const logs: string[] = [];
    await runTraining(segment(run), { log: (m) => logs.push(m) }, true);
    expect(temporaries(run).sort()).toEqual([...kept].sort());
    const said = logs.find((m) => m.startsWith('run folder: removed 2 temporary file(s) left by a write that was cut off ('));
    for (const f of stale) expect(said).toContain(f);
  });

  it("a new run clears a folder's run files when it holds no run, so a stale checkpoint is not resumed as its own", async () => {
    const old = join(work, 'old');
    await runTraining(segment(old), quiet);
    const run = join(work, 'leftovers');
    mkdirSync(run);
    // An --overwrite killed while clearing: the old config.json gone, its checkpoint and report not.
    for (const f of ['last.safetensors', 'best.safetensors', 'report.html']) copyFileSync(join(old, f), join(run, f));
    writeFileSync(join(run, 'notes.txt'), 'mine');
    // The new run fails at its first batch, before it saves anything (as a kill would stop it).
    const err = await runTraining(segment(run), {
      log: () => {},
      onBatch: () => {
        throw new Error('stopped before the first save');
      },
    }).catch((e: Error) => e);
    expect((err as Error).message).toBe('stopped before the first save');
    expect(readdirSync(run).sort()).toEqual(['config.json', 'metrics.jsonl', 'notes.txt', 'split.json']);
    const logs: string[] = [];
    await runTraining(segment(run), { log: (m) => logs.push(m) }, true);
    expect(logs).toContain(`resume: no checkpoint in ${run} yet; starting from the beginning`);
  });

  it('--resume of a folder that a run was killed in before it wrote its config says to start it again', async () => {
    const run = join(work, 'no-config');
    mkdirSync(run);
    const err = await readConfig(run).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FormatError);
    expect((err as Error).message).toContain(`nothing to resume: start it again with --out ${run}`);
  });
});
