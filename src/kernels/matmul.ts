// Matrix product C[M, N] = op(A) · op(B), where op(A) is A [M, K] or, with transposeA, the
// transpose of A stored as [K, M] (likewise B [K, N] or, with transposeB, stored as [N, K]).
// Tiled: a workgroup of 16x16 threads owns a 64x64 block of C; each thread accumulates a 4x4
// register block (rows ty + 16i, columns tx + 16j, so neighbouring threads read neighbouring
// words of workgroup memory and write neighbouring words of C). K advances 16 at a time through
// workgroup tiles, zero-filled past the edges, so any M, N, K (1 and odd sizes included) is exact.
//
// Split-K: when C has few tiles but K is long (the classifier head [32, 32768] x [32768, 256] has
// 4 tiles), workgroup z takes a chunk of K and writes a partial [M, N]; a second kernel sums the
// partials (and adds the bias). Otherwise the bias is added in the tile kernel's epilogue.
//
// On CPU adapters (lavapipe), where workgroup memory is slow, the product runs on conv2d's
// subgroup GEMM instead (a matmul is a 1x1 convolution over a 1 x M image): A·B is conv2d's
// forward, A·B^T its backward-input and A^T·B its backward-weight (see viaConvGemm). That is the
// 'conv-gemm' way (MatmulWay); GPUs take 'tiles', this file's kernel, by default. On an H200 the
// conv GEMM's tiles ran the U-Net's l3 conv, the same 65536x1152x128 product as the bench's
// matmul/conv-gemm-unet-l3, in 0.673 ms where the matmul took 0.953 (bench/README, runs 8-10):
// the bench times 'conv-gemm' beside every matmul case, so a GPU run can show whether GPUs
// should take it too.
//
// A zero-size M, N or K runs no kernel (emptyProduct): C is empty, or zeros plus the bias.
//
// linear(x, w, b) = x · w + b with x [N, in], w [in, out] (Keras Dense layout), b [out].
// Backward (saved: both operands, nothing else): dA = dC · op(B)^T, dB = op(A)^T · dC, db = the
// column sums of dC; each is one more call of the same kernel with the transpose flags chosen so
// nothing is ever transposed in memory.

import { ShapeError } from '../errors.js';
import { packParams, u32 } from '../gpu/params.js';
import { runtime, type KernelSpec } from '../gpu/runtime.js';
import { expectKnownOptions, expectOptionalBoolean, expectOptionalTensor, expectOptions, expectTensor } from '../graph/args.js';
import { record } from '../graph/autograd.js';
import { emptyTensor, formatShape, type Tensor } from '../graph/tensor.js';
import { binaryForward } from './elementwise.js';
import { batchedMatmul } from './matmul-batched.js';
import { conv2dBackwardInput, conv2dBackwardWeight, conv2dForward } from './conv2d.js';
import { defaultConvFamily } from './conv2d-launch.js';
import type { ConvFamily } from './conv2d-gemm.js';
import { forcedWay } from './forced-way.js';
import { sumLeading } from './reduce.js';
import { LINEAR_MAIN_ARGS, linearGrid, linearIndex, workgroupGrid } from './wgsl.js';

/** Output tile edge (rows and columns) and K step; 16x16 threads with 4x4 results each. */
const TILE = 64;
const TILE_K = 16;
/** Split K only while C has fewer tiles than this: a GPU needs more workgroups than that to fill. */
const SPLIT_TARGET_WORKGROUPS = 128;
/** Each K chunk does at least this many multiply-adds per output, so partials stay cheap. */
const MIN_K_PER_SPLIT = 256;
const MAX_SPLITS = 64;

export interface MatmulOptions {
  transposeA?: boolean;
  transposeB?: boolean;
}

