// VGG16 (Simonyan & Zisserman): 13 3x3 conv + ReLU layers in five blocks, each block ending in 2x2
// max pooling; optionally the ImageNet top (flatten, fc1 4096, fc2 4096, predictions 1000, as
// logits). Parameter names follow Keras ('features.block1_conv1.weight' for Keras's
// block1_conv1/kernel), so Keras and torchvision weights map onto them (src/io/load-weights.ts).
// Without the top the input size is free; with it, it must be 224x224 (a 7x7x512 map).
//
// vggClassifier() is the reference notebook's model: the frozen base, then Flatten, Dense 256 ReLU,
// Dropout 0.3, Dense 256 ReLU, Dropout 0.3, Dense 1 sigmoid.

import { ArgumentError, ShapeError } from '../errors.js';
import { expectChoice, expectOptionalBoolean, expectOptionalNumber, expectTensor, nchwHint } from '../graph/args.js';
import type { Tensor } from '../graph/tensor.js';
import { imagenetPreprocess } from '../kernels/preprocess.js';
import { Conv2d, Dropout, Flatten, Linear, MaxPool2d, ReLU, Sequential, Sigmoid } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { expectLayerOptions } from '../nn/options.js';

const BLOCKS = [
  [64, 2],
  [128, 2],
  [256, 3],
  [512, 3],
  [512, 3],
] as const;

export interface Vgg16Options {
  includeTop?: boolean;
  inChannels?: number;
  /** Scales every block's width (1 = VGG16); small values give tiny test models of the same shape. */
  widthScale?: number;
  /** 'caffe' (Keras weights), 'torch' (torchvision weights) or 'none': applied in forward(). */
  preprocess?: 'caffe' | 'torch' | 'none';
  /** The top's predictions (default 1000): with includeTop only. */
  classes?: number;
}

const VGG16_OPTIONS = ['includeTop', 'inChannels', 'widthScale', 'preprocess', 'classes'] as const satisfies readonly (keyof Vgg16Options)[];

export function vggFeatures(inChannels: number, widthScale: number): { features: Sequential; outChannels: number } {
  const layers: [string, Module][] = [];
  let ch = inChannels;
  BLOCKS.forEach(([width, convs], b) => {
    const w = Math.max(1, Math.round(width * widthScale));
    for (let i = 1; i <= convs; i++) {
      layers.push([`block${b + 1}_conv${i}`, new Conv2d(ch, w, { kernelSize: 3, padding: 'same' })]);
      layers.push([`block${b + 1}_relu${i}`, new ReLU()]);
      ch = w;
    }
    layers.push([`block${b + 1}_pool`, new MaxPool2d(2, 2)]);
  });
  return { features: new Sequential(...layers), outChannels: ch };
}

export class Vgg16 extends Module {
  readonly features: Sequential;
  readonly top: Sequential | null;
  readonly preprocess: 'caffe' | 'torch' | 'none';
  readonly outChannels: number;

  constructor(opts: Vgg16Options = {}) {
    super();
    expectLayerOptions('VGG16', opts, VGG16_OPTIONS, "{ preprocess: 'caffe', widthScale: 1 }");
    expectOptionalBoolean('VGG16', 'includeTop', opts.includeTop);
    expectOptionalNumber('VGG16', 'inChannels', opts.inChannels, { integer: true, min: 1 });
    expectOptionalNumber('VGG16', 'widthScale', opts.widthScale, { above: 0 });
    expectOptionalNumber('VGG16', 'classes', opts.classes, { integer: true, min: 1 });
    expectChoice('VGG16', 'preprocess', opts.preprocess, ['caffe', 'torch', 'none']);
    if (opts.classes !== undefined && !opts.includeTop) throw new ArgumentError(`VGG16: classes sizes the top's predictions, and there is no top without includeTop: true`);
    const { features, outChannels } = vggFeatures(opts.inChannels ?? 3, opts.widthScale ?? 1);
    this.features = this.addModule('features', features);
    this.outChannels = outChannels;
    this.preprocess = opts.preprocess ?? 'none';
    this.top = null;
    if (opts.includeTop) {
      const hidden = Math.max(1, Math.round(4096 * (opts.widthScale ?? 1)));
      this.top = this.addModule(
        'top',
        new Sequential(
          ['flatten', new Flatten()],
          ['fc1', new Linear(7 * 7 * outChannels, hidden)],
          ['relu1', new ReLU()],
          ['fc2', new Linear(hidden, hidden)],
          ['relu2', new ReLU()],
          ['predictions', new Linear(hidden, opts.classes ?? 1000)],
        ),
      );
    }
  }

  /** Whether x's sides suit the top (any size without one): the check forward makes, for gradCam too. */
  takesSize(x: Tensor): boolean {
    return !this.top || (x.shape[1] === 224 && x.shape[2] === 224);
  }

