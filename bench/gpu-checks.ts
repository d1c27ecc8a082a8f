// `dawnet bench --checks`: every op once on the GPU against the float64 CPU reference (src/reference),
// forward and backward, at shapes that cross the kernels' tiles (odd sizes, channels past 64, batch
// > 1, strides). The test suite does the same on lavapipe; this is for a real GPU, whose subgroup
// size, workgroup limits and binding limits differ. Each op runs through its differentiable
// wrapper: y = op(inputs), then y.backward(dy) with a seeded dy, so the gradients come from the
// same path training uses. Last, element-wise ops over a tensor past maxStorageBufferBindingSize
// check the binding-limit splitting, where the device's limit is small enough to afford it.
//
// Closeness is max|gpu - cpu| / max|cpu| per output, like the bench's tfjs check.

import * as dn from '../src/index.js';
import { runtime } from '../src/gpu/runtime.js';
import type { Tensor } from '../src/graph/tensor.js';
import { setConvTile } from '../src/kernels/conv2d-launch.js';
import type { GemmTile } from '../src/kernels/conv2d-tiled.js';
import { nd, ndZeros, type NdArray } from '../src/reference/array.js';
import { batchNormBackwardRef, batchNormForwardRef } from '../src/reference/batchnorm.js';
import { concatRef, splitRef } from '../src/reference/concat.js';
import { convTranspose2dBackwardRef, convTranspose2dForwardRef } from '../src/reference/conv.js';
import { convChecks } from './gpu-checks-conv.js';
import { libraryOpChecks } from './gpu-checks-library.js';
import { volumeChecks } from './gpu-checks-volume.js';
import { binaryBackwardRef, binaryForwardRef, sumRef, unaryBackwardRef, unaryForwardRef } from '../src/reference/elementwise.js';
import { bceBackwardRef, bceForwardRef, diceBackwardRef, diceForwardRef } from '../src/reference/loss.js';
import { matmulBackwardRef, matmulRef } from '../src/reference/matmul.js';
import { avgPool2dBackwardRef, avgPool2dRef, maxPool2dBackwardRef, maxPool2dIndicesRef, maxPool2dRef, maxUnpool2dBackwardRef, maxUnpool2dRef } from '../src/reference/pool.js';
import { depthwiseConv2dBackwardRef, depthwiseConv2dForwardRef } from '../src/reference/depthwise-conv.js';
import { pad2dBackwardRef, pad2dRef } from '../src/reference/pad.js';
import { transposeRef } from '../src/reference/transpose.js';
import { tverskyBackwardRef, tverskyForwardRef, type TverskyRefOptions } from '../src/reference/overlap-loss.js';
import { sigmoidFocalBackwardRef, sigmoidFocalForwardRef } from '../src/reference/focal-loss.js';
import { groupNormBackwardRef, groupNormForwardRef } from '../src/reference/groupnorm.js';
import { softmaxBackwardRef, softmaxCrossEntropyBackwardRef, softmaxCrossEntropyRef, softmaxRef } from '../src/reference/softmax.js';
import { upsample2dBackwardRef, upsample2dRef } from '../src/reference/upsample.js';
import { compareOutputs } from './harness.js';
import { hostData } from './case.js';

type Data = 'uniform' | 'positive' | 'unit' | 'mask';

interface Input {
  shape: number[];
  data?: Data;
  /** Takes part in backward (its gradient is checked). */
  grad?: boolean;
}

export interface GpuCheck {
  name: string;
  inputs: Input[];
  gpu: (x: Tensor[]) => Tensor;
  /** Output and the gradients of the inputs marked grad, in order. */
  cpu: (x: NdArray[], dy: NdArray) => { y: NdArray; grads: NdArray[] };
  /** Largest max|gpu - cpu| / max|cpu|; sums of a few thousand f32 terms stay inside 1e-4. */
  tolerance?: number;
  /** The conv algorithm the check runs under, forward and backward alike (default: convAlgorithm's). */
  algorithm?: dn.ConvAlgorithm;
  /** The tiled family's tile forced on every GEMM of the check (setConvTile; default: the rule's). */
  tile?: GemmTile;
}