export interface MatmulForwardOptions extends MatmulOptions {
  /** Added to every row of C: [N]. */
  bias?: Tensor | null;
  /** Number of K chunks; default: chosen from the shape (1 = no split). Implies the tiled kernel. */
  splitK?: number;
  /** 'tiled' (this file's tiles) or 'subgroup' (conv2d's GEMM, of the adapter's family); default: matmulWay(). */
  family?: ConvFamily;
}

/** 'tiles': this file's kernel (split-K where C has few tiles); 'conv-gemm': conv2d's GEMM (viaConvGemm). */
export type MatmulWay = 'tiles' | 'conv-gemm';

const forced = forcedWay<MatmulWay>();

/** Runs fn with every 2-D product taking `way` where it can (tests and the bench compare the two). */
export const withMatmulWay = <T>(way: MatmulWay, fn: () => T): T => forced.with(way, fn);

/** The way a product takes unless its options say: the forced one, else 'conv-gemm' where convs run the subgroup family (CPU adapters). */
export function matmulWay(): MatmulWay {
  return forced.current ?? (defaultConvFamily() === 'subgroup' ? 'conv-gemm' : 'tiles');
}

function tileSpec(transposeA: boolean, transposeB: boolean, withBias: boolean): KernelSpec {
  // Each tile element is loaded by consecutive threads along the operand's contiguous axis.
  const loadA = transposeA
    ? 'let mm = e % 64u; let ka = e / 64u; var va = 0.0; if (row0 + mm < params.m && k0 + ka < kEnd) { va = a[(k0 + ka) * params.m + row0 + mm]; }'
    : 'let ka = e % 16u; let mm = e / 16u; var va = 0.0; if (row0 + mm < params.m && k0 + ka < kEnd) { va = a[(row0 + mm) * params.k + k0 + ka]; }';
  const loadB = transposeB
    ? 'let kb = e % 16u; let nn = e / 16u; var vb = 0.0; if (col0 + nn < params.n && k0 + kb < kEnd) { vb = b[(col0 + nn) * params.k + k0 + kb]; }'
    : 'let nn = e % 64u; let kb = e / 64u; var vb = 0.0; if (col0 + nn < params.n && k0 + kb < kEnd) { vb = b[(k0 + kb) * params.n + col0 + nn]; }';
  const out = withBias ? 3 : 2;
  return {
    name: 'matmul.forward',
    key: `ta${+transposeA}tb${+transposeB}bias${+withBias}t${TILE}k${TILE_K}`,
    inputs: withBias ? 3 : 2,
    outputs: 1,
    wgsl: () => /* wgsl */ `
struct Params { m: u32, n: u32, k: u32, tilesN: u32, tiles: u32, kChunk: u32 }
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
${withBias ? '@group(0) @binding(2) var<storage, read> bias: array<f32>;' : ''}
@group(0) @binding(${out}) var<storage, read_write> c: array<f32>;
@group(0) @binding(${out + 1}) var<uniform> params: Params;
// [k][m] and [k][n]; A's row stride is padded to 65 words so its k-fastest stores spread over banks.
var<workgroup> tileA: array<f32, ${TILE_K * (TILE + 1)}>;
var<workgroup> tileB: array<f32, ${TILE_K * TILE}>;
@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let tile = wid.x + wid.y * nwg.x;
  if (tile >= params.tiles) { return; }
  let row0 = (tile / params.tilesN) * ${TILE}u;
  let col0 = (tile % params.tilesN) * ${TILE}u;
  let kBegin = wid.z * params.kChunk;
  let kEnd = min(kBegin + params.kChunk, params.k);
  var acc: array<vec4<f32>, 4>;
  for (var k0 = kBegin; k0 < kEnd; k0 += ${TILE_K}u) {
    for (var l = 0u; l < 4u; l++) {
      let e = li + l * 256u;
      ${loadA}
      tileA[ka * 65u + mm] = va;
      ${loadB}
      tileB[kb * 64u + nn] = vb;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < ${TILE_K}u; kk++) {
      let ra = kk * 65u + lid.y;
      let rb = kk * 64u + lid.x;
      let bv = vec4<f32>(tileB[rb], tileB[rb + 16u], tileB[rb + 32u], tileB[rb + 48u]);
      acc[0] += tileA[ra] * bv;
      acc[1] += tileA[ra + 16u] * bv;
      acc[2] += tileA[ra + 32u] * bv;
      acc[3] += tileA[ra + 48u] * bv;
    }
    workgroupBarrier();
  }
  let base = wid.z * params.m * params.n;
  for (var i = 0u; i < 4u; i++) {
    let row = row0 + lid.y + 16u * i;
    if (row >= params.m) { break; }
    for (var j = 0u; j < 4u; j++) {
      let col = col0 + lid.x + 16u * j;
      if (col < params.n) {
        c[base + row * params.n + col] = acc[i][j]${withBias ? ' + bias[col]' : ''};
      }
    }
  }
}`,
  };
}

