// The bench record on disk (bench/main.ts): written whole through a rename, so a run killed while
// saving keeps the previous record, and read back with an error naming the file when it is not
// one (what --markdown FILE and --compare read).

import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readRecord, writeRecord } from '../../bench/record-file.js';
import type { BenchRecord } from '../../bench/report.js';
import { FormatError } from '../../src/errors.js';

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dawnet-record-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const record = (adapter: string): BenchRecord => ({
  date: '2026-01-01T00:00:00.000Z', adapter, adapterReport: {}, command: 'dawnet bench', scale: 8,
  timing: { reps: 5, warmup: 1 }, tfjs: null, syncOverheadMs: { dawnet: 0, tfjs: null }, peak: null, rows: [], e2e: [],
});

describe('bench record files', () => {
  it('writes a record into a new folder and reads it back, leaving no partial file', async () => {
    const path = join(dir, 'results', 'a.json');
    writeRecord(path, record('first'));
    writeRecord(path, record('second'));
    expect(readRecord(path).adapter).toBe('second');
    expect(await readdir(join(dir, 'results'))).toEqual(['a.json']);
    expect(JSON.parse(await readFile(path, 'utf8')).adapter).toBe('second');
  });

  it('names the file that is missing, not JSON, or not a record', async () => {
    const notJson = join(dir, 'not.json');
    const notRecord = join(dir, 'other.json');
    await writeFile(notJson, '{ truncated');
    await writeFile(notRecord, '{"rows": 3}');
    for (const [path, why] of [[join(dir, 'missing.json'), /not a readable JSON file/], [notJson, /not a readable JSON file/], [notRecord, /not a dawnet bench record/]] as const) {
      expect(() => readRecord(path)).toThrow(FormatError);
      expect(() => readRecord(path)).toThrow(new RegExp(`${path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: ${why.source}`));
    }
  });
});
