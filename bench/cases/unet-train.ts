// One U-Net training step: forward, soft Dice loss, backward, Adam. dawnet runs its own model
// (dn.models.unet: features 32, depth 4, batch norm, transposed up-convolutions, sigmoid) with
// diceLoss and optim.Adam; tfjs runs the same network written with its ops: conv2d without bias,
// batch norm in training mode (tf.moments over N, H, W, then tf.batchNorm), relu, maxPool,
// conv2dTranspose + bias, concat (up first, then skip), a 1x1 conv + bias, sigmoid, soft Dice over
// the batch (smoothing 1), gradients by tf.variableGrads and tf.train.adam. The sizes are the
// bench's U-Net levels (batch 16, 256x256x32 down to 16x16x512) divided by --scale; the image side
// stays a multiple of 16 so four poolings divide it.

import type * as TF from '@tensorflow/tfjs-core';
import * as dn from '../../src/index.js';
import { dims, hostData, scaled } from '../case.js';
import type { DawnetSide, E2eCase, E2eSide, NamedWeight } from '../e2e.js';
import { unetGraph } from '../memory.js';
import type { TfjsPeer } from '../peer-tfjs.js';

const FEATURES = 32;
const DEPTH = 4;
const EPS = 1e-5;
const LR = 1e-3;
const SMOOTH = 1;

/**
 * The check (bench/e2e.ts): 2 steps from the same weights on both sides, each step's loss compared
 * (the second one's comes from the weights the first updated), then each weight tensor's update
 * over both, digested as the sum of its |Δ|. Float32 summed in different orders through 19 convs
 * and 18 batch norms, and Adam, which moves each weight by about ±lr whatever its gradient's size,
 * so gradients within rounding of 0 move a few weights differently on the two engines. Measured
 * on lavapipe, batch 1 to 4 at 32x32 to 128x128: losses within 1.8e-5 (a step that skipped its
 * update leaves the second loss 10% off), digests within 4.4e-2, in 32-element batch norm
 * tensors (a skipped update gives 1, a rate off by 2x 0.5 or more). A third step multiplied the
 * loss difference by 30 at 64x64 (5.6e-4): two steps catch the same faults with more margin.
 */
const CHECK_STEPS = 2;
const LOSS_TOLERANCE = 1e-3;
const UPDATE_TOLERANCE = 0.2;

/**
 * 256 / scale, rounded to a multiple of 2^depth, and at least 2·2^depth: the bottleneck must be at
 * least 2x2, or batch 1 gives batch norm one value per channel.
 */
export function unetImageSize(scale: number): number {
  const step = 2 ** DEPTH;
  return Math.max(2 * step, Math.round(256 / scale / step) * step);
}

/** The two batch sizes measured: the scaled one and half of it (or 1 and 2 when it is 1). */
export function twoBatches(full: number, scale: number): [number, number] {
  const b = scaled(full, scale);
  return b >= 2 ? [b, Math.floor(b / 2)] : [1, 2];
}

export interface Batch {
  x: Float32Array;
  target: Float32Array;
  xShape: number[];
  targetShape: number[];
}

export function batchData(batch: number, size: number, seed: number): Batch {
  const xShape = [batch, size, size, 3];
  const targetShape = [batch, size, size, 1];
  const x = hostData({ name: 'x', shape: xShape }, seed);
  const target = hostData({ name: 'target', shape: targetShape }, seed + 1).map((v) => (v > 0 ? 1 : 0));
  return { x, target, xShape, targetShape };
}

export async function readWeights(model: dn.Module): Promise<Map<string, NamedWeight>> {
  const out = new Map<string, NamedWeight>();
  for (const p of model.namedParameters()) out.set(p.name, { shape: [...p.tensor.shape], data: await p.tensor.toArray() });
  return out;
}

/** The network's size: the bench's, or a smaller one for tests. */
export interface UnetSize {
  features: number;
  depth: number;
  /** dawnet's side checkpoints every block (unet({ checkpoint: true })). */
  checkpoint?: boolean;
}

function dawnetSide(data: Batch, seed: number, net: UnetSize): DawnetSide {
  dn.setInitSeed(seed);
  return diceTrainingSide(dn.models.unet(net), data);
}

