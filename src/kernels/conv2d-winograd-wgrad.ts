// conv2d's weight gradient by Winograd F(4x4, 3x3), for 3x3 stride-1 convs: the gradient of the
// forward's own algorithm (conv2d-winograd.ts). The forward computes each 4x4 block of outputs as
//
//   Y = Aᵀ [ Σ_ci U_ci ⊙ V_ci ] A,   U = G g Gᵀ,   V = Bᵀ d B
//
// which is the direct convolution exactly (in exact arithmetic), so its gradient is the weight
// gradient. Going back through it: dP = A dY Aᵀ (6x6, from the block's 4x4 of dy, zero past the
// output's edge), dU_ci = Σ_blocks dP ⊙ V_ci, and dg = Gᵀ dU G. Summed over the blocks of the
// batch, per position ξ of the 6x6 transform:
//
//   dU[ξ] (Cin × Cout) = V[ξ]ᵀ (Cin × T) · Z[ξ] (T × Cout),   Z = A dY Aᵀ,  T = the blocks
//
// 36 GEMMs whose K is the blocks, a sixteenth of the pixels, each 36/144 of the direct weight
// gradient's multiply-adds per pixel: a quarter of its work, as for the forward. They run as one
// launch of the weight gradient's own GEMM kernels (conv2d-wgrad-split.ts) over "a 1x1 conv of 36
// samples", each sample ξ's rows of blocks split into K slices that never cross into the next ξ;
// the output transform sums each ξ's slices and turns dU into the 3x3 filters: dw = Gᵀ dU G.
// V is the forward's input transform of x (its rows past the last block set to zero, since the
// GEMM sums over rows); Z, the dy transform here.
//
// Accuracy: as the forward's, the transforms scale values up and the output transform cancels
// them (A's entries reach 8, G's are 1/24 to 1), so float32 rounding reaches dw amplified
// (test/helpers/close.ts winogradWeightGradTolerance).

import { LimitError } from '../errors.js';
import { packParams, i32 } from '../gpu/params.js';
import { runtime, type KernelSpec } from '../gpu/runtime.js';
import { emptyTensor, formatShape, type Tensor } from '../graph/tensor.js';
import { chunkItems, dispatchChunk, forEachChunk, part, planned, range } from './chunking.js';
import type { ConvGeometry } from './conv2d.js';
import { rep } from './conv2d-gemm-common.js';
import type { ConvFamily } from './conv2d-gemm.js';
import { convTile } from './conv2d-launch.js';
import type { GemmTile } from './conv2d-tiled.js';
import { blockThread, BLOCK_ORIGIN, inputTransformSpec, sandwich, winogradBlocks, WINO_A, WINO_AT, WINO_G, WINO_M, WINO_XI } from './conv2d-winograd.js';
import { workspaceSamples } from './conv2d-winograd-run.js';
import { launchWeightGrad, splitKCount } from './conv2d-wgrad-split.js';
import { LINEAR_MAIN_ARGS, linearGrid, linearIndex, vecType, vecWidth, type VecWidth } from './wgsl.js';

const transpose = (m: readonly (readonly number[])[]): number[][] => m[0].map((_, j) => m.map((row) => row[j]));
/** A (6x4) and Gᵀ (3x6): the transposes of the forward's output and weight transforms. */
const WINO_A_COLS = transpose(WINO_AT);
const WINO_GT = transpose(WINO_G);

/**
 * The batched GEMM as a weight gradient: a 1x1 conv over 36 samples (one per ξ), each an image of
 * `slices` rows of `perSlice` blocks, cin channels in and cout out. Its K slices are its image
 * rows, so none spans two ξ.
 */
const batchedGeometry = (slices: number, perSlice: number, cin: number, cout: number): ConvGeometry => ({
  n: WINO_XI, h: slices, w: perSlice, cin, kh: 1, kw: 1, cout, sh: 1, sw: 1, padTop: 0, padBottom: 0, padLeft: 0, padRight: 0, ho: slices, wo: perSlice,
});

/**
 * Blocks per K slice at most, for accuracy: each slice is a float32 sum in one thread, whose
 * rounding error grows with its length, and the transforms amplify it (see the tolerance in
 * test/helpers/close.ts). Summing slices of at most this many, then the slices, kept the error at
 * 65536 pixels (4096 blocks) of lavapipe's subgroup kernels, which slice nothing else, near the
 * tiled family's.
 */
