// `dawnet sweep`: trains one run per combination of augmentation presets, batch sizes and
// learning rates, and prints the table the reference notebook assembled by hand: setting, test
// accuracy (classify) or Dice (segment), and test loss. Also written to OUT/sweep.json. Running it
// again continues, as cv does: a finished run (report written) is read back, an interrupted one
// resumed; Ctrl-C stops the current run with a checkpoint, and the table covers the finished runs.
// A run whose loss turns NaN or infinite (fit's TrainingError) is an answer for a sweep, 'this
// setting diverges', not the end of it: the run's diverged.json records where, and its best
// validation epoch before, and the sweep goes on. Read back like a finished run when the sweep is
// run again, never retrained (its seed would make it diverge again); deleting the run's folder, or
// --overwrite, trains it afresh. Any other failure ends the sweep as Ctrl-C does, its error naming
// the run; the exit status is 0 once every run finished or diverged, even if all diverged (each
// setting then has its answer; the last line says so, and sweep.json's rows carry their status).

import { bestMonitor, defaultConfig, type TrainConfig } from '../app/config.js';
import { fileExists, readConfig, readJson, readMetrics, runFiles, writeJson, type EpochRecord } from '../app/run-dir.js';
import { runTraining } from '../app/train-job.js';
import { AUGMENT_PRESETS } from '../data/augment.js';
import { FormatError, TrainingError } from '../errors.js';
import * as dn from '../index.js';
import { nodeFs } from '../io/files.js';
import { parseArgs, UsageError, type CommandSpec } from './args.js';
import { checkSameSettings } from './cv.js';
import { catchInterrupt } from './interrupt.js';
import { checkTaskFlags, configFromFlags, givenFlags, trainSpec, validateTrainConfig } from './train.js';

const { out: _out, resume: _resume, augment: _augment, batch: _batch, lr: _lr, ...trainFlags } = trainSpec.flags;

export const sweepSpec: CommandSpec = {
  name: 'sweep',
  summary:
    'Train one run per combination of settings and print test results side by side (the notebook\'s comparison table). ' +
    'A run whose loss turns NaN or infinite is marked diverged (where, and its best validation epoch before) and the sweep goes on; ' +
    'run again, the sweep reads it back without retraining it (delete its folder to train it again). Any other failure stops the sweep.',
  positionals: [{ name: 'classify|segment', help: 'the task' }],
  flags: {
    out: { type: 'string', help: 'folder for the runs (one sub-folder per setting) and sweep.json', default: 'runs/sweep' },
    augment: { type: 'list', help: `augmentation presets (${AUGMENT_PRESETS.join(', ')})`, default: ['none', 'hflip', 'hflip+elastic'] },
    // No default of their own: without them every run takes train's (configFromFlags).
    batch: { type: 'list', help: `batch sizes (default: train's, classify ${defaultConfig('classify').batch}, segment ${defaultConfig('segment').batch})` },
    lr: { type: 'list', help: `learning rates (default: train's, classify ${defaultConfig('classify').lr}, segment ${defaultConfig('segment').lr})` },
    ...trainFlags,
    overwrite: { type: 'boolean', help: 'start every run afresh, replacing the runs already in --out (diverged ones too); without it the sweep continues them' },
  },
  examples: ['dawnet sweep segment --data kaggle_3m --augment none,hflip,hflip+elastic --lr 1e-4,3e-4 --epochs 30'],
};

export interface SweepRow {
  setting: string;
  augment: string;
  batch: number;
  lr: number;
  /** Test metric and loss: NaN (null in sweep.json) without a test evaluation (--test-fraction 0, or a diverged run). */
  metric: number;
  loss: number;
  run: string;
  status: 'finished' | 'diverged';
  /** A diverged run's record (its diverged.json). */
  diverged?: Divergence;
}

/**
 * RUN/diverged.json: the run's loss turned NaN or infinite. Epochs and batches count from 1, as the
 * log does; null where the error did not say. bestVal: its best epoch by the validation metric
 * before, null where no epoch finished with a finite one.
 */
export interface Divergence {
  message: string;
  epoch: number | null;
  batch: number | null;
  bestVal: { epoch: number; metric: number; loss: number } | null;
}

const divergedFile = (run: string) => `${run}/diverged.json`;

