// `dawnet cv classify|segment --data DIR --folds K --out DIR [train options]`: k-fold
// cross-validation by patient. With 110 patients one split's test score moves by several points
// with the seed; k folds give k scores and their spread. One run per fold (OUT/fold-1 ...
// OUT/fold-K, each an ordinary run folder: eval, predict and the report work on it), validating on
// its own group of patients and evaluated on the test patients held out of every fold; then the
// folds' scores side by side with their mean and standard deviation, and the ensemble of the
// folds' best checkpoints (their predictions averaged) on the test patients, printed and written
// to OUT/cv.json and OUT/cv.html (the ensemble's full metrics to OUT/ensemble-eval.json). Running it again
// continues: a finished fold (eval.json written) is read back, an interrupted one resumed with
// its own settings.

import { bestMonitor, type Task, type TrainConfig } from '../app/config.js';
import { nodePath } from '../io/files.js';
import { fileExists, readConfig, readJson, readMetrics, runFiles, writeJson } from '../app/run-dir.js';
import { evaluateEnsemble } from '../app/ensemble-job.js';
import { savedSplit } from '../app/data.js';
import { DataError } from '../data/errors.js';
import { runTraining, type FoldSplit } from '../app/train-job.js';
import { writeFileAtomic } from '../io/files.js';
import { renderCvPage, type CvFold } from '../report/cv-html.js';
import * as dn from '../index.js';
import { parseArgs, UsageError, type CommandSpec } from './args.js';
import { catchInterrupt } from './interrupt.js';
import { checkTaskFlags, configFromFlags, givenFlags, trainSpec, validateTrainConfig } from './train.js';

// Not train's --resume (cv continues by itself), --fold, --val-fraction (each fold's group is its
// validation set) or --split (folds are by patient).
// Nor --overwrite: cv continues the folds it finds.
const { out: _out, resume: _resume, overwrite: _overwrite, folds: _folds, fold: _fold, 'val-fraction': _val, split: _split, ...trainFlags } = trainSpec.flags;

export const cvSpec: CommandSpec = {
  name: 'cv',
  summary:
    'k-fold cross-validation by patient: one run per fold (OUT/fold-1 ...), each validating on its own patients and tested on the\n' +
    'patients held out of every fold, then every fold\'s scores with their mean and standard deviation and the folds\' ensemble\n' +
    '(OUT/cv.json, OUT/cv.html). Re-running continues.',
  positionals: [{ name: 'classify|segment', help: 'the task' }],
  flags: {
    out: { type: 'string', help: 'folder for the fold runs (fold-1 ... fold-K) and cv.json', default: 'runs/cv' },
    folds: { type: 'number', help: 'folds: the patients outside the test set fall into this many groups, each the validation set of one run', default: 5 },
    ...trainFlags,
  },
  examples: ['dawnet cv segment --data kaggle_3m --folds 5 --out runs/cv-unet', 'dawnet cv segment --data kaggle_3m --folds 5 --test-fraction 0 --out runs/cv-all'],
};

/** One fold's scores: the best validation metric (the one that picked its checkpoint) and the test metrics of that checkpoint. */
export type FoldRow = CvFold;

/** The test metrics reported per fold and summarised: eval.json field and column title. */
export function cvColumns(task: Task): [string, string][] {
  return task === 'segment'
    ? [['dicePerSlice', 'test Dice/slice'], ['dicePerVolume', 'test Dice/volume'], ['hd95PerVolume', 'test HD95/volume'], ['loss', 'test loss']]
    : [['accuracy', 'test accuracy'], ['auc', 'test ROC AUC'], ['recall', 'test sensitivity'], ['specificity', 'test specificity'], ['loss', 'test loss']];
}

/**
 * A column's value in an eval.json (eval's or the ensemble's): the surface distances sit under
 * `surface`, the other metrics at the top; NaN where it holds none.
 */
export function evalMetric(ev: Record<string, unknown>, key: string): number {
  const surface = typeof ev.surface === 'object' && ev.surface !== null ? (ev.surface as Record<string, unknown>) : {};
  const v = key.startsWith('hd95') || key.startsWith('assd') ? surface[key] : ev[key];
  return typeof v === 'number' ? v : NaN;
}

/** An eval.json's test metrics by the task's columns: a fold's row, or the ensemble's. */
const testMetrics = (ev: Record<string, unknown>, task: Task): Record<string, number> => Object.fromEntries(cvColumns(task).map(([k]) => [k, evalMetric(ev, k)]));

/** Mean and sample standard deviation (n − 1) of the finite values; NaN where there are none (sd: fewer than two). */
export function meanSd(values: readonly number[]): { mean: number; sd: number; n: number } {
  const v = values.filter((x) => Number.isFinite(x));
  const n = v.length;
  const mean = n ? v.reduce((s, x) => s + x, 0) / n : NaN;
  const sd = n > 1 ? Math.sqrt(v.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1)) : NaN;
  return { mean, sd, n };
}

