// Builds a run's model, loss and validation metrics from its config.

import { ArgumentError } from '../errors.js';
import type { Tensor } from '../graph/tensor.js';
import { bceDiceLoss, bceLoss, diceLoss } from '../kernels/loss.js';
import { focalLoss } from '../kernels/focal-loss.js';
import { focalTverskyLoss, tverskyLoss } from '../kernels/overlap-loss.js';
import { unet } from '../models/unet.js';
import { unet3d } from '../models/unet3d.js';
import { vggClassifier } from '../models/vgg16.js';
import type { Module } from '../nn/module.js';
import { setInitSeed } from '../nn/init.js';
import { binaryReport, segmentationReport } from '../train/metrics.js';
import type { MetricFn, TrainMetric } from '../train/fit.js';
import { Adagrad } from '../optim/adagrad.js';
import { Adam, AdamW } from '../optim/adam.js';
import type { NamedParameter, Optimizer } from '../optim/optimizer.js';
import { RMSprop } from '../optim/rmsprop.js';
import { SGD } from '../optim/sgd.js';
import type { TrainConfig } from './config.js';

export interface RunModel {
  model: Module;
  loss: (pred: Tensor, target: Tensor) => Tensor;
  /** Per training batch: accuracy (classify) or soft Dice (segment), for the progress bar and logs. */
  trainMetric: TrainMetric;
  metrics: Record<string, MetricFn>;
  architecture: Record<string, unknown>;
}

/**
 * The run's loss: BCE or the focal loss for classification; Dice, BCE, BCE + Dice, Tversky, focal
 * Tversky or the focal loss (each with its defaults) for segmentation. eval rebuilds it from the
 * stored config for the test loss.
 */
export function lossFor(c: TrainConfig): (pred: Tensor, target: Tensor) => Tensor {
  if (c.loss === 'focal') return (p, y) => focalLoss(p, y);
  if (c.task === 'classify' || c.loss === 'bce') return (p, y) => bceLoss(p, y);
  if (c.loss === 'bce+dice') return (p, y) => bceDiceLoss(p, y);
  if (c.loss === 'tversky') return (p, y) => tverskyLoss(p, y);
  if (c.loss === 'focal-tversky') return (p, y) => focalTverskyLoss(p, y);
  return (p, y) => diceLoss(p, y);
}

/**
 * The run's optimiser at the config's learning rate. classify takes Keras's conventions where the
 * two differ (its notebook is Keras: epsilon under the square root, bias correction by the
 * optimiser's steps), segment PyTorch's; the other settings are each library's
 * defaults, with SGD's momentum 0.9 (plain SGD at these rates barely moves a U-Net).
 */
export function optimizerFor(c: TrainConfig, params: NamedParameter[]): Optimizer {
  const keras = c.task === 'classify';
  switch (c.optimizer ?? 'adam') {
    case 'adam':
      return keras ? Adam.keras(params, { lr: c.lr }) : new Adam(params, { lr: c.lr });
    case 'adamw':
      return new AdamW(params, { lr: c.lr, ...(keras ? { eps: 1e-7, epsilonMode: 'keras' as const, biasCorrection: 'optimizer-steps' as const } : {}) });
    case 'sgd':
      return new SGD(params, { lr: c.lr, momentum: 0.9 });
    case 'rmsprop':
      return keras ? RMSprop.keras(params, { learningRate: c.lr }) : new RMSprop(params, { lr: c.lr });
    case 'adagrad':
      return new Adagrad(params, { lr: c.lr });
  }
}

