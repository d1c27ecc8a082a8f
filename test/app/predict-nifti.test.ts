// `dawnet predict --nifti` (predict-volumes.ts): a patient folder's predictions stacked into NIfTI
// volumes whose planes are the per-slice outputs (the mask PNG, the slice's FLAIR), slice n at
// z = n - 1 with a missing number left blank and named; and the refusals, made before anything runs.

import { copyFileSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { defaultConfig, type TrainConfig } from '../../src/app/config.js';
import { buildModel } from '../../src/app/model.js';
import { runPredict, sliceToRgb } from '../../src/app/predict-job.js';
import { runFiles } from '../../src/app/run-dir.js';
import { writeSyntheticDataset } from '../../src/data/synth.js';
import { decodePng } from '../../src/io/png.js';
import { saveCheckpoint } from '../../src/train/checkpoint.js';
import { tempDir } from '../cli/helpers.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

const S = 16;
let work = '';
let config: TrainConfig;
let folder = '';
let patient = '';

/** A .nii.gz's shape, spacing and voxels (float32 or uint8 by its datatype). */
function readNifti(path: string): { shape: number[]; spacing: number[]; data: Float32Array | Uint8Array } {
  const raw = gunzipSync(readFileSync(path));
  const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const shape = [1, 2, 3].map((i) => v.getInt16(40 + 2 * i, true));
  const spacing = [1, 2, 3].map((i) => v.getFloat32(76 + 4 * i, true));
  const body = new Uint8Array(raw.subarray(352)); // a copy: a Buffer's .buffer is its whole pool
  return { shape, spacing, data: v.getInt16(70, true) === 16 ? new Float32Array(body.buffer) : body };
}

beforeAll(async () => {
  work = tempDir('dawnet-predict-nifti-');
  await writeSyntheticDataset(join(work, 'data'), { patients: 1, seed: 6, size: S, slicesPerPatient: [6, 6] });
  patient = readdirSync(join(work, 'data')).find((n) => !n.endsWith('.csv'))!;
  folder = join(work, 'data', patient);
  // Slice 3 lost: the volume keeps 6 planes, the third blank.
  unlinkSync(join(folder, `${patient}_3.tif`));
  unlinkSync(join(folder, `${patient}_3_mask.tif`));
  config = { ...defaultConfig('segment'), data: join(work, 'data'), out: join(work, 'run'), size: S, features: 4, depth: 2, batch: 4, workers: 0, normalize: 'zscore' };
  mkdirSync(config.out, { recursive: true });
  dn.setInitSeed(3);
  const { model } = buildModel(config);
  await saveCheckpoint(runFiles(config.out).last, model, null, {});
  model.dispose();
  writeFileSync(join(config.out, 'config.json'), JSON.stringify(config));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('predict --nifti', () => {
  it("stacks a folder's masks, probabilities and FLAIR at z = n - 1, a missing slice blank and named", async () => {
    const out = join(work, 'pred');
    const logs: string[] = [];
    await runPredict(config.out, [folder], out, (m) => logs.push(m), { nifti: true, spacing: [2.5, 0.9, 0.8] });
    const [prob, mask, flair] = ['prob', 'mask', 'flair'].map((k) => readNifti(join(out, `${patient}_${k}.nii.gz`)));
    for (const v of [prob, mask, flair]) {
      expect(v.shape).toEqual([S, S, 6]);
      // dz, dy, dx given; the header stores dx, dy, dz (float32 of 0.9 and 0.8).
      expect(v.spacing).toEqual([Math.fround(0.8), Math.fround(0.9), 2.5]);
    }
    expect(mask.data).toBeInstanceOf(Uint8Array);
    const plane = S * S;
    for (let n = 1; n <= 6; n++) {
      const at = (n - 1) * plane;
      if (n === 3) {
        for (const v of [prob, mask, flair]) expect(v.data.subarray(at, at + plane).every((x) => x === 0)).toBe(true);
        continue;
      }
      const png = await decodePng(readFileSync(join(out, `${patient}_${n}_mask.png`)));
      expect(Array.from(mask.data.subarray(at, at + plane))).toEqual(Array.from(png.data, (b) => (b ? 1 : 0)));
      expect(Array.from(prob.data.subarray(at, at + plane), (p) => (p >= 0.5 ? 1 : 0))).toEqual(Array.from(mask.data.subarray(at, at + plane)));
      const rgb = sliceToRgb(readFileSync(join(folder, `${patient}_${n}.tif`)), 'slice', S);
      expect(Array.from(flair.data.subarray(at, at + plane))).toEqual(Array.from({ length: plane }, (_, p) => rgb[p * 3 + 1]));
    }
    expect(logs.some((m) => m.includes('slices 3 missing: blank planes'))).toBe(true);
    const record = JSON.parse(readFileSync(join(out, 'predictions.json'), 'utf8'));
    expect(record.nifti).toEqual({ spacing: [2.5, 0.9, 0.8] });
    expect(record.folders[0]).toMatchObject({ missingSlices: [3], volumes: ['prob', 'mask', 'flair'].map((k) => `${out}/${patient}_${k}.nii.gz`) });
  });

  it('refuses, before anything runs: a folder with two slices of one number, slices alone, a classify run, spacing without nifti', async () => {
    const twice = join(work, 'twice', patient);
    mkdirSync(twice, { recursive: true });
    for (const f of readdirSync(folder)) copyFileSync(join(folder, f), join(twice, f));
    copyFileSync(join(folder, `${patient}_2.tif`), join(twice, `other_2.tif`));
    const out = join(work, 'refused');
    await expect(runPredict(config.out, [twice], out, () => {}, { nifti: true })).rejects.toThrow(/holds two slices numbered 2/);
    await expect(runPredict(config.out, [join(folder, `${patient}_1.tif`)], out, () => {}, { nifti: true })).rejects.toThrow('predict: nifti writes one volume per patient folder');
    await expect(runPredict(config.out, [folder], out, () => {}, { spacing: [1, 1, 1] })).rejects.toThrow('predict: spacing sizes the NIfTI volumes');
    const cls = join(work, 'cls-run');
    mkdirSync(cls, { recursive: true });
    writeFileSync(join(cls, 'config.json'), JSON.stringify({ ...defaultConfig('classify'), data: config.data, out: cls, size: S }));
    await expect(runPredict(cls, [folder], out, () => {}, { nifti: true })).rejects.toThrow('predict: nifti stacks segmentation masks into volumes, and this run is classify');
    expect(existsSync(out)).toBe(false);
  });
});
