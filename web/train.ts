// Panel 2, Train: a small U-Net trained live on synthetic slices drawn in the page, as `dawnet
// train segment` would (BCE + Dice, Adam, z-scored inputs), with the loss drawn step by step, a
// preview of held-out slices (truth green, prediction red) and the weights downloadable as a
// dawnet checkpoint that the Segment panel (or the CLI) loads.

import * as dn from '../src/index.js';
import { deriveSeed, seededRandom, shuffled } from '../src/data/split.js';
import { encodeCheckpoint } from '../src/train/checkpoint.js';
import { overlay, toRgb8 } from '../src/report/overlay.js';
import { figure } from './canvas.js';
import { forwardOnce } from './infer.js';
import { LossChart } from './loss-chart.js';
import { byId, pageState, setStage, showMessage } from './page-state.js';
import { gatherBatch, syntheticSlices, tumourSlices, type SliceSet } from './train-data.js';

const SEED = 1;
const TRAIN_PATIENTS = 6;
const SLICES_PER_PATIENT = 12;
const PREVIEW_EVERY = 25;

interface Settings {
  features: number;
  depth: number;
  size: number;
  batch: number;
  steps: number;
  lr: number;
}

interface Run {
  settings: Settings;
  model: dn.Module;
  optimizer: dn.optim.Optimizer;
  steps: number;
  stopRequested: boolean;
}

let run: Run | null = null;
let chart: LossChart | null = null;

function readSettings(): Settings {
  const num = (id: string) => Number(byId<HTMLInputElement | HTMLSelectElement>(id).value);
  const s = { features: num('train-features'), depth: num('train-depth'), size: num('train-size'), batch: num('train-batch'), steps: Math.round(num('train-steps')), lr: num('train-lr') };
  if (!(s.steps >= 1 && s.steps <= 5000)) throw new RangeError(`Steps must be between 1 and 5000, got ${byId<HTMLInputElement>('train-steps').value}`);
  if (!(s.lr > 0 && s.lr <= 0.1)) throw new RangeError(`Learning rate must be in (0, 0.1], got ${byId<HTMLInputElement>('train-lr').value}`);
  return s;
}

function setRunning(running: boolean): void {
  for (const id of ['train-features', 'train-depth', 'train-size', 'train-batch', 'train-steps', 'train-lr', 'train-start']) {
    byId<HTMLInputElement>(id).disabled = running;
  }
  byId<HTMLButtonElement>('train-stop').disabled = !running;
  byId<HTMLButtonElement>('train-download').disabled = running || !run || run.steps === 0;
}

const nextFrame = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

async function trainStep(r: Run, data: SliceSet, indices: number[]): Promise<number> {
  const { images, masks } = gatherBatch(data, indices);
  const s = data.size;
  const x = dn.tensor(images, [indices.length, s, s, 3]);
  const y = dn.tensor(masks, [indices.length, s, s, 1]);
  try {
    const loss = dn.scope(() => {
      const l = dn.bceDiceLoss(r.model.forward(x), y);
      l.backward();
      return l;
    });
    r.optimizer.step();
    r.optimizer.zeroGrad();
    try {
      return await loss.item();
    } finally {
      loss.dispose();
    }
  } finally {
    x.dispose();
    y.dispose();
  }
}

/** Held-out slices through the model in inference mode, drawn as truth/prediction overlays. */
async function showPreview(r: Run, held: SliceSet, picks: number[]): Promise<void> {
  const s = held.size;
  const pixels = s * s;
  const { images } = gatherBatch(held, picks);
  r.model.eval();
  let prob: Float32Array;
  try {
    prob = await forwardOnce(r.model, images, [picks.length, s, s, 3]);
  } finally {
    r.model.train();
  }
  const figures = picks.map((src, i) => {
    // FLAIR alone, in gray: in the RGB composite the tumour is green already and would hide the truth outline.
    const rgb = toRgb8(held.rgb.subarray(src * pixels * 3, (src + 1) * pixels * 3), s, s, { mapping: [1, 1, 1] });
    const truth = held.masks.subarray(src * pixels, (src + 1) * pixels);
    const pred = prob.subarray(i * pixels, (i + 1) * pixels);
    const dice = dn.train.diceOf(dn.train.overlap(pred, truth), 'one')!;
    return figure(overlay(rgb, truth, pred, { fillAlpha: 0.2 }), `held-out slice ${i + 1} (FLAIR): Dice ${dice.toFixed(2)}`, 'preview');
  });
  const title = document.createElement('p');
  title.textContent = `After step ${r.steps}: truth green, prediction red (yellow where they agree).`;
  byId('train-preview').replaceChildren(title, ...figures);
}

