// Bench records on disk (Node only): the CLI writes them after each case, bench:browser once at
// the end, and --markdown, --compare, --tuning and scripts/readme-bench.mjs read them back.

import { accessSync, constants, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
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
