// `dawnet train classify|segment --data DIR --out RUN [options]`.

import { defaultConfig, NORMALIZE_MODES, OPTIMIZERS, type Task, type TrainConfig } from '../app/config.js';
import { readConfig } from '../app/run-dir.js';
import { nodePath } from '../io/files.js';
import { runTraining } from '../app/train-job.js';
import { AUGMENT_PRESETS } from '../data/augment.js';
import * as dn from '../index.js';
import { checkSeed, parseArgs, UsageError, type CommandSpec } from './args.js';
import { catchInterrupt } from './interrupt.js';
import { ProgressBar } from './progress.js';

export const trainSpec: CommandSpec = {
  name: 'train',
  summary:
    'Train the tumour classifier (frozen VGG16 + dense head, BCE) or the U-Net segmenter (Dice loss) on a kaggle_3m folder.\n' +
    'Defaults follow the reference notebook (classify) and Buda et al. (segment). Ctrl-C saves a checkpoint; --resume continues.',
  positionals: [{ name: 'classify|segment', help: 'the task' }],
  flags: {
    data: { type: 'string', help: 'kaggle_3m folder (patient folders of TIFF slices and masks, data.csv)' },
    out: { type: 'string', help: 'run folder for config, metrics.jsonl, checkpoints and report.html', default: 'runs/latest' },
    resume: {
      type: 'string',
      help: "continue the run in this folder with the settings it was started with: --epochs sets a new target, --data says where its data moved, --workers is taken as given; the original command's other flags may be repeated where they give the run's own values, and any other value is refused",
    },
    overwrite: { type: 'boolean', help: "replace the run already in --out (its files are removed once the new run's data, model and weights are ready); without it such a folder is refused" },
    epochs: { type: 'number', help: 'epochs (default: classify 100, segment 50)' },
    batch: { type: 'number', help: 'batch size (default: classify 32, segment 16)' },
    size: { type: 'number', help: 'working image size in pixels', default: 256 },
    lr: { type: 'number', help: 'learning rate (default: classify 1e-3, segment 1e-4)' },
    optimizer: { type: 'string', help: "the optimiser (sgd with momentum 0.9, adamw with weight decay 0.01); classify takes Keras's conventions where they differ (Adam's and RMSprop's epsilon), segment PyTorch's", choices: [...OPTIMIZERS], default: 'adam' },
    seed: { type: 'number', help: 'seed for splits, initialisation, dropout, shuffling and augmentation: the same data, seed and flags give the same run bit for bit on the same adapter, unless --tune-convs (--conv-tuning with its file repeats a tuned run)', default: 42 },
    augment: { type: 'string', help: 'augmentation preset (the notebook\'s best: hflip+elastic, alpha [2,6], sigma 2.5)', choices: AUGMENT_PRESETS, default: 'hflip+elastic' },
    split: { type: 'string', help: "'patient' keeps each patient in one split; 'slice' is the notebook's leaking random split (warns)", choices: ['patient', 'slice'], default: 'patient' },
    'test-fraction': { type: 'number', help: 'fraction of patients held out for test', default: 0.1 },
    'val-fraction': { type: 'number', help: 'fraction of the rest used for validation', default: 0.2 },
    folds: { type: 'number', help: 'k-fold cross-validation by patient: the patients outside the test set fall into this many groups, and the run validates on group --fold (dawnet cv runs them all; 0: off)', default: 0 },
    fold: { type: 'number', help: 'with --folds: the group this run validates on, 0 to folds-1', default: 0 },
    loss: { type: 'string', help: "segment: 'dice' (default), 'bce+dice', 'bce', 'tversky' (alpha = beta = 0.5: Dice with smooth 2), 'focal-tversky' (Abraham & Khan's: false negatives weighed 0.7, false positives 0.3, exponent 0.75) or 'focal' (Lin et al.'s, pixel-wise, alpha 0.25, gamma 2); classify: 'bce' (default) or 'focal'", choices: ['dice', 'bce+dice', 'bce', 'tversky', 'focal-tversky', 'focal'] },
    features: { type: 'number', help: 'segment: U-Net width (features of the first level)', default: 32 },
    depth: { type: 'number', help: 'segment: U-Net levels', default: 4 },
    attention: { type: 'boolean', help: "segment: Attention U-Net (Oktay et al.): an attention gate on every skip connection, following --norm" },
    'checkpoint-activations': { type: 'boolean', help: "segment: recompute each U-Net block's activations in the backward instead of keeping them from the forward (activation checkpointing): less GPU memory per batch for about a third more compute; the same gradients bit for bit" },
    'volume-depth': { type: 'number', help: "segment: train a 3-D U-Net (Çiçek et al.; --features, --depth as the 2-D one's) on patches of this many planes of each patient's stacked slices, a multiple of 2^depth; eval then predicts whole volumes by sliding windows of that depth (0: the 2-D U-Net on slices)", default: 0 },
    'patches-per-volume': { type: 'number', help: 'with --volume-depth: training patches each patient volume gives per epoch, at seeded random depths, a third of them over a tumour plane', default: 1 },
    norm: { type: 'string', help: "segment: U-Net normalisation: 'batch' (Buda's), 'instance' (nnU-Net's: independent of the batch size) or 'group' (8 groups)", choices: ['batch', 'instance', 'group'], default: 'batch' },
    'width-scale': { type: 'number', help: 'classify: VGG width multiplier (1 = VGG16; smaller for tiny tests)', default: 1 },
    weights: { type: 'string', help: 'classify: ImageNet VGG16 weights (.h5 Keras, .pth torchvision, .safetensors)' },
    normalize: { type: 'string', help: 'input normalisation (default: classify imagenet, segment zscore)', choices: NORMALIZE_MODES },
    'empty-policy': { type: 'string', help: 'Dice/IoU of slices where mask and prediction are both empty', choices: ['one', 'skip'], default: 'one' },
    patience: { type: 'number', help: 'early stopping patience on val_loss', default: 20 },
    'min-delta': { type: 'number', help: 'early stopping min delta', default: 0.001 },
    'lr-patience': { type: 'number', help: 'reduce-LR-on-plateau patience', default: 15 },
    'lr-factor': { type: 'number', help: 'reduce-LR-on-plateau factor', default: 0.2 },
    'lr-schedule': { type: 'string', help: "'plateau' (the notebook's reduce-LR-on-plateau on val_loss) or 'cosine' (cosine decay by epoch from --lr towards --lr/100, reached when the run ends)", choices: ['plateau', 'cosine'], default: 'plateau' },
    'clip-grad-norm': { type: 'number', help: "clip the gradients' global L2 norm to this before each step (0: off)", default: 0 },
    accumulate: { type: 'number', help: 'batches per optimiser step: gradients accumulated over them, as one batch that many times larger', default: 1 },
    ema: { type: 'number', help: 'decay of an exponential moving average of the weights (e.g. 0.999, with warmup), used for validation and saved as the best weights that eval and predict load (0: off)', default: 0 },
    limit: { type: 'number', help: 'use at most this many training slices (quick runs; 0 = all)', default: 0 },
    workers: { type: 'number', help: 'decoding threads (default: cores - 1, at most 4)' },
    strict: { type: 'boolean', help: 'stop on the first bad file instead of skipping it' },
    'conv-tuning': { type: 'string', help: "start with the conv algorithms in FILE (a run's conv-tuning.json from --tune-convs on this adapter, or dn.io.saveConvTuning's) instead of the rules, and keep a copy in the run folder for --resume, eval and predict: runs that share one choose alike (a sweep's, or a rerun of a tuned run)" },
    'tune-convs': { type: 'boolean', help: "time each conv's algorithms on this device on the first batch and run the fastest (kept in the run folder as conv-tuning.json, used by --resume, eval and predict); chosen by timing, so two tuned runs may choose differently, and their results then differ" },
  },
  examples: [
    'dawnet train segment --data kaggle_3m --out runs/unet',
    'dawnet train classify --data kaggle_3m --weights vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5 --out runs/vgg',
    'dawnet train segment --resume runs/unet',
  ],
};

