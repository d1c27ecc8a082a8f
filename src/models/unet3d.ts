// 3-D U-Net (Çiçek et al. 2016) for volumes [N, D, H, W, C]: the layout of unet.ts one dimension
// up. `depth` levels of two [3x3x3 conv without bias, norm, activation] blocks with features f,
// 2f, ..., a 2^depth·f bottleneck, 2x2x2 max pooling, 2x2x2 stride-2 transposed convolutions whose
// output is concatenated with the skip (up first, then skip, as unet.ts), a 1x1x1 conv and the
// output's activation. Parameter names follow unet.ts's ('encoder1.enc1conv1.weight', 'upconv2.bias',
// 'conv.weight'). Defaults (f = 16, depth 3, 1 in, 1 out): 1,401,265 parameters.
// The norm is 'batch' (BatchNorm3d, Çiçek's), 'instance' (InstanceNorm3d, affine) with 'leakyRelu'
// nnU-Net's 3-D configuration, 'group' (GroupNorm over the volume, normGroups groups) or 'none'
// (convs with bias). `checkpoint` recomputes each block's activations in the backward, as unet.ts's:
// a volume's activations are what fills a GPU first.

import { ArgumentError, ShapeError } from '../errors.js';
import { expectChoice, expectOptionalBoolean, expectOptionalNumber, expectTensor } from '../graph/args.js';
import type { Tensor } from '../graph/tensor.js';
import { maxPool3d } from '../kernels/pool3d.js';
import { GroupNorm, LeakyReLU, ReLU, Sequential } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { expectLayerOptions } from '../nn/options.js';
import { BatchNorm3d, Conv3d, ConvTranspose3d, InstanceNorm3d } from '../nn/volume-layers.js';
import { withDefaults } from '../util/defaults.js';
import { unetForward } from './unet-forward.js';

export interface UNet3dOptions {
  features?: number;
  depth?: number;
  inChannels?: number;
  outChannels?: number;
  /** 'batch' (default: BatchNorm3d after each 3x3x3 conv, the convs without bias), 'instance', 'group' or 'none'. */
  norm?: 'batch' | 'instance' | 'group' | 'none';
  /** Groups of 'group' (default 8): every level's width must split into them. */
  normGroups?: number;
  /** After each norm: 'relu' (default) or 'leakyRelu' (slope 0.01, nnU-Net's). */
  activation?: 'relu' | 'leakyRelu';
  /** Activation checkpointing of every encoder, bottleneck and decoder block (default false). */
  checkpoint?: boolean;
  /** 'sigmoid' (default), 'softmax' over the channels as classes, or 'logits'. */
  output?: 'sigmoid' | 'softmax' | 'logits';
}

const OPTIONS = ['features', 'depth', 'inChannels', 'outChannels', 'norm', 'normGroups', 'activation', 'checkpoint', 'output'] as const satisfies readonly (keyof UNet3dOptions)[];

/** The normalisation after one conv (`features` channels). */
function normLayer(norm: 'batch' | 'instance' | 'group', features: number, groups: number): Module {
  if (norm === 'batch') return new BatchNorm3d(features);
  return norm === 'instance' ? new InstanceNorm3d(features) : new GroupNorm(groups, features);
}

/** Two [3x3x3 conv, norm, activation]; the conv has a bias only without a norm after it. */
function block(inCh: number, features: number, name: string, o: Required<UNet3dOptions>): Sequential {
  const parts: [string, Module][] = [];
  for (const i of [1, 2]) {
    parts.push([`${name}conv${i}`, new Conv3d(i === 1 ? inCh : features, features, { bias: o.norm === 'none', init: 'heNormal' })]);
    if (o.norm !== 'none') parts.push([`${name}norm${i}`, normLayer(o.norm, features, o.normGroups)]);
    parts.push([`${name}relu${i}`, o.activation === 'relu' ? new ReLU() : new LeakyReLU(0.01)]);
  }
  return new Sequential(...parts).useCheckpointing(o.checkpoint);
}