export function buildModel(c: TrainConfig): RunModel {
  setInitSeed(c.seed);
  if (c.task === 'classify') {
    // ImageNet's preprocessing is inside the model where the base has ImageNet weights: recorded, so
    // that a checkpoint without its run folder (the web page) rebuilds the same model.
    const preprocess = c.normalize === 'imagenet' && c.weights ? 'caffe' : 'none';
    const architecture = { name: 'vggClassifier', inputSize: c.size, widthScale: c.widthScale, hidden: 256, dropout: 0.3, preprocess };
    const model = vggClassifier({ inputSize: c.size, widthScale: c.widthScale, freezeBase: c.weights !== null, preprocess });
    const metrics: Record<string, MetricFn> = {
      accuracy: (s) => binaryReport(s.pred, s.target).accuracy,
      auc: (s) => binaryReport(s.pred, s.target).auc,
      sensitivity: (s) => binaryReport(s.pred, s.target).recall,
      specificity: (s) => binaryReport(s.pred, s.target).specificity,
    };
    // Accuracy on the host from the batch's predictions and labels ([B, 1] each).
    const accuracy: TrainMetric = { name: 'accuracy', tensors: (p, y) => [p.share(), y.share()], value: ([p, y]) => binaryReport(p, y).accuracy };
    return { model, loss: lossFor(c), trainMetric: accuracy, metrics, architecture };
  }
  const norm = c.norm ?? 'batch';
  const attention = c.attention === true;
  const volumes = (c.volumeDepth ?? 0) > 0;
  const architecture = volumes
    ? { name: 'unet3d', features: c.features, depth: c.depth, inChannels: 3, outChannels: 1, norm, patchDepth: c.volumeDepth }
    : { name: 'unet', features: c.features, depth: c.depth, norm, inChannels: 3, outChannels: 1, ...(attention ? { attention } : {}) };
  // Not part of the architecture: the weights are the same either way, only the memory differs.
  const model = volumes
    ? unet3d({ features: c.features, depth: c.depth, inChannels: 3, norm, checkpoint: c.checkpointActivations === true })
    : unet({ features: c.features, depth: c.depth, norm, attention, checkpoint: c.checkpointActivations === true });
  const loss = lossFor(c);
  const seg = (s: Parameters<MetricFn>[0]) => {
    const { pred, target, sampleSize, volumes } = scoredSlices(s, c);
    return segmentationReport(pred, target, sampleSize, { emptyPolicy: c.emptyPolicy, volumes });
  };
  const metrics: Record<string, MetricFn> = {
    dice: (s) => seg(s).dicePerSlice,
    dice_volume: (s) => seg(s).dicePerVolume,
    iou: (s) => seg(s).iouPerSlice,
  };
  // Soft Dice of the batch, 1 - diceLoss: one reduction on the GPU, read back with the loss.
  const softDice: TrainMetric = { name: 'soft_dice', tensors: (p, y) => [diceLoss(p, y)], value: ([l]) => 1 - l[0] };
  return { model, loss, trainMetric: softDice, metrics, architecture };
}

/**
 * A validation set's samples as the metrics count them: slices. A 3-D run's samples are patches
 * of volumeDepth planes, so each is split into its planes, each plane under its patch's volume, and
 * only the planes the set's `counted` flags are kept: evaluation tiles overlap and thin volumes are
 * padded (lggVolumeDataset), and a plane seen twice, or a blank padding plane that scores a
 * perfect empty slice, would skew the mean. val_dice is then per slice, each slice once, as a 2-D
 * run's (eval scores each slice once too, from whole-volume predictions).
 */
function scoredSlices(s: Parameters<MetricFn>[0], c: TrainConfig): { pred: Float32Array; target: Float32Array; sampleSize: number; volumes?: string[] } {
  const slice = (c.volumeDepth ?? 0) > 0 ? c.size * c.size : s.sampleSize;
  const perSample = s.sampleSize / slice;
  const volumes = perSample === 1 ? s.volumes : s.volumes?.flatMap((v) => Array<string>(perSample).fill(v));
  if (!s.counted) return { pred: s.pred, target: s.target, sampleSize: slice, volumes };
  const n = s.pred.length / slice;
  if (s.counted.length !== n) throw new ArgumentError(`validation metrics: the set's counted has ${s.counted.length} flags but its predictions hold ${n} slices of ${slice} values`);
  const kept = s.counted.flatMap((keep, i) => (keep ? [i] : []));
  const take = (values: Float32Array) => {
    const out = new Float32Array(kept.length * slice);
    kept.forEach((i, k) => out.set(values.subarray(i * slice, (i + 1) * slice), k * slice));
    return out;
  };
  return { pred: take(s.pred), target: take(s.target), sampleSize: slice, volumes: volumes && kept.map((i) => volumes[i]) };
}