const MAX_SLICE_BLOCKS = 512;

/**
 * K slices per ξ for a chunk of `blocks` blocks: as splitKCount would give the whole batched GEMM
 * (enough workgroups for the device, slices of at least SPLIT_K_MIN rows), shared out among the
 * 36 positions, or more where slices would pass MAX_SLICE_BLOCKS; no more than the partial sums'
 * binding holds.
 */
function slicesPerPosition(blocks: number, cin: number, cout: number, family: ConvFamily, tile: GemmTile): number {
  const whole = splitKCount(batchedGeometry(1, blocks, cin, cout), family, tile);
  const bindable = Math.floor(runtime().bindingLimit / (WINO_XI * cin * cout * 4));
  return Math.max(1, Math.min(Math.max(Math.ceil(whole / WINO_XI), Math.ceil(blocks / MAX_SLICE_BLOCKS)), bindable));
}

/** What one chunk of `samples` samples needs: its slices per ξ, blocks per slice and padded rows, and V's and Z's bytes. */
export function winogradWeightGradChunk(g: ConvGeometry, samples: number, family: ConvFamily, tile = convTile('backwardWeight', g, family, 'winograd')) {
  const [rows, cols] = winogradBlocks(g.ho, g.wo);
  const blocks = samples * rows * cols;
  const slices = slicesPerPosition(blocks, g.cin, g.cout, family, tile);
  const perSlice = Math.ceil(blocks / slices);
  const tPad = slices * perSlice;
  return { rows, cols, blocks, slices, perSlice, tPad, v: WINO_XI * tPad * g.cin * 4, z: WINO_XI * tPad * g.cout * 4 };
}

/**
 * dw [3, 3, Cin, Cout] of a 3x3 stride-1 conv by Winograd: per chunk of samples (V and Z within
 * the workspace, as the forward's V and M), the transforms of x and dy, the 36 GEMMs in K slices,
 * and the output transform, which sums the slices into dw (adding to it after the first chunk).
 */
export function winogradWeightGrad(g: ConvGeometry, dy: Tensor, x: Tensor, family: ConvFamily): Tensor {
  const op = 'conv2d.backwardWeight';
  const rt = runtime();
  const wShape = [3, 3, g.cin, g.cout];
  const perX = g.h * g.w * g.cin;
  const perDy = g.ho * g.wo * g.cout;
  const partialBytes = WINO_XI * g.cin * g.cout * 4;
  if (partialBytes > rt.bindingLimit) throw new LimitError(`${op}: Winograd's ${WINO_XI} partial weight gradients of ${formatShape([g.cin, g.cout])} exceed a binding (${rt.bindingLimit} bytes); run it with setConvAlgorithm('direct')`);
  const tile = convTile('backwardWeight', g, family, 'winograd');
  const [rows, cols] = winogradBlocks(g.ho, g.wo);
  const vz = WINO_XI * rows * cols * (g.cin + g.cout) * 4; // V and Z of one sample, unpadded
  const bindable = chunkItems(op, g.n, [part(x, perX), part(dy, perDy)], [planned('conv2d.dw', wShape)]);
  const per = workspaceSamples(op, g.n, vz, bindable, (samples) => {
    const { v, z } = winogradWeightGradChunk(g, samples, family, tile);
    return [v, z];
  }, [1, g.h, g.w, g.cin]);
  const dw = emptyTensor(wShape, 'conv2d.dw');
  // Four channels a thread on CPU adapters, one on GPUs (see winogradConv).
  const [xW, dyW]: VecWidth[] = family === 'subgroup' ? [vecWidth(g.cin), vecWidth(g.cout)] : [1, 1];
  forEachChunk(g.n, per, (n0, count, index) => {
    const c = winogradWeightGradChunk(g, count, family, tile);
    const v = emptyTensor([WINO_XI, c.tPad, g.cin], 'conv2d.winograd.v');
    dispatchChunk(inputTransformSpec(xW, true), [range(x, n0 * perX, count * perX)], [v],
      packParams([g.h, g.w, g.cin / xW, g.padTop, g.padLeft, c.rows, c.cols, c.blocks, c.tPad].map(i32)), linearGrid(c.tPad * (g.cin / xW)));
    const z = emptyTensor([WINO_XI, c.tPad, g.cout], 'conv2d.winograd.z');
    dispatchChunk(gradTransformSpec(dyW), [range(dy, n0 * perDy, count * perDy)], [z],
      packParams([g.ho, g.wo, g.cout / dyW, c.rows, c.cols, c.blocks, c.tPad].map(i32)), linearGrid(c.tPad * (g.cout / dyW)));
    const partial = emptyTensor([WINO_XI * c.slices, g.cin, g.cout], 'conv2d.winograd.du');
    launchWeightGrad(batchedGeometry(c.slices, c.perSlice, g.cin, g.cout), z, v, partial, family, tile, { slices: WINO_XI * c.slices, chunk: c.perSlice, rowChunk: 1 });
    v.dispose();
    z.dispose();
    dispatchChunk(weightGradOutputSpec, [partial], [dw], packParams([g.cin * g.cout, c.slices, index > 0 ? 1 : 0].map(i32)), linearGrid(g.cin * g.cout));
    partial.dispose();
  });
  return dw;
}

