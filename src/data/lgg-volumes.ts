// The LGG slices as volumes, for a 3-D U-Net: each patient folder's slices stacked in slice-number
// order (slice n is plane n − 1, as predict --nifti writes them; a number the folder lacks is a
// blank plane), served to fit() as patches of `depth` planes: x [B, depth, S, S, 3], y [B, depth,
// S, S, 1], and the patient of each patch as its volume.
//
// - Training (train: true): each epoch, every volume gives `patchesPerVolume` patches at seeded
//   random depths, in a seeded order. A share `foreground` of them (nnU-Net's oversampling, 1/3 by
//   default) is placed over a tumour plane drawn from the volume's, so a volume whose tumour spans
//   a few planes is not mostly seen without it. Augmented on the GPU with every plane of a volume
//   moved alike (augmentVolumes).
// - Evaluation: the same patches every epoch, tiling each volume from its first plane `stride`
//   apart (default `depth`), the last one ending at its last plane, so every plane is covered and
//   planes near the end may be seen twice. slidingWindowDepth (train/sliding-window.ts) stitches
//   whole volumes' predictions instead. Each batch's `counted` says which of its planes the
//   validation metrics score, so that each slice counts once, as in a 2-D run: a plane two tiles
//   share is scored in the one it is nearer the middle of, and blank planes (padding, a slice
//   number the folder lacks) in none, as they are no slice at all.
// - A volume with fewer planes than `depth` is padded with blank planes after its last: image 0
//   (after normalisation, the mean), mask 0.
//
// Decoding is BatchLoader's (worker threads, prefetch): a loader per training epoch over the
// epoch's planes in patch order (evaluation's one for every epoch), B·depth planes a batch, so its
// batches are whole patches. A blank plane is
// decoded from a neighbour and then zeroed, which keeps every batch the same size of planes.

import { ArgumentError, ShapeError } from '../errors.js';
import { describeValue, expectChoice, expectKnownOptions, expectNumber, expectOptions } from '../graph/args.js';
import { tensor } from '../graph/tensor.js';
import type { Batch, Dataset } from '../train/fit.js';
import { windowStarts } from '../train/sliding-window.js';
import { AUGMENT_PRESETS, type AugmentPreset } from './augment.js';
import { augmentVolumes } from './augment-volumes.js';
import { BatchLoader, type BatchSample } from './batches.js';
import { DataError } from './errors.js';
import { loadSlice, type LggSlice } from './lgg.js';
import { applyStats, channelStats, volumeStats, zscoreImages, type ChannelStats } from './normalize.js';
import { deriveSeed, seededRandom, shuffled } from './split.js';

/** One patient folder's slices as planes: planes[n − 1] is slice n, null where the folder has none. */
export interface LggVolume {
  patient: string;
  folder: string;
  planes: (LggSlice | null)[];
}

/** A patch: planes start .. start + depth − 1 of volumes[volume]. */
export interface VolumePatch {
  volume: number;
  start: number;
}

/**
 * scanLgg's slices (or one side of a split) grouped into volumes by folder, in first-seen folder
 * order. Two slices of one number in a folder are refused: no plane order would be right.
 */
export function lggVolumes(slices: readonly LggSlice[]): LggVolume[] {
  if (!Array.isArray(slices)) throw new ArgumentError(`lggVolumes: slices must be an array of scanLgg's slices, got ${describeValue(slices)}`);
  const byFolder = new Map<string, LggVolume>();
  for (const s of slices) {
    if (!Number.isInteger(s?.index) || s.index < 1) throw new DataError(`lggVolumes: slice ${s?.id ?? describeValue(s)} has no slice number (index ${describeValue(s?.index)}); volumes need scanLgg's slices`);
    let v = byFolder.get(s.folder);
    if (!v) byFolder.set(s.folder, (v = { patient: s.patient, folder: s.folder, planes: [] }));
    while (v.planes.length < s.index) v.planes.push(null);
    const there = v.planes[s.index - 1];
    if (there) throw new DataError(`lggVolumes: ${s.folder} has two slices numbered ${s.index}: ${there.imagePath} and ${s.imagePath}`);
    v.planes[s.index - 1] = s;
  }
  return [...byFolder.values()];
}

