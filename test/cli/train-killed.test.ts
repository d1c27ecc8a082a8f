// `dawnet train` killed, interrupted twice, or refused a write by the disk, through the real CLI in
// a child process on a tiny synthetic data set. After each: every file in the run folder is whole
// (a metrics.jsonl line cut by the kill aside), and `train --resume` finishes the run, leaving no
// temporary behind. Kills come at progress markers (a line the run prints, or a write that
// test/cli/fault-fs.mjs holds half-way), so where they land does not depend on the machine's speed;
// the jitter after a marker is random and printed with any failure.

import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSyntheticDataset } from '../../src/data/synth.js';
import { decodeSafetensors } from '../../src/io/safetensors.js';
import { buildCli, clean, tempDir } from './helpers.js';

let cli = '';
let work = '';
let data = '';
const FAULTS = resolve('test/cli/fault-fs.mjs');
const TINY = ['--epochs', '3', '--size', '16', '--features', '4', '--depth', '2', '--batch', '4', '--augment', 'none', '--workers', '0', '--test-fraction', '0.2'];

beforeAll(async () => {
  cli = await buildCli();
  work = tempDir('dawnet-killed-');
  data = join(work, 'data');
  await writeSyntheticDataset(data, { patients: 6, seed: 3, size: 16, slicesPerPatient: [3, 5] });
}, 120_000);

afterAll(() => {
  rmSync(dirname(cli), { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

/**
 * Runs the CLI; once `at.marker` is in its output, waits `at.delay` ms and sends `at.signals` in
 * turn (a few ms apart). `fault`: fault-fs.mjs's settings (DAWNET_FAULT...), preloaded.
 */
function train(args: string[], opts: { at?: { marker: string; delay: number; signals: NodeJS.Signals[] }; fault?: Record<string, string> } = {}): Promise<Outcome> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [...(opts.fault ? ['--import', FAULTS] : []), cli, 'train', 'segment', ...args], {
      env: { ...process.env, ...opts.fault },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    let fired = false;
    const watch = (d: Buffer) => {
      output += d.toString();
      if (!opts.at || fired || !output.includes(opts.at.marker)) return;
      fired = true;
      const [first, ...more] = opts.at.signals;
      setTimeout(() => {
        child.kill(first);
        more.forEach((s, i) => setTimeout(() => child.kill(s), 5 * (i + 1)));
      }, opts.at.delay);
    };
    child.stdout.on('data', watch);
    child.stderr.on('data', watch);
    const timer = setTimeout(() => child.kill('SIGKILL'), 100_000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      done({ code, signal, output: clean(output) });
    });
  });
}

/**
 * Every file of the run folder whole: JSON that parses, checkpoints that decode, a report that
 * ends. `torn`: the last metrics.jsonl line may be cut short (a kill mid-append). Returns the names.
 */
function expectWhole(run: string, where: string, torn = false): string[] {
  const names = readdirSync(run);
  for (const f of names) {
    const path = join(run, f);
    if (f.endsWith('.tmp')) continue;
    if (f.endsWith('.json')) expect(() => JSON.parse(readFileSync(path, 'utf8')), `${where}: ${f}`).not.toThrow();
    else if (f.endsWith('.safetensors')) expect(decodeSafetensors(new Uint8Array(readFileSync(path)), path).metadata.format, `${where}: ${f}`).toBe('dawnet-checkpoint-1');
    else if (f === 'metrics.jsonl') {
      const lines = readFileSync(path, 'utf8').split('\n').filter((l) => l.trim());
      lines.forEach((l, i) => (torn && i === lines.length - 1) || expect(() => JSON.parse(l), `${where}: metrics line ${i + 1}`).not.toThrow());
    } else if (f === 'report.html') expect(readFileSync(path, 'utf8').trimEnd().endsWith('</html>'), `${where}: report`).toBe(true);
    else expect(f, `${where}: a file no run writes`).toBe('data-problems.txt');
  }
  return names;
}

/**
 * Resumes the run to its end and checks it finished whole: one metrics line per epoch, nothing
 * temporary. A run killed before it wrote config.json (its data scan, its model) trained nothing:
 * --resume says so, and the run started again with --out finishes instead.
 */
async function expectResumeFinishes(run: string, where: string): Promise<void> {
  let r = await train(['--resume', run]);
  if (!existsSync(join(run, 'config.json'))) {
    expect(r.code, `${where}: resume before config.json\n${r.output}`).toBe(1);
    expect(r.output).toContain(`nothing to resume: start it again with --out ${run}`);
    r = await train(['--data', data, '--out', run, ...TINY]);
  }
  expect(r.code, `${where}: resume\n${r.output}`).toBe(0);
  const names = expectWhole(run, `${where}, resumed`);
  expect(names.filter((f) => f.endsWith('.tmp')), where).toEqual([]);
  for (const f of ['config.json', 'split.json', 'last.safetensors', 'best.safetensors', 'eval.json', 'report.html']) expect(names, where).toContain(f);
  const epochs = readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).epoch);
  expect(epochs, where).toEqual([0, 1, 2]);
}

const jitter = () => Math.floor(Math.random() * 250);

