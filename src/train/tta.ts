// Test-time augmentation (TTA): the model's probability averaged over the image and its mirror
// image (a volume [N, D, H, W, C]: every plane mirrored). With 'flip', for an output map
// [N, H, W, C] or [N, D, H, W, C] (segmentation)
//   p = (f(x) + flipW(f(flipW(x)))) / 2,
// the second pass flipped back so both terms speak of the same pixel; for an output without a
// width axis (a classifier's p(tumour), [N, 1]) p = (f(x) + f(flipW(x))) / 2. The average is of
// the model's outputs, which eval and predict treat as probabilities and threshold at 0.5.
//
// The flip is augmentation's GPU flip kernel with every sample's horizontal flag set: reversing W
// twice is the identity, and it is not on the tape, so TTA is for inference only.

import { flip } from '../data/augment.js';
import { ArgumentError } from '../errors.js';
import { describeValue, expectChoice, expectTensor } from '../graph/args.js';
import { reshape } from '../graph/reshape.js';
import { scope } from '../graph/scope.js';
import type { Tensor } from '../graph/tensor.js';
import { arithmetic } from '../kernels/elementwise.js';
import { Module } from '../nn/module.js';

export type TtaMode = 'none' | 'flip';
export const TTA_MODES: readonly TtaMode[] = ['none', 'flip'];

/**
 * The model's output for x [N, H, W, C], averaged over the views `mode` names: 'flip' unless told,
 * since a caller of a function named for test-time augmentation means to augment ('none' is the
 * plain forward, for code that takes the mode from a flag).
 */
export function predictWithTta(model: Module, x: Tensor, mode: TtaMode = 'flip'): Tensor {
  if (!(model instanceof Module)) throw new ArgumentError(`predictWithTta: model must be a Module, got ${describeValue(model)}`);
  expectChoice('predictWithTta', 'mode', mode, TTA_MODES, false);
  expectTensor('predictWithTta', 'x', x);
  if (mode === 'none') return model.forward(x);
  return scope(() => mirrorMean(model.forward(x), model.forward(mirrorImages(x))));
}

/**
 * Images [N, H, W, C], or volumes [N, D, H, W, C] plane by plane, mirrored left to right (the
 * flip kernel on [N·D, H, W, C], the same memory); any other rank is returned as it is (a
 * classifier's [N, 1] has no width to mirror).
 */
export function mirrorImages(x: Tensor): Tensor {
  if (x.rank === 4) return flip(x, { horizontal: true });
  if (x.rank !== 5) return x;
  const [n, d, h, w, c] = x.shape;
  return scope(() => reshape(flip(reshape(x, [n * d, h, w, c]), { horizontal: true }), x.shape));
}

/**
 * (direct + mirrored) / 2, a map's mirror flipped back first: TTA's average, which gradCam takes
 * too so that its output is predictWithTta's to the bit.
 */
export function mirrorMean(direct: Tensor, mirrored: Tensor): Tensor {
  const aligned = mirrorImages(mirrored);
  return arithmetic('mul', arithmetic('add', direct, aligned), 0.5);
}

/**
 * A model whose forward is predictWithTta(model, x, mode), so code that calls forward (evaluate)
 * gets TTA unchanged. The wrapped model is its child: disposing either frees the same weights.
 */
export class TtaModel extends Module {
  constructor(
    readonly model: Module,
    readonly mode: TtaMode,
  ) {
    super();
    if (!(model instanceof Module)) throw new ArgumentError(`TtaModel: model must be a Module, got ${describeValue(model)}`);
    expectChoice('TtaModel', 'mode', mode, TTA_MODES, false);
    // Registered as a child so eval() and train() reach its batch norms and dropouts.
    this.addModule('model', model);
  }

  forward(x: Tensor): Tensor {
    return predictWithTta(this.model, x, this.mode);
  }
}
