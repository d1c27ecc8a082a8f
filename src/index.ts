// dawnet's one public entry point.

import { adapterName, type AdapterReport, type InitOptions } from './gpu/device.js';
import { initRuntime, runtime, shutdownRuntime } from './gpu/runtime.js';
import type { KernelTime } from './gpu/gpu-timer.js';
import type { PoolStats } from './gpu/buffer-pool.js';
import { arithmetic, unary } from './kernels/elementwise.js';
import type { Tensor } from './graph/tensor.js';
import { expectFunction, expectOptionalNumber, expectTensor } from './graph/args.js';
import { scope } from './graph/scope.js';
import { ArgumentError } from './errors.js';

export * from './errors.js';
export { Tensor, tensor, zeros, full, shapeSize } from './graph/tensor.js';
export type { NestedNumbers, Shape, TensorOptions } from './graph/tensor.js';
export { scope, keep } from './graph/scope.js';
export { noGrad, enableGrad, isRecording } from './graph/autograd.js';
export { checkpoint } from './graph/checkpoint.js';
export { gradients, type GradientsOptions } from './graph/gradients.js';
export { gradcheck, type GradcheckOptions, type GradcheckReference, type GradcheckHostArgs, type GradcheckReport, type GradcheckInput, type GradcheckElement, type GradcheckForward } from './graph/gradcheck.js';
export { sum, mean } from './kernels/reduce.js';
export { max, min, argmax, argmin } from './kernels/extrema.js';
export { reshape } from './graph/reshape.js';
export type { InitOptions, AdapterReport, PoolStats, KernelTime };

// Ops, each differentiable (backward next to forward in src/kernels/<op>.ts).
export { conv2d, conv2dForward, conv2dBackwardInput, conv2dBackwardWeight, conv2dBackwardBias } from './kernels/conv2d.js';
export type { Conv2dOptions, ConvActivation, ConvGeometry } from './kernels/conv2d.js';
export { convAlgorithm, setConvAlgorithm, type ConvAlgorithm } from './kernels/conv2d-winograd-run.js';
export { setConvTile } from './kernels/conv2d-launch.js';
export type { GemmTile } from './kernels/conv2d-tiled.js';
export { setUniformWeightsPixels } from './kernels/conv2d-uniform-weights.js';
export { tuneConvs, convTuning, applyConvTuning, clearConvTuning, type TuneOptions, type ConvTuning, type TunedConv } from './kernels/conv2d-tuning.js';
// Named by convAlgorithm's parameters and TunedConv's fields, so a consumer can name them too.
export type { ConvCall, ConvCandidate } from './kernels/conv2d-tuned.js';
export type { ConvDirection } from './kernels/conv2d-gemm-common.js';
export type { ConvFamily } from './kernels/conv2d-gemm.js';
export { convTranspose2d } from './kernels/conv-transpose2d.js';
export { depthwiseConv2d } from './kernels/depthwise-conv2d.js';
export type { DepthwiseConv2dOptions } from './kernels/depthwise-conv2d.js';
export type { ConvTranspose2dOptions } from './kernels/conv-transpose2d.js';
export { maxPool2d, avgPool2d, globalAvgPool2d } from './kernels/pool.js';
export type { Pool2dOptions, AvgPool2dOptions } from './kernels/pool.js';
export { maxPool2dWithIndices, maxUnpool2d, type MaxUnpool2dOptions } from './kernels/max-unpool.js';
export { upsample2d } from './kernels/upsample.js';
export type { Upsample2dOptions, UpsampleMode } from './kernels/upsample.js';
export { concat, split } from './kernels/concat.js';
export { pad2d } from './kernels/pad.js';
export { transpose } from './kernels/transpose.js';
export { reverse, slice, stridedSlice } from './kernels/slice.js';
export { stack, unstack } from './kernels/stack.js';
export { tile } from './kernels/tile.js';
export { gather } from './kernels/index-gather.js';
export { cumsum, type CumsumOptions } from './kernels/cumsum.js';
export { topk } from './kernels/topk.js';
export { argsort, sort, type SortOptions } from './kernels/sort.js';
export { unsortedSegmentSum } from './kernels/segment-sum.js';
export { quantile, type QuantileOptions } from './kernels/quantile.js';
export { histogram, type HistogramOptions } from './kernels/histogram.js';
export { conv1d, type Conv1dOptions } from './kernels/conv1d.js';
export { conv3d, type Conv3dOptions } from './kernels/conv3d.js';
export { convTranspose3d, type ConvTranspose3dOptions } from './kernels/conv-transpose3d.js';
export { avgPool3d, maxPool3d, upsample3d, type Pool3dOptions, type AvgPool3dOptions, type Upsample3dOptions } from './kernels/pool3d.js';
export type { Pad2dOptions, PadMode } from './kernels/pad.js';
export { batchNorm2d } from './kernels/batchnorm.js';
export { groupNorm } from './kernels/groupnorm.js';
export type { GroupNormOptions } from './kernels/groupnorm.js';
export { layerNorm } from './kernels/layernorm.js';
export type { LayerNormOptions } from './kernels/layernorm.js';
export type { BatchNormOptions } from './kernels/batchnorm.js';
export { matmul, linear, type MatmulOptions } from './kernels/matmul.js';
export { dropout, randomUniform, type DropoutOptions } from './kernels/dropout.js';
export { bceLoss, bceWithLogits, diceLoss, bceDiceLoss } from './kernels/loss.js';
export type { Reduction, BceOptions, DiceOptions, BceDiceOptions } from './kernels/loss.js';
export { softmax, logSoftmax, softmaxCrossEntropy, oneHot } from './kernels/softmax.js';
export { mseLoss, l1Loss, huberLoss } from './kernels/regression-loss.js';
export type { RegressionLossOptions, HuberOptions } from './kernels/regression-loss.js';
export { tverskyLoss, focalTverskyLoss } from './kernels/overlap-loss.js';
export type { TverskyOptions, FocalTverskyOptions } from './kernels/overlap-loss.js';
export { focalLoss, sigmoidFocalLoss } from './kernels/focal-loss.js';
export type { FocalLossOptions, SigmoidFocalLossOptions } from './kernels/focal-loss.js';
export type { CrossEntropyOptions } from './kernels/softmax.js';
export { channelAffine, imagenetPreprocess, type ChannelAffine } from './kernels/preprocess.js';
export { pow, rsqrt, reciprocal, gelu, sin, cos, sign, floor, round, log1p, expm1, maximum, minimum, greater, greaterEqual, less, lessEqual, equal, notEqual } from './kernels/elementwise-more.js';
export type { GeluOptions } from './kernels/elementwise-more.js';
export { where } from './kernels/where.js';
export { runKernel, type RunKernelSpec, type KernelInput, type KernelOutput, type KernelElement, type KernelParamsSpec, type KernelParam } from './kernels/custom-kernel.js';
export { customOp, type CustomOpContext, type CustomOpDefinition } from './graph/custom-op.js';
export { gpuDevice, toGPUBuffer, fromGPUBuffer, type GPUBufferCopy, type FromGPUBufferOptions } from './graph/gpu-buffers.js';

