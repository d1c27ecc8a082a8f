// Winograd F(4x4, 3x3) for conv2d's 3x3 stride-1 forward and backward input (Lavin and Gray,
// "Fast Algorithms for Convolutional Neural Networks", 2016). Each 4x4 block of outputs is
//
//   Y = Aᵀ [ Σ_c (G g_c Gᵀ) ⊙ (Bᵀ d_c B) ] A
//
// where d_c is the 6x6 input patch under the block in channel c and g_c the 3x3 filter: 36
// multiply-adds per channel for 16 outputs instead of 144, so 4x fewer than direct convolution.
// The sum over channels is 36 independent GEMMs, one per position ξ of the 6x6 transform:
//
//   M[ξ] (T × N) = V[ξ] (T × K) · U[ξ] (K × N),   T = the 4x4 blocks of the batch, K = channels in,
//                                                  N = channels out
//
// run as one dispatch of conv2d's own GEMM kernels (either family) over "36 samples of a 1x1
// convolution" whose weights change with the sample (their batchedWeights variant); each ξ's rows
// are padded to whole GEMM tiles, so that a tile never spans two ξ. Three small kernels around it:
// the weight transform U = G g Gᵀ, the input transform V = Bᵀ d B (one thread per block and
// channel), and the output transform Aᵀ M A, which adds the bias and writes the block's in-range
// pixels. On lavapipe the GEMMs and the output transform run as one kernel for K up to 128
// (conv2d-winograd-gemm-out.ts), so that M is never written.
//
// The backward input of a stride-1 3x3 conv is the forward of dy with the filters turned by 180°
// and their channel axes swapped, padded by 2 − pad: the same kernels with a flipped weight
// transform. The cost is memory: V and M hold 36/16 = 2.25x the input and output, so conv2d.ts
// runs a batch in chunks of samples whose V and M together stay under WORKSPACE_BYTES.
//
// Accuracy: the transforms scale values by up to 5 (Bᵀ) and 8 (Aᵀ) and cancel afterwards, so the
// float32 rounding error is 10-100x direct convolution's; test/helpers/close.ts winogradTolerance
// gives the measured figures and the bound the tests hold it to.

import { packParams, i32 } from '../gpu/params.js';
import type { KernelSpec } from '../gpu/runtime.js';
import { emptyTensor, type Tensor } from '../graph/tensor.js';
import { chunkItems, dispatchChunk, forEachChunk, part, planned, range } from './chunking.js';
import type { ConvGeometry } from './conv2d.js';
import { rep } from './conv2d-gemm-common.js';
import { reluKeepingNan } from './elementwise-math.js';
import { f32Literal, LINEAR_MAIN_ARGS, linearGrid, linearIndex, vecType, workgroupGrid, type VecWidth } from './wgsl.js';

/** Outputs per block side (m), filter side (r) and transform side (m + r − 1). */
export const WINO_M = 4;
export const WINO_R = 3;
export const WINO_A = 6;
/** Transform positions ξ: the GEMMs per conv. */
export const WINO_XI = WINO_A * WINO_A;

/** Bᵀ (6x6), interpolation points 0, ±1, ±2 and ∞. */
export const WINO_BT: readonly (readonly number[])[] = [
  [4, 0, -5, 0, 1, 0],
  [0, -4, -4, 1, 1, 0],
  [0, 4, -4, -1, 1, 0],
  [0, -2, -1, 2, 1, 0],
  [0, 2, -1, -2, 1, 0],
  [0, 4, 0, -5, 0, 1],
];

/** G (6x3). */
export const WINO_G: readonly (readonly number[])[] = [
  [1 / 4, 0, 0],
  [-1 / 6, -1 / 6, -1 / 6],
  [-1 / 6, 1 / 6, -1 / 6],
  [1 / 24, 1 / 12, 1 / 6],
  [1 / 24, -1 / 12, 1 / 6],
  [0, 0, 1],
];

/** Aᵀ (4x6). */
export const WINO_AT: readonly (readonly number[])[] = [
  [1, 1, 1, 1, 1, 0],
  [0, 1, -1, 2, -2, 0],
  [0, 1, 1, 4, 4, 0],
  [0, 1, -1, 8, -8, 1],
];

/**
 * Most bytes V and M may take together per chunk of samples (conv2d.ts sizes the chunks by it;
 * each also stays within one binding): at the U-Net's l1 (batch 16, 256x256x32) three chunks,
 * and a tenth of its training step's minimum memory.
 */
