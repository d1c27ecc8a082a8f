// The layers, thin wrappers over the differentiable ops: each owns its parameters (created with
// the Keras/PyTorch initialisers, seeded) and calls one op in forward().

import { ArgumentError, ShapeError } from '../errors.js';
import { describeValue, expectChoice, expectNumber, expectOptionalBoolean, expectOptionalNumber, expectTensor, isPlainObject, nchwHint } from '../graph/args.js';
import { reshape } from '../graph/reshape.js';
import { repeatableDraw } from '../graph/recompute.js';
import { Tensor, tensor } from '../graph/tensor.js';
import { batchNorm2d } from '../kernels/batchnorm.js';
import { groupNorm } from '../kernels/groupnorm.js';
import { layerNorm, type LayerNormOptions } from '../kernels/layernorm.js';
import { conv2d, type Conv2dOptions, type ConvActivation } from '../kernels/conv2d.js';
import { convTranspose2d } from '../kernels/conv-transpose2d.js';
import { depthwiseConv2d } from '../kernels/depthwise-conv2d.js';
import { dropout } from '../kernels/dropout.js';
import { linear } from '../kernels/matmul.js';
import { upsample2d } from '../kernels/upsample.js';
import { INIT_NAMES, initValues, nextSeed, type InitName } from './init.js';
import { Module } from './module.js';
import { expectLayerOptions, noArguments, windowRepr } from './options.js';
import { ReLU } from './activations.js';

// The activation and pool layers live in their own files; every layer is importable from here.
export { ELU, LeakyReLU, ReLU, Sigmoid, SiLU, Softmax, Tanh } from './activations.js';
export { AvgPool2d, GlobalAvgPool2d, MaxPool2d, type AvgPool2dLayerOptions, type MaxPool2dLayerOptions } from './pool-layers.js';

/** A channel, feature or window count given to a layer's constructor: a positive integer. */
function count(layer: string, role: string, v: unknown): void {
  expectNumber(layer, role, v, { integer: true, min: 1 });
}

/** The options of a layer with weights whose initialiser and seed can be chosen. */
function checkWeightOptions(layer: string, opts: { bias?: boolean; init?: InitName; seed?: number }): void {
  expectOptionalBoolean(layer, 'bias', opts.bias);
  // An unknown name would fall through to initValues' last case, He normal, without a word.
  expectChoice(layer, 'init', opts.init, INIT_NAMES);
  expectOptionalNumber(layer, 'seed', opts.seed);
}

/**
 * A conv layer's sizes and options (those in `known`), checked before any parameter is made;
 * `sizes` names its two size arguments as its constructor does.
 */
function checkConvLayer(layer: string, inChannels: unknown, outChannels: unknown, opts: ConvLayerOptions, known: readonly (keyof ConvLayerOptions)[], sizes = ['inChannels', 'outChannels']): void {
  count(layer, sizes[0], inChannels);
  count(layer, sizes[1], outChannels);
  expectLayerOptions(layer, opts, known, "{ kernelSize: 3, padding: 'same' }");
  if (opts.kernelSize !== undefined) count(layer, 'kernelSize', opts.kernelSize);
  if (opts.stride !== undefined) count(layer, 'stride', opts.stride);
  if (opts.dilation !== undefined) count(layer, 'dilation', opts.dilation);
  checkConvPadding(layer, opts.padding);
  // The op refuses it too, but only at the first forward, and naming itself rather than the layer.
  if ((opts.dilation ?? 1) > 1 && (opts.stride ?? 1) > 1) {
    throw new ArgumentError(`${layer}: a dilated conv takes stride 1 (as TensorFlow's), got stride ${opts.stride} with dilation ${opts.dilation}`);
  }
  checkWeightOptions(layer, opts);
}

const isCount = (v: unknown, min: number): boolean => typeof v === 'number' && Number.isInteger(v) && v >= min;

