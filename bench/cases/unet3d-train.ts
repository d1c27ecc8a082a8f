// One 3-D U-Net training step: forward, soft Dice loss, backward, Adam, on a batch of volumes:
// dn.models.unet3d (features 16, depth 3, BatchNorm3d, 2x2x2 transposed up-convolutions, sigmoid;
// 3 input channels, the LGG slices' MRI sequences) with diceLoss and optim.Adam. Batch 2 of 128³
// volumes (nnU-Net's 3d_fullres patch) with sides divided by --scale, kept a multiple of 8 and at
// least 16, so the bottleneck is 2³ or more and batch norm has more than one value a channel.
// tfjs runs the same network (bench/cases/unet3d-tfjs.ts) from the same weights; the check runs
// two steps on both, as the 2-D case's does. tfjs 4.22 trains it only with two workarounds, which
// that file's header describes: on tfjs-backend-webgpu a bias added to a rank-5 tensor compiles no
// shader (BinaryOpProgram indexes its vec5 struct), and the submit that holds it is rejected with
// every kernel in it, so the bias adds run on a 4-D view; and tf.conv3dTranspose's gradient
// (Conv3DBackpropInputV2), which tfjs-core lacks, is registered by the bench. The first attempt
// (2026-11-28, its code not kept) left 17 of the 51 weight tensors unmoved over two Adam steps
// and moved the rest about half as far as dawnet's: lost kernels, most likely, as this network
// with its biases added at rank 5 fails the check the way that attempt's second version did.

import * as dn from '../../src/index.js';
import { dims, hostData } from '../case.js';
import type { DawnetSide, E2eCase } from '../e2e.js';
import { unet3dGraph } from '../memory.js';
import { tfjsUnet3dSide } from './unet3d-tfjs.js';
import { diceTrainingSide, type Batch, type UnetSize } from './unet-train.js';

const FEATURES = 16;
const DEPTH = 3;
const BATCH = 2;
// The 2-D case's check (bench/cases/unet-train.ts says why these numbers).
const CHECK_STEPS = 2;
const LOSS_TOLERANCE = 1e-3;
const UPDATE_TOLERANCE = 0.2;

/** 128 / scale, a multiple of 2^depth, at least 2·2^depth. */
export function volumeSide(scale: number, depth = DEPTH): number {
  const step = 2 ** depth;
  return Math.max(2 * step, Math.round(128 / scale / step) * step);
}

function volumeData(side: number, seed: number): Batch {
  const xShape = [BATCH, side, side, side, 3];
  const targetShape = [BATCH, side, side, side, 1];
  const x = hostData({ name: 'x', shape: xShape }, seed);
  const target = hostData({ name: 'target', shape: targetShape }, seed + 1).map((v) => (v > 0 ? 1 : 0));
  return { x, target, xShape, targetShape };
}

function dawnetSide(data: Batch, seed: number, net: UnetSize): DawnetSide {
  dn.setInitSeed(seed);
  return diceTrainingSide(dn.models.unet3d({ features: net.features, depth: net.depth, inChannels: 3 }), data);
}

/**
 * The 3-D U-Net's step at batch 2 (one case: a GPU run's budget goes further on the 2-D rows);
 * `net` the bench's network or a smaller one for tests.
 */
export function unet3dTrainCases(scale: number, net: UnetSize = { features: FEATURES, depth: DEPTH }): E2eCase[] {
  const side = volumeSide(scale, net.depth);
  let data: Batch | null = null;
  const get = () => (data ??= volumeData(side, 700));
  return [
    {
      id: `unet3d.train/b${BATCH}`,
      group: 'e2e',
      shape: `${dims([BATCH, side, side, side, 3])} f${net.features} d${net.depth}`,
      batch: BATCH,
      mode: 'train',
      graph: unet3dGraph({ batch: BATCH, size: side, features: net.features, depth: net.depth }),
      dawnet: () => dawnetSide(get(), 9, net),
      tfjs: (peer, weights) => tfjsUnet3dSide(peer, weights, get(), net.depth),
      // No conv algorithms or tuning timed beside dawnet's step: a GPU run's budget goes further on the 2-D rows.
      alone: true,
      checkSteps: CHECK_STEPS,
      tolerance: LOSS_TOLERANCE,
      weightTolerance: UPDATE_TOLERANCE,
      note: 'volumes; tfjs adds its biases on a 4-D view and has its conv3dTranspose gradient from the bench (see bench/cases/unet3d-tfjs.ts); dawnet also updates the batch norm running statistics, the tfjs step keeps none',
    },
  ];
}
