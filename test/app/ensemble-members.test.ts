// Ensembles named by hand: a run given twice (`eval runs/a runs/a`, `--ensemble` naming RUN itself,
// `runs/a ./runs/a/`) is warned about, since its checkpoint then counts twice in the average; and
// predicting into a folder made with an ensemble, now without one, names the difference as 'none'
// (the message said "now undefined").
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { warnRepeatedMembers } from '../../src/app/ensemble-job.js';
import { runPredict } from '../../src/app/predict-job.js';
import { configFromFlags } from '../../src/cli/train.js';
import { writeSyntheticDataset } from '../../src/data/synth.js';
import { DawnetError } from '../../src/errors.js';

const work = mkdtempSync(join(tmpdir(), 'dawnet-ensemble-members-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('warnRepeatedMembers', () => {
  it('warns once per repeat, whatever the spelling of the folder', async () => {
    const a = join(work, 'fold-1');
    const logs: string[] = [];
    await warnRepeatedMembers([a, join(work, 'fold-2'), `${relative(process.cwd(), a)}/`], (m) => logs.push(m));
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatch(/^warning: ensemble: .*fold-1\/ is given twice \(also as .*fold-1\)/);
  });

  it('names the other spelling only where it differs', async () => {
    const logs: string[] = [];
    await warnRepeatedMembers(['runs/a', 'runs/b', 'runs/a'], (m) => logs.push(m));
    expect(logs).toEqual(['warning: ensemble: runs/a is given twice, so its checkpoint counts twice in the average']);
  });

  it('says nothing of distinct runs', async () => {
    const logs: string[] = [];
    await warnRepeatedMembers([join(work, 'fold-1'), join(work, 'fold-2')], (m) => logs.push(m));
    expect(logs).toEqual([]);
  });
});

describe('predict into a folder made with an ensemble', () => {
  it("names the missing ensemble as 'none'", async () => {
    const data = join(work, 'kaggle_3m');
    await writeSyntheticDataset(data, { patients: 1, seed: 1, size: 16, slicesPerPatient: [2, 2] });
    const patient = readdirSync(data).find((f) => f.startsWith('TCGA'))!;
    const slice = join(data, patient, `${patient}_1.tif`);
    const run = join(work, 'run');
    mkdirSync(run);
    writeFileSync(join(run, 'config.json'), JSON.stringify(configFromFlags('segment', { data, out: run, size: 16, features: 4, depth: 2 })));
    const out = join(work, 'pred');
    mkdirSync(out);
    const settings = { run, ensemble: [run, join(work, 'other')], task: 'segment', tta: 'none', postprocess: { minLesionSize: 0, keepLargest: false, connectivity: 8 } };
    writeFileSync(join(out, 'predictions.json'), JSON.stringify({ ...settings, predictions: [] }));
    const refused = runPredict(run, [slice], out, () => undefined);
    await expect(refused).rejects.toThrow(DawnetError);
    await expect(runPredict(run, [slice], out, () => undefined)).rejects.toThrow(/holds predictions made with another ensemble \(.*predictions\.json: \[.*\], now none\)/);
  });
});