async function train(settings: Settings): Promise<void> {
  const status = byId('train-status');
  status.textContent = 'Drawing synthetic slices…';
  setStage('train', 'preparing');
  await nextFrame();
  const data = syntheticSlices(settings.size, 0, TRAIN_PATIENTS, SLICES_PER_PATIENT, SEED);
  const held = syntheticSlices(settings.size, TRAIN_PATIENTS, 1, SLICES_PER_PATIENT, SEED);
  const largest = (i: number) => held.masks.subarray(i * settings.size ** 2, (i + 1) * settings.size ** 2).reduce((a, b) => a + b, 0);
  const picks = tumourSlices(held).sort((a, b) => largest(b) - largest(a)).slice(0, 3);
  run?.model.dispose();
  run?.optimizer.dispose();
  dn.setInitSeed(SEED);
  const model = dn.models.unet({ features: settings.features, depth: settings.depth });
  const r: Run = { settings, model, optimizer: new dn.optim.Adam(model.trainableParameters(), { lr: settings.lr }), steps: 0, stopRequested: false };
  run = r;
  pageState.losses = [];
  chart!.reset(settings.steps);
  setStage('train', 'running');
  status.textContent = `Compiling the shaders and running step 1 on ${data.count} slices of ${settings.size}×${settings.size}…`;
  const random = seededRandom(deriveSeed(SEED, 7));
  let order: number[] = [];
  let firstStepDone = 0;
  while (r.steps < settings.steps && !r.stopRequested) {
    if (order.length < settings.batch) order = shuffled([...Array(data.count).keys()], random);
    const loss = await trainStep(r, data, order.splice(0, settings.batch));
    if (!Number.isFinite(loss)) throw new Error(`training: the loss became ${loss} at step ${r.steps + 1}; try a smaller learning rate`);
    r.steps++;
    pageState.losses.push(loss);
    const recent = pageState.losses.slice(-10);
    const smoothed = recent.reduce((a, b) => a + b, 0) / recent.length;
    chart!.push(r.steps, loss, smoothed);
    if (r.steps === 1) firstStepDone = performance.now();
    // The first step also compiles the shaders: the pace is measured from its end.
    const pace = r.steps > 1 ? ` · ${((performance.now() - firstStepDone) / (r.steps - 1)).toFixed(0)} ms/step` : '';
    status.textContent = `Step ${r.steps}/${settings.steps} · loss ${loss.toFixed(4)} (mean of last 10: ${smoothed.toFixed(4)})${pace} · ${data.count} slices of ${settings.size}×${settings.size}, batch ${settings.batch}`;
    if (r.steps % PREVIEW_EVERY === 0 && picks.length) await showPreview(r, held, picks);
  }
  if (picks.length && r.steps % PREVIEW_EVERY !== 0) await showPreview(r, held, picks);
  status.textContent += r.stopRequested ? ' · stopped' : ' · done';
  setStage('train', r.stopRequested ? 'stopped' : 'done');
}

async function download(): Promise<void> {
  if (!run) return;
  const { settings, model, steps } = run;
  const recent = pageState.losses.slice(-10);
  const bytes = await encodeCheckpoint(model, null, {
    architecture: { name: 'unet', features: settings.features, depth: settings.depth, inChannels: 3, outChannels: 1 },
    task: 'segment',
    seed: SEED,
    steps,
    size: settings.size,
    normalize: 'zscore',
    metrics: { loss: recent.reduce((a, b) => a + b, 0) / Math.max(1, recent.length) },
    source: 'dawnet web page, synthetic slices',
  });
  const url = URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = `dawnet-unet-f${settings.features}-d${settings.depth}-${settings.size}px-${steps}steps.safetensors`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function setupTrainPanel(enabled: boolean): void {
  const form = byId<HTMLFormElement>('train-form');
  const error = byId('train-error');
  for (const el of form.elements) (el as HTMLInputElement).disabled = !enabled;
  setStage('train', enabled ? 'idle' : 'disabled');
  if (!enabled) return;
  chart = new LossChart(byId<HTMLCanvasElement>('loss-chart'));
  setRunning(false);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    showMessage(error, null);
    let settings: Settings;
    try {
      settings = readSettings();
    } catch (err) {
      showMessage(error, (err as Error).message);
      return;
    }
    setRunning(true);
    train(settings)
      .catch((err: Error) => {
        showMessage(error, err.message);
        setStage('train', 'error');
      })
      .finally(() => setRunning(false));
  });
  byId('train-stop').addEventListener('click', () => {
    if (run) run.stopRequested = true;
  });
  byId('train-download').addEventListener('click', () => {
    download().catch((err: Error) => showMessage(error, `download: ${err.message}`));
  });
}