function splitSumSpec(withBias: boolean): KernelSpec {
  return {
    name: 'matmul.splitKSum',
    key: `bias${+withBias}`,
    inputs: withBias ? 2 : 1,
    outputs: 1,
    wgsl: () => /* wgsl */ `
struct Params { mn: u32, n: u32, splits: u32 }
@group(0) @binding(0) var<storage, read> partials: array<f32>;
${withBias ? '@group(0) @binding(1) var<storage, read> bias: array<f32>;' : ''}
@group(0) @binding(${withBias ? 2 : 1}) var<storage, read_write> c: array<f32>;
@group(0) @binding(${withBias ? 3 : 2}) var<uniform> params: Params;
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let i = ${linearIndex()};
  if (i >= params.mn) { return; }
  var s = 0.0;
  for (var p = 0u; p < params.splits; p++) { s += partials[p * params.mn + i]; }
  c[i] = s${withBias ? ' + bias[i % params.n]' : ''};
}`,
  };
}

/** [M, K, N] of op(A) · op(B), or a ShapeError naming both operands. */
export function matmulShape(op: string, a: Tensor, b: Tensor, options: MatmulOptions = {}): [number, number, number] {
  if (a.rank !== 2 || b.rank !== 2) {
    throw new ShapeError(`${op}: expects 2-D operands, got a ${formatShape(a.shape)} and b ${formatShape(b.shape)}`);
  }
  const [m, ka] = options.transposeA ? [a.shape[1], a.shape[0]] : [a.shape[0], a.shape[1]];
  const [kb, n] = options.transposeB ? [b.shape[1], b.shape[0]] : [b.shape[0], b.shape[1]];
  if (ka !== kb) {
    throw new ShapeError(
      `${op}: inner dimensions differ: op(a) is [${m},${ka}] and op(b) is [${kb},${n}] ` +
        `(a ${formatShape(a.shape)}${options.transposeA ? ' transposed' : ''}, b ${formatShape(b.shape)}${options.transposeB ? ' transposed' : ''})`,
    );
  }
  return [m, ka, n];
}

/** K chunks for an [M, K, N] product: more only when C alone gives too few workgroups. */
export function chooseSplitK(m: number, k: number, n: number): number {
  const tiles = Math.ceil(m / TILE) * Math.ceil(n / TILE);
  if (tiles >= SPLIT_TARGET_WORKGROUPS || k < 2 * MIN_K_PER_SPLIT) return 1;
  return Math.min(Math.ceil(SPLIT_TARGET_WORKGROUPS / tiles), Math.floor(k / MIN_K_PER_SPLIT), MAX_SPLITS);
}

function tileGrid(tiles: number, splits: number): [number, number, number] {
  return [...workgroupGrid(tiles), splits];
}