describe('train killed with SIGKILL', () => {
  // After the data scan; as the first best.safetensors is saved; early in the second epoch (two
  // more epochs, the test evaluation and the report are still to come: far more than the jitter).
  for (const marker of ['split test', 'ModelCheckpoint:', 'epoch 1/3']) {
    it(`at a random moment after '${marker}': the folder is whole and --resume finishes`, async () => {
      const run = join(work, `kill-${marker.replace(/\W+/g, '-')}`);
      const delay = jitter();
      const where = `killed ${delay} ms after '${marker}'`;
      const r = await train(['--data', data, '--out', run, ...TINY], { at: { marker, delay, signals: ['SIGKILL'] } });
      // A kill that came after the run ended would test nothing.
      expect(r.signal, `${where}\n${r.output}`).toBe('SIGKILL');
      expectWhole(run, where, true);
      await expectResumeFinishes(run, where);
    }, 60_000);
  }

  const writes = [
    { file: 'last.safetensors', skip: '0' },
    { file: 'best.safetensors', skip: '1' },
    // The new run's empty metrics.jsonl is the first write; the first epoch's line the second.
    { file: 'metrics.jsonl', skip: '1' },
  ];
  for (const w of writes) {
    it(`while ${w.file} is half written: the file is whole or absent, and --resume finishes and removes what was cut off`, async () => {
      const run = join(work, `kill-writing-${w.file}`);
      const where = `killed writing ${w.file}`;
      const fault = { DAWNET_FAULT: 'hang', DAWNET_FAULT_FILE: w.file, DAWNET_FAULT_SKIP: w.skip };
      const r = await train(['--data', data, '--out', run, ...TINY], { fault, at: { marker: 'FAULT: writing', delay: 0, signals: ['SIGKILL'] } });
      expect(r.signal, `${where}\n${r.output}`).toBe('SIGKILL');
      const names = expectWhole(run, where, true);
      // writeFileAtomic's temporary, or metrics.jsonl's half line.
      if (w.file === 'metrics.jsonl') expect(readFileSync(join(run, w.file), 'utf8').endsWith('\n')).toBe(false);
      else expect(names.filter((f) => f.startsWith(`.${w.file}.`) && f.endsWith('.tmp'))).toHaveLength(1);
      await expectResumeFinishes(run, where);
    }, 60_000);
  }

  it('while config.json is written: --resume says there is nothing to resume, and the run started again finishes', async () => {
    const run = join(work, 'kill-writing-config');
    const fault = { DAWNET_FAULT: 'hang', DAWNET_FAULT_FILE: 'config.json' };
    const r = await train(['--data', data, '--out', run, ...TINY], { fault, at: { marker: 'FAULT: writing', delay: 0, signals: ['SIGKILL'] } });
    expect(r.signal, r.output).toBe('SIGKILL');
    expect(readdirSync(run).filter((f) => f.startsWith('.config.json.'))).toHaveLength(1);
    expect(existsSync(join(run, 'config.json'))).toBe(false);
    await expectResumeFinishes(run, 'killed writing config.json');
  }, 60_000);
});

describe('train interrupted with Ctrl-C twice in quick succession', () => {
  it('at a progress line: exits 130, and --resume finishes', async () => {
    const run = join(work, 'sigint-twice');
    const delay = jitter();
    const r = await train(['--data', data, '--out', run, ...TINY], { at: { marker: 'epoch 1/3', delay, signals: ['SIGINT', 'SIGINT'] } });
    expect(r.code, `${delay} ms after 'epoch 1/3'\n${r.output}`).toBe(130);
    expectWhole(run, 'Ctrl-C twice', true);
    await expectResumeFinishes(run, `Ctrl-C twice ${delay} ms after 'epoch 1/3'`);
  }, 60_000);

  it('while last.safetensors is half written: exits 130 at once, and --resume finishes', async () => {
    const run = join(work, 'sigint-twice-writing');
    const fault = { DAWNET_FAULT: 'hang', DAWNET_FAULT_FILE: 'last.safetensors' };
    const r = await train(['--data', data, '--out', run, ...TINY], { fault, at: { marker: 'FAULT: writing', delay: 0, signals: ['SIGINT', 'SIGINT'] } });
    expect(r.code, r.output).toBe(130);
    expectWhole(run, 'Ctrl-C twice mid-write');
    await expectResumeFinishes(run, 'Ctrl-C twice mid-write');
  }, 60_000);
});

describe('train on a full disk', () => {
  it("ENOSPC on epoch 2's last.safetensors: exits 1 with one line naming the file, the full disk and --resume; the resume finishes", async () => {
    const run = join(work, 'enospc');
    const last = join(run, 'last.safetensors');
    const fault = { DAWNET_FAULT: 'enospc', DAWNET_FAULT_FILE: 'last.safetensors', DAWNET_FAULT_SKIP: '1' };
    const r = await train(['--data', data, '--out', run, ...TINY], { fault });
    expect(r.code, r.output).toBe(1);
    const lines = r.output.trim().split('\n');
    // One line, not a bug's stack: the error is the file system's, and names its file.
    expect(lines.at(-1)).toMatch(new RegExp(`^dawnet train: saveCheckpoint: cannot write ${last}: the disk is full \\(ENOSPC`));
    expect(lines.at(-1)).toContain(`--resume ${run} continues it from its last checkpoint`);
    expect(r.output).not.toMatch(/^\s+at /m);
    expectWhole(run, 'full disk');
    expect(JSON.parse(decodeSafetensors(new Uint8Array(readFileSync(last)), last).metadata.meta).epoch).toBe(0);
    expect(existsSync(join(run, 'eval.json'))).toBe(false);
    await expectResumeFinishes(run, 'full disk, then room again');
  }, 60_000);
});
