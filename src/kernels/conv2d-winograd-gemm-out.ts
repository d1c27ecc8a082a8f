// The staged Winograd's GEMMs and output transform in one kernel, for the subgroup family (CPU
// adapters; conv2d-winograd.ts has the algorithm). The staged path writes M (36 values a block
// and channel, 2.25x the output) and reads it back in the output transform; on lavapipe, where
// every load and store of a lane is a scalar access of its own, that round trip was a third of
// the U-Net's l1 forward at batch 16 of 256x256 (about 100 of 300 ms). Here a workgroup of W lanes
// owns TM blocks and W·4 output channels, as the subgroup GEMM's tile (conv2d-subgroup.ts: a lane
// owns four adjacent channels and broadcasts the rows of V it loads), and walks the 36 GEMMs
// itself, folding each M[ξ] into the block's outputs as soon as it is made:
//
//   Y[r][s] = Σ_i Aᵀ[r][i] · P_i[s],   P_i[s] = Σ_j Aᵀ[s][j] · M[6i + j]
//
// so that besides the GEMM's accumulators a lane keeps P_i (4 values a block and channel, made
// over the six j of one i) and Y (16), never M. i and j are loops, the entries of Aᵀ picked by
// selects on them (uniform). Unrolling the six i instead ran no faster and took twice as long to
// compile: LLVM takes about 13 s for this kernel on lavapipe (once; Mesa caches it on disk),
// against about 1 s for the staged path's GEMM and output transform. A draft that kept P and Y
// in per-lane arrays compiled in 3 s but ran 1.4x slower (indexed accesses, lane by lane; that
// draft also gave wrong outputs, which I did not chase).

import { packParams, i32 } from '../gpu/params.js';
import type { KernelSpec } from '../gpu/runtime.js';
import type { Tensor } from '../graph/tensor.js';
import { dispatchChunk, type Range } from './chunking.js';
import { rep, XYZW } from './conv2d-gemm-common.js';
import type { ConvFamily } from './conv2d-gemm.js';
import { familyLanes } from './conv2d-launch.js';
import { SUBGROUP_LANES } from './conv2d-subgroup.js';
import { BLOCK_ORIGIN, WINO_A, WINO_AT, WINO_M } from './conv2d-winograd.js';
import { reluKeepingNan } from './elementwise-math.js';
import { forcedWay } from './forced-way.js';
import { f32Literal, workgroupGrid } from './wgsl.js';

/** The kernel's name (the benchmark's analysis looks for it among a conv's kernels). */
export const GEMM_OUT_KERNEL = 'conv2d.winogradGemmOut';

/** Output channels a lane owns (one vec4). */
const LANE_COLS = 4;

/** WGSL: Aᵀ[s][j] for a runtime j in 0..5, as selects on it (row s's non-zero entries only). */
function atColumnValue(s: number, j: string): string {
  return WINO_AT[s].reduce((e, c, jj) => (c === 0 ? e : `select(${e}, ${f32Literal(c)}, ${j} == ${jj})`), '0.0');
}

/**
 * The kernel for W lanes a workgroup and TM blocks (a multiple of W): V [36, tPad, K] and U
 * [36, K, N] in vec4s along K and N (K and N multiples of 4), the bias as vec4s where given, y
 * [samples, ho, wo, N] as vec4s; `relu` stores max(y, 0), NaN kept.
 */
