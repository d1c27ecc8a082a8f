// The run folder: config.json, split.json, metrics.jsonl (one line per epoch), last.safetensors
// (every epoch, for --resume), best.safetensors (best validation metric), eval.json, report.html,
// and with --tune-convs conv-tuning.json (the conv algorithms and tiles timed on its adapter).

import { DataError } from '../data/errors.js';
import { FormatError } from '../errors.js';
import { loadConvTuning } from '../io/conv-tuning.js';
import { makeFolder, nodeFs as fs, parseTemporaryName, writeFileAtomic } from '../io/files.js';
import type { Logs } from '../train/callbacks.js';
import { nameWriteError } from '../util/write-error.js';
import { OLDER_RUN_DEFAULTS, runConfigFault, type TrainConfig } from './config.js';

const join = (...parts: string[]): string => parts.join('/').replace(/\/+/g, '/');

export const runFiles = (dir: string) => ({
  config: join(dir, 'config.json'),
  split: join(dir, 'split.json'),
  metrics: join(dir, 'metrics.jsonl'),
  last: join(dir, 'last.safetensors'),
  best: join(dir, 'best.safetensors'),
  eval: join(dir, 'eval.json'),
  report: join(dir, 'report.html'),
  tuning: join(dir, 'conv-tuning.json'),
  /** The data files the run's scan skipped, with their reasons (app/data.ts). */
  dataProblems: join(dir, 'data-problems.txt'),
});

export async function ensureRunDir(dir: string): Promise<void> {
  await makeFolder(dir);
}

export async function writeJson(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}

export async function readJson<T>(path: string, what: string): Promise<T> {
  let text: string;
  try {
    text = await (await fs()).readFile(path, 'utf8');
  } catch {
    throw new FormatError(`${path}: missing ${what} (is this a dawnet run folder?)`);
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new FormatError(`${path}: ${what} is not valid JSON`);
  }
}

/**
 * RUN/config.json, checked (runConfigFault): a FormatError naming the file and the field at fault.
 * Its `out` is `dir`: the folder is the run, wherever it was copied or moved since it was written.
 */
export async function readConfig(dir: string): Promise<TrainConfig> {
  const path = runFiles(dir).config;
  // A run folder that is not there is said as such, before its config.json is looked for.
  const kind = await (await fs()).stat(dir).then((st) => (st.isDirectory() ? 'folder' : 'file'), () => 'none');
  if (kind === 'none') throw new FormatError(`${dir}: no such run folder`);
  if (kind === 'file') throw new FormatError(`${dir}: a file, not a run folder`);
  // A run killed during its data scan has a folder and no config.json: it trained nothing, and
  // only the command that started it knows its settings.
  if (!(await fileExists(path))) {
    throw new FormatError(`${path}: missing run config (is this a dawnet run folder?); a run stopped before it wrote this file had trained nothing, so there is nothing to resume: start it again with --out ${dir}`);
  }
  const c = await readJson<unknown>(path, 'run config');
  const fault = runConfigFault(c);
  if (fault) throw new FormatError(`${path}: run config: ${fault}`);
  return { ...OLDER_RUN_DEFAULTS, ...(c as TrainConfig), out: dir };
}

/**
 * Makes `dir` ready for a new run, before any data is scanned: a file there is refused, and so is
 * a folder that holds a run (config.json) unless `overwrite`, whose old files clearRun removes
 * once the new run is ready to write its own, so that no old checkpoint or evaluation outlives it.
 */
export async function claimRunDir(dir: string, overwrite: boolean): Promise<void> {
  const io = await fs();
  const stat = await io.stat(dir).catch(() => null);
  if (stat && !stat.isDirectory()) throw new DataError(`${dir}: not a folder; --out names the run folder to create`);
  if (!overwrite && (await fileExists(runFiles(dir).config))) {
    throw new DataError(`${dir} holds a run already: --resume ${dir} continues it; choose another --out, or --overwrite to replace it`);
  }
  await ensureRunDir(dir);
}

