// The eval and predict jobs with post-processing, on the GPU without training anything. eval: a
// stand-in model predicts each synthetic patient's true mask plus one stray voxel, and
// --min-lesion-size removes exactly those strays through the real data loading and evaluateRun.
// predict: the model's output is replaced by a planted map (a lesion, a lone pixel, a diagonal
// pair), and the mask, overlay and predictions.json follow the options while the probability map
// stays the model's.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import * as dn from '../../src/index.js';
import { defaultConfig, type TrainConfig } from '../../src/app/config.js';
import { evaluateRun } from '../../src/app/eval-job.js';
import { buildModel } from '../../src/app/model.js';
import { runPredict } from '../../src/app/predict-job.js';
import { runFiles } from '../../src/app/run-dir.js';
import { loadSlice, scanLgg, type LggSlice } from '../../src/data/lgg.js';
import { writeSyntheticDataset } from '../../src/data/synth.js';
import { encodeTiff } from '../../src/data/tiff.js';
import { decodePng } from '../../src/io/png.js';
import { Module } from '../../src/nn/module.js';
import { saveCheckpoint } from '../../src/train/checkpoint.js';
import { predictWithTta } from '../../src/train/tta.js';
import { tempDir } from '../cli/helpers.js';
import { useGpu } from '../helpers/gpu.js';

vi.mock('../../src/train/tta.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/train/tta.js')>();
  return { ...real, predictWithTta: vi.fn(real.predictWithTta) };
});

useGpu();

const S = 16;
let work = '';
let config: TrainConfig;
let slices: LggSlice[] = [];

beforeAll(async () => {
  work = tempDir('dawnet-postprocess-');
  await writeSyntheticDataset(join(work, 'data'), { patients: 3, seed: 11, size: S, slicesPerPatient: [5, 6] });
  slices = (await scanLgg(join(work, 'data'), { size: S })).slices;
  config = { ...defaultConfig('segment'), data: join(work, 'data'), out: join(work, 'run'), size: S, features: 4, depth: 2, batch: 4, workers: 0 };
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Replays planted predictions in evaluation order (the test split is not shuffled). */
class Planted extends Module {
  private next = 0;
  constructor(private readonly pred: Float32Array) {
    super();
  }
  forward(x: dn.Tensor): dn.Tensor {
    const n = x.shape[0];
    const out = dn.tensor(this.pred.slice(this.next * S * S, (this.next + n) * S * S), [n, S, S, 1]);
    this.next += n;
    return out;
  }
}

describe('evaluateRun with post-processing', () => {
  it("removes one stray voxel per patient: precision rises to 1, recall and the loss stay", async () => {
    const truth = new Float32Array(slices.length * S * S);
    for (const [i, s] of slices.entries()) truth.set((await loadSlice(s, S)).mask, i * S * S);
    const pred = truth.map((t) => (t > 0.5 ? 0.9 : 0.1));
    const patients = [...new Set(slices.map((s) => s.patient))];
    for (const p of patients) {
      // The stray sits in a corner of the patient's second slice, away from the synthetic tumour
      // in that slice and the two beside it.
      const i = slices.findIndex((s) => s.patient === p) + 1;
      for (const j of [i - 1, i, i + 1]) expect(truth.subarray(j * S * S, j * S * S + 2 * S).every((t) => t === 0)).toBe(true);
      pred[i * S * S] = 0.8;
    }
    const log = () => undefined;
    const plain = await evaluateRun(config, new Planted(pred), slices, log);
    const cleaned = await evaluateRun(config, new Planted(pred), slices, log, { minLesionSize: 2 });
    const [a, b] = [plain.json as Record<string, number>, cleaned.json as Record<string, number>];
    const tumour = truth.reduce((n, t) => n + (t > 0.5 ? 1 : 0), 0);
    expect(tumour).toBeGreaterThan(0);
    expect(a.precision).toBeCloseTo(tumour / (tumour + patients.length), 6);
    expect(b.precision).toBe(1);
    expect(b.recall).toBe(a.recall);
    expect(b.loss).toBe(a.loss);
    expect(b.dicePerVolume).toBeGreaterThan(a.dicePerVolume);
    expect(cleaned.json.postprocess).toEqual({ minLesionSize: 2, keepLargest: false, connectivity: 26, removedComponents: patients.length, removedVoxels: patients.length });
    expect(plain.json.postprocess).toMatchObject({ minLesionSize: 0, removedVoxels: 0 });
    expect(cleaned.table).toMatch(/post-processing \(per volume, 26-connected\)/);
  });
});

describe('runPredict with post-processing', () => {
  // A 4x4 lesion, a lone pixel in a corner and a diagonal pair (one component under 8-connectivity).
  const planted = new Float32Array(S * S).fill(0.2);
  for (let y = 4; y < 8; y++) for (let x = 4; x < 8; x++) planted[y * S + x] = 0.9;
  planted[15] = 0.7;
  planted[12 * S] = planted[13 * S + 1] = 0.6;

  beforeAll(async () => {
    mkdirSync(config.out, { recursive: true });
    const { model } = buildModel(config);
    await saveCheckpoint(runFiles(config.out).last, model, null, {});
    model.dispose();
    writeFileSync(join(config.out, 'config.json'), JSON.stringify(config));
    writeFileSync(join(work, 'slice.tif'), encodeTiff({ width: S, height: S, channels: 3, data: new Uint8Array(S * S * 3).fill(60) }));
    vi.mocked(predictWithTta).mockImplementation(() => dn.tensor(planted, [1, S, S, 1]));
  });

  const predict = async (name: string, opts: { minLesionSize?: number; keepLargest?: boolean }) => {
    const out = join(work, name);
    const [p] = await runPredict(config.out, [join(work, 'slice.tif')], out, () => undefined, opts);
    const json = JSON.parse(readFileSync(join(out, 'predictions.json'), 'utf8'));
    const file = (kind: string) => readFileSync(join(out, `slice_${kind}.png`));
    const mask = (await decodePng(file('mask'))).data;
    return { p, json, mask, prob: file('prob'), overlay: file('overlay') };
  };

  it('drops components under the size from the mask and overlay, counts them, and leaves the probability map', async () => {
    const plain = await predict('plain', {});
    expect(plain.p).toMatchObject({ tumourPixels: 19 });
    expect(plain.p.removedPixels).toBeUndefined();
    expect(plain.json.postprocess).toEqual({ minLesionSize: 0, keepLargest: false, connectivity: 8 });
    // At 2 the diagonal pair survives (8-connected, 2 pixels), the lone pixel goes.
    const two = await predict('two', { minLesionSize: 2 });
    expect(two.p).toMatchObject({ tumourPixels: 18, removedPixels: 1 });
    expect(two.mask[15]).toBe(0);
    expect(two.mask[12 * S]).toBe(255);
    for (const opts of [{ minLesionSize: 3 }, { keepLargest: true }]) {
      const r = await predict(`p${JSON.stringify(opts).replace(/\W/g, '')}`, opts);
      expect(r.p, JSON.stringify(opts)).toMatchObject({ tumourPixels: 16, removedPixels: 3 });
      expect(Array.from(r.mask, (v) => (v ? 1 : 0))).toEqual(Array.from(planted, (v) => (v > 0.85 ? 1 : 0)));
      expect(r.json.postprocess).toMatchObject({ ...opts, connectivity: 8 });
      expect(r.prob.equals(plain.prob)).toBe(true);
      expect(r.overlay.equals(plain.overlay)).toBe(false);
    }
  });
});
