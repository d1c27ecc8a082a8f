// `dawnet demo`: the README's main command. With no data set it writes a synthetic one in the
// kaggle_3m layout, trains a small U-Net on whatever adapter it finds (a few minutes on a CPU
// adapter), evaluates held-out synthetic patients and writes the report. With --data it runs the
// same pipeline at the real sizes (Buda et al.'s U-Net on 256x256 slices).

import { defaultConfig, OLDER_RUN_DEFAULTS, type TrainConfig } from '../app/config.js';
import { claimRunDir } from '../app/run-dir.js';
import { runTraining } from '../app/train-job.js';
import { nodePath } from '../io/files.js';
import { writeSyntheticDataset } from '../data/synth.js';
import * as dn from '../index.js';
import { parseArgs, UsageError, type CommandSpec } from './args.js';
import { ProgressBar } from './progress.js';
import { givenFlags, validateTrainConfig } from './train.js';

export const demoSpec: CommandSpec = {
  name: 'demo',
  summary:
    'Train and evaluate a tumour-segmenting U-Net end to end and write RUN/report.html.\n' +
    'Without --data: on a synthetic data set it generates (small model, 64x64, a few minutes on a CPU adapter).\n' +
    'With --data: on the real kaggle_3m folder at full size (Buda et al.: 256x256, 32 features, batch 16).',
  flags: {
    data: { type: 'string', help: 'a kaggle_3m folder; omitted: generate a synthetic one' },
    out: { type: 'string', help: "run folder (the default, runs/demo, is the demo's own: each demo replaces the last)", default: 'runs/demo' },
    overwrite: { type: 'boolean', help: 'replace the run already in another --out; without it such a folder is refused, as by train' },
    epochs: { type: 'number', help: 'epochs (default: 12 synthetic, 50 real)' },
    patients: { type: 'number', help: 'synthetic patients', default: 16 },
    seed: { type: 'number', help: 'seed for the data set and the run', default: 7 },
  },
  examples: ['dawnet demo', 'dawnet demo --data /data/kaggle_3m --out runs/unet'],
};

export function demoConfig(f: Record<string, unknown>, dataDir: string): TrainConfig {
  const real = typeof f.data === 'string';
  // Every field a run records, as train's flags fill them (accumulate, clipGradNorm, ema, ...):
  // train's checks (checkDemoFlags) read them all.
  const base: TrainConfig = { ...OLDER_RUN_DEFAULTS, ...defaultConfig('segment') };
  const seed = f.seed as number;
  if (real) return { ...base, data: dataDir, out: f.out as string, seed, epochs: (f.epochs as number | undefined) ?? 50 };
  return {
    ...base,
    data: dataDir,
    out: f.out as string,
    seed,
    size: 64,
    features: 8,
    depth: 3,
    batch: 8,
    lr: 3e-3,
    loss: 'bce+dice',
    augment: 'hflip',
    epochs: (f.epochs as number | undefined) ?? 12,
    patience: 6,
    lrPatience: 3,
    lrFactor: 0.3,
  };
}

/**
 * The flags, checked before the run folder is claimed or any data written: train's checks of the
 * run it makes (--epochs 0 trained nothing and reported an untrained model, --seed -1 ran as
 * 4294967295), and --patients, which sizes the synthetic set and is refused beside --data, where
 * it would be ignored. A refusal leaves no folder behind.
 */
export function checkDemoFlags(f: Record<string, unknown>, given: readonly string[]): void {
  if (typeof f.data === 'string' && given.includes('patients')) throw new UsageError('--patients sizes the synthetic data set; with --data the folder\'s own patients are used');
  const patients = f.patients as number;
  if (!Number.isInteger(patients) || patients < 1) throw new UsageError(`--patients must be a positive whole number, got ${patients}`);
  validateTrainConfig(demoConfig(f, typeof f.data === 'string' ? f.data : 'synthetic-data'), false);
}

export async function runDemo(args: string[]): Promise<void> {
  const parsed = parseArgs(demoSpec, args);
  if (!parsed) return;
  const f = parsed.flags;
  checkDemoFlags(f, givenFlags(args));
  // The default folder is the demo's scratch run, replaced each time; a folder the user named
  // may hold a run of theirs, so it is refused as train refuses it unless --overwrite, and before
  // any synthetic data is written into it.
  const { resolve } = await nodePath();
  const overwrite = f.overwrite === true || resolve(f.out as string) === resolve(demoSpec.flags.out.default as string);
  await claimRunDir(f.out as string, overwrite);
  let dataDir = f.data as string | undefined;
  if (!dataDir) {
    dataDir = `${f.out as string}/synthetic-data`;
    const s = await writeSyntheticDataset(dataDir, { patients: f.patients as number, seed: f.seed as number, size: 64, slicesPerPatient: [16, 28] });
    console.log(`synthetic data: ${s.slices} slices of ${s.folders.length} patients (${s.tumourSlices} with tumour) in ${dataDir}`);
  }
  const config = demoConfig(f, dataDir);
  await dn.init();
  console.log(`adapter: ${dn.info().name}`);
  const bar = new ProgressBar();
  try {
    const result = await runTraining(config, {
      log: (m) => console.log(m),
      onBatch: (p) => bar.update(p),
      onEpoch: (_e, logs) => bar.done(` | val_loss ${logs.val_loss?.toFixed(4)} val_dice ${logs.val_dice?.toFixed(4)}`),
    }, false, overwrite);
    if (result.test) console.log(`\ndone: test Dice per slice ${Number(result.test.json.dicePerSlice).toFixed(4)}; open ${config.out}/report.html`);
  } finally {
    dn.shutdown();
  }
}