/** 'same', 'valid', p or [top, bottom, left, right]: checked when the layer is built, not at its first forward. */
function checkConvPadding(layer: string, padding: unknown): void {
  if (padding === undefined || padding === 'same' || padding === 'valid' || isCount(padding, 0)) return;
  if (Array.isArray(padding) && padding.length === 4 && padding.every((p) => isCount(p, 0))) return;
  const pair = Array.isArray(padding) && padding.length === 2 ? ` (a pair is PyTorch's (rows, columns): [${padding[0]}, ${padding[0]}, ${padding[1]}, ${padding[1]}] here)` : '';
  throw new ArgumentError(`${layer}: padding must be 'same', 'valid', a non-negative integer or [top, bottom, left, right], got ${describeValue(padding)}${pair}`);
}

function param(shape: number[], init: InitName, seed: number): Tensor {
  return tensor(initValues(init, shape, seed), shape, { requiresGrad: true });
}

export interface ConvLayerOptions {
  kernelSize?: number;
  stride?: number;
  /** Conv2d and DepthwiseConv2d: taps this far apart (atrous), with stride 1. */
  dilation?: number;
  /** Conv2d: channel groups (weight [k, k, inChannels / groups, outChannels]). */
  groups?: number;
  padding?: Conv2dOptions['padding'];
  bias?: boolean;
  init?: InitName;
  seed?: number;
}

/** What each conv layer reads of ConvLayerOptions: the others (groups of a depthwise conv) are refused. */
const CONV2D_OPTIONS = ['kernelSize', 'stride', 'dilation', 'groups', 'padding', 'bias', 'init', 'seed'] as const satisfies readonly (keyof ConvLayerOptions)[];
const DEPTHWISE_OPTIONS = CONV2D_OPTIONS.filter((k) => k !== 'groups');
// dilation stays known so that its own message (Conv2d only) answers a dilation other than 1.
const TRANSPOSE_OPTIONS = DEPTHWISE_OPTIONS;

/** Conv2d(cin, cout): weight [k, k, cin, cout], bias [cout]. Default padding 'same'. */
export class Conv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(readonly inChannels: number, readonly outChannels: number, readonly opts: ConvLayerOptions = {}) {
    super();
    checkConvLayer('Conv2d', inChannels, outChannels, opts, CONV2D_OPTIONS);
    const groups = opts.groups ?? 1;
    if (opts.groups !== undefined) count('Conv2d', 'groups', groups);
    if (inChannels % groups || outChannels % groups) throw new ArgumentError(`Conv2d: ${inChannels} input and ${outChannels} output channels do not split into ${groups} groups`);
    const k = opts.kernelSize ?? 3;
    const seed = opts.seed ?? nextSeed();
    this.weight = this.addParameter('weight', param([k, k, inChannels / groups, outChannels], opts.init ?? 'glorotUniform', seed));
    this.bias = opts.bias === false ? null : this.addParameter('bias', param([outChannels], 'zeros', 0));
  }
  override extraRepr(): string {
    const k = this.opts.kernelSize ?? 3;
    return windowRepr([`${this.inChannels}→${this.outChannels}`, `${k}x${k}`], this.opts, { stride: 1, padding: 'same' });
  }
  forward(x: Tensor): Tensor {
    return this.convolve(x, 'none');
  }
  /** This layer then a ReLU, fused into the conv's kernels (Sequential uses it). */
  forwardRelu(x: Tensor): Tensor {
    return this.convolve(x, 'relu');
  }
  private convolve(x: Tensor, activation: ConvActivation): Tensor {
    const o = this.opts;
    return conv2d(x, this.weight, this.bias, { stride: o.stride ?? 1, padding: o.padding ?? 'same', dilation: o.dilation ?? 1, groups: o.groups ?? 1, activation });
  }
}

/**
 * DepthwiseConv2d(channels, multiplier?): each channel filtered on its own, weight [k, k, C, M]
 * (Keras's DepthwiseConv2D layout), bias [C·M]; output channel c·M + m. Default 3x3, 'same'.
 */
