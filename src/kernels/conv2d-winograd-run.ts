// When conv2d runs by Winograd F(4x4, 3x3) (the transforms and the algorithm are in
// conv2d-winograd.ts), and how: the weights transformed once, then per chunk of samples the input
// transform, the 36 GEMMs as one batched dispatch of the direct GEMM kernels (conv2d-launch.ts),
// and the output transform; on lavapipe, for K up to 128, the GEMMs and the output transform as
// one kernel instead (conv2d-winograd-gemm-out.ts).

import { LimitError } from '../errors.js';
import { packParams, i32 } from '../gpu/params.js';
import { runtime } from '../gpu/runtime.js';
import { isCpuAdapterReport } from '../gpu/adapter-kind.js';
import { expectChoice } from '../graph/args.js';
import { emptyTensor, formatShape, type Tensor } from '../graph/tensor.js';
import { dispatchChunk, forEachChunk, range } from './chunking.js';
import type { ConvGeometry } from './conv2d.js';
import type { ConvDirection } from './conv2d-gemm-common.js';
import type { ConvFamily } from './conv2d-gemm.js';
import { convTile, defaultConvFamily, familyLanes, gemmTile, launch, launchedKernel } from './conv2d-launch.js';
import type { GemmTile } from './conv2d-tiled.js';
import { bindableSamples, inputTransformSpec, outputTransformSpec, transformWeights, winogradBlocks, winogradPlan, winogradShape, WINO_R, WINO_XI, WORKSPACE_BYTES } from './conv2d-winograd.js';
import { fusedFits } from './conv2d-winograd-fused.js';
import { dispatchGemmOut, gemmOutFits } from './conv2d-winograd-gemm-out.js';
import { winograd2Fits } from './conv2d-winograd-f2.js';
import { uniformWeightsChunk, uniformWeightsFits, UNIFORM_WEIGHTS_MAX_COUT } from './conv2d-uniform-weights.js';
import { channelLanesFits } from './conv2d-channel-lanes.js';
import { rowPatchFits } from './conv2d-row-patch.js';
import { noteConv, tunedConv } from './conv2d-tuned.js';
import { linearGrid, vecWidth, type VecWidth } from './wgsl.js';

/**
 * 'direct': the implicit GEMMs of conv2d.ts; 'winograd': F(4x4, 3x3), where winogradFits, staged
 * through V and M in memory; 'winograd-fused': the same in one kernel (conv2d-winograd-fused.ts),
 * where its output channels come in vec4s; 'uniform-weights': forwards whose weights fit a uniform
 * buffer and whose outputs one thread's accumulators (conv2d-uniform-weights.ts), any kernel size
 * and stride; 'winograd-uniform': the staged Winograd with its 36 GEMMs run by the uniform-weights
 * kernel, U[ξ] in a uniform buffer, where that fits (winogradUniformFits); 'channel-lanes': forwards
 * with few inputs a pixel (K·Cin <= 36) and output channels in vec4s, a lane per 4 of them
 * (conv2d-channel-lanes.ts); 'row-patch': the same convs (K·Cin <= 36, Cout <= 64), a workgroup a
 * strip of an output row with its input rows and the weights staged in workgroup memory
 * (conv2d-row-patch.ts); 'winograd-f2': Winograd F(2x2, 3x3) in one kernel, a register tile of
 * blocks and channels per transform position, where the output channels come in 32s
 * (conv2d-winograd-f2.ts).
 */
export type ConvAlgorithm = 'direct' | 'winograd' | 'winograd-fused' | 'uniform-weights' | 'winograd-uniform' | 'channel-lanes' | 'row-patch' | 'winograd-f2';

/** Every algorithm, in the order the benchmark times them beside one another. */
export const CONV_ALGORITHMS: readonly ConvAlgorithm[] = ['direct', 'winograd', 'winograd-fused', 'uniform-weights', 'winograd-uniform', 'channel-lanes', 'row-patch', 'winograd-f2'];

