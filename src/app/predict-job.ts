// `dawnet predict`: runs a trained run's model on TIFF slices. Segmentation writes, per slice,
// the probability map, the binary mask and an overlay of the predicted outline (red) on the MRI,
// as the notebook draws with OpenCV contours; classification prints and saves p(tumour), and with
// explain draws its Grad-CAM map over the slice. With nifti, each patient folder's predictions are
// stacked into NIfTI volumes as well (predict-volumes.ts).
// With tta 'flip' each probability is the mean over the slice and its left-right mirror.
// minLesionSize and keepLargest post-process the binary mask per slice in 2-D (8-connected) before
// the mask and the overlay are written; the probability map stays the model's. With more runs in
// `ensemble`, the model is their EnsembleModel: every run's best checkpoint, outputs averaged.
// Normalisation follows the run: a 'zscore-volume' run normalises the slices of a patient folder
// with the folder's statistics, as eval does; a slice given on its own (no volume) with its own.
// Each slice file is read and decoded once: a folder of a 'zscore-volume' run is decoded whole for
// its statistics and its decoded slices kept until they are predicted, one folder at a time.
// Slices that share a file name (x/s.tif, y/s.tif) get their own output names: s_*.png for the
// first, s-2_*.png, s-3_*.png ... for the later ones, in the order given.
// A 3-D run (train --volume-depth) predicts whole patient folders: each folder's slices stacked by
// slice number and predicted by sliding windows (volume-eval.ts predictStack), then written slice
// by slice as a 2-D run's; a slice given on its own is refused.

import { applyStats, channelStats, zscoreImages, type ChannelStats } from '../data/normalize.js';
import { decodeTiff } from '../data/tiff.js';
import { patientSlices } from '../data/lgg.js';
import { MASK_FILE } from '../data/lgg-names.js';
import { resizeBilinear, sliceRgb } from '../data/slice-decode.js';
import { noGrad } from '../graph/autograd.js';
import { ArgumentError } from '../errors.js';
import { describeValue, expectChoice, expectNumber } from '../graph/args.js';
import { type Tensor, tensor } from '../graph/tensor.js';
import { makeFolder, nodeFs, readFileBytes, writeFileAtomic } from '../io/files.js';
import { encodePng } from '../io/png.js';
import type { Module } from '../nn/module.js';
import { postprocessMask } from '../train/components.js';
import { predictWithTta, TTA_MODES, type TtaMode } from '../train/tta.js';
import { heatmapOverlay } from '../report/heatmap.js';
import { overlay, probabilityToGray, toRgb8 } from '../report/overlay.js';
import { gradCamWithOutput } from '../train/grad-cam.js';
import type { TrainConfig } from './config.js';
import { checkSameInput, warnRepeatedMembers } from './ensemble-job.js';
import { fileExists, readConfig, readJson, useRunTuning, writeJson } from './run-dir.js';
import { loadRunModel } from './run-model.js';
import { VolumeStacker } from './predict-volumes.js';
import { predictStack } from './volume-eval.js';
import { refuseWeightingForSlices } from './eval-job.js';
import { WINDOW_WEIGHTINGS, type WindowWeighting } from '../train/sliding-window.js';
import { sliceNumber } from '../io/nifti-stack.js';

export interface Prediction {
  file: string;
  /** classify: p(tumour); segment: fraction of pixels predicted tumour. */
  probability?: number;
  tumourPixels?: number;
  /** Pixels the post-processing removed from the thresholded mask (when it is on). */
  removedPixels?: number;
  outputs: string[];
}

