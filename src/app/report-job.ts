// Gathers what the run report shows: curves from metrics.jsonl, class counts per split, a grid of
// validation slices with truth and prediction (a classifier's with its Grad-CAM map), the confusion
// matrix or Dice distribution, and an augmentation preview, then renders RUN/report.html.

import { augmentBatch } from '../data/augment.js';
import { loadSlice, type LggSlice } from '../data/lgg.js';
import type { DataSplit } from '../data/split.js';
import { adapterName } from '../gpu/device.js';
import { runtime } from '../gpu/runtime.js';
import { noGrad } from '../graph/autograd.js';
import { tensor } from '../graph/tensor.js';
import { VggClassifier } from '../models/vgg16.js';
import type { Module } from '../nn/module.js';
import { gradCamWithOutput } from '../train/grad-cam.js';
import { writeReport, type ReportData } from '../report/html.js';
import { binaryReport, diceOf, overlap, type EmptyPolicy, type SurfaceReport } from '../train/metrics.js';
import type { TrainConfig } from './config.js';
import { applyStats, volumeStats, zscoreImages } from '../data/normalize.js';
import type { EvalResult } from './eval-job.js';
import { readMetrics, runFiles } from './run-dir.js';
import { predictVolumeSet } from './volume-eval.js';

type Sample = NonNullable<ReportData['samples']>[number];

/** Up to n slices, tumour slices first, spread over the split. */
function pickSlices(slices: LggSlice[], n: number, labels: Map<string, number>): LggSlice[] {
  const withTumour = slices.filter((s) => labels.get(s.id) === 1);
  const without = slices.filter((s) => labels.get(s.id) !== 1);
  const spread = (xs: LggSlice[], k: number) => Array.from({ length: Math.min(k, xs.length) }, (_, i) => xs[Math.floor((i * xs.length) / Math.min(k, xs.length))]);
  const a = spread(withTumour, Math.ceil((n * 2) / 3));
  return [...a, ...spread(without, n - a.length)];
}

async function predictSamples(c: TrainConfig, model: Module, slices: LggSlice[], volumeSlices: LggSlice[]): Promise<Sample[]> {
  // A run without validation patients (--val-fraction 0) has no slices to show.
  if (!slices.length) return [];
  const size = c.size;
  const decoded = await Promise.all(slices.map((s) => loadSlice(s, size)));
  const images = new Float32Array(decoded.length * size * size * 3);
  decoded.forEach((d, i) => images.set(d.image, i * size * size * 3));
  const { out, heat } = (c.volumeDepth ?? 0) > 0 ? await fromVolumes(c, model, slices, volumeSlices) : await forwardSlices(c, model, await normalised(c, images, slices, volumeSlices), decoded.length);
  return decoded.map((d, i) => {
    const image = images.subarray(i * size * size * 3, (i + 1) * size * size * 3);
    if (c.task === 'classify') {
      const map = heat?.subarray(i * size * size, (i + 1) * size * size);
      return { image, height: size, width: size, truth: d.mask, ...(map ? { heat: map } : {}), caption: `${slices[i].id}: p(tumour) ${out[i].toFixed(3)}, label ${d.label}` };
    }
    const pred = out.subarray(i * size * size, (i + 1) * size * size);
    return { image, height: size, width: size, truth: d.mask, pred, caption: `${slices[i].id}: ${sliceDiceText(pred, d.mask, c.emptyPolicy)}` };
  });
}

/** A copy of the slices' `images` normalised as the run trained. */
async function normalised(c: TrainConfig, images: Float32Array, slices: LggSlice[], volumeSlices: LggSlice[]): Promise<Float32Array> {
  const plane = c.size * c.size;
  const input = Float32Array.from(images);
  if (c.normalize === 'zscore') zscoreImages(input, slices.length, plane, 3);
  if (c.normalize === 'zscore-volume') {
    const stats = await volumeStats(volumeSlices, c.size);
    slices.forEach((s, i) => applyStats(input.subarray(i * plane * 3, (i + 1) * plane * 3), plane, stats.get(s.patient)!));
  }
  return input;
}

/** The model's output for the slices `input` holds; a classifier's Grad-CAM maps with it. */
async function forwardSlices(c: TrainConfig, model: Module, input: Float32Array, count: number): Promise<{ out: Float32Array; heat: Float32Array | null }> {
  model.eval();
  const x = tensor(input, [count, c.size, c.size, 3]);
  // The classifier's evidence beside the tumour's outline: does it look where the tumour is? Its
  // p(tumour) comes from the same forward (gradCamWithOutput), not a second one.
  const explained = c.task === 'classify' && model instanceof VggClassifier ? gradCamWithOutput(model, x) : null;
  const y = explained?.output ?? noGrad(() => model.forward(x));
  const out = await y.toArray();
  y.dispose();
  const heat = explained ? await explained.map.toArray() : null;
  explained?.map.dispose();
  x.dispose();
  return { out, heat };
}