/** Whether an algorithm runs its GEMM by the direct GEMM kernels (so a tile of the tiled family applies). */
export const usesGemmTiles = (algorithm: ConvAlgorithm): boolean => algorithm === 'direct' || algorithm === 'winograd';

const algorithmOverride = new WeakMap<GPUDevice, ConvAlgorithm>();

/**
 * Runs every conv (forward, backward input and weight gradient) on this device with one algorithm
 * (Winograd only where winogradFits; 'winograd-fused' runs the staged 'winograd' where the
 * outputs' channels are not a multiple of 4, and for the weight gradient, which it has not;
 * 'uniform-weights' only forwards where uniformWeightsFits, every other conv as unforced), for
 * tests and the benchmark; 'auto' restores convAlgorithm's choice. Returns the setting it replaced.
 */
export function setConvAlgorithm(algorithm: ConvAlgorithm | 'auto'): ConvAlgorithm | 'auto' {
  expectChoice('setConvAlgorithm', 'algorithm', algorithm, ['auto', ...CONV_ALGORITHMS], false);
  const device = runtime().device;
  const before = algorithmOverride.get(device) ?? 'auto';
  if (algorithm === 'auto') algorithmOverride.delete(device);
  else algorithmOverride.set(device, algorithm);
  return before;
}

/** setConvAlgorithm's setting on this device: 'auto' where none is forced. */
export function convAlgorithmSetting(): ConvAlgorithm | 'auto' {
  return algorithmOverride.get(runtime().device) ?? 'auto';
}

const workspaceOverride = new WeakMap<GPUDevice, number>();

/** Caps V and M together at `bytes` on this device (tests: chunks of a few samples); null restores WORKSPACE_BYTES. */
export function setWinogradWorkspace(bytes: number | null): void {
  const device = runtime().device;
  if (bytes === null) workspaceOverride.delete(device);
  else workspaceOverride.set(device, bytes);
}

/** Most bytes Winograd's two workspace tensors (V and M, or V and Z) may take together on this device. */
export function workspaceBytes(): number {
  const rt = runtime();
  return Math.min(workspaceOverride.get(rt.device) ?? WORKSPACE_BYTES, 2 * rt.bindingLimit);
}

/**
 * Samples per chunk of a staged Winograd conv: at most `bindable`, and as many as let its two
 * workspace tensors (`bytes(samples)`: V and M, or V and Z, their rows padded) fit the workspace
 * together and a binding each. An estimate from one sample's unpadded bytes, lowered while the
 * padding overflows it; then evened out over the chunks (16 samples by 6 run as 6 + 5 + 5). A
 * LimitError naming `op` where not even one sample (of `sampleShape`) fits.
 */
export function workspaceSamples(op: string, n: number, oneSampleBytes: number, bindable: number, bytes: (samples: number) => [number, number], sampleShape: readonly number[]): number {
  const rt = runtime();
  const workspace = workspaceBytes();
  const fits = (samples: number) => {
    const [a, b] = bytes(samples);
    return a + b <= workspace && Math.max(a, b) <= rt.bindingLimit;
  };
  let most = Math.min(n, Math.floor(workspace / oneSampleBytes), bindable);
  while (most > 0 && !fits(most)) most--;
  if (most < 1) throw new LimitError(`${op}: Winograd's transforms of one sample of ${formatShape(sampleShape)} take more than ${workspace} bytes; run it with setConvAlgorithm('direct')`);
  return Math.ceil(n / Math.ceil(n / most));
}

/** The batched GEMM as a conv: a 1x1 conv over 36 samples (one per ξ) of `rows` pixels, k channels in, n out. */
const batchedGeometry = (rows: number, k: number, n: number): ConvGeometry => ({
  n: WINO_XI, h: rows, w: 1, cin: k, kh: 1, kw: 1, cout: n, sh: 1, sw: 1, padTop: 0, padBottom: 0, padLeft: 0, padRight: 0, ho: rows, wo: 1,
});

