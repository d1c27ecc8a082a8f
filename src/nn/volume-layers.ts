// The layers for volumes, NDHWC [N, D, H, W, C] (a 3-D U-Net's): Conv3d, ConvTranspose3d, MaxPool3d,
// AvgPool3d, Upsample3d and BatchNorm3d, each checking its arguments when built (naming the layer) and
// calling its op (kernels/conv3d.ts, kernels/pool3d.ts) in forward(). BatchNorm3d is BatchNorm2d
// over the volume's D·H planes: the same statistics per channel, over N, D, H and W.

import { ShapeError } from '../errors.js';
import { expectChoice, expectNumber, expectTensor } from '../graph/args.js';
import { reshape } from '../graph/reshape.js';
import { scope } from '../graph/scope.js';
import type { Tensor } from '../graph/tensor.js';
import { conv3d, type Conv3dOptions } from '../kernels/conv3d.js';
import { convTranspose3d } from '../kernels/conv-transpose3d.js';
import { avgPool3d, maxPool3d, upsample3d } from '../kernels/pool3d.js';
import { convParams } from './conv-params.js';
import type { InitName } from './init.js';
import { BatchNorm2d } from './layers.js';
import { Module } from './module.js';
import { expectLayerOptions } from './options.js';

export interface Conv3dLayerOptions {
  /** A cube's side (default 3). */
  kernelSize?: number;
  stride?: number;
  /** Default 'same' (as Conv2d's here); Keras's Conv3D and PyTorch's default to 'valid' / 0. */
  padding?: Conv3dOptions['padding'];
  bias?: boolean;
  init?: InitName;
  seed?: number;
}

const count = (layer: string, role: string, v: unknown): void => expectNumber(layer, role, v, { integer: true, min: 1 });

/** Conv3d(inChannels, outChannels, { kernelSize, stride, padding, bias, init, seed }): weight [k, k, k, in, out] (Keras's Conv3D). */
export class Conv3d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(readonly inChannels: number, readonly outChannels: number, readonly opts: Conv3dLayerOptions = {}) {
    super();
    count('Conv3d', 'inChannels', inChannels);
    count('Conv3d', 'outChannels', outChannels);
    expectLayerOptions('Conv3d', opts, ['kernelSize', 'stride', 'padding', 'bias', 'init', 'seed'], "{ kernelSize: 3, padding: 'same' }");
    if (opts.kernelSize !== undefined) count('Conv3d', 'kernelSize', opts.kernelSize);
    if (opts.stride !== undefined) count('Conv3d', 'stride', opts.stride);
    const k = opts.kernelSize ?? 3;
    const p = convParams('Conv3d', [k, k, k, inChannels, outChannels], outChannels, opts);
    this.weight = this.addParameter('weight', p.weight);
    this.bias = p.bias && this.addParameter('bias', p.bias);
  }
  override extraRepr(): string {
    const k = this.opts.kernelSize ?? 3;
    return `${this.inChannels}→${this.outChannels}, ${k}x${k}x${k}, stride ${this.opts.stride ?? 1}, padding ${JSON.stringify(this.opts.padding ?? 'same')}`;
  }
  forward(x: Tensor): Tensor {
    return conv3d(x, this.weight, this.bias, { stride: this.opts.stride ?? 1, padding: this.opts.padding ?? 'same' });
  }
}

export interface ConvTranspose3dLayerOptions {
  /** A cube's side (default 2). */
  kernelSize?: number;
  /** Default 2: the U-Net's up step, each voxel becoming a 2x2x2 block. */
  stride?: number;
  bias?: boolean;
  init?: InitName;
  seed?: number;
}