export interface PredictOptions {
  tta?: TtaMode;
  /** Predicted lesions (components of a slice) under this many pixels are removed (default 0: none). */
  minLesionSize?: number;
  /** Keep only the slice's largest predicted lesion, after minLesionSize. */
  keepLargest?: boolean;
  /** More runs whose best checkpoints are averaged with the run's (an ensemble: dawnet cv's folds). */
  ensemble?: string[];
  /** classify: also write NAME_gradcam.png, where in the slice p(tumour) comes from (dn.train.gradCam). */
  explain?: boolean;
  /** segment: also stack each patient folder's predictions into NIfTI volumes (predict-volumes.ts). */
  nifti?: boolean;
  /** The volumes' voxel size [dz, dy, dx] in mm, as eval's --spacing (default 1, 1, 1). */
  spacing?: [number, number, number];
  /** A 3-D run's sliding windows averaged alike ('uniform', the default) or by nnU-Net's Gaussian. */
  windowWeighting?: WindowWeighting;
}

/**
 * Full 8-connectivity in 2-D: a thin or ragged lesion may hold together only through corners after
 * thresholding; joining at corners keeps minLesionSize from cutting it into small pieces and deleting them.
 */
export const PREDICT_CONNECTIVITY = 8;

function checkOptions(opts: PredictOptions): void {
  expectChoice('predict', 'tta', opts.tta, TTA_MODES);
  expectChoice('predict', 'windowWeighting', opts.windowWeighting, WINDOW_WEIGHTINGS);
  if (opts.minLesionSize !== undefined) expectNumber('predict', 'minLesionSize', opts.minLesionSize, { integer: true, min: 0 });
  if (opts.keepLargest !== undefined && typeof opts.keepLargest !== 'boolean') throw new ArgumentError(`predict: keepLargest must be a boolean, got ${describeValue(opts.keepLargest)}`);
  if (opts.explain !== undefined && typeof opts.explain !== 'boolean') throw new ArgumentError(`predict: explain must be a boolean, got ${describeValue(opts.explain)}`);
  if (opts.nifti !== undefined && typeof opts.nifti !== 'boolean') throw new ArgumentError(`predict: nifti must be a boolean, got ${describeValue(opts.nifti)}`);
  const spacing = opts.spacing;
  if (spacing !== undefined && !(Array.isArray(spacing) && spacing.length === 3 && spacing.every((d) => typeof d === 'number' && Number.isFinite(d) && d > 0))) {
    throw new ArgumentError(`predict: spacing must be three positive numbers [dz, dy, dx], got ${describeValue(spacing)}`);
  }
  if (spacing !== undefined && !opts.nifti) throw new ArgumentError('predict: spacing sizes the NIfTI volumes; it does nothing without nifti');
  if (opts.ensemble !== undefined && !(Array.isArray(opts.ensemble) && opts.ensemble.every((r) => typeof r === 'string'))) {
    throw new ArgumentError(`predict: ensemble must be a list of run folders, got ${describeValue(opts.ensemble)}`);
  }
}

/** The slices of one path given: a lone slice (folder null), or a patient folder's slices in order. */
interface InputGroup {
  folder: string | null;
  slices: string[];
}

/**
 * The slices to predict: each path as given, a folder standing for its patient's slices in
 * order (patientSlices); `folders` maps each folder to its slices, for the per-patient summary.
 */
async function expandImages(paths: readonly string[]): Promise<{ groups: InputGroup[]; folders: Map<string, string[]> }> {
  const fs = await nodeFs();
  const groups: InputGroup[] = [];
  const folders = new Map<string, string[]>();
  for (const path of paths) {
    const kind = await fs.stat(path).then((s) => (s.isDirectory() ? 'folder' : 'file'), () => 'none');
    if (kind === 'none') throw new ArgumentError(`predict: ${path}: no such file or folder`);
    if (kind === 'file') {
      refuseMask(path);
      await refuseNonTiff(path);
      groups.push({ folder: null, slices: [path] });
      continue;
    }
    const slices = await patientSlices(path);
    folders.set(path, slices);
    groups.push({ folder: path, slices });
  }
  return { groups, folders };
}

/**
 * Every slice given is checked to be a TIFF (its first four bytes, II*\0 or MM\0*) before the
 * model loads or anything is written: a stray file among good ones failed after the slices
 * before it had been written, and left no predictions.json.
 */