// Layers, optimisers, training, models, augmentation.
export * as nn from './nn/index.js';
export { Module } from './nn/module.js';
export { setInitSeed } from './nn/init.js';
export * as optim from './optim/index.js';
export * as train from './train/index.js';
export * as models from './models/index.js';
export * as augment from './data/augment-api.js';
export * as data from './data/index.js';
export * as io from './io/index.js';

/** Acquires the GPU (Dawn in Node, navigator.gpu in the browser). Safe to call twice. */
export async function init(options: InitOptions = {}): Promise<AdapterReport> {
  const rt = await initRuntime(options);
  return rt.ctx.report;
}

/** The adapter's name, features and limits. */
export function info(): AdapterReport & { name: string } {
  const report = runtime('info').ctx.report;
  return { ...report, name: adapterName(report) };
}

/** Waits for all queued GPU work and rethrows any kernel error. */
export async function sync(): Promise<void> {
  await runtime('sync').sync();
}

export function memory(): PoolStats {
  return runtime('memory').pool.getStats();
}

/**
 * Starts peakBytesInUse again from the bytes in use now (PyTorch's
 * torch.cuda.reset_peak_memory_stats), so that memory().peakBytesInUse after a step is that
 * step's peak: what a batch size or activation checkpointing costs. Returns the peak it replaced.
 */
export function resetPeakMemory(): number {
  const pool = runtime('resetPeakMemory').pool;
  const before = pool.getStats().peakBytesInUse;
  pool.resetPeak();
  return before;
}

/**
 * Frees the GPU memory the buffer pool keeps for reuse (every buffer no tensor holds), after
 * submitting the work encoded so far, which may still use buffers released since; returns the
 * bytes freed. The pool frees a buffer on its own once it has gone unused for a while
 * (`maxIdleSubmits` submits); this is for a program that moves between phases of other shapes
 * (training, then inference at another size) and wants the memory back now.
 */
