// train segment --volume-depth N: a 3-D U-Net trained on patches of each patient's stacked slices,
// validated per plane, and evaluated on whole test volumes by sliding windows (app/volume-eval.ts),
// scored slice by slice as a 2-D run. The eval's predictions are checked against the model run by
// hand on windows of the stacked, normalised volume; the flags it cannot combine with are refused.
// val_dice scores each real plane once, however the evaluation tiles overlap or pad.

import { copyFileSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildModel, lossFor } from '../../src/app/model.js';
import { refuseWeightingForSlices, runEval } from '../../src/app/eval-job.js';
import { runTraining } from '../../src/app/train-job.js';
import { runPredict } from '../../src/app/predict-job.js';
import { loadRunModel } from '../../src/app/run-model.js';
import { readMetrics } from '../../src/app/run-dir.js';
import { checkSameInput } from '../../src/app/ensemble-job.js';
import { predictVolumeSet } from '../../src/app/volume-eval.js';
import { UsageError } from '../../src/cli/args.js';
import { checkTaskFlags, configFromFlags, givenFlags, validateTrainConfig } from '../../src/cli/train.js';
import * as dn from '../../src/index.js';
import { decodePng } from '../../src/io/png.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

/** Predicts no tumour anywhere: each slice's Dice is then 1 where its mask is empty, else 0. */
class Blank extends dn.Module {
  forward(x: dn.Tensor): dn.Tensor {
    const [n, depth, h, w] = x.shape;
    return dn.tensor(new Float32Array(n * depth * h * w), [n, depth, h, w, 1]);
  }
}

