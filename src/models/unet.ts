// U-Net of Buda et al. (brain-segmentation-pytorch, the reference result on the LGG data set):
// `depth` levels of two [3x3 conv without bias, BatchNorm, ReLU] blocks with features f, 2f, 4f, 8f,
// a 16f bottleneck, 2x2 max pooling, 2x2 stride-2 transposed convolutions whose output is
// concatenated with the skip (up first, then skip, as torch.cat((up, enc), dim=1)), a 1x1 conv
// and a sigmoid. Parameter names match the PyTorch module's state_dict exactly
// ('encoder1.enc1conv1.weight', 'upconv4.bias', ...), so its checkpoints load by name.
// Defaults (f = 32, depth 4, 3 in, 1 out): 7,763,041 parameters.
//
// `norm: 'none'` (or `batchNorm: false`) gives the plainer U-Net of the Keras notebooks (convs with
// bias, no BN); `norm: 'instance'` with `activation: 'leakyRelu'` is nnU-Net's choice of layers;
// `up: 'bilinear'` replaces each transposed conv by bilinear x2 up-sampling and a 3x3 conv.
// `attention: true` is Attention U-Net (Oktay et al. 2018): each skip passes an additive attention
// gate (attention-gate.ts), gated by the up-sampled decoder feature, before the concatenation;
// the gates are 'attention4' ... 'attention1' and use the same norm. At the defaults they add
// 88,732 parameters (F_l² + 3.5 F_l + 3 for F_l = 256, 128, 64, 32): 7,851,773 in all.

import { ArgumentError, ShapeError } from '../errors.js';
import { expectChoice, expectOptionalBoolean, expectOptionalNumber, expectTensor, nchwHint } from '../graph/args.js';
import type { Tensor } from '../graph/tensor.js';
import { maxPool2d } from '../kernels/pool.js';
import { upsample2d } from '../kernels/upsample.js';
import { BatchNorm2d, Conv2d, ConvTranspose2d, GroupNorm, InstanceNorm2d, LeakyReLU, ReLU, Sequential } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { expectLayerOptions } from '../nn/options.js';
import { AttentionGate } from './attention-gate.js';
import { unetForward } from './unet-forward.js';
import { withDefaults } from '../util/defaults.js';

export interface UNetOptions {
  features?: number;
  depth?: number;
  inChannels?: number;
  outChannels?: number;
  up?: 'transpose' | 'bilinear';
  batchNorm?: boolean;
  /**
   * The normalisation after each 3x3 conv: 'batch' (the default, Buda's), 'instance' (one group
   * per channel, nnU-Net's: no dependence on the batch, so batch 1 trains as well), 'group'
   * (normGroups groups, default 8; every level's width must split into them) or 'none' (convs
   * with bias, the Keras notebooks'). `batchNorm: false` is the older spelling of 'none'.
   */
  norm?: 'batch' | 'instance' | 'group' | 'none';
  normGroups?: number;
  /** After each normalisation: 'relu' (default) or 'leakyRelu' (slope 0.01, nnU-Net's). */
  activation?: 'relu' | 'leakyRelu';
  /** Apply the final sigmoid (default); false returns logits for bceWithLogits. */
  sigmoid?: boolean;
  /**
   * What the head's outChannels become: 'sigmoid' (the default, each channel its own
   * probability), 'softmax' (the channels are classes whose probabilities sum to 1: multi-class
   * segmentation with diceLoss's perChannel) or 'logits' (for bceWithLogits or
   * softmaxCrossEntropy). `sigmoid: false` is the older spelling of 'logits'.
   */
  output?: 'sigmoid' | 'softmax' | 'logits';
  /** Attention U-Net: an attention gate on every skip connection (default false). */
  attention?: boolean;
  /**
   * Activation checkpointing (dn.checkpoint) of every encoder, bottleneck and decoder block
   * (default false): their inner activations are recomputed in the backward instead of kept
   * from the forward, for about a third more compute per step (each block's forward runs twice).
   */
  checkpoint?: boolean;
}