export function gemmOutSpec(lanes: number, tm: number, hasBias: boolean, relu: boolean): KernelSpec {
  const q = tm / lanes;
  const rows = Array.from({ length: tm }, (_, r) => r);
  const cols = Array.from({ length: LANE_COLS }, (_, j) => j);
  const acc = (r: number, j: number) => `acc${r}_${j}`;
  const p = (r: number, j: number, s: number) => `p${r}_${j}_${s}`;
  const o = (r: number, j: number, a: number, s: number) => `o${r}_${j}_${a}_${s}`;
  const each = (f: (r: number, j: number) => string, sep = '\n  ') => rows.flatMap((r) => cols.map((j) => f(r, j))).join(sep);
  const fourByFour = (f: (a: number, s: number) => string, sep = ' ') => rep(WINO_M * WINO_M, (e) => f(Math.floor(e / WINO_M), e % WINO_M), sep);
  // One i of the sum: P_i over the six j (the GEMMs M[6i + j], each folded in as it is made),
  // then folded into the outputs.
  const iStep = `{
    ${each((r, j) => rep(WINO_M, (s) => `var ${p(r, j, s)} = 0.0;`, ' '))}
    for (var jj = 0; jj < ${WINO_A}; jj++) {
      let xi = ii * ${WINO_A} + jj;
      ${rep(WINO_M, (s) => `let cf${s} = ${atColumnValue(s, 'jj')};`, '\n      ')}
      ${each((r, j) => `var ${acc(r, j)} = 0.0;`, ' ')}
      let uBase = xi * params.k;
      let vBase = xi * params.tPad;
      for (var k = 0; k < params.k; k += 4) {
        ${rep(4, (u) => `let bn${u} = u[((uBase + k + ${u}) * params.n + c4) / 4];`, '\n        ')}
        ${rep(q, (qq) => `let av${qq} = v[((vBase + aRow${qq}) * params.k + k) / 4];`, '\n        ')}
        ${rep(tm, (r) => `{
          let a = vec4<f32>(${rep(4, (u) => `subgroupBroadcast(av${Math.floor(r / lanes)}.${XYZW[u]}, ${r % lanes}u)`, ', ')});
          ${rep(LANE_COLS, (j) => `${acc(r, j)} = ${[0, 1, 2, 3].reduce((e, u) => `fma(a.${XYZW[u]}, bn${u}.${XYZW[j]}, ${e})`, acc(r, j))};`, ' ')}
        }`, '\n        ')}
      }
      ${each((r, j) => rep(WINO_M, (s) => `${p(r, j, s)} = fma(cf${s}, ${acc(r, j)}, ${p(r, j, s)});`, ' '), '\n      ')}
    }
    ${rep(WINO_M, (a) => `let ar${a} = ${atColumnValue(a, 'ii')};`, ' ')}
    ${each((r, j) => fourByFour((a, s) => `${o(r, j, a, s)} = fma(ar${a}, ${p(r, j, s)}, ${o(r, j, a, s)});`), '\n    ')}
  }`;
  const store = (r: number) => `{
    let t = row0 + ${r};
    if (t < params.blocks) {
      ${BLOCK_ORIGIN.replace(/\n  /g, '\n      ')}
      ${fourByFour((a, s) => {
        const value = `vec4<f32>(${cols.map((j) => o(r, j, a, s)).join(', ')}) + bias`;
        const at = `y[((base + (h0 + ${a}) * params.wo + w0 + ${s}) * params.n + c4) / 4]`;
        return `if (h0 + ${a} < params.ho && w0 + ${s} < params.wo) { ${relu ? `let pre = ${value}; ${at} = ${reluKeepingNan('pre', 'vec4<f32>')};` : `${at} = ${value};`} }`;
      }, '\n      ')}
    }
  }`;
  return {
    name: GEMM_OUT_KERNEL,
    key: `${lanes}:${tm}${hasBias ? 'b' : ''}${relu ? 'relu' : ''}`,
    inputs: hasBias ? 3 : 2,
    outputs: 1,
    wgsl: () => /* wgsl */ `enable subgroups;
struct Params { k: i32, n: i32, tPad: i32, blocks: i32, ho: i32, wo: i32, rows: i32, cols: i32, nTiles: i32, groups: i32 }
@group(0) @binding(0) var<storage, read> v: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> u: array<vec4<f32>>;
${hasBias ? '@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;' : ''}
@group(0) @binding(${hasBias ? 3 : 2}) var<storage, read_write> y: array<vec4<f32>>;
@group(0) @binding(${hasBias ? 4 : 3}) var<uniform> params: Params;
@compute @workgroup_size(${lanes})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(subgroup_invocation_id) sgi: u32) {
  let g = i32(wid.x + wid.y * nwg.x);
  if (g >= params.groups) { return; }
  let lane = i32(sgi);
  let row0 = (g / params.nTiles) * ${tm};
  let col0 = (g % params.nTiles) * ${lanes * LANE_COLS};
  let lcol0 = col0 + ${LANE_COLS} * lane;
  let c4 = min(lcol0, params.n - ${LANE_COLS}); // past the edge, the last four (never stored)
  ${rep(q, (qq) => `let aRow${qq} = min(row0 + lane + ${qq * lanes}, params.tPad - 1);`)}
  ${each((r, j) => fourByFour((a, s) => `var ${o(r, j, a, s)} = 0.0;`), '\n  ')}
  for (var ii = 0; ii < ${WINO_A}; ii++) ${iStep}
  if (lcol0 >= params.n) { return; }
  let bias = ${hasBias ? 'b[c4 / 4]' : 'vec4<f32>(0.0)'};
  ${rep(tm, store, '\n  ')}
}`,
  };
}

