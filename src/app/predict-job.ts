// `dawnet predict`: runs a trained run's model on TIFF slices. Segmentation writes, per slice,
// the probability map, the binary mask and an overlay of the predicted outline (red) on the MRI,
// as the notebook draws with OpenCV contours; classification prints and saves p(tumour).
// With tta 'flip' each probability is the mean over the slice and its left-right mirror.

import { resizeBilinear } from '../data/lgg.js';
import { zscoreImages } from '../data/normalize.js';
import { decodeTiff } from '../data/tiff.js';
import { noGrad } from '../graph/autograd.js';
import { expectChoice } from '../graph/args.js';
import { tensor } from '../graph/tensor.js';
import { nodeFs, readFileBytes, writeFileAtomic } from '../io/files.js';
import { encodePng } from '../io/png.js';
import { loadCheckpoint } from '../train/checkpoint.js';
import { predictWithTta, TTA_MODES, type TtaMode } from '../train/tta.js';
import { overlay, probabilityToGray, toRgb8 } from '../report/overlay.js';
import { buildModel } from './model.js';
import { fileExists, readConfig, runFiles, useRunTuning, writeJson } from './run-dir.js';

export interface Prediction {
  file: string;
  /** classify: p(tumour); segment: fraction of pixels predicted tumour. */
  probability?: number;
  tumourPixels?: number;
  outputs: string[];
}

/** A TIFF slice as [size, size, 3] floats in 0..1 (gray replicated, alpha dropped). */
export function sliceToRgb(bytes: Uint8Array, name: string, size: number): Float32Array {
  const img = decodeTiff(bytes, name);
  const scale = img.data instanceof Uint16Array ? 1 / 65535 : 1 / 255;
  const rgb = new Float32Array(img.width * img.height * 3);
  for (let p = 0; p < img.width * img.height; p++) {
    for (let c = 0; c < 3; c++) rgb[3 * p + c] = img.data[p * img.channels + Math.min(c, img.channels - 1)] * scale;
  }
  return img.width === size && img.height === size ? rgb : resizeBilinear(rgb, img.width, img.height, 3, size, size);
}

const baseName = (path: string): string => (path.split('/').pop() ?? path).replace(/\.tiff?$/i, '');

export async function runPredict(runDir: string, images: string[], outDir: string, log: (m: string) => void, opts: { tta?: TtaMode } = {}): Promise<Prediction[]> {
  expectChoice('predict', 'tta', opts.tta, TTA_MODES);
  const tta = opts.tta ?? 'none';
  const c = await readConfig(runDir);
  const files = runFiles(runDir);
  const { model } = buildModel(c);
  const ckpt = (await fileExists(files.best)) ? files.best : files.last;
  await loadCheckpoint(ckpt, model);
  await useRunTuning(runDir, log);
  model.eval();
  await (await nodeFs()).mkdir(outDir, { recursive: true });
  const results: Prediction[] = [];
  const size = c.size;
  for (const path of images) {
    const rgb = sliceToRgb(await readFileBytes(path), path, size);
    const input = Float32Array.from(rgb);
    // A lone slice has no volume: per-volume runs fall back to the slice's own statistics.
    if (c.normalize === 'zscore' || c.normalize === 'zscore-volume') zscoreImages(input, 1, size * size, 3);
    const x = tensor(input, [1, size, size, 3]);
    const y = noGrad(() => predictWithTta(model, x, tta));
    const out = await y.toArray();
    x.dispose();
    y.dispose();
    const name = baseName(path);
    if (c.task === 'classify') {
      results.push({ file: path, probability: out[0], outputs: [] });
      log(`${path}: p(tumour) = ${out[0].toFixed(4)}`);
      continue;
    }
    const mask = out.map((p) => (p >= 0.5 ? 1 : 0));
    const outputs = [`${outDir}/${name}_prob.png`, `${outDir}/${name}_mask.png`, `${outDir}/${name}_overlay.png`];
    const maskImg = { width: size, height: size, channels: 1 as const, data: Uint8Array.from(mask, (m) => m * 255) };
    await writeFileAtomic(outputs[0], await encodePng(probabilityToGray(out, size, size)));
    await writeFileAtomic(outputs[1], await encodePng(maskImg));
    await writeFileAtomic(outputs[2], await encodePng(overlay(toRgb8(rgb, size, size), undefined, out, { fillAlpha: 0.25 })));
    const tumourPixels = mask.reduce((a, b) => a + b, 0);
    results.push({ file: path, tumourPixels, outputs });
    log(`${path}: ${tumourPixels} tumour pixels -> ${outputs.join(', ')}`);
  }
  model.dispose();
  await writeJson(`${outDir}/predictions.json`, { run: runDir, checkpoint: ckpt, task: c.task, tta, predictions: results });
  return results;
}
