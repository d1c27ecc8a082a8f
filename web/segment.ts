// Panel 1, Segment: a checkpoint written by `dawnet train segment` plus slice TIFFs, run through the
// U-Net on WebGPU. The architecture comes from the checkpoint's metadata; the input size and the
// normalisation are not stored there, so, like `dawnet predict`, each slice is resized to a square
// whose side is its own rounded to a multiple of 2^depth and z-scored per image and channel.

import * as dn from '../src/index.js';
import { zscoreImages } from '../src/data/normalize.js';
import { sliceToRgb } from '../src/app/predict-job.js';
import { readTiffInfo } from '../src/data/tiff.js';
import { decodeSafetensors } from '../src/io/safetensors.js';
import { applyCheckpoint } from '../src/train/checkpoint.js';
import { overlay, probabilityToGray, toRgb8 } from '../src/report/overlay.js';
import { figure, maskImage } from './canvas.js';
import { forwardOnce } from './infer.js';
import { byId, pageState, setStage, showMessage, type SliceResult } from './page-state.js';

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
  arch: UNetArchitecture;
  file: string;
  /** Whether a slice has gone through yet: the first pass also compiles the shaders. */
  ran: boolean;
}

let loaded: LoadedModel | null = null;
let slices: File[] = [];
/** Files are handled one batch at a time, in the order they arrive. */
let queue: Promise<void> = Promise.resolve();

function readArchitecture(bytes: Uint8Array, file: string): UNetArchitecture {
  const { metadata } = decodeSafetensors(bytes, file);
  if (metadata.format !== 'dawnet-checkpoint-1') {
    throw new dn.FormatError(`${file}: not a dawnet checkpoint (its metadata has no dawnet format tag)`);
  }
  const meta = JSON.parse(metadata.meta ?? '{}') as { architecture?: Partial<UNetArchitecture> & { name?: string } };
  const a = meta.architecture;
  if (!a || a.name !== 'unet') {
    throw new dn.FormatError(`${file}: the checkpoint's model is '${a?.name ?? 'unknown'}', but this panel segments with U-Net checkpoints only`);
  }
  const whole = (v: unknown): v is number => Number.isInteger(v) && (v as number) > 0;
  if (!whole(a.features) || !whole(a.depth) || !whole(a.inChannels) || !whole(a.outChannels)) {
    throw new dn.FormatError(`${file}: the U-Net architecture in the metadata is incomplete: ${JSON.stringify(a)}`);
  }
  if (a.inChannels !== 3 || a.outChannels !== 1) {
    throw new dn.FormatError(`${file}: this U-Net takes ${a.inChannels} channel(s) to ${a.outChannels}; the page feeds RGB slices (3) and shows one mask (1)`);
  }
  return a as UNetArchitecture;
}

async function loadCheckpointFile(file: File): Promise<void> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  const arch = readArchitecture(bytes, file.name);
  const { features, depth, inChannels, outChannels, up, batchNorm, norm, attention } = arch;
  const model = dn.models.unet({ features, depth, inChannels, outChannels, attention: attention === true, ...(up ? { up } : {}), ...(norm ? { norm } : batchNorm !== undefined ? { batchNorm } : {}) });
  try {
    applyCheckpoint(bytes, file.name, model);
  } catch (e) {
    model.dispose();
    throw e;
  }
  model.eval();
  loaded?.model.dispose();
  loaded = { model, arch, file: file.name, ran: false };
  byId('model-info').textContent =
    `${file.name}: ${attention ? 'Attention U-Net' : 'U-Net'}, ${features} features, depth ${depth}, ${model.parameterCount().toLocaleString('en')} parameters. ` +
    `Slices are resized to a multiple of ${2 ** depth} and z-scored per channel.`;
}

/** The square side the slice is resized to: its larger side rounded to a multiple of 2^depth. */
export function inputSize(width: number, height: number, depth: number): number {
  const step = 2 ** depth;
  return Math.max(step, Math.round(Math.max(width, height) / step) * step);
}