/**
 * GEMM rows per sample of Winograd's batched GEMM must fill whole tiles (a tile's rows share one
 * ξ): the height of the kernel launch() takes for that many rows per sample with `tile`.
 */
function batchedRowMultiple(rows: number, k: number, n: number, family: ConvFamily, tile: GemmTile): number {
  return launchedKernel('forward', family, tile, batchedGeometry(rows, k, n), WINO_XI * rows, n, false, true).bm;
}

/** Blocks per chunk of samples padded to whole tiles: the GEMM's rows per ξ. */
function paddedBlocks(blocks: number, k: number, n: number, family: ConvFamily, tile = gemmTile('forward', n, family)): number {
  const q = batchedRowMultiple(blocks, k, n, family, tile);
  return Math.ceil(blocks / q) * q;
}

/**
 * Whether Winograd can run this conv direction: a 3x3 kernel at stride 1 (any padding), in every
 * direction (the weight gradient by conv2d-winograd-wgrad.ts, staged only).
 */
export function winogradFits(_dir: ConvDirection, g: ConvGeometry): boolean {
  return g.kh === WINO_R && g.kw === WINO_R && g.sh === 1 && g.sw === 1;
}

/** Whether `algorithm` can run this direction as it is: the fused kernel needs output channels in vec4s and has no weight gradient. */
export function algorithmRuns(algorithm: ConvAlgorithm, dir: ConvDirection, g: ConvGeometry): boolean {
  if (algorithm === 'direct') return true;
  if (algorithm === 'uniform-weights') return uniformWeightsFits(dir, g);
  if (algorithm === 'channel-lanes') return channelLanesFits(dir, g);
  if (algorithm === 'row-patch') return rowPatchFits(dir, g);
  if (!winogradFits(dir, g)) return false;
  if (algorithm === 'winograd-uniform') return dir !== 'backwardWeight' && winogradUniformFits(winogradShape(dir, g));
  if (algorithm === 'winograd-f2') return dir !== 'backwardWeight' && winograd2Fits(winogradShape(dir, g).n);
  return algorithm === 'winograd' || (dir !== 'backwardWeight' && fusedFits(winogradShape(dir, g).n));
}

/**
 * What a forced algorithm falls back to where it cannot run this conv: the Winograd variants to
 * the staged Winograd where it runs, else (and null) to direct; the uniform-weights, channel-lanes and row-patch kernels to what would run unforced, so
 * that a step forced to it differs from the step as it is only where it fits (the benchmark's
 * end-to-end sides).
 */
const FORCED_FALLBACK: Record<ConvAlgorithm, ConvAlgorithm | 'unforced' | null> = {
  direct: null,
  winograd: null,
  'winograd-fused': 'winograd',
  'winograd-uniform': 'winograd',
  'winograd-f2': 'winograd',
  'uniform-weights': 'unforced',
  'channel-lanes': 'unforced',
  'row-patch': 'unforced',
};

/** Whether some algorithm besides 'direct' can run this conv direction on this device. */
export function hasAlgorithmChoice(dir: ConvDirection, g: ConvGeometry): boolean {
  return CONV_ALGORITHMS.some((a) => a !== 'direct' && algorithmRuns(a, dir, g));
}

/**
 * The algorithm of a conv direction: setConvAlgorithm's where set, else the one
 * tuneConvs timed fastest for this very conv (conv2d-tuning.ts), else ruleConvAlgorithm's.
 */
export function convAlgorithm(dir: ConvDirection, g: ConvGeometry, family = defaultConvFamily(), cpu = isCpuAdapterReport(runtime().ctx.report)): ConvAlgorithm {
  if (!hasAlgorithmChoice(dir, g)) return 'direct';
  const forced = algorithmOverride.get(runtime().device);
  if (forced) {
    if (algorithmRuns(forced, dir, g)) return forced;
    const fallback = FORCED_FALLBACK[forced];
    if (fallback !== 'unforced') return fallback !== null && algorithmRuns(fallback, dir, g) ? fallback : 'direct';
  }
  noteConv(dir, g, family);
  return tunedConv(runtime().device, dir, g, family)?.algorithm ?? ruleConvAlgorithm(dir, g, family, cpu);
}