export const WORKSPACE_BYTES = 256 * 1024 * 1024;

/** The 4x4 blocks covering an output of ho x wo: rows and columns of blocks. */
export const winogradBlocks = (ho: number, wo: number): [number, number] => [Math.ceil(ho / WINO_M), Math.ceil(wo / WINO_M)];

/**
 * Winograd's GEMM K and N, its input's and output's sides, and the input's padding, per direction:
 * the backward input is the forward of dy with the filters turned by 180°, padded by
 * (kernel − 1) − pad.
 */
export function winogradShape(dir: 'forward' | 'backwardInput', g: ConvGeometry) {
  return dir === 'forward'
    ? { k: g.cin, n: g.cout, hIn: g.h, wIn: g.w, hOut: g.ho, wOut: g.wo, padTop: g.padTop, padLeft: g.padLeft }
    : { k: g.cout, n: g.cin, hIn: g.ho, wIn: g.wo, hOut: g.h, wOut: g.w, padTop: WINO_R - 1 - g.padTop, padLeft: WINO_R - 1 - g.padLeft };
}

/** What the staged and the fused Winograd plan alike: the GEMM's shape, the blocks, the output and U. */
export function winogradPlan(dir: 'forward' | 'backwardInput', g: ConvGeometry) {
  const s = winogradShape(dir, g);
  const [rows, cols] = winogradBlocks(s.hOut, s.wOut);
  return {
    dir,
    op: `conv2d.${dir}`,
    s,
    rows,
    cols,
    /** Floats per sample of the input and the output. */
    perSample: { src: s.hIn * s.wIn * s.k, out: s.hOut * s.wOut * s.n },
    outShape: [g.n, s.hOut, s.wOut, s.n],
    outLabel: dir === 'forward' ? 'conv2d.y' : 'conv2d.dx',
    uShape: [WINO_XI, s.k, s.n],
  };
}

export type WinogradPlan = ReturnType<typeof winogradPlan>;

/** Samples per dispatch that the storage bindings allow: input and output in parts, w, b and U whole. */
export function bindableSamples(p: WinogradPlan, samples: number, src: Tensor, w: Tensor, b: Tensor | null): number {
  return chunkItems(p.op, samples, [part(src, p.perSample.src), part(planned(p.outLabel, p.outShape), p.perSample.out)], [w, b, planned('conv2d.winograd.u', p.uShape)]);
}

/** U = G g Gᵀ of every filter (turned by 180° for the backward input): [36, K, N]. */
export function transformWeights(p: WinogradPlan, g: ConvGeometry, w: Tensor): Tensor {
  const u = emptyTensor(p.uShape, 'conv2d.winograd.u');
  dispatchChunk(weightTransformSpec(p.dir === 'backwardInput'), [w], [u], packParams([i32(g.cin), i32(g.cout)]), linearGrid(p.s.k * p.s.n));
  return u;
}

/** WGSL: Σ_j c[j]·terms[j] with the zero coefficients left out and ±1 as plain adds. */
export function combination(coeffs: readonly number[], terms: readonly string[]): string {
  let s = '';
  coeffs.forEach((c, j) => {
    if (c === 0) return;
    const mag = Math.abs(c);
    const term = mag === 1 ? terms[j] : `${f32Literal(mag)} * ${terms[j]}`;
    s += s === '' ? (c < 0 ? `-${term}` : term) : ` ${c < 0 ? '-' : '+'} ${term}`;
  });
  return s === '' ? '0.0' : s;
}

/**
 * WGSL lets for L · X · Rᵀ, with X the names `x{i}_{j}` (rows × cols) and the result named
 * `out{i}_{j}`: two passes of combinations through `mid{i}_{j}`. L is p × rows, R is q × cols.
 * The first pass goes column by column, so each column of X is last used before the next one's
 * mids are made: in the fused kernel's output transform X is the 36 accumulators, which then die
 * six at a time instead of all staying live until the last row of mids.
 */
