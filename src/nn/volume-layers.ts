// The layers for volumes, NDHWC [N, D, H, W, C] (a 3-D U-Net's): Conv3d, ConvTranspose3d, MaxPool3d,
// AvgPool3d, Upsample3d and BatchNorm3d, each checking its arguments when built (naming the layer) and
// calling its op (kernels/conv3d.ts, kernels/conv-transpose3d.ts, kernels/pool3d.ts) in forward().
// The pools and ConvTranspose3d take their op's padding: 'valid' (their default, as PyTorch's 0),
// 'same' or PyTorch's p; AvgPool3d also countIncludePad. BatchNorm3d is BatchNorm2d over the
// volume's D·H planes: the same statistics per channel, over N, D, H and W.

import { ArgumentError, ShapeError } from '../errors.js';
import { expectChoice, expectNumber, expectTensor, isPlainObject } from '../graph/args.js';
import { reshape } from '../graph/reshape.js';
import { scope } from '../graph/scope.js';
import type { Tensor } from '../graph/tensor.js';
import { conv3d, type Conv3dOptions } from '../kernels/conv3d.js';
import { convTranspose3d, type ConvTranspose3dOptions } from '../kernels/conv-transpose3d.js';
import { AVG_POOL3D_OPTIONS, avgPool3d, MAX_POOL3D_OPTIONS, maxPool3d, pool3dWindow, upsample3d, type AvgPool3dOptions, type Pool3dOptions } from '../kernels/pool3d.js';
import { volumePadding } from '../kernels/volume-axes.js';
import { checkConvLayer, convParams } from './conv-params.js';
import type { InitName } from './init.js';
import { BatchNorm2d, InstanceNorm2d } from './layers.js';
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

const CONV_OPTIONS = ['kernelSize', 'stride', 'padding', 'bias', 'init', 'seed'];

/** Conv3d(inChannels, outChannels, { kernelSize, stride, padding, bias, init, seed }): weight [k, k, k, in, out] (Keras's Conv3D). */
export class Conv3d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(readonly inChannels: number, readonly outChannels: number, readonly opts: Conv3dLayerOptions = {}) {
    super();
    checkConvLayer('Conv3d', inChannels, outChannels, opts, CONV_OPTIONS, "{ kernelSize: 3, padding: 'same' }", ['kernelSize', 'stride']);
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
  /** Default 'valid' (Keras's Conv3DTranspose's); 'same' (each side in·stride) or PyTorch's p. */
  padding?: ConvTranspose3dOptions['padding'];
  bias?: boolean;
  init?: InitName;
  seed?: number;
}

/** ConvTranspose3d(inChannels, outChannels, { kernelSize, stride, padding, bias, init, seed }): weight [k, k, k, out, in] (Keras's Conv3DTranspose). */
export class ConvTranspose3d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(readonly inChannels: number, readonly outChannels: number, readonly opts: ConvTranspose3dLayerOptions = {}) {
    super();
    checkConvLayer('ConvTranspose3d', inChannels, outChannels, opts, CONV_OPTIONS, '{ kernelSize: 2, stride: 2 }', ['kernelSize', 'stride']);
    volumePadding('ConvTranspose3d', opts.padding);
    const k = opts.kernelSize ?? 2;
    const p = convParams('ConvTranspose3d', [k, k, k, outChannels, inChannels], outChannels, opts);
    this.weight = this.addParameter('weight', p.weight);
    this.bias = p.bias && this.addParameter('bias', p.bias);
  }
  override extraRepr(): string {
    const k = this.opts.kernelSize ?? 2;
    const padding = this.opts.padding ?? 'valid';
    return `${this.inChannels}→${this.outChannels}, ${k}x${k}x${k}, stride ${this.opts.stride ?? 2}${padding === 'valid' ? '' : `, padding ${JSON.stringify(padding)}`}`;
  }
  forward(x: Tensor): Tensor {
    return convTranspose3d(x, this.weight, this.bias, { stride: this.opts.stride ?? 2, padding: this.opts.padding ?? 'valid' });
  }
}

/** The pool layers' options: their op's, less the window and stride (the first two arguments). */
export type MaxPool3dLayerOptions = Pick<Pool3dOptions, 'padding'>;
export type AvgPool3dLayerOptions = Pick<AvgPool3dOptions, 'padding' | 'countIncludePad'>;

/** A 3-D pool layer: its window (a cube's side), stride (default the window) and options, checked when built. */
abstract class Pool3d<O extends AvgPool3dLayerOptions> extends Module {
  constructor(layer: string, readonly size: number, readonly stride: number, readonly opts: O, known: readonly string[]) {
    super();
    count(layer, 'size', size);
    // new MaxPool3d(3, { padding: 1 }) would otherwise read as a stride that is not a number.
    if (isPlainObject(stride)) throw new ArgumentError(`${layer}: options go third, after the stride: new ${layer}(${size}, ${size}, { padding: 1 })`);
    count(layer, 'stride', stride);
    const options = known.filter((k) => k !== 'size' && k !== 'stride');
    expectLayerOptions(layer, opts, options, "{ padding: 'same' }");
    pool3dWindow(layer, { ...opts, size, stride }, known);
  }
  override extraRepr(): string {
    const parts = [`${this.size}x${this.size}x${this.size}`, `stride ${this.stride}`];
    if (this.opts.padding !== undefined && this.opts.padding !== 'valid') parts.push(`padding ${JSON.stringify(this.opts.padding)}`);
    if (this.opts.countIncludePad === false) parts.push('countIncludePad false');
    return parts.join(', ');
  }
}

/** MaxPool3d(size = 2, stride = size, { padding }): PyTorch's nn.MaxPool3d, padding 'valid' (its 0, the default), TensorFlow's 'same', or p. */
export class MaxPool3d extends Pool3d<MaxPool3dLayerOptions> {
  constructor(size = 2, stride = size, opts: MaxPool3dLayerOptions = {}) {
    super('MaxPool3d', size, stride, opts, MAX_POOL3D_OPTIONS);
  }
  forward(x: Tensor): Tensor {
    return maxPool3d(x, { ...this.opts, size: this.size, stride: this.stride });
  }
}

/**
 * AvgPool3d(size = 2, stride = size, { padding, countIncludePad }): PyTorch's nn.AvgPool3d with the
 * same defaults (countIncludePad true, which counts only explicit padding); 'same' is TensorFlow's.
 */
export class AvgPool3d extends Pool3d<AvgPool3dLayerOptions> {
  constructor(size = 2, stride = size, opts: AvgPool3dLayerOptions = {}) {
    super('AvgPool3d', size, stride, opts, AVG_POOL3D_OPTIONS);
  }
  forward(x: Tensor): Tensor {
    return avgPool3d(x, { ...this.opts, size: this.size, stride: this.stride });
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

/**
 * InstanceNorm3d(channels, { eps }): statistics per sample and channel over D, H and W (the
 * groupNorm kernels take any rank), affine as nnU-Net configures it (PyTorch's default is not).
 * GroupNorm itself already normalises a volume's groups over D, H and W.
 */
export class InstanceNorm3d extends InstanceNorm2d {
  override forward(x: Tensor): Tensor {
    expectTensor('InstanceNorm3d', 'input x', x);
    if (x.rank !== 5 || x.shape[4] !== this.channels) throw new ShapeError(`InstanceNorm3d: expects [N, D, H, W, ${this.channels}] input, got ${x.describe()}`);
    return super.forward(x);
  }
}
