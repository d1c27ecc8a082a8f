// An ensemble of models: the mean of their outputs, p = (f₁(x) + … + fₖ(x)) / k, as nnU-Net
// averages the softmax outputs of its five cross-validation folds. The outputs are what eval and
// predict treat as probabilities, so averaging them (not logits) keeps the 0.5 threshold's meaning.
// Inference only: a forward on the tape would train every member on the ensemble's loss.

import { expectTensor } from '../graph/args.js';
import { scope } from '../graph/scope.js';
import { formatShape, type Tensor } from '../graph/tensor.js';
import { ArgumentError, ShapeError } from '../errors.js';
import { isRecording } from '../graph/autograd.js';
import { arithmetic } from '../kernels/elementwise.js';
import { Module } from '../nn/module.js';

/**
 * A model whose forward is the mean of `members`' forwards, so code that calls forward (evaluate,
 * predictWithTta) runs the ensemble unchanged. The members are its children: eval() reaches their
 * batch norms, and dispose() frees them all.
 */
export class EnsembleModel extends Module {
  readonly members: readonly Module[];

  constructor(members: readonly Module[]) {
    super();
    if (!Array.isArray(members) || members.length < 1 || !members.every((m) => m instanceof Module)) {
      throw new ArgumentError('EnsembleModel: members must be a non-empty array of Modules');
    }
    this.members = members.slice();
    this.members.forEach((m, i) => this.addModule(`member${i}`, m));
  }

  /** The members' mean output; under noGrad only (see the header), and of one shape across members. */
  forward(x: Tensor): Tensor {
    expectTensor('EnsembleModel.forward', 'x', x);
    if (isRecording() && this.trainableParameters().length) {
      throw new ArgumentError('EnsembleModel: inference only; run its forward under dn.noGrad (a recorded forward would train every member on the ensemble\'s loss), or freeze() it');
    }
    if (this.members.length === 1) return this.members[0].forward(x);
    return scope(() => {
      const outputs: Tensor[] = [];
      for (const [i, m] of this.members.entries()) {
        const y = m.forward(x);
        if (i > 0 && formatShape(y.shape) !== formatShape(outputs[0].shape)) {
          throw new ShapeError(`EnsembleModel: member${i} gives ${formatShape(y.shape)} where member0 gives ${formatShape(outputs[0].shape)}; the members must give outputs of one shape to be averaged`);
        }
        outputs.push(y);
      }
      return membersMean(outputs);
    });
  }
}

/**
 * The members' mean, summed in turn, times 1/members (one member: its output as it is): the
 * ensemble's average, which gradCam takes too so that its output is the ensemble's to the bit.
 */
export function membersMean(outputs: readonly Tensor[]): Tensor {
  if (outputs.length === 1) return outputs[0];
  return arithmetic('mul', outputs.reduce((a, b) => arithmetic('add', a, b)), 1 / outputs.length);
}
