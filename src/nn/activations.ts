// Activation layers: each wraps one element-wise op (Softmax its row op), with the constant some
// take checked when the layer is made.

import { expectNumber } from '../graph/args.js';
import type { Tensor } from '../graph/tensor.js';
import { unary } from '../kernels/elementwise.js';
import { softmax } from '../kernels/softmax.js';
import { Module } from './module.js';
import { noArguments } from './options.js';

/** What ReLU-like layers say to PyTorch's inplace flag, the one argument they are commonly given. */
const NO_INPLACE = "PyTorch's inplace has no counterpart (ops make new tensors)";

export class ReLU extends Module {
  constructor(...args: []) {
    super();
    noArguments('ReLU', args, NO_INPLACE);
  }
  forward(x: Tensor): Tensor {
    return unary('relu', x);
  }
}

export class Sigmoid extends Module {
  constructor(...args: []) {
    super();
    noArguments('Sigmoid', args, 'it has no options');
  }
  forward(x: Tensor): Tensor {
    return unary('sigmoid', x);
  }
}

export class Tanh extends Module {
  constructor(...args: []) {
    super();
    noArguments('Tanh', args, 'it has no options');
  }
  forward(x: Tensor): Tensor {
    return unary('tanh', x);
  }
}

export class LeakyReLU extends Module {
  constructor(readonly slope = 0.01) {
    super();
    expectNumber('LeakyReLU', 'slope', slope);
  }
  override extraRepr(): string {
    return `slope ${this.slope}`;
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
  override extraRepr(): string {
    return `alpha ${this.alpha}`;
  }
  forward(x: Tensor): Tensor {
    return unary('elu', x, this.alpha);
  }
}

/** x · sigmoid(x) (swish). */
export class SiLU extends Module {
  constructor(...args: []) {
    super();
    noArguments('SiLU', args, NO_INPLACE);
  }
  forward(x: Tensor): Tensor {
    return unary('silu', x);
  }
}

/** Softmax over the last axis (the channels of NHWC, the classes of [N, C]). */
export class Softmax extends Module {
  /** dim -1 (PyTorch's and Keras's axis=-1) may be given; any other axis is refused. */
  constructor(...args: [dim?: -1]) {
    super();
    const why = "it runs over the last axis, the channels of NHWC (dim 1 is PyTorch's NCHW channels; -1 here)";
    noArguments('Softmax', args[0] === -1 ? args.slice(1) : args, why);
  }
  forward(x: Tensor): Tensor {
    return softmax(x);
  }
}