async function refuseNonTiff(path: string): Promise<void> {
  const fs = await nodeFs();
  const handle = await fs.open(path, 'r');
  const head = new Uint8Array(4);
  try {
    await handle.read(head, 0, 4, 0);
  } finally {
    await handle.close();
  }
  const tiff = (head[0] === 0x49 && head[1] === 0x49 && head[2] === 0x2a && head[3] === 0) || (head[0] === 0x4d && head[1] === 0x4d && head[2] === 0 && head[3] === 0x2a);
  if (!tiff) throw new ArgumentError(`predict: ${path} is not a TIFF slice (kaggle_3m's .tif); nothing was predicted`);
}

/**
 * A kaggle_3m ground-truth mask (`<folder>_<n>_mask.tif`) is not an MRI: a glob such as
 * `folder/*_3*.tif` picks it up beside the slice, and predicting on it reports nonsense tumours.
 * (patientSlices already leaves masks out of folders.)
 */
function refuseMask(path: string): void {
  if (MASK_FILE.test(path)) {
    throw new ArgumentError(`predict: ${path} is a ground-truth mask (_mask.tif), not an MRI slice; leave it out (a glob like *_3*.tif matches masks too)`);
  }
}

/** A TIFF slice as [size, size, 3] floats in 0..1, by the rule training reads slices with (sliceRgb: gray replicated, alpha dropped). */
export function sliceToRgb(bytes: Uint8Array, name: string, size: number): Float32Array {
  const img = decodeTiff(bytes, name);
  const rgb = sliceRgb(img, name);
  return img.width === size && img.height === size ? rgb : resizeBilinear(rgb, img.width, img.height, 3, size, size);
}

const baseName = (path: string): string => (path.split('/').pop() ?? path).replace(/\.tiff?$/i, '');

/**
 * One output name per image, unique within the run: the file name without .tif, and for a name
 * already taken (the same slice name in another folder) the first free `name-k`, k = 2, 3, ...
 */
export function outputNames(images: readonly string[]): string[] {
  const taken = new Set<string>();
  return images.map((path) => {
    const base = baseName(path);
    let name = base;
    for (let k = 2; taken.has(name); k++) name = `${base}-${k}`;
    taken.add(name);
    return name;
  });
}

/** A slice as the model takes it: `rgb` in 0..1 at the working size, `input` normalised as the run was trained. */
interface PreparedSlice {
  path: string;
  rgb: Float32Array;
  input: Float32Array;
}

/** A copy of `rgb` normalised as the run was trained: per slice, or with its volume's statistics when it has a volume. */
function normaliseSlice(rgb: Float32Array, c: TrainConfig, volume: ChannelStats | null): Float32Array {
  const size = c.size;
  const input = Float32Array.from(rgb);
  if (c.normalize === 'zscore-volume' && volume) applyStats(input, size * size, volume);
  // A lone slice has no volume: per-volume runs fall back to the slice's own statistics.
  else if (c.normalize === 'zscore' || c.normalize === 'zscore-volume') zscoreImages(input, 1, size * size, 3);
  return input;
}

/**
 * The slices of `groups` in order, each file read and decoded once. For a 'zscore-volume' run a
 * folder's slices are decoded together for the channel statistics over all of them (the volume,
 * computed as volumeStats does for eval: at the working size) and kept for their predictions:
 * one folder in memory at a time, never all the input.
 */
async function* preparedSlices(groups: readonly InputGroup[], c: TrainConfig): AsyncGenerator<PreparedSlice> {
  const decode = async (path: string) => sliceToRgb(await readFileBytes(path), path, c.size);
  for (const { folder, slices } of groups) {
    if (folder !== null && c.normalize === 'zscore-volume') {
      const images = await Promise.all(slices.map(decode));
      const stats = channelStats(images, c.size * c.size, 3);
      for (const [i, path] of slices.entries()) yield { path, rgb: images[i]!, input: normaliseSlice(images[i]!, c, stats) };
      continue;
    }
    for (const path of slices) {
      const rgb = await decode(path);
      yield { path, rgb, input: normaliseSlice(rgb, c, null) };
    }
  }
}

