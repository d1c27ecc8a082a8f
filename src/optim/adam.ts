// Adam and AdamW. Defaults follow PyTorch (eps 1e-8, eps after bias correction); `Adam.keras()`
// gives Keras's (eps 1e-7 applied to the raw second moment, lr 0.001).
//
// Bias correction counts each parameter's own updates, as PyTorch does (its per-parameter `step`
// state), or, with `biasCorrection: 'optimizer-steps'` (Adam.keras's), the optimiser's steps, as
// Keras's `iterations` does. The two agree while every parameter has a gradient at every step.
// They part for a parameter that takes its first step late, e.g. a base unfrozen after 1000 steps
// of training the head: counted by the optimiser, its fresh moments at step 1001 are corrected as
// if 1001 steps old (1 - 0.999^1001 = 0.63 where its own count divides by 0.001), so its first
// update is about 2.5 lr instead of lr, and the excess fades over the next few thousand steps.

import { adamUpdate } from '../kernels/optimizer.js';
import { ArgumentError } from '../errors.js';
import { expectChoice, expectOptionalNumber, expectOptions } from '../graph/args.js';
import type { Tensor } from '../graph/tensor.js';
import { checkParams, expectOptimizerOptions, Optimizer, type NamedParameter, type OptimizerSetting } from './optimizer.js';

export interface AdamOptions {
  lr?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** L2 penalty for Adam, decoupled decay for AdamW. */
  weightDecay?: number;
  epsilonMode?: 'pytorch' | 'keras';
  /**
   * What the bias correction counts: 'parameter-steps' (default, PyTorch's), each parameter's own
   * updates; 'optimizer-steps' (Keras's, Adam.keras's default), the optimiser's steps.
   */
  biasCorrection?: BiasCorrection;
}

export type BiasCorrection = 'parameter-steps' | 'optimizer-steps';
const BIAS_CORRECTIONS: readonly BiasCorrection[] = ['parameter-steps', 'optimizer-steps'];

/**
 * Adam.keras's options: Keras's names (learningRate, epsilon) or dawnet's (lr, eps), one of each
 * pair. weightDecay is Adam's L2 penalty, not Keras's weight_decay, which is decoupled (AdamW).
 */
export interface AdamKerasOptions {
  learningRate?: number;
  lr?: number;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  eps?: number;
  weightDecay?: number;
  biasCorrection?: BiasCorrection;
}

const OPTIONS = ['lr', 'beta1', 'beta2', 'eps', 'weightDecay', 'epsilonMode', 'biasCorrection'] as const;
const KERAS_OPTIONS = ['learningRate', 'lr', 'beta1', 'beta2', 'epsilon', 'eps', 'weightDecay', 'biasCorrection'] as const;
const NUMBER_KERAS_OPTIONS = ['learningRate', 'lr', 'beta1', 'beta2', 'epsilon', 'eps', 'weightDecay'] as const;

export class Adam extends Optimizer {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  readonly epsilonMode: 'pytorch' | 'keras';
  readonly biasCorrection: BiasCorrection;
  protected decoupled = false;

  /** `op` names the optimiser in errors about its arguments (AdamW passes its own name). */
  constructor(params: NamedParameter[] | Tensor[], opts: AdamOptions = {}, op = 'Adam') {
    super(params, opts?.lr === undefined ? 1e-3 : opts.lr, op);
    expectOptions(op, opts, '{ lr: 1e-3, beta1: 0.9, beta2: 0.999 }');
    expectOptimizerOptions(op, opts, OPTIONS);
    for (const beta of ['beta1', 'beta2'] as const) expectOptionalNumber(op, beta, opts[beta], { min: 0, below: 1 });
    expectOptionalNumber(op, 'eps', opts.eps, { min: 0 });
    expectOptionalNumber(op, 'weightDecay', opts.weightDecay, { min: 0 });
    expectChoice(op, 'epsilonMode', opts.epsilonMode, ['pytorch', 'keras']);
    expectChoice(op, 'biasCorrection', opts.biasCorrection, BIAS_CORRECTIONS);
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0;
    this.epsilonMode = opts.epsilonMode ?? 'pytorch';
    this.biasCorrection = opts.biasCorrection ?? 'parameter-steps';
  }

  /**
   * Keras's Adam: lr 0.001, beta1 0.9, beta2 0.999, epsilon 1e-7 on the raw second moment, bias
   * correction by the optimiser's steps. Takes Keras's names (learningRate, epsilon) as well as
   * dawnet's (lr, eps).
   */
  static keras(params: NamedParameter[] | Tensor[], opts: AdamKerasOptions = {}): Adam {
    const op = 'Adam.keras';
    checkParams(op, params);
    expectOptions(op, opts, '{ learningRate: 0.001, epsilon: 1e-7 }');
    expectOptimizerOptions(op, opts, KERAS_OPTIONS);
    for (const [keras, ours] of [['learningRate', 'lr'], ['epsilon', 'eps']] as const) {
      if (opts[keras] !== undefined && opts[ours] !== undefined) throw new ArgumentError(`${op}: give ${keras} or ${ours}, not both (they are one option)`);
    }
    for (const k of NUMBER_KERAS_OPTIONS) expectOptionalNumber(op, k, opts[k], k.startsWith('beta') ? { min: 0, below: 1 } : { min: 0 });
    expectChoice(op, 'biasCorrection', opts.biasCorrection, BIAS_CORRECTIONS);
    const { learningRate, epsilon, ...rest } = opts;
    // Checked above under this op's name; the optimiser itself is an Adam (its kind in checkpoints).
    return new Adam(params, {
      ...rest,
      lr: learningRate ?? opts.lr,
      eps: epsilon ?? opts.eps ?? 1e-7,
      epsilonMode: 'keras',
      biasCorrection: opts.biasCorrection ?? 'optimizer-steps',
    });
  }

  // epsilonMode and biasCorrection change the update, not what m and v hold: warned of on resume, not refused.
  override hyperparameters(): Record<string, OptimizerSetting> {
    const { beta1, beta2, eps, weightDecay, epsilonMode, biasCorrection } = this;
    return { beta1, beta2, eps, weightDecay, epsilonMode, biasCorrection };
  }

  protected update(p: NamedParameter, t: number): void {
    const m = this.slot(p, 'm').tensor;
    const v = this.slot(p, 'v').tensor;
    adamUpdate(p.tensor, p.tensor.grad!, m, v, {
      lr: this.lr,
      beta1: this.beta1,
      beta2: this.beta2,
      eps: this.eps,
      step: this.biasCorrection === 'parameter-steps' ? t : this.stepCount,
      epsilonMode: this.epsilonMode,
      l2: this.decoupled ? 0 : this.weightDecay,
      decoupled: this.decoupled ? this.weightDecay : 0,
    });
  }
}

/** AdamW: decoupled weight decay (default 0.01, as PyTorch). */
export class AdamW extends Adam {
  constructor(params: NamedParameter[] | Tensor[], opts: AdamOptions = {}) {
    // Checked before the spread, which would turn a string into an object of its characters.
    expectOptions('AdamW', opts, '{ lr: 1e-3, weightDecay: 0.01 }');
    // An option given as undefined takes its default, as everywhere else (a spread would keep it).
    super(params, { ...opts, weightDecay: opts.weightDecay ?? 0.01 }, 'AdamW');
    this.decoupled = true;
  }
}
