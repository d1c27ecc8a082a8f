// What the Segment panel feeds the U-Net, made as `dawnet predict` makes it (src/app/predict-job.ts):
// the slice decoded to RGB in 0..1 and resized (bilinear, sliceToRgb) to the run's working size,
// then normalised as the run was trained. 'zscore': each slice by its own channel statistics.
// 'zscore-volume': the slices of one patient given together share the statistics over all of them
// (predict does so for a patient folder); a slice given without others of its patient, by its own.
// A patient is the kaggle_3m file-name prefix (`<patient>_<n>.tif`, src/data/lgg-names.ts's SLICE_FILE)
// within its folder where the browser gives the file's path (a dropped folder, or one picked with
// the folder input, whose files carry a webkitRelativePath); where it gives none (files picked one
// by one), the prefix alone, and the slice's card says so. Each file is decoded once. Hidden files
// (macOS's `._X_1.tif` AppleDouble copies, `.git/`) are left out, as the data scan leaves them.
// 'imagenet' and 'none': the 0..1 values as they are (nothing is normalised on the host for either;
// ImageNet's preprocessing is inside the VGG classifier where its run had ImageNet weights). The size and normalisation
// come from the checkpoint's metadata (`dawnet train` and the Train panel write them); an older
// checkpoint has neither, and the page then assumes what it always did, and says so: the slice's
// own side rounded to a multiple of 2^depth, and a z-score per slice.

import * as dn from '../src/index.js';
import { applyStats, channelStats, type ChannelStats } from '../src/data/normalize.js';
import { NORMALIZE_MODES, type NormalizeMode } from '../src/app/config.js';
import { sliceToRgb } from '../src/app/predict-job.js';
import { readTiffInfo } from '../src/data/tiff.js';
import { isHidden, slicePatient } from '../src/data/lgg-names.js';

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
  /** The patient volume the slice belongs to (its folder and kaggle_3m prefix). */
  volume: VolumeOf;
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
  'zscore-volume': "z-scored per channel with the statistics of the patient's slices given together, per folder where the browser gives folders (a slice given alone: its own)",
  imagenet: "not normalised here ('imagenet': the 0..1 values, as dawnet predict feeds them; a classifier with ImageNet's preprocessing inside applies it itself)",
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

/** A file as the page got it: `path` is where it lies in the folder dropped or picked, '' where the browser gives no path. */
export interface GivenFile {
  file: File;
  path: string;
}

/** A picked file and the path the browser gives it: a picked folder's files have a webkitRelativePath, others ''. */
export const givenFile = (file: File): GivenFile => ({ file, path: file.webkitRelativePath ?? '' });

/**
 * The order files are taken in, dropped or picked: by path (by name where there is none), the
 * numbers in names compared as numbers, so a folder's slices come in slice order (_2 before _10)
 * whatever order the browser lists them in. A fixed locale: the order is the same on every machine.
 */
export const byGivenPath = (a: GivenFile, b: GivenFile): number => (a.path || a.file.name).localeCompare(b.path || b.file.name, 'en', { numeric: true });

/** A hidden file, or one in a hidden folder of what was given: `._TCGA_X_1.tif`, `.git/...` (lgg-names.ts's isHidden on each part). */
export const isHiddenGiven = (f: GivenFile): boolean => [...f.path.split('/'), f.file.name].some(isHidden);

/** Picked files (one by one or a folder's) as the page takes them: hidden ones left out, the rest in order. */
export function pickedFiles(files: Iterable<File>): GivenFile[] {
  return [...files].map(givenFile).filter((f) => !isHiddenGiven(f)).sort(byGivenPath);
}

/** The volume a slice counts in for 'zscore-volume': its patient prefix, within its folder when the path names one. */
export interface VolumeOf {
  key: string;
  patient: string;
  /** The folder in the path given ('kaggle_3m/TCGA_CS_4941_19960909'); null when the path names none. */
  folder: string | null;
}

/**
 * Groups by folder and kaggle_3m prefix (`<patient>_<n>.tif`; another name is a patient of its own),
 * so that same-named slices of two patient folders dropped together keep their own statistics. A
 * path with no folder ('' or a file dropped on its own, '/x_1.tif') leaves the prefix alone.
 */