async function segmentFile(file: File, m: LoadedModel, first: boolean): Promise<HTMLElement> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  const info = readTiffInfo(bytes, file.name);
  const size = inputSize(info.width, info.height, m.arch.depth);
  const rgb = sliceToRgb(bytes, file.name, size);
  const input = Float32Array.from(rgb);
  zscoreImages(input, 1, size * size, 3);
  const started = performance.now();
  const prob = await forwardOnce(m.model, input, [1, size, size, 3]);
  const inferenceMs = performance.now() - started;
  const mask = maskImage(prob, size);
  const result: SliceResult = { file: file.name, size, inferenceMs, tumourPixels: mask.data.reduce((n, v) => n + (v ? 1 : 0), 0) };
  pageState.lastProbabilities = prob;
  pageState.results.push(result);
  return resultCard(result, info, first, [
    figure(toRgb8(rgb, size, size), 'MRI (pre-contrast, FLAIR, post-contrast as RGB)', 'mri'),
    figure(probabilityToGray(prob, size, size), 'p(tumour)', 'probability'),
    figure(mask, 'mask (p ≥ 0.5)', 'mask'),
    figure(overlay(toRgb8(rgb, size, size), undefined, prob, { fillAlpha: 0.25 }), 'overlay', 'overlay'),
  ]);
}

function resultCard(r: SliceResult, info: { width: number; height: number }, first: boolean, figures: HTMLElement[]): HTMLElement {
  const card = document.createElement('article');
  card.className = 'result';
  card.dataset.testid = 'result';
  const head = document.createElement('h3');
  head.textContent = r.file;
  const details = document.createElement('p');
  details.className = 'details';
  details.dataset.testid = 'result-details';
  const resized = info.width === r.size && info.height === r.size ? `${r.size}×${r.size}` : `${info.width}×${info.height} resized to ${r.size}×${r.size}`;
  const ms = `${r.inferenceMs.toFixed(1)} ms${first ? ' (first run, includes compiling the shaders)' : ''}`;
  details.textContent = `${resized} · inference ${ms} · ${r.tumourPixels} tumour pixels`;
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
  for (const file of slices) {
    results.append(await segmentFile(file, m, !m.ran));
    m.ran = true;
  }
  setStage('segment', 'done');
}

/** Sorts dropped or picked files into the checkpoint and the slices, then runs what can run. */
function accept(files: File[]): void {
  const checkpoint = files.find((f) => /\.safetensors$/i.test(f.name));
  const tiffs = files.filter((f) => /\.tiff?$/i.test(f.name));
  const ignored = files.filter((f) => f !== checkpoint && !tiffs.includes(f));
  queue = queue.then(async () => {
    const error = byId('segment-error');
    showMessage(error, ignored.length ? `Ignored ${ignored.map((f) => f.name).join(', ')}: expected a .safetensors checkpoint or .tif slices.` : null);
    try {
      if (checkpoint) {
        setStage('segment', 'loading');
        await loadCheckpointFile(checkpoint);
        setStage('segment', 'model-loaded');
      }
      if (tiffs.length) slices = tiffs;
      if (!loaded && slices.length) byId('model-info').textContent = `${slices.length} slice(s) waiting: now pick or drop a checkpoint.`;
      await runSlices();
    } catch (e) {
      showMessage(error, (e as Error).message);
      setStage('segment', 'error');
    }
  });
}

export function setupSegmentPanel(enabled: boolean): void {
  const checkpointInput = byId<HTMLInputElement>('checkpoint-input');
  const sliceInput = byId<HTMLInputElement>('slice-input');
  const zone = byId('drop-zone');
  checkpointInput.disabled = !enabled;
  sliceInput.disabled = !enabled;
  setStage('segment', enabled ? 'idle' : 'disabled');
  if (!enabled) return;
  checkpointInput.addEventListener('change', () => accept([...(checkpointInput.files ?? [])]));
  sliceInput.addEventListener('change', () => accept([...(sliceInput.files ?? [])]));
  zone.addEventListener('dragover', (e) => {
    e.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    accept([...(e.dataTransfer?.files ?? [])]);
  });
}