/** Raw GPU op(A) · op(B) (+ bias): no autograd. */
export function matmulForward(a: Tensor, b: Tensor, options: MatmulForwardOptions = {}): Tensor {
  const [m, k, n] = matmulShape('matmul', a, b, options);
  const bias = options.bias ?? null;
  if (bias && (bias.rank !== 1 || bias.shape[0] !== n)) {
    throw new ShapeError(`matmul: bias ${formatShape(bias.shape)} does not match the ${n} output columns`);
  }
  const requested = options.splitK ?? chooseSplitK(m, k, n);
  if (!Number.isInteger(requested) || requested < 1) throw new ShapeError(`matmul: splitK must be a positive integer, got ${requested}`);
  if (m === 0 || n === 0 || k === 0) return emptyProduct(m, n, bias);
  const ta0 = options.transposeA ?? false;
  const tb0 = options.transposeB ?? false;
  const way: MatmulWay = options.family ? (options.family === 'subgroup' ? 'conv-gemm' : 'tiles') : options.splitK === undefined ? matmulWay() : 'tiles';
  // conv2d's GEMM has no product of two transposed operands.
  if (way === 'conv-gemm' && !(ta0 && tb0)) return viaConvGemm(a, b, m, k, n, ta0, tb0, bias);
  // Chunks are whole K steps; recount so no chunk is empty.
  const kChunk = Math.max(TILE_K, Math.ceil(Math.ceil(k / requested) / TILE_K) * TILE_K);
  const splits = Math.max(1, Math.ceil(k / kChunk));
  const tilesN = Math.ceil(n / TILE);
  const tiles = Math.ceil(m / TILE) * tilesN;
  const params = packParams([u32(m), u32(n), u32(k), u32(tilesN), u32(tiles), u32(kChunk)]);
  const c = emptyTensor([m, n], 'matmul.out');
  const rt = runtime();
  const ta = options.transposeA ?? false;
  const tb = options.transposeB ?? false;
  if (splits === 1) {
    const inputs = bias ? [a.slice, b.slice, bias.slice] : [a.slice, b.slice];
    rt.dispatch(tileSpec(ta, tb, !!bias), { inputs, outputs: [c.slice], params }, tileGrid(tiles, 1));
    return c;
  }
  const partials = emptyTensor([splits, m, n], 'matmul.partials');
  rt.dispatch(tileSpec(ta, tb, false), { inputs: [a.slice, b.slice], outputs: [partials.slice], params }, tileGrid(tiles, splits));
  rt.dispatch(
    splitSumSpec(!!bias),
    { inputs: bias ? [partials.slice, bias.slice] : [partials.slice], outputs: [c.slice], params: packParams([u32(m * n), u32(n), u32(splits)]) },
    linearGrid(m * n),
  );
  partials.dispose();
  return c;
}

/**
 * C when M, N or K is 0, as PyTorch's: no rows or no columns give an empty C; a sum over no K is
 * zero, so C is zeros, plus the bias in every row. No kernel runs: conv2d's GEMM refuses empty
 * images (its error named conv2d and shapes the caller never passed), and the tiled kernel would
 * bind empty operands for nothing.
 */
function emptyProduct(m: number, n: number, bias: Tensor | null): Tensor {
  const c = emptyTensor([m, n], 'matmul.out');
  if (c.size === 0) return c;
  runtime().clear(c.buffer, 0, c.size * 4);
  if (!bias) return c;
  const biased = binaryForward('add', c, bias);
  c.dispose();
  return biased;
}

/** C = op(A)·op(B) on conv2d's GEMM kernels, viewing the operands as 1 x M images. */
function viaConvGemm(a: Tensor, b: Tensor, m: number, k: number, n: number, ta: boolean, tb: boolean, bias: Tensor | null): Tensor {
  const views: Tensor[] = [];
  const view = (t: Tensor, shape: number[]): Tensor => {
    const v = t.share(shape);
    views.push(v);
    return v;
  };
  const valid = { padding: 'valid' as const };
  let out: Tensor;
  if (!ta && !tb) out = conv2dForward(view(a, [1, 1, m, k]), view(b, [1, 1, k, n]), bias, valid);
  else if (!ta) out = conv2dBackwardInput(view(a, [1, 1, m, k]), view(b, [1, 1, n, k]), [1, 1, m, n], valid);
  else out = conv2dBackwardWeight(view(b, [1, 1, k, n]), view(a, [1, 1, k, m]), [1, 1, m, n], valid);
  for (const v of views) v.dispose();
  let c = out.share([m, n]);
  out.dispose();
  if (bias && (ta || tb)) {
    const biased = binaryForward('add', c, bias);
    c.dispose();
    c = biased;
  }
  return c;
}