export function sandwich(l: readonly (readonly number[])[], r: readonly (readonly number[])[], x: string, mid: string, out: string, type: string): string {
  const cols = r[0].length;
  const lines: string[] = [];
  for (let j = 0; j < cols; j++) {
    for (let i = 0; i < l.length; i++) lines.push(`let ${mid}${i}_${j}: ${type} = ${combination(l[i], l[i].map((_, k) => `${x}${k}_${j}`))};`);
  }
  for (let i = 0; i < l.length; i++) {
    for (let j = 0; j < r.length; j++) lines.push(`let ${out}${i}_${j}: ${type} = ${combination(r[j], r[j].map((_, k) => `${mid}${i}_${k}`))};`);
  }
  return lines.join('\n  ');
}

/**
 * WGSL, inside main: this thread's channel c (of params.c, counted in the thread's width) and
 * block t, leaving past the last block; plane, the elements of V or M per position ξ. With
 * `zeroed` (a buffer's name and element type), the threads of the padding rows (t from
 * params.blocks to params.tPad) first write zeros there: the weight gradient sums over the rows,
 * and a recycled buffer may hold anything, NaN included, which even a zero factor would spread.
 */
export function blockThread(zeroed: { buffer: string; type: string } | null = null): string {
  return /* wgsl */ `let i = i32(${linearIndex()});
  let c = i % params.c;
  let t = i / params.c;
  let plane = params.tPad * params.c;
  if (t >= params.blocks) {
    ${zeroed ? `if (t < params.tPad) { ${rep(WINO_XI, (xi) => `${zeroed.buffer}[${xi} * plane + i] = ${zeroed.type}(0.0);`, ' ')} }` : ''}
    return;
  }`;
}

/**
 * U[ξ, k, n] = (G g Gᵀ)[ξ] for the GEMM's B (K × N per ξ, stored at ξ·K·N + k·N + n), one thread
 * per (k, n). Forward: k = ci, n = co, g[i][j] = w[i, j, ci, co]. Backward input ('flipped'): k =
 * co, n = ci, g[i][j] = w[2 − i, 2 − j, ci, co].
 */
export function weightTransformSpec(flipped: boolean): KernelSpec {
  return gWeightTransformSpec(WINO_G, flipped ? 'conv2d.winogradWeightsFlipped' : 'conv2d.winogradWeights', flipped);
}

/**
 * weightTransformSpec's kernel for any G (a × 3, a² positions ξ, a row-major: ξ = i·a + j): F(4x4)'s
 * and F(2x2)'s (conv2d-winograd-f2.ts).
 */
export function gWeightTransformSpec(g: readonly (readonly number[])[], name: string, flipped: boolean): KernelSpec {
  const a = g.length;
  const tap = (i: number, j: number) => (flipped ? (2 - i) * 3 + (2 - j) : i * 3 + j);
  return {
    name,
    key: '',
    inputs: 1,
    outputs: 1,
    wgsl: () => /* wgsl */ `
struct Params { cin: i32, cout: i32 }
@group(0) @binding(0) var<storage, read> w: array<f32>;
@group(0) @binding(1) var<storage, read_write> u: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let i = i32(${linearIndex()});
  let kn = params.cin * params.cout;
  if (i >= kn) { return; }
  ${flipped
    ? `let ci = i % params.cin;
  let co = i / params.cin;`
    : `let co = i % params.cout;
  let ci = i / params.cout;`}
  ${rep(9, (t) => `let g${Math.floor(t / 3)}_${t % 3} = w[(${tap(Math.floor(t / 3), t % 3)} * params.cin + ci) * params.cout + co];`)}
  ${sandwich(g, g, 'g', 'h', 'v', 'f32')}
  ${rep(a * a, (xi) => `u[${xi} * kn + i] = v${Math.floor(xi / a)}_${xi % a};`)}
}`,
  };
}

/**
 * V[ξ, t, c] = (Bᵀ d B)[ξ] of block t's 6x6 patch of src [n, h, w, c] (zero outside the image),
 * `width` channels per thread. V has tPad rows per ξ; those past the last block are left as they
 * are (the GEMM's rows are independent, and the output transform never reads theirs), or with
 * zeroPadding set to zero, for the weight gradient, which sums over them
 * (conv2d-winograd-wgrad.ts); its grid then covers tPad rows.
 */