const S = 16;
let work = '';
let data = '';
const quiet = () => {};
const flagsFor = (out: string, more: Record<string, unknown> = {}) => ({ data, out, epochs: 2, size: S, features: 4, depth: 1, batch: 2, augment: 'hflip', workers: 0, 'volume-depth': 4, 'test-fraction': 0.25, 'val-fraction': 0.34, ...more });

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'dawnet-volume-run-'));
  data = join(work, 'kaggle_3m');
  // Every volume 6 planes: windows of 4 at planes 0 and 2, so planes 2-3 are the mean of two.
  await dn.data.writeSyntheticDataset(data, { patients: 5, seed: 4, size: S, slicesPerPatient: [6, 6] });
}, 120_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('train segment --volume-depth', () => {
  it('trains a 3-D U-Net on volume patches, validates per plane and evaluates whole test volumes slice by slice', async () => {
    const out = join(work, 'run');
    const config = configFromFlags('segment', flagsFor(out));
    validateTrainConfig(config, false);
    expect(config.normalize).toBe('zscore-volume');
    const result = await runTraining(config, { log: quiet });
    const saved = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    expect([saved.volumeDepth, saved.patchesPerVolume]).toEqual([4, 1]);
    const records = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(records.length).toBe(2);
    for (const r of records) for (const k of ['loss', 'val_loss', 'val_dice', 'val_dice_volume']) expect(Number.isFinite(r[k]), `${k} ${r[k]}`).toBe(true);
    // The test split: whole patients, each slice scored once.
    const split = JSON.parse(readFileSync(join(out, 'split.json'), 'utf8'));
    expect(result.test!.json.slices).toBe(split.patients.test.length * 6);

    // The report's validation samples, taken from their volumes' predictions.
    const report = readFileSync(join(out, 'report.html'), 'utf8');
    const valPatient = split.patients.val[0] as string;
    expect(report).toMatch(new RegExp(`${valPatient}_\\d+_\\d+: Dice \\d\\.\\d{3}|${valPatient}_\\d+_\\d+: Dice n/a`));
    const evaluated = await runEval(out, { log: quiet });
    expect(evaluated.json.slices).toBe(split.patients.test.length * 6);
    expect(evaluated.set.volumes!.length).toBe(split.patients.test.length * 6);
    expect(Number.isFinite(evaluated.json.dicePerSlice as number)).toBe(true);
    expect(evaluated.json.volumeGeometry).toMatchObject({ complete: split.patients.test.length, incomplete: [] });
    expect(evaluated.json.loss).toBeCloseTo(result.test!.json.loss as number, 6);
  }, 300_000);

  it("eval's predictions are the model's on windows of the stacked, normalised volume, each plane the mean of its windows", async () => {
    const config = configFromFlags('segment', flagsFor(join(work, 'unused')));
    const scanned = await dn.data.scanLgg(data, { size: S });
    const slices = scanned.slices.filter((s) => s.folder === scanned.patients[1].folder);
    // Given out of order: the set comes back by slice number.
    const shuffled = [...slices].reverse();
    dn.setInitSeed(2);
    const { model } = buildModel(config);
    try {
      const got = await predictVolumeSet(config, model, shuffled, 'none');
      expect(got.slices.map((s) => s.index)).toEqual([1, 2, 3, 4, 5, 6]);
      expect(got.set.sampleSize).toBe(S * S);
      expect(new Set(got.set.volumes)).toEqual(new Set([slices[0].patient]));
      // By hand: decode, standardise by the patient's statistics, windows at planes 0 and 2.
      const images = await Promise.all(slices.map(async (s) => (await dn.data.loadSlice(s, S)).image));
      const stats = dn.data.channelStats(images, S * S, 3);
      const stacked = new Float32Array(6 * S * S * 3);
      images.forEach((img, z) => {
        const copy = img.slice();
        dn.data.applyStats(copy, S * S, stats);
        stacked.set(copy, z * S * S * 3);
      });
      model.eval();
      const windowOut = async (start: number) => {
        const x = dn.tensor(stacked.slice(start * S * S * 3, (start + 4) * S * S * 3), [1, 4, S, S, 3]);
        const y = model.forward(x);
        const host = await y.toArray();
        x.dispose();
        y.dispose();
        return host;
      };
      const [a, b] = [await windowOut(0), await windowOut(2)];
      const P = S * S;
      for (let z = 0; z < 6; z++) {
        for (let i = 0; i < P; i++) {
          const inA = z < 4 ? a[z * P + i] : null;
          const inB = z >= 2 ? b[(z - 2) * P + i] : null;
          const want = inA !== null && inB !== null ? (inA + inB) / 2 : (inA ?? inB)!;
          expect(Math.abs(got.set.pred[z * P + i] - want), `plane ${z} pixel ${i}`).toBeLessThanOrEqual(1e-6);
        }
      }
      const flipped = await predictVolumeSet(config, model, slices, 'flip');
      expect([...flipped.set.pred]).not.toEqual([...got.set.pred]);
      expect(flipped.set.pred.every((v) => v >= 0 && v <= 1)).toBe(true);
    } finally {
      model.dispose();
    }
  }, 120_000);

  it('predict: a patient folder predicted whole, slice by slice as eval predicts it; a lone slice refused; no 2-D ensemble member', async () => {
    const out = join(work, 'run');
    const c = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    const scanned = await dn.data.scanLgg(data, { size: S });
    const patient = scanned.patients[0];
    const folder = join(data, patient.folder);
    const predicted = await runPredict(out, [folder], join(work, 'pred'), quiet, { nifti: true });
    expect(predicted.map((p) => p.file)).toEqual(patient.slices.map((s) => s.imagePath));
    // The same model and volumes as eval: each slice's tumour pixels are eval's prediction's.
    const model = await loadRunModel([out], [{ ...c, out }], quiet);
    try {
      const byEval = await predictVolumeSet({ ...c, out }, model, patient.slices, 'none');
      // The probability maps, 8-bit: eval's probabilities rounded, pixel for pixel.
      let spread = 0;
      for (const [i, s] of patient.slices.entries()) {
        const pred = byEval.set.pred.subarray(i * S * S, (i + 1) * S * S);
        expect(predicted[i].tumourPixels, s.id).toBe(pred.filter((p) => p >= 0.5).length);
        const png = await decodePng(readFileSync(predicted[i].outputs[0]));
        expect([...png.data], s.id).toEqual(Array.from(pred, (p) => Math.round(p * 255)));
        spread = Math.max(spread, Math.max(...png.data) - Math.min(...png.data));
      }
      // Maps that vary: a constant map would match any model.
      expect(spread).toBeGreaterThan(10);
    } finally {
      model.dispose();
    }
    const files = JSON.parse(readFileSync(join(work, 'pred', 'predictions.json'), 'utf8')).folders[0].volumes;
    expect(files.map((f: string) => f.split('_').pop())).toEqual(['prob.nii.gz', 'mask.nii.gz', 'flair.nii.gz']);
    await expect(runPredict(out, [patient.slices[0].imagePath], join(work, 'pred2'), quiet)).rejects.toThrow(/is a 3-D run \(patches of 4 planes\): it predicts whole patient folders/);
    // Two files of one slice number (_1 and _01) cannot be stacked: refused before anything is written.
    const twice = join(work, 'twice', patient.folder);
    cpSync(folder, twice, { recursive: true });
    copyFileSync(join(twice, `${patient.folder}_1.tif`), join(twice, `${patient.folder}_01.tif`));
    await expect(runPredict(out, [twice], join(work, 'pred3'), quiet)).rejects.toThrow(/has two slices numbered 1 .*a 3-D run cannot stack them/);
    expect(existsSync(join(work, 'pred3'))).toBe(false);
    const flat = { ...c, volumeDepth: 0 };
    expect(() => checkSameInput('a', c, 'b', flat)).toThrow(/ensemble: b was trained on slices \(a 2-D U-Net\) and a on volume patches of 4 planes/);
  }, 120_000);

  it('a 3-D run stopped part-way through an epoch resumes as if never stopped: the same weights, Adam and metrics', async () => {
    // 3 training patients x 2 patches, 2 a batch: 3 batches an epoch; stopped after the second epoch's first.
    const flags = { epochs: 3, 'patches-per-volume': 2, augment: 'hflip+elastic' };
    const whole = join(work, 'whole');
    await runTraining(configFromFlags('segment', flagsFor(whole, flags)), { log: quiet });
    const cut = join(work, 'cut');
    const signal = { stop: false };
    const first = await runTraining(configFromFlags('segment', flagsFor(cut, flags)), { log: quiet, signal, onBatch: (p) => void (p.epoch === 1 && p.batch === 1 && (signal.stop = true)) });
    expect(first.interrupted).toBe(true);
    const logs: string[] = [];
    await runTraining(configFromFlags('segment', flagsFor(cut, flags)), { log: (m) => logs.push(m) }, true);
    expect(logs.some((l) => l.startsWith(`resume: continuing ${cut} from epoch 2 of 3, after its first 1 batches`))).toBe(true);
    expect(readFileSync(join(cut, 'last.safetensors')).equals(readFileSync(join(whole, 'last.safetensors')))).toBe(true);
    // metrics.jsonl without the wall-clock seconds.
    const metrics = async (run: string) => (await readMetrics(run)).map((r) => ({ ...r, seconds: 0 }));
    expect(await metrics(cut)).toEqual(await metrics(whole));
  }, 300_000);

  it("val_dice and val_loss score each real plane once: not twice where evaluation tiles overlap, not at all where a thin volume is padded", async () => {
    // Patches of 8 planes: a 10-plane volume gives tiles at planes 0 and 2, sharing planes 2-7;
    // a 5-plane volume one tile with 3 blank planes, which a blank prediction would score as perfect.
    const slices: dn.data.LggSlice[] = [];
    for (const planes of [10, 5]) {
      const dir = join(work, `val-dice-${planes}`);
      await dn.data.writeSyntheticDataset(dir, { patients: 1, seed: planes, size: S, slicesPerPatient: [planes, planes] });
      slices.push(...(await dn.data.scanLgg(dir, { size: S })).slices);
    }
    const config = configFromFlags('segment', flagsFor(join(work, 'unused'), { 'volume-depth': 8 }));
    const built = buildModel(config);
    built.model.dispose();
    const ds = dn.data.lggVolumeDataset(slices, { batchSize: 2, size: S, depth: 8, workers: 0 });
    try {
      const { set } = await dn.train.evaluate(new Blank(), ds, lossFor(config));
      expect(set.pred.length).toBe(3 * 8 * S * S);
      // The slices scored once each, by hand: a blank prediction against each decoded mask.
      const masks = new Float32Array(slices.length * S * S);
      for (const [i, s] of slices.entries()) masks.set((await dn.data.loadSlice(s, S)).mask, i * S * S);
      const want = dn.train.segmentationReport(new Float32Array(masks.length), masks, S * S, { emptyPolicy: config.emptyPolicy, volumes: slices.map((s) => s.patient) });
      expect(built.metrics.dice(set)).toBeCloseTo(want.dicePerSlice, 12);
      expect(built.metrics.iou(set)).toBeCloseTo(want.iouPerSlice, 12);
      expect(built.metrics.dice_volume(set)).toBeCloseTo(want.dicePerVolume, 12);
      expect(set.counted?.filter(Boolean).length).toBe(15);
      // Every plane of every patch scored: a different figure, so the flags are what this tests.
      const everyPlane = dn.train.segmentationReport(set.pred, set.target, S * S, { emptyPolicy: config.emptyPolicy });
      expect(Math.abs(everyPlane.dicePerSlice - want.dicePerSlice)).toBeGreaterThan(0.01);
      // val_loss over the same 15 planes: a mean over pixels (BCE), so the batches' losses weighted
      // by their counted planes are the loss of the 15 planes at once.
      const bce = lossFor({ ...config, loss: 'bce' });
      const lossOf = async (pred: Float32Array, target: Float32Array, planes: number) => {
        const l = dn.scope(() => bce(dn.tensor(pred, [1, planes, S, S, 1]), dn.tensor(target, [1, planes, S, S, 1])));
        const [v] = await l.toArray();
        l.dispose();
        return v;
      };
      const wantLoss = await lossOf(new Float32Array(masks.length), masks, 15);
      expect((await dn.train.evaluate(new Blank(), ds, bce)).loss).toBeCloseTo(wantLoss, 5);
      expect(Math.abs((await lossOf(set.pred, set.target, 24)) - wantLoss), 'every plane of every patch').toBeGreaterThan(1e-3);
    } finally {
      await ds.close();
    }
  });

  it("--norm instance and --checkpoint-activations build nnU-Net's norm and a checkpointed 3-D U-Net, recorded in the architecture", () => {
    const config = configFromFlags('segment', flagsFor(join(work, 'x'), { norm: 'instance', 'checkpoint-activations': true }));
    validateTrainConfig(config, false);
    const built = buildModel(config);
    try {
      expect(built.architecture).toMatchObject({ name: 'unet3d', norm: 'instance', features: 4, depth: 1, patchDepth: 4 });
      const net = built.model as dn.models.UNet3d;
      expect(net.options).toMatchObject({ norm: 'instance', checkpoint: true });
    } finally {
      built.model.dispose();
    }
  });

  it("--window-weighting gaussian: eval's and predict's windows weighted as slidingWindowDepth weighs them; refused for a run of slices", async () => {
    const out = join(work, 'run');
    const c = { ...JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')), out };
    const scanned = await dn.data.scanLgg(data, { size: S });
    const patient = scanned.patients[2];
    const model = await loadRunModel([out], [c], quiet);
    try {
      const [uniformSet, gaussianSet] = [await predictVolumeSet(c, model, patient.slices, 'none'), await predictVolumeSet(c, model, patient.slices, 'none', 'gaussian')];
      const [volume] = dn.data.lggVolumes(patient.slices);
      const { images, depth } = await dn.data.loadLggVolume(volume, S);
      const x = dn.tensor(images, [1, depth, S, S, 3]);
      model.eval();
      const y = dn.noGrad(() => dn.train.slidingWindowDepth(model, x, { window: 4, weighting: 'gaussian' }));
      expect([...gaussianSet.set.pred]).toEqual([...(await y.toArray())]);
      expect([...gaussianSet.set.pred]).not.toEqual([...uniformSet.set.pred]);
      for (const t of [x, y]) t.dispose();
    } finally {
      model.dispose();
    }
    const evaluated = await runEval(out, { log: quiet, windowWeighting: 'gaussian' });
    expect(evaluated.json.windowWeighting).toBe('gaussian');
    const predOut = join(work, 'pred-gaussian');
    await runPredict(out, [join(data, patient.folder)], predOut, quiet, { windowWeighting: 'gaussian' });
    expect(JSON.parse(readFileSync(join(predOut, 'predictions.json'), 'utf8')).windowWeighting).toBe('gaussian');
    await expect(runPredict(out, [join(data, patient.folder)], predOut, quiet)).rejects.toThrow(/holds predictions made with another windowWeighting/);
    expect(() => refuseWeightingForSlices({ ...c, volumeDepth: 0 }, 'gaussian')).toThrow(/windowWeighting 'gaussian' weighs a 3-D run's sliding windows/);
    expect(() => refuseWeightingForSlices({ ...c, volumeDepth: 0 }, 'uniform')).not.toThrow();
  }, 120_000);

  it('refuses what a 3-D U-Net on volume patches cannot take, naming the flag', () => {
    const check = (more: Record<string, unknown>) => () => validateTrainConfig(configFromFlags('segment', flagsFor(join(work, 'x'), more)), false);
    expect(check({ 'volume-depth': 6, depth: 2 })).toThrow(/--volume-depth 6 must be a multiple of 4/);
    expect(check({ attention: true })).toThrow(/--volume-depth trains a 3-D U-Net, which does not take --attention/);
    expect(check({ split: 'slice' })).toThrow(/does not take --split slice/);
    expect(check({ 'volume-depth': -4 })).toThrow(/--volume-depth must be 0 \(slices\) or a whole number/);
    expect(check({ 'volume-depth': 0, 'patches-per-volume': 3 })).toThrow(/--patches-per-volume is for --volume-depth N/);
    expect(check({ 'volume-depth': 0 })).not.toThrow();
    expect(() => checkTaskFlags('classify', givenFlags(['--volume-depth', '8']))).toThrow(UsageError);
    expect(() => checkTaskFlags('classify', givenFlags(['--volume-depth', '8']))).toThrow(/^--volume-depth is for segment/);
  });
});