export function trimMemory(): number {
  const rt = runtime('trimMemory');
  rt.submit();
  const before = rt.pool.getStats().bytesAllocated;
  rt.pool.trim();
  return before - rt.pool.getStats().bytesAllocated;
}

/** GPU time of the work a function enqueued, per kernel name. */
export interface Profile {
  /** Sum of the kernels' times: GPU time with one compute pass per dispatch. */
  totalMs: number;
  /** Largest first: name, dispatches, milliseconds. */
  kernels: KernelTime[];
}

/**
 * Runs `fn` (awaited if it returns a promise) and times on the GPU every dispatch it enqueues,
 * each in its own timestamped pass; null where the adapter has no 'timestamp-query'. A pass per
 * dispatch costs some time of its own, most visible on tiny kernels.
 */
export async function profile(fn: () => unknown): Promise<Profile | null> {
  expectFunction('profile', 'fn', fn);
  const timer = runtime('profile').gpuTimer;
  timer.begin({ perKernel: true });
  try {
    await fn();
  } catch (e) {
    await timer.end(); // frees the timer before the error propagates
    throw e;
  }
  const totalMs = await timer.end();
  return totalMs === null ? null : { totalMs, kernels: timer.lastProfile };
}

/** Releases the device; in Node this lets the process exit. */
export function shutdown(): void {
  shutdownRuntime();
}

export const relu = (x: Tensor): Tensor => unary('relu', x);
export const sigmoid = (x: Tensor): Tensor => unary('sigmoid', x);
export const tanh = (x: Tensor): Tensor => unary('tanh', x);
export const exp = (x: Tensor): Tensor => unary('exp', x);
export const log = (x: Tensor): Tensor => unary('log', x);
export const neg = (x: Tensor): Tensor => unary('neg', x);
export const square = (x: Tensor): Tensor => unary('square', x);
export const sqrt = (x: Tensor): Tensor => unary('sqrt', x);
export const scale = (x: Tensor, c: number): Tensor => unary('scale', x, c);
export const addScalar = (x: Tensor, c: number): Tensor => unary('addScalar', x, c);
export const leakyRelu = (x: Tensor, slope = 0.01): Tensor => unary('leakyRelu', x, slope);
export const abs = (x: Tensor): Tensor => unary('abs', x);
/** x limited to [min, max] (either bound may be left out); the gradient passes inside, bounds included. */
export function clamp(x: Tensor, min?: number, max?: number): Tensor {
  // Both bounds by type before any kernel: clamp(x, 0, '1') passed 0 <= '1' by coercion and queued
  // the lower bound's kernel before the upper bound's was refused under an internal name.
  expectTensor('clamp', 'x', x);
  if (Number.isNaN(min) || Number.isNaN(max)) throw new ArgumentError(`clamp: a bound is NaN (min ${min}, max ${max}); give numbers or leave the bound out`);
  // An infinite bound is a bound that never bites, as in torch.clamp.
  expectOptionalNumber('clamp', 'min', min, { finite: false });
  expectOptionalNumber('clamp', 'max', max, { finite: false });
  if (min !== undefined && max !== undefined && !(min <= max)) throw new ArgumentError(`clamp: min ${min} must not exceed max ${max}`);
  if (min === undefined && max === undefined) throw new ArgumentError('clamp: give min, max or both');
  if (min === undefined) return unary('clampMax', x, max!);
  if (max === undefined) return unary('clampMin', x, min);
  return scope(() => unary('clampMax', unary('clampMin', x, min), max));
}
/** log(1 + e^x), computed without overflow. */
export const softplus = (x: Tensor): Tensor => unary('softplus', x);
/** x · sigmoid(x) (swish). */
export const silu = (x: Tensor): Tensor => unary('silu', x);
/** x for x > 0, alpha (e^x - 1) below. */
export const elu = (x: Tensor, alpha = 1): Tensor => unary('elu', x, alpha);
/** a + b: two tensors (NumPy's broadcasting), or a tensor and a number on either side. */
export const add = (a: Tensor | number, b: Tensor | number): Tensor => arithmetic('add', a, b);
/** a - b: two tensors (NumPy's broadcasting), or a tensor and a number on either side. */
export const sub = (a: Tensor | number, b: Tensor | number): Tensor => arithmetic('sub', a, b);
/** a * b: two tensors (NumPy's broadcasting), or a tensor and a number on either side. */
export const mul = (a: Tensor | number, b: Tensor | number): Tensor => arithmetic('mul', a, b);
/** a / b: two tensors (NumPy's broadcasting), or a tensor and a number on either side. */
export const div = (a: Tensor | number, b: Tensor | number): Tensor => arithmetic('div', a, b);