/**
 * The folds' table with a mean and a standard-deviation row under it, and where given the
 * ensemble's row (its test metrics by column, evalMetric's) as the last.
 */
export function formatCvTable(rows: readonly FoldRow[], task: Task, ensemble?: Record<string, unknown>): string {
  const columns = cvColumns(task);
  const valTitle = `val ${task === 'segment' ? 'Dice' : 'accuracy'} (best)`;
  const header = ['fold', 'val patients', valTitle, ...columns.map(([, t]) => t)];
  const num = (x: number) => (Number.isFinite(x) ? x.toFixed(4) : 'n/a');
  const body = rows.map((r) => [String(r.fold + 1), String(r.valPatients), num(r.val), ...columns.map(([k]) => num(r.test[k]))]);
  const stats = [meanSd(rows.map((r) => r.val)), ...columns.map(([k]) => meanSd(rows.map((r) => r.test[k])))];
  // A fold without the value (NaN: no volume scored, one class only) is left out of the mean and sd;
  // the cell then says over how many folds they are, rather than pass for all of them.
  const over = (x: number, n: number) => `${num(x)}${n > 0 && n < rows.length ? ` (${n} of ${rows.length})` : ''}`;
  body.push(['mean', '', ...stats.map((s) => over(s.mean, s.n))], ['sd', '', ...stats.map((s) => over(s.sd, s.n))]);
  if (ensemble) body.push(['ensemble', '', '', ...columns.map(([k]) => num(typeof ensemble[k] === 'number' ? (ensemble[k] as number) : NaN))]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

/** The folder, the fold, and what only changes how a fold runs (threads, strictness, tuning). */
const SETTINGS_THAT_SHAPE_NO_RESULT = new Set<keyof TrainConfig>(['out', 'fold', 'workers', 'strict', 'tuneConvs', 'convTuning']);

/** Refuses a fold folder that holds another fold, or a fold of the other task. */
function checkSameFold(saved: TrainConfig, wanted: TrainConfig, dir: string): void {
  if (saved.fold !== wanted.fold || saved.task !== wanted.task) throw new UsageError(`${dir} holds fold ${(saved.fold ?? 0) + 1} of a ${saved.task} run, not fold ${wanted.fold! + 1} of ${wanted.task}; use another --out`);
}

/**
 * Refuses a run folder that holds a run of other settings, naming the first that differs: every
 * field but `ignore` shapes a run's result (epochs too: a fold finished with fewer is another
 * setting), and mixing them would average folds trained differently, or score patients another
 * fold trained on. `why` ends the message (cv's, by default). The data folder is compared as an
 * absolute path (runs store it so). Also `dawnet sweep`'s check of its runs' folders.
 */
export async function checkSameSettings(
  saved: TrainConfig,
  wanted: TrainConfig,
  dir: string,
  why = "folds of other settings cannot be averaged; use another --out, or the run's settings",
  ignore: ReadonlySet<keyof TrainConfig> = SETTINGS_THAT_SHAPE_NO_RESULT,
): Promise<void> {
  const { resolve } = await nodePath();
  // `saved` is readConfig's (an older run's missing fields filled in) and `wanted` train's flags.
  const value = (c: TrainConfig, k: keyof TrainConfig) => JSON.stringify(k === 'data' ? resolve(c.data) : c[k]);
  const keys = new Set([...Object.keys(saved), ...Object.keys(wanted)] as (keyof TrainConfig)[]);
  for (const k of keys) {
    if (ignore.has(k) || value(saved, k) === value(wanted, k)) continue;
    throw new UsageError(`${dir} holds a run with ${k} ${value(saved, k)}, not ${value(wanted, k)}: ${why}`);
  }
}

/**
 * The splits of the other folds of this cv that have started (their split.json), which `c`'s must
 * agree with (TrainHooks.otherFolds).
 */
async function otherFoldSplits(configs: TrainConfig[], c: TrainConfig): Promise<FoldSplit[]> {
  const splits: FoldSplit[] = [];
  for (const other of configs) {
    if (other === c) continue;
    const saved = await savedSplit(other.out);
    if (saved) splits.push({ patients: saved.split.patients, source: saved.source });
  }
  return splits;
}

async function foldRow(c: TrainConfig): Promise<FoldRow> {
  const files = runFiles(c.out);
  const monitor = bestMonitor(c.task);
  const metrics = await readMetrics(c.out);
  let best = -1;
  let val = NaN;
  const curve: number[] = [];
  for (const m of metrics) {
    const v = Number(m[monitor]);
    curve[m.epoch] = v;
    if (Number.isFinite(v) && !(v <= val)) [best, val] = [m.epoch, v];
  }
  const ev = (await fileExists(files.eval)) ? await readJson<Record<string, unknown>>(files.eval, 'evaluation') : {};
  const saved = await savedSplit(c.out);
  if (!saved) throw new DataError(`${files.split} is missing: a finished fold keeps the patients it validated on there`);
  const split = saved.split;
  const test = testMetrics(ev, c.task);
  return { fold: c.fold!, run: c.out, valPatients: split.patients.val.length, bestEpoch: best, val, test, curve: Array.from(curve, (v) => v ?? NaN) };
}

export async function runCv(args: string[]): Promise<void> {
  const parsed = parseArgs(cvSpec, args);
  if (!parsed) return;
  const task = parsed.positionals[0];
  if (task !== 'classify' && task !== 'segment') throw new UsageError(`the task must be 'classify' or 'segment', got '${task}'`);
  checkTaskFlags(task, givenFlags(args));
  const out = String(parsed.flags.out);
  const folds = Number(parsed.flags.folds);
  if (!Number.isInteger(folds) || folds < 2) throw new UsageError(`--folds must be a whole number of 2 or more, got ${parsed.flags.folds}`);
  const configs = Array.from({ length: folds }, (_, fold) => ({ ...configFromFlags(task, { ...parsed.flags, out: `${out}/fold-${fold + 1}` }), folds, fold }));
  for (const c of configs) validateTrainConfig(c, false);
  await dn.init();
  const log = (m: string) => console.log(m);
  log(`adapter: ${dn.info().name}`);
  const { signal, release } = catchInterrupt('; dawnet cv continues from there when run again');
  const rows: FoldRow[] = [];
  let ensemble: Record<string, unknown> | undefined;
  try {
    for (const c of configs) {
      const files = runFiles(c.out);
      const started = await fileExists(files.config);
      if (started) {
        const saved = await readConfig(c.out);
        checkSameFold(saved, c, c.out);
        await checkSameSettings(saved, c, c.out);
      }
      log(`\n[fold ${c.fold! + 1}/${folds}] ${c.out}`);
      // The report is a run's last file: written, the fold finished (with or without test patients).
      if (started && (await fileExists(files.report))) {
        log('  finished earlier: its results are read back');
      } else {
        const result = await runTraining(c, {
          log: (m) => log(`  ${m}`),
          signal,
          continueWith: 'running the same dawnet cv command again continues the cv',
          otherFolds: await otherFoldSplits(configs, c),
          onEpoch: (epoch, logs) => log(`  epoch ${epoch + 1}: ${Object.entries(logs).map(([k, v]) => `${k} ${Number(v).toPrecision(4)}`).join(' ')}`),
        }, started);
        if (result.interrupted) {
          // The fold's own last line offers train's --resume; the cv goes on by itself when run again.
          log('interrupted: run the same dawnet cv command again to continue (finished folds are read back, this one resumed)');
          process.exitCode = 130;
          return;
        }
      }
      rows.push(await foldRow(await readConfig(c.out)));
    }
    if (configs[0].testFraction > 0) {
      log(`\n[ensemble of the ${folds} folds' best checkpoints, averaged on the test patients]`);
      ensemble = (await evaluateEnsemble(configs.map((c) => c.out), { log: (m) => log(`  ${m}`) })).json;
      await writeJson(`${out}/ensemble-eval.json`, ensemble);
    }
  } finally {
    release();
    dn.shutdown();
  }
  // The ensemble's eval.json as its row: by column, as the folds' rows are read (evalMetric).
  const ensembleRow = ensemble && testMetrics(ensemble, task);
  const table = formatCvTable(rows, task, ensembleRow);
  console.log(`\n${table}`);
  const summary = Object.fromEntries([['val', meanSd(rows.map((r) => r.val))], ...cvColumns(task).map(([k]) => [k, meanSd(rows.map((r) => r.test[k]))])]);
  const { seed, testFraction } = configs[0];
  await writeJson(`${out}/cv.json`, { task, folds, seed, testFraction, monitor: bestMonitor(task), rows, summary, ...(ensembleRow ? { ensemble: ensembleRow } : {}) });
  const page = await renderCvPage({
    title: `dawnet cv ${task}: ${folds} folds`,
    task,
    seed,
    testFraction,
    monitor: bestMonitor(task),
    columns: cvColumns(task),
    // Links relative to the page, which sits beside the fold folders.
    folds: rows.map((r) => ({ ...r, run: `fold-${r.fold + 1}` })),
    summary,
    ensemble: ensembleRow,
  });
  await writeFileAtomic(`${out}/cv.html`, page);
  console.log(`wrote ${out}/cv.json and ${out}/cv.html`);
}
