// The Segment panel with a classifier's checkpoint (`dawnet train classify`): each slice gets
// p(tumour), as `dawnet predict` prints it, and its Grad-CAM map drawn over it, as
// `dawnet predict --explain` writes NAME_gradcam.png (dn.train.gradCam: where in the slice the
// score comes from), both under the TTA in force and over the ensemble of the checkpoints given.
// The model is rebuilt from the checkpoint's architecture. Since 2026-11-28 it records whether
// ImageNet's preprocessing is inside the model (a run with --weights and --normalize imagenet);
// for an older checkpoint the page takes it as absent, and says so.

import * as dn from '../src/index.js';
import { predictOne } from '../src/app/predict-job.js';
import { heatmapOverlay } from '../src/report/heatmap.js';
import { toRgb8 } from '../src/report/overlay.js';
import type { TtaMode } from '../src/train/tta.js';
import { figure } from './canvas.js';
import type { SliceInput } from './slice-input.js';

export interface ClassifierArchitecture {
  name: 'vggClassifier';
  inputSize: number;
  widthScale: number;
  /** ImageNet's 'caffe' preprocessing inside the model; absent in checkpoints before 2026-11-28. */
  preprocess?: 'caffe' | 'none';
}

/** VGG16's five 2x2 poolings: a classifier's input side is a multiple of 2^5. */
export const CLASSIFIER_DEPTH = 5;

/** The classifier's architecture from a checkpoint's metadata, checked field by field. */
export function readClassifierArchitecture(a: Record<string, unknown>, file: string): ClassifierArchitecture {
  const { inputSize, widthScale, preprocess } = a;
  if (!Number.isInteger(inputSize) || (inputSize as number) <= 0 || (inputSize as number) % 2 ** CLASSIFIER_DEPTH !== 0) {
    throw new dn.FormatError(`${file}: the classifier's input size ${JSON.stringify(inputSize)} is not a positive multiple of 32`);
  }
  if (typeof widthScale !== 'number' || !(widthScale > 0) || !(widthScale <= 1)) {
    throw new dn.FormatError(`${file}: the classifier's width scale ${JSON.stringify(widthScale)} is not in (0, 1]`);
  }
  if (preprocess !== undefined && preprocess !== 'caffe' && preprocess !== 'none') {
    throw new dn.FormatError(`${file}: the classifier's preprocessing ${JSON.stringify(preprocess)} is neither 'caffe' nor 'none'`);
  }
  return { name: 'vggClassifier', inputSize: inputSize as number, widthScale, ...(preprocess ? { preprocess } : {}) };
}

export function buildClassifier(arch: ClassifierArchitecture): dn.Module {
  return dn.models.vggClassifier({ inputSize: arch.inputSize, widthScale: arch.widthScale, preprocess: arch.preprocess ?? 'none' });
}

/** The model-info words for a classifier, and the note on an older checkpoint's preprocessing. */
export function describeClassifier(arch: ClassifierArchitecture): { kind: string; note: string | null } {
  const pre = arch.preprocess === 'caffe' ? ", ImageNet's preprocessing inside" : '';
  return {
    kind: `VGG16 classifier, width ${arch.widthScale}, ${arch.inputSize}×${arch.inputSize}${pre}`,
    note:
      arch.preprocess === undefined
        ? "This checkpoint predates the record of ImageNet's preprocessing: the page runs the model without it, which is right unless the run had --weights and --normalize imagenet (dawnet predict on the run folder is exact)."
        : null,
  };
}

export interface Classified {
  pTumour: number;
  /** The Grad-CAM map, [size, size] in [0, 1]. */
  heat: Float32Array;
}

/** p(tumour) and the Grad-CAM map of one slice, both under `tta` (and the ensemble, where it is one), as predict --explain computes them. */
export async function classifySlice(model: dn.Module, s: SliceInput, tta: TtaMode): Promise<Classified> {
  const { out, map } = await predictOne(model, dn.tensor(s.input, [1, s.size, s.size, 3]), tta, true);
  return { pTumour: out[0], heat: map! };
}

/** The card's figures for a classified slice: the MRI, and the MRI under its Grad-CAM map. */
export function classifiedFigures(s: SliceInput, c: Classified): HTMLElement[] {
  const rgb8 = toRgb8(s.rgb, s.size, s.size);
  return [
    figure(rgb8, 'MRI (pre-contrast, FLAIR, post-contrast as RGB)', 'mri'),
    figure(heatmapOverlay(rgb8, c.heat), 'Grad-CAM: where p(tumour) comes from (jet, blended in proportion)', 'gradcam'),
  ];
}

/** The card's words for a classified slice. */
export function classifiedWords(c: Classified): string {
  return `p(tumour) ${c.pTumour.toFixed(4)}: ${c.pTumour >= 0.5 ? 'tumour' : 'no tumour'} (at 0.5)`;
}