/**
 * Per patient folder given, from its slices' predictions: segment, the slices with predicted
 * tumour and the tumour pixels over the volume; classify, the slices with p(tumour) >= 0.5.
 */
export interface FolderSummary {
  folder: string;
  slices: number;
  slicesWithTumour: number;
  tumourPixels?: number;
  /** With nifti: the folder's volume files, and the slice numbers it lacks (blank planes there). */
  volumes?: string[];
  missingSlices?: number[];
}

function summarise(folders: Map<string, string[]>, results: Prediction[]): FolderSummary[] {
  const byFile = new Map(results.map((r) => [r.file, r]));
  return [...folders].map(([folder, files]) => {
    const rs = files.map((f) => byFile.get(f)!);
    const tumour = (r: Prediction) => (r.tumourPixels !== undefined ? r.tumourPixels > 0 : (r.probability ?? 0) >= 0.5);
    const pixels = rs.every((r) => r.tumourPixels !== undefined) ? rs.reduce((n, r) => n + r.tumourPixels!, 0) : undefined;
    return { folder, slices: rs.length, slicesWithTumour: rs.filter(tumour).length, ...(pixels !== undefined ? { tumourPixels: pixels } : {}) };
  });
}

/** Test-time augmentation, post-processing, Grad-CAM and the volumes, as runPredict resolved them. */
interface SliceOptions {
  tta: TtaMode;
  minLesionSize: number;
  keepLargest: boolean;
  explain: boolean;
  volumes: VolumeStacker | null;
  weighting: WindowWeighting;
  /** A 3-D run's: each folder's slices' planes (stackPlanes); null for a 2-D run. */
  planes: Map<string, number[]> | null;
}

/** Each slice through `model`: classify, p(tumour); segment, the three PNGs and the pixel count. */
async function predictSlices(model: Module, groups: readonly InputGroup[], outDir: string, log: (m: string) => void, c: TrainConfig, opts: SliceOptions): Promise<Prediction[]> {
  const { tta, minLesionSize, keepLargest, explain, volumes } = opts;
  const folderOf = new Map(groups.flatMap((g) => g.slices.map((path) => [path, g.folder] as const)));
  const postprocessing = minLesionSize > 0 || keepLargest;
  const size = c.size;
  const results: Prediction[] = [];
  const names = outputNames(groups.flatMap((g) => g.slices));
  let done = 0;
  for await (const { path, rgb, out, map } of predictedSlices(model, groups, c, { ...opts, explain: explain && c.task === 'classify' })) {
    const name = names[done++]!;
    if (c.task === 'classify') {
      const outputs = map ? [`${outDir}/${name}_gradcam.png`] : [];
      if (map) await writeFileAtomic(outputs[0], await encodePng(heatmapOverlay(toRgb8(rgb, size, size), map)));
      results.push({ file: path, probability: out[0], outputs });
      log(`${path}: p(tumour) = ${out[0].toFixed(4)}${outputs.length ? ` -> ${outputs[0]}` : ''}`);
      continue;
    }
    let mask = out.map((p) => (p >= 0.5 ? 1 : 0));
    let removedPixels: number | undefined;
    // The overlay draws from probabilities: removed pixels go to 0 there, the rest keep theirs.
    let shown = out;
    if (postprocessing) {
      const p = postprocessMask(mask, [size, size], { minSize: minLesionSize, keepLargest, connectivity: PREDICT_CONNECTIVITY });
      mask = Float32Array.from(p.mask);
      shown = out.map((v, i) => (mask[i] ? v : 0));
      removedPixels = p.removedVoxels;
    }
    const outputs = [`${outDir}/${name}_prob.png`, `${outDir}/${name}_mask.png`, `${outDir}/${name}_overlay.png`];
    const maskImg = { width: size, height: size, channels: 1 as const, data: Uint8Array.from(mask, (m) => m * 255) };
    await writeFileAtomic(outputs[0], await encodePng(probabilityToGray(out, size, size)));
    await writeFileAtomic(outputs[1], await encodePng(maskImg));
    await writeFileAtomic(outputs[2], await encodePng(overlay(toRgb8(rgb, size, size), undefined, shown, { fillAlpha: 0.25 })));
    const tumourPixels = mask.reduce((a, b) => a + b, 0);
    results.push({ file: path, tumourPixels, removedPixels, outputs });
    log(`${path}: ${tumourPixels} tumour pixels -> ${outputs.join(', ')}`);
    const stacked = await volumes?.add(folderOf.get(path) ?? null, path, out, mask, rgb);
    if (stacked) {
      const gaps = stacked.missingSlices.length ? ` (slices ${stacked.missingSlices.join(', ')} missing: blank planes)` : '';
      log(`${stacked.folder}: volumes -> ${stacked.files.join(', ')}${gaps}`);
    }
  }
  return results;
}

