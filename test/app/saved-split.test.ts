// A run's split.json is its split: eval and --resume read the patients from it rather than
// splitting the data again, so a data folder that gained patients (or a split algorithm that
// changed) cannot move a patient the run trained on into its test set. The file is edited here to
// make the difference visible; a patient it names that the data lacks is an error naming the file.

import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runEval } from '../../src/app/eval-job.js';
import { runTraining } from '../../src/app/train-job.js';
import { configFromFlags } from '../../src/cli/train.js';
import { DataError } from '../../src/data/errors.js';
import { writeSyntheticDataset } from '../../src/data/synth.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

let work = '';
let data = '';
let run = '';
const quiet = () => {};
const splitFile = () => join(run, 'split.json');
const readSplit = () => JSON.parse(readFileSync(splitFile(), 'utf8'));
const slicesOf = (patient: string) => readdirSync(join(data, readdirSync(data).find((f) => f.startsWith(patient))!)).filter((f) => /_\d+\.tif$/.test(f)).length;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'dawnet-saved-split-'));
  data = join(work, 'kaggle_3m');
  await writeSyntheticDataset(data, { patients: 6, seed: 8, size: 16, slicesPerPatient: [3, 5] });
  run = join(work, 'run');
  const flags = { data, out: run, epochs: 1, size: 16, features: 4, depth: 2, batch: 4, augment: 'none', workers: 0, 'test-fraction': 0.2 };
  await runTraining(configFromFlags('segment', flags), { log: quiet });
}, 300_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("a run's split.json", () => {
  it("is what eval scores: a patient moved into its test part is scored, even with more patients in the data since", async () => {
    const split = readSplit();
    const moved = split.patients.train[0] as string;
    split.patients.train = split.patients.train.slice(1);
    split.patients.test = [...split.patients.test, moved];
    writeFileSync(splitFile(), JSON.stringify(split));
    // A seventh patient appears in the data folder: splitting again would deal the patients anew.
    const more = join(work, 'more');
    await writeSyntheticDataset(more, { patients: 7, seed: 9, size: 16, slicesPerPatient: [3, 5] });
    const extra = readdirSync(more).filter((f) => !f.endsWith('.csv')).at(-1)!;
    cpSync(join(more, extra), join(data, `${extra}_new`), { recursive: true });
    const logs: string[] = [];
    const result = await runEval(run, { log: (m) => logs.push(m) });
    const want = split.patients.test.reduce((n: number, p: string) => n + slicesOf(p), 0);
    expect(result.json.slices).toBe(want);
    expect(logs.join('\n')).toContain(`split: the run's own, from ${splitFile()}`);
    rmSync(join(data, `${extra}_new`), { recursive: true, force: true });
  }, 120_000);

  it('is what --resume keeps, rewritten as it was', async () => {
    const before = readSplit();
    const flags = { data, out: run, resume: run, epochs: 2, size: 16, features: 4, depth: 2, batch: 4, augment: 'none', workers: 0 };
    await runTraining(configFromFlags('segment', flags), { log: quiet }, true);
    expect(readSplit().patients).toEqual(before.patients);
  }, 120_000);

  it('eval --all-patients scores every patient of another folder, warns about those the run saw, and keeps eval.json', async () => {
    const external = join(work, 'external');
    await writeSyntheticDataset(external, { patients: 3, seed: 21, size: 16, slicesPerPatient: [3, 4] });
    const own = readFileSync(join(run, 'eval.json'), 'utf8');
    const all = readdirSync(external).filter((f) => !f.endsWith('.csv')).reduce((n, f) => n + readdirSync(join(external, f)).filter((x) => /_\d+\.tif$/.test(x)).length, 0);
    const logs: string[] = [];
    const result = await runEval(run, { data: external, allPatients: true, log: (m) => logs.push(m) });
    expect(result.json).toMatchObject({ slices: all, data: external, allPatients: true });
    expect(logs.join('\n')).toContain(`split: every patient of ${external} (an external test set)`);
    expect(logs.join('\n')).not.toContain('warning:');
    expect(readFileSync(join(run, 'eval.json'), 'utf8'), "the run's own eval.json").toBe(own);
    // Its own data as the "external" set: every patient but the test ones was seen in training.
    const seen = readSplit().patients.train.length + readSplit().patients.val.length;
    const again: string[] = [];
    await runEval(run, { data, allPatients: true, log: (m) => again.push(m) });
    expect(again.join('\n')).toContain(`warning: ${seen} of these patients were in ${run}'s training or validation split`);
    await expect(runEval(run, { allPatients: true, log: quiet })).rejects.toThrow(/eval: allPatients scores an external data folder; give it as data/);
  }, 120_000);

  it('names itself when it lists a patient the data lacks', async () => {
    const split = readSplit();
    split.patients.test = [...split.patients.test, 'TCGA_ZZ_9999'];
    writeFileSync(splitFile(), JSON.stringify(split));
    const err = await runEval(run, { log: quiet }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataError);
    expect((err as Error).message).toBe(`${splitFile()}: 1 of the run's ${split.patients.train.length + split.patients.val.length + split.patients.test.length} patients are not in the data (TCGA_ZZ_9999); give the data folder the run was trained on`);
  }, 60_000);
});
