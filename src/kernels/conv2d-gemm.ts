// The fast conv2d kernels (WGSL generators; conv2d.ts picks and launches them). All three
// directions are one implicit GEMM, C[M, N] = A[M, K] · B[K, N], with A and B gathered from the NHWC
// tensors on the fly (no im2col buffer):
//
//   forward          M = N·Ho·Wo (output pixels)  N = Cout  K = kh·kw·Cin   A = x patches,  B = w
//   backward input   M = N·H·W  (input pixels)    N = Cin   K = taps·Cout   A = dy patches, B = wᵀ
//   backward weight  M = kh·kw·Cin (weight rows)  N = Cout  K = N·Ho·Wo     A = x patchesᵀ, B = dy
//
// Backward input is a gather split by stride phase: the input pixels with (hi mod sh, wi mod sw) =
// (ph, pw) receive exactly the taps kh_i ≡ ph + padTop (mod sh), so each of the sh·sw phases is a
// dense GEMM over its own taps (no multiplies by structural zeros); the phase is the grid's batch
// coordinate. Backward weight splits its long K over the batch coordinate (split-K).
//
//
// Two families of the same GEMMs: 'tiled' for GPUs (conv2d-tiled.ts) and 'subgroup' for CPU
// adapters (conv2d-subgroup.ts); conv2d.ts picks one per device.

import type { KernelSpec } from '../gpu/runtime.js';
import { direction, GEOM, type ConvDirection } from './conv2d-gemm-common.js';
import { NO_FIT, SUBGROUP_LANES, subgroupTile, subgroupWgsl, type OperandSource, type TileFit } from './conv2d-subgroup.js';
import { CONV_TILE, formatGemmTile, tiledWgsl, type GemmTile } from './conv2d-tiled.js';

export type ConvFamily = 'tiled' | 'subgroup';

/** A generated kernel: its spec, the names of its i32 params in order, its tile's rows and columns. */
export interface GemmKernel {
  spec: KernelSpec;
  params: readonly string[];
  bm: number;
  bn: number;
}

/**
 * The kernel of one direction and family, with its tile chosen for an M×N GEMM; `fit` (see
 * tileFit) lets the subgroup family read its operands four floats at a time; `src` 'registers'
 * is either family's load probe (see OperandSource), for forward and backward input; `relu`
 * (forward) stores max(y, 0), conv2d's fused ReLU.
 */
export function gemmKernel(dir: ConvDirection, family: ConvFamily, hasBias: boolean, m: number, n: number, fit: TileFit = NO_FIT, lanes = SUBGROUP_LANES, tile: GemmTile = CONV_TILE, src: OperandSource = 'memory', batchedWeights = false, relu = false): GemmKernel {
  const d = direction(dir, hasBias, batchedWeights);
  const params = [...GEOM, ...d.extras];
  const io = { inputs: d.inputs.length, outputs: 1 };
  if (family === 'tiled') {
    const t = tile;
    const vecOut = dir !== 'backwardWeight' && n % 4 === 0;
    const key = `${formatGemmTile(t)}${src === 'registers' ? ':regs' : ''}${vecOut ? ':v4' : ''}${relu ? ':relu' : ''}|in${io.inputs}`;
    return { spec: { name: d.name, key, ...io, wgsl: () => tiledWgsl(dir, hasBias, t, src, batchedWeights, vecOut, relu) }, params, bm: t.bm, bn: t.bn };
  }
  const t = subgroupTile(m, n, fit, lanes);
  const key = `${t.w}:${t.tm}x${t.tn}${t.kVec4 ? ':k4' : ''}${t.nVec4 ? ':n4' : ''}${t.mVec4 ? ':m4' : ''}${t.pixelPairs ? ':p2' : ''}${src === 'registers' ? ':regs' : ''}${relu ? ':relu' : ''}|in${io.inputs}`;
  return { spec: { name: `${d.name}Subgroup`, key, ...io, wgsl: () => subgroupWgsl(dir, hasBias, t, src, batchedWeights, relu) }, params, bm: t.tm, bn: t.w * t.tn };
}
