// Bench records on disk (Node only): the CLI writes them after each case, bench:browser once at
// the end, and --markdown, --compare and scripts/readme-bench.mjs read them back.

import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { FormatError } from '../src/errors.js';
import type { BenchRecord } from './report.js';

/** A record written by an earlier run; says which file when it is not one. */
export function readRecord(path: string): BenchRecord {
  let rec: Partial<BenchRecord>;
  try {
    rec = JSON.parse(readFileSync(path, 'utf8')) as Partial<BenchRecord>;
  } catch (e) {
    throw new FormatError(`${path}: not a readable JSON file (${(e as Error).message})`);
  }
  if (!rec || !Array.isArray(rec.rows) || typeof rec.adapter !== 'string') throw new FormatError(`${path}: not a dawnet bench record (no adapter or rows)`);
  return rec as BenchRecord;
}

/** Writes the record whole or not at all: a run killed mid-write keeps the previous save. */
export function writeRecord(path: string, record: BenchRecord): void {
  mkdirSync(dirname(path), { recursive: true });
  const partial = `${path}.partial`;
  writeFileSync(partial, `${JSON.stringify(record, null, 2)}\n`);
  renameSync(partial, path);
}