function values(input: Input, seed: number): Float32Array {
  const raw = hostData({ name: 'x', shape: input.shape, data: input.data === 'positive' ? 'positive' : 'uniform' }, seed);
  if (input.data === 'unit') return raw.map((v) => 0.05 + 0.45 * (v + 1));
  if (input.data === 'mask') return raw.map((v) => (v > 0 ? 1 : 0));
  return raw;
}


/**
 * Batch norm in training mode over `shape` (default [3, 7, 9, 40]), plain or with its fused ReLU
 * (CPU: batch norm, then ReLU).
 */
function batchNorm(relu: boolean, shape = [3, 7, 9, 40]): GpuCheck {
  const c = shape[3];
  return {
    name: `batchNorm2d training${relu ? ' with a fused ReLU' : ''} [${shape}]`,
    inputs: [
      { shape, grad: true },
      { shape: [c], data: 'positive', grad: true },
      { shape: [c], grad: true },
      { shape: [c] },
      { shape: [c], data: 'positive' },
    ],
    gpu: ([x, g, b, m, v]) => dn.batchNorm2d(x, g, b, m, v, { training: true, relu }),
    cpu: ([x, g, b, m, v], dy) => {
      const o = { training: true };
      const y = batchNormForwardRef(x, g, b, m, v, o).y;
      const r = batchNormBackwardRef(x, g, relu ? unaryBackwardRef('relu', y, dy) : dy, m, v, o);
      return { y: relu ? unaryForwardRef('relu', y) : y, grads: [r.dx, r.dgamma, r.dbeta] };
    },
    // Per-channel sums over 189 rows (or 33,800) feed every output.
    tolerance: 1e-3,
  };
}

function unary(op: 'relu' | 'sigmoid', shape: number[]): GpuCheck {
  return {
    name: `${op} [${shape}]`,
    inputs: [{ shape, grad: true }],
    gpu: ([a]) => (op === 'relu' ? dn.relu(a) : dn.sigmoid(a)),
    cpu: ([a], dy) => ({ y: unaryForwardRef(op, a), grads: [unaryBackwardRef(op, a, dy)] }),
  };
}

function binary(op: 'add' | 'mul', a: number[], b: number[]): GpuCheck {
  return {
    name: `${op} [${a}] [${b}]`,
    inputs: [{ shape: a, grad: true }, { shape: b, grad: true }],
    gpu: ([x, y]) => (op === 'add' ? dn.add(x, y) : dn.mul(x, y)),
    cpu: ([x, y], dy) => ({ y: binaryForwardRef(op, x, y), grads: binaryBackwardRef(op, x, y, dy) }),
  };
}

const POOL = { size: 2, stride: 2 } as const;
const POOL_TORCH = { size: 3, stride: 2, padding: 1, ceilMode: true } as const;
const AVG_TORCH = { ...POOL_TORCH, countIncludePad: false } as const;
const UNPOOL = { size: 3, stride: 2, padding: 1 } as const;
const POOL_DILATED = { size: 3, stride: 2, padding: 1, dilation: 2 } as const;

