// `dawnet predict --explain` (runPredict's explain): a classify run writes NAME_gradcam.png, the
// slice under dn.train.gradCam's map drawn by heatmapOverlay, with the same TTA as p(tumour), which
// explaining leaves unchanged; predictions.json records it, and a segment run is refused. The run
// folder is made directly (config and weights of an untrained model), as predict-inputs does.

import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import * as dn from '../../src/index.js';
import { defaultConfig, type TrainConfig } from '../../src/app/config.js';
import { buildModel } from '../../src/app/model.js';
import { runPredict, sliceToRgb } from '../../src/app/predict-job.js';
import { runFiles } from '../../src/app/run-dir.js';
import { scanLgg } from '../../src/data/lgg.js';
import { writeSyntheticDataset } from '../../src/data/synth.js';
import { decodePng } from '../../src/io/png.js';
import { Conv2d } from '../../src/nn/layers.js';
import type { Module } from '../../src/nn/module.js';
import { heatmapOverlay } from '../../src/report/heatmap.js';
import { toRgb8 } from '../../src/report/overlay.js';
import { saveCheckpoint } from '../../src/train/checkpoint.js';
import { tempDir } from '../cli/helpers.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

const S = 32;
let work = '';
let config: TrainConfig;
let model: Module;
let slices: string[] = [];

beforeAll(async () => {
  work = tempDir('dawnet-predict-explain-');
  await writeSyntheticDataset(join(work, 'data'), { patients: 1, seed: 5, size: S, slicesPerPatient: [3, 3] });
  slices = (await scanLgg(join(work, 'data'), { size: S })).slices.slice(0, 2).map((s) => s.imagePath);
  // normalize 'none': the model sees the slice as decoded, so the test can feed it the same.
  config = { ...defaultConfig('classify'), data: join(work, 'data'), out: join(work, 'run'), size: S, widthScale: 1 / 16, normalize: 'none', workers: 0, batch: 2 };
  mkdirSync(config.out, { recursive: true });
  dn.setInitSeed(12);
  model = buildModel(config).model;
  await saveCheckpoint(runFiles(config.out).last, model, null, {});
  writeFileSync(join(config.out, 'config.json'), JSON.stringify(config));
});
afterAll(() => {
  model.dispose();
  rmSync(work, { recursive: true, force: true });
});

describe('predict --explain', () => {
  it('writes each slice under its Grad-CAM map, the same TTA as p(tumour), which it leaves as it was', async () => {
    const out = join(work, 'explained');
    // The model runs once per view for p(tumour) and the map together: VGG16's 13 convs (each
    // fused with its ReLU) per view, two views (flip), two slices.
    const convs = vi.spyOn(Conv2d.prototype, 'forwardRelu');
    const results = await runPredict(config.out, slices, out, () => {}, { explain: true, tta: 'flip' });
    expect(convs).toHaveBeenCalledTimes(2 * 2 * 13);
    convs.mockRestore();
    const plain = await runPredict(config.out, slices, join(work, 'plain'), () => {}, { tta: 'flip' });
    expect(results.map((r) => r.probability)).toEqual(plain.map((r) => r.probability));
    model.eval();
    for (const [i, r] of results.entries()) {
      expect(r.outputs).toEqual([`${out}/${slices[i].split('/').pop()!.replace('.tif', '')}_gradcam.png`]);
      const rgb = sliceToRgb(readFileSync(slices[i]), slices[i], S);
      const x = dn.tensor(rgb, [1, S, S, 3]);
      const cam = dn.train.gradCam(model, x, { tta: 'flip' });
      const want = heatmapOverlay(toRgb8(rgb, S, S), await cam.toArray());
      x.dispose();
      cam.dispose();
      const got = await decodePng(readFileSync(r.outputs[0]));
      expect([got.width, got.height, got.channels]).toEqual([S, S, 3]);
      expect(Buffer.from(got.data).equals(Buffer.from(want.data))).toBe(true);
      // Somewhere the map is drawn: the picture is not the bare slice.
      expect(Buffer.from(got.data).equals(Buffer.from(toRgb8(rgb, S, S).data))).toBe(false);
    }
    const record = JSON.parse(readFileSync(join(out, 'predictions.json'), 'utf8'));
    expect(record.explain).toBe('grad-cam');
    // The same folder without explain holds predictions made otherwise: refused, naming the setting.
    await expect(runPredict(config.out, slices, out, () => {}, { tta: 'flip' })).rejects.toThrow(/^predict: .* holds predictions made with another explain/);
  });

  it('refuses explain for a segment run, and a non-boolean', async () => {
    const segment = join(work, 'segment-run');
    mkdirSync(segment, { recursive: true });
    writeFileSync(join(segment, 'config.json'), JSON.stringify({ ...defaultConfig('segment'), data: config.data, out: segment, size: S }));
    await expect(runPredict(segment, slices, join(work, 'seg-out'), () => {}, { explain: true })).rejects.toThrow(
      "predict: explain draws a classifier's Grad-CAM, and this run is segment",
    );
    await expect(runPredict(config.out, slices, join(work, 'x'), () => {}, { explain: 'yes' as never })).rejects.toBeInstanceOf(dn.ArgumentError);
  });
});
