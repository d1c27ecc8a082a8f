// The forward pass both U-Nets share (unet.ts, unet3d.ts): encoders with a pool after each, the
// bottleneck, then per level the up-sampled feature concatenated with the (optionally gated) skip
// and the decoder block, the head (a 1x1 conv to the output channels) and the output's activation. Intermediates
// are disposed as soon as the next step has used them.

import type { Tensor } from '../graph/tensor.js';
import { concat } from '../kernels/concat.js';
import { unary } from '../kernels/elementwise.js';
import { softmax } from '../kernels/softmax.js';
import type { Module } from '../nn/module.js';

export interface UNetParts {
  encoders: Module[];
  /** The pool between levels (2x2 or 2x2x2 max pooling). */
  down: (x: Tensor) => Tensor;
  bottleneck: Module;
  ups: Module[];
  decoders: Module[];
  head: Module;
  output: 'sigmoid' | 'softmax' | 'logits';
  /** Level i's skip as the decoder sees it, given the up-sampled feature (Attention U-Net's gate). */
  gate?: (i: number, skip: Tensor, up: Tensor) => Tensor;
}

export function unetForward(x: Tensor, p: UNetParts): Tensor {
  const skips: Tensor[] = [];
  let h = x;
  for (const enc of p.encoders) {
    const e = enc.forward(h);
    if (h !== x) h.dispose();
    skips.push(e);
    h = p.down(e);
  }
  let b = p.bottleneck.forward(h);
  h.dispose();
  for (let i = 0; i < p.decoders.length; i++) {
    const skip = skips.pop()!;
    const u = p.ups[i].forward(b);
    b.dispose();
    const gated = p.gate ? p.gate(i, skip, u) : skip;
    if (gated !== skip) skip.dispose();
    const cat = concat([u, gated], -1);
    u.dispose();
    gated.dispose();
    b = p.decoders[i].forward(cat);
    cat.dispose();
  }
  const logits = p.head.forward(b);
  b.dispose();
  if (p.output === 'logits') return logits;
  const y = p.output === 'softmax' ? softmax(logits) : unary('sigmoid', logits);
  logits.dispose();
  return y;
}