export function gpuChecks(): GpuCheck[] {
  return [
    ...convChecks(),
    {
      name: 'convTranspose2d 2x2 stride 2 [2,5,7,16] -> 8',
      inputs: [{ shape: [2, 5, 7, 16], grad: true }, { shape: [2, 2, 8, 16], grad: true }, { shape: [8], grad: true }],
      gpu: ([x, w, b]) => dn.convTranspose2d(x, w, b, { stride: 2 }),
      cpu: ([x, w, b], dy) => {
        const g = convTranspose2dBackwardRef(x, w, dy, { stride: 2 });
        return { y: convTranspose2dForwardRef(x, w, b, { stride: 2 }), grads: [g.dx, g.dw, g.db] };
      },
    },
    ...[[2, 10, 14, 6], [1, 9, 11, 3]].map((shape) => ({
      name: `maxPool2d 2x2 [${shape}]`,
      inputs: [{ shape, grad: true }],
      gpu: ([x]: Tensor[]) => dn.maxPool2d(x, POOL),
      cpu: ([x]: NdArray[], dy: NdArray) => ({ y: maxPool2dRef(x, POOL), grads: [maxPool2dBackwardRef(x, dy, POOL)] }),
    })),
    // PyTorch's options (ResNet's stem pool, an average without its padding): windows that
    // overhang the input, clipped and divided position by position.
    {
      name: 'maxPool2d 3x3 stride 2 padding 1 ceilMode [2,11,13,5]',
      inputs: [{ shape: [2, 11, 13, 5], grad: true }],
      gpu: ([x]: Tensor[]) => dn.maxPool2d(x, POOL_TORCH),
      cpu: ([x]: NdArray[], dy: NdArray) => ({ y: maxPool2dRef(x, POOL_TORCH), grads: [maxPool2dBackwardRef(x, dy, POOL_TORCH)] }),
    },
    {
      name: 'maxPool2d 3x3 stride 2 padding 1 dilation 2 [2,11,13,5]',
      inputs: [{ shape: [2, 11, 13, 5], grad: true }],
      gpu: ([x]: Tensor[]) => dn.maxPool2d(x, POOL_DILATED),
      cpu: ([x]: NdArray[], dy: NdArray) => ({ y: maxPool2dRef(x, POOL_DILATED), grads: [maxPool2dBackwardRef(x, dy, POOL_DILATED)] }),
    },
    // SegNet's pair: the pool's indices, and the unpool putting each value back (the overlapping
    // windows give some pixels two windows, so the unpool's last-wins rule runs too).
    {
      name: 'maxUnpool2d of maxPool2dWithIndices 3x3 stride 2 padding 1 [2,11,13,5]',
      inputs: [{ shape: [2, 11, 13, 5], grad: true }],
      gpu: ([x]: Tensor[]) => {
        const { y, indices } = dn.maxPool2dWithIndices(x, UNPOOL);
        return dn.maxUnpool2d(y, indices, { ...UNPOOL, outputSize: [11, 13] });
      },
      cpu: ([x]: NdArray[], dy: NdArray) => {
        const [pooled, indices] = [maxPool2dRef(x, UNPOOL), maxPool2dIndicesRef(x, UNPOOL)];
        const dPooled = maxUnpool2dBackwardRef(indices, dy, 11, 13);
        return { y: maxUnpool2dRef(pooled, indices, 11, 13), grads: [maxPool2dBackwardRef(x, dPooled, UNPOOL)] };
      },
    },
    {
      name: 'avgPool2d 3x3 stride 2 padding 1 ceilMode, padding not counted [2,11,13,5]',
      inputs: [{ shape: [2, 11, 13, 5], grad: true }],
      gpu: ([x]: Tensor[]) => dn.avgPool2d(x, AVG_TORCH),
      cpu: ([x]: NdArray[], dy: NdArray) => ({ y: avgPool2dRef(x, AVG_TORCH), grads: [avgPool2dBackwardRef(x.shape, dy, AVG_TORCH)] }),
    },
    ...(['nearest', 'bilinear'] as const).map((mode) => ({
      name: `upsample2d ${mode} x2 [2,5,6,4]`,
      inputs: [{ shape: [2, 5, 6, 4], grad: true }],
      gpu: ([x]: Tensor[]) => dn.upsample2d(x, { scale: 2, mode }),
      cpu: ([x]: NdArray[], dy: NdArray) => ({ y: upsample2dRef(x, 10, 12, mode), grads: [upsample2dBackwardRef(x.shape, dy, mode)] }),
    })),
    batchNorm(false),
    batchNorm(true),
    // 33,800 rows: on a GPU more row chunks than the finish adds in its loop (row-chunks.ts).
    batchNorm(false, [2, 130, 130, 8]),
    unary('relu', [2, 13, 11, 7]),
    unary('relu', [2, 4, 5, 8]),
    unary('sigmoid', [2, 13, 11, 7]),
    binary('add', [2, 6, 5, 24], [24]),
    binary('mul', [3, 7, 11], [3, 7, 11]),
    {
      name: 'sum over N, H, W [2,9,7,33]',
      inputs: [{ shape: [2, 9, 7, 33], grad: true }],
      gpu: ([x]) => dn.sum(x, [0, 1, 2]),
      cpu: ([x], dy) => ({ y: sumRef(x, [0, 1, 2]), grads: [nd(Array.from(x.data, (_, i) => dy.data[i % 33]), x.shape)] }),
    },
    ...[[37, 70, 45], [8, 2000, 16]].map(([m, k, n]) => ({
      name: `matmul [${m},${k}] x [${k},${n}]`,
      inputs: [{ shape: [m, k], grad: true }, { shape: [k, n], grad: true }],
      gpu: ([a, b]: Tensor[]) => dn.matmul(a, b),
      cpu: ([a, b]: NdArray[], dy: NdArray) => ({ y: matmulRef(a, b), grads: matmulBackwardRef(a, b, dy) }),
      tolerance: 2e-4,
    })),
    {
      name: 'concat channels [2,3,4,5] + [2,3,4,7]',
      inputs: [{ shape: [2, 3, 4, 5], grad: true }, { shape: [2, 3, 4, 7], grad: true }],
      gpu: (xs) => dn.concat(xs, -1),
      cpu: (xs, dy) => ({ y: concatRef(xs, -1), grads: splitRef(dy, [5, 7], -1) }),
    },
    {
      name: 'diceLoss [2,11,13,1]',
      inputs: [{ shape: [2, 11, 13, 1], data: 'unit', grad: true }, { shape: [2, 11, 13, 1], data: 'mask' }],
      gpu: ([p, y]) => dn.diceLoss(p, y),
      cpu: ([p, y], dy) => ({ y: nd([diceForwardRef(p, y)], [1]), grads: [diceBackwardRef(p, y, dy.data[0])] }),
    },
    {
      name: 'bceLoss mean [2,11,13,1]',
      inputs: [{ shape: [2, 11, 13, 1], data: 'unit', grad: true }, { shape: [2, 11, 13, 1], data: 'mask' }],
      gpu: ([p, y]) => dn.bceLoss(p, y, { reduction: 'mean' }),
      cpu: ([p, y], dy) => ({ y: bceForwardRef(p, y, 1e-7, 'mean'), grads: [bceBackwardRef(p, y, dy, 1e-7, 'mean')] }),
    },
    {
      name: 'diceLoss perChannel [2,11,13,3]',
      inputs: [{ shape: [2, 11, 13, 3], data: 'unit', grad: true }, { shape: [2, 11, 13, 3], data: 'mask' }],
      gpu: ([p, y]) => dn.diceLoss(p, y, { perChannel: true }),
      cpu: ([p, y], dy) => ({ y: nd([diceForwardRef(p, y, 1, false, true)], [1]), grads: [diceBackwardRef(p, y, dy.data[0], 1, false, true)] }),
    },
    {
      // Two multipliers per channel, stride 2: the weight gradient over 3 chunks of pixels.
      name: 'depthwiseConv2d 3x3 stride 2 same, multiplier 2 [4,97,95,3]',
      inputs: [{ shape: [4, 97, 95, 3], grad: true }, { shape: [3, 3, 3, 2], grad: true }, { shape: [6], grad: true }],
      gpu: ([x, w, b]) => dn.depthwiseConv2d(x, w, b, { stride: 2, padding: 'same' }),
      cpu: ([x, w, b], dy) => {
        const g = depthwiseConv2dBackwardRef(x, w, dy, { stride: 2, padding: 'same' });
        return { y: depthwiseConv2dForwardRef(x, w, b, { stride: 2, padding: 'same' }), grads: [g.dx, g.dw, g.db] };
      },
      tolerance: 2e-4,
    },
    {
      name: 'depthwiseConv2d 3x3 dilation 2 same [2,21,19,8]',
      inputs: [{ shape: [2, 21, 19, 8], grad: true }, { shape: [3, 3, 8, 1], grad: true }, { shape: [8], grad: true }],
      gpu: ([x, w, b]) => dn.depthwiseConv2d(x, w, b, { dilation: 2, padding: 'same' }),
      cpu: ([x, w, b], dy) => {
        const g = depthwiseConv2dBackwardRef(x, w, dy, { dilation: 2, padding: 'same' });
        return { y: depthwiseConv2dForwardRef(x, w, b, { dilation: 2, padding: 'same' }), grads: [g.dx, g.dw, g.db] };
      },
    },
    {
      name: 'transpose NCHW [3,5,17,19] to NHWC',
      inputs: [{ shape: [3, 5, 17, 19], grad: true }],
      gpu: ([x]) => dn.transpose(x, [0, 2, 3, 1]),
      cpu: ([x], dy) => ({ y: transposeRef(x, [0, 2, 3, 1]), grads: [transposeRef(dy, [0, 3, 1, 2])] }),
    },
    {
      name: 'pad2d reflect [2,9,11,8] by [3,1,2,4]',
      inputs: [{ shape: [2, 9, 11, 8], grad: true }],
      gpu: ([x]) => dn.pad2d(x, [3, 1, 2, 4], { mode: 'reflect' }),
      cpu: ([x], dy) => ({ y: pad2dRef(x, [3, 1, 2, 4], 'reflect'), grads: [pad2dBackwardRef(x.shape, dy, [3, 1, 2, 4], 'reflect')] }),
    },
    {
      // 12 channels in 3 groups of 4 (vec4 loads), 5120 vec4s a group: two chunks per group.
      name: 'groupNorm 3 groups [2,64,80,12]',
      inputs: [{ shape: [2, 64, 80, 12], grad: true }, { shape: [12], data: 'positive', grad: true }, { shape: [12], grad: true }],
      gpu: ([x, g, b]) => dn.groupNorm(x, g, b, { groups: 3 }),
      cpu: ([x, g, b], dy) => {
        const back = groupNormBackwardRef(x, g, dy, 3);
        return { y: groupNormForwardRef(x, g, b, 3).y, grads: [back.dx, back.dgamma, back.dbeta] };
      },
    },
    {
      name: 'softmax [3,7,9,5]',
      inputs: [{ shape: [3, 7, 9, 5], grad: true }],
      gpu: ([x]) => dn.softmax(x),
      cpu: ([x], dy) => ({ y: softmaxRef(x), grads: [softmaxBackwardRef(x, dy)] }),
    },
    {
      name: 'softmaxCrossEntropy mean, smoothing 0.1 [2,11,13,4]',
      inputs: [{ shape: [2, 11, 13, 4], grad: true }, { shape: [2, 11, 13, 4], data: 'unit' }],
      gpu: ([z, y]) => dn.softmaxCrossEntropy(z, y, { labelSmoothing: 0.1 }),
      cpu: ([z, y], dy) => ({ y: softmaxCrossEntropyRef(z, y, { labelSmoothing: 0.1 }), grads: [softmaxCrossEntropyBackwardRef(z, y, dy, { labelSmoothing: 0.1 })] }),
    },
    {
      // 1000 classes: a workgroup per row on a GPU (softmax-rows.ts), one thread per row on CPUs.
      name: 'softmaxCrossEntropy sum [37,1000]',
      inputs: [{ shape: [37, 1000], grad: true }, { shape: [37, 1000], data: 'unit' }],
      gpu: ([z, y]) => dn.softmaxCrossEntropy(z, y, { reduction: 'sum' }),
      cpu: ([z, y], dy) => ({ y: softmaxCrossEntropyRef(z, y, { reduction: 'sum' }), grads: [softmaxCrossEntropyBackwardRef(z, y, dy, { reduction: 'sum' })] }),
    },
    {
      name: 'softmax [5,3,1000]',
      inputs: [{ shape: [5, 3, 1000], grad: true }],
      gpu: ([x]) => dn.softmax(x),
      cpu: ([x], dy) => ({ y: softmaxRef(x), grads: [softmaxBackwardRef(x, dy)] }),
    },
    ...lesionLossChecks(),
    ...libraryOpChecks(),
    ...volumeChecks(),
    ...bindingLimitChecks(),
  ];
}