export class DepthwiseConv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(readonly channels: number, readonly multiplier = 1, readonly opts: ConvLayerOptions = {}) {
    super();
    checkConvLayer('DepthwiseConv2d', channels, multiplier, opts, DEPTHWISE_OPTIONS, ['channels', 'multiplier']);
    const k = opts.kernelSize ?? 3;
    // Fans as Keras computes them for its depthwise kernel, like any [k, k, in, out] kernel's.
    this.weight = this.addParameter('weight', param([k, k, channels, multiplier], opts.init ?? 'glorotUniform', opts.seed ?? nextSeed()));
    this.bias = opts.bias === false ? null : this.addParameter('bias', param([channels * multiplier], 'zeros', 0));
  }
  override extraRepr(): string {
    const k = this.opts.kernelSize ?? 3;
    return windowRepr([`${this.channels}→${this.channels * this.multiplier}`, `${k}x${k}`], this.opts, { stride: 1, padding: 'same' });
  }
  forward(x: Tensor): Tensor {
    return depthwiseConv2d(x, this.weight, this.bias, { stride: this.opts.stride ?? 1, padding: this.opts.padding ?? 'same', dilation: this.opts.dilation ?? 1 });
  }
}

/** ConvTranspose2d(cin, cout): weight [k, k, cout, cin] (Keras's layout). Default 2x2 stride 2. */
export class ConvTranspose2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(readonly inChannels: number, readonly outChannels: number, readonly opts: ConvLayerOptions = {}) {
    super();
    checkConvLayer('ConvTranspose2d', inChannels, outChannels, opts, TRANSPOSE_OPTIONS);
    if ((opts.dilation ?? 1) !== 1) throw new ArgumentError(`ConvTranspose2d: dilation is for Conv2d only, got ${opts.dilation}`);
    const k = opts.kernelSize ?? 2;
    const seed = opts.seed ?? nextSeed();
    // Fans from the shape, as Keras's compute_fans on Conv2DTranspose's (kh, kw, filters, in) and
    // PyTorch's on [in, out, kh, kw] both take them: fanIn = k·k·outChannels (He's bounds use it).
    this.weight = this.addParameter('weight', param([k, k, outChannels, inChannels], opts.init ?? 'glorotUniform', seed));
    this.bias = opts.bias === false ? null : this.addParameter('bias', param([outChannels], 'zeros', 0));
  }
  override extraRepr(): string {
    const k = this.opts.kernelSize ?? 2;
    return windowRepr([`${this.inChannels}→${this.outChannels}`, `${k}x${k}`], this.opts, { stride: 2, padding: 'valid' });
  }
  forward(x: Tensor): Tensor {
    return convTranspose2d(x, this.weight, this.bias, { stride: this.opts.stride ?? 2, padding: (this.opts.padding as 'same' | 'valid') ?? 'valid' });
  }
}

export interface BatchNormOptions {
  /** PyTorch convention: running = (1 - momentum) running + momentum batch. Keras 0.99 = PyTorch 0.01. */
  momentum?: number;
  eps?: number;
}

/**
 * BatchNorm2d(channels): per-channel weight and bias, running_mean and running_var buffers
 * (PyTorch's names). In train() it normalises with the batch's statistics and updates the running
 * ones; in eval() it uses the running ones.
 *
 * Frozen (weight and bias both with requiresGrad false, what freeze() sets) it runs in inference
 * mode whatever its training flag, as Keras's BatchNormalization with trainable = False: it uses
 * its running statistics and leaves them alone. fit switches train()/eval() for the whole model
 * each epoch, so PyTorch's idiom, eval() on the frozen part, would not survive the first epoch.
 */
export class BatchNorm2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;
  constructor(readonly channels: number, readonly opts: BatchNormOptions = {}) {
    super();
    count('BatchNorm2d', 'channels', channels);
    expectLayerOptions('BatchNorm2d', opts, ['momentum', 'eps'], '{ momentum: 0.1, eps: 1e-5 }');
    expectOptionalNumber('BatchNorm2d', 'momentum', opts.momentum, { min: 0, max: 1 });
    expectOptionalNumber('BatchNorm2d', 'eps', opts.eps, { above: 0 });
    this.weight = this.addParameter('weight', param([channels], 'ones', 0));
    this.bias = this.addParameter('bias', param([channels], 'zeros', 0));
    this.runningMean = this.addBuffer('running_mean', tensor(new Float32Array(channels), [channels]));
    this.runningVar = this.addBuffer('running_var', tensor(new Float32Array(channels).fill(1), [channels]));
  }
  override extraRepr(): string {
    return String(this.channels);
  }
  forward(x: Tensor): Tensor {
    return this.normalise(x, false);
  }
  /** This layer then a ReLU, fused: one pass fewer forward and backward (Sequential uses it). */
  forwardRelu(x: Tensor): Tensor {
    return this.normalise(x, true);
  }
  /** Batch statistics only while training and not frozen (see the class comment). */
  private usesBatchStatistics(): boolean {
    return this.training && (this.weight.requiresGrad || this.bias.requiresGrad);
  }
  private normalise(x: Tensor, relu: boolean): Tensor {
    const training = this.usesBatchStatistics();
    // The op leaves the running statistics alone where state is held (a checkpoint's recomputation,
    // a call of dn.gradcheck's: graph/recompute.ts).
    return batchNorm2d(x, this.weight, this.bias, this.runningMean, this.runningVar, {
      training,
      momentum: this.opts.momentum ?? 0.1,
      eps: this.opts.eps ?? 1e-5,
      relu,
    });
  }
}

