// The LGG slices as a dataset fit() takes: batches decoded ahead on worker threads (BatchLoader),
// normalised on the host, augmented on the GPU (the same draw for image and mask) for training
// only, uploaded as x [B, S, S, 3] and y (the masks [B, S, S, 1], or the labels [B, 1] for
// classification). The CLI's runs are made by it (app/data.ts), and so can a script's.

import { ArgumentError } from '../errors.js';
import { expectChoice } from '../graph/args.js';
import { tensor } from '../graph/tensor.js';
import type { Batch, Dataset } from '../train/fit.js';
import { augmentBatch, AUGMENT_PRESETS, type AugmentPreset } from './augment.js';
import { BatchLoader } from './batches.js';
import type { LggSlice } from './lgg.js';
import { applyStats, volumeStats, zscoreImages, type ChannelStats } from './normalize.js';

/**
 * The host-side normalisations: each image's channels to mean 0 and deviation 1 ('zscore'), each
 * patient's volume's ('zscore-volume', statistics over all of a patient's slices, computed once),
 * or none ('none'; 'imagenet' is the model's own preprocessing, so the dataset leaves it alone).
 */
export const DATASET_NORMALIZATIONS = ['zscore', 'zscore-volume', 'imagenet', 'none'] as const;
export type DatasetNormalization = (typeof DATASET_NORMALIZATIONS)[number];

export interface LggDatasetOptions {
  batchSize: number;
  /** Side the slices are resized to (S). */
  size: number;
  /** 'segment' (y: masks, the default) or 'classify' (y: 1 where the slice shows tumour). */
  task?: 'segment' | 'classify';
  /** Training batches: shuffled each epoch (by seed and epoch) and augmented. Default false. */
  train?: boolean;
  /** The augmentation of training batches (augmentBatch's presets). Default 'hflip+elastic'. */
  augment?: AugmentPreset;
  /** Default 'zscore'. */
  normalize?: DatasetNormalization;
  /** Seeds the shuffle and the augmentation: the same seed, the same batches. Default 0. */
  seed?: number;
  /** Decoding threads (BatchLoader's); 0 decodes on the calling thread. */
  workers?: number;
  /**
   * Reads a slice's file (the paths scanLgg gave, or any a browser can fetch): decoding then runs
   * on the calling thread. Default: Node's file system, on worker threads.
   */
  read?: (path: string) => Promise<Uint8Array>;
}

/** A dataset for fit() that owns worker threads: close() ends them (a run that stops early must call it). */
export interface LggFitDataset extends Dataset {
  close(): Promise<void>;
}

/** The dataset of `slices` (scanLgg's, or one side of splitDataset's) for fit(), evaluate() and the like. */
export function lggDataset(slices: readonly LggSlice[], options: LggDatasetOptions): LggFitDataset {
  const op = 'lggDataset';
  if (!Array.isArray(slices)) throw new ArgumentError(`${op}: slices must be an array of scanLgg's slices`);
  const { task = 'segment', train = false, augment = 'hflip+elastic', normalize = 'zscore', seed = 0 } = options;
  expectChoice(op, 'task', task, ['segment', 'classify'], false);
  expectChoice(op, 'augment', augment, AUGMENT_PRESETS, false);
  expectChoice(op, 'normalize', normalize, DATASET_NORMALIZATIONS, false);
  let stats: Promise<Map<string, ChannelStats>> | null = null;
  // Worker threads read with Node's file system: a read function of the caller's runs here.
  if (options.read && options.workers) throw new ArgumentError(`${op}: a read function decodes on the calling thread, so workers must be 0 or left out, got ${options.workers}`);
  const workers = options.read ? 0 : options.workers;
  const loader = new BatchLoader(slices, { batchSize: options.batchSize, size: options.size, seed, shuffle: train, workers, read: options.read });
  const patientOf = new Map(slices.map((s) => [s.id, s.patient]));
  // `from`: a resumed epoch starts at its next batch, decoding nothing before it; each batch's
  // augmentation is seeded by its index, so the batches equal an uninterrupted epoch's.
  async function* batches(epoch: number, from = 0): AsyncGenerator<Batch> {
    for await (const b of loader.epoch(epoch, from)) {
      const s = b.size;
      // Normalise after augmentation would also work; before keeps the reflect-filled borders in range.
      if (normalize === 'zscore') zscoreImages(b.images, b.count, s * s, 3);
      if (normalize === 'zscore-volume') {
        stats ??= volumeStats(slices, options.size);
        const byPatient = await stats;
        for (let k = 0; k < b.count; k++) {
          applyStats(b.images.subarray(k * s * s * 3, (k + 1) * s * s * 3), s * s, byPatient.get(patientOf.get(b.ids[k])!)!);
        }
      }
      let x = tensor(b.images, [b.count, s, s, 3]);
      let m = tensor(b.masks, [b.count, s, s, 1]);
      if (train && augment !== 'none') {
        const aug = augmentBatch(x, m, augment, (seed * 100003 + epoch * 1009 + b.index) >>> 0);
        x.dispose();
        m.dispose();
        x = aug.images;
        m = aug.masks!;
      }
      let y = m;
      if (task === 'classify') {
        m.dispose();
        y = tensor(b.labels, [b.count, 1]);
      }
      yield { x, y, volumes: b.ids.map((id) => patientOf.get(id) ?? id) };
    }
  }
  return { batches, batchesFrom: batches, batchCount: loader.batchesPerEpoch, close: () => loader.close() };
}