/**
 * CPU adapters' Winograd thresholds (ruleConvAlgorithm): channels summed, and 4x4 blocks over the
 * batch. From CPU_WINOGRAD_MIN_K channels over CPU_WINOGRAD_MIN_BLOCKS blocks; with fewer
 * channels, down to CPU_WINOGRAD_LEAST_K, over 4x the blocks for each halving (64 over 64, 32 over
 * 256): the measured points, below which the GEMM's short K costs what its 4x fewer multiply-adds
 * save.
 */
export const CPU_WINOGRAD_MIN_K = 128;
export const CPU_WINOGRAD_MIN_BLOCKS = 16;
export const CPU_WINOGRAD_LEAST_K = 32;

/**
 * The thresholds where the subgroup family runs 4-lane workgroups (SwiftShader's 128-bit SIMD, in
 * Chromium): Winograd from 32 channels summed over 8 blocks, the weight gradient too (where
 * winogradWeightGradPays). There the direct kernels run at half lavapipe's share of the FMA peak
 * and Winograd wins wider (2026-11-28, GPU timestamps, scale 8): the forward and dx 2.0x faster at
 * the U-Net's l1 (K 32, 128 blocks), 2.3x at l2 (K 64, 32 blocks), 1.9x at l3 (K 128, 8 blocks),
 * 2.5x at VGG16's conv1_2 and conv2_1, but 0.66x at l4 (2 blocks); the weight gradient 2.3-3.3x
 * faster at l1, l2, conv1_2 and conv2_1, 1.5x at l3 and 2.4x at conv3_1 (16 blocks), 0.58x at l4.
 */
export const FOUR_LANE_WINOGRAD_MIN_K = 32;
export const FOUR_LANE_WINOGRAD_MIN_BLOCKS = 8;

/**
 * The least 4x4 blocks (over the batch) at which other CPU adapters (lavapipe's 8 lanes) take the
 * weight gradient by Winograd, where winogradWeightGradPays. Alone, from 64 blocks it ran faster
 * than direct at every U-Net and VGG16 conv the bench times with Cin >= 32, at scales 8 to 1
 * (2026-11-29, GPU timestamps): 1.1-3.3x, the most at few pixels and many channels (the U-Net's
 * l4 and l5 at scale 1, 3.1 and 3.3x). At 16 to 32 blocks it went either way (1.7-1.8x faster at
 * 256 and 512 channels, 1.05-1.3x slower at the U-Net's l2 at scale 8), at 8 or fewer it lost
 * (1.5-7.6x slower). Whole U-Net training steps (features 32, depth 4; medians of 3-9 steps,
 * alternating processes, two or three rounds): batch 16 of 256x256 13.2-13.6 s against 16.0-16.5
 * direct, batch 8 of 128x128 1.78-1.81 s against 1.98-2.07 (1.71 from 64 blocks), batch 4 of
 * 64x64 0.30-0.32 against 0.32-0.34. At batch 2 of 32x32, where the bench's l1 has 128 blocks,
 * steps taking it there came out 0.90-0.99x as fast in an earlier study (five runs, 2026-11-28)
 * and level in this one: 256 leaves those shapes as they were.
 */
export const CPU_WINOGRAD_WGRAD_MIN_BLOCKS = 256;

/** A CPU adapter whose subgroup family runs 4-lane workgroups (SwiftShader's): its own thresholds. */
const fourLaneCpu = (family: ConvFamily, cpu: boolean): boolean => cpu && family === 'subgroup' && familyLanes(family) === 4;

/** 4x4 blocks over the batch of a conv's output (its Winograd GEMM's rows, unpadded). */
const outputBlocks = (g: ConvGeometry): number => {
  const [rows, cols] = winogradBlocks(g.ho, g.wo);
  return g.n * rows * cols;
};

