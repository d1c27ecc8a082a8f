// Conv1d(inChannels, outChannels, { kernelSize, stride, padding, dilation, bias, init, seed }): a
// layer over sequences [N, L, C] (TensorFlow's channels-last; PyTorch's Conv1d on [N, C, L]
// transposed), weight [k, in, out] as Keras's Conv1D, calling dn.conv1d. Default k 3, 'same', as
// Conv2d's here. A Conv1d followed by a ReLU in a Sequential stays two layers (forwardRelu fuses it
// for whoever calls it).

import type { Tensor } from '../graph/tensor.js';
import { conv1d, type Conv1dOptions } from '../kernels/conv1d.js';
import { checkConvLayer, convParams } from './conv-params.js';
import type { InitName } from './init.js';
import { Module } from './module.js';

export interface Conv1dLayerOptions {
  kernelSize?: number;
  stride?: number;
  padding?: Conv1dOptions['padding'];
  dilation?: number;
  bias?: boolean;
  init?: InitName;
  seed?: number;
}

export class Conv1d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(readonly inChannels: number, readonly outChannels: number, readonly opts: Conv1dLayerOptions = {}) {
    super();
    checkConvLayer('Conv1d', inChannels, outChannels, opts, ['kernelSize', 'stride', 'padding', 'dilation', 'bias', 'init', 'seed'], "{ kernelSize: 5, padding: 'same' }", ['kernelSize', 'stride', 'dilation']);
    const p = convParams('Conv1d', [opts.kernelSize ?? 3, inChannels, outChannels], outChannels, opts);
    this.weight = this.addParameter('weight', p.weight);
    this.bias = p.bias && this.addParameter('bias', p.bias);
  }
  override extraRepr(): string {
    return `${this.inChannels}→${this.outChannels}, k ${this.opts.kernelSize ?? 3}, stride ${this.opts.stride ?? 1}, padding ${JSON.stringify(this.opts.padding ?? 'same')}`;
  }
  forward(x: Tensor): Tensor {
    return this.convolve(x, 'none');
  }
  /** This layer then a ReLU, fused into the conv's kernels. */
  forwardRelu(x: Tensor): Tensor {
    return this.convolve(x, 'relu');
  }
  private convolve(x: Tensor, activation: 'none' | 'relu'): Tensor {
    const o = this.opts;
    return conv1d(x, this.weight, this.bias, { stride: o.stride ?? 1, padding: o.padding ?? 'same', dilation: o.dilation ?? 1, activation });
  }
}