  forward(x: Tensor): Tensor {
    expectTensor('VGG16', 'input x', x);
    if (x.rank !== 4) throw new ShapeError(`VGG16: expects [N, H, W, C] input, got ${x.describe()}`);
    if (!this.takesSize(x)) throw new ShapeError(`VGG16: with includeTop the input must be 224x224, got ${x.describe()}`);
    const pre = this.preprocess === 'none' ? x : imagenetPreprocess(x, this.preprocess);
    const f = this.features.forward(pre);
    if (pre !== x) pre.dispose();
    if (!this.top) return f;
    const y = this.top.forward(f);
    f.dispose();
    return y;
  }
}

export function vgg16(opts: Vgg16Options = {}): Vgg16 {
  return new Vgg16(opts);
}

/** VGG16's options but the top: the classifier's head is its own. */
export interface ClassifierOptions extends Omit<Vgg16Options, 'includeTop' | 'classes'> {
  inputSize?: number;
  hidden?: number;
  dropout?: number;
  /** Freeze the VGG16 base (the notebook does). */
  freezeBase?: boolean;
}

const CLASSIFIER_OPTIONS = ['inChannels', 'widthScale', 'preprocess', 'inputSize', 'hidden', 'dropout', 'freezeBase'] as const satisfies readonly (keyof ClassifierOptions)[];

/** What to say to the VGG16 options that the classifier's own head replaces. */
const CLASSIFIER_NOTES = {
  classes: 'the head has one sigmoid output, tumour or not; for more classes use vgg16({ includeTop: true, classes })',
  includeTop: 'the base never has its top: the dense head replaces it',
};

/** The notebook's tumour/no-tumour classifier: frozen VGG16 base + dense head, sigmoid output. */
export class VggClassifier extends Module {
  readonly base: Vgg16;
  readonly head: Sequential;
  /** The input side the head's first dense layer was sized for. */
  readonly inputSize: number;
  readonly inChannels: number;

  constructor(opts: ClassifierOptions = {}) {
    super();
    expectLayerOptions('VggClassifier', opts, CLASSIFIER_OPTIONS, '{ inputSize: 256, hidden: 256, dropout: 0.3 }', CLASSIFIER_NOTES);
    // Five 2x2 pools: below 32 px nothing is left for the head.
    expectOptionalNumber('VggClassifier', 'inputSize', opts.inputSize, { integer: true, min: 32 });
    expectOptionalNumber('VggClassifier', 'hidden', opts.hidden, { integer: true, min: 1 });
    expectOptionalNumber('VggClassifier', 'dropout', opts.dropout, { min: 0, below: 1 });
    expectOptionalBoolean('VggClassifier', 'freezeBase', opts.freezeBase);
    this.inChannels = opts.inChannels ?? 3;
    this.base = this.addModule('base', new Vgg16({ inChannels: opts.inChannels, widthScale: opts.widthScale, preprocess: opts.preprocess }));
    const size = (this.inputSize = opts.inputSize ?? 256);
    const spatial = Math.floor(size / 32);
    const hidden = opts.hidden ?? 256;
    const rate = opts.dropout ?? 0.3;
    this.head = this.addModule(
      'head',
      new Sequential(
        ['flatten', new Flatten()],
        ['dense1', new Linear(spatial * spatial * this.base.outChannels, hidden, { init: 'glorotUniform' })],
        ['relu1', new ReLU()],
        ['dropout1', new Dropout(rate)],
        ['dense2', new Linear(hidden, hidden)],
        ['relu2', new ReLU()],
        ['dropout2', new Dropout(rate)],
        ['out', new Linear(hidden, 1)],
        ['sigmoid', new Sigmoid()],
      ),
    );
    if (opts.freezeBase ?? true) this.base.freeze();
  }

  /**
   * What is wrong with x for this classifier, or null: 'layout' (not [N, H, W, inChannels]; NCHW
   * data would otherwise be told its size is wrong) or 'size' (the head's first dense layer was
   * sized for inputSize, and would fail on the flatten). Forward's check, and gradCam's.
   */
  inputProblem(x: Tensor): 'layout' | 'size' | null {
    if (x.rank !== 4 || x.shape[3] !== this.inChannels) return 'layout';
    const side = Math.floor(this.inputSize / 32);
    return Math.floor(x.shape[1] / 32) !== side || Math.floor(x.shape[2] / 32) !== side ? 'size' : null;
  }

  forward(x: Tensor): Tensor {
    expectTensor('VggClassifier', 'input x', x);
    const problem = this.inputProblem(x);
    if (problem === 'layout') {
      throw new ShapeError(`VggClassifier: expects [N, ${this.inputSize}, ${this.inputSize}, ${this.inChannels}] input, got ${x.describe()}${nchwHint(x.shape, this.inChannels)}`);
    }
    if (problem === 'size') throw new ShapeError(`VggClassifier: built for ${this.inputSize}x${this.inputSize} inputs (inputSize), got ${x.describe()}`);
    const f = this.base.forward(x);
    const y = this.head.forward(f);
    f.dispose();
    return y;
  }
}

export function vggClassifier(opts: ClassifierOptions = {}): VggClassifier {
  return new VggClassifier(opts);
}