/**
 * GroupNorm(groups, channels) as PyTorch's: statistics per sample and group of channels, so
 * independent of the batch size (batch 1 trains as well as 16), no running statistics, the
 * same in train() and eval(). weight and bias [channels].
 *
 * A group of one value normalises to 0, so the output is the bias alone and nothing before it
 * learns: training refuses such an input (instance norm on 1x1 pixels, the bottleneck of a U-Net
 * too deep for its images), as PyTorch's InstanceNorm2d does.
 */
export class GroupNorm extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  constructor(readonly groups: number, readonly channels: number, readonly opts: { eps?: number } = {}) {
    super();
    // InstanceNorm2d's errors carry its own name.
    const layer = this.constructor.name;
    count(layer, 'groups', groups);
    count(layer, 'channels', channels);
    if (channels % groups) throw new ArgumentError(`${layer}: ${channels} channels do not split into ${groups} groups`);
    expectLayerOptions(layer, opts, ['eps'], '{ eps: 1e-5 }');
    expectOptionalNumber(layer, 'eps', opts.eps, { above: 0 });
    this.weight = this.addParameter('weight', param([channels], 'ones', 0));
    this.bias = this.addParameter('bias', param([channels], 'zeros', 0));
  }
  override extraRepr(): string {
    return `${this.groups} groups, ${this.channels} channels`;
  }
  forward(x: Tensor): Tensor {
    this.expectChannels(x);
    if (this.training) this.expectSpread(x);
    return groupNorm(x, this.weight, this.bias, { groups: this.groups, eps: this.opts.eps ?? 1e-5 });
  }
  /**
   * x's channels are this layer's: said here, naming the layer, since groupNorm's own check of an
   * NCHW input to InstanceNorm2d(3) speaks of groups the caller never chose.
   */
  private expectChannels(x: Tensor): void {
    if (!(x instanceof Tensor) || x.rank !== 4 || x.shape[3] === this.channels) return;
    throw new ShapeError(`${this.constructor.name}: expects [N, H, W, ${this.channels}] input, got ${x.describe()}${nchwHint(x.shape, this.channels)}`);
  }
  /** More than one value in each group of x: with a channel per group, more than one pixel. */
  private expectSpread(x: Tensor): void {
    // Anything else wrong with x is left to groupNorm's checks.
    if (!(x instanceof Tensor) || x.rank < 2 || x.size === 0 || x.shape[x.rank - 1] !== this.channels) return;
    if (this.groups !== this.channels || x.size / x.shape[0] / this.channels !== 1) return;
    throw new ShapeError(`${this.constructor.name}: training needs more than one pixel per sample with one channel per group, got ${x.describe()}: each value would normalise to 0, leaving the bias alone`);
  }
}

/** LayerNorm(features): each row of x [..., features] normalised over its last axis (PyTorch's nn.LayerNorm(features)). */
export class LayerNorm extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  constructor(readonly features: number, readonly opts: LayerNormOptions = {}) {
    super();
    count('LayerNorm', 'features', features);
    expectLayerOptions('LayerNorm', opts, ['eps'], '{ eps: 1e-5 }');
    expectOptionalNumber('LayerNorm', 'eps', opts.eps, { above: 0 });
    this.weight = this.addParameter('weight', param([features], 'ones', 0));
    this.bias = this.addParameter('bias', param([features], 'zeros', 0));
  }
  override extraRepr(): string {
    return String(this.features);
  }
  forward(x: Tensor): Tensor {
    return layerNorm(x, this.weight, this.bias, { eps: this.opts.eps ?? 1e-5 });
  }
}