/** dawnet's side of a segmentation step: `model` on the batch, soft Dice (smoothing 1), Adam; the model is the side's to dispose. */
export function diceTrainingSide(model: dn.Module, data: Batch): DawnetSide {
  const optimizer = new dn.optim.Adam(model.trainableParameters(), { lr: LR });
  const x = dn.tensor(data.x, data.xShape);
  const target = dn.tensor(data.target, data.targetShape);
  // The last step's loss, kept for the check (a scalar).
  let loss: dn.Tensor | null = null;
  return {
    step: () => {
      loss?.dispose();
      loss = dn.scope(() => {
        const l = dn.diceLoss(model.forward(x), target, { smooth: SMOOTH });
        dn.keep(l);
        l.backward();
        return l;
      });
      optimizer.step();
      optimizer.zeroGrad();
    },
    last: async () => (loss ? loss.toArray() : new Float32Array(0)),
    weights: () => readWeights(model),
    dispose: () => {
      loss?.dispose();
      x.dispose();
      target.dispose();
      optimizer.dispose();
      model.dispose();
    },
  };
}

type T4 = TF.Tensor4D;

/** The same U-Net with tfjs ops, its variables taken from dawnet's weights by name. */
function tfjsUnet(tf: typeof TF, weights: Map<string, NamedWeight>, depth: number) {
  const vars = new Map<string, TF.Variable>();
  for (const [name, w] of weights) vars.set(name, tf.variable(tf.tensor(w.data, w.shape, 'float32'), true));
  const v = <R extends TF.Rank>(name: string) => {
    const t = vars.get(name);
    if (!t) throw new Error(`bench: the tfjs U-Net needs weight '${name}', which dawnet's model does not have`);
    return t as unknown as TF.Tensor<R>;
  };
  const block = (prefix: string, x: T4): T4 => {
    let h = x;
    for (const i of [1, 2]) {
      h = tf.conv2d(h, v<TF.Rank.R4>(`${prefix}conv${i}.weight`), 1, 'same');
      const { mean, variance } = tf.moments(h, [0, 1, 2]);
      h = tf.batchNorm(h, mean, variance, v<TF.Rank.R1>(`${prefix}norm${i}.bias`), v<TF.Rank.R1>(`${prefix}norm${i}.weight`), EPS) as T4;
      h = tf.relu(h);
    }
    return h;
  };
  const forward = (x: T4): T4 => {
    const skips: T4[] = [];
    let h = x;
    for (let level = 1; level <= depth; level++) {
      const e = block(`encoder${level}.enc${level}`, h);
      skips.push(e);
      h = tf.maxPool(e, 2, 2, 'valid');
    }
    h = block('bottleneck.bottleneck', h);
    for (let level = depth; level >= 1; level--) {
      const w = v<TF.Rank.R4>(`upconv${level}.weight`);
      const [n, hh, ww] = h.shape;
      const u = tf.add(tf.conv2dTranspose(h, w, [n, 2 * hh, 2 * ww, w.shape[2]], 2, 'valid'), v(`upconv${level}.bias`)) as T4;
      h = block(`decoder${level}.dec${level}`, tf.concat([u, skips.pop()!], 3));
    }
    return tf.sigmoid(tf.add(tf.conv2d(h, v<TF.Rank.R4>('conv.weight'), 1, 'valid'), v('conv.bias')));
  };
  return { vars, forward };
}

/** dn.diceLoss with its smoothing written in tfjs ops: 1 − (2·Σ p·t + 1) / (Σ p + Σ t + 1). */
function tfjsDice(tf: typeof TF, p: TF.Tensor, target: TF.Tensor): TF.Scalar {
  const twiceInter = tf.mul(tf.sum(tf.mul(p, target)), 2);
  const total = tf.add(tf.sum(p), tf.sum(target));
  return tf.sub(1, tf.div(tf.add(twiceInter, SMOOTH), tf.add(total, SMOOTH)));
}

/** A U-Net written in tfjs ops: its weights by dawnet's names, and its forward. */
export interface TfjsNet<X extends TF.Tensor> {
  vars: Map<string, TF.Variable>;
  forward: (x: X) => TF.Tensor;
}

