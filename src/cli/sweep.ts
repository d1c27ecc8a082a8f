// `dawnet sweep`: trains one run per combination of augmentation presets, batch sizes and
// learning rates, and prints the table the reference notebook assembled by hand: setting, test
// accuracy (classify) or Dice (segment), and test loss. Also written to OUT/sweep.json. Running it
// again continues, as cv does: a finished run (report written) is read back, an interrupted one
// resumed; Ctrl-C stops the current run with a checkpoint, and the table covers the finished runs.
// A run that fails ends the sweep the same way, its error naming the run.

import { defaultConfig, type TrainConfig } from '../app/config.js';
import { fileExists, readConfig, readJson, runFiles, writeJson } from '../app/run-dir.js';
import { runTraining } from '../app/train-job.js';
import { AUGMENT_PRESETS } from '../data/augment.js';
import * as dn from '../index.js';
import { parseArgs, UsageError, type CommandSpec } from './args.js';
import { checkSameSettings } from './cv.js';
import { catchInterrupt } from './interrupt.js';
import { configFromFlags, trainSpec, validateTrainConfig } from './train.js';

const { out: _out, resume: _resume, augment: _augment, batch: _batch, lr: _lr, ...trainFlags } = trainSpec.flags;

export const sweepSpec: CommandSpec = {
  name: 'sweep',
  summary: 'Train one run per combination of settings and print test results side by side (the notebook\'s comparison table).',
  positionals: [{ name: 'classify|segment', help: 'the task' }],
  flags: {
    out: { type: 'string', help: 'folder for the runs (one sub-folder per setting) and sweep.json', default: 'runs/sweep' },
    augment: { type: 'list', help: `augmentation presets (${AUGMENT_PRESETS.join(', ')})`, default: ['none', 'hflip', 'hflip+elastic'] },
    // No default of their own: without them every run takes train's (configFromFlags).
    batch: { type: 'list', help: `batch sizes (default: train's, classify ${defaultConfig('classify').batch}, segment ${defaultConfig('segment').batch})` },
    lr: { type: 'list', help: `learning rates (default: train's, classify ${defaultConfig('classify').lr}, segment ${defaultConfig('segment').lr})` },
    ...trainFlags,
    overwrite: { type: 'boolean', help: 'start every run afresh, replacing the runs already in --out; without it the sweep continues them' },
  },
  examples: ['dawnet sweep segment --data kaggle_3m --augment none,hflip,hflip+elastic --lr 1e-4,3e-4 --epochs 30'],
};

export interface SweepRow {
  setting: string;
  augment: string;
  batch: number;
  lr: number;
  metric: number;
  loss: number;
  run: string;
}

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

export function formatSweepTable(rows: SweepRow[], metricName: string): string {
  const header = ['setting', `test ${metricName}`, 'test loss'];
  const body = rows.map((r) => [r.setting, r.metric.toFixed(4), r.loss.toFixed(4)]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

/** The folder, and what only changes how a run runs (threads, strictness, tuning); the fold, unlike cv's, is a setting. */
const SETTINGS_THAT_SHAPE_NO_RESULT = new Set<keyof TrainConfig>(['out', 'workers', 'strict', 'tuneConvs']);

/** A finished run's row: its setting and its eval.json's test metric and loss (NaN without one: --test-fraction 0). */
async function sweepRow(c: TrainConfig): Promise<SweepRow> {
  const files = runFiles(c.out);
  const json = (await fileExists(files.eval)) ? await readJson<Record<string, unknown>>(files.eval, 'evaluation') : {};
  return {
    setting: `${c.augment}, batch ${c.batch}, lr ${c.lr}`,
    augment: c.augment,
    batch: c.batch,
    lr: c.lr,
    metric: Number(c.task === 'classify' ? json.accuracy : json.dicePerSlice),
    loss: Number(json.loss),
    run: c.out,
  };
}

export async function runSweep(args: string[]): Promise<void> {
  const parsed = parseArgs(sweepSpec, args);
  if (!parsed) return;
  const task = parsed.positionals[0];
  if (task !== 'classify' && task !== 'segment') throw new UsageError(`the task must be 'classify' or 'segment', got '${task}'`);
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
      // The report is a run's last file: written, the run finished (with or without test patients).
      if (started.has(c.out) && (await fileExists(runFiles(c.out).report))) {
        console.log('  finished earlier: its results are read back');
      } else {
        const result = await runTraining(c, { log: (m) => console.log(`  ${m}`), signal }, started.has(c.out), overwrite);
        if (result.interrupted) {
          interrupted = true;
          break;
        }
      }
      rows.push(await sweepRow(c));
    }
  } catch (e) {
    // Its class and code kept; the message says which run, as a NaN loss's would not.
    if (e instanceof Error) e.message = `run ${current} failed: ${e.message}`;
    failure = e;
  } finally {
    release();
    dn.shutdown();
  }
  // The finished runs' table, also when a later run was interrupted or failed.
  if (rows.length) {
    console.log(`\n${formatSweepTable(rows, metricName)}`);
    await writeJson(`${base.out}/sweep.json`, { task, rows });
    if (rows.length < grid.length) console.log(`${rows.length} of ${grid.length} runs finished`);
  }
  if (failure !== undefined) throw failure;
  if (interrupted) {
    console.log(`interrupted: ${again} (finished runs are read back, the interrupted one resumed)`);
    process.exitCode = 130;
  }
}