export function sweepGrid(base: TrainConfig, augments: string[], batches: number[], lrs: number[]): TrainConfig[] {
  // A value given twice ('16,16', '1e-4,0.0001') would train the same setting into the same
  // folder twice: the second run refused after the first had trained, or replaced it.
  for (const [name, values] of [['augment', augments], ['batch', batches], ['lr', lrs]] as const) {
    const twice = values.find((v, i) => values.indexOf(v as never) !== i);
    if (twice !== undefined) throw new UsageError(`--${name} lists ${twice} twice`);
  }
  const out: TrainConfig[] = [];
  for (const augment of augments) {
    if (!AUGMENT_PRESETS.includes(augment as never)) throw new UsageError(`--augment: unknown preset '${augment}' (${AUGMENT_PRESETS.join(', ')})`);
    for (const batch of batches.length ? batches : [base.batch]) {
      for (const lr of lrs.length ? lrs : [base.lr]) {
        const name = `${augment}_b${batch}_lr${lr}`.replace(/[^a-zA-Z0-9_.+-]/g, '_');
        out.push({ ...base, augment: augment as TrainConfig['augment'], batch, lr, out: `${base.out}/${name}` });
      }
    }
  }
  return out;
}

/** A diverged row's note: where, and its best validation epoch before (none where no epoch finished). */
function divergedNote(d: Divergence, metricName: string): string {
  const where = d.epoch !== null ? ` at epoch ${d.epoch}${d.batch !== null ? `, batch ${d.batch}` : ''}` : '';
  const loss = d.bestVal && Number.isFinite(d.bestVal.loss) ? ` (val loss ${d.bestVal.loss.toFixed(4)})` : '';
  const best = d.bestVal ? `; best val ${metricName} ${d.bestVal.metric.toFixed(4)}${loss} at epoch ${d.bestVal.epoch}` : '';
  return `diverged${where}${best}`;
}

/**
 * Each row's place by its test metric (accuracy or Dice: higher is better), 1 the best; rows that
 * tie share a place and the next is skipped (1, 1, 3). Null where a row has no test metric (a
 * diverged run, or --test-fraction 0).
 */
export function sweepRanks(rows: readonly SweepRow[]): (number | null)[] {
  const scored = rows.map((r) => r.metric).filter((m) => Number.isFinite(m));
  return rows.map((r) => (Number.isFinite(r.metric) ? 1 + scored.filter((m) => m > r.metric).length : null));
}

/**
 * The table in grid order, with each row's rank by the test metric (a column only where some row
 * has one); a diverged run's test cells are blank, and a note column (only then) says where it
 * diverged.
 */