/**
 * Blocks per workgroup: 8 ran the U-Net's l1 forward at scale 1 in 273 ms, 16 in 228, 32 in 232
 * (and compiled for two minutes).
 */
export const GEMM_OUT_BLOCKS = 16;

/** 'staged' forced: Winograd writes M and runs the output transform even where this kernel fits. */
export type WinogradGemmOutWay = 'one-kernel' | 'staged';

const forced = forcedWay<WinogradGemmOutWay>();

/** Runs fn with the way forced ('staged': tests comparing the two paths on the same inputs). */
export const withWinogradGemmOutWay = <T>(way: WinogradGemmOutWay, fn: () => T): T => forced.with(way, fn);

/**
 * The most channels summed (K) at which the kernel runs. M's round trip costs in proportion to N
 * and the GEMMs to K·N, so what it saves shrinks as K grows, while its tile of 16 blocks loads
 * each weight for half the rows the staged GEMM's 32 do. On lavapipe (interleaved A/B against the
 * staged path, GPU timestamps, 2026-11-29), forward and backward input at the U-Net's levels at
 * scale 1 ran 1.28-1.30x as fast at l1 (K 32), 1.17-1.19x at l2 (K 64), 1.05-1.07x at l3 (K 128),
 * but 0.95x at l4 (K 256) and 0.97x at l5 (K 512); at scale 8, VGG16's conv1_2 to conv2_2 (K 64
 * and 128) 1.05-1.19x, its K 256 and 512 convs 0.96-1.06x.
 */
export const GEMM_OUT_MAX_K = 128;

/**
 * Whether the staged Winograd of a conv with K channels summed and N out runs its GEMMs and
 * output transform by this kernel: on the subgroup family with 8 lanes (lavapipe's, where it was
 * measured), K and N in vec4s, K at most GEMM_OUT_MAX_K, GEMMs by tiles (the caller: not by the
 * uniform-weights kernel), unless 'staged' is forced.
 */
export function gemmOutFits(family: ConvFamily, s: { k: number; n: number }): boolean {
  return forced.current !== 'staged' && family === 'subgroup' && familyLanes(family) === SUBGROUP_LANES && s.k % 4 === 0 && s.n % 4 === 0 && s.k <= GEMM_OUT_MAX_K;
}

/**
 * y (a chunk's range) from V [36, tPad, K] and U [36, K, N] for `blocks` blocks of rows x cols a
 * sample: one dispatch of gemmOutSpec, a workgroup per GEMM_OUT_BLOCKS blocks and 32 output
 * channels.
 */
export function dispatchGemmOut(v: Tensor, u: Tensor, b: Tensor | null, out: Range, relu: boolean,
  shape: { k: number; n: number; tPad: number; blocks: number; ho: number; wo: number; rows: number; cols: number }): void {
  const lanes = SUBGROUP_LANES;
  const nTiles = Math.ceil(shape.n / (lanes * LANE_COLS));
  const groups = Math.ceil(shape.blocks / GEMM_OUT_BLOCKS) * nTiles;
  const params = packParams([shape.k, shape.n, shape.tPad, shape.blocks, shape.ho, shape.wo, shape.rows, shape.cols, nTiles, groups].map(i32));
  dispatchChunk(gemmOutSpec(lanes, GEMM_OUT_BLOCKS, b !== null, relu), b ? [v, u, b] : [v, u], [out], params, workgroupGrid(groups));
}