/** Whether a CPU adapter's rule runs a conv of K channels summed over `blocks` 4x4 blocks by Winograd. */
export const cpuWinogradPays = (k: number, blocks: number): boolean =>
  k >= CPU_WINOGRAD_LEAST_K && blocks >= CPU_WINOGRAD_MIN_BLOCKS * (CPU_WINOGRAD_MIN_K / Math.min(k, CPU_WINOGRAD_MIN_K)) ** 2;

/**
 * The most input channels at which GPUs run a forward by the row-patch kernel untuned (where it
 * fits: K·Cin <= 36, Cout <= 64 in vec4s): the first conv of VGG16 and of the U-Net, 3 channels.
 * On an H200 (2026-11-28, run 11) VGG16's conv1_1 took 0.289 ms by it against the implicit GEMM's
 * 0.488 (1.69x; the channel-lanes kernel 0.389), and a probe of the U-Net's first conv (16 of
 * 256x256x3 to 32) found it faster than direct by the same margin (run 12, 0.52 against 0.85 ms,
 * timed cold). CPU adapters stay direct: on lavapipe it ran 2-3x slower than direct at conv1_1.
 */
export const ROW_PATCH_RULE_MAX_CIN = 4;

/**
 * The rule for a conv no one has tuned: on GPUs the row-patch kernel for forwards over at most
 * ROW_PATCH_RULE_MAX_CIN channels where it fits, then Winograd where it fits, K (channels summed) is at
 * least 16, so that its transforms are small next to the GEMM (VGG16's first conv, K = 3, stays
 * direct), and its GEMM rows, padded to whole tiles of `family`, take at most half the
 * multiply-adds of the direct GEMM (images of 4x4 outputs or more; a 2x2 output fills a quarter of
 * its 4x4 block). On an H200 it was 1.3-3.4x faster than the direct GEMMs wherever this picks it.
 * CPU adapters (`cpu`) take Winograd only for K >= 128 over at least 16 blocks, K >= 64 over at
 * least 64 or K >= 32 over at least 256 (cpuWinogradPays): on lavapipe the transforms alone took
 * about as long as the direct conv at the U-Net's l1-l3 at scale 8 (1.04-1.55x slower in all), and
 * a short-K GEMM ran at half the direct kernel's rate, but from 128 channels the GEMM's 4x fewer
 * multiply-adds win: VGG16 forwards ran 1.13x faster at batch 4 of 32x32, 1.19-1.21x at batch 2 of
 * 64x64 and 1.53-1.55x at 128x128 (batch 2 of 32x32 0.97-1.04x), and U-Net training steps (features
 * 32, batch 2 of 32x32 and 1 of 64x64) 1.01-1.05x, in two interleaved runs each (2026-11-27, wall
 * clock, 7-15 rounds). With 64 channels it takes more blocks to win (2026-11-28, GPU timestamps,
 * two alternating runs, scale 8): VGG16's conv1_2 (256 blocks) forward 3.5-4.8 ms against 5.3
 * direct and dx 3.5 against 5.2, conv2_1 (64 blocks) 1.85 against 2.56 and 1.7 against 2.4, but the
 * U-Net's l2 (32 blocks) 0.75-0.89 against 0.69-0.72. Taking K = 64 over 64 blocks made VGG16
 * forwards 1.10-1.13x faster at batch 8 and 4 of 64x64 (medians of four runs in ABBA order, wall
 * clock); U-Net steps moved 1.02-1.03x, inside the ±10% that runs of the same code differ by. With
 * 32 channels (U-Net l1's 32 to 32, GPU timestamps, two rounds, 2026-11-28), forward and dx were
 * level at 128 blocks (0.72-1.03 ms against 0.73-0.82) and 1.1-1.2x faster from 256 (1.24-1.41
 * against 1.45-1.51 ms; 1024 blocks 4.6-4.7 against 5.4-5.9); U-Net steps at 64x64 then moved
 * 1.02-1.06x, again inside the noise. CPU adapters whose subgroup family runs 4-lane workgroups
 * (SwiftShader's) take it from K = 32 over 8 blocks, the weight gradient too
 * (FOUR_LANE_WINOGRAD_MIN_K, FOUR_LANE_WINOGRAD_MIN_BLOCKS). The weight gradient: by Winograd on
 * GPUs where winogradWeightGradPays (the kernels: conv2d-winograd-wgrad.ts; 1.16-3.9x faster on an
 * H200), on other CPU adapters only over enough blocks (below). It never picks the fused kernel,
 * the fastest at no conv of the four steps an H200 tuned (2026-11-27); tuneConvs does where it
 * measures faster. On lavapipe the Winograd weight gradient ran 1.15x faster than direct at U-Net
 * l1 and 1.6-1.9x at VGG16's conv1_2 to conv2_2 alone (scale 8), but 1.5-6x slower on 8x8 images
 * and smaller, and whole U-Net steps at 32x32 taking it where tuning found it faster ran
 * 0.93-1.04x as fast (interleaved, 21-41 rounds); at 128x128 and 256x256 they ran 1.1-1.25x
 * faster, so 8-lane CPU adapters take it from CPU_WINOGRAD_WGRAD_MIN_BLOCKS blocks.
 */