/** A slice with the model's output for it (and its Grad-CAM map, when asked). */
interface PredictedSlice {
  path: string;
  rgb: Float32Array;
  out: Float32Array;
  map: Float32Array | null;
}

/**
 * The slices of `groups` in order with the model's outputs: a 2-D run's slice by slice; a 3-D
 * run's (volumeDepth > 0) a patient folder at a time, its slices stacked by slice number (a
 * missing number a blank plane) and predicted whole by sliding windows, as eval does.
 */
async function* predictedSlices(model: Module, groups: readonly InputGroup[], c: TrainConfig, o: Pick<SliceOptions, 'tta' | 'explain' | 'weighting' | 'planes'>): AsyncGenerator<PredictedSlice> {
  const { tta, explain, weighting, planes } = o;
  const size = c.size;
  if (!planes) {
    for await (const { path, rgb, input } of preparedSlices(groups, c)) {
      yield { path, rgb, ...(await predictOne(model, tensor(input, [1, size, size, 3]), tta, explain)) };
    }
    return;
  }
  const plane = size * size;
  for (const { folder, slices } of groups) {
    const planeOf = planes.get(folder!)!;
    const rgbs = await Promise.all(slices.map(async (path) => sliceToRgb(await readFileBytes(path), path, size)));
    const stats = c.normalize === 'zscore-volume' ? channelStats(rgbs, plane, 3) : null;
    // Planes 0 to the highest number's; a number the folder lacks stays a blank (0) plane.
    const images = new Float32Array((Math.max(...planeOf) + 1) * plane * 3);
    rgbs.forEach((rgb, i) => images.set(normaliseSlice(rgb, c, stats), planeOf[i] * plane * 3));
    const { pred } = await predictStack(c, model, images, { tta, weighting });
    for (const [i, path] of slices.entries()) yield { path, rgb: rgbs[i], out: pred.slice(planeOf[i] * plane, (planeOf[i] + 1) * plane), map: null };
  }
}

/** Each slice's plane in its folder's volume (slice number − 1), for a 3-D run; a name without a number, or a number twice, refused. */
function stackPlanes(folder: string, slices: readonly string[]): number[] {
  const seen = new Map<number, string>();
  return slices.map((path) => {
    const n = sliceNumber(path.split('/').pop()!);
    if (n === null || n < 1) throw new ArgumentError(`predict: ${path} has no slice number (<folder>_<n>.tif), so a 3-D run cannot place it in ${folder}'s volume`);
    if (seen.has(n)) throw new ArgumentError(`predict: ${folder} has two slices numbered ${n} (${seen.get(n)} and ${path}): a 3-D run cannot stack them`);
    seen.set(n, path);
    return n - 1;
  });
}

