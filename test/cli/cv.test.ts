// k-fold cross-validation: `train --folds K --fold I` and `dawnet cv`, through the real CLI on a
// small synthetic data set, plus the table's statistics and the flags' checks.
import { cpSync, existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultConfig } from '../../src/app/config.js';
import { cvColumns, formatCvTable, meanSd, type FoldRow } from '../../src/cli/cv.js';
import { renderCvPage } from '../../src/report/cv-html.js';
import { configFromFlags, validateTrainConfig } from '../../src/cli/train.js';
import { buildCli, runCli, tempDir } from './helpers.js';
import { expectChartsDrawn, hasChromium } from '../helpers/charts-page.js';

describe('k-fold flags and the summary', () => {
  it('checks --folds and --fold together', () => {
    const c = (flags: Record<string, unknown>) => configFromFlags('segment', { data: 'd', ...flags });
    expect(() => validateTrainConfig(c({ folds: 5, fold: 4 }), false)).not.toThrow();
    expect(() => validateTrainConfig(c({}), false)).not.toThrow();
    expect(() => validateTrainConfig(c({ folds: 1 }), false)).toThrow(/--folds must be 0 \(off\) or a whole number of 2 or more, got 1/);
    expect(() => validateTrainConfig(c({ folds: 2.5 }), false)).toThrow(/--folds/);
    expect(() => validateTrainConfig(c({ folds: 5, fold: 5 }), false)).toThrow(/--fold must be a whole number from 0 to 4 \(--folds 5\), got 5/);
    expect(() => validateTrainConfig(c({ fold: 2 }), false)).toThrow(/--fold 2 needs --folds K/);
    expect(() => validateTrainConfig(c({ folds: 3, split: 'slice' }), false)).toThrow(/--folds splits by patient/);
  });

  it('mean and sample standard deviation over the finite values', () => {
    const s = meanSd([0.8, 0.9, NaN, 0.7]);
    expect(s.n).toBe(3);
    expect(s.mean).toBeCloseTo(0.8, 12);
    expect(s.sd).toBeCloseTo(0.1, 12); // sqrt((0.01 + 0.01) / 2)
    expect(meanSd([0.5]).sd).toBeNaN();
    expect(meanSd([]).mean).toBeNaN();
  });

  it('formats one row per fold, then the mean and sd rows', () => {
    const row = (fold: number, val: number, dice: number): FoldRow => ({ fold, run: `r/fold-${fold + 1}`, valPatients: 4, bestEpoch: 2, val, test: { dicePerSlice: dice, dicePerVolume: dice, hd95PerVolume: 3, loss: 0.2 }, curve: [] });
    const lines = formatCvTable([row(0, 0.8, 0.7), row(1, 0.6, 0.9)], 'segment').split('\n');
    expect(lines[0]).toMatch(/fold\s+val patients\s+val Dice \(best\)\s+test Dice\/slice\s+test Dice\/volume\s+test HD95\/volume\s+test loss/);
    expect(lines[2]).toMatch(/^1\s+4\s+0\.8000\s+0\.7000/);
    expect(lines[4]).toMatch(/^mean\s+0\.7000\s+0\.8000/);
    expect(lines[5]).toMatch(/^sd\s+0\.1414\s+0\.1414\s+0\.1414\s+0\.0000/);
    expect(lines.length).toBe(6);
    const withEnsemble = formatCvTable([row(0, 0.8, 0.7), row(1, 0.6, 0.9)], 'segment', { dicePerSlice: 0.85, dicePerVolume: 0.8, hd95PerVolume: 2, loss: null }).split('\n');
    expect(withEnsemble[6]).toMatch(/^ensemble\s+0\.8500\s+0\.8000\s+2\.0000\s+n\/a$/);
  });

  it('a mean or sd over fewer folds than the table has says how many: a fold without the value is not silently dropped', () => {
    const row = (fold: number, hd95: number): FoldRow => ({ fold, run: `r/fold-${fold + 1}`, valPatients: 4, bestEpoch: 2, val: 0.5, test: { dicePerSlice: 0.5, dicePerVolume: 0.5, hd95PerVolume: hd95, loss: 0.2 }, curve: [] });
    // Fold 3 scored no volume (it predicted nothing anywhere): HD95 NaN, its mean and sd over 2 of 3.
    const lines = formatCvTable([row(0, 2), row(1, 4), row(2, NaN)], 'segment').split('\n');
    expect(lines[5]).toMatch(/^mean\s+0\.5000\s+0\.5000\s+0\.5000\s+3\.0000 \(2 of 3\)\s+0\.2000$/);
    expect(lines[6]).toMatch(/^sd\s+0\.0000\s+0\.0000\s+0\.0000\s+1\.4142 \(2 of 3\)\s+0\.0000$/);
  });

  it('renders the page: a row per fold linking its report, mean, sd and ensemble rows, one chart line per fold, text escaped', async () => {
    const fold = (i: number, curve: number[]) => ({ fold: i, run: `fold-${i + 1}`, valPatients: 3, bestEpoch: curve.indexOf(Math.max(...curve)), val: Math.max(...curve), test: { dicePerSlice: 0.5 + i / 10, dicePerVolume: 0.4, hd95PerVolume: NaN, loss: 0.3 }, curve });
    const html = await renderCvPage({
      title: 'cv <seg>',
      task: 'segment',
      seed: 42,
      testFraction: 0.1,
      monitor: 'val_dice',
      columns: cvColumns('segment'),
      folds: [fold(0, [0.2, 0.6, 0.5]), fold(1, [0.3, 0.7])],
      summary: { val: meanSd([0.6, 0.7]), dicePerSlice: meanSd([0.5, 0.6]) },
      ensemble: { dicePerSlice: 0.65, dicePerVolume: 0.45, hd95PerVolume: 2.5, loss: 0.25 },
      chartJsSource: null,
    });
    expect(html).toContain('<title>cv &lt;seg></title>');
    expect(html).toMatch(/<tr data-testid="cv-fold-1"><td><a href="fold-1\/report.html">1<\/a><\/td><td>3<\/td><td>0\.6000 \(2\)<\/td><td>0\.5000<\/td><td>0\.4000<\/td><td>n\/a<\/td><td>0\.3000<\/td><\/tr>/);
    expect(html).toMatch(/<tr class="summary" data-testid="cv-mean"><td>mean<\/td><td><\/td><td>0\.6500<\/td><td>0\.5500<\/td>/);
    expect(html).toMatch(/data-testid="cv-sd"><td>sd<\/td><td><\/td><td>0\.0707<\/td>/);
    expect(html).toMatch(/data-testid="cv-ensemble"><td>ensemble<\/td><td><\/td><td><\/td><td>0\.6500<\/td><td>0\.4500<\/td><td>2\.5000<\/td><td>0\.2500<\/td>/);
    const specs = JSON.parse(html.slice(html.indexOf('id="chart-specs">') + 17, html.indexOf('</script>', html.indexOf('id="chart-specs">'))));
    const chart = specs.charts[0].config.data;
    expect(chart.labels).toEqual([1, 2, 3]);
    expect(chart.datasets.map((d: { label: string; data: (number | null)[] }) => [d.label, d.data])).toEqual([['fold 1', [0.2, 0.6, 0.5]], ['fold 2', [0.3, 0.7, null]]]);
    expect(html).toContain('data-testid="chip-test-patients">10%, held out of every fold');
    // A summary over fewer folds than the table's says so: the val mean of 1 of the 2 folds.
    const fewer = await renderCvPage({
      title: 't', task: 'segment', seed: 1, testFraction: 0.1, monitor: 'val_dice', columns: cvColumns('segment'),
      folds: [fold(0, [0.6]), fold(1, [0.7])], summary: { val: meanSd([0.6, NaN]) }, chartJsSource: null,
    });
    expect(fewer).toMatch(/data-testid="cv-mean"><td>mean<\/td><td><\/td><td>0\.6000 \(1 of 2\)<\/td>/);
  });

  it('defaults: no folds', () => {
    expect(defaultConfig('segment').folds).toBeUndefined();
    expect(configFromFlags('segment', {}).folds).toBe(0);
  });
});

