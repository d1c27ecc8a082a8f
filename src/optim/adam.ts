// Adam and AdamW. Defaults follow PyTorch (eps 1e-8, eps after bias correction); `Adam.keras()`
// gives Keras's (eps 1e-7 applied to the raw second moment, lr 0.001).

import { adamUpdate } from '../kernels/optimizer.js';
import { expectChoice, expectOptionalNumber, expectOptions } from '../graph/args.js';
import type { Tensor } from '../graph/tensor.js';
import { Optimizer, type NamedParameter } from './optimizer.js';

export interface AdamOptions {
  lr?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** L2 penalty for Adam, decoupled decay for AdamW. */
  weightDecay?: number;
  epsilonMode?: 'pytorch' | 'keras';
}

export class Adam extends Optimizer {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  readonly epsilonMode: 'pytorch' | 'keras';
  protected decoupled = false;

  /** `op` names the optimiser in errors about its arguments (AdamW passes its own name). */
  constructor(params: NamedParameter[] | Tensor[], opts: AdamOptions = {}, op = 'Adam') {
    super(params, opts.lr ?? 1e-3, op);
    expectOptions(op, opts, '{ lr: 1e-3, beta1: 0.9, beta2: 0.999 }');
    for (const beta of ['beta1', 'beta2'] as const) expectOptionalNumber(op, beta, opts[beta], { min: 0, below: 1 });
    expectOptionalNumber(op, 'eps', opts.eps, { min: 0 });
    expectOptionalNumber(op, 'weightDecay', opts.weightDecay, { min: 0 });
    expectChoice(op, 'epsilonMode', opts.epsilonMode, ['pytorch', 'keras']);
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0;
    this.epsilonMode = opts.epsilonMode ?? 'pytorch';
  }

  /** Keras's Adam: lr 0.001, beta1 0.9, beta2 0.999, epsilon 1e-7 on the raw second moment. */
  static keras(params: NamedParameter[] | Tensor[], opts: AdamOptions = {}): Adam {
    return new Adam(params, { eps: 1e-7, epsilonMode: 'keras', ...opts });
  }

  protected update(p: NamedParameter): void {
    const m = this.slot(p, 'm').tensor;
    const v = this.slot(p, 'v').tensor;
    adamUpdate(p.tensor, p.tensor.grad!, m, v, {
      lr: this.lr,
      beta1: this.beta1,
      beta2: this.beta2,
      eps: this.eps,
      step: this.stepCount,
      epsilonMode: this.epsilonMode,
      l2: this.decoupled ? 0 : this.weightDecay,
      decoupled: this.decoupled ? this.weightDecay : 0,
    });
  }
}

/** AdamW: decoupled weight decay (default 0.01, as PyTorch). */
export class AdamW extends Adam {
  constructor(params: NamedParameter[] | Tensor[], opts: AdamOptions = {}) {
    super(params, { weightDecay: 0.01, ...opts }, 'AdamW');
    this.decoupled = true;
  }
}