/** Gradients of C = op(A) · op(B), each one product with transpose flags (see the header). */
export function matmulBackward(
  dc: Tensor,
  a: Tensor,
  b: Tensor,
  options: MatmulOptions = {},
  needs: readonly boolean[] = [true, true],
): [Tensor | null, Tensor | null] {
  const ta = options.transposeA ?? false;
  const tb = options.transposeB ?? false;
  let da: Tensor | null = null;
  let db: Tensor | null = null;
  if (needs[0]) {
    da = ta ? matmulForward(b, dc, { transposeA: tb, transposeB: true }) : matmulForward(dc, b, { transposeB: !tb });
  }
  if (needs[1]) {
    db = tb ? matmulForward(dc, a, { transposeA: true, transposeB: ta }) : matmulForward(a, dc, { transposeA: !ta });
  }
  return [da, db];
}

/**
 * Differentiable op(A) · op(B): 2-D operands, or batches of matrices over leading axes that
 * broadcast as torch.matmul's (matmul-batched.ts).
 */
export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  expectTensor('matmul', 'a', a);
  expectTensor('matmul', 'b', b);
  expectOptions('matmul', options, '{ transposeB: true }');
  expectKnownOptions('matmul', options, ['transposeA', 'transposeB'], {});
  expectOptionalBoolean('matmul', 'transposeA', options.transposeA);
  expectOptionalBoolean('matmul', 'transposeB', options.transposeB);
  const opts = { transposeA: options.transposeA ?? false, transposeB: options.transposeB ?? false };
  if (a.rank > 2 || b.rank > 2) return batchedMatmul(a, b, opts, matmul2d);
  return matmul2d(a, b, opts);
}

function matmul2d(a: Tensor, b: Tensor, opts: { transposeA: boolean; transposeB: boolean }): Tensor {
  const c = matmulForward(a, b, opts);
  return record('matmul', [a, b], c, (dc, needs, [sa, sb]) => matmulBackward(dc, sa, sb, opts, needs), [a, b]);
}

/** Differentiable x · w + b: x [N, in], w [in, out] (Keras Dense layout), b [out]. */
export function linear(x: Tensor, w: Tensor, b?: Tensor | null): Tensor {
  expectTensor('linear', 'input x', x);
  expectTensor('linear', 'weight w', w);
  expectOptionalTensor('linear', 'bias b', b);
  if (x.rank !== 2 || w.rank !== 2 || x.shape[1] !== w.shape[0]) {
    throw new ShapeError(`linear: expects x [N, in] and w [in, out], got x ${formatShape(x.shape)} and w ${formatShape(w.shape)}`);
  }
  const out = w.shape[1];
  if (b && (b.rank !== 1 || b.shape[0] !== out)) {
    throw new ShapeError(`linear: bias ${formatShape(b.shape)} does not match w ${formatShape(w.shape)} (expected [${out}])`);
  }
  const y = matmulForward(x, w, { bias: b });
  const inputs = b ? [x, w, b] : [x, w];
  return record(
    'linear',
    inputs,
    y,
    (dy, needs, [sx, sw]) => {
      const [dx, dw] = matmulBackward(dy, sx, sw, {}, needs);
      return b ? [dx, dw, needs[2] ? sumLeading(dy, out) : null] : [dx, dw];
    },
    [x, w],
  );
}