let cli = '';
let work = '';
let data = '';
beforeAll(async () => {
  cli = await buildCli();
  work = tempDir('dawnet-cv-');
  data = join(work, 'kaggle_3m');
  const r = await runCli(cli, ['synth', '--out', data, '--patients', '7', '--seed', '5', '--size', '32', '--slices', '5-7']);
  expect(r.code, r.stderr).toBe(0);
}, 120_000);
afterAll(() => {
  rmSync(dirname(cli), { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

const TINY = ['--epochs', '1', '--size', '32', '--features', '4', '--depth', '2', '--batch', '8', '--augment', 'none', '--test-fraction', '0.15'];

describe('dawnet cv', () => {
  const out = () => join(work, 'cv');
  const splitOf = (fold: number) => JSON.parse(readFileSync(join(out(), `fold-${fold}`, 'split.json'), 'utf8')).patients;

  it('trains one run per fold: each patient validated once, the test patients held out of every fold', async () => {
    const r = await runCli(cli, ['cv', 'segment', '--data', data, '--out', out(), '--folds', '3', ...TINY], { timeoutMs: 400_000 });
    expect(r.code, r.stderr).toBe(0);
    const splits = [1, 2, 3].map(splitOf);
    const test = splits[0].test as string[];
    expect(test.length).toBe(1); // 15% of 7 patients, rounded, at least one
    for (const s of splits) {
      expect(s.test).toEqual(test);
      const all = [...s.train, ...s.val, ...s.test];
      expect(new Set(all).size, 'no patient in two parts of a fold').toBe(7);
    }
    const vals = splits.flatMap((s) => s.val as string[]);
    expect(vals.length, 'every non-test patient validated exactly once').toBe(6);
    expect(new Set([...vals, ...test]).size).toBe(7);
    // cv.json: each fold's row from its own run, and the summary from the rows.
    const cv = JSON.parse(readFileSync(join(out(), 'cv.json'), 'utf8'));
    expect(cv.folds).toBe(3);
    expect(cv.rows.map((row: FoldRow) => row.fold)).toEqual([0, 1, 2]);
    for (const row of cv.rows as FoldRow[]) {
      const ev = JSON.parse(readFileSync(join(row.run, 'eval.json'), 'utf8'));
      expect(row.test.dicePerSlice).toBe(ev.dicePerSlice);
      expect(row.test.dicePerVolume).toBe(ev.dicePerVolume);
      expect(row.test.loss).toBe(ev.loss);
      // HD95 is under eval.json's `surface`.
      expect(typeof ev.surface.hd95PerVolume, 'a finite HD95 to compare').toBe('number');
      expect(row.test.hd95PerVolume).toBe(ev.surface.hd95PerVolume);
      const metrics = readFileSync(join(row.run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      expect(row.val).toBe(Math.max(...metrics.map((m) => m.val_dice)));
      expect(row.valPatients).toBe(2);
    }
    const dice = meanSd(cv.rows.map((row: FoldRow) => row.test.dicePerSlice));
    expect(cv.summary.dicePerSlice.mean).toBeCloseTo(dice.mean, 12);
    const hd95 = meanSd(cv.rows.map((row: FoldRow) => row.test.hd95PerVolume));
    expect(cv.summary.hd95PerVolume.n).toBe(3);
    expect(cv.summary.hd95PerVolume.mean).toBeCloseTo(hd95.mean, 12);
    expect(r.stdout).toMatch(/fold\s+val patients\s+val Dice \(best\)\s+test Dice\/slice/);
    expect(r.stdout).toMatch(/\nmean\s/);
    // The folds' ensemble on the shared test patient: its full metrics and its row.
    const ensemble = JSON.parse(readFileSync(join(out(), 'ensemble-eval.json'), 'utf8'));
    expect(ensemble.ensemble).toEqual([1, 2, 3].map((f) => join(out(), `fold-${f}`)));
    expect(Number.isFinite(ensemble.loss)).toBe(true);
    expect(cv.ensemble.dicePerSlice).toBe(ensemble.dicePerSlice);
    expect(typeof ensemble.surface.hd95PerVolume).toBe('number');
    expect(cv.ensemble.hd95PerVolume).toBe(ensemble.surface.hd95PerVolume);
    expect(r.stdout).toContain(`\n${formatCvTable(cv.rows, 'segment', cv.ensemble).split('\n').at(-1)}`);
    expect(r.stdout).not.toMatch(/\nensemble\s.*n\/a/);
    expect(Number.isFinite(ensemble.dicePerSlice)).toBe(true);
    expect(r.stdout).toMatch(/\nensemble\s+\d\.\d{4}/);
    // The page: the same rows, and each fold's curve from its metrics.jsonl.
    const html = readFileSync(join(out(), 'cv.html'), 'utf8');
    for (const f of [1, 2, 3]) expect(html).toContain(`<a href="fold-${f}/report.html">${f}</a>`);
    expect(html).toContain(`<td>${cv.rows[0].test.dicePerSlice.toFixed(4)}</td>`);
    expect(html).toContain('data-testid="cv-ensemble"');
    expect(html).toMatch(new RegExp(`data-testid="cv-ensemble">(<td>[^<]*</td>){5}<td>${cv.ensemble.hd95PerVolume.toFixed(4)}</td>`));
    for (const row of cv.rows as FoldRow[]) expect(row.curve).toEqual([row.val]); // one epoch each
  }, 420_000);

  it.skipIf(!hasChromium)('the page draws its chart in headless Chromium', async () => {
    await expectChartsDrawn(join(out(), 'cv.html'));
  }, 60_000);

  it('eval with several runs scores their ensemble, as cv did, and with --tta flip', async () => {
    const folds = [1, 2, 3].map((f) => join(out(), `fold-${f}`));
    const file = join(work, 'ensemble.json');
    const r = await runCli(cli, ['eval', ...folds, '--json', '--out', file]);
    expect(r.code, r.stderr).toBe(0);
    const printed = JSON.parse(r.stdout.slice(r.stdout.indexOf('{')));
    const cvEnsemble = JSON.parse(readFileSync(join(out(), 'ensemble-eval.json'), 'utf8'));
    expect(printed.dicePerSlice).toBe(cvEnsemble.dicePerSlice);
    expect(printed.ensemble).toEqual(folds);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(printed);
    const tta = await runCli(cli, ['eval', ...folds, '--tta', 'flip', '--json']);
    expect(tta.code, tta.stderr).toBe(0);
    expect(JSON.parse(tta.stdout.slice(tta.stdout.indexOf('{'))).tta).toBe('flip');
    const table = await runCli(cli, ['eval', ...folds.slice(0, 2)]);
    expect(table.stdout).toMatch(/ensemble: 2 runs \(.*fold-1, .*fold-2\)\ntest split \(\d+ slices\):/);
  }, 180_000);

  it('predict --ensemble averages the folds: with itself it is the run alone, with another it differs', async () => {
    const { readdirSync } = await import('node:fs');
    const patient = splitOf(1).test[0] as string;
    const folder = readdirSync(data).find((f) => f.startsWith(patient))!;
    const slice = join(data, folder, readdirSync(join(data, folder)).find((f) => /_\d+\.tif$/.test(f))!);
    const predict = async (name: string, extra: string[]) => {
      const dir = join(work, name);
      const r = await runCli(cli, ['predict', join(out(), 'fold-1'), slice, '--out', dir, ...extra]);
      expect(r.code, r.stderr).toBe(0);
      const json = JSON.parse(readFileSync(join(dir, 'predictions.json'), 'utf8'));
      return { json, prob: readFileSync(json.predictions[0].outputs[0]) };
    };
    const alone = await predict('pred-alone', []);
    const self = await predict('pred-self', ['--ensemble', join(out(), 'fold-1')]);
    const two = await predict('pred-two', ['--ensemble', join(out(), 'fold-2')]);
    expect(alone.json.ensemble).toBeUndefined();
    expect(self.json.ensemble).toEqual([join(out(), 'fold-1'), join(out(), 'fold-1')]);
    expect(two.json.checkpoints).toEqual([join(out(), 'fold-1', 'best.safetensors'), join(out(), 'fold-2', 'best.safetensors')]);
    expect(self.prob.equals(alone.prob), '(p + p) / 2 = p').toBe(true);
    expect(two.prob.equals(alone.prob), 'another fold changes the average').toBe(false);
    // A patient folder: its slices in order, and a summary over them.
    const dir = join(work, 'pred-folder');
    const whole = await runCli(cli, ['predict', join(out(), 'fold-1'), join(data, folder), '--out', dir]);
    expect(whole.code, whole.stderr).toBe(0);
    const json = JSON.parse(readFileSync(join(dir, 'predictions.json'), 'utf8'));
    const numbers = json.predictions.map((p: { file: string }) => Number(/_(\d+)\.tif$/.exec(p.file)![1]));
    expect(numbers).toEqual([...numbers].sort((a, b) => a - b));
    expect(numbers.length).toBe(readdirSync(join(data, folder)).filter((f) => /_\d+\.tif$/.test(f)).length);
    const pixels = json.predictions.reduce((n: number, p: { tumourPixels: number }) => n + p.tumourPixels, 0);
    expect(json.folders).toEqual([{ folder: join(data, folder), slices: numbers.length, slicesWithTumour: json.predictions.filter((p: { tumourPixels: number }) => p.tumourPixels > 0).length, tumourPixels: pixels }]);
    expect(whole.stdout).toContain(`${join(data, folder)}: tumour in ${json.folders[0].slicesWithTumour} of ${numbers.length} slices, ${pixels} tumour pixels in all`);
  }, 180_000);

  it('run again, reads finished folds back and resumes an interrupted one; other epochs are refused', async () => {
    // Fold 2 as if interrupted after its first epoch: no eval.json or report yet.
    rmSync(join(out(), 'fold-2', 'eval.json'));
    rmSync(join(out(), 'fold-2', 'report.html'));
    const more = await runCli(cli, ['cv', 'segment', '--data', data, '--out', out(), '--folds', '3', ...TINY, '--epochs', '2']);
    expect(more.code).toBe(1);
    expect(more.stderr).toContain(`${join(out(), 'fold-1')} holds a run with epochs 1, not 2: folds of other settings cannot be averaged`);
    // Moved: the folder is the run, whatever its config.json's out says.
    const moved = join(work, 'cv-moved');
    renameSync(out(), moved);
    const r = await runCli(cli, ['cv', 'segment', '--data', data, '--out', moved, '--folds', '3', ...TINY], { timeoutMs: 300_000 });
    renameSync(moved, out());
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.match(/finished earlier/g)?.length).toBe(2);
    expect(r.stdout).toContain(`resume: ${join(moved, 'fold-2')} has trained all 1 epochs; finishing it (test evaluation and report)`);
    const epochs = readFileSync(join(out(), 'fold-2', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).epoch);
    expect(epochs).toEqual([0]);
    expect(existsSync(join(out(), 'fold-2', 'report.html'))).toBe(true);
    const row = JSON.parse(readFileSync(join(out(), 'cv.json'), 'utf8')).rows[1] as FoldRow;
    expect(row.run).toBe(join(moved, 'fold-2'));
  }, 320_000);

  it('classify: the classifier folds, their accuracy and AUC columns, and an ensemble of p(tumour)', async () => {
    const dir = join(work, 'cv-classify');
    const r = await runCli(cli, ['cv', 'classify', '--data', data, '--out', dir, '--folds', '2', '--size', '32', '--width-scale', '0.125', '--epochs', '1', '--batch', '8', '--augment', 'none', '--test-fraction', '0.15'], { timeoutMs: 300_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/fold\s+val patients\s+val accuracy \(best\)\s+test accuracy\s+test ROC AUC\s+test sensitivity\s+test specificity\s+test loss/);
    const cv = JSON.parse(readFileSync(join(dir, 'cv.json'), 'utf8'));
    expect(cv.monitor).toBe('val_accuracy');
    const ensemble = JSON.parse(readFileSync(join(dir, 'ensemble-eval.json'), 'utf8'));
    expect(ensemble.task).toBe('classify');
    expect(ensemble.tp + ensemble.fp + ensemble.tn + ensemble.fn).toBe(ensemble.slices);
    for (const row of cv.rows as FoldRow[]) {
      const own = JSON.parse(readFileSync(join(row.run, 'eval.json'), 'utf8'));
      for (const [k] of cvColumns('classify')) expect(row.test[k], k).toBe(own[k]);
      expect(own.slices, 'the same test patient').toBe(ensemble.slices);
    }
    expect(readFileSync(join(dir, 'cv.html'), 'utf8')).toContain('<th>test ROC AUC</th>');
  }, 320_000);

  it('--test-fraction 0: every patient in a fold, no test evaluation, no ensemble; run again, all read back', async () => {
    const dir = join(work, 'cv-no-test');
    const args = ['cv', 'segment', '--data', data, '--out', dir, '--folds', '2', ...TINY, '--test-fraction', '0'];
    const r = await runCli(cli, args, { timeoutMs: 300_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('test: no test patients (--test-fraction 0), so no test evaluation and no eval.json');
    const cv = JSON.parse(readFileSync(join(dir, 'cv.json'), 'utf8'));
    expect(cv.ensemble).toBeUndefined();
    expect((cv.rows as FoldRow[]).map((row) => row.valPatients).reduce((a, b) => a + b, 0), 'all 7 patients validated').toBe(7);
    expect(cv.rows.every((row: { test: Record<string, number | null> }) => row.test.dicePerSlice === null)).toBe(true);
    expect(Number.isFinite(cv.summary.val.mean)).toBe(true);
    const again = await runCli(cli, args, { timeoutMs: 120_000 });
    expect(again.stdout.match(/finished earlier/g)?.length).toBe(2);
    const ev = await runCli(cli, ['eval', join(dir, 'fold-1')]);
    expect(ev.code).toBe(1);
    expect(ev.stderr).toContain(`${join(dir, 'fold-1')}: no test patients (trained with --test-fraction 0), so nothing to evaluate; --data DIR --all-patients scores another folder`);
  }, 420_000);

  it('refuses a folder whose folds were split another way, and bad --folds', async () => {
    const other = await runCli(cli, ['cv', 'segment', '--data', data, '--out', out(), '--folds', '3', ...TINY, '--seed', '7']);
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/fold-1 holds a run with seed 42, not 7: folds of other settings cannot be averaged; use another --out/);
    for (const [flag, value, saved] of [['--lr', '0.01', '0.0001'], ['--features', '8', '4'], ['--loss', 'bce', '"dice"']]) {
      const changed = await runCli(cli, ['cv', 'segment', '--data', data, '--out', out(), '--folds', '3', ...TINY, flag, value]);
      expect(changed.code, flag).toBe(1);
      expect(changed.stderr).toContain(`${join(out(), 'fold-1')} holds a run with ${flag.slice(2)} ${saved}, not ${flag === '--loss' ? `"${value}"` : value}: folds of other settings cannot be averaged`);
    }
    const bad = await runCli(cli, ['cv', 'segment', '--data', data, '--out', join(work, 'x'), '--folds', '1']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--folds must be a whole number of 2 or more, got 1/);
    const external = await runCli(cli, ['eval', join(out(), 'fold-1'), '--all-patients']);
    expect(external.code).toBe(1);
    expect(external.stderr).toMatch(/--all-patients scores an external data folder: give it with --data DIR/);
    const slice = await runCli(cli, ['cv', 'segment', '--data', data, '--out', join(work, 'z'), '--split', 'slice']);
    expect(slice.stderr, 'folds are by patient').toMatch(/unknown option --split/);
    const many = await runCli(cli, ['cv', 'segment', '--data', data, '--out', join(work, 'y'), '--folds', '9', ...TINY]);
    expect(many.code).toBe(1);
    expect(many.stderr).toMatch(/split: 9 folds need 9 patients outside the test set, and 6 of 7 are; the test fraction 0.\d+ holds out 1 of them/);
  }, 120_000);

  it('refuses a new fold whose split holds out other test patients than the finished folds, or with --test-fraction 0 splits other patients or validates on theirs (data or split algorithm changed)', async () => {
    const dir = join(work, 'cv-changed');
    cpSync(out(), dir, { recursive: true });
    rmSync(join(dir, 'fold-3'), { recursive: true });
    // As if folds 1 and 2 had been split by an older algorithm: another test patient.
    const held = splitOf(1).test as string[];
    for (const fold of [1, 2]) {
      const file = join(dir, `fold-${fold}`, 'split.json');
      const saved = JSON.parse(readFileSync(file, 'utf8'));
      const other = saved.patients.train[0] as string;
      saved.patients.train = [...saved.patients.train.slice(1), ...held];
      saved.patients.test = [other];
      writeFileSync(file, JSON.stringify(saved));
    }
    const r = await runCli(cli, ['cv', 'segment', '--data', data, '--out', dir, '--folds', '3', ...TINY]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${join(dir, 'fold-3')}: this run's split holds out other test patients than ${join(dir, 'fold-1', 'split.json')} (${held[0]} not among them): the folds of one cv must share theirs`);
    expect(existsSync(join(dir, 'fold-3', 'config.json')), 'nothing of the refused fold written').toBe(false);
    // --test-fraction 0: no test patients to differ, so the folds' other parts are compared.
    const none = join(work, 'cv-no-test-changed');
    cpSync(join(work, 'cv-no-test'), none, { recursive: true });
    rmSync(join(none, 'fold-2'), { recursive: true });
    const file = join(none, 'fold-1', 'split.json');
    const saved = JSON.parse(readFileSync(file, 'utf8'));
    const noTest = ['cv', 'segment', '--data', data, '--out', none, '--folds', '2', ...TINY, '--test-fraction', '0'];
    // As if fold 1 had been trained on a data folder without one of the patients.
    const [dropped, ...rest] = saved.patients.train as string[];
    writeFileSync(file, JSON.stringify({ ...saved, patients: { ...saved.patients, train: rest } }));
    const fewer = await runCli(cli, noTest);
    expect(fewer.code).toBe(1);
    expect(fewer.stderr).toContain(`${join(none, 'fold-2')}: this run's split trains and validates on other patients than ${file} (${dropped} not among them): the folds of one cv must split the same patients`);
    // As if fold 1 had been split by an older algorithm: a patient of each group swapped.
    const [validated, ...others] = saved.patients.val as string[];
    writeFileSync(file, JSON.stringify({ ...saved, patients: { ...saved.patients, train: [validated, ...rest], val: [dropped, ...others] } }));
    const swapped = await runCli(cli, noTest);
    expect(swapped.code).toBe(1);
    expect(swapped.stderr).toContain(`${join(none, 'fold-2')}: this run's split validates on patients that ${file} validates on too (${dropped}): the folds of one cv validate on disjoint groups`);
    expect(swapped.stderr).toContain('Run the cv again into another --out');
    expect(existsSync(join(none, 'fold-2', 'config.json')), 'nothing of the refused fold written').toBe(false);
  }, 180_000);

  it('train --folds --fold makes the same fold as cv, which eval scores on the shared test patients', async () => {
    const run = join(work, 'fold2');
    const r = await runCli(cli, ['train', 'segment', '--data', data, '--out', run, '--folds', '3', '--fold', '1', ...TINY], { timeoutMs: 300_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/split: fold 2 of 3/);
    const mine = JSON.parse(readFileSync(join(run, 'split.json'), 'utf8')).patients;
    expect(mine).toEqual(splitOf(2));
    const ev = await runCli(cli, ['eval', run, '--json']);
    expect(ev.code, ev.stderr).toBe(0);
    const json = JSON.parse(ev.stdout.slice(ev.stdout.indexOf('{')));
    const cvFold = JSON.parse(readFileSync(join(out(), 'fold-2', 'eval.json'), 'utf8'));
    expect(json.slices, "the shared test patient's slices").toBe(cvFold.slices);
    expect(json.slices).toBeGreaterThan(0);
  }, 320_000);
});