export interface PatchOptions {
  /** Random patches (seeded by seed and epoch) when true; else the tiling. */
  train: boolean;
  seed?: number;
  epoch?: number;
  /** Evaluation: planes between tiles' starts (default depth). */
  stride?: number;
  /** Training: patches each volume gives per epoch (default 1). */
  patchesPerVolume?: number;
  /** Training: the share of patches placed over a tumour plane (default 1/3, nnU-Net's). */
  foreground?: number;
}

/** The patches of one epoch (training) or of every epoch (evaluation), in the order served. */
export function volumePatches(volumes: readonly LggVolume[], depth: number, o: PatchOptions): VolumePatch[] {
  const { train, seed = 0, epoch = 0, stride = depth, patchesPerVolume = 1, foreground = 1 / 3 } = o;
  if (!train) {
    return volumes.flatMap((v, volume) => windowStarts(v.planes.length, depth, stride).map((start) => ({ volume, start })));
  }
  const rand = seededRandom(deriveSeed(seed, epoch, 0x766f6c));
  const patches: VolumePatch[] = [];
  volumes.forEach((v, volume) => {
    const last = Math.max(0, v.planes.length - depth);
    const tumour = v.planes.flatMap((p, z) => (p?.label === 1 ? [z] : []));
    for (let k = 0; k < patchesPerVolume; k++) {
      // Both draws are taken every time, so the foreground share does not shift later patches.
      const [u, r] = [rand(), rand()];
      const t = tumour[Math.floor(r * tumour.length)];
      if (u < foreground && t !== undefined) {
        // A start whose patch holds plane t: from max(0, t − depth + 1) to min(t, last).
        const lo = Math.max(0, t - depth + 1);
        const hi = Math.min(t, last);
        patches.push({ volume, start: lo + Math.floor(rand() * (hi - lo + 1)) });
      } else {
        patches.push({ volume, start: Math.floor(rand() * (last + 1)) });
      }
    }
  });
  return shuffled(patches, rand);
}

/**
 * For each plane of each evaluation patch, in order, whether the metrics score it: a real slice's
 * plane, in the one patch of its volume whose middle it is nearest (the earlier on a tie), since a
 * plane near a patch's edge is predicted with fewer neighbours. The nearest middle is always that
 * of a patch holding the plane, as the patches tile the volume.
 */
function countedPlanes(volumes: readonly LggVolume[], patches: readonly VolumePatch[], depth: number): boolean[] {
  const startsOf = new Map<number, number[]>();
  for (const { volume, start } of patches) {
    if (!startsOf.has(volume)) startsOf.set(volume, []);
    startsOf.get(volume)!.push(start);
  }
  const middle = (depth - 1) / 2;
  return patches.flatMap(({ volume, start }) => {
    const starts = startsOf.get(volume)!;
    return Array.from({ length: depth }, (_, k) => {
      const z = start + k;
      const owner = starts.reduce((best, s) => (Math.abs(z - s - middle) < Math.abs(z - best - middle) ? s : best));
      return volumes[volume].planes[z] != null && owner === start;
    });
  });
}

export type VolumeNormalization = 'zscore-volume' | 'zscore' | 'none';
export const VOLUME_NORMALIZATIONS: readonly VolumeNormalization[] = ['zscore-volume', 'zscore', 'none'];

export interface LoadedVolume {
  /** [depth, S, S, 3], normalised; blank planes 0. */
  images: Float32Array;
  /** [depth, S, S], 0 or 1; blank planes 0. */
  masks: Float32Array;
  depth: number;
}

/**
 * A whole volume's planes decoded at `size` and normalised as lggVolumeDataset serves them
 * ('zscore-volume': the channel statistics over the volume's slices, a kaggle_3m patient's), for
 * prediction with slidingWindowDepth.
 */