export class UNet3d extends Module {
  readonly options: Required<UNet3dOptions>;
  private encoders: Sequential[] = [];
  private decoders: Sequential[] = [];
  private ups: ConvTranspose3d[] = [];
  private bottleneck: Sequential;
  private head: Conv3d;

  constructor(opts: UNet3dOptions = {}) {
    super();
    expectLayerOptions('UNet3d', opts, OPTIONS, "{ features: 16, depth: 3, inChannels: 1 }");
    expectOptionalNumber('UNet3d', 'features', opts.features, { integer: true, min: 1 });
    expectOptionalNumber('UNet3d', 'depth', opts.depth, { integer: true, min: 1, max: 6 });
    expectOptionalNumber('UNet3d', 'inChannels', opts.inChannels, { integer: true, min: 1 });
    expectOptionalNumber('UNet3d', 'outChannels', opts.outChannels, { integer: true, min: 1 });
    expectChoice('UNet3d', 'norm', opts.norm, ['batch', 'instance', 'group', 'none']);
    expectOptionalNumber('UNet3d', 'normGroups', opts.normGroups, { integer: true, min: 1 });
    expectChoice('UNet3d', 'activation', opts.activation, ['relu', 'leakyRelu']);
    expectOptionalBoolean('UNet3d', 'checkpoint', opts.checkpoint);
    expectChoice('UNet3d', 'output', opts.output, ['sigmoid', 'softmax', 'logits']);
    const o = withDefaults({ features: 16, depth: 3, inChannels: 1, outChannels: 1, norm: 'batch', normGroups: 8, activation: 'relu', checkpoint: false, output: 'sigmoid' }, opts) as Required<UNet3dOptions>;
    if (o.norm === 'group' && o.features % o.normGroups) throw new ArgumentError(`UNet3d: ${o.features} features do not split into ${o.normGroups} groups (normGroups)`);
    this.options = o;
    let ch = o.inChannels;
    for (let level = 1; level <= o.depth; level++) {
      const width = o.features * 2 ** (level - 1);
      this.encoders.push(this.addModule(`encoder${level}`, block(ch, width, `enc${level}`, o)));
      ch = width;
    }
    const bottom = o.features * 2 ** o.depth;
    this.bottleneck = this.addModule('bottleneck', block(ch, bottom, 'bottleneck', o));
    ch = bottom;
    for (let level = o.depth; level >= 1; level--) {
      const width = o.features * 2 ** (level - 1);
      this.ups.push(this.addModule(`upconv${level}`, new ConvTranspose3d(ch, width, { kernelSize: 2, stride: 2 })));
      this.decoders.push(this.addModule(`decoder${level}`, block(width * 2, width, `dec${level}`, o)));
      ch = width;
    }
    this.head = this.addModule('conv', new Conv3d(o.features, o.outChannels, { kernelSize: 1, padding: 'valid' }));
  }

  override extraRepr(): string {
    const o = this.options;
    return `${o.inChannels}→${o.outChannels}, ${o.features} features, depth ${o.depth}`;
  }

  forward(x: Tensor): Tensor {
    expectTensor('UNet3d', 'input x', x);
    const o = this.options;
    if (x.rank !== 5 || x.shape[4] !== o.inChannels) throw new ShapeError(`UNet3d: expects [N, D, H, W, ${o.inChannels}] input, got ${x.describe()}`);
    const step = 2 ** o.depth;
    if (x.shape.slice(1, 4).some((s) => s % step)) throw new ShapeError(`UNet3d: depth, height and width must be multiples of ${step} for depth ${o.depth}, got ${x.describe()}`);
    return unetForward(x, {
      encoders: this.encoders,
      down: (e) => maxPool3d(e, { size: 2 }),
      bottleneck: this.bottleneck,
      ups: this.ups,
      decoders: this.decoders,
      head: this.head,
      output: o.output,
    });
  }
}

export function unet3d(opts: UNet3dOptions = {}): UNet3d {
  return new UNet3d(opts);
}
