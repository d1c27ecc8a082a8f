// The pool layers: each holds its window, stride and options, checked when it is built (naming the
// layer, not the op at its first forward), and calls its pool op in forward().

import { ArgumentError } from '../errors.js';
import { expectNumber, isPlainObject } from '../graph/args.js';
import type { Tensor } from '../graph/tensor.js';
import { avgPool2d, globalAvgPool2d, maxPool2d, type AvgPool2dOptions, type Pool2dOptions } from '../kernels/pool.js';
import { poolWindow } from '../kernels/pool-geometry.js';
import { Module } from './module.js';
import { expectLayerOptions, noArguments, windowRepr } from './options.js';

/** A window size or stride: a positive integer. */
function count(layer: string, role: string, v: unknown): void {
  expectNumber(layer, role, v, { integer: true, min: 1 });
}

/** The pool layers' options: their op's, less the window and stride (the first two arguments). */
export type MaxPool2dLayerOptions = Pick<Pool2dOptions, 'padding' | 'ceilMode' | 'dilation'>;
export type AvgPool2dLayerOptions = Pick<AvgPool2dOptions, 'padding' | 'ceilMode' | 'countIncludePad' | 'divisorOverride'>;

/** A pool layer's window, stride and options (those in `known`), checked when it is built, naming the layer. */
function checkPoolLayer(layer: string, size: unknown, stride: unknown, opts: object, known: readonly string[]): void {
  count(layer, 'size', size);
  // new MaxPool2d(3, { padding: 1 }) would otherwise read as a stride that is not a number.
  if (isPlainObject(stride)) throw new ArgumentError(`${layer}: options go third, after the stride: new ${layer}(${size}, ${size}, { padding: 1 })`);
  count(layer, 'stride', stride);
  expectLayerOptions(layer, opts, known, '{ padding: 1, ceilMode: true }');
  poolWindow(layer, { ...opts, size: size as number, stride: stride as number }, ['size', 'stride', ...known]);
}

/**
 * MaxPool2d(size = 2, stride = size, { padding, ceilMode, dilation }): PyTorch's nn.MaxPool2d(size,
 * stride, padding, dilation, ceil_mode=...) with padding 'valid' (PyTorch's 0, the default),
 * TensorFlow's 'same', or p.
 */
export class MaxPool2d extends Module {
  constructor(readonly size = 2, readonly stride = size, readonly opts: MaxPool2dLayerOptions = {}) {
    super();
    checkPoolLayer('MaxPool2d', size, stride, opts, ['padding', 'ceilMode', 'dilation']);
  }
  override extraRepr(): string {
    return windowRepr([`${this.size}x${this.size}`], { ...this.opts, stride: this.stride }, { stride: 1, padding: 'valid' });
  }
  forward(x: Tensor): Tensor {
    return maxPool2d(x, { ...this.opts, size: this.size, stride: this.stride });
  }
}

/**
 * AvgPool2d(size = 2, stride = size, { padding, ceilMode, countIncludePad, divisorOverride }):
 * PyTorch's nn.AvgPool2d with the same defaults (countIncludePad true); 'same' padding is TensorFlow's.
 */
export class AvgPool2d extends Module {
  constructor(readonly size = 2, readonly stride = size, readonly opts: AvgPool2dLayerOptions = {}) {
    super();
    checkPoolLayer('AvgPool2d', size, stride, opts, ['padding', 'ceilMode', 'countIncludePad', 'divisorOverride']);
  }
  override extraRepr(): string {
    return windowRepr([`${this.size}x${this.size}`], { ...this.opts, stride: this.stride }, { stride: 1, padding: 'valid' });
  }
  forward(x: Tensor): Tensor {
    return avgPool2d(x, { ...this.opts, size: this.size, stride: this.stride });
  }
}

/** [N, H, W, C] -> [N, C]: the mean over each channel's pixels. */
export class GlobalAvgPool2d extends Module {
  constructor(...args: []) {
    super();
    noArguments('GlobalAvgPool2d', args, "Keras's keepdims has no counterpart: dn.reshape(y, [N, 1, 1, C]) after it");
  }
  forward(x: Tensor): Tensor {
    return globalAvgPool2d(x);
  }
}