export async function loadLggVolume(volume: LggVolume, size: number, options: { normalize?: VolumeNormalization; read?: (path: string) => Promise<Uint8Array> } = {}): Promise<LoadedVolume> {
  const op = 'loadLggVolume';
  if (!Array.isArray(volume?.planes)) throw new ArgumentError(`${op}: volume must be one of lggVolumes' volumes, got ${describeValue(volume)}`);
  expectNumber(op, 'size', size, { integer: true, min: 1 });
  const { normalize = 'zscore-volume' } = options;
  expectChoice(op, 'normalize', normalize, VOLUME_NORMALIZATIONS, false);
  const plane = size * size;
  const depth = volume.planes.length;
  const images = new Float32Array(depth * plane * 3);
  const masks = new Float32Array(depth * plane);
  const decoded = await Promise.all(volume.planes.map((s) => (s ? loadSlice(s, size, options.read) : null)));
  const real = decoded.filter((d) => d !== null).map((d) => d.image);
  const stats = normalize === 'zscore-volume' ? channelStats(real, plane, 3) : null;
  decoded.forEach((d, z) => {
    if (!d) return;
    const image = images.subarray(z * plane * 3, (z + 1) * plane * 3);
    image.set(d.image);
    masks.set(d.mask, z * plane);
    if (stats) applyStats(image, plane, stats);
    if (normalize === 'zscore') zscoreImages(image, 1, plane, 3);
  });
  return { images, masks, depth };
}

export interface LggVolumeDatasetOptions {
  /** Patches per batch (B). */
  batchSize: number;
  /** Side the slices are resized to (S). */
  size: number;
  /** Planes per patch. A 3-D U-Net of depth L needs a multiple of 2^L. */
  depth: number;
  train?: boolean;
  /** augmentBatch's presets, every plane of a volume moved alike. Default 'hflip+elastic'. */
  augment?: AugmentPreset;
  /** 'zscore-volume' (default: each patient's channel statistics over all its slices), 'zscore' (per plane) or 'none'. */
  normalize?: VolumeNormalization;
  seed?: number;
  /** Evaluation: planes between tiles (default depth). */
  stride?: number;
  /** Training: patches per volume per epoch (default 1). */
  patchesPerVolume?: number;
  /** Training: share of patches over a tumour plane (default 1/3). */
  foreground?: number;
  /** Decoding threads (BatchLoader's); 0 decodes on the calling thread. */
  workers?: number;
  /** Reads a slice's file (a browser's fetch): decoding then runs on the calling thread. */
  read?: (path: string) => Promise<Uint8Array>;
}

const OPTIONS = ['batchSize', 'size', 'depth', 'train', 'augment', 'normalize', 'seed', 'stride', 'patchesPerVolume', 'foreground', 'workers', 'read'];

/** A volume dataset for fit(); close() ends a loader still open (a run that stops early must call it). */
export interface LggVolumeDataset extends Dataset {
  readonly volumes: readonly LggVolume[];
  close(): Promise<void>;
}

function checkOptions(o: LggVolumeDatasetOptions): void {
  const op = 'lggVolumeDataset';
  expectOptions(op, o, '{ batchSize: 2, size: 64, depth: 16 }', true);
  expectKnownOptions(op, o, OPTIONS);
  expectNumber(op, 'batchSize', o.batchSize, { integer: true, min: 1 });
  expectNumber(op, 'size', o.size, { integer: true, min: 1 });
  expectNumber(op, 'depth', o.depth, { integer: true, min: 1 });
  if (o.stride !== undefined) expectNumber(op, 'stride', o.stride, { integer: true, min: 1, max: o.depth });
  if (o.patchesPerVolume !== undefined) expectNumber(op, 'patchesPerVolume', o.patchesPerVolume, { integer: true, min: 1 });
  if (o.foreground !== undefined) expectNumber(op, 'foreground', o.foreground, { min: 0, max: 1 });
  expectChoice(op, 'augment', o.augment, AUGMENT_PRESETS);
  expectChoice(op, 'normalize', o.normalize, VOLUME_NORMALIZATIONS);
  if (o.read && o.workers) throw new ArgumentError(`${op}: a read function decodes on the calling thread, so workers must be 0 or left out, got ${o.workers}`);
}