export function configFromFlags(task: Task, f: Record<string, unknown>): TrainConfig {
  const c = defaultConfig(task);
  const num = (k: string): number | undefined => (typeof f[k] === 'number' ? (f[k] as number) : undefined);
  const str = (k: string): string | undefined => (typeof f[k] === 'string' ? (f[k] as string) : undefined);
  return {
    ...c,
    data: str('data') ?? c.data,
    out: str('resume') ?? str('out') ?? c.out,
    epochs: num('epochs') ?? c.epochs,
    batch: num('batch') ?? c.batch,
    size: num('size') ?? c.size,
    lr: num('lr') ?? c.lr,
    seed: num('seed') ?? c.seed,
    augment: (str('augment') ?? c.augment) as TrainConfig['augment'],
    split: (str('split') ?? c.split) as TrainConfig['split'],
    testFraction: num('test-fraction') ?? c.testFraction,
    valFraction: num('val-fraction') ?? c.valFraction,
    folds: num('folds') ?? 0,
    fold: num('fold') ?? 0,
    loss: (str('loss') ?? c.loss) as TrainConfig['loss'],
    features: num('features') ?? c.features,
    depth: num('depth') ?? c.depth,
    norm: (str('norm') ?? 'batch') as TrainConfig['norm'],
    attention: task === 'segment' && f.attention === true,
    checkpointActivations: task === 'segment' && f['checkpoint-activations'] === true,
    widthScale: num('width-scale') ?? c.widthScale,
    weights: str('weights') ?? null,
    normalize: (str('normalize') ?? (task === 'classify' && !str('weights') ? 'zscore' : num('volume-depth') ? 'zscore-volume' : c.normalize)) as TrainConfig['normalize'],
    volumeDepth: task === 'segment' ? (num('volume-depth') ?? 0) : 0,
    patchesPerVolume: num('patches-per-volume') ?? 1,
    emptyPolicy: (str('empty-policy') ?? c.emptyPolicy) as TrainConfig['emptyPolicy'],
    patience: num('patience') ?? c.patience,
    minDelta: num('min-delta') ?? c.minDelta,
    lrPatience: num('lr-patience') ?? c.lrPatience,
    lrFactor: num('lr-factor') ?? c.lrFactor,
    lrSchedule: (str('lr-schedule') ?? c.lrSchedule) as TrainConfig['lrSchedule'],
    optimizer: (str('optimizer') ?? c.optimizer) as TrainConfig['optimizer'],
    clipGradNorm: num('clip-grad-norm') ?? c.clipGradNorm,
    accumulate: num('accumulate') ?? 1,
    ema: num('ema') ?? c.ema,
    limit: num('limit') ?? c.limit,
    workers: num('workers') ?? c.workers,
    strict: f.strict === true,
    tuneConvs: f['tune-convs'] === true,
    convTuning: str('conv-tuning') ?? null,
  };
}

