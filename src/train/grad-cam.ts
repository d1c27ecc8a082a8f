// dn.train.gradCam: where in the image a classifier's score comes from (Selvaraju et al., Grad-CAM,
// 2017, shown on VGG16). The feature map A of a late conv layer is weighted channel by channel by
// the spatial mean of the score's gradient over that channel, summed over channels and passed
// through a ReLU (the evidence for the score, not against it); each image's map is then scaled to
// [0, 1] by its maximum and resized (bilinear) to the input's size.
//
// The score is the logit, before the classifier's sigmoid: the sigmoid's derivative is one positive
// factor per image, which the scaling removes, except where the probability saturates at 1 in
// float32 and the gradient underflows to zero. Everything runs on the GPU; nothing is recorded and
// no weight's .grad changes (dn.gradients hands the gradient back).
//
// gradCamWithOutput also hands back the model's output from the same forwards (the head's last
// layer run on the scores), which is what predict --explain prints: a second forward through
// VGG16 for p(tumour) would double the work of explaining a slice.

import { ArgumentError, ShapeError } from '../errors.js';
import { describeValue, expectChoice, expectKnownOptions, expectOptions, expectTensor, nchwHint } from '../graph/args.js';
import { enableGrad, noGrad } from '../graph/autograd.js';
import { gradients } from '../graph/gradients.js';
import { reshape } from '../graph/reshape.js';
import { scope } from '../graph/scope.js';
import { type Tensor, zeros } from '../graph/tensor.js';
import { flip } from '../data/augment.js';
import { arithmetic, unary } from '../kernels/elementwise.js';
import { max } from '../kernels/extrema.js';
import { imagenetPreprocess } from '../kernels/preprocess.js';
import { mean, sum } from '../kernels/reduce.js';
import { slice } from '../kernels/slice.js';
import { upsample2d } from '../kernels/upsample.js';
import { Vgg16, VggClassifier } from '../models/vgg16.js';
import { Module } from '../nn/module.js';
import { EnsembleModel, membersMean } from './ensemble.js';
import { mirrorMean, TTA_MODES, type TtaMode } from './tta.js';

/** A model cut in two at the feature map Grad-CAM reads. */
export interface GradCamParts {
  /** The input [N, H, W, C] to the feature map [N, h, w, K]. */
  features: (x: Tensor) => Tensor;
  /** The feature map to the scores [N, classes]: logits, not probabilities. */
  score: (a: Tensor) => Tensor;
  /** The scores to the model's output (the classifier's sigmoid); without it the output is the scores. */
  output?: (scores: Tensor) => Tensor;
}

/** A Grad-CAM map and the model's output, from the same forward passes (gradCamWithOutput). */
export interface GradCamWithOutput {
  /** [N, H, W] in [0, 1], as gradCam returns it. */
  map: Tensor;
  /** What predictWithTta(model, x, tta) gives: the forward's output, averaged as it averages. */
  output: Tensor;
}

export interface GradCamOptions {
  /** VGG16's features layer whose output is the map (default its last ReLU, 'block5_relu3'). */
  layer?: string;
  /** The score's column (default 0: p(tumour)'s logit for the classifier). */
  output?: number;
  /** 'flip': the mean with the map of the left-right mirror, mirrored back (predict's TTA). */
  tta?: TtaMode;
}

const LAST_RELU = 'block5_relu3';

/**
 * Grad-CAM maps [N, H, W] in [0, 1] for the images x [N, H, W, C]: VGG16 with its top, the
 * tumour classifier, an ensemble of either (the mean of their maps), or any model cut in two.
 * A module runs in eval mode (no dropout), whatever its mode, which is restored afterwards.
 */
export function gradCam(model: Module | GradCamParts, x: Tensor, options: GradCamOptions = {}): Tensor {
  const { map, output } = explain('gradCam', model, x, options);
  output.dispose();
  return map;
}

/**
 * gradCam's map and, from the same forwards, the model's output as predictWithTta(model, x, tta)
 * gives it (the same values: the head's last layer run on the scores, members and mirrors averaged
 * in the same order), so a caller who shows both runs the model once per view instead of twice.
 */
export function gradCamWithOutput(model: Module | GradCamParts, x: Tensor, options: GradCamOptions = {}): GradCamWithOutput {
  return explain('gradCamWithOutput', model, x, options);
}

function explain(op: string, model: Module | GradCamParts, x: Tensor, options: GradCamOptions): GradCamWithOutput {
  expectTensor(op, 'x', x);
  if (x.rank !== 4) throw new ShapeError(`${op}: x must be images [N, H, W, C], got ${x.describe()}`);
  expectOptions(op, options, "{ layer: 'block5_relu3', output: 0 }");
  expectKnownOptions(op, options, ['layer', 'output', 'tta']);
  expectChoice(op, 'tta', options.tta, TTA_MODES);
  const output = options.output ?? 0;
  if (!Number.isInteger(output) || output < 0) throw new ArgumentError(`${op}: output must be a score column, 0 or more, got ${describeValue(output)}`);
  const members = model instanceof EnsembleModel ? model.members : [model];
  const restore = model instanceof Module ? model.saveTrainingModes() : null;
  if (model instanceof Module) model.eval();
  const tta = (options.tta ?? 'none') !== 'none';
  try {
    return noGrad(() =>
      scope(() => {
        // A scope each: one member's activations are freed before the next member runs.
        const perMember = members.map((m) =>
          scope(() => {
            const parts = partsOf(m, options.layer);
            if (m instanceof Module) expectInput(m, x);
            const direct = mapOf(op, parts, x, output);
            if (!tta) return { map: direct.map, outputs: [direct.output] };
            const mirrored = mapOf(op, parts, flip(x, { horizontal: true }), output);
            return { map: mirrorMean(direct.map, mirrored.map), outputs: [direct.output, mirrored.output] };
          }),
        );
        const [n, h, w] = x.shape;
        const map = reshape(membersMean(perMember.map((v) => v.map)), [n, h, w]);
        // The outputs as predictWithTta over an EnsembleModel averages them, with the same two
        // helpers: each view's mean over the members, then the views' mean.
        const overMembers = (view: number) => membersMean(perMember.map((v) => v.outputs[view]));
        return { map, output: tta ? mirrorMean(overMembers(0), overMembers(1)) : overMembers(0) };
      }),
    );
  } finally {
    restore?.();
  }
}

