// RMSprop, as torch.optim.RMSprop by default (lr 0.01, alpha 0.99, eps 1e-8 added after the
// square root, lr applied outside the momentum buffer), or as Keras 3's keras.optimizers.RMSprop
// through `RMSprop.keras()` (lr 0.001, rho 0.9, epsilon 1e-7).
//
// Keras's update_step (keras/src/optimizers/rmsprop.py) differs in two places, both followed here:
//   denominator = velocity + epsilon            (or velocity - average_grad² + epsilon, centred)
//   increment   = lr * gradient / sqrt(denominator)     -- epsilon under the square root
//   momentum    = momentum_coef * momentum + increment;  variable -= momentum
// so the learning rate goes into the momentum buffer: after a schedule lowers the rate, Keras's
// buffer still carries increments taken at the old rate, where PyTorch's rescales all of it.
// Keras's docstring example (var 10, lr 0.1, one step of gradient 10 -> 9.683772) is a test case.
//
// State slots (saved in checkpoints as `<param>.<slot>`): squareAvg always, gradAvg when
// centred, momentum when momentum > 0, each starting at zero as in both libraries.

import { rmspropUpdate } from '../kernels/optimizer.js';
import { expectChoice, expectOptionalBoolean, expectOptionalNumber, expectOptions } from '../graph/args.js';
import type { Tensor } from '../graph/tensor.js';
import { checkParams, expectOptimizerOptions, Optimizer, type NamedParameter, type OptimizerSetting } from './optimizer.js';

export interface RmspropOptions {
  lr?: number;
  /** Smoothing constant of the squared-gradient average. */
  alpha?: number;
  eps?: number;
  /** L2 penalty added to the gradient (PyTorch's weight_decay). */
  weightDecay?: number;
  momentum?: number;
  /** Divide by an estimate of the gradient's variance (v - mean²) instead of its second moment. */
  centered?: boolean;
  /** 'keras': epsilon under the square root and the learning rate inside the momentum buffer. */
  convention?: 'pytorch' | 'keras';
}

/** Keras's names and defaults: learningRate 0.001, rho 0.9, epsilon 1e-7, momentum 0, centered false. */
export interface RmspropKerasOptions {
  learningRate?: number;
  rho?: number;
  epsilon?: number;
  momentum?: number;
  centered?: boolean;
}

const PYTORCH_OPTIONS = ['lr', 'alpha', 'eps', 'weightDecay', 'momentum', 'centered', 'convention'] as const;
const KERAS_OPTIONS = ['learningRate', 'rho', 'epsilon', 'momentum', 'centered'] as const;

export class RMSprop extends Optimizer {
  readonly alpha: number;
  readonly eps: number;
  readonly weightDecay: number;
  readonly momentum: number;
  readonly centered: boolean;
  readonly convention: 'pytorch' | 'keras';

  constructor(params: NamedParameter[] | Tensor[], opts: RmspropOptions = {}) {
    super(params, opts?.lr === undefined ? 0.01 : opts.lr, 'RMSprop');
    expectOptions('RMSprop', opts, '{ lr: 0.01, alpha: 0.99, momentum: 0.9 }');
    expectOptimizerOptions('RMSprop', opts, PYTORCH_OPTIONS);
    expectOptionalNumber('RMSprop', 'alpha', opts.alpha, { min: 0, max: 1 });
    for (const k of ['eps', 'weightDecay', 'momentum'] as const) expectOptionalNumber('RMSprop', k, opts[k], { min: 0 });
    expectOptionalBoolean('RMSprop', 'centered', opts.centered);
    expectChoice('RMSprop', 'convention', opts.convention, ['pytorch', 'keras']);
    this.alpha = opts.alpha ?? 0.99;
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0;
    this.momentum = opts.momentum ?? 0;
    this.centered = opts.centered ?? false;
    this.convention = opts.convention ?? 'pytorch';
  }

  /** Keras 3's RMSprop, with Keras's option names (learningRate, rho, epsilon). */
  static keras(params: NamedParameter[] | Tensor[], opts: RmspropKerasOptions = {}): RMSprop {
    const op = 'RMSprop.keras';
    checkParams(op, params);
    expectOptions(op, opts, '{ learningRate: 0.001, rho: 0.9 }');
    expectOptimizerOptions(op, opts, KERAS_OPTIONS);
    expectOptionalNumber(op, 'learningRate', opts.learningRate, { min: 0 });
    expectOptionalNumber(op, 'rho', opts.rho, { min: 0, max: 1 });
    for (const k of ['epsilon', 'momentum'] as const) expectOptionalNumber(op, k, opts[k], { min: 0 });
    expectOptionalBoolean(op, 'centered', opts.centered);
    return new RMSprop(params, {
      lr: opts.learningRate ?? 0.001,
      alpha: opts.rho ?? 0.9,
      eps: opts.epsilon ?? 1e-7,
      momentum: opts.momentum,
      centered: opts.centered,
      convention: 'keras',
    });
  }

  override hyperparameters(): Record<string, OptimizerSetting> {
    return { alpha: this.alpha, eps: this.eps, weightDecay: this.weightDecay, momentum: this.momentum, centered: this.centered };
  }

  // The two conventions' momentum buffers differ by a factor of the learning rate, so a checkpoint
  // of one would take the other's first steps lr times too large or too small, silently; whatever
  // the momentum, the convention is the optimiser's identity and a mismatch is refused.
  protected override stateConvention(): string {
    return this.convention;
  }

  protected override conventionAdvice(convention: string): string {
    const build = convention === 'keras' ? "RMSprop.keras(params, { learningRate, rho, epsilon, momentum }) (or convention: 'keras')" : "new RMSprop(params, { lr, alpha, eps, momentum }) (convention 'pytorch', the default)";
    return `their momentum buffers differ by a factor of the learning rate (Keras keeps it inside). Resume with the convention it was saved with: ${build}`;
  }

  protected update(p: NamedParameter): void {
    rmspropUpdate(
      p.tensor,
      p.tensor.grad!,
      {
        squareAvg: this.slot(p, 'squareAvg').tensor,
        gradAvg: this.centered ? this.slot(p, 'gradAvg').tensor : null,
        buf: this.momentum > 0 ? this.slot(p, 'momentum').tensor : null,
      },
      { lr: this.lr, alpha: this.alpha, eps: this.eps, l2: this.weightDecay, momentum: this.momentum, convention: this.convention },
    );
  }
}
