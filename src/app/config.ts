// A training run's settings: everything needed to rebuild the model and data pipeline later
// (eval, predict, resume). Stored as RUN/config.json. Defaults follow the reference notebook for
// `classify` (batch 32, 256x256, Adam, its callbacks) and Buda et al. for `segment` (batch 16,
// lr 1e-4, Dice loss).

import { AUGMENT_PRESETS, type AugmentPreset } from '../data/augment.js';

export type Task = 'classify' | 'segment';

export interface TrainConfig {
  task: Task;
  data: string;
  out: string;
  epochs: number;
  batch: number;
  size: number;
  lr: number;
  seed: number;
  augment: AugmentPreset;
  /** Patient-level split (default) or the notebook's leaking slice-level split. */
  split: 'patient' | 'slice';
  testFraction: number;
  valFraction: number;
  /**
   * k-fold cross-validation by patient (kFoldSplits): with folds = k ≥ 2, the test patients
   * (testFraction of them) are held out for every fold alike, the rest fall into k groups, and this
   * run validates on group `fold` and trains on the others (valFraction unused). 0 (and absent,
   * in older runs): the plain train / val / test split.
   */
  folds?: number;
  /** Which fold this run is, 0 to folds − 1. */
  fold?: number;
  /**
   * segment: 'dice', 'bce+dice', 'bce', 'tversky' (α = β = 0.5), 'focal-tversky' (FP 0.3, FN 0.7,
   * γ 0.75) or 'focal' (pixel-wise, α 0.25, γ 2), each with its op's defaults; classify: 'bce' or 'focal'.
   */
  loss: 'dice' | 'bce+dice' | 'bce' | 'tversky' | 'focal-tversky' | 'focal';
  /** U-Net width and depth (segment), VGG width scale (classify; 1 = VGG16). */
  features: number;
  depth: number;
  widthScale: number;
  /** classify: imported ImageNet weights for the VGG16 base. */
  weights: string | null;
  /** Input normalisation: per-image z-score (segment default), per-volume (patient) z-score, 'imagenet' for VGG weights, or none. */
  normalize: NormalizeMode;
  emptyPolicy: 'one' | 'skip';
  patience: number;
  minDelta: number;
  lrPatience: number;
  lrFactor: number;
  /** Cap on slices per split, for quick runs (0 = all). */
  limit: number;
  workers: number;
  strict: boolean;
  /**
   * Time each conv's algorithms on the first batch and run the fastest (tuneConvs); the choices
   * are kept in the run folder and reused on --resume on the same adapter.
   */
  tuneConvs?: boolean;
  /**
   * A conv tuning file (saved by a --tune-convs run or dn.io.saveConvTuning on this adapter) whose
   * choices the run starts with instead of the rules; a copy is kept in the run folder, which
   * --resume, eval and predict take. Absolute once stored; null (and absent, in older runs): none.
   */
  convTuning?: string | null;
  /** Clip the gradients' global norm to this before each step; 0 (and absent, in older runs) is off. */
  clipGradNorm?: number;
  /** Batches per optimiser step (gradient accumulation); 1 (and absent, in older runs): every batch. */
  accumulate?: number;
  /**
   * 'plateau' (the notebook's ReduceLROnPlateau on val_loss; absent in older runs) or 'cosine'
   * (cosine decay by epoch from lr towards lr / 100, reached when the run's epochs end).
   */
  lrSchedule?: 'plateau' | 'cosine';
  /**
   * The optimiser: 'adam' (also when absent, in older runs), 'adamw', 'sgd', 'rmsprop' or 'adagrad'.
   * classify takes Keras's conventions where they differ (the notebook is Keras: Adam.keras,
   * RMSprop.keras), segment PyTorch's (Buda et al.'s U-Net is PyTorch).
   */
  optimizer?: OptimizerName;
  /** segment: the U-Net's normalisation, 'batch' (Buda's; also when absent, in older runs), 'instance' or 'group' (8 groups). */
  norm?: 'batch' | 'instance' | 'group';
  /** segment: attention gates on the skip connections (Attention U-Net); absent in older runs: none. */
  attention?: boolean;
  /**
   * segment: the U-Net's blocks recompute their activations in the backward (dn.checkpoint)
   * instead of keeping them; the weights and gradients are the same. Absent in older runs: off.
   */
  checkpointActivations?: boolean;
  /**
   * segment: planes per training patch of each patient's stacked slices, for a 3-D U-Net
   * (lggVolumeDataset, models.unet3d; eval predicts whole volumes by sliding windows of this
   * depth). 0 (and absent, in older runs): the 2-D U-Net on slices.
   */
  volumeDepth?: number;
  /** With volumeDepth: training patches each patient volume gives per epoch; absent: 1. */
  patchesPerVolume?: number;
  /**
   * Decay of an exponential moving average of the weights (WeightEma, with warmup), which
   * validation, best.safetensors and so eval and predict use; 0 (and absent, in older runs) is off.
   */
  ema?: number;
}

