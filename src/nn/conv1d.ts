// Conv1d(inChannels, outChannels, { kernelSize, stride, padding, dilation, bias, init, seed }): a
// layer over sequences [N, L, C] (TensorFlow's channels-last; PyTorch's Conv1d on [N, C, L]
// transposed), weight [k, in, out] as Keras's Conv1D, calling dn.conv1d. Default k 3, 'same', as
// Conv2d's here. A Conv1d followed by a ReLU in a Sequential stays two layers (forwardRelu fuses it
// for whoever calls it).

import { expectChoice, expectNumber, expectOptionalBoolean, expectOptionalNumber } from '../graph/args.js';
import { tensor, type Tensor } from '../graph/tensor.js';
import { conv1d, type Conv1dOptions } from '../kernels/conv1d.js';
import { INIT_NAMES, initValues, nextSeed, type InitName } from './init.js';
import { Module } from './module.js';
import { expectLayerOptions } from './options.js';

export interface Conv1dLayerOptions {
  kernelSize?: number;
  stride?: number;
  padding?: Conv1dOptions['padding'];
  dilation?: number;
  bias?: boolean;
  init?: InitName;
  seed?: number;
}

const count = (role: string, v: unknown): void => expectNumber('Conv1d', role, v, { integer: true, min: 1 });

export class Conv1d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(readonly inChannels: number, readonly outChannels: number, readonly opts: Conv1dLayerOptions = {}) {
    super();
    count('inChannels', inChannels);
    count('outChannels', outChannels);
    expectLayerOptions('Conv1d', opts, ['kernelSize', 'stride', 'padding', 'dilation', 'bias', 'init', 'seed'], "{ kernelSize: 5, padding: 'same' }");
    for (const role of ['kernelSize', 'stride', 'dilation'] as const) if (opts[role] !== undefined) count(role, opts[role]);
    expectOptionalBoolean('Conv1d', 'bias', opts.bias);
    expectChoice('Conv1d', 'init', opts.init, INIT_NAMES);
    expectOptionalNumber('Conv1d', 'seed', opts.seed);
    const shape = [opts.kernelSize ?? 3, inChannels, outChannels];
    this.weight = this.addParameter('weight', tensor(initValues(opts.init ?? 'glorotUniform', shape, opts.seed ?? nextSeed()), shape, { requiresGrad: true }));
    this.bias = opts.bias === false ? null : this.addParameter('bias', tensor(new Float32Array(outChannels), [outChannels], { requiresGrad: true }));
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