export function ruleConvAlgorithm(dir: ConvDirection, g: ConvGeometry, family: ConvFamily, cpu: boolean): ConvAlgorithm {
  if (!cpu && dir === 'forward' && g.cin <= ROW_PATCH_RULE_MAX_CIN && rowPatchFits(dir, g)) return 'row-patch';
  if (!winogradFits(dir, g)) return 'direct';
  const fourLanes = fourLaneCpu(family, cpu);
  if (dir === 'backwardWeight') {
    const pays = cpu ? outputBlocks(g) >= (fourLanes ? FOUR_LANE_WINOGRAD_MIN_BLOCKS : CPU_WINOGRAD_WGRAD_MIN_BLOCKS) : true;
    return pays && winogradWeightGradPays(g) ? 'winograd' : 'direct';
  }
  const s = winogradShape(dir, g);
  const [rows, cols] = winogradBlocks(s.hOut, s.wOut);
  const blocks = g.n * rows * cols;
  if (fourLanes) return s.k >= FOUR_LANE_WINOGRAD_MIN_K && blocks >= FOUR_LANE_WINOGRAD_MIN_BLOCKS ? 'winograd' : 'direct';
  if (cpu) return cpuWinogradPays(s.k, blocks) ? 'winograd' : 'direct';
  if (s.k < 16) return 'direct';
  const tPad = paddedBlocks(blocks, s.k, s.n, family);
  return WINO_XI * tPad <= 0.5 * WINO_R * WINO_R * g.n * s.hOut * s.wOut ? 'winograd' : 'direct';
}

/** The GPU rule's least Cin for the weight gradient by Winograd (ruleConvAlgorithm). */
export const WINOGRAD_WGRAD_MIN_CIN = 32;

/**
 * Whether a GPU takes the weight gradient of a 3x3 stride-1 conv by Winograd when untuned: Cin of
 * at least WINOGRAD_WGRAD_MIN_CIN, images of 4x4 outputs or more (its 36 GEMMs' multiply-adds at
 * most half the direct GEMM's 9, as for the forward), and its 36 partial gradients within a
 * binding. On an H200 (2026-11-27, GPU timestamps, tiles by ruleGemmTile) it was faster than the
 * direct weight gradient at every conv of the U-Net's training step with Cin >= 32, at batches 16
 * and 8 of 256x256: 1.16-1.47x at Cin or Cout = 32, 1.5-3.9x from 64 channels up; at Cin = 3
 * (the U-Net's first conv, VGG16's conv1_1) it was 4-6x slower.
 */
function winogradWeightGradPays(g: ConvGeometry): boolean {
  const blocks = outputBlocks(g);
  return g.cin >= WINOGRAD_WGRAD_MIN_CIN && WINO_XI * blocks <= 0.5 * WINO_R * WINO_R * g.n * g.ho * g.wo && WINO_XI * g.cin * g.cout * 4 <= runtime().bindingLimit;
}