/**
 * What a run's config.json from before a field existed meant by leaving it out: readConfig fills
 * these in, so a resumed, evaluated or compared older run reads as every newer one.
 */
export const OLDER_RUN_DEFAULTS = {
  folds: 0,
  fold: 0,
  tuneConvs: false,
  convTuning: null,
  clipGradNorm: 0,
  accumulate: 1,
  lrSchedule: 'plateau',
  optimizer: 'adam',
  norm: 'batch',
  attention: false,
  checkpointActivations: false,
  volumeDepth: 0,
  patchesPerVolume: 1,
  ema: 0,
} as const satisfies Partial<TrainConfig>;

/** Input normalisations: train's --normalize, recorded in the checkpoint for the browser page. */
export const NORMALIZE_MODES = ['zscore', 'zscore-volume', 'imagenet', 'none'] as const;
export type NormalizeMode = (typeof NORMALIZE_MODES)[number];

export const OPTIMIZERS = ['adam', 'adamw', 'sgd', 'rmsprop', 'adagrad'] as const;
export type OptimizerName = (typeof OPTIMIZERS)[number];

export function defaultConfig(task: Task): TrainConfig {
  const common = {
    data: '',
    out: 'runs/latest',
    size: 256,
    seed: 42,
    split: 'patient' as const,
    testFraction: 0.1,
    valFraction: 0.2,
    emptyPolicy: 'one' as const,
    limit: 0,
    workers: -1,
    strict: false,
    tuneConvs: false,
    convTuning: null,
    clipGradNorm: 0,
    ema: 0,
    lrSchedule: 'plateau' as const,
    optimizer: 'adam' as const,
    features: 32,
    depth: 4,
    widthScale: 1,
    weights: null,
    minDelta: 0.001,
  };
  if (task === 'classify') {
    return {
      ...common,
      task,
      epochs: 100,
      batch: 32,
      lr: 1e-3,
      augment: 'hflip+elastic',
      loss: 'bce',
      normalize: 'imagenet',
      patience: 20,
      lrPatience: 15,
      lrFactor: 0.2,
    };
  }
  return {
    ...common,
    task,
    epochs: 50,
    batch: 16,
    lr: 1e-4,
    augment: 'hflip+elastic',
    loss: 'dice',
    normalize: 'zscore',
    patience: 20,
    lrPatience: 15,
    lrFactor: 0.2,
  };
}

/** The metric that picks the best checkpoint: the notebook's val accuracy, or val Dice. */
export function bestMonitor(task: Task): string {
  return task === 'classify' ? 'val_accuracy' : 'val_dice';
}

/** What a field of a saved config may hold: a choice among strings, or a kind of value. */
type FieldRule = readonly string[] | 'string' | 'string?' | 'whole' | 'positive' | 'fraction' | 'number' | 'boolean';

/**
 * The fields eval, predict, ensembles and --resume rebuild a run from: those every run has written
 * since the first are required; those later versions added are optional (older runs lack them).
 */