export function inputTransformSpec(width: VecWidth, zeroPadding = false): KernelSpec {
  const T = vecType(width);
  return {
    name: 'conv2d.winogradInput',
    key: `v${width}${zeroPadding ? 'z' : ''}`,
    inputs: 1,
    outputs: 1,
    wgsl: () => /* wgsl */ `
struct Params { h: i32, w: i32, c: i32, padTop: i32, padLeft: i32, rows: i32, cols: i32, blocks: i32, tPad: i32 }
@group(0) @binding(0) var<storage, read> src: array<${T}>;
@group(0) @binding(1) var<storage, read_write> v: array<${T}>;
@group(0) @binding(2) var<uniform> params: Params;
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  ${blockThread(zeroPadding ? { buffer: 'v', type: T } : null)}
  ${patchCorner('t', WINO_M)}
  ${rep(WINO_A, (r) => `let inH${r} = h0 + ${r} >= 0 && h0 + ${r} < params.h;`)}
  ${rep(WINO_A, (s) => `let inW${s} = w0 + ${s} >= 0 && w0 + ${s} < params.w;`)}
  ${rep(WINO_XI, (e) => {
    const [r, s] = [Math.floor(e / WINO_A), e % WINO_A];
    return `var d${r}_${s} = ${T}(0.0);
  if (inH${r} && inW${s}) { d${r}_${s} = src[(base + (h0 + ${r}) * params.w + w0 + ${s}) * params.c + c]; }`;
  })}
  ${sandwich(WINO_BT, WINO_BT, 'd', 'e', 'x', T)}
  ${rep(WINO_XI, (xi) => `v[${xi} * plane + i] = x${Math.floor(xi / WINO_A)}_${xi % WINO_A};`)}
}`,
  };
}

/**
 * WGSL: a fused Winograd kernel's parameters and bindings (conv2d-winograd-fused.ts and
 * conv2d-winograd-f2.ts): the input, U as vec4s of output channels, the bias and the output y as
 * vec4s too, or with `scalarOut` as single channels (a kernel whose threads store one channel).
 */
export function fusedBindings(hasBias: boolean, scalarOut = false): string {
  const out = scalarOut ? 'f32' : 'vec4<f32>';
  return `struct Params { h: i32, w: i32, k: i32, ho: i32, wo: i32, n4: i32, padTop: i32, padLeft: i32, rows: i32, cols: i32, blocks: i32, coTiles: i32, groups: i32 }
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read> u: array<vec4<f32>>;
${hasBias ? `@group(0) @binding(2) var<storage, read> b: array<${out}>;` : ''}
@group(0) @binding(${hasBias ? 3 : 2}) var<storage, read_write> y: array<${out}>;
@group(0) @binding(${hasBias ? 4 : 3}) var<uniform> params: Params;`;
}

/**
 * Runs a fused Winograd kernel (its bindings fusedBindings's) over the batch's n samples, `per` a
 * dispatch, each sample's output in rows x cols blocks (of the kernel's own size): a workgroup per
 * `blocksPerGroup` blocks and tile of output channels (coTiles a block).
 */
export function dispatchFused(spec: KernelSpec, p: WinogradPlan, [rows, cols]: readonly [number, number], n: number, per: number, src: Tensor, u: Tensor, b: Tensor | null, out: Tensor, blocksPerGroup: number, coTiles: number): void {
  const { s, perSample } = p;
  forEachChunk(n, per, (n0, count) => {
    const blocks = count * rows * cols;
    const groups = Math.ceil(blocks / blocksPerGroup) * coTiles;
    const inputs = [range(src, n0 * perSample.src, count * perSample.src), u, ...(b ? [b] : [])];
    const params = packParams([s.hIn, s.wIn, s.k, s.hOut, s.wOut, s.n / 4, s.padTop, s.padLeft, rows, cols, blocks, coTiles, groups].map(i32));
    dispatchChunk(spec, inputs, [range(out, n0 * perSample.out, count * perSample.out)], params, workgroupGrid(groups));
  });
}

/**
 * WGSL lets: block `t`'s sample `{prefix}n`, the top-left input pixel (`{prefix}h0`, `{prefix}w0`) of
 * the patch under its m x m outputs (params.rows x params.cols blocks a sample, the input padded by
 * params.padTop and params.padLeft), and `{prefix}base`, its sample's first input pixel.
 */
export function patchCorner(t: string, m: number, prefix = ''): string {
  return `let ${prefix}n = ${t} / (params.rows * params.cols);
  let ${prefix}h0 = ((${t} / params.cols) % params.rows) * ${m} - params.padTop;
  let ${prefix}w0 = (${t} % params.cols) * ${m} - params.padLeft;
  let ${prefix}base = ${prefix}n * params.h * params.w;`;
}

