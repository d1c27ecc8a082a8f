// A 3-D run's predictions for eval: each patient volume of the slices given is stacked
// (lggVolumes: slice n at plane n − 1, a missing number a blank plane), normalised as the run
// trained, and predicted whole by sliding windows of the run's patch depth, half a window apart
// (slidingWindowDepth), optionally averaged with the prediction of its mirror image (--tta flip).
// The set comes back slice by slice, the blank planes left out, so eval scores it exactly as a 2-D
// run's: Dice per slice and per volume, the surface distances, the post-processing. The test loss
// is the mean over volumes of the run's loss on the whole volume. predict (predict-job.ts) runs
// its patient folders through predictStack the same way.

import { lggVolumes, loadLggVolume, type VolumeNormalization } from '../data/lgg-volumes.js';
import type { LggSlice } from '../data/lgg.js';
import { noGrad } from '../graph/autograd.js';
import { scope } from '../graph/scope.js';
import { tensor, type Tensor } from '../graph/tensor.js';
import type { Module } from '../nn/module.js';
import type { EvalSet } from '../train/fit.js';
import { slidingWindowDepth, type WindowWeighting } from '../train/sliding-window.js';
import { predictWithTta, type TtaMode } from '../train/tta.js';
import type { TrainConfig } from './config.js';
import { lossFor } from './model.js';

/**
 * One stacked volume through the model: `images` [d, S, S, 3] as the run's input (normalised;
 * blank planes 0), predicted whole by windows of the run's patch depth half a window apart
 * (averaged as `weighting` says), with `tta` 'flip' averaged with its mirror image. The probabilities [d, S, S], and with `masks` the
 * run's loss on the whole volume. The model must be in eval mode.
 */
export async function predictStack(c: TrainConfig, model: Module, images: Float32Array, o: { tta: TtaMode; weighting: WindowWeighting; masks?: Float32Array }): Promise<{ pred: Float32Array; loss: number | null }> {
  const { tta, weighting, masks } = o;
  const s = c.size;
  const d = images.length / (s * s * 3);
  const forward = (p: Tensor): Tensor => predictWithTta(model, p, tta);
  const made = noGrad(() => scope(() => {
    const pred = slidingWindowDepth(forward, tensor(images, [1, d, s, s, 3]), { window: c.volumeDepth!, weighting });
    return { pred, loss: masks ? lossFor(c)(pred, tensor(masks, [1, d, s, s, 1])) : null };
  }));
  try {
    return { pred: await made.pred.toArray(), loss: made.loss ? (await made.loss.toArray())[0] : null };
  } finally {
    made.pred.dispose();
    made.loss?.dispose();
  }
}

/**
 * The model's whole-volume predictions over `slices` (a 3-D run's: c.volumeDepth > 0) and the
 * mean loss, as predictSet gives a 2-D run's; `slices` comes back in the set's order (volume by
 * volume, by slice number).
 */
export async function predictVolumeSet(c: TrainConfig, model: Module, slices: LggSlice[], tta: TtaMode, weighting: WindowWeighting = 'uniform'): Promise<{ loss: number; set: EvalSet; slices: LggSlice[] }> {
  const volumes = lggVolumes(slices);
  const plane = c.size * c.size;
  const order: LggSlice[] = [];
  const preds: Float32Array[] = [];
  const targets: Float32Array[] = [];
  const names: string[] = [];
  let total = 0;
  const restoreModes = model.saveTrainingModes();
  model.eval();
  try {
    for (const v of volumes) {
      const { images, masks } = await loadLggVolume(v, c.size, { normalize: c.normalize as VolumeNormalization });
      const { pred, loss } = await predictStack(c, model, images, { tta, weighting, masks });
      total += loss!;
      for (const [z, s] of v.planes.entries()) {
        if (!s) continue;
        order.push(s);
        preds.push(pred.slice(z * plane, (z + 1) * plane));
        targets.push(masks.slice(z * plane, (z + 1) * plane));
        names.push(v.patient);
      }
    }
  } finally {
    restoreModes();
  }
  const join = (parts: Float32Array[]) => {
    const out = new Float32Array(parts.length * plane);
    parts.forEach((p, i) => out.set(p, i * plane));
    return out;
  };
  return { loss: total / volumes.length, set: { pred: join(preds), target: join(targets), sampleSize: plane, volumes: names }, slices: order };
}
