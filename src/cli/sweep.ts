// `dawnet sweep`: trains one run per combination of augmentation presets, batch sizes and
// learning rates, and prints the table the reference notebook assembled by hand: setting, test
// accuracy (classify) or Dice (segment), and test loss. Also written to OUT/sweep.json.

import { defaultConfig, type TrainConfig } from '../app/config.js';
import { fileExists, runFiles, writeJson } from '../app/run-dir.js';
import { runTraining } from '../app/train-job.js';
import { AUGMENT_PRESETS } from '../data/augment.js';
import * as dn from '../index.js';
import { parseArgs, UsageError, type CommandSpec } from './args.js';
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
  // And every folder: a sweep run again with one more value would otherwise train the new
  // combinations for hours, then stop at the first folder that holds a run.
  if (parsed.flags.overwrite !== true) {
    const held = [];
    for (const c of grid) if (await fileExists(runFiles(c.out).config)) held.push(c.out);
    if (held.length) throw new UsageError(`${held.join(', ')} hold${held.length === 1 ? 's' : ''} a run already: choose another --out, or --overwrite to replace ${held.length === 1 ? 'it' : 'them'}`);
  }
  const metricName = task === 'classify' ? 'accuracy' : 'Dice';
  await dn.init();
  const rows: SweepRow[] = [];
  try {
    for (const [i, c] of grid.entries()) {
      console.log(`\n[${i + 1}/${grid.length}] augment ${c.augment}, batch ${c.batch}, lr ${c.lr} -> ${c.out}`);
      const result = await runTraining(c, { log: (m) => console.log(`  ${m}`) }, false, parsed.flags.overwrite === true);
      const json = result.test?.json ?? {};
      rows.push({
        setting: `${c.augment}, batch ${c.batch}, lr ${c.lr}`,
        augment: c.augment,
        batch: c.batch,
        lr: c.lr,
        metric: Number(task === 'classify' ? json.accuracy : json.dicePerSlice),
        loss: Number(json.loss),
        run: c.out,
      });
    }
  } finally {
    dn.shutdown();
  }
  console.log(`\n${formatSweepTable(rows, metricName)}`);
  await writeJson(`${base.out}/sweep.json`, { task, rows });
}