/**
 * Z[ξ, t, c] = (A dY Aᵀ)[ξ] of block t's 4x4 of dy [n, ho, wo, c] (zero past the output's edge),
 * `width` channels per thread; rows t from the last block to tPad are set to zero.
 */
export function gradTransformSpec(width: VecWidth): KernelSpec {
  const T = vecType(width);
  return {
    name: 'conv2d.winogradGrad',
    key: `v${width}`,
    inputs: 1,
    outputs: 1,
    wgsl: () => /* wgsl */ `
struct Params { ho: i32, wo: i32, c: i32, rows: i32, cols: i32, blocks: i32, tPad: i32 }
@group(0) @binding(0) var<storage, read> dy: array<${T}>;
@group(0) @binding(1) var<storage, read_write> z: array<${T}>;
@group(0) @binding(2) var<uniform> params: Params;
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  ${blockThread({ buffer: 'z', type: T })}
  ${BLOCK_ORIGIN}
  ${rep(WINO_M * WINO_M, (e) => {
    const [r, s] = [Math.floor(e / WINO_M), e % WINO_M];
    return `var d${r}_${s} = ${T}(0.0);
  if (h0 + ${r} < params.ho && w0 + ${s} < params.wo) { d${r}_${s} = dy[(base + (h0 + ${r}) * params.wo + w0 + ${s}) * params.c + c]; }`;
  })}
  ${sandwich(WINO_A_COLS, WINO_A_COLS, 'd', 'e', 'p', T)}
  ${rep(WINO_XI, (xi) => `z[${xi} * plane + i] = p${Math.floor(xi / WINO_A)}_${xi % WINO_A};`)}
}`,
  };
}

/**
 * dw[i, j, ci, co] = (Gᵀ dU G)[i][j], dU[ξ] the sum of ξ's params.slices partial GEMMs
 * (partial [36 · slices, Cin, Cout]), added to dw's values where params.accumulate is set; one
 * thread per (ci, co).
 */
export const weightGradOutputSpec: KernelSpec = {
  name: 'conv2d.winogradWeightGradOutput',
  key: '',
  inputs: 1,
  outputs: 1,
  wgsl: () => /* wgsl */ `
struct Params { kn: i32, slices: i32, accumulate: i32 }
@group(0) @binding(0) var<storage, read> partial: array<f32>;
@group(0) @binding(1) var<storage, read_write> dw: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let i = i32(${linearIndex()});
  if (i >= params.kn) { return; }
  ${rep(WINO_XI, (xi) => `var m${Math.floor(xi / WINO_A)}_${xi % WINO_A} = 0.0;`)}
  for (var s = 0; s < params.slices; s++) {
    ${rep(WINO_XI, (xi) => `m${Math.floor(xi / WINO_A)}_${xi % WINO_A} += partial[(${xi} * params.slices + s) * params.kn + i];`, '\n    ')}
  }
  ${sandwich(WINO_GT, WINO_GT, 'm', 'h', 'o', 'f32')}
  ${rep(9, (tap) => `dw[${tap} * params.kn + i] = o${Math.floor(tap / 3)}_${tap % 3} + select(0.0, dw[${tap} * params.kn + i], params.accumulate != 0);`)}
}`,
};
