// Every file the data scan skips is named with its reason: a run lists them all in its folder's
// data-problems.txt and logs the first few and that file; scoring a run (no list of its own)
// logs them all. A scan that skips nothing leaves no list behind.

import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dataProblemsFile, evaluationSlices, prepareData } from '../../src/app/data.js';
import { configFromFlags } from '../../src/cli/train.js';
import { writeSyntheticDataset } from '../../src/data/synth.js';

let work = '';
let data = '';
let clean = '';
/** The slices whose masks were deleted, in the scan's order. */
let orphans: string[] = [];

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'dawnet-data-problems-'));
  data = join(work, 'kaggle_3m');
  clean = join(work, 'clean');
  await writeSyntheticDataset(data, { patients: 4, seed: 3, size: 16, slicesPerPatient: [5, 5] });
  await writeSyntheticDataset(clean, { patients: 3, seed: 3, size: 16, slicesPerPatient: [3, 3] });
  // 12 slices without their masks: more than the log names.
  for (const folder of readdirSync(data).filter((f) => f.startsWith('TCGA_')).sort()) {
    for (const n of [1, 2, 3]) {
      unlinkSync(join(data, folder, `${folder}_${n}_mask.tif`));
      orphans.push(join(data, folder, `${folder}_${n}.tif`));
    }
  }
}, 60_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

const config = (extra: Record<string, unknown>) => configFromFlags('segment', { data, size: 16, features: 4, depth: 2, ...extra });

describe('skipped data files', () => {
  it('a run lists every one with its reason in its folder and logs the first ten and where the rest are', async () => {
    const out = join(work, 'run');
    const logs: string[] = [];
    const { dataset, writeProblems } = await prepareData(config({ out }), (m) => logs.push(m));
    const problems = dataset.summary.problems;
    expect(problems.map((p) => p.file).sort()).toEqual([...orphans].sort());
    const file = dataProblemsFile(out);
    // Written only when the caller says: train --overwrite does once the old run is cleared, so a
    // failed overwrite leaves the old run's list as it was.
    expect(existsSync(file)).toBe(false);
    await writeProblems();
    expect(readFileSync(file, 'utf8')).toBe(problems.map((p) => `${p.file}: ${p.reason}\n`).join(''));
    const at = logs.indexOf(`data: skipped 12 problem file(s), all listed in ${file}:`);
    expect(at, logs.join('\n')).toBeGreaterThan(-1);
    expect(logs.slice(at + 1, at + 11)).toEqual(problems.slice(0, 10).map((p) => `  ${p.file}: ${p.reason}`));
    expect(logs[at + 11]).toBe(`  ... and 2 more in ${file}`);
  });

  it('scoring a run writes no list into its folder and logs every one', async () => {
    const out = join(work, 'scored');
    const logs: string[] = [];
    await evaluationSlices(config({ out }), out, (m) => logs.push(m));
    expect(existsSync(dataProblemsFile(out))).toBe(false);
    const at = logs.indexOf('data: skipped 12 problem file(s):');
    expect(at, logs.join('\n')).toBeGreaterThan(-1);
    const named = logs.slice(at + 1).filter((l) => l.startsWith('  ')).map((l) => l.slice(2, l.indexOf(': ')));
    expect(named.sort()).toEqual([...orphans].sort());
  });

  it('a scan that skips nothing removes an older list and logs no problems', async () => {
    const out = join(work, 'run');
    expect(existsSync(dataProblemsFile(out))).toBe(true); // the first test's
    const logs: string[] = [];
    const { writeProblems } = await prepareData(config({ out, data: clean }), (m) => logs.push(m));
    expect(existsSync(dataProblemsFile(out))).toBe(true);
    await writeProblems();
    expect(existsSync(dataProblemsFile(out))).toBe(false);
    expect(logs.some((l) => l.includes('problem file'))).toBe(false);
  });
});
