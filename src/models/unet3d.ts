// 3-D U-Net (Çiçek et al. 2016) for volumes [N, D, H, W, C]: the layout of unet.ts one dimension
// up. `depth` levels of two [3x3x3 conv without bias, BatchNorm3d, ReLU] blocks with features f,
// 2f, ..., a 2^depth·f bottleneck, 2x2x2 max pooling, 2x2x2 stride-2 transposed convolutions whose
// output is concatenated with the skip (up first, then skip, as unet.ts), a 1x1x1 conv and the
// output's activation. Parameter names follow unet.ts's ('encoder1.enc1conv1.weight', 'upconv2.bias',
// 'conv.weight'). Defaults (f = 16, depth 3, 1 in, 1 out): 1,401,265 parameters.
// `norm: 'none'` gives convs with bias and no normalisation.

import { ShapeError } from '../errors.js';
import { expectChoice, expectOptionalNumber, expectTensor } from '../graph/args.js';
import type { Tensor } from '../graph/tensor.js';
import { maxPool3d } from '../kernels/pool3d.js';
import { ReLU, Sequential } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { expectLayerOptions } from '../nn/options.js';
import { BatchNorm3d, Conv3d, ConvTranspose3d } from '../nn/volume-layers.js';
import { withDefaults } from '../util/defaults.js';
import { unetForward } from './unet-forward.js';

export interface UNet3dOptions {
  features?: number;
  depth?: number;
  inChannels?: number;
  outChannels?: number;
  /** 'batch' (default: BatchNorm3d after each 3x3x3 conv, the convs without bias) or 'none'. */
  norm?: 'batch' | 'none';
  /** 'sigmoid' (default), 'softmax' over the channels as classes, or 'logits'. */
  output?: 'sigmoid' | 'softmax' | 'logits';
}

const OPTIONS = ['features', 'depth', 'inChannels', 'outChannels', 'norm', 'output'] as const satisfies readonly (keyof UNet3dOptions)[];

/** Two [3x3x3 conv, norm, ReLU]; the conv has a bias only without a norm after it. */
function block(inCh: number, features: number, name: string, norm: boolean): Sequential {
  const parts: [string, Module][] = [];
  for (const i of [1, 2]) {
    parts.push([`${name}conv${i}`, new Conv3d(i === 1 ? inCh : features, features, { bias: !norm, init: 'heNormal' })]);
    if (norm) parts.push([`${name}norm${i}`, new BatchNorm3d(features)]);
    parts.push([`${name}relu${i}`, new ReLU()]);
  }
  return new Sequential(...parts);
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
    expectChoice('UNet3d', 'norm', opts.norm, ['batch', 'none']);
    expectChoice('UNet3d', 'output', opts.output, ['sigmoid', 'softmax', 'logits']);
    const o = withDefaults({ features: 16, depth: 3, inChannels: 1, outChannels: 1, norm: 'batch', output: 'sigmoid' }, opts) as Required<UNet3dOptions>;
    this.options = o;
    const norm = o.norm === 'batch';
    let ch = o.inChannels;
    for (let level = 1; level <= o.depth; level++) {
      const width = o.features * 2 ** (level - 1);
      this.encoders.push(this.addModule(`encoder${level}`, block(ch, width, `enc${level}`, norm)));
      ch = width;
    }
    const bottom = o.features * 2 ** o.depth;
    this.bottleneck = this.addModule('bottleneck', block(ch, bottom, 'bottleneck', norm));
    ch = bottom;
    for (let level = o.depth; level >= 1; level--) {
      const width = o.features * 2 ** (level - 1);
      this.ups.push(this.addModule(`upconv${level}`, new ConvTranspose3d(ch, width, { kernelSize: 2, stride: 2 })));
      this.decoders.push(this.addModule(`decoder${level}`, block(width * 2, width, `dec${level}`, norm)));
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
