// What the Segment panel feeds the U-Net, made as `dawnet predict` makes it (src/app/predict-job.ts):
// the slice decoded to RGB in 0..1 and resized (bilinear, sliceToRgb) to the run's working size,
// then normalised as the run was trained. 'zscore': each slice by its own channel statistics.
// 'zscore-volume': the slices of one patient given together share the statistics over all of them
// (predict does so for a patient folder); a slice given without others of its patient, by its own.
// 'imagenet' and 'none': the 0..1 values as they are (a U-Net run normalises nothing on the host
// for either; ImageNet preprocessing belongs to the VGG classifier). The size and normalisation
// come from the checkpoint's metadata (`dawnet train` and the Train panel write them); an older
// checkpoint has neither, and the page then assumes what it always did, and says so: the slice's
// own side rounded to a multiple of 2^depth, and a z-score per slice.

import * as dn from '../src/index.js';
import { applyStats, channelStats, type ChannelStats } from '../src/data/normalize.js';
import { NORMALIZE_MODES, type NormalizeMode } from '../src/app/config.js';
import { sliceToRgb } from '../src/app/predict-job.js';
import { readTiffInfo } from '../src/data/tiff.js';

export type Normalize = NormalizeMode;

/** The input a checkpoint records; null where it records nothing (checkpoints of older runs). */
export interface InputSpec {
  size: number | null;
  normalize: Normalize | null;
}

/** A slice read and normalised, ready for the model. */
export interface SliceInput {
  file: string;
  info: { width: number; height: number };
  size: number;
  rgb: Float32Array;
  input: Float32Array;
  /** How `input` was normalised, as the slice's card says it. */
  normalised: string;
}

/** The size and normalisation in a checkpoint's metadata, checked; FormatError for values no run writes. */
export function readInputSpec(meta: { size?: unknown; normalize?: unknown }, depth: number, file: string): InputSpec {
  const { size, normalize } = meta;
  if (size !== undefined && !(Number.isInteger(size) && (size as number) > 0 && (size as number) % 2 ** depth === 0)) {
    throw new dn.FormatError(`${file}: the checkpoint's input size ${JSON.stringify(size)} is not a positive multiple of 2^depth = ${2 ** depth}`);
  }
  if (normalize !== undefined && !NORMALIZE_MODES.includes(normalize as Normalize)) {
    throw new dn.FormatError(`${file}: the checkpoint's normalisation ${JSON.stringify(normalize)} is none of ${NORMALIZE_MODES.join(', ')}`);
  }
  return { size: (size as number | undefined) ?? null, normalize: (normalize as Normalize | undefined) ?? null };
}

export const sameInput = (a: InputSpec, b: InputSpec): boolean => a.size === b.size && a.normalize === b.normalize;

/** A checkpoint's input in words, for the ensemble's refusal: 'at 16×16, normalised 'none''. */
export function describeInput(spec: InputSpec): string {
  return `at ${spec.size === null ? 'a size it does not record' : `${spec.size}×${spec.size}`}, normalised ${spec.normalize === null ? 'as it does not record' : `'${spec.normalize}'`}`;
}

const MODE_TEXT: Record<Normalize, string> = {
  zscore: 'z-scored per slice and channel',
  'zscore-volume': "z-scored per channel with the statistics of the patient's slices given together (a slice given alone: its own)",
  imagenet: "not normalised ('imagenet': a U-Net run feeds the 0..1 values, as dawnet predict does)",
  none: 'not normalised (0..1 values)',
};