/**
 * Instance norm: a group per channel (nnU-Net's normalisation). Affine, unlike PyTorch's
 * InstanceNorm2d default (affine=False), as nnU-Net configures it.
 */
export class InstanceNorm2d extends GroupNorm {
  constructor(channels: number, opts: { eps?: number } = {}) {
    // Checked here, so that a slip names channels and not GroupNorm's groups.
    count(new.target.name, 'channels', channels);
    super(channels, channels, opts);
  }
  override extraRepr(): string {
    return String(this.channels);
  }
}

/** Linear (Keras Dense): weight [in, out], bias [out]. */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(readonly inFeatures: number, readonly outFeatures: number, opts: { bias?: boolean; init?: InitName; seed?: number } = {}) {
    super();
    count('Linear', 'inFeatures', inFeatures);
    count('Linear', 'outFeatures', outFeatures);
    expectLayerOptions('Linear', opts, ['bias', 'init', 'seed'], "{ bias: false, init: 'heNormal' }");
    checkWeightOptions('Linear', opts);
    this.weight = this.addParameter('weight', param([inFeatures, outFeatures], opts.init ?? 'glorotUniform', opts.seed ?? nextSeed()));
    this.bias = opts.bias === false ? null : this.addParameter('bias', param([outFeatures], 'zeros', 0));
  }
  override extraRepr(): string {
    return `${this.inFeatures}→${this.outFeatures}`;
  }
  forward(x: Tensor): Tensor {
    expectTensor('Linear', 'input x', x);
    if (x.rank !== 2) throw new ShapeError(`Linear: expects [N, ${this.inFeatures}] input, got ${x.describe()}`);
    return linear(x, this.weight, this.bias);
  }
}

/** Inverted dropout; a fresh mask each call (the seed advances), identity in eval(). */
export class Dropout extends Module {
  private calls = 0;
  constructor(readonly rate: number, readonly seed = nextSeed()) {
    super();
    expectNumber('Dropout', 'rate', rate, { min: 0, below: 1 });
    // A string or an options object here made every mask seed 0 ('x' + 7919·calls >>> 0), silently.
    if (isPlainObject(seed)) throw new ArgumentError(`Dropout: takes (rate, seed?), not options: new Dropout(0.3, 42), got ${describeValue(seed)}`);
    expectNumber('Dropout', 'seed', seed, { integer: true });
  }
  /** The call counter picks the next mask: checkpoints carry it so a resumed run draws the same masks. */
  override scalarState(): Record<string, number> {
    return { calls: this.calls };
  }
  override loadScalarState(state: Record<string, number>): void {
    this.calls = state.calls ?? 0;
  }
  override extraRepr(): string {
    return `rate ${this.rate}`;
  }
  forward(x: Tensor): Tensor {
    // Repeatable: dn.checkpoint's recomputation of this call draws the same mask, not the next one.
    const seed = repeatableDraw(() => (this.seed + 7919 * this.calls++) >>> 0);
    return dropout(x, { rate: this.rate, seed, training: this.training });
  }
}

/** Upsample(scale, mode, alignCorners): nn.Upsample(scale_factor, mode, align_corners) over NHWC. */
export class Upsample extends Module {
  constructor(readonly scale = 2, readonly mode: 'nearest' | 'bilinear' = 'nearest', readonly alignCorners = false) {
    super();
    expectNumber('Upsample', 'scale', scale, { above: 0 });
    expectChoice('Upsample', 'mode', mode, ['nearest', 'bilinear']);
    expectOptionalBoolean('Upsample', 'alignCorners', alignCorners);
    if (alignCorners && mode !== 'bilinear') throw new ArgumentError("Upsample: alignCorners needs mode 'bilinear'");
  }
  override extraRepr(): string {
    return `x${this.scale} ${this.mode}`;
  }
  forward(x: Tensor): Tensor {
    return upsample2d(x, { scale: this.scale, mode: this.mode, alignCorners: this.alignCorners });
  }
}