/** One model's map [N, H, W, 1], scaled to [0, 1] per image, and its output for x. */
function mapOf(op: string, parts: GradCamParts, x: Tensor, output: number): { map: Tensor; output: Tensor } {
  const a = parts.features(x);
  if (a.rank !== 4 || a.shape[0] !== x.shape[0]) throw new ShapeError(`${op}: the features must be a map [N, h, w, K] for the ${x.shape[0]} images, got ${a.describe()}`);
  const leaf = a.share();
  leaf.requiresGrad = true;
  const scores = enableGrad(() => parts.score(leaf));
  const [n, classes] = scores.shape;
  if (scores.rank !== 2 || n !== x.shape[0]) throw new ShapeError(`${op}: the scores must be [N, classes] for the ${x.shape[0]} images, got ${scores.describe()}`);
  if (output >= classes) throw new ArgumentError(`${op}: output ${output} is not one of the ${classes} score column(s)`);
  const modelOutput = parts.output ? parts.output(scores) : scores.share();
  // Each image's score depends on its own map only: one backward of their sum gives every image's.
  const picked = enableGrad(() => sum(slice(scores, [0, output], [n, 1])));
  const g = picked.requiresGrad ? gradients(picked, leaf) : null;
  const weights = mean(g ?? zeros(a.shape), [1, 2], true);
  const cam = unary('relu', sum(arithmetic('mul', a, weights), 3, true));
  const peak = max(cam, [1, 2, 3], true);
  // A map with no positive evidence stays 0 (0 / tiny), not NaN.
  const scaled = arithmetic('div', cam, arithmetic('add', peak, 1e-30));
  return { map: upsample2d(scaled, { size: [x.shape[1], x.shape[2]], mode: 'bilinear' }), output: modelOutput };
}

/**
 * The checks the model's forward makes of x, which gradCam runs in two parts around: else a wrong
 * size surfaces as a dense layer's mismatch, and NCHW data as a conv's, saying nothing of x.
 */
function expectInput(model: Module, x: Tensor): void {
  if (model instanceof VggClassifier && model.inputProblem(x)) {
    const { inputSize, inChannels } = model;
    throw new ShapeError(`gradCam: the classifier takes [N, ${inputSize}, ${inputSize}, ${inChannels}] images (inputSize), got x ${x.describe()}${nchwHint(x.shape, inChannels)}`);
  }
  if (model instanceof Vgg16 && !model.takesSize(x)) throw new ShapeError(`gradCam: VGG16 with its top takes 224x224 images, got x ${x.describe()}`);
}

/** The classifier and VGG16 cut at `layer`; other modules must be given as parts. */
function partsOf(model: Module | GradCamParts, layer: string | undefined): GradCamParts {
  if (!(model instanceof Module)) {
    if (typeof model?.features !== 'function' || typeof model?.score !== 'function') {
      throw new ArgumentError(`gradCam: model must be VGG16, the VGG classifier, an ensemble of them, or { features, score } functions, got ${describeValue(model)}`);
    }
    if (layer !== undefined) throw new ArgumentError('gradCam: layer names a VGG16 layer; { features, score } choose their map themselves');
    return model;
  }
  const vgg = model instanceof VggClassifier ? model.base : model instanceof Vgg16 ? model : null;
  if (!vgg) throw new ArgumentError(`gradCam: cannot cut ${model.constructor.name} into features and scores; pass { features, score } functions`);
  if (model instanceof Vgg16 && !model.top) throw new ArgumentError('gradCam: VGG16 without its top gives no scores; use includeTop, or { features, score }');
  const names = vgg.features.namedChildren().map(([name]) => name);
  const cut = names.indexOf(layer ?? LAST_RELU) + 1;
  if (cut === 0) throw new ArgumentError(`gradCam: VGG16 has no layer '${layer}'; its features are ${names.join(', ')}`);
  const head = model instanceof VggClassifier ? model.head : null;
  return {
    features: (x) => vgg.features.forwardRange(vgg.preprocess === 'none' ? x : imagenetPreprocess(x, vgg.preprocess), 0, cut),
    score: (a) => {
      const f = vgg.features.forwardRange(a, cut, names.length);
      // The classifier's head ends in its sigmoid: the logit is the layer before.
      return head ? head.forwardRange(f, 0, head.layers.length - 1) : vgg.top!.forward(f);
    },
    ...(head ? { output: (scores: Tensor) => head.forwardRange(scores, head.layers.length - 1, head.layers.length) } : {}),
  };
}
