// SGD with optional momentum (PyTorch's formulation: the buffer starts as the first gradient;
// without momentum there is no buffer, as in PyTorch).

import { sgdUpdate } from '../kernels/optimizer.js';
import { ArgumentError } from '../errors.js';
import { expectOptionalBoolean, expectOptionalNumber, expectOptions } from '../graph/args.js';
import type { Tensor } from '../graph/tensor.js';
import { expectOptimizerOptions, Optimizer, type NamedParameter, type OptimizerSetting } from './optimizer.js';

export interface SgdOptions {
  lr?: number;
  momentum?: number;
  nesterov?: boolean;
  weightDecay?: number;
}

const OPTIONS = ['lr', 'momentum', 'nesterov', 'weightDecay'] as const;

export class SGD extends Optimizer {
  readonly momentum: number;
  readonly nesterov: boolean;
  readonly weightDecay: number;

  constructor(params: NamedParameter[] | Tensor[], opts: SgdOptions = {}) {
    super(params, opts?.lr === undefined ? 0.01 : opts.lr, 'SGD');
    expectOptions('SGD', opts, '{ lr: 0.01, momentum: 0.9 }');
    expectOptimizerOptions('SGD', opts, OPTIONS);
    // At 1 or more the momentum buffer never forgets a gradient, and the steps grow without bound.
    expectOptionalNumber('SGD', 'momentum', opts.momentum, { min: 0, below: 1 });
    expectOptionalNumber('SGD', 'weightDecay', opts.weightDecay, { min: 0 });
    expectOptionalBoolean('SGD', 'nesterov', opts.nesterov);
    // Nesterov's look-ahead is along the momentum buffer: without one it would be plain SGD, silently.
    if (opts.nesterov && !opts.momentum) throw new ArgumentError(`SGD: nesterov needs a momentum > 0 (as in PyTorch), got momentum ${opts.momentum ?? 0}`);
    this.momentum = opts.momentum ?? 0;
    this.nesterov = opts.nesterov ?? false;
    this.weightDecay = opts.weightDecay ?? 0;
  }

  // Nesterov reads the same buffer (buf = mu buf + g) as plain momentum: a change is warned of on resume, not refused.
  override hyperparameters(): Record<string, OptimizerSetting> {
    return { momentum: this.momentum, nesterov: this.nesterov, weightDecay: this.weightDecay };
  }

  protected update(p: NamedParameter): void {
    if (this.momentum === 0) {
      sgdUpdate(p.tensor, p.tensor.grad!, null, { lr: this.lr, momentum: 0, nesterov: false, l2: this.weightDecay, first: true });
      return;
    }
    const { tensor: buf, fresh } = this.slot(p, 'momentum');
    sgdUpdate(p.tensor, p.tensor.grad!, buf, {
      lr: this.lr,
      momentum: this.momentum,
      nesterov: this.nesterov,
      l2: this.weightDecay,
      first: fresh,
    });
  }
}