const UNET_OPTIONS = ['features', 'depth', 'inChannels', 'outChannels', 'up', 'batchNorm', 'norm', 'normGroups', 'activation', 'sigmoid', 'output', 'attention', 'checkpoint'] as const satisfies readonly (keyof UNetOptions)[];

/** The options' kinds and ranges, before any layer is made. Depth 8 halves 256 px down to 1. */
function checkUNetOptions(opts: UNetOptions): void {
  expectLayerOptions('UNet', opts, UNET_OPTIONS, "{ features: 32, depth: 4, up: 'transpose' }");
  expectOptionalBoolean('UNet', 'batchNorm', opts.batchNorm);
  expectOptionalBoolean('UNet', 'sigmoid', opts.sigmoid);
  expectOptionalBoolean('UNet', 'checkpoint', opts.checkpoint);
  expectOptionalNumber('UNet', 'features', opts.features, { integer: true, min: 1 });
  expectOptionalNumber('UNet', 'depth', opts.depth, { integer: true, min: 1, max: 8 });
  expectOptionalNumber('UNet', 'inChannels', opts.inChannels, { integer: true, min: 1 });
  expectOptionalNumber('UNet', 'outChannels', opts.outChannels, { integer: true, min: 1 });
  expectChoice('UNet', 'up', opts.up, ['transpose', 'bilinear']);
  expectChoice('UNet', 'output', opts.output, ['sigmoid', 'softmax', 'logits']);
  expectChoice('UNet', 'norm', opts.norm, ['batch', 'instance', 'group', 'none']);
  expectChoice('UNet', 'activation', opts.activation, ['relu', 'leakyRelu']);
  expectOptionalNumber('UNet', 'normGroups', opts.normGroups, { integer: true, min: 1 });
  if (opts.norm && opts.norm !== 'none' && opts.batchNorm === false) {
    throw new ArgumentError(`UNet: batchNorm: false asks for no normalisation but norm is '${opts.norm}'; give one of them`);
  }
  const groups = opts.normGroups ?? 8;
  if (opts.norm === 'group' && (opts.features ?? 32) % groups) {
    throw new ArgumentError(`UNet: ${opts.features ?? 32} features do not split into ${groups} groups (normGroups)`);
  }
  expectOptionalBoolean('UNet', 'attention', opts.attention);
  // A gate projects F_l to F_l / 2 channels, normalised in the same groups.
  const inter = Math.max(1, Math.floor((opts.features ?? 32) / 2));
  if (opts.attention && opts.norm === 'group' && inter % groups) {
    throw new ArgumentError(`UNet: the first attention gate's ${inter} channels (features / 2) do not split into ${groups} groups (normGroups)`);
  }
  if (opts.output && opts.output !== 'logits' && opts.sigmoid === false) {
    throw new ArgumentError(`UNet: sigmoid: false asks for logits but output is '${opts.output}'; give one of them`);
  }
}

type Norm = NonNullable<UNetOptions['norm']>;

/** The normalisation layer of one conv's output (`features` channels). */
function normLayer(norm: Exclude<Norm, 'none'>, features: number, groups: number): Module {
  if (norm === 'batch') return new BatchNorm2d(features);
  return norm === 'instance' ? new InstanceNorm2d(features) : new GroupNorm(groups, features);
}

/** Two [3x3 conv, norm, activation]; the conv has a bias only without a norm after it. */
function block(inCh: number, features: number, name: string, o: Required<UNetOptions>): Sequential {
  const parts: [string, Module][] = [];
  for (const i of [1, 2]) {
    parts.push([`${name}conv${i}`, new Conv2d(i === 1 ? inCh : features, features, { kernelSize: 3, padding: 'same', bias: o.norm === 'none', init: 'heNormal' })]);
    if (o.norm !== 'none') parts.push([`${name}norm${i}`, normLayer(o.norm, features, o.normGroups)]);
    parts.push([`${name}relu${i}`, o.activation === 'relu' ? new ReLU() : new LeakyReLU(0.01)]);
  }
  // checkpoint: the block's activations are recomputed in the backward (Module.useCheckpointing).
  return new Sequential(...parts).useCheckpointing(o.checkpoint);
}