/**
 * One slice's output, and with `explain` its Grad-CAM map under the same TTA (and ensemble) as the
 * printed p(tumour); x is disposed however this ends.
 */
export async function predictOne(model: Module, x: Tensor, tta: TtaMode, explain: boolean): Promise<{ out: Float32Array; map: Float32Array | null }> {
  try {
    if (!explain) {
      const y = noGrad(() => predictWithTta(model, x, tta));
      const out = await y.toArray();
      y.dispose();
      return { out, map: null };
    }
    // One forward per view for both: gradCamWithOutput's output is predictWithTta's, to the bit.
    const { map, output } = gradCamWithOutput(model, x, { tta });
    try {
      return { out: await output.toArray(), map: await map.toArray() };
    } finally {
      output.dispose();
      map.dispose();
    }
  } finally {
    x.dispose();
  }
}

export async function runPredict(runDir: string, paths: string[], outDir: string, log: (m: string) => void, opts: PredictOptions = {}): Promise<Prediction[]> {
  checkOptions(opts);
  const { groups, folders } = await expandImages(paths);
  const tta = opts.tta ?? 'none';
  const minLesionSize = opts.minLesionSize ?? 0;
  const keepLargest = opts.keepLargest ?? false;
  const explain = opts.explain ?? false;
  const nifti = opts.nifti ?? false;
  const postprocessing = minLesionSize > 0 || keepLargest;
  const c = await readConfig(runDir);
  if (c.task === 'classify' && postprocessing) {
    throw new ArgumentError('predict: minLesionSize and keepLargest post-process segmentation masks, and this run is classify');
  }
  if (nifti && c.task !== 'segment') throw new ArgumentError('predict: nifti stacks segmentation masks into volumes, and this run is classify');
  if (nifti && !folders.size) throw new ArgumentError('predict: nifti writes one volume per patient folder; give a folder (kaggle_3m/<patient>), not slices alone');
  refuseWeightingForSlices(c, opts.windowWeighting);
  const weighting = opts.windowWeighting ?? 'uniform';
  if ((c.volumeDepth ?? 0) > 0 && groups.some((g) => g.folder === null)) {
    const lone = groups.find((g) => g.folder === null)!.slices[0];
    throw new ArgumentError(`predict: ${runDir} is a 3-D run (patches of ${c.volumeDepth} planes): it predicts whole patient folders, and ${lone} is a slice on its own; give its folder (kaggle_3m/<patient>)`);
  }
  // A folder that cannot be stacked is refused before the model loads or anything is written.
  const planes = (c.volumeDepth ?? 0) > 0 ? new Map(groups.map((g) => [g.folder!, stackPlanes(g.folder!, g.slices)])) : null;
  if (c.task === 'segment' && explain) {
    throw new ArgumentError("predict: explain draws a classifier's Grad-CAM, and this run is segment: its probability map (NAME_prob.png) already shows where it sees tumour");
  }
  const runs = [runDir, ...(opts.ensemble ?? [])];
  await warnRepeatedMembers(runs, log);
  // What predictions.json records of how its predictions were made: an --out that already holds
  // predictions made otherwise is refused before anything runs; made alike, they are kept beside
  // the new ones (replacing those of the same files), so that every image there stays listed.
  const settings = {
    run: runDir,
    ...(runs.length > 1 ? { ensemble: runs } : {}),
    task: c.task,
    tta,
    ...(c.task === 'segment' ? { postprocess: { minLesionSize, keepLargest, connectivity: PREDICT_CONNECTIVITY } } : {}),
    ...(explain ? { explain: 'grad-cam' } : {}),
    ...(nifti ? { nifti: { spacing: opts.spacing ?? [1, 1, 1] } } : {}),
    ...((c.volumeDepth ?? 0) > 0 ? { windowWeighting: weighting } : {}),
  };
  const earlier = await earlierPredictions(outDir, settings);
  const configs = [c];
  for (const run of runs.slice(1)) {
    configs.push(await readConfig(run));
    checkSameInput(runDir, c, run, configs.at(-1)!);
  }
  // The files loaded, as predictions.json records them.
  // Planned before the model loads: a folder that cannot make a volume is refused before anything runs.
  const [dz, dy, dx] = opts.spacing ?? [1, 1, 1];
  const folderPaths = [...folders.keys()];
  const names = outputNames(folderPaths.map((f) => f.replace(/\/+$/, '')));
  const volumeNames = new Map(folderPaths.map((f, i) => [f, names[i]!]));
  const volumes = nifti ? new VolumeStacker(folders, volumeNames, c.size, [dx, dy, dz], outDir) : null;
  const checkpoints: string[] = [];
  const model = await loadRunModel(runs, configs, log, checkpoints);
  let results: Prediction[];
  try {
    await useRunTuning(runDir, log);
    model.eval();
    await makeFolder(outDir);
    results = await predictSlices(model, groups, outDir, log, c, { tta, minLesionSize, keepLargest, explain, volumes, weighting, planes });
  } finally {
    model.dispose();
  }
  const summary = summarise(folders, results).map((s) => {
    const v = volumes?.written.find((w) => w.folder === s.folder);
    return v ? { ...s, volumes: v.files, missingSlices: v.missingSlices } : s;
  });
  for (const s of summary) {
    log(`${s.folder}: tumour in ${s.slicesWithTumour} of ${s.slices} slices${s.tumourPixels !== undefined ? `, ${s.tumourPixels} tumour pixels in all` : ''}`);
  }
  const newFiles = new Set(results.map((r) => r.file));
  const newFolders = new Set(summary.map((f) => f.folder));
  const allFolders = [...earlier.folders.filter((f) => !newFolders.has(f.folder)), ...summary];
  await writeJson(`${outDir}/predictions.json`, {
    ...settings,
    checkpoint: checkpoints[0],
    ...(runs.length > 1 ? { checkpoints } : {}),
    predictions: [...earlier.predictions.filter((p) => !newFiles.has(p.file)), ...results],
    ...(allFolders.length ? { folders: allFolders } : {}),
  });
  return results;
}