/** ConvTranspose3d(inChannels, outChannels, { kernelSize, stride, bias, init, seed }): weight [k, k, k, out, in] (Keras's Conv3DTranspose), 'valid'. */
export class ConvTranspose3d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(readonly inChannels: number, readonly outChannels: number, readonly opts: ConvTranspose3dLayerOptions = {}) {
    super();
    count('ConvTranspose3d', 'inChannels', inChannels);
    count('ConvTranspose3d', 'outChannels', outChannels);
    expectLayerOptions('ConvTranspose3d', opts, ['kernelSize', 'stride', 'bias', 'init', 'seed'], '{ kernelSize: 2, stride: 2 }');
    if (opts.kernelSize !== undefined) count('ConvTranspose3d', 'kernelSize', opts.kernelSize);
    if (opts.stride !== undefined) count('ConvTranspose3d', 'stride', opts.stride);
    const k = opts.kernelSize ?? 2;
    const p = convParams('ConvTranspose3d', [k, k, k, outChannels, inChannels], outChannels, opts);
    this.weight = this.addParameter('weight', p.weight);
    this.bias = p.bias && this.addParameter('bias', p.bias);
  }
  override extraRepr(): string {
    const k = this.opts.kernelSize ?? 2;
    return `${this.inChannels}→${this.outChannels}, ${k}x${k}x${k}, stride ${this.opts.stride ?? 2}`;
  }
  forward(x: Tensor): Tensor {
    return convTranspose3d(x, this.weight, this.bias, { stride: this.opts.stride ?? 2 });
  }
}

/** A 3-D pool layer: its window (a cube's side) and stride (default the window), checked when built. */
abstract class Pool3d extends Module {
  constructor(layer: string, readonly size = 2, readonly stride = size) {
    super();
    count(layer, 'size', size);
    count(layer, 'stride', stride);
  }
  override extraRepr(): string {
    return `${this.size}x${this.size}x${this.size}, stride ${this.stride}`;
  }
}

/** MaxPool3d(size = 2, stride = size): PyTorch's nn.MaxPool3d without padding. */
export class MaxPool3d extends Pool3d {
  constructor(size = 2, stride = size) {
    super('MaxPool3d', size, stride);
  }
  forward(x: Tensor): Tensor {
    return maxPool3d(x, { size: this.size, stride: this.stride });
  }
}

/** AvgPool3d(size = 2, stride = size): PyTorch's nn.AvgPool3d without padding. */
export class AvgPool3d extends Pool3d {
  constructor(size = 2, stride = size) {
    super('AvgPool3d', size, stride);
  }
  forward(x: Tensor): Tensor {
    return avgPool3d(x, { size: this.size, stride: this.stride });
  }
}

/** Upsample3d(scale = 2, mode = 'nearest'): a whole factor on every axis, 'nearest' or 'trilinear' (PyTorch's nn.Upsample on a volume, align_corners=False). */
export class Upsample3d extends Module {
  constructor(readonly scale = 2, readonly mode: 'nearest' | 'trilinear' = 'nearest') {
    super();
    count('Upsample3d', 'scale', scale);
    expectChoice('Upsample3d', 'mode', mode, ['nearest', 'trilinear']);
  }
  override extraRepr(): string {
    return `scale ${this.scale}, ${this.mode}`;
  }
  forward(x: Tensor): Tensor {
    return upsample3d(x, { scale: this.scale, mode: this.mode });
  }
}

/** BatchNorm3d(channels, { momentum, eps }): PyTorch's, statistics per channel over N, D, H and W. */
export class BatchNorm3d extends BatchNorm2d {
  override forward(x: Tensor): Tensor {
    return this.overPlanes(x, (planes) => super.forward(planes));
  }
  override forwardRelu(x: Tensor): Tensor {
    return this.overPlanes(x, (planes) => super.forwardRelu(planes));
  }
  private overPlanes(x: Tensor, norm: (planes: Tensor) => Tensor): Tensor {
    expectTensor('BatchNorm3d', 'input x', x);
    if (x.rank !== 5) throw new ShapeError(`BatchNorm3d: expects [N, D, H, W, C] input (rank 5), got ${x.describe()}`);
    const [n, d, h, w, c] = x.shape;
    return scope(() => reshape(norm(reshape(x, [n, d * h, w, c])), x.shape));
  }
}
