// Additive attention gate of Attention U-Net (Oktay et al. 2018, "Attention U-Net: Learning Where
// to Look for the Pancreas"), in the form most implementations use (LeeJunHyun/Image_Segmentation's
// Attention_block, MONAI's AttentionBlock): the gating signal g is the decoder's feature after its
// up-sampling, so it already has the skip's spatial size, where the paper instead strides x down
// to g's grid and resamples ψ back up.
//
//   ψ = sigmoid(norm(1x1 conv_ψ(relu(norm(1x1 conv_g(g)) + norm(1x1 conv_x(x))))))     [N, H, W, 1]
//   out = x · ψ, ψ broadcast over x's F_l channels (kernels/broadcast-channels.ts)
//
// x [N, H, W, F_l] (the encoder's skip), g [N, H, W, F_g]; both project to F_int channels
// (F_l / 2 by default, as both implementations). The 1x1 convs keep their biases even before a
// norm, as both do, so weights exchange. Parameter names are LeeJunHyun's state_dict names:
// 'W_g.0.weight' (conv), 'W_g.1.weight' (its norm), 'W_x.*', 'psi.0.*', 'psi.1.*' (MONAI's put
// '.conv' after the '0'); dawnet's conv weights are [1, 1, in, out] where PyTorch's are
// [out, in, 1, 1], the usual transpose on import.
// The norm follows the U-Net's: batch (the paper's and both implementations'), instance, group or
// none; ψ's one channel under group norm is one group (per sample, over the pixels). The
// activation stays a ReLU whatever the U-Net's, as in the paper (σ1).

import { ArgumentError, ShapeError } from '../errors.js';
import { expectChoice, expectNumber, expectOptionalNumber, expectTensor } from '../graph/args.js';
import type { Tensor } from '../graph/tensor.js';
import { mulOverChannels } from '../kernels/broadcast-channels.js';
import { binary, unary } from '../kernels/elementwise.js';
import { BatchNorm2d, Conv2d, GroupNorm, InstanceNorm2d, Sequential, Sigmoid } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { expectLayerOptions } from '../nn/options.js';

export interface AttentionGateOptions {
  /** F_int, the channels both inputs project to: default F_l / 2 (rounded down, at least 1). */
  interChannels?: number;
  /** After each 1x1 conv: 'batch' (default), 'instance', 'group' (normGroups groups) or 'none'. */
  norm?: 'batch' | 'instance' | 'group' | 'none';
  /** Groups of F_int under norm 'group' (default 8); F_int must split into them. */
  normGroups?: number;
}

type GateNorm = NonNullable<AttentionGateOptions['norm']>;

function normFor(norm: Exclude<GateNorm, 'none'>, channels: number, groups: number): Module {
  if (norm === 'batch') return new BatchNorm2d(channels);
  if (norm === 'instance') return new InstanceNorm2d(channels);
  return new GroupNorm(channels === 1 ? 1 : groups, channels);
}

/** A 1x1 conv with bias, then the norm: LeeJunHyun's nn.Sequential(Conv2d, BatchNorm2d), named '0', '1'. */
function projection(inCh: number, outCh: number, norm: GateNorm, groups: number): Module[] {
  const conv = new Conv2d(inCh, outCh, { kernelSize: 1, padding: 'valid' });
  return norm === 'none' ? [conv] : [conv, normFor(norm, outCh, groups)];
}

export class AttentionGate extends Module {
  readonly interChannels: number;
  private wG: Sequential;
  private wX: Sequential;
  private psi: Sequential;

  /** gatingChannels F_g (of g), channels F_l (of the skip x and of the output). */
  constructor(readonly gatingChannels: number, readonly channels: number, opts: AttentionGateOptions = {}) {
    super();
    expectNumber('AttentionGate', 'gatingChannels', gatingChannels, { integer: true, min: 1 });
    expectNumber('AttentionGate', 'channels', channels, { integer: true, min: 1 });
    expectLayerOptions('AttentionGate', opts, ['interChannels', 'norm', 'normGroups'], "{ interChannels: 16, norm: 'batch' }");
    expectOptionalNumber('AttentionGate', 'interChannels', opts.interChannels, { integer: true, min: 1 });
    expectChoice('AttentionGate', 'norm', opts.norm, ['batch', 'instance', 'group', 'none']);
    expectOptionalNumber('AttentionGate', 'normGroups', opts.normGroups, { integer: true, min: 1 });
    const inter = opts.interChannels ?? Math.max(1, Math.floor(channels / 2));
    const norm = opts.norm ?? 'batch';
    const groups = opts.normGroups ?? 8;
    if (norm === 'group' && inter % groups) {
      throw new ArgumentError(`AttentionGate: its ${inter} intermediate channels (F_int) do not split into ${groups} groups (normGroups)`);
    }
    this.interChannels = inter;
    this.wG = this.addModule('W_g', new Sequential(...projection(gatingChannels, inter, norm, groups)));
    this.wX = this.addModule('W_x', new Sequential(...projection(channels, inter, norm, groups)));
    this.psi = this.addModule('psi', new Sequential(...projection(inter, 1, norm, groups), new Sigmoid()));
  }

  /** The gate needs two inputs; Module.forward takes one, so it points to gate(x, g). */
  forward(_x: Tensor): Tensor {
    throw new ArgumentError('AttentionGate: call gate(x, g): the gate needs the gating signal g as well as the skip x');
  }

  /** The attention map ψ [N, H, W, 1] of skip x under gating signal g. */
  attention(x: Tensor, g: Tensor): Tensor {
    expectTensor('AttentionGate', 'skip x', x);
    expectTensor('AttentionGate', 'gating signal g', g);
    const [n, h, w] = x.shape;
    if (x.rank !== 4 || x.shape[3] !== this.channels || g.rank !== 4 || g.shape[0] !== n || g.shape[1] !== h || g.shape[2] !== w || g.shape[3] !== this.gatingChannels) {
      throw new ShapeError(`AttentionGate: expects x [N, H, W, ${this.channels}] and g [N, H, W, ${this.gatingChannels}] of the same N, H, W, got x ${x.describe()}, g ${g.describe()}`);
    }
    const g1 = this.wG.forward(g);
    const x1 = this.wX.forward(x);
    const sum = binary('add', g1, x1);
    g1.dispose();
    x1.dispose();
    const act = unary('relu', sum);
    sum.dispose();
    const psi = this.psi.forward(act);
    act.dispose();
    return psi;
  }

  /** x · ψ(x, g): the skip with each pixel weighted by its attention. */
  gate(x: Tensor, g: Tensor): Tensor {
    const psi = this.attention(x, g);
    const y = mulOverChannels(x, psi);
    psi.dispose();
    return y;
  }
}