/**
 * Bytes of V and M when Winograd runs `samples` samples of `g` at once: 36 × (their blocks padded
 * to whole tiles of the batched GEMM, or for the uniform-weights GEMMs to the binding alignment)
 * × K or N floats.
 */
export function winogradChunkBytes(dir: 'forward' | 'backwardInput', g: ConvGeometry, samples: number, family = defaultConvFamily(), tile = gemmTile('forward', winogradShape(dir, g).n, family), gemm: 'tiles' | 'uniform' = 'tiles'): { v: number; m: number } {
  const s = winogradShape(dir, g);
  const [rows, cols] = winogradBlocks(s.hOut, s.wOut);
  const tPad = gemmRows(samples * rows * cols, s, family, tile, gemm);
  return { v: WINO_XI * tPad * s.k * 4, m: WINO_XI * tPad * s.n * 4 };
}

/** V's and M's rows per ξ for `blocks` blocks, as the GEMM that reads them needs them padded. */
function gemmRows(blocks: number, s: { k: number; n: number }, family: ConvFamily, tile: GemmTile, gemm: 'tiles' | 'uniform'): number {
  return gemm === 'uniform' ? uniformGemmRows(blocks) : paddedBlocks(blocks, s.k, s.n, family, tile);
}

/**
 * M[ξ] = V[ξ] · U[ξ] for ξ < 36: the forward GEMM of a 1x1 conv over 36 samples of `rows` pixels
 * and k channels, each sample with its own k × n weights (batched weights).
 */
function batchedGemm(v: Tensor, u: Tensor, rows: number, k: number, n: number, family: ConvFamily, tile: GemmTile): Tensor {
  const g = batchedGeometry(rows, k, n);
  const out = emptyTensor([WINO_XI, rows, n], 'conv2d.winograd.m');
  const m = WINO_XI * rows;
  launch('forward', family, tile, g, [v, u], out, m, n, 1, { m, k, dCi: tile.bk % k, dTapW: 0, dTapH: Math.floor(tile.bk / k), wBatch: k * n }, true);
  return out;
}

/**
 * Whether the staged Winograd's GEMMs can run by the uniform-weights kernel: each U[ξ] (K × N)
 * bound as a uniform buffer at its own offset (so K·N·4 bytes a multiple of the uniform offset
 * alignment), N output channels in vec4s within one thread's accumulators.
 */
export function winogradUniformFits(s: { k: number; n: number }): boolean {
  const limits = runtime().limits;
  const bytes = s.k * s.n * 4;
  return s.n % 4 === 0 && s.n <= UNIFORM_WEIGHTS_MAX_COUT && bytes <= limits.maxUniformBufferBindingSize && bytes % limits.minUniformBufferOffsetAlignment === 0;
}

/**
 * Rows per ξ of V and M when the uniform-weights kernel runs the GEMMs: the blocks, padded so
 * that each ξ's rows start at a storage offset the device binds without a staged copy.
 */
function uniformGemmRows(blocks: number): number {
  const q = runtime().offsetAlignment / 4;
  return Math.ceil(blocks / q) * q;
}

/**
 * M[ξ] = V[ξ] · U[ξ] for ξ < 36 by the uniform-weights kernel, one dispatch per ξ: a 1x1 conv of
 * one row of `blocks` pixels, K channels in and N out, U[ξ] its weights in a uniform buffer
 * (conv2d-uniform-weights.ts: a thread owns a few blocks and all N outputs). Rows past `blocks`
 * (padding) are left as they are; the output transform never reads them.
 */
function uniformBatchedGemm(v: Tensor, u: Tensor, rows: number, blocks: number, k: number, n: number): Tensor {
  const out = emptyTensor([WINO_XI, rows, n], 'conv2d.winograd.m');
  const g: ConvGeometry = { n: 1, h: 1, w: blocks, cin: k, kh: 1, kw: 1, cout: n, sh: 1, sw: 1, padTop: 0, padBottom: 0, padLeft: 0, padRight: 0, ho: 1, wo: blocks };
  for (let xi = 0; xi < WINO_XI; xi++) {
    uniformWeightsChunk(g, range(v, xi * rows * k, blocks * k), range(u, xi * k * n, k * n), null, range(out, xi * rows * n, blocks * n), false);
  }
  return out;
}

