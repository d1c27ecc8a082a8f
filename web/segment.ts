// Panel 1, Segment: a checkpoint written by `dawnet train segment` plus slice TIFFs, run through the
// U-Net on WebGPU. The architecture comes from the checkpoint's metadata, and so do the input size
// and normalisation, which slice-input.ts applies as `dawnet predict` does; a checkpoint of an older
// run records neither, and the panel says what it assumes instead. Ground-truth masks (_mask.tif)
// are left out, as predict refuses them. A folder, dropped (dropped-files.ts) or picked with the
// folder input, is read whole, and its files keep their paths, so that 'zscore-volume' can tell
// patient folders apart; hidden files are left out and the rest taken in slice order.
// The options (segment-options.ts) redraw the slices shown when they change: a new TTA setting
// runs the model again, post-processing alone works on the kept probabilities. Several checkpoints
// at once (the folds of `dawnet cv`) run as their ensemble, as `dawnet predict --ensemble` does:
// their probabilities averaged. A classifier's checkpoint (`dawnet train classify`) runs here too
// (classify.ts): p(tumour) and the Grad-CAM map of each slice instead of a mask.

import * as dn from '../src/index.js';
import { decodeSafetensors } from '../src/io/safetensors.js';
import { applyCheckpoint } from '../src/train/checkpoint.js';
import type { TtaMode } from '../src/train/tta.js';
import { overlay, probabilityToGray, toRgb8 } from '../src/report/overlay.js';
import { figure, maskImage } from './canvas.js';
import { forwardOnce } from './infer.js';
import { byId, pageState, setStage, showMessage, type SliceResult } from './page-state.js';
import { maskSlice, setupSegmentOptions } from './segment-options.js';
import { MASK_FILE } from '../src/data/lgg-names.js';
import { describeInput, givenFile, inputSentence, pickedFiles, readInputSpec, readSlices, sameInput, type GivenFile, type InputSpec, type SliceInput } from './slice-input.js';
import { droppedFiles } from './dropped-files.js';
import { offerVolumes } from './volumes.js';
import { buildClassifier, classifiedFigures, classifiedWords, classifySlice, CLASSIFIER_DEPTH, describeClassifier, readClassifierArchitecture, type Classified, type ClassifierArchitecture } from './classify.js';

interface UNetArchitecture {
  name: 'unet';
  features: number;
  depth: number;
  inChannels: number;
  outChannels: number;
  up?: 'transpose' | 'bilinear';
  batchNorm?: boolean;
  /** Absent in checkpoints written before the U-Net had other norms: batch norm. */
  norm?: 'batch' | 'instance' | 'group' | 'none';
  /** Attention gates on the skips (absent in older checkpoints: none). */
  attention?: boolean;
}

interface LoadedModel {
  model: dn.Module;
  arch: UNetArchitecture | ClassifierArchitecture;
  /** Halvings of the input: a slice's side is a multiple of 2^depth (a U-Net's depth, VGG16's 5). */
  depth: number;
  input: InputSpec;
  file: string;
  /** The TTA modes a slice has gone through: the first pass in a mode also compiles its shaders. */
  ran: Set<TtaMode>;
}

/** A slice on show: its input, kept so that new options need no new decoding, and its probabilities. */
interface ShownSlice extends SliceInput {
  /** Segmentation: p(tumour) per pixel. */
  prob: Float32Array;
  /** Classification: p(tumour) and the Grad-CAM map. */
  classified: Classified | null;
  /** Segmentation: the mask as last drawn (post-processed), for the NIfTI volumes. */
  mask?: Uint8Array;
  tta: TtaMode;
  inferenceMs: number;
  first: boolean;
}

let loaded: LoadedModel | null = null;
let slices: GivenFile[] = [];
let shown: ShownSlice[] = [];
/** File batches and option changes are handled one at a time, in the order they arrive (enqueue). */
let queue: Promise<void> = Promise.resolve();