/** The model-info sentence on the input and, for a checkpoint that records it only in part or not at all, the note on what is assumed. */
export function inputSentence(spec: InputSpec, depth: number): { info: string; note: string | null } {
  const rounded = `each slice's own side rounded to a multiple of ${2 ** depth}`;
  const size = spec.size === null ? `resized to ${rounded.replace("each slice's", 'their')}` : `resized to ${spec.size}×${spec.size}`;
  const recorded = spec.size !== null && spec.normalize !== null;
  const info = `Slices are ${size} and ${MODE_TEXT[spec.normalize ?? 'zscore']}${recorded ? ', as the checkpoint records (dawnet predict does the same)' : ''}.`;
  if (recorded) return { info, note: null };
  const missing = [spec.size === null ? 'its input size' : '', spec.normalize === null ? 'its normalisation' : ''].filter(Boolean);
  const assumed = [spec.size === null ? rounded : '', spec.normalize === null ? "'zscore' (per slice and channel)" : ''].filter(Boolean);
  return {
    info,
    note:
      `This checkpoint does not record ${missing.join(' or ')} (runs before they were stored): the page assumes ${assumed.join(' and ')}. ` +
      "If the run was trained otherwise (--size, --normalize), the masks differ from dawnet predict's: use predict with the run folder, whose config.json has them.",
  };
}

/** The square side a slice is resized to when the checkpoint records none: its larger side rounded to a multiple of 2^depth. */
export function inputSize(width: number, height: number, depth: number): number {
  const step = 2 ** depth;
  return Math.max(step, Math.round(Math.max(width, height) / step) * step);
}

/** kaggle_3m slice names are `<patient folder>_<n>.tif`; other names are a patient of their own. */
export function patientOf(name: string): string {
  return /^(.+)_\d+\.tiff?$/i.exec(name)?.[1] ?? name;
}


/** Volume statistics, per patient, of the files given together, as predict's folderStats computes them. */
export interface Volumes {
  stats: Map<string, ChannelStats>;
  counts: Map<string, number>;
}

async function decode(file: File, spec: InputSpec, depth: number): Promise<{ info: { width: number; height: number }; size: number; rgb: Float32Array }> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  const info = readTiffInfo(bytes, file.name);
  const size = spec.size ?? inputSize(info.width, info.height, depth);
  return { info, size, rgb: sliceToRgb(bytes, file.name, size) };
}

/** For a 'zscore-volume' checkpoint: each patient's statistics over its slices among `files`, at the working size. */
export async function volumesOf(files: readonly File[], spec: InputSpec, depth: number): Promise<Volumes> {
  const groups = new Map<string, File[]>();
  for (const f of files) groups.set(patientOf(f.name), [...(groups.get(patientOf(f.name)) ?? []), f]);
  const stats = new Map<string, ChannelStats>();
  const counts = new Map<string, number>();
  for (const [patient, group] of groups) {
    const images = await Promise.all(group.map((f) => decode(f, spec, depth)));
    // One image of all the slices end to end: the same sums, in the same order, as predict's list of
    // slices, and right too when the slices have sides of their own (no recorded size).
    const all = new Float32Array(images.reduce((n, i) => n + i.rgb.length, 0));
    images.reduce((at, i) => (all.set(i.rgb, at), at + i.rgb.length), 0);
    stats.set(patient, channelStats([all], all.length / 3, 3));
    counts.set(patient, group.length);
  }
  return { stats, counts };
}

/** Reads one slice file and normalises it as the checkpoint says (its volume's statistics from `volumes`). */
export async function readSlice(file: File, spec: InputSpec, depth: number, volumes: Volumes | null): Promise<SliceInput> {
  const { info, size, rgb } = await decode(file, spec, depth);
  const input = Float32Array.from(rgb);
  const mode = spec.normalize ?? 'zscore';
  let normalised = MODE_TEXT[mode];
  if (mode === 'zscore' || mode === 'zscore-volume') {
    const patient = patientOf(file.name);
    const n = volumes?.counts.get(patient) ?? 1;
    applyStats(input, size * size, n > 1 ? volumes!.stats.get(patient)! : channelStats([input], size * size, 3));
    if (mode === 'zscore-volume') {
      normalised = n > 1 ? `z-scored with the statistics of the ${n} slices of ${patient} given together` : 'z-scored by its own statistics (no other slice of its patient given)';
    }
  }
  return { file: file.name, info, size, rgb, input, normalised };
}