/** [N, ...] -> [N, prod(...)] in NHWC order, as Keras's Flatten on channels-last data. */
export class Flatten extends Module {
  /** PyTorch's default start_dim 1 may be given; every other start is refused. */
  constructor(...args: [startDim?: 1]) {
    super();
    noArguments('Flatten', args[0] === 1 ? args.slice(1) : args, 'it flattens every axis after the first (PyTorch\'s start_dim 1), in NHWC order');
  }
  forward(x: Tensor): Tensor {
    expectTensor('Flatten', 'input x', x);
    if (x.rank < 1) throw new ShapeError(`Flatten: expects [N, ...] input, got ${x.describe()}`);
    // The trailing size written out rather than -1, which an empty batch (no elements) leaves
    // undetermined: PyTorch's flatten(1) gives [0, 64] there too.
    return reshape(x, [x.shape[0], x.shape.slice(1).reduce((p, d) => p * d, 1)]);
  }
}

/** A layer of a Sequential: a Module, named by its position, or a [name, Module] pair. */
export type SequentialEntry = Module | [string, Module];

export class Sequential extends Module {
  readonly layers: Module[];
  /**
   * The layers as arguments (PyTorch's `nn.Sequential(a, b)`), each a Module or a [name, Module]
   * pair, or as one list of them (Keras's `Sequential([a, b])`).
   */
  constructor(...args: (SequentialEntry | SequentialEntry[])[]) {
    super();
    // One list that is not itself a [name, Module] pair: Keras's form. Read as a pair, it would
    // register its second layer alone under the first's name, and run only that.
    const list = args.length === 1 && Array.isArray(args[0]) && typeof args[0][0] !== 'string';
    const entries = (list ? args[0] : args) as unknown[];
    this.layers = entries.map((entry, i) => {
      const pair = Array.isArray(entry);
      if (pair && !(entry.length === 2 && typeof entry[0] === 'string')) {
        throw new ArgumentError(`Sequential: entry ${i} must be a Module or a [name, Module] pair, got ${describeValue(entry)}`);
      }
      const [name, layer] = pair ? (entry as [string, unknown]) : [String(i), entry];
      if (!(layer instanceof Module)) throw new ArgumentError(`Sequential: layer ${name} must be a Module, got ${describeValue(layer)}`);
      return this.addModule(name, layer);
    });
  }
  /**
   * Runs the layers in turn. A BatchNorm2d or a Conv2d directly followed by a ReLU (those classes
   * exactly, not subclasses that may change forward) runs as one fused op. BatchNorm2d: 2 of the
   * pair's 7 passes over the activation and 2 of its dispatches fewer per step, forward and
   * backward together; on lavapipe the U-Net step's time did not move beyond the run-to-run noise
   * (conv and Adam dominate there). Conv2d: the ReLU's pass each way (VGG16's 13 conv layers).
   */
  forward(x: Tensor): Tensor {
    return this.forwardRange(x, 0, this.layers.length);
  }

  /**
   * Runs layers `from` to `to` - 1 only (PyTorch's `seq[from:to](x)`): a feature map taken from
   * the middle, the rest run on it later. A pair is fused only within the range.
   */
  forwardRange(x: Tensor, from: number, to: number): Tensor {
    if (!Number.isInteger(from) || !Number.isInteger(to) || from < 0 || to > this.layers.length || from > to) {
      throw new RangeError(`Sequential.forwardRange: layers ${from} to ${to} are not a range of its ${this.layers.length}`);
    }
    let h = x;
    for (let i = from; i < to; i++) {
      const layer = this.layers[i];
      const fuse = (layer.constructor === BatchNorm2d || layer.constructor === Conv2d) && i + 1 < to && this.layers[i + 1]?.constructor === ReLU;
      const next = fuse ? (layer as BatchNorm2d | Conv2d).forwardRelu(h) : layer.forward(h);
      if (fuse) i++;
      // A layer may hand its input back (an identity, a skip it chose not to take): keep it then.
      if (h !== x && next !== h) h.dispose();
      h = next;
    }
    return h;
  }
}
