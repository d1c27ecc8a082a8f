// Bench records on disk (Node only): the CLI writes them after each case, bench:browser once at
// the end, each where recordTarget says (never over an existing default record without --out),
// and --markdown, --compare, --tuning and scripts/readme-bench.mjs read them back.

import { accessSync, closeSync, constants, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { UsageError } from '../src/cli/args.js';
import { FormatError } from '../src/errors.js';
import type { BenchRecord } from './report.js';

/** A record written by an earlier run; says which file, and which field, when it is not one. */
export function readRecord(path: string): BenchRecord {
  let rec: unknown;
  try {
    rec = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new FormatError(`${path}: not a readable JSON file (${(e as Error).message})`);
  }
  const o = rec as Partial<BenchRecord> | null;
  if (!o || typeof o !== 'object' || !Array.isArray(o.rows) || typeof o.adapter !== 'string') throw new FormatError(`${path}: not a dawnet bench record (no adapter or rows)`);
  const missing = recordProblem(o as Record<string, unknown>);
  if (missing) throw new FormatError(`${path}: a damaged dawnet bench record: ${missing}`);
  return rec as BenchRecord;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** What a field at `path` in `o` must be, or null when it is that; `path` is dotted. */
function fieldProblem(o: Json, path: string, want: 'string' | 'number' | 'object' | 'array', nullable = false): string | null {
  let v: unknown = o;
  for (const k of path.split('.')) v = isObject(v) ? v[k] : undefined;
  if (nullable && (v === null || v === undefined)) return null;
  const ok = want === 'object' ? isObject(v) : want === 'array' ? Array.isArray(v) : typeof v === want;
  return ok ? null : `'${path}' is ${v === undefined ? 'missing' : `not ${want === 'array' || want === 'object' ? `an ${want}` : `a ${want}`}`}`;
}

/** A side of a row: an error, or timings with a median and samples (what the tables and --compare read). */
function sideProblem(side: unknown, name: string): string | null {
  if (!isObject(side)) return `'${name}' is missing`;
  if (typeof side.error === 'string') return null;
  for (const [path, want] of [['timing', 'object'], ['timing.medianMs', 'number'], ['timing.samplesMs', 'array'], ['rate', 'number']] as const) {
    const p = fieldProblem(side, path, want);
    if (p) return p.replace(`'${path}'`, `'${name}.${path}'`);
  }
  return null;
}

function rowProblem(row: unknown): string | null {
  if (!isObject(row)) return 'not an object';
  for (const f of ['id', 'group', 'shape', 'metric'] as const) {
    const p = fieldProblem(row, f, 'string');
    if (p) return p;
  }
  return fieldProblem(row, 'ratio', 'number', true) ?? sideProblem(row.dawnet, 'dawnet') ?? (row.tfjs === null || row.tfjs === undefined ? null : sideProblem(row.tfjs, 'tfjs'));
}

/**
 * The first field that --markdown, --compare, --tuning or the bars would read and that is absent
 * or of another type, or null when there is none: a damaged record then gets one clear line
 * instead of a TypeError deep in a reader.
 */
function recordProblem(rec: Json): string | null {
  const top = [
    ['date', 'string'],
    ['command', 'string'],
    ['scale', 'number'],
    ['timing', 'object'],
    ['timing.reps', 'number'],
    ['timing.warmup', 'number'],
    ['syncOverheadMs', 'object'],
    ['syncOverheadMs.dawnet', 'number'],
  ] as const;
  for (const [path, want] of top) {
    const p = fieldProblem(rec, path, want);
    if (p) return p;
  }
  const optional = [['tfjs', 'object'], ['tfjs.version', 'string'], ['peak', 'object'], ['clock', 'object'], ['e2e', 'array']] as const;
  for (const [path, want] of optional) {
    const parent = path.includes('.') ? rec[path.split('.')[0]] : rec;
    if (parent === null || parent === undefined) continue;
    const p = fieldProblem(rec, path, want, !path.includes('.'));
    if (p) return p;
  }
  if (isObject(rec.peak)) {
    for (const [path, want] of [['peak.gflops', 'number'], ['peak.gbps', 'number'], ['peak.fma', 'object']] as const) {
      const p = fieldProblem(rec, path, want);
      if (p) return p;
    }
  }
  for (const key of ['rows', 'e2e'] as const) {
    const rows = (rec[key] ?? []) as unknown[];
    for (const [i, row] of rows.entries()) {
      const p = rowProblem(row);
      if (p) return `${key}[${i}]${isObject(row) && typeof row.id === 'string' ? ` (${row.id})` : ''}: ${p}`;
    }
  }
  return null;
}

/**
 * Refuses, before anything is measured, a record path that the first save would fail on: a
 * folder, or one under a file or an unwritable folder (the first save comes after the peaks and
 * the first case, minutes into a run). Makes the record's folder, as that save would.
 */
export function checkRecordPath(path: string, option = '--out'): void {
  const isDir = (p: string): boolean | null => {
    try {
      return statSync(p).isDirectory();
    } catch {
      return null;
    }
  };
  if (isDir(path)) throw new UsageError(`${option}: '${path}' is a folder; give the record's file, e.g. ${join(path, 'bench.json')}`);
  const dir = dirname(path);
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
  } catch (e) {
    throw new UsageError(`${option}: cannot write a record in '${dir}' (${(e as Error).message})`);
  }
}

/** Writes the record whole or not at all: a run killed mid-write keeps the previous save. */
export function writeRecord(path: string, record: BenchRecord): void {
  mkdirSync(dirname(path), { recursive: true });
  const partial = `${path}.partial`;
  writeFileSync(partial, `${JSON.stringify(record, null, 2)}\n`);
  try {
    renameSync(partial, path);
  } catch (e) {
    rmSync(partial, { force: true });
    throw e;
  }
}

/** Where a run's record goes, and the saves that put it there. */
export interface RecordTarget {
  /** The record's file; beside a kept default, the name the first save claims (a later free one if another run took it). */
  readonly path: string;
  /** The default record that exists and that the run leaves as it is, or null when the run writes where it was told. */
  readonly kept: string | null;
  /** Whether a save has written the file. */
  readonly saved: boolean;
  save(record: BenchRecord): void;
}

/**
 * The record's file: `out` (an explicit --out, the default record's path included) as given; else
 * `defaultPath` while it does not exist; else a new file beside it, `<name>.<UTC date-time>.json`
 * (`-2`, `-3`, ... after the time where that is taken). The default records under bench/results/
 * are committed and the READMEs are generated from them, so a run without --out must not replace
 * one. The new name is claimed (created exclusively) at the first save, not here: two runs started
 * in the same second still take two names, and a run stopped before it saved leaves no empty file.
 */
export function recordTarget(out: string | null, defaultPath: string, now = new Date()): RecordTarget {
  let saved = false;
  if (out !== null || !existsSync(defaultPath)) {
    const path = out ?? defaultPath;
    return { path, kept: null, get saved() { return saved; }, save(record) { writeRecord(path, record); saved = true; } };
  }
  // Colons are not allowed in Windows file names, so the time's are hyphens: 2026-11-27T14-05-09Z.
  const stamp = now.toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');
  const name = (n: number) => `${defaultPath.replace(/\.json$/, '')}.${stamp}${n > 1 ? `-${n}` : ''}.json`;
  let n = 1;
  while (existsSync(name(n))) n++;
  return {
    get path() { return name(n); },
    kept: defaultPath,
    get saved() { return saved; },
    save(record) {
      if (saved) return writeRecord(name(n), record);
      n = claim(name, n);
      try {
        writeRecord(name(n), record);
      } catch (e) {
        rmSync(name(n), { force: true });
        throw e;
      }
      saved = true;
    },
  };
}

/** The first of name(n), name(n + 1), ... that this call creates, empty; its n. */
function claim(name: (n: number) => string, n: number): number {
  mkdirSync(dirname(name(n)), { recursive: true });
  for (;; n++) {
    try {
      closeSync(openSync(name(n), 'wx'));
      return n;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
}

/**
 * What a run that leaves the default record alone says: at the start, where its record goes and
 * how to replace the default or compare the two; at the end, that again, with the commands.
 */
export function keptRecordNote(target: RecordTarget, at: 'start' | 'end'): string {
  const kept = target.kept;
  if (!kept) return '';
  if (at === 'start') return `record:  ${target.path}\n         (the default record ${kept} exists and is left as it is: --out ${kept} replaces it; dawnet bench --compare ${kept} ${target.path} compares them after the run)`;
  return [
    `${kept}, the default record the READMEs are generated from, is left as it is; this run's record is ${target.path}`,
    `  compare the two:     dawnet bench --compare ${kept} ${target.path}`,
    `  make it the default: mv ${target.path} ${kept} (or run again with --out ${kept}), then node scripts/readme-bench.mjs`,
  ].join('\n');
}