interface Checkpoint {
  arch: UNetArchitecture | ClassifierArchitecture;
  depth: number;
  input: InputSpec;
}

function readCheckpoint(bytes: Uint8Array, file: string): Checkpoint {
  const { metadata } = decodeSafetensors(bytes, file);
  if (metadata.format === 'dawnet-weights-1') {
    throw new dn.FormatError(
      `${file}: a dawnet weights file (dawnet-weights-1, from saveWeights or encodeWeights), which holds no architecture; ` +
        'this panel needs a checkpoint: best.safetensors of a `dawnet train segment` run, or the Train panel\'s download',
    );
  }
  if (metadata.format !== 'dawnet-checkpoint-1') {
    const tag = metadata.format === undefined ? 'no format tag' : `the format tag '${metadata.format}'`;
    throw new dn.FormatError(`${file}: not a dawnet checkpoint (its metadata has ${tag}, not dawnet-checkpoint-1)`);
  }
  const meta = JSON.parse(metadata.meta ?? '{}') as { architecture?: Omit<Partial<UNetArchitecture>, 'name'> & { name?: string }; size?: unknown; normalize?: unknown };
  const a = meta.architecture;
  if (a?.name === 'vggClassifier') {
    const arch = readClassifierArchitecture(a as Record<string, unknown>, file);
    const input = readInputSpec(meta, CLASSIFIER_DEPTH, file);
    if (input.size !== null && input.size !== arch.inputSize) {
      throw new dn.FormatError(`${file}: the checkpoint's input size ${input.size} is not its classifier's ${arch.inputSize}`);
    }
    return { arch, depth: CLASSIFIER_DEPTH, input: { ...input, size: arch.inputSize } };
  }
  if (a?.name === 'unet3d') {
    // A volume model: the panel runs slice by slice, and a window of planes is not a slice.
    const planes = (a as { patchDepth?: unknown }).patchDepth;
    throw new dn.FormatError(`${file}: the checkpoint's model is a 3-D U-Net (unet3d), trained on patches of ${typeof planes === 'number' ? `${planes} planes` : 'planes'}; this panel segments slices one by one, so predict its patients' volumes with \`dawnet predict RUN FOLDER\``);
  }
  if (!a || a.name !== 'unet') {
    throw new dn.FormatError(`${file}: the checkpoint's model is '${a?.name ?? 'unknown'}', but this panel runs U-Net (segment) and VGG16 classifier (classify) checkpoints only`);
  }
  const whole = (v: unknown): v is number => Number.isInteger(v) && (v as number) > 0;
  if (!whole(a.features) || !whole(a.depth) || !whole(a.inChannels) || !whole(a.outChannels)) {
    throw new dn.FormatError(`${file}: the U-Net architecture in the metadata is incomplete: ${JSON.stringify(a)}`);
  }
  if (a.inChannels !== 3 || a.outChannels !== 1) {
    throw new dn.FormatError(`${file}: this U-Net takes ${a.inChannels} channel(s) to ${a.outChannels}; the page feeds RGB slices (3) and shows one mask (1)`);
  }
  return { arch: a as UNetArchitecture, depth: a.depth, input: readInputSpec(meta, a.depth, file) };
}

function buildUNet(arch: UNetArchitecture): dn.Module {
  const { features, depth, inChannels, outChannels, up, batchNorm, norm, attention } = arch;
  return dn.models.unet({ features, depth, inChannels, outChannels, attention: attention === true, ...(up ? { up } : {}), ...(norm ? { norm } : batchNorm !== undefined ? { batchNorm } : {}) });
}

/** The model-info words for one checkpoint's model, and any note on what the page assumes of it. */
function describeModel(arch: UNetArchitecture | ClassifierArchitecture): { kind: string; note: string | null } {
  if (arch.name === 'vggClassifier') return describeClassifier(arch);
  return { kind: `${arch.attention ? 'Attention U-Net' : 'U-Net'}, ${arch.features} features, depth ${arch.depth}`, note: null };
}