/** The dataset of `slices`' volumes for fit(), evaluate() and the like. */
export function lggVolumeDataset(slices: readonly LggSlice[], options: LggVolumeDatasetOptions): LggVolumeDataset {
  checkOptions(options);
  const { batchSize, size, depth, train = false, augment = 'hflip+elastic', normalize = 'zscore-volume', seed = 0 } = options;
  const volumes = lggVolumes(slices);
  if (volumes.length === 0) throw new ShapeError('lggVolumeDataset: no slices, so no volumes');
  const patchOptions = { train, seed, stride: options.stride, patchesPerVolume: options.patchesPerVolume, foreground: options.foreground };
  const patchCount = volumePatches(volumes, depth, { ...patchOptions, epoch: 0 }).length;
  let stats: Promise<Map<string, ChannelStats>> | null = null;
  const open = new Set<BatchLoader>();

  /** An epoch's patches, their planes' loader, which planes are blank and (evaluation) which are scored. */
  function planOf(epoch: number) {
    const patches = volumePatches(volumes, depth, { ...patchOptions, epoch });
    // Each patch's planes; a blank one decodes the volume's first real slice and is zeroed after.
    const samples: BatchSample[] = [];
    const blank: boolean[] = [];
    for (const { volume, start } of patches) {
      const planes = volumes[volume].planes;
      const stand = planes.find((p) => p !== null)!;
      for (let z = start; z < start + depth; z++) {
        samples.push(planes[z] ?? stand);
        blank.push(!planes[z]);
      }
    }
    const workers = options.read ? 0 : options.workers;
    const loader = new BatchLoader(samples, { batchSize: batchSize * depth, size, shuffle: false, workers, read: options.read });
    open.add(loader);
    // Training's random patches are no tiling and are not scored: they carry no flags.
    return { patches, blank, loader, counted: train ? null : countedPlanes(volumes, patches, depth) };
  }
  // Evaluation serves the same patches every epoch: one plan (and one loader's threads) for all.
  let evaluation: ReturnType<typeof planOf> | null = null;

  async function* batches(epoch: number, from = 0): AsyncGenerator<Batch> {
    const { patches, blank, loader, counted } = train ? planOf(epoch) : (evaluation ??= planOf(0));
    try {
      for await (const b of loader.epoch(0, from)) {
        const plane = size * size;
        const first = b.index * batchSize * depth;
        const count = b.count / depth;
        if (normalize === 'zscore') zscoreImages(b.images, b.count, plane, 3);
        if (normalize === 'zscore-volume') {
          stats ??= volumeStats(slices, size);
          const byPatient = await stats;
          for (let k = 0; k < b.count; k++) {
            const patient = volumes[patches[(first + k - (k % depth)) / depth].volume].patient;
            applyStats(b.images.subarray(k * plane * 3, (k + 1) * plane * 3), plane, byPatient.get(patient)!);
          }
        }
        for (let k = 0; k < b.count; k++) {
          if (!blank[first + k]) continue;
          b.images.fill(0, k * plane * 3, (k + 1) * plane * 3);
          b.masks.fill(0, k * plane, (k + 1) * plane);
        }
        let x = tensor(b.images, [count, depth, size, size, 3]);
        let y = tensor(b.masks, [count, depth, size, size, 1]);
        if (train && augment !== 'none') {
          const aug = augmentVolumes(x, y, augment, (seed * 100003 + epoch * 1009 + b.index) >>> 0);
          x.dispose();
          y.dispose();
          x = aug.images;
          y = aug.masks!;
        }
        const mine = patches.slice(first / depth, first / depth + count);
        yield { x, y, volumes: mine.map((p) => volumes[p.volume].patient), counted: counted?.slice(first, first + b.count) };
      }
    } finally {
      // A training epoch's loader is its own; the evaluation's stays open until close().
      if (train) {
        open.delete(loader);
        await loader.close();
      }
    }
  }
  return {
    volumes,
    batches,
    batchesFrom: batches,
    batchCount: Math.ceil(patchCount / batchSize),
    close: async () => {
      await Promise.all([...open].map((l) => l.close()));
      open.clear();
      evaluation = null;
    },
  };
}