const CONFIG_FIELDS: Record<string, { rule: FieldRule; required: boolean }> = {
  task: { rule: ['classify', 'segment'], required: true },
  data: { rule: 'string', required: true },
  epochs: { rule: 'whole', required: true },
  batch: { rule: 'whole', required: true },
  size: { rule: 'whole', required: true },
  lr: { rule: 'positive', required: true },
  seed: { rule: 'number', required: true },
  augment: { rule: AUGMENT_PRESETS, required: true },
  split: { rule: ['patient', 'slice'], required: true },
  testFraction: { rule: 'fraction', required: true },
  valFraction: { rule: 'fraction', required: true },
  loss: { rule: ['dice', 'bce+dice', 'bce', 'tversky', 'focal-tversky', 'focal'], required: true },
  features: { rule: 'whole', required: true },
  depth: { rule: 'whole', required: true },
  widthScale: { rule: 'positive', required: true },
  weights: { rule: 'string?', required: true },
  normalize: { rule: NORMALIZE_MODES, required: true },
  emptyPolicy: { rule: ['one', 'skip'], required: true },
  patience: { rule: 'number', required: true },
  minDelta: { rule: 'number', required: true },
  lrPatience: { rule: 'number', required: true },
  lrFactor: { rule: 'positive', required: true },
  limit: { rule: 'number', required: true },
  workers: { rule: 'number', required: true },
  strict: { rule: 'boolean', required: true },
  folds: { rule: 'number', required: false },
  fold: { rule: 'number', required: false },
  tuneConvs: { rule: 'boolean', required: false },
  convTuning: { rule: 'string?', required: false },
  clipGradNorm: { rule: 'number', required: false },
  accumulate: { rule: 'whole', required: false },
  lrSchedule: { rule: ['plateau', 'cosine'], required: false },
  optimizer: { rule: OPTIMIZERS, required: false },
  norm: { rule: ['batch', 'instance', 'group'], required: false },
  attention: { rule: 'boolean', required: false },
  checkpointActivations: { rule: 'boolean', required: false },
  volumeDepth: { rule: 'number', required: false },
  patchesPerVolume: { rule: 'whole', required: false },
  ema: { rule: 'number', required: false },
};

function fieldFault(value: unknown, rule: FieldRule): string | null {
  if (Array.isArray(rule)) return rule.includes(value as string) ? null : `one of ${rule.map((r) => `'${r}'`).join(', ')}`;
  switch (rule) {
    case 'string':
      return typeof value === 'string' ? null : 'a string';
    case 'string?':
      return value === null || typeof value === 'string' ? null : 'a string or null';
    case 'whole':
      return Number.isInteger(value) && (value as number) >= 1 ? null : 'a positive whole number';
    case 'positive':
      return typeof value === 'number' && value > 0 && Number.isFinite(value) ? null : 'a positive number';
    case 'fraction':
      return typeof value === 'number' && value >= 0 && value < 1 ? null : 'a fraction from 0 to below 1';
    case 'number':
      return typeof value === 'number' && Number.isFinite(value) ? null : 'a number';
    case 'boolean':
      return typeof value === 'boolean' ? null : 'true or false';
  }
  return null;
}

/**
 * A saved run config (`source`: its file, for the message) checked before anything is rebuilt
 * from it: the first field that is missing or holds the wrong kind of value, named, as a message
 * (null when it is sound). A hand-edited or foreign config.json otherwise fails far from its cause.
 */
export function runConfigFault(c: unknown): string | null {
  if (typeof c !== 'object' || c === null || Array.isArray(c)) return 'not a JSON object';
  const fields = c as Record<string, unknown>;
  for (const [name, { rule, required }] of Object.entries(CONFIG_FIELDS)) {
    const value = fields[name];
    if (value === undefined) {
      if (required) return `'${name}' is missing`;
      continue;
    }
    const want = fieldFault(value, rule);
    if (want) return `'${name}' must be ${want}, got ${JSON.stringify(value)}`;
  }
  return null;
}