/** The flags' values checked together, each fault a UsageError naming the flag. */
export function validateTrainConfig(c: TrainConfig, resume: boolean): void {
  if (!resume && !c.data) throw new UsageError('--data DIR is required (a kaggle_3m folder; `dawnet synth --out DIR` makes a synthetic one)');
  for (const [k, v] of [['epochs', c.epochs], ['batch', c.batch], ['size', c.size], ['features', c.features], ['depth', c.depth]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new UsageError(`--${k} must be a positive whole number, got ${v}`);
  }
  if (!(c.lr > 0)) throw new UsageError(`--lr must be positive, got ${c.lr}`);
  if (c.tuneConvs && c.convTuning) throw new UsageError(`--conv-tuning takes its conv algorithms from ${c.convTuning} and --tune-convs times them on the first batch: give one of them`);
  checkSeed(c.seed);
  if (!(c.lrFactor > 0 && c.lrFactor < 1)) throw new UsageError(`--lr-factor must be between 0 and 1 (the learning rate is multiplied by it on a plateau), got ${c.lrFactor}`);
  // The callbacks refuse these too, but only once the run's folder is written: a run left that way
  // could neither be resumed nor replaced without --overwrite.
  for (const [k, v] of [['patience', c.patience], ['lr-patience', c.lrPatience]] as const) {
    if (!Number.isInteger(v) || v < 0) throw new UsageError(`--${k} must be a whole number of epochs, 0 or more, got ${v}`);
  }
  if (!Number.isFinite(c.minDelta)) throw new UsageError(`--min-delta must be a number, got ${c.minDelta}`);
  // -1: the default, chosen from the cores.
  if (!Number.isInteger(c.workers) || c.workers < -1) throw new UsageError(`--workers must be a whole number of decoding threads (0: decode on the main thread), got ${c.workers}`);
  const folds = c.folds ?? 0;
  if (!Number.isInteger(folds) || folds < 0 || folds === 1) throw new UsageError(`--folds must be 0 (off) or a whole number of 2 or more, got ${folds}`);
  if (folds && !(Number.isInteger(c.fold) && c.fold! >= 0 && c.fold! < folds)) throw new UsageError(`--fold must be a whole number from 0 to ${folds - 1} (--folds ${folds}), got ${c.fold}`);
  if (!folds && c.fold) throw new UsageError(`--fold ${c.fold} needs --folds K (k-fold cross-validation)`);
  if (folds && c.split === 'slice') throw new UsageError("--folds splits by patient; it cannot be combined with --split slice");
  if (c.task === 'classify' && c.loss !== 'bce' && c.loss !== 'focal') throw new UsageError(`--loss ${c.loss} is a segmentation loss; classify trains with 'bce' or 'focal'`);
  if (!(c.clipGradNorm! >= 0) || !Number.isFinite(c.clipGradNorm)) throw new UsageError(`--clip-grad-norm must be 0 (off) or positive, got ${c.clipGradNorm}`);
  if (!Number.isInteger(c.accumulate) || c.accumulate! < 1) throw new UsageError(`--accumulate must be a positive whole number, got ${c.accumulate}`);
  if (!(c.ema! >= 0 && c.ema! < 1)) throw new UsageError(`--ema must be 0 (off) or a decay in (0, 1) such as 0.999, got ${c.ema}`);
  if (c.task === 'segment' && c.norm === 'group' && c.features % 8) throw new UsageError(`--norm group splits every level into 8 groups: --features ${c.features} must be a multiple of 8`);
  if (c.task === 'segment' && c.attention && c.norm === 'group' && c.features % 16) {
    throw new UsageError(`--attention with --norm group: the first gate's ${c.features / 2} channels (half of --features) split into 8 groups, so --features ${c.features} must be a multiple of 16`);
  }
  checkVolumeFlags(c);
  if (c.task === 'segment' && c.size % 2 ** c.depth) throw new UsageError(`--size ${c.size} must be a multiple of ${2 ** c.depth} for a U-Net of depth ${c.depth}`);
  if (c.task === 'classify' && c.size % 32) throw new UsageError(`--size ${c.size} must be a multiple of 32 for VGG16's five poolings`);
}

/** --volume-depth and what a 3-D U-Net on volume patches cannot combine with. */
function checkVolumeFlags(c: TrainConfig): void {
  const depth = c.volumeDepth ?? 0;
  if (!Number.isInteger(depth) || depth < 0) throw new UsageError(`--volume-depth must be 0 (slices) or a whole number of planes, got ${depth}`);
  if (!Number.isInteger(c.patchesPerVolume) || c.patchesPerVolume! < 1) throw new UsageError(`--patches-per-volume must be a positive whole number, got ${c.patchesPerVolume}`);
  if (!depth) {
    if (c.patchesPerVolume !== 1) throw new UsageError('--patches-per-volume is for --volume-depth N (patches of stacked slices); slices are served one by one');
    return;
  }
  if (depth % 2 ** c.depth) throw new UsageError(`--volume-depth ${depth} must be a multiple of ${2 ** c.depth}: the 3-D U-Net of --depth ${c.depth} halves the planes ${c.depth} times`);
  const refused: [boolean, string][] = [
    [c.attention === true, '--attention (the 3-D U-Net has no attention gates)'],
    [c.split === 'slice', '--split slice (a volume is one patient: its slices cannot be split)'],
    [c.normalize === 'imagenet', '--normalize imagenet (for the classifier\'s VGG16 weights)'],
  ];
  const bad = refused.find(([is]) => is);
  if (bad) throw new UsageError(`--volume-depth trains a 3-D U-Net, which does not take ${bad[1]}`);
}

/** Flags --resume takes: a new target, the data folder where it has moved, and decoding threads. */
const RESUME_FLAGS = new Set(['resume', 'epochs', 'data', 'workers']);

/** The flags written on the command line (parseArgs fills in the defaults, so it cannot tell). */
export function givenFlags(args: string[]): string[] {
  return args.filter((a) => a.startsWith('--')).map((a) => a.slice(2).split('=')[0]);
}

/** The options that only one task reads, and what the other does instead. */
const TASK_FLAGS: Record<string, { task: Task; why: string }> = {
  weights: { task: 'classify', why: "the classifier's VGG16 base; segment trains its U-Net from scratch" },
  'width-scale': { task: 'classify', why: "the classifier's VGG width" },
  features: { task: 'segment', why: "the U-Net's width" },
  depth: { task: 'segment', why: "the U-Net's levels" },
  attention: { task: 'segment', why: "the U-Net's attention gates" },
  'checkpoint-activations': { task: 'segment', why: "the U-Net's blocks; the classifier's VGG16 base is frozen and keeps no activations for backward" },
  norm: { task: 'segment', why: "the U-Net's normalisation" },
  'volume-depth': { task: 'segment', why: 'the 3-D U-Net on stacked slices' },
  'patches-per-volume': { task: 'segment', why: 'the 3-D U-Net on stacked slices' },
};

/**
 * Refuses an option the task does not read (`train segment --weights x.h5` failed deep in the
 * model with "no sub-module 'base'"; `classify --depth 2` was silently ignored).
 */
export function checkTaskFlags(task: Task, given: readonly string[]): void {
  for (const name of given) {
    const only = TASK_FLAGS[name];
    if (only && only.task !== task) throw new UsageError(`--${name} is for ${only.task} (${only.why}); ${task} does not read it`);
  }
}

/**
 * The config `train --resume RUN` continues: RUN's own, refused for another task or a flag that
 * would change it (it would be ignored: the run is continued as it was configured). Its epochs
 * stay unless --epochs gives a new target.
 */
export async function resumeConfig(task: Task, flags: Record<string, unknown>, given: string[]): Promise<TrainConfig> {
  const dir = String(flags.resume);
  const saved = await readConfig(dir);
  if (saved.task !== task) throw new UsageError(`${dir} is a ${saved.task} run, not ${task}: continue it with 'dawnet train ${saved.task} --resume ${dir}'`);
  // The original command with --resume added repeats its flags: those that say what the run
  // already has are fine (and --out naming the same folder); only a different value is refused.
  const asGiven = configFromFlags(task, flags) as unknown as Record<string, unknown>;
  const path = await nodePath();
  if (given.includes('overwrite')) throw new UsageError(`--overwrite replaces a run with a new one; --resume continues ${dir}: give one of them`);
  const same = (f: string): boolean => {
    if (f === 'out') return path.resolve(String(flags.out)) === path.resolve(dir);
    const field = f.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    // A flag that is no setting of the run cannot repeat one.
    if (!(field in asGiven)) return false;
    return JSON.stringify(asGiven[field]) === JSON.stringify((saved as unknown as Record<string, unknown>)[field]);
  };
  const changing = [...new Set(given.filter((f) => !RESUME_FLAGS.has(f) && !same(f)))];
  if (changing.length) {
    const list = changing.map((f) => `--${f}`).join(', ');
    throw new UsageError(`--resume continues ${dir} as it was configured; ${list} would change it: start a new run with --out`);
  }
  return {
    ...saved,
    epochs: typeof flags.epochs === 'number' ? flags.epochs : saved.epochs,
    data: typeof flags.data === 'string' ? flags.data : '',
    workers: typeof flags.workers === 'number' ? flags.workers : saved.workers,
  };
}

export async function runTrain(args: string[]): Promise<void> {
  const parsed = parseArgs(trainSpec, args);
  if (!parsed) return;
  const task = parsed.positionals[0];
  if (task !== 'classify' && task !== 'segment') throw new UsageError(`the task must be 'classify' or 'segment', got '${task}'`);
  checkTaskFlags(task, givenFlags(args));
  const resume = typeof parsed.flags.resume === 'string';
  const config = resume ? await resumeConfig(task, parsed.flags, givenFlags(args)) : configFromFlags(task, parsed.flags);
  validateTrainConfig(config, resume);
  await dn.init();
  const log = (m: string) => console.log(m);
  log(`adapter: ${dn.info().name}`);
  const { signal, release } = catchInterrupt();
  const bar = new ProgressBar();
  try {
    const result = await runTraining(config, {
      log,
      signal,
      onBatch: (p) => bar.update({ ...p, epoch: p.epoch }),
      onEpoch: (_epoch, logs) => {
        const parts = Object.entries(logs).filter(([k]) => k !== 'loss').map(([k, v]) => `${k} ${Number(v).toPrecision(4)}`);
        bar.done(` | ${parts.join(' ')}`);
      },
    }, resume, parsed.flags.overwrite === true);
    if (result.interrupted) process.exitCode = 130;
  } finally {
    release();
    dn.shutdown();
  }
}
