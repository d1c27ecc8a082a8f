// `dawnet bench --out FILE`: a path the record cannot be saved at (a folder, a folder under a file)
// is refused with a usage error naming --out before anything is measured; the first save used to
// fail only after the peaks and the first case, with a bare EISDIR, leaving FILE.partial behind.
// A save that fails at its rename leaves no partial file either.

import { mkdtemp, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkRecordPath, writeRecord } from '../../bench/record-file.js';
import type { BenchRecord } from '../../bench/report.js';
import { UsageError } from '../../src/cli/args.js';

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dawnet-record-path-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const record: BenchRecord = {
  date: '2026-01-01T00:00:00.000Z', adapter: 'test', adapterReport: {}, command: 'dawnet bench', scale: 8,
  timing: { reps: 5, warmup: 1 }, tfjs: null, syncOverheadMs: { dawnet: 0, tfjs: null }, peak: null, rows: [], e2e: [],
};

describe('bench record path', () => {
  it('refuses a folder and a path under a file, naming --out', async () => {
    const folder = join(dir, 'folder');
    await mkdir(folder);
    const file = join(dir, 'file.json');
    await writeFile(file, '{}');
    expect(() => checkRecordPath(folder)).toThrow(UsageError);
    expect(() => checkRecordPath(folder)).toThrow(/^--out: '.*folder' is a folder/);
    expect(() => checkRecordPath(join(file, 'x.json'))).toThrow(UsageError);
    expect(() => checkRecordPath(join(file, 'x.json'))).toThrow(/^--out: cannot write a record in /);
  });

  it('takes a new file in a missing folder, making the folder', async () => {
    const path = join(dir, 'new', 'deeper', 'r.json');
    expect(() => checkRecordPath(path)).not.toThrow();
    expect(await readdir(join(dir, 'new', 'deeper'))).toEqual([]);
  });

  it('leaves no partial file when the save cannot take its place', async () => {
    const target = join(dir, 'taken');
    await mkdir(target);
    expect(() => writeRecord(target, record)).toThrow();
    expect((await readdir(dir)).filter((f) => f.endsWith('.partial'))).toEqual([]);
  });
});