/** The U-Net of one checkpoint file, its weights loaded; nothing is left allocated on an error. */
async function modelOf(file: File): Promise<Checkpoint & { model: dn.Module }> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  const checkpoint = readCheckpoint(bytes, file.name);
  const { arch } = checkpoint;
  const model = arch.name === 'vggClassifier' ? buildClassifier(arch) : buildUNet(arch);
  try {
    applyCheckpoint(bytes, file.name, model);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return { ...checkpoint, model };
}

/**
 * Loads one checkpoint, or several as their ensemble (dn.train.EnsembleModel). The members must
 * share the U-Net's depth, which sets the size a slice is resized to when none is recorded, and
 * their recorded input, as predict --ensemble checks the runs' configs (checkSameInput).
 */
async function loadCheckpointFiles(files: File[]): Promise<void> {
  const members: (Checkpoint & { model: dn.Module })[] = [];
  try {
    for (const file of files) {
      const m = await modelOf(file);
      members.push(m);
      if (m.arch.name !== members[0].arch.name) {
        throw new dn.FormatError(`${file.name} holds a ${m.arch.name === 'unet' ? 'U-Net' : 'classifier'}, and ${files[0].name} a ${members[0].arch.name === 'unet' ? 'U-Net' : 'classifier'}: an ensemble's members must do the same task`);
      }
      if (m.depth !== members[0].depth) {
        throw new dn.FormatError(`${file.name}: a U-Net of depth ${m.depth}, and ${files[0].name} of depth ${members[0].depth}: an ensemble's members must take slices of one size`);
      }
      if (!sameInput(m.input, members[0].input)) {
        throw new dn.FormatError(`${file.name} reads its slices ${describeInput(m.input)}, and ${files[0].name} ${describeInput(members[0].input)}: an ensemble's members must see the same input`);
      }
    }
  } catch (e) {
    for (const m of members) m.model.dispose();
    throw e;
  }
  const model = members.length === 1 ? members[0].model : new dn.train.EnsembleModel(members.map((m) => m.model));
  model.eval();
  loaded?.model.dispose();
  const { arch, depth, input } = members[0];
  const names = files.map((f) => f.name).join(', ');
  loaded = { model, arch, depth, input, file: names, ran: new Set() };
  const { kind, note: modelNote } = describeModel(arch);
  const { info, note } = inputSentence(input, depth);
  byId('model-info').textContent =
    (members.length === 1 ? `${names}: ${kind}, ` : `Ensemble of ${members.length} checkpoints (${names}), their probabilities averaged: the first a ${kind}; `) +
    `${model.parameterCount().toLocaleString('en')} parameters. ${info}`;
  const notes = [modelNote, note].filter((n): n is string => n !== null);
  showMessage(byId('model-note'), notes.length ? notes.join(' ') : null);
}

/** Runs the model on the slice with the TTA setting in force, timing the pass (both, with flip). */
async function infer(s: SliceInput, m: LoadedModel): Promise<ShownSlice> {
  const tta = pageState.segmentOptions.tta;
  const first = !m.ran.has(tta);
  const started = performance.now();
  const classifier = m.arch.name === 'vggClassifier';
  const classified = classifier ? await classifySlice(m.model, s, tta) : null;
  const prob = classifier ? new Float32Array(0) : await forwardOnce(m.model, s.input, [1, s.size, s.size, 3], tta);
  const inferenceMs = performance.now() - started;
  m.ran.add(tta);
  return { ...s, prob, classified, tta, inferenceMs, first };
}