/**
 * Removes the files of the run in `dir` (those runFiles names; nothing else there). A new run
 * calls it once its data, model and weights are ready, just before writing its own files: an
 * --overwrite that fails earlier (a missing data folder) leaves the old run whole.
 */
export async function clearRun(dir: string): Promise<void> {
  const io = await fs();
  await Promise.all(Object.values(runFiles(dir)).map((f) => io.rm(f, { force: true })));
}

/**
 * Removes the temporaries that writeFileAtomic leaves in `dir` when its process dies mid-write
 * (kill -9, a second Ctrl-C, a power cut): `.<run file>.<pid>.<ms>.tmp`, never renamed now, and as
 * large as the checkpoint they were to become, so that killed runs do not pile them up. Those of
 * a process still running (another command writing there) are left alone. Returns their names.
 */
export async function removeStaleTemporaries(dir: string): Promise<string[]> {
  const io = await fs();
  const names = new Set(Object.values(runFiles(dir)).map((f) => f.slice(f.lastIndexOf('/') + 1)));
  const removed: string[] = [];
  for (const entry of await io.readdir(dir).catch(() => [] as string[])) {
    const t = parseTemporaryName(entry);
    if (!t || !names.has(t.name) || processRunning(t.pid)) continue;
    await io.rm(join(dir, entry), { force: true });
    removed.push(entry);
  }
  return removed;
}

/**
 * Whether another process of this id runs here. This process's own id counts as not running:
 * a run cleans its folder before it writes there, so such a file is a dead namesake's.
 */
function processRunning(pid: number): boolean {
  if (pid === process.pid || !(pid > 0)) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it runs, as another user.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface EpochRecord extends Logs {
  epoch: number;
}

/**
 * One line more. Not atomic: a kill or a full disk can leave the line cut short, which readMetrics
 * ignores and a resume rewrites away (its epoch is not in last.safetensors, saved after it).
 */
export async function appendMetrics(dir: string, record: EpochRecord): Promise<void> {
  const path = runFiles(dir).metrics;
  await (await fs()).appendFile(path, `${JSON.stringify(record)}\n`).catch((e: unknown) => {
    throw nameWriteError(e, path);
  });
}

/** Epoch records so far; a torn last line (a crash mid-append) is ignored. */
export async function readMetrics(dir: string): Promise<EpochRecord[]> {
  let text = '';
  try {
    text = await (await fs()).readFile(runFiles(dir).metrics, 'utf8');
  } catch {
    return [];
  }
  const out: EpochRecord[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as EpochRecord);
    } catch {
      break;
    }
  }
  return out;
}

/** Rewrites metrics.jsonl with only the given records (used when resuming from an earlier epoch). */
export async function rewriteMetrics(dir: string, records: EpochRecord[]): Promise<void> {
  await writeFileAtomic(runFiles(dir).metrics, records.map((r) => `${JSON.stringify(r)}\n`).join(''));
}

/** The checkpoint eval, predict and ensembles load: best.safetensors (best validation metric), else last.safetensors. */
export async function bestCheckpoint(dir: string): Promise<string> {
  const files = runFiles(dir);
  return (await fileExists(files.best)) ? files.best : files.last;
}

export async function fileExists(path: string): Promise<boolean> {
  try {
    await (await fs()).access(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Takes the conv tuning a --tune-convs run kept in its folder (train --resume, eval, predict), where
 * there is one; one that cannot be taken (another adapter's, a damaged file) is logged and left
 * alone, since the rules still run every conv. Returns whether it was taken.
 */
export async function useRunTuning(dir: string, log: (m: string) => void): Promise<boolean> {
  const path = runFiles(dir).tuning;
  if (!(await fileExists(path))) return false;
  try {
    log(`conv tuning: ${await loadConvTuning(path)} choices from ${path}`);
    return true;
  } catch (e) {
    if (!(e instanceof FormatError)) throw e;
    log(`conv tuning: ${e.message}; not used`);
    return false;
  }
}
