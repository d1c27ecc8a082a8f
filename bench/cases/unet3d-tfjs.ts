// tfjs's side of the 3-D U-Net training step (bench/cases/unet3d-train.ts): dn.models.unet3d
// written with tfjs ops, as bench/cases/unet-train.ts writes the 2-D one: conv3d without bias,
// batch norm in training mode (tf.moments, then tf.batchNorm), relu, maxPool3d, conv3dTranspose
// 2x2x2 stride 2 + bias, concat (up first, then skip), a 1x1x1 conv + bias, sigmoid, soft Dice
// over the batch (smoothing 1), gradients by tf.variableGrads and tf.train.adam.
//
// Two things tfjs 4.22 gets wrong at rank 5, each kept out of the step:
//  - tfjs-backend-webgpu's BinaryOpProgram, for a binary op between a rank-5 tensor and a 1-D one
//    of fewer than 128 elements (a bias add), takes its shared-memory path, whose WGSL reads
//    `sharedBuf[coords[4]]`; at rank 5 `coords` is tfjs's struct vec5, which WGSL cannot index.
//    The shader does not compile, so the command buffer holding its dispatch is invalid and the
//    queue rejects its submit: every kernel tfjs encoded since its last submit is lost, not only
//    the bias add, and their outputs keep whatever their recycled buffers held. tfjs does not look
//    at Dawn's validation error. That, most likely, is what the first attempt (2026-11-28) traced
//    as a skip connection overwritten by the up-convolution's values: with its biases added at
//    rank 5 this network fails the bench's check as that attempt did (update error 5e2, on the
//    bottleneck's second conv). PadV2 at rank 5, the gradient of a slice of a 5-D tensor, fails to compile the
//    same way. So every bias add here runs on the 4-D view [N·D, H, W, C] (addBias), as the batch
//    norm does (dawnet's BatchNorm3d takes the same view), and nothing slices a 5-D tensor.
//    bench/repro/tfjs-webgpu-rank5.mjs shows these failures on their own.
//  - tfjs-core registers no gradient for Conv3DBackpropInputV2, the kernel of tf.conv3dTranspose
//    ("gradient function not found"), though tfjs-backend-webgpu has the kernels its gradient
//    needs. registerConv3dTransposeGradient() adds it, written as tfjs-core's own gradient of
//    Conv2DBackpropInput one rank up: dy by conv3d, the filter by Conv3DBackpropFilterV2.
// Measured on lavapipe (8³, features 4, depth 2, batch 2): the loss and every one of the 36
// gradients on the WebGPU backend within 2e-6 (relative to each tensor's largest) of tfjs's CPU
// backend, and of the same network with the up-convolution as tf.conv2dTranspose per depth tap.

import type * as TF from '@tensorflow/tfjs-core';
import type { E2eSide, NamedWeight } from '../e2e.js';
import type { TfjsPeer } from '../peer-tfjs.js';
import { tfjsDiceTrainingSide, type Batch } from './unet-train.js';

// dawnet's BatchNorm3d eps (the step's Adam and Dice are the 2-D case's: tfjsDiceTrainingSide).
const EPS = 1e-5;

type T5 = TF.Tensor5D;

/** tf.conv3dTranspose's gradient, which tfjs-core 4.22 lacks (the header says why this one). */
export function registerConv3dTransposeGradient(tf: typeof TF): void {
  if (tf.getGradient('Conv3DBackpropInputV2')) return;
  tf.registerGradient({
    kernelName: 'Conv3DBackpropInputV2',
    inputsToSave: ['dy', 'filter'],
    gradFunc: (ddx, saved, attrs) => {
      const [dy, filter] = saved as [T5, T5];
      const dx = ddx as T5;
      const { strides, pad } = attrs as unknown as { strides: [number, number, number]; pad: 'valid' | 'same' };
      return {
        dy: () => tf.conv3d(dx, filter, strides, pad),
        filter: () => tf.engine().runKernel<TF.Tensor>('Conv3DBackpropFilterV2', { x: dx, dy }, { strides, pad, filterShape: filter.shape }),
      };
    },
  });
}

/** The same 3-D U-Net with tfjs ops, its variables taken from dawnet's weights by name. */
function tfjsUnet3d(tf: typeof TF, weights: Map<string, NamedWeight>, depth: number) {
  const vars = new Map<string, TF.Variable>();
  for (const [name, w] of weights) vars.set(name, tf.variable(tf.tensor(w.data, w.shape, 'float32'), true));
  const v = <R extends TF.Rank>(name: string) => {
    const t = vars.get(name);
    if (!t) throw new Error(`bench: the tfjs 3-D U-Net needs weight '${name}', which dawnet's model does not have`);
    return t as unknown as TF.Tensor<R>;
  };
  // The 4-D view [N·D, H, W, C] for the ops that fail at rank 5 on the WebGPU backend.
  const planes = (x: T5) => {
    const [n, d, h, w, c] = x.shape;
    return tf.reshape(x, [n * d, h, w, c]) as TF.Tensor4D;
  };
  const addBias = (x: T5, name: string): T5 => tf.reshape(tf.add(planes(x), v(name)), x.shape);
  const batchNorm = (x: T5, prefix: string): T5 => {
    const h = planes(x);
    const { mean, variance } = tf.moments(h, [0, 1, 2]);
    return tf.reshape(tf.batchNorm(h, mean, variance, v<TF.Rank.R1>(`${prefix}.bias`), v<TF.Rank.R1>(`${prefix}.weight`), EPS), x.shape);
  };
  const block = (prefix: string, x: T5): T5 => {
    let h = x;
    for (const i of [1, 2]) h = tf.relu(batchNorm(tf.conv3d(h, v<TF.Rank.R5>(`${prefix}conv${i}.weight`), 1, 'same'), `${prefix}norm${i}`));
    return h;
  };
  const up = (h: T5, level: number): T5 => {
    const w = v<TF.Rank.R5>(`upconv${level}.weight`);
    const [n, d, hh, ww] = h.shape;
    return addBias(tf.conv3dTranspose(h, w, [n, 2 * d, 2 * hh, 2 * ww, w.shape[3]], 2, 'valid'), `upconv${level}.bias`);
  };
  const forward = (x: T5): T5 => {
    const skips: T5[] = [];
    let h = x;
    for (let level = 1; level <= depth; level++) {
      const e = block(`encoder${level}.enc${level}`, h);
      skips.push(e);
      h = tf.maxPool3d(e, 2, 2, 'valid');
    }
    h = block('bottleneck.bottleneck', h);
    for (let level = depth; level >= 1; level--) h = block(`decoder${level}.dec${level}`, tf.concat([up(h, level), skips.pop()!], 4));
    return tf.sigmoid(addBias(tf.conv3d(h, v<TF.Rank.R5>('conv.weight'), 1, 'valid'), 'conv.bias'));
  };
  return { vars, forward };
}

/** tfjs's training step on the batch, from dawnet's starting weights (the 2-D case's step). */
export async function tfjsUnet3dSide(peer: TfjsPeer, weights: Map<string, NamedWeight>, data: Batch, depth: number): Promise<E2eSide> {
  await peer.gradients();
  const { tf } = peer;
  registerConv3dTransposeGradient(tf);
  const x = tf.tensor5d(data.x, data.xShape as [number, number, number, number, number]);
  const target = tf.tensor(data.target, data.targetShape, 'float32');
  return tfjsDiceTrainingSide(tf, tfjsUnet3d(tf, weights, depth), x, target);
}