/** The settings predictions.json records only when they are on. */
const OPTIONAL_SETTINGS = ['ensemble', 'explain', 'nifti', 'windowWeighting'];

/**
 * The predictions already in `outDir`'s predictions.json, when they were made as `settings` say
 * (run, ensemble, task, TTA, post-processing, explain, nifti); none when there is no such file. Made otherwise,
 * they are refused: one file would list images of two models or settings as one.
 */
async function earlierPredictions(outDir: string, settings: Record<string, unknown>): Promise<{ predictions: Prediction[]; folders: FolderSummary[] }> {
  const path = `${outDir}/predictions.json`;
  if (!(await fileExists(path))) return { predictions: [], folders: [] };
  const old = await readJson<Record<string, unknown>>(path, 'predictions');
  // Every setting either side records: one the new run lacks (an ensemble, explain) differs too.
  const keys = [...new Set([...Object.keys(settings), ...OPTIONAL_SETTINGS])];
  const differs = keys.find((k) => JSON.stringify(old[k]) !== JSON.stringify(settings[k]));
  if (differs) {
    // A setting absent on one side (no ensemble) is 'none', not JSON's 'undefined'.
    const shown = (v: unknown) => (v === undefined ? 'none' : JSON.stringify(v));
    throw new ArgumentError(`predict: ${outDir} holds predictions made with another ${differs} (${path}: ${shown(old[differs])}, now ${shown(settings[differs])}); choose another --out, or remove ${path}`);
  }
  return { predictions: Array.isArray(old.predictions) ? (old.predictions as Prediction[]) : [], folders: Array.isArray(old.folders) ? (old.folders as FolderSummary[]) : [] };
}