/** Tversky and focal Tversky per sample and class (composed ops: the reductions' grouping), and the focal loss on logits. */
function lesionLossChecks(): GpuCheck[] {
  const tversky: TverskyRefOptions = { alpha: 0.3, beta: 0.7, smooth: 1, perSample: true, perChannel: true };
  const focal = { ...tversky, gamma: 0.75 };
  const shape = [3, 21, 19, 2];
  const pair: Input[] = [{ shape, data: 'unit', grad: true }, { shape, data: 'mask' }];
  return [
    {
      name: `tverskyLoss perSample perChannel [${shape}]`,
      inputs: pair,
      gpu: ([p, y]) => dn.tverskyLoss(p, y, tversky),
      cpu: ([p, y], dy) => ({ y: nd([tverskyForwardRef(p, y, tversky)], [1]), grads: [tverskyBackwardRef(p, y, dy.data[0], tversky)] }),
    },
    {
      name: `focalTverskyLoss perSample perChannel [${shape}]`,
      inputs: pair,
      gpu: ([p, y]) => dn.focalTverskyLoss(p, y, focal),
      cpu: ([p, y], dy) => ({ y: nd([tverskyForwardRef(p, y, focal)], [1]), grads: [tverskyBackwardRef(p, y, dy.data[0], focal)] }),
    },
    {
      name: 'sigmoidFocalLoss mean [2,33,35,1]',
      inputs: [{ shape: [2, 33, 35, 1], grad: true }, { shape: [2, 33, 35, 1], data: 'mask' }],
      gpu: ([z, y]) => dn.sigmoidFocalLoss(z, y),
      cpu: ([z, y], dy) => {
        const o = { alpha: 0.25, gamma: 2, reduction: 'mean' as const };
        return { y: sigmoidFocalForwardRef(z, y, o), grads: [sigmoidFocalBackwardRef(z, y, dy, o)] };
      },
    },
  ];
}