export function formatSweepTable(rows: SweepRow[], metricName: string): string {
  const noted = rows.some((r) => r.diverged);
  const ranks = sweepRanks(rows);
  const ranked = ranks.some((k) => k !== null);
  const header = ['setting', `test ${metricName}`, 'test loss', ...(ranked ? ['rank'] : []), ...(noted ? ['note'] : [])];
  const body = rows.map((r, i) => {
    const cells = r.diverged ? [r.setting, '', ''] : [r.setting, r.metric.toFixed(4), r.loss.toFixed(4)];
    if (ranked) cells.push(ranks[i] === null ? '' : String(ranks[i]));
    return noted ? [...cells, r.diverged ? divergedNote(r.diverged, metricName) : ''] : cells;
  });
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const left = (i: number) => header[i] === 'setting' || header[i] === 'note';
  const line = (cells: string[]) => cells.map((c, i) => (left(i) ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

/** The line under the table naming the best setting (every one that ties for it), or why none is. */
export function sweepBestLine(rows: readonly SweepRow[], metricName: string): string {
  const ranks = sweepRanks(rows);
  const best = rows.filter((_, i) => ranks[i] === 1);
  if (!best.length) return `no run has a test ${metricName} to rank by${rows.some((r) => r.status === 'finished') ? ' (--test-fraction 0 leaves no test set)' : ''}`;
  const what = best.map((r) => `${r.setting} (${r.run})`).join(', ');
  return `best by test ${metricName} (${best[0].metric.toFixed(4)}): ${what}${best.length > 1 ? `, tied` : ''}`;
}

/** The folder, and what only changes how a run runs (threads, strictness, tuning); the fold, unlike cv's, is a setting. */
const SETTINGS_THAT_SHAPE_NO_RESULT = new Set<keyof TrainConfig>(['out', 'workers', 'strict', 'tuneConvs', 'convTuning']);

const settingOf = (c: TrainConfig) => ({ setting: `${c.augment}, batch ${c.batch}, lr ${c.lr}`, augment: c.augment, batch: c.batch, lr: c.lr });

/** A finished run's row: its setting and its eval.json's test metric and loss (NaN without one: --test-fraction 0). */
async function sweepRow(c: TrainConfig): Promise<SweepRow> {
  const files = runFiles(c.out);
  const json = (await fileExists(files.eval)) ? await readJson<Record<string, unknown>>(files.eval, 'evaluation') : {};
  return {
    ...settingOf(c),
    metric: Number(c.task === 'classify' ? json.accuracy : json.dicePerSlice),
    loss: Number(json.loss),
    run: c.out,
    status: 'finished',
  };
}

/** A number as metrics.jsonl or diverged.json hold one: NaN where JSON wrote null (a NaN) or it is missing. */
const num = (v: unknown): number => (typeof v === 'number' ? v : NaN);

const divergedRow = (c: TrainConfig, diverged: Divergence): SweepRow => ({ ...settingOf(c), metric: NaN, loss: NaN, run: c.out, status: 'diverged', diverged });

/** What a TrainingError (its message, and where when it knows) and the run's metrics.jsonl say of a divergence. */
export function divergence(message: string, at: TrainingError['at'], records: readonly EpochRecord[], task: TrainConfig['task']): Divergence {
  const monitor = bestMonitor(task);
  let bestVal: Divergence['bestVal'] = null;
  for (const r of records) {
    const metric = num(r[monitor]);
    // A NaN never improves, as for ModelCheckpoint: the first finite epoch is the first best.
    if (Number.isFinite(metric) && (!bestVal || metric > bestVal.metric)) bestVal = { epoch: r.epoch + 1, metric, loss: num(r.val_loss) };
  }
  return { message, epoch: at?.epoch ?? null, batch: at?.batch ?? null, bestVal };
}

/** Records the run as diverged, atomically: a crash leaves it recorded or not, never half. */
async function recordDivergence(c: TrainConfig, e: TrainingError): Promise<SweepRow> {
  const d = divergence(e.message, e.at, await readMetrics(c.out), c.task);
  await writeJson(divergedFile(c.out), d);
  return divergedRow(c, d);
}

async function readDivergence(c: TrainConfig): Promise<SweepRow> {
  const path = divergedFile(c.out);
  const d = await readJson<Divergence>(path, 'divergence record');
  if (typeof d?.message !== 'string') throw new FormatError(`${path}: divergence record without its message; delete it to train the run again`);
  const best = d.bestVal ? { epoch: num(d.bestVal.epoch), metric: num(d.bestVal.metric), loss: num(d.bestVal.loss) } : null;
  return divergedRow(c, { message: d.message, epoch: d.epoch ?? null, batch: d.batch ?? null, bestVal: best });
}

/**
 * One run of the grid, trained, continued or read back: its row, or null if Ctrl-C stopped it.
 * A TrainingError is its answer (diverged); any other error propagates and ends the sweep.
 */
async function sweepRun(c: TrainConfig, started: boolean, overwrite: boolean, signal: { stop: boolean }, again: string): Promise<SweepRow | null> {
  // The report is a run's last file: written, the run finished (with or without test patients).
  if (started && (await fileExists(runFiles(c.out).report))) {
    console.log('  finished earlier: its results are read back');
    return sweepRow(c);
  }
  if (started && (await fileExists(divergedFile(c.out)))) {
    console.log(`  diverged earlier: read back from ${divergedFile(c.out)}, not trained again (delete ${c.out} to train it afresh)`);
    return readDivergence(c);
  }
  // A record left by the run this one replaces (--overwrite) would mark this one diverged were it interrupted.
  if (await fileExists(divergedFile(c.out))) await (await nodeFs()).rm(divergedFile(c.out));
  try {
    const result = await runTraining(c, { log: (m) => console.log(`  ${m}`), signal, continueWith: again }, started, overwrite);
    if (result.interrupted) return null;
  } catch (e) {
    if (!(e instanceof TrainingError)) throw e;
    console.log(`  diverged: ${e.message}; recorded in ${divergedFile(c.out)}, the sweep goes on`);
    return recordDivergence(c, e);
  }
  return sweepRow(c);
}

export async function runSweep(args: string[]): Promise<void> {
  const parsed = parseArgs(sweepSpec, args);
  if (!parsed) return;
  const task = parsed.positionals[0];
  if (task !== 'classify' && task !== 'segment') throw new UsageError(`the task must be 'classify' or 'segment', got '${task}'`);
  checkTaskFlags(task, givenFlags(args));
  const base = configFromFlags(task, { ...parsed.flags, augment: undefined, batch: undefined, lr: undefined });
  if (!base.data) throw new UsageError('--data DIR is required');
  const toNumbers = (name: string) =>
    ((parsed.flags[name] as string[]) ?? []).map((v) => {
      const n = Number(v);
      if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${name}: '${v}' is not a positive number`);
      return n;
    });
  const grid = sweepGrid(base, parsed.flags.augment as string[], toNumbers('batch'), toNumbers('lr'));
  // Every combination checked before the first run: a bad one would otherwise train something else, or fail late.
  for (const c of grid) validateTrainConfig(c, false);
  // --out holds the runs' folders: a file there would fail only when the first run starts.
  if (await (await nodeFs()).stat(base.out).then((st) => !st.isDirectory(), () => false)) throw new UsageError(`--out ${base.out} is a file; the sweep writes its runs' folders and sweep.json into a folder there`);
  // And every folder that holds a run, which the sweep continues: one of other settings (the
  // sweep run again with --epochs changed) would otherwise be refused only after hours of new runs.
  const overwrite = parsed.flags.overwrite === true;
  const started = new Set<string>();
  for (const c of grid) {
    if (overwrite || !(await fileExists(runFiles(c.out).config))) continue;
    await checkSameSettings(await readConfig(c.out), c, c.out, "its results would stand in the table for this sweep's; use another --out, the run's settings, or --overwrite to replace it", SETTINGS_THAT_SHAPE_NO_RESULT);
    started.add(c.out);
  }
  const metricName = task === 'classify' ? 'accuracy' : 'Dice';
  await dn.init();
  const again = `running the same command again${overwrite ? ' without --overwrite' : ''} continues the sweep`;
  const { signal, release } = catchInterrupt(`; ${again}`);
  const rows: SweepRow[] = [];
  let interrupted = false;
  let failure: unknown;
  let current = '';
  try {
    for (const [i, c] of grid.entries()) {
      const run = `${i + 1}/${grid.length}`;
      const what = `augment ${c.augment}, batch ${c.batch}, lr ${c.lr} -> ${c.out}`;
      current = `${run} (${what})`;
      console.log(`\n[${run}] ${what}`);
      const row = await sweepRun(c, started.has(c.out), overwrite, signal, again);
      if (!row) {
        interrupted = true;
        break;
      }
      rows.push(row);
    }
  } catch (e) {
    // Its class and code kept; the message says which run.
    if (e instanceof Error) e.message = `run ${current} failed: ${e.message}`;
    failure = e;
  } finally {
    release();
    dn.shutdown();
  }
  // The finished and diverged runs' table, also when a later run was interrupted or failed.
  if (rows.length) {
    console.log(`\n${formatSweepTable(rows, metricName)}`);
    console.log(sweepBestLine(rows, metricName));
    const ranks = sweepRanks(rows);
    const best = rows.filter((_, i) => ranks[i] === 1).map((r) => r.run);
    await writeJson(`${base.out}/sweep.json`, { task, metric: metricName, rows: rows.map((r, i) => ({ ...r, rank: ranks[i] })), best });
    const diverged = rows.filter((r) => r.diverged).length;
    const finished = rows.length - diverged;
    if (rows.length < grid.length) console.log(`${finished} of ${grid.length} runs finished${diverged ? `, ${diverged} diverged` : ''}`);
    else if (diverged === grid.length) console.log(`every run diverged (its loss turned NaN or infinite): the sweep is complete, but no setting trained to the end`);
    else if (diverged) console.log(`${diverged} of ${grid.length} runs diverged (their rows say where); the other ${finished} finished`);
  }
  if (failure !== undefined) throw failure;
  if (interrupted) {
    console.log(`interrupted: ${again} (finished and diverged runs are read back, the interrupted one resumed)`);
    process.exitCode = 130;
  }
}
