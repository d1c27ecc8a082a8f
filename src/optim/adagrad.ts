// Adagrad, as torch.optim.Adagrad: at a parameter's update t (1-based, its own count of updates,
// PyTorch's per-parameter step: a step without a gradient leaves it)
//   clr = lr / (1 + (t-1) lr_decay);  g += weight_decay p;  sum += g²;  p -= clr g / (sqrt(sum) + eps)
// with `sum` starting at initial_accumulator_value. The decayed rate is worked out here from t and
// the current `lr`, so a schedule or ReduceLROnPlateau that lowers lr composes with lr_decay as it
// does in PyTorch (which reads group['lr'] every step).
//
// State slot (saved in checkpoints as `<param>.sum`): the running sum of squared gradients.

import { adagradUpdate } from '../kernels/optimizer.js';
import { expectOptionalNumber, expectOptions } from '../graph/args.js';
import type { Tensor } from '../graph/tensor.js';
import { expectOptimizerOptions, Optimizer, type NamedParameter, type OptimizerSetting } from './optimizer.js';

export interface AdagradOptions {
  lr?: number;
  lrDecay?: number;
  /** L2 penalty added to the gradient (PyTorch's weight_decay). */
  weightDecay?: number;
  initialAccumulatorValue?: number;
  eps?: number;
}

const OPTIONS = ['lr', 'lrDecay', 'weightDecay', 'initialAccumulatorValue', 'eps'] as const;

export class Adagrad extends Optimizer {
  readonly lrDecay: number;
  readonly weightDecay: number;
  readonly initialAccumulatorValue: number;
  readonly eps: number;

  constructor(params: NamedParameter[] | Tensor[], opts: AdagradOptions = {}) {
    super(params, opts?.lr === undefined ? 0.01 : opts.lr, 'Adagrad');
    expectOptions('Adagrad', opts, '{ lr: 0.01, lrDecay: 0 }');
    expectOptimizerOptions('Adagrad', opts, OPTIONS);
    for (const k of ['lrDecay', 'weightDecay', 'initialAccumulatorValue', 'eps'] as const) {
      expectOptionalNumber('Adagrad', k, opts[k], { min: 0 });
    }
    this.lrDecay = opts.lrDecay ?? 0;
    this.weightDecay = opts.weightDecay ?? 0;
    this.initialAccumulatorValue = opts.initialAccumulatorValue ?? 0;
    this.eps = opts.eps ?? 1e-10;
  }

  override hyperparameters(): Record<string, OptimizerSetting> {
    const { lrDecay, weightDecay, initialAccumulatorValue, eps } = this;
    return { lrDecay, weightDecay, initialAccumulatorValue, eps };
  }

  // The decay counts the parameter's own updates, as PyTorch's per-parameter step does.
  protected update(p: NamedParameter, t: number): void {
    const sum = this.slot(p, 'sum', this.initialAccumulatorValue).tensor;
    adagradUpdate(p.tensor, p.tensor.grad!, sum, {
      clr: this.lr / (1 + (t - 1) * this.lrDecay),
      l2: this.weightDecay,
      eps: this.eps,
    });
  }
}