/** The general-purpose ops: extrema, gathers, selections, gelu, layer norm. */
/** Element-wise ops over 1.25x maxStorageBufferBindingSize, where that stays under 512 MiB. */
function bindingLimitChecks(): GpuCheck[] {
  const limit = runtime().limits.maxStorageBufferBindingSize;
  if (limit * 1.25 > 512 * 2 ** 20) return [];
  const n = Math.ceil((limit * 1.25) / 4);
  return [unary('relu', [n]), binary('add', [n], [n])].map((c) => ({ ...c, name: `${c.name} (past the ${limit / 2 ** 20} MiB binding limit)` }));
}

async function runCheck(c: GpuCheck, seed: number): Promise<string[]> {
  const host = c.inputs.map((input, i) => values(input, seed + i));
  const xs = host.map((data, i) => dn.tensor(data, c.inputs[i].shape, { requiresGrad: !!c.inputs[i].grad }));
  const failures: string[] = [];
  const before = c.algorithm ? dn.setConvAlgorithm(c.algorithm) : null;
  if (c.tile) setConvTile(c.tile);
  try {
    // A scope frees a composite check's intermediates (the tape keeps what backward needs).
    const y = dn.scope(() => c.gpu(xs));
    const dyHost = values({ shape: [...y.shape] }, seed + 99);
    const dy = dn.tensor(dyHost, y.shape);
    // Indices (argmax) record no gradient: nothing to run backward through.
    if (y.requiresGrad) y.backward(dy);
    if (before) dn.setConvAlgorithm(before);
    const want = c.cpu(
      host.map((data, i) => nd(data, c.inputs[i].shape)),
      nd(dyHost, [...y.shape]),
    );
    const outputs: [string, Float32Array, NdArray][] = [['forward', await y.toArray(), want.y]];
    const withGrad = xs.filter((_, i) => c.inputs[i].grad);
    for (const [k, x] of withGrad.entries()) {
      outputs.push([`grad ${k}`, x.grad ? await x.grad.toArray() : new Float32Array(0), want.grads[k] ?? ndZeros([0])]);
    }
    y.dispose();
    dy.dispose();
    for (const [what, got, ref] of outputs) {
      const r = compareOutputs(got, Float32Array.from(ref.data), c.tolerance ?? 1e-4);
      if (!r.ok) failures.push(`${what}: max err / max |ref| = ${r.maxRelErr.toExponential(2)}`);
    }
  } catch (e) {
    failures.push(`threw ${(e as Error).name}: ${(e as Error).message}`);
  } finally {
    if (before) dn.setConvAlgorithm(before);
    if (c.tile) setConvTile(null);
    for (const x of xs) x.dispose();
  }
  return failures;
}

/** Runs every check, printing one line each; returns how many failed. */
export async function runGpuChecks(): Promise<number> {
  let failed = 0;
  for (const [i, c] of gpuChecks().entries()) {
    const t0 = performance.now();
    const failures = await runCheck(c, 9000 + 100 * i);
    const ms = (performance.now() - t0).toFixed(0);
    console.log(`${failures.length ? 'FAIL' : 'ok  '} ${c.name} (${ms} ms)${failures.map((f) => `\n     ${f}`).join('')}`);
    if (failures.length) failed++;
  }
  const leaked = runtime().pool.getStats().bytesInUse;
  console.log(`${failed ? `${failed} check(s) failed` : 'all checks passed'}; ${leaked} bytes still in use`);
  return failed;
}