/**
 * A forward (y from x) or backward input (dx from dy, + b for convTranspose2d) by Winograd: the
 * weights transformed once, then per chunk of samples the input transform, the batched GEMM and
 * the output transform, with V and M (2.25x the chunk's input and output) freed after each chunk;
 * where gemmOutFits, the GEMMs and the output transform in one kernel, M never made (the chunks
 * are still sized for it).
 * `relu`: the output transform stores max(y, 0) (conv2d's fused ReLU). `gemm`: the GEMMs by the
 * direct GEMM kernels' batched variant ('tiles'), or by the uniform-weights kernel ('uniform',
 * where winogradUniformFits: the 'winograd-uniform' algorithm).
 */
export function winogradConv(dir: 'forward' | 'backwardInput', g: ConvGeometry, src: Tensor, w: Tensor, b: Tensor | null, family: ConvFamily, relu = false, gemm: 'tiles' | 'uniform' = 'tiles'): Tensor {
  const plan = winogradPlan(dir, g);
  const { op, s, rows, cols, perSample } = plan;
  const tile = convTile(dir, g, family, 'winograd');
  const uniform = gemm === 'uniform';
  // On lavapipe the GEMMs and the output transform in one kernel, M never written.
  const gemmOut = !uniform && gemmOutFits(family, s);
  const vm = WINO_XI * rows * cols * (s.k + s.n) * 4; // V and M of one sample, unpadded
  const per = workspaceSamples(op, g.n, vm, bindableSamples(plan, g.n, src, w, b), (samples) => {
    const { v, m } = winogradChunkBytes(dir, g, samples, family, tile, gemm);
    return [v, m];
  }, [1, s.hIn, s.wIn, s.k]);
  const out = emptyTensor(plan.outShape, plan.outLabel);
  const u = transformWeights(plan, g, w);
  // Four channels a thread on CPU adapters (a vec4 pays lavapipe's per-lane load cost once); one
  // on GPUs, where 36 live vec4 values would spill registers and a warp's 32 channels coalesce.
  const [inW, outW]: VecWidth[] = family === 'subgroup' ? [vecWidth(s.k), vecWidth(s.n)] : [1, 1];
  forEachChunk(g.n, per, (n0, count) => {
    const blocks = count * rows * cols;
    const tPad = gemmRows(blocks, s, family, tile, gemm);
    const v = emptyTensor([WINO_XI, tPad, s.k], 'conv2d.winograd.v');
    dispatchChunk(inputTransformSpec(inW), [range(src, n0 * perSample.src, count * perSample.src)], [v],
      packParams([s.hIn, s.wIn, s.k / inW, s.padTop, s.padLeft, rows, cols, blocks, tPad].map(i32)), linearGrid(blocks * (s.k / inW)));
    if (gemmOut) {
      dispatchGemmOut(v, u, b, range(out, n0 * perSample.out, count * perSample.out), relu, { k: s.k, n: s.n, tPad, blocks, ho: s.hOut, wo: s.wOut, rows, cols });
      v.dispose();
      return;
    }
    const m = uniform ? uniformBatchedGemm(v, u, tPad, blocks, s.k, s.n) : batchedGemm(v, u, tPad, s.k, s.n, family, tile);
    v.dispose();
    dispatchChunk(outputTransformSpec(outW, b !== null, relu), b ? [m, b] : [m], [range(out, n0 * perSample.out, count * perSample.out)],
      packParams([s.hOut, s.wOut, s.n / outW, rows, cols, blocks, tPad].map(i32)), linearGrid(blocks * (s.n / outW)));
    m.dispose();
  });
  u.dispose();
  return out;
}