/**
 * WGSL, inside a fused kernel's staging loop over pairs p (conv2d-winograd-fused.ts, F(4x4), and
 * conv2d-winograd-f2.ts, F(2x2)): pair p's channel c of the slice of `ck` from ci0 and its block t
 * from t0, `live` where both exist, the top-left input pixel (h0, w0) of the block's (m + 2)-wide
 * patch and `base`, its sample's first pixel, and inH{r} and inW{q}: whether patch row r (false
 * where not live) and column q lie inside the input.
 */
export function patchOrigin(ck: number, m: number): string {
  return `let c = p % ${ck};
      let tb = p / ${ck};
      let t = t0 + tb;
      let ci = ci0 + c;
      let live = t < params.blocks && ci < params.k;
      ${patchCorner('t', m)}
      ${rep(m + WINO_R - 1, (r) => `let inH${r} = live && h0 + ${r} >= 0 && h0 + ${r} < params.h;`, '\n      ')}
      ${rep(m + WINO_R - 1, (q) => `let inW${q} = w0 + ${q} >= 0 && w0 + ${q} < params.w;`, '\n      ')}`;
}

/**
 * WGSL, inside main: block t's sample n, the output pixel (h0, w0) at its top-left corner, and
 * base, the sample's first output pixel (params.rows x params.cols blocks per sample, params.ho x
 * params.wo pixels).
 */
export const BLOCK_ORIGIN = /* wgsl */ `let n = t / (params.rows * params.cols);
  let h0 = ((t / params.cols) % params.rows) * ${WINO_M};
  let w0 = (t % params.cols) * ${WINO_M};
  let base = n * params.ho * params.wo;`;

/**
 * WGSL, inside main: block t's outputs from its 36 values m{i}_{j} (of `type`): Aᵀ M A, plus
 * `bias` where given, stored to y[n, ho, wo, ·] at channel index `channel` of `channels` (in
 * y's element type), the pixels inside the output only.
 */
export function outputBlock(type: string, bias: string | null, channels: string, channel: string, relu = false): string {
  return `${sandwich(WINO_AT, WINO_AT, 'm', 'p', 'o', type)}
  let bias = ${bias ?? `${type}(0.0)`};
  ${BLOCK_ORIGIN}
  ${rep(WINO_M * WINO_M, (e) => {
    const [r, s] = [Math.floor(e / WINO_M), e % WINO_M];
    const yAt = `y[(base + (h0 + ${r}) * params.wo + w0 + ${s}) * ${channels} + ${channel}]`;
    const store = relu ? `let preRelu = o${r}_${s} + bias; ${yAt} = ${reluKeepingNan('preRelu', type)};` : `${yAt} = o${r}_${s} + bias;`;
    return `if (h0 + ${r} < params.ho && w0 + ${s} < params.wo) { ${store} }`;
  })}`;
}

/**
 * y [n, ho, wo, c] from M[ξ, t, c]: Aᵀ M A per block t (+ b[c]), the pixels inside the output
 * only; `width` channels per thread; `relu` stores max(y, 0), NaN kept (conv2d's fused ReLU).
 */
export function outputTransformSpec(width: VecWidth, hasBias: boolean, relu = false): KernelSpec {
  const T = vecType(width);
  return {
    name: 'conv2d.winogradOutput',
    key: `v${width}${hasBias ? 'b' : ''}${relu ? 'relu' : ''}`,
    inputs: hasBias ? 2 : 1,
    outputs: 1,
    wgsl: () => /* wgsl */ `
struct Params { ho: i32, wo: i32, c: i32, rows: i32, cols: i32, blocks: i32, tPad: i32 }
@group(0) @binding(0) var<storage, read> m: array<${T}>;
${hasBias ? `@group(0) @binding(1) var<storage, read> b: array<${T}>;` : ''}
@group(0) @binding(${hasBias ? 2 : 1}) var<storage, read_write> y: array<${T}>;
@group(0) @binding(${hasBias ? 3 : 2}) var<uniform> params: Params;
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  ${blockThread()}
  ${rep(WINO_XI, (xi) => `let m${Math.floor(xi / WINO_A)}_${xi % WINO_A} = m[${xi} * plane + i];`)}
  ${outputBlock(T, hasBias ? 'b[c]' : null, 'params.c', 'c', relu)}
}`,
  };
}