/** A 3-D run's output for the slices, each taken from its whole volume's prediction (as eval makes it). */
async function fromVolumes(c: TrainConfig, model: Module, slices: LggSlice[], volumeSlices: LggSlice[]): Promise<{ out: Float32Array; heat: null }> {
  const folders = new Set(slices.map((s) => s.folder));
  const v = await predictVolumeSet(c, model, volumeSlices.filter((s) => folders.has(s.folder)), 'none');
  const plane = c.size * c.size;
  const at = new Map(v.slices.map((s, i) => [s.id, i]));
  const out = new Float32Array(slices.length * plane);
  slices.forEach((s, i) => out.set(v.set.pred.subarray(at.get(s.id)! * plane, (at.get(s.id)! + 1) * plane), i * plane));
  return { out, heat: null };
}

/**
 * A sample's Dice as the metrics score it (overlap(), diceOf()): the prediction at p >= 0.5, and a
 * slice whose mask and prediction are both empty under the run's empty-slice policy, so that a
 * 'skip' run's caption does not show a perfect score the metrics left out.
 */
export function sliceDiceText(pred: ArrayLike<number>, mask: ArrayLike<number>, policy: EmptyPolicy): string {
  const dice = diceOf(overlap(pred, mask), policy);
  return dice === null ? 'Dice n/a (both empty, skipped)' : `Dice ${dice.toFixed(3)}`;
}

async function augmentPreview(c: TrainConfig, slices: LggSlice[]): Promise<NonNullable<ReportData['augmentPreview']>> {
  const size = c.size;
  const decoded = await Promise.all(slices.map((s) => loadSlice(s, size)));
  if (!decoded.length) return [];
  const images = new Float32Array(decoded.length * size * size * 3);
  const masks = new Float32Array(decoded.length * size * size);
  decoded.forEach((d, i) => {
    images.set(d.image, i * size * size * 3);
    masks.set(d.mask, i * size * size);
  });
  const x = tensor(images, [decoded.length, size, size, 3]);
  const m = tensor(masks, [decoded.length, size, size, 1]);
  const preset = c.augment === 'none' ? 'hflip+elastic' : c.augment;
  const aug = augmentBatch(x, m, preset, c.seed);
  const [ai, am] = [await aug.images.toArray(), await aug.masks!.toArray()];
  for (const t of [x, m, aug.images, aug.masks!]) t.dispose();
  return decoded.map((d, i) => ({
    before: { image: d.image, height: size, width: size, truth: d.mask, caption: 'original' },
    after: { image: ai.subarray(i * size * size * 3, (i + 1) * size * size * 3), height: size, width: size, truth: am.subarray(i * size * size, (i + 1) * size * size), caption: preset },
  }));
}

function surfaceNote(s: SurfaceReport): string {
  const unit = s.spacing.every((d) => d === 1) ? 'pixels' : `units of the spacing ${s.spacing.join(' x ')} (dz x dy x dx)`;
  const oneEmpty = s.oneEmpty === 'skip' ? 'have no surface distance (left out)' : 'score Infinity';
  return (
    `HD95 (95th percentile of the boundary-to-boundary distances taken both ways, MedPy's hd95) and ASSD (their mean), ` +
    `in ${unit}, each volume measured in 3-D. Volumes whose truth or prediction alone is empty ${oneEmpty}: ${s.volumesOneEmpty} of ${s.perVolume.length}.`
  );
}

export async function writeRunReport(c: TrainConfig, model: Module, split: DataSplit<LggSlice>, test: EvalResult | null, log: (m: string) => void): Promise<void> {
  // Epochs shown 1-based as in the progress output; wall-clock seconds are not a curve worth plotting.
  const history = (await readMetrics(c.out)).map(({ seconds: _seconds, ...r }) => ({ ...r, epoch: r.epoch + 1 }));
  const labels = new Map(split.val.concat(split.train).map((s) => [s.id, s.label]));
  const samples = await predictSamples(c, model, pickSlices(split.val, 8, labels), split.val);
  const preview = await augmentPreview(c, pickSlices(split.train, 3, labels));
  const data: ReportData = {
    title: `dawnet ${c.task} run`,
    task: c.task,
    config: c as unknown as Record<string, unknown>,
    adapter: adapterName(runtime().ctx.report),
    history,
    classCounts: Object.fromEntries(Object.entries(split.counts).map(([k, v]) => [k, { positive: v.tumour, negative: v.empty }])),
    samples,
    augmentPreview: preview,
  };
  if (test) {
    data.testMetrics = Object.fromEntries(Object.entries(test.json).filter(([, v]) => typeof v === 'number')) as Record<string, number>;
    if (c.task === 'classify') {
      const r = binaryReport(test.set.pred, test.set.target);
      data.confusion = { tp: r.tp, fp: r.fp, tn: r.tn, fn: r.fn };
    } else {
      data.sliceDice = (test.json.sliceDice as (number | null)[]) ?? [];
      data.emptyPolicy = c.emptyPolicy === 'one' ? 'slices where mask and prediction are both empty count as Dice 1' : 'slices where mask and prediction are both empty are skipped';
      const surface = test.json.surface as SurfaceReport | undefined;
      if (surface) {
        // The surface figures join the test metrics table beside dicePerVolume, and per volume get their own table.
        for (const [k, v] of Object.entries(surface)) if (typeof v === 'number') data.testMetrics[k] = v;
        data.volumeScores = surface.perVolume;
        data.surfaceNote = surfaceNote(surface);
      }
    }
  }
  await writeReport(runFiles(c.out).report, data);
  log(`report: ${runFiles(c.out).report}`);
}
