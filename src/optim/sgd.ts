// SGD with optional momentum (PyTorch's formulation: the buffer starts as the first gradient).

import { sgdUpdate } from '../kernels/optimizer.js';
import { expectOptionalNumber, expectOptions } from '../graph/args.js';
import type { Tensor } from '../graph/tensor.js';
import { Optimizer, type NamedParameter } from './optimizer.js';

export interface SgdOptions {
  lr?: number;
  momentum?: number;
  nesterov?: boolean;
  weightDecay?: number;
}

export class SGD extends Optimizer {
  readonly momentum: number;
  readonly nesterov: boolean;
  readonly weightDecay: number;

  constructor(params: NamedParameter[] | Tensor[], opts: SgdOptions = {}) {
    super(params, opts.lr ?? 0.01, 'SGD');
    expectOptions('SGD', opts, '{ lr: 0.01, momentum: 0.9 }');
    expectOptionalNumber('SGD', 'momentum', opts.momentum, { min: 0 });
    expectOptionalNumber('SGD', 'weightDecay', opts.weightDecay, { min: 0 });
    this.momentum = opts.momentum ?? 0;
    this.nesterov = opts.nesterov ?? false;
    this.weightDecay = opts.weightDecay ?? 0;
  }

  protected update(p: NamedParameter): void {
    const { tensor: buf, fresh } = this.slot(p, 'momentum');
    sgdUpdate(p.tensor, p.tensor.grad!, buf, {
      lr: this.lr,
      momentum: this.momentum,
      nesterov: this.nesterov,
      l2: this.weightDecay,
      first: fresh || this.momentum === 0,
    });
  }
}