/** The slice's card under the options in force; also what the page state says of it. */
function renderSlice(s: ShownSlice): HTMLElement {
  if (s.classified) {
    const result: SliceResult = { file: s.file, size: s.size, inferenceMs: s.inferenceMs, tta: s.tta, pTumour: s.classified.pTumour };
    pageState.lastHeatMap = s.classified.heat;
    pageState.results.push(result);
    return resultCard(result, s, classifiedWords(s.classified), classifiedFigures(s, s.classified));
  }
  const opts = pageState.segmentOptions;
  const { mask, shown: drawn, removedPixels } = maskSlice(s.prob, s.size, opts);
  const result: SliceResult = { file: s.file, size: s.size, inferenceMs: s.inferenceMs, tta: s.tta, tumourPixels: mask.reduce((n, v) => n + v, 0), removedPixels };
  pageState.lastProbabilities = s.prob;
  pageState.lastMask = mask;
  s.mask = mask;
  pageState.results.push(result);
  const rgb8 = toRgb8(s.rgb, s.size, s.size);
  const removed = removedPixels ? ` · post-processing removed ${removedPixels} pixel${removedPixels === 1 ? '' : 's'}` : '';
  return resultCard(result, s, `${result.tumourPixels} tumour pixels${removed}`, [
    figure(rgb8, 'MRI (pre-contrast, FLAIR, post-contrast as RGB)', 'mri'),
    figure(probabilityToGray(s.prob, s.size, s.size), 'p(tumour)', 'probability'),
    figure(maskImage(drawn, s.size), opts.minLesionSize > 0 || opts.keepLargest ? 'mask (p ≥ 0.5, post-processed)' : 'mask (p ≥ 0.5)', 'mask'),
    figure(overlay(rgb8, undefined, drawn, { fillAlpha: 0.25 }), 'overlay', 'overlay'),
  ]);
}

/** A slice's card: its file, how it was read and run, what the model found (`found`), the figures. */
function resultCard(r: SliceResult, s: ShownSlice, found: string, figures: HTMLElement[]): HTMLElement {
  const card = document.createElement('article');
  card.className = 'result';
  card.dataset.testid = 'result';
  const head = document.createElement('h3');
  head.textContent = r.file;
  const details = document.createElement('p');
  details.className = 'details';
  details.dataset.testid = 'result-details';
  const { width, height } = s.info;
  const resized = width === r.size && height === r.size ? `${r.size}×${r.size}` : `${width}×${height} resized to ${r.size}×${r.size}`;
  const passes = r.tta === 'flip' ? ' (flip TTA: both passes)' : '';
  const ms = `${r.inferenceMs.toFixed(1)} ms${s.first ? ' (first run, includes compiling the shaders)' : ''}`;
  details.textContent = `${resized}, ${s.normalised} · inference${passes} ${ms} · ${found}`;
  const row = document.createElement('div');
  row.className = 'figures';
  row.append(...figures);
  card.append(head, details, row);
  return card;
}

async function runSlices(): Promise<void> {
  const m = loaded;
  if (!m || slices.length === 0) return;
  setStage('segment', 'running');
  const results = byId('results');
  results.replaceChildren();
  pageState.results = [];
  shown = [];
  // Each card is drawn as soon as its slice is through, not after the whole batch.
  for await (const input of readSlices(slices, m.input, m.depth)) {
    const s = await infer(input, m);
    shown.push(s);
    results.append(renderSlice(s));
  }
  offerShownVolumes();
  pageState.renders++;
  setStage('segment', 'done');
}

/** Draws the slices on show again under new options, running the model only where the TTA setting changed. */
async function redraw(): Promise<void> {
  const m = loaded;
  if (!m || shown.length === 0) return;
  setStage('segment', 'running');
  for (let i = 0; i < shown.length; i++) {
    if (shown[i].tta !== pageState.segmentOptions.tta) shown[i] = await infer(shown[i], m);
  }
  pageState.results = [];
  byId('results').replaceChildren(...shown.map(renderSlice));
  offerShownVolumes();
  pageState.renders++;
  setStage('segment', 'done');
}

/** The segmented slices on show as NIfTI downloads, by patient, their masks as drawn (volumes.ts). */
function offerShownVolumes(): void {
  offerVolumes(shown.filter((s): s is ShownSlice & { mask: Uint8Array } => !s.classified && s.mask !== undefined));
}