/**
 * tfjs's training step of `net` on one batch (x, target), both U-Net cases' peer: the Dice loss's
 * gradients by tf.variableGrads, then tf.train.adam with dawnet's settings. The side owns x, target
 * and the weights, and disposes them.
 */
export function tfjsDiceTrainingSide<X extends TF.Tensor>(tf: typeof TF, net: TfjsNet<X>, x: X, target: TF.Tensor): E2eSide {
  const vars = [...net.vars.values()];
  const optimizer = tf.train.adam(LR, 0.9, 0.999, 1e-8);
  let loss: TF.Scalar | null = null;
  return {
    step: () => {
      loss?.dispose();
      const { value, grads } = tf.variableGrads(() => tfjsDice(tf, net.forward(x), target), vars);
      optimizer.applyGradients(Object.entries(grads).map(([name, tensor]) => ({ name, tensor })));
      tf.dispose(Object.values(grads));
      loss = value;
    },
    last: async () => (loss ? ((await loss.data()) as Float32Array) : new Float32Array(0)),
    weights: async () => {
      const out = new Map<string, NamedWeight>();
      for (const [name, t] of net.vars) out.set(name, { shape: [...t.shape], data: (await t.data()) as Float32Array });
      return out;
    },
    dispose: () => {
      tf.dispose([x, target, ...vars, ...(loss ? [loss] : [])]);
      optimizer.dispose();
    },
  };
}

async function tfjsSide(peer: TfjsPeer, weights: Map<string, NamedWeight>, data: Batch, depth: number): Promise<E2eSide> {
  await peer.gradients();
  const { tf } = peer;
  const x = tf.tensor4d(data.x, data.xShape as [number, number, number, number]);
  const target = tf.tensor(data.target, data.targetShape, 'float32');
  return tfjsDiceTrainingSide(tf, tfjsUnet(tf, weights, depth), x, target);
}

/**
 * The step at both batch sizes, then at the larger one with dawnet's blocks checkpointed
 * (dn.checkpoint): what activation checkpointing costs in time and saves in memory, timed alone
 * (the plain row has the same tfjs step). Only the plain rows count towards the speed bar.
 */
export function unetTrainCases(scale: number, net: UnetSize = { features: FEATURES, depth: DEPTH }): E2eCase[] {
  const batches = twoBatches(16, scale);
  return [
    ...batches.map((batch, i) => unetTrainCase(scale, batch, 500 + i, net)),
    // The larger batch's own data, so that its check compares what the plain row's does.
    unetTrainCase(scale, Math.max(...batches), 500 + batches.indexOf(Math.max(...batches)), { ...net, checkpoint: true }),
  ];
}

function unetTrainCase(scale: number, batch: number, seed: number, net: UnetSize): E2eCase {
  const size = unetImageSize(scale);
  let data: Batch | null = null;
  const get = () => (data ??= batchData(batch, size, seed));
  return {
    id: `unet.train${net.checkpoint ? '.checkpoint' : ''}/b${batch}`,
    group: 'e2e',
    shape: `${dims([batch, size, size, 3])} f${net.features} d${net.depth}`,
    batch,
    mode: 'train',
    graph: unetGraph({ batch, size, features: net.features, depth: net.depth }),
    dawnet: () => dawnetSide(get(), 7, net),
    // The checkpointed variant: the plain row's tfjs step is the same, and a GPU run's budget
    // (tfjs took 3.8 s a step on the H200) is better spent on the cases after it.
    ...(net.checkpoint ? { alone: true } : { tfjs: (peer: TfjsPeer, weights: Map<string, NamedWeight>) => tfjsSide(peer, weights, get(), net.depth) }),
    checkSteps: CHECK_STEPS,
    tolerance: LOSS_TOLERANCE,
    weightTolerance: UPDATE_TOLERANCE,
    note: net.checkpoint
      ? "dawnet checkpoints every block (unet({ checkpoint: true })): its activations are recomputed in the backward, so its peak may fall below the minimum, which counts them kept; timed alone: the plain row above has the same tfjs step"
      : 'dawnet also updates the batch norm running statistics; the tfjs step keeps none',
  } satisfies E2eCase;
}