export function volumeOf(given: GivenFile): VolumeOf {
  const patient = slicePatient(given.file.name) ?? given.file.name;
  const path = given.path.replace(/^\/+/, '');
  const at = path.lastIndexOf('/');
  const folder = at > 0 ? path.slice(0, at) : null;
  return { key: JSON.stringify([folder, patient]), patient, folder };
}

interface Decoded {
  info: { width: number; height: number };
  size: number;
  rgb: Float32Array;
}

async function decode(file: File, spec: InputSpec, depth: number): Promise<Decoded> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  const info = readTiffInfo(bytes, file.name);
  const size = spec.size ?? inputSize(info.width, info.height, depth);
  return { info, size, rgb: sliceToRgb(bytes, file.name, size) };
}

/** A volume's statistics and how many of the slices given it covers. */
interface Volume {
  stats: ChannelStats;
  count: number;
}

/** Each volume's statistics over its slices among `decoded` (at the working size), as predict computes a folder's. */
function statsByVolume(files: readonly GivenFile[], decoded: readonly Decoded[]): Map<string, Volume> {
  const groups = new Map<string, Decoded[]>();
  for (const [i, f] of files.entries()) {
    const key = volumeOf(f).key;
    groups.set(key, [...(groups.get(key) ?? []), decoded[i]!]);
  }
  const volumes = new Map<string, Volume>();
  for (const [key, images] of groups) {
    // One image of all the slices end to end: the same sums, in the same order, as predict's list of
    // slices, and right too when the slices have sides of their own (no recorded size).
    const all = new Float32Array(images.reduce((n, i) => n + i.rgb.length, 0));
    images.reduce((at, i) => (all.set(i.rgb, at), at + i.rgb.length), 0);
    volumes.set(key, { stats: channelStats([all], all.length / 3, 3), count: images.length });
  }
  return volumes;
}

/** How a 'zscore-volume' slice was normalised, for its card. */
function volumeText(v: VolumeOf, count: number): string {
  if (count < 2) return 'z-scored by its own statistics (no other slice of its patient given)';
  if (v.folder !== null) return `z-scored with the statistics of the ${count} slices of ${v.patient} in ${v.folder}/ given together`;
  return (
    `z-scored with the statistics of the ${count} slices of ${v.patient} given together, grouped by file name only ` +
    `(the browser gave no folders: drop or pick the patient folders to keep same-named slices of different folders apart)`
  );
}

function normalise(f: GivenFile, d: Decoded, mode: Normalize, volumes: Map<string, Volume> | null): SliceInput {
  const { info, size, rgb } = d;
  const input = Float32Array.from(rgb);
  let normalised = MODE_TEXT[mode];
  if (mode === 'zscore' || mode === 'zscore-volume') {
    const v = volumeOf(f);
    const volume = volumes?.get(v.key) ?? null;
    const count = volume?.count ?? 1;
    applyStats(input, size * size, count > 1 ? volume!.stats : channelStats([input], size * size, 3));
    if (mode === 'zscore-volume') normalised = volumeText(v, count);
  }
  return { file: f.file.name, info, size, rgb, input, normalised, volume: volumeOf(f) };
}

/**
 * The slices read and normalised as the checkpoint says, in the order given, each file decoded
 * once. For 'zscore-volume' all are decoded first, for their volumes' statistics, and the decoded
 * images kept for the second pass (the panel keeps every slice it shows anyway); otherwise one at a time.
 */
export async function* readSlices(files: readonly GivenFile[], spec: InputSpec, depth: number): AsyncGenerator<SliceInput> {
  const mode = spec.normalize ?? 'zscore';
  if (mode !== 'zscore-volume') {
    for (const f of files) yield normalise(f, await decode(f.file, spec, depth), mode, null);
    return;
  }
  const decoded = await Promise.all(files.map((f) => decode(f.file, spec, depth)));
  const volumes = statsByVolume(files, decoded);
  for (const [i, f] of files.entries()) yield normalise(f, decoded[i]!, mode, volumes);
}