/** Runs `job` after the work queued before it (files and option changes alike); a failure is shown in the panel. */
function enqueue(job: () => Promise<void>): void {
  queue = queue.then(async () => {
    try {
      await job();
    } catch (e) {
      showMessage(byId('segment-error'), (e as Error).message);
      setStage('segment', 'error');
    }
  });
}

/** The most file names a message lists: a patient folder brings dozens of masks, kaggle_3m thousands. */
const NAMES_LISTED = 10;

/** Names for a message: all of a few, or the first ones and how many more. */
function namedFew(names: string[]): string {
  if (names.length <= NAMES_LISTED) return names.join(', ');
  return `${names.length} files (${names.slice(0, 3).join(', ')} and ${names.length - 3} more)`;
}

/**
 * Sorts dropped or picked files into the checkpoints (several: an ensemble) and the slices, then
 * runs what can run. A drop's files may still be being listed (a folder's): they are awaited in turn.
 */
function accept(given: GivenFile[] | Promise<GivenFile[]>): void {
  const listed = Promise.resolve(given);
  // Handled here so that a listing that fails before its turn is not reported as unhandled; the job shows it.
  listed.catch(() => undefined);
  enqueue(async () => {
    const files = await listed;
    const checkpoints = files.filter((f) => /\.safetensors$/i.test(f.file.name));
    const masks = files.filter((f) => MASK_FILE.test(f.file.name));
    const tiffs = files.filter((f) => /\.tiff?$/i.test(f.file.name) && !masks.includes(f));
    const ignored = files.filter((f) => !checkpoints.includes(f) && !tiffs.includes(f) && !masks.includes(f));
    const names = (fs: GivenFile[]) => namedFew(fs.map((f) => f.file.name));
    const messages = [
      masks.length ? `Left out ${names(masks)}: ground-truth masks (_mask.tif), not MRI slices (dawnet predict refuses them too).` : '',
      ignored.length ? `Ignored ${names(ignored)}: expected .safetensors checkpoints or .tif slices.` : '',
    ].filter(Boolean);
    showMessage(byId('segment-error'), messages.length ? messages.join(' ') : null);
    if (!checkpoints.length && !tiffs.length) return;
    if (checkpoints.length) {
      setStage('segment', 'loading');
      await loadCheckpointFiles(checkpoints.map((f) => f.file));
      setStage('segment', 'model-loaded');
    }
    if (tiffs.length) slices = tiffs;
    if (!loaded && slices.length) byId('model-info').textContent = `${slices.length} slice(s) waiting: now pick or drop a checkpoint.`;
    await runSlices();
  });
}

export function setupSegmentPanel(enabled: boolean): void {
  const checkpointInput = byId<HTMLInputElement>('checkpoint-input');
  const sliceInput = byId<HTMLInputElement>('slice-input');
  const folderInput = byId<HTMLInputElement>('slice-folder-input');
  const zone = byId('drop-zone');
  for (const input of [checkpointInput, sliceInput, folderInput]) input.disabled = !enabled;
  setStage('segment', enabled ? 'idle' : 'disabled');
  setupSegmentOptions(enabled, () => enqueue(redraw));
  if (!enabled) return;
  // Checkpoints in the order picked (the ensemble's messages name the first); slices in slice order.
  // Each input is emptied once its files are taken: a browser fires no 'change' for the same
  // pick again, so a checkpoint rewritten by a new run, or a slice fixed on disk, could not be re-read.
  checkpointInput.addEventListener('change', () => {
    accept([...(checkpointInput.files ?? [])].map(givenFile));
    checkpointInput.value = '';
  });
  for (const input of [sliceInput, folderInput]) {
    input.addEventListener('change', () => {
      accept(pickedFiles(input.files ?? []));
      input.value = '';
    });
  }
  zone.addEventListener('dragover', (e) => {
    e.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    if (e.dataTransfer) accept(droppedFiles(e.dataTransfer));
  });
}
