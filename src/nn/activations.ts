// Activation layers: each wraps one element-wise op (Softmax its row op), with the constant some
// take checked when the layer is made.

import { expectNumber } from '../graph/args.js';
import type { Tensor } from '../graph/tensor.js';
import { unary } from '../kernels/elementwise.js';
import { softmax } from '../kernels/softmax.js';
import { Module } from './module.js';

export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return unary('relu', x);
  }
}

export class Sigmoid extends Module {
  forward(x: Tensor): Tensor {
    return unary('sigmoid', x);
  }
}

export class Tanh extends Module {
  forward(x: Tensor): Tensor {
    return unary('tanh', x);
  }
}

export class LeakyReLU extends Module {
  constructor(readonly slope = 0.01) {
    super();
    expectNumber('LeakyReLU', 'slope', slope);
  }
  forward(x: Tensor): Tensor {
    return unary('leakyRelu', x, this.slope);
  }
}

export class ELU extends Module {
  constructor(readonly alpha = 1) {
    super();
    expectNumber('ELU', 'alpha', alpha);
  }
  forward(x: Tensor): Tensor {
    return unary('elu', x, this.alpha);
  }
}

/** x · sigmoid(x) (swish). */
export class SiLU extends Module {
  forward(x: Tensor): Tensor {
    return unary('silu', x);
  }
}

/** Softmax over the last axis (the channels of NHWC, the classes of [N, C]). */
export class Softmax extends Module {
  forward(x: Tensor): Tensor {
    return softmax(x);
  }
}