/** Bilinear x2 then a 3x3 conv: the alternative to a transposed conv. */
class UpBilinear extends Module {
  private conv: Conv2d;
  constructor(inCh: number, outCh: number) {
    super();
    this.conv = this.addModule('conv', new Conv2d(inCh, outCh, { kernelSize: 3, padding: 'same' }));
  }
  forward(x: Tensor): Tensor {
    const u = upsample2d(x, { scale: 2, mode: 'bilinear', alignCorners: false });
    const y = this.conv.forward(u);
    u.dispose();
    return y;
  }
}

export class UNet extends Module {
  readonly options: Required<UNetOptions>;
  private encoders: Sequential[] = [];
  private decoders: Sequential[] = [];
  private ups: Module[] = [];
  private gates: AttentionGate[] = [];
  private bottleneck: Sequential;
  private head: Conv2d;

  constructor(opts: UNetOptions = {}) {
    super();
    checkUNetOptions(opts);
    const output = opts.output ?? (opts.sigmoid === false ? 'logits' : 'sigmoid');
    const norm = opts.norm ?? (opts.batchNorm === false ? 'none' : 'batch');
    const defaults = { features: 32, depth: 4, inChannels: 3, outChannels: 1, up: 'transpose', normGroups: 8, activation: 'relu', attention: false, checkpoint: false };
    const o = { ...withDefaults(defaults, opts), sigmoid: output === 'sigmoid', output, norm, batchNorm: norm === 'batch' } as Required<UNetOptions>;
    this.options = o;
    const f = o.features;
    let ch = o.inChannels;
    for (let level = 1; level <= o.depth; level++) {
      const width = f * 2 ** (level - 1);
      this.encoders.push(this.addModule(`encoder${level}`, block(ch, width, `enc${level}`, o)));
      ch = width;
    }
    const bottom = f * 2 ** o.depth;
    this.bottleneck = this.addModule('bottleneck', block(ch, bottom, 'bottleneck', o));
    ch = bottom;
    for (let level = o.depth; level >= 1; level--) {
      const width = f * 2 ** (level - 1);
      const up = o.up === 'transpose' ? new ConvTranspose2d(ch, width, { kernelSize: 2, stride: 2 }) : new UpBilinear(ch, width);
      this.ups.push(this.addModule(`upconv${level}`, up));
      if (o.attention) this.gates.push(this.addModule(`attention${level}`, new AttentionGate(width, width, { norm: o.norm, normGroups: o.normGroups })));
      this.decoders.push(this.addModule(`decoder${level}`, block(width * 2, width, `dec${level}`, o)));
      ch = width;
    }
    this.head = this.addModule('conv', new Conv2d(f, o.outChannels, { kernelSize: 1, padding: 'valid' }));
  }

  override extraRepr(): string {
    const o = this.options;
    return `${o.inChannels}→${o.outChannels}, ${o.features} features, depth ${o.depth}`;
  }

  forward(x: Tensor): Tensor {
    expectTensor('UNet', 'input x', x);
    const o = this.options;
    if (x.rank !== 4 || x.shape[3] !== o.inChannels) {
      throw new ShapeError(`UNet: expects [N, H, W, ${o.inChannels}] input, got ${x.describe()}${nchwHint(x.shape, o.inChannels)}`);
    }
    const step = 2 ** o.depth;
    if (x.shape[1] % step || x.shape[2] % step) {
      throw new ShapeError(`UNet: height and width must be multiples of ${step} for depth ${o.depth}, got ${x.describe()}`);
    }
    return unetForward(x, {
      encoders: this.encoders,
      down: (e) => maxPool2d(e, { size: 2, stride: 2 }),
      bottleneck: this.bottleneck,
      ups: this.ups,
      decoders: this.decoders,
      head: this.head,
      output: o.output,
      // The gate's g is the up-sampled feature, already at the skip's size and width.
      gate: o.attention ? (i, skip, up) => this.gates[i].gate(skip, up) : undefined,
    });
  }
}

export function unet(opts: UNetOptions = {}): UNet {
  return new UNet(opts);
}
