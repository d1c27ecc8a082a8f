// 2-D convolution, NHWC. x [N, H, W, Cin], w [kh, kw, Cin, Cout] (Keras layout), b [Cout]:
//
//   y[n, ho, wo, co] = b[co] + Σ_{i, j, ci} x[n, ho·sh − padTop + i, wo·sw − padLeft + j, ci] · w[i, j, ci, co]
//
// with x read as zero outside the image. 'same' padding follows TensorFlow: Ho = ceil(H / sh) and
// the total padding max((Ho − 1)·sh + kh − H, 0) is split with the odd pixel at the bottom/right.
// Backward: dx is a correlation of dy with w (gathered per stride phase), dw = Σ_pixels patchᵀ·dy,
// db = Σ_{n, ho, wo} dy. Saved for backward: x (only if w needs a gradient) and w (only if x does).
//
// The fast kernels are implicit GEMMs generated in conv2d-gemm.ts, in two families: 'tiled' for GPUs
// (conv2d-tiled.ts) and 'subgroup' for CPU adapters such as lavapipe (conv2d-subgroup.ts); this
// file picks one and launches it. The naive kernels (conv2d-naive.ts: one thread per output
// element, plain loops) are the baseline they race in bench/.
//
// Past the binding limit (kernels/chunking.ts) the GEMM directions split along N, a chunk of whole
// samples per dispatch with the weights and bias bound whole: forward and backward input are
// independent per sample; the weight gradient sums over N, so each chunk's (split-K) partial sums
// are added into dw by the split-K sum kernel, the first chunk writing and the rest accumulating.
// The naive kernels do not split (bench only).

import { LimitError, ShapeError } from '../errors.js';
import { packParams, i32 } from '../gpu/params.js';
import { runtime, type KernelSpec } from '../gpu/runtime.js';
import { record } from '../graph/autograd.js';
import { emptyTensor, formatShape, type Shape, type Tensor } from '../graph/tensor.js';
import { chunkItems, dispatchChunk, forEachChunk, part, planned, range, type Bound, type Range } from './chunking.js';
import type { ConvDirection } from './conv2d-gemm-common.js';
import { gemmKernel, type ConvFamily } from './conv2d-gemm.js';
import { SUBGROUP_LANES, subgroupTile, tileFit } from './conv2d-subgroup.js';
import { CONV_TILE, tiledTileFor, type GemmTile } from './conv2d-tiled.js';
import { isCpuAdapterReport } from '../gpu/adapter-kind.js';
import { sumLeading } from './reduce.js';
import { inputTransformSpec, outputTransformSpec, weightTransformSpec, winogradBlocks, WINO_R, WINO_XI, WORKSPACE_BYTES } from './conv2d-winograd.js';
import { LINEAR_MAIN_ARGS, linearGrid, linearIndex, vecWidth, workgroupGrid, type VecWidth } from './wgsl.js';

export interface Conv2dOptions {
  stride?: number | [number, number];
  padding?: 'same' | 'valid' | number | [number, number, number, number];
}

/** Everything a conv kernel needs to know about one call; h, w are the input's height and width. */
export interface ConvGeometry {
  n: number;
  h: number;
  w: number;
  cin: number;
  kh: number;
  kw: number;
  cout: number;
  sh: number;
  sw: number;
  padTop: number;
  padBottom: number;
  padLeft: number;
  padRight: number;
  ho: number;
  wo: number;
}

const isCount = (v: unknown, min: number): v is number => typeof v === 'number' && Number.isInteger(v) && v >= min;

/** [sh, sw] from a number or a pair; throws unless both are positive integers. */
export function resolveStride(op: string, stride: number | [number, number] | undefined): [number, number] {
  const s = stride ?? 1;
  const pair: unknown[] = Array.isArray(s) ? s : [s, s];
  if (pair.length !== 2 || !pair.every((v) => isCount(v, 1))) {
    throw new ShapeError(`${op}: stride must be a positive integer or a pair of them, got ${JSON.stringify(stride)}`);
  }
  return pair as [number, number];
}

/** Explicit [top, bottom, left, right] from a number or a 4-tuple; throws unless non-negative integers. */
export function resolveExplicitPadding(op: string, padding: number | readonly number[]): [number, number, number, number] {
  const p: unknown[] = Array.isArray(padding) ? [...padding] : [padding, padding, padding, padding];
  if (p.length !== 4 || !p.every((v) => isCount(v, 0))) {
    throw new ShapeError(`${op}: padding must be 'same', 'valid', a non-negative integer or [top, bottom, left, right], got ${JSON.stringify(padding)}`);
  }
  return p as [number, number, number, number];
}

/** TensorFlow's 'same': [before, after] for one spatial dimension. */
export function samePadding(size: number, k: number, stride: number): [number, number] {
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + k - size, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

function checkRank4(op: string, what: string, shape: Shape, layout: string): void {
  if (shape.length !== 4) throw new ShapeError(`${op}: ${what} must be ${layout} (rank 4) but is ${formatShape(shape)}`);
}

/** Validates a conv2d call and works out its output size and padding. */
export function conv2dGeometry(xShape: Shape, wShape: Shape, opts: Conv2dOptions = {}, op = 'conv2d'): ConvGeometry {
  checkRank4(op, 'input', xShape, '[N, H, W, C]');
  checkRank4(op, 'weight', wShape, '[kh, kw, Cin, Cout]');
  const [n, h, w, cin] = xShape;
  const [kh, kw, wCin, cout] = wShape;
  if (wCin !== cin) {
    throw new ShapeError(`${op}: input has ${cin} channels but the weight expects ${wCin} (input ${formatShape(xShape)}, weight ${formatShape(wShape)})`);
  }
  if ([n, h, w, cin, kh, kw, cout].some((d) => d < 1)) {
    throw new ShapeError(`${op}: empty input or weight (input ${formatShape(xShape)}, weight ${formatShape(wShape)})`);
  }
  const [sh, sw] = resolveStride(op, opts.stride);
  const padding = opts.padding ?? 'valid';
  let pads: [number, number, number, number];
  if (padding === 'same') pads = [...samePadding(h, kh, sh), ...samePadding(w, kw, sw)];
  else if (padding === 'valid') pads = [0, 0, 0, 0];
  else pads = resolveExplicitPadding(op, padding);
  const [padTop, padBottom, padLeft, padRight] = pads;
  const ho = Math.floor((h + padTop + padBottom - kh) / sh) + 1;
  const wo = Math.floor((w + padLeft + padRight - kw) / sw) + 1;
  if (ho < 1 || wo < 1) {
    throw new ShapeError(
      `${op}: a ${kh}x${kw} kernel does not fit input ${formatShape(xShape)} with padding [${pads.join(',')}] (output would be ${ho}x${wo})`,
    );
  }
  return { n, h, w, cin, kh, kw, cout, sh, sw, padTop, padBottom, padLeft, padRight, ho, wo };
}

export function conv2dOutputShape(xShape: Shape, wShape: Shape, opts: Conv2dOptions = {}): Shape {
  const g = conv2dGeometry(xShape, wShape, opts);
  return [g.n, g.ho, g.wo, g.cout];
}

export function checkBias(op: string, b: Tensor | null | undefined, channels: number): void {
  if (b && (b.rank !== 1 || b.shape[0] !== channels)) {
    throw new ShapeError(`${op}: bias must be [${channels}] but is ${formatShape(b.shape)}`);
  }
}

export function checkGradShape(op: string, dy: Tensor, want: Shape): void {
  if (dy.shape.join() !== want.join()) {
    throw new ShapeError(`${op}: gradient dy is ${formatShape(dy.shape)} but the output is ${formatShape(want)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Launching the GEMM kernels

const familyByDevice = new WeakMap<GPUDevice, ConvFamily>();
const lanesOverride = new WeakMap<GPUDevice, number>();

/**
 * Lanes of the subgroup family's workgroups on this device: 8 where every subgroup has at least 8
 * (lavapipe), 4 where the smallest has 4 (SwiftShader); 0 when subgroups cannot hold a workgroup.
 * A workgroup of that many lanes is always one subgroup (or part of one), which the kernels'
 * broadcasts rely on.
 */
export function subgroupLanes(): number {
  const rt = runtime();
  const forced = lanesOverride.get(rt.device);
  if (forced) return forced;
  if (!rt.device.features.has('subgroups')) return 0;
  const min = rt.ctx.adapter.info?.subgroupMinSize ?? 0;
  return min >= SUBGROUP_LANES ? SUBGROUP_LANES : min >= 4 ? 4 : 0;
}

/** Lanes per workgroup of a family's kernels (the tiled family ignores it). */
const familyLanes = (family: ConvFamily): number => (family === 'subgroup' && subgroupLanes()) || SUBGROUP_LANES;

/**
 * Runs the subgroup family with `lanes` lanes per workgroup on this device (tests and benchmarks:
 * the 4-lane kernels Chrome's SwiftShader gets also run on lavapipe's 8-lane subgroups); null
 * restores the adapter's choice.
 */
export function overrideSubgroupLanes(lanes: 4 | 8 | null): void {
  const device = runtime().device;
  if (lanes === null) lanesOverride.delete(device);
  else lanesOverride.set(device, lanes);
}

const tileOverride = new WeakMap<GPUDevice, GemmTile>();

/**
 * The tile of the GEMM with N columns that `dir` runs on this device: the tile setConvTile chose,
 * else for the tiled family tiledTileFor's choice by N, and CONV_TILE for the subgroup family
 * (which takes only its K step from it).
 */
export function gemmTile(dir: ConvDirection, n: number, family = defaultConvFamily()): GemmTile {
  return tileOverride.get(runtime().device) ?? (family === 'tiled' ? tiledTileFor(dir, n) : CONV_TILE);
}

/**
 * Runs the tiled family with one tile for every GEMM on this device (parseGemmTile checks one),
 * for the benchmark to compare tiles on a GPU in one run; null restores the choice by shape.
 */
export function setConvTile(tile: GemmTile | null): void {
  const device = runtime().device;
  if (tile === null) tileOverride.delete(device);
  else tileOverride.set(device, tile);
}

const operandProbe = new WeakSet<GPUDevice>();

/**
 * Runs both families' forward and backward input on this device with their operand loads
 * replaced by register arithmetic (OperandSource 'registers'; the tiled family still stages the
 * values in workgroup memory): a measurement probe for the benchmark, whose outputs are
 * meaningless; false restores the kernels.
 */
export function setOperandProbe(on: boolean): void {
  if (on) operandProbe.add(runtime().device);
  else operandProbe.delete(runtime().device);
}

/**
 * 'subgroup' on CPU adapters (lavapipe, SwiftShader) with subgroups of 4 lanes or more, where it
 * measured several times faster on lavapipe; 'tiled' elsewhere (4- or 8-lane workgroups would
 * leave a GPU idle).
 */
export function defaultConvFamily(): ConvFamily {
  const rt = runtime();
  const known = familyByDevice.get(rt.device);
  if (known) return known;
  const family: ConvFamily = isCpuAdapterReport(rt.ctx.report) && subgroupLanes() > 0 ? 'subgroup' : 'tiled';
  familyByDevice.set(rt.device, family);
  return family;
}

/**
 * Dispatches an M×N GEMM kernel `batches` times over (phases or K slices). A bias is inputs[2].
 * `tile` is gemmTile's for this GEMM: the caller has worked its K step into `extras` already.
 */
function launch(dir: ConvDirection, family: ConvFamily, tile: GemmTile, g: ConvGeometry, inputs: (Tensor | Range)[], out: Tensor | Range, m: number, n: number, batches: number, extras: Record<string, number>, batchedWeights = false): void {
  const probe = dir !== 'backwardWeight' && operandProbe.has(runtime().device);
  // Batched weights: the subgroup family sizes its tile by one sample's rows (see batchedRowMultiple).
  const kernel = gemmKernel(dir, family, inputs.length === 3, batchedWeights ? g.ho : m, n, tileFit(dir, g), familyLanes(family), tile, probe ? 'registers' : 'memory', batchedWeights);
  const mTiles = Math.ceil(m / kernel.bm);
  // Backward weight may give each workgroup several column tiles (extras.nPer): nTiles counts groups of them.
  const nTiles = Math.ceil(Math.ceil(n / kernel.bn) / (extras.nPer ?? 1));
  const groups = mTiles * nTiles * batches;
  const values: Record<string, number> = { ...g, mTiles, nTiles, groups, ...extras };
  const params = packParams(kernel.params.map((f) => {
    if (values[f] === undefined) throw new Error(`${kernel.spec.name}: param ${f} missing`);
    return i32(values[f]);
  }));
  dispatchChunk(kernel.spec, inputs, [out], params, workgroupGrid(groups));
}

/** Floats per sample of the conv's input and output. */
const perSample = (g: ConvGeometry): { x: number; y: number } => ({ x: g.h * g.w * g.cin, y: g.ho * g.wo * g.cout });

/**
 * Samples per dispatch so that the chunks of the input-sized and output-sized tensors fit a binding
 * (all of them when everything fits); `whole` tensors are bound entirely.
 */
function samplesPerChunk(op: string, g: ConvGeometry, xLike: Bound, yLike: Bound, whole: (Bound | null)[]): number {
  const { x: X, y: Y } = perSample(g);
  return chunkItems(op, g.n, [part(xLike, X), part(yLike, Y)], whole);
}

/** Calls fn per chunk of `per` samples with the chunk's geometry and ranges of the two tensors. */
function forEachSampleChunk(g: ConvGeometry, per: number, xLike: Tensor, yLike: Tensor, fn: (gc: ConvGeometry, x: Range, y: Range, index: number) => void): void {
  const { x: X, y: Y } = perSample(g);
  forEachChunk(g.n, per, (n0, count, index) => fn({ ...g, n: count }, range(xLike, n0 * X, count * X), range(yLike, n0 * Y, count * Y), index));
}

/** y = conv2d(x, w) + b, geometry already checked; `algorithm` defaults to convAlgorithm's. */
export function forwardGemm(g: ConvGeometry, x: Tensor, w: Tensor, b: Tensor | null, family = defaultConvFamily(), algorithm = convAlgorithm('forward', g, family)): Tensor {
  if (algorithm === 'winograd') return winogradConv('forward', g, x, w, b, family);
  const yShape = [g.n, g.ho, g.wo, g.cout];
  const per = samplesPerChunk('conv2d.forward', g, x, planned('conv2d.y', yShape), [w, b]);
  const y = emptyTensor(yShape, 'conv2d.y');
  const tile = gemmTile('forward', g.cout, family);
  const bk = tile.bk;
  const dTap = Math.floor(bk / g.cin);
  forEachSampleChunk(g, per, x, y, (gc, xc, yc) => {
    const m = gc.n * g.ho * g.wo;
    launch('forward', family, tile, gc, b ? [xc, w, b] : [xc, w], yc, m, g.cout, 1, {
      m, k: g.kh * g.kw * g.cin, dCi: bk % g.cin, dTapW: dTap % g.kw, dTapH: Math.floor(dTap / g.kw),
    });
  });
  return y;
}

/** conv2d's input gradient, + b when given (convTranspose2d's forward is this with a bias). */
export function backwardInputGemm(g: ConvGeometry, dy: Tensor, w: Tensor, b: Tensor | null, family = defaultConvFamily(), algorithm = convAlgorithm('backwardInput', g, family)): Tensor {
  if (algorithm === 'winograd') return winogradConv('backwardInput', g, dy, w, b, family);
  const dxShape = [g.n, g.h, g.w, g.cin];
  const per = samplesPerChunk('conv2d.backwardInput', g, planned('conv2d.dx', dxShape), dy, [w, b]);
  const dx = emptyTensor(dxShape, 'conv2d.dx');
  const tile = gemmTile('backwardInput', g.cin, family);
  const bk = tile.bk;
  forEachSampleChunk(g, per, dx, dy, (gc, dxc, dyc) => {
    // Stride phase (0, 0) has the most pixels: the grid is sized for it, smaller phases skip tiles.
    const m = gc.n * Math.ceil(g.h / g.sh) * Math.ceil(g.w / g.sw);
    launch('backwardInput', family, tile, gc, b ? [dyc, w, b] : [dyc, w], dxc, m, g.cin, g.sh * g.sw, {
      dCo: bk % g.cout, dTap: Math.floor(bk / g.cout),
    });
  });
  return dx;
}

// ---------------------------------------------------------------------------------------------
// Winograd F(4x4, 3x3) (conv2d-winograd.ts): forward and backward input of 3x3 stride-1 convs

export type ConvAlgorithm = 'direct' | 'winograd';

const algorithmOverride = new WeakMap<GPUDevice, ConvAlgorithm>();

/**
 * Runs every conv forward and backward input on this device with one algorithm ('winograd' only
 * where winogradFits), for tests and the benchmark; 'auto' restores convAlgorithm's choice.
 * Returns the setting it replaced.
 */
export function setConvAlgorithm(algorithm: ConvAlgorithm | 'auto'): ConvAlgorithm | 'auto' {
  const device = runtime().device;
  const before = algorithmOverride.get(device) ?? 'auto';
  if (algorithm === 'auto') algorithmOverride.delete(device);
  else algorithmOverride.set(device, algorithm);
  return before;
}

const workspaceOverride = new WeakMap<GPUDevice, number>();

/** Caps V and M together at `bytes` on this device (tests: chunks of a few samples); null restores WORKSPACE_BYTES. */
export function setWinogradWorkspace(bytes: number | null): void {
  const device = runtime().device;
  if (bytes === null) workspaceOverride.delete(device);
  else workspaceOverride.set(device, bytes);
}

/** Winograd's GEMM K and N, its input's and output's sides, and the input's padding, per direction. */
function winogradShape(dir: 'forward' | 'backwardInput', g: ConvGeometry) {
  return dir === 'forward'
    ? { k: g.cin, n: g.cout, hIn: g.h, wIn: g.w, hOut: g.ho, wOut: g.wo, padTop: g.padTop, padLeft: g.padLeft }
    : // dx is the forward of dy with the filters turned by 180°, padded by (kernel − 1) − pad.
      { k: g.cout, n: g.cin, hIn: g.ho, wIn: g.wo, hOut: g.h, wOut: g.w, padTop: WINO_R - 1 - g.padTop, padLeft: WINO_R - 1 - g.padLeft };
}

/**
 * GEMM rows per sample of Winograd's batched GEMM must fill whole tiles (a tile's rows share one
 * ξ): the tiled family's tile height, the subgroup family's rows for that many rows per sample.
 */
function batchedRowMultiple(rows: number, k: number, n: number, family: ConvFamily): number {
  if (family === 'tiled') return gemmTile('forward', n, family).bm;
  return subgroupTile(rows, n, tileFit('forward', { cin: k, cout: n, wo: 1 }), familyLanes(family)).tm;
}

/** Blocks per chunk of samples padded to whole tiles: the GEMM's rows per ξ. */
function paddedBlocks(blocks: number, k: number, n: number, family: ConvFamily): number {
  const q = batchedRowMultiple(blocks, k, n, family);
  return Math.ceil(blocks / q) * q;
}

/** Whether Winograd can run this conv direction: a 3x3 kernel at stride 1 (any padding). */
export function winogradFits(dir: ConvDirection, g: ConvGeometry): boolean {
  return dir !== 'backwardWeight' && g.kh === WINO_R && g.kw === WINO_R && g.sh === 1 && g.sw === 1;
}

/**
 * The algorithm of a forward or backward input: setConvAlgorithm's where set, else on GPUs (the
 * tiled family) Winograd where it fits, K (channels summed) is at least 16, so that its transforms
 * are small next to the GEMM (VGG16's first conv, K = 3, stays direct), and its GEMM rows, padded
 * to whole tiles, take at most half the multiply-adds of the direct GEMM (images of 4x4 outputs or
 * more; a 2x2 output fills a quarter of its 4x4 block). CPU adapters (the subgroup family) stay
 * direct: on lavapipe the transforms alone took about as long as the direct conv (U-Net l1-l3 at
 * scale 8, 1.04-1.55x slower in all, interleaved A/B), and the short-K GEMM ran at half the
 * direct kernel's rate.
 */
export function convAlgorithm(dir: ConvDirection, g: ConvGeometry, family = defaultConvFamily()): ConvAlgorithm {
  if (!winogradFits(dir, g)) return 'direct';
  const forced = algorithmOverride.get(runtime().device);
  if (forced) return forced;
  if (family === 'subgroup') return 'direct';
  const s = winogradShape(dir as 'forward' | 'backwardInput', g);
  if (s.k < 16) return 'direct';
  const [rows, cols] = winogradBlocks(s.hOut, s.wOut);
  const tPad = paddedBlocks(g.n * rows * cols, s.k, s.n, family);
  return WINO_XI * tPad <= 0.5 * WINO_R * WINO_R * g.n * s.hOut * s.wOut ? 'winograd' : 'direct';
}

/**
 * Bytes of V and M when Winograd runs `samples` samples of `g` at once: 36 × (their blocks padded
 * to whole tiles) × K or N floats.
 */
export function winogradChunkBytes(dir: 'forward' | 'backwardInput', g: ConvGeometry, samples: number, family = defaultConvFamily()): { v: number; m: number } {
  const s = winogradShape(dir, g);
  const [rows, cols] = winogradBlocks(s.hOut, s.wOut);
  const tPad = paddedBlocks(samples * rows * cols, s.k, s.n, family);
  return { v: WINO_XI * tPad * s.k * 4, m: WINO_XI * tPad * s.n * 4 };
}

/**
 * M[ξ] = V[ξ] · U[ξ] for ξ < 36: the forward GEMM of a 1x1 conv over 36 samples of `rows` pixels
 * and k channels, each sample with its own k × n weights (batched weights).
 */
function batchedGemm(v: Tensor, u: Tensor, rows: number, k: number, n: number, family: ConvFamily): Tensor {
  const g: ConvGeometry = { n: WINO_XI, h: rows, w: 1, cin: k, kh: 1, kw: 1, cout: n, sh: 1, sw: 1, padTop: 0, padBottom: 0, padLeft: 0, padRight: 0, ho: rows, wo: 1 };
  const out = emptyTensor([WINO_XI, rows, n], 'conv2d.winograd.m');
  const tile = gemmTile('forward', n, family);
  const m = WINO_XI * rows;
  launch('forward', family, tile, g, [v, u], out, m, n, 1, { m, k, dCi: tile.bk % k, dTapW: 0, dTapH: Math.floor(tile.bk / k), wBatch: k * n }, true);
  return out;
}

/**
 * A forward (y from x) or backward input (dx from dy, + b for convTranspose2d) by Winograd: the
 * weights transformed once, then per chunk of samples the input transform, the batched GEMM and
 * the output transform, with V and M (2.25x the chunk's input and output) freed after each chunk.
 */
function winogradConv(dir: 'forward' | 'backwardInput', g: ConvGeometry, src: Tensor, w: Tensor, b: Tensor | null, family: ConvFamily): Tensor {
  const op = `conv2d.${dir}`;
  const s = winogradShape(dir, g);
  const [rows, cols] = winogradBlocks(s.hOut, s.wOut);
  const perSample = { src: s.hIn * s.wIn * s.k, out: s.hOut * s.wOut * s.n, v: WINO_XI * rows * cols * s.k, m: WINO_XI * rows * cols * s.n };
  const outShape = [g.n, s.hOut, s.wOut, s.n];
  const outLabel = dir === 'forward' ? 'conv2d.y' : 'conv2d.dx';
  const uShape = [WINO_XI, s.k, s.n];
  // The most samples whose V and M (their blocks padded to whole tiles) fit the workspace together
  // and one binding each: an estimate from one sample's, lowered while the padding overflows it.
  const rt = runtime();
  const workspace = Math.min(workspaceOverride.get(rt.device) ?? WORKSPACE_BYTES, 2 * rt.bindingLimit);
  const fits = (samples: number) => {
    const { v, m } = winogradChunkBytes(dir, g, samples, family);
    return v + m <= workspace && Math.max(v, m) <= rt.bindingLimit;
  };
  let most = Math.min(g.n, Math.floor(workspace / ((perSample.v + perSample.m) * 4)), chunkItems(op, g.n, [part(src, perSample.src), part(planned(outLabel, outShape), perSample.out)], [w, b, planned('conv2d.winograd.u', uShape)]));
  while (most > 0 && !fits(most)) most--;
  if (most < 1) throw new LimitError(`${op}: Winograd's transforms of one sample of ${formatShape([1, s.hIn, s.wIn, s.k])} take more than ${workspace} bytes; run it with setConvAlgorithm('direct')`);
  const per = Math.ceil(g.n / Math.ceil(g.n / most)); // chunks evened out: 16 samples by 6 run as 6 + 5 + 5
  const out = emptyTensor(outShape, outLabel);
  const u = emptyTensor(uShape, 'conv2d.winograd.u');
  dispatchChunk(weightTransformSpec(dir === 'backwardInput'), [w], [u], packParams([i32(g.cin), i32(g.cout)]), linearGrid(s.k * s.n));
  // Four channels a thread on CPU adapters (a vec4 pays lavapipe's per-lane load cost once); one
  // on GPUs, where 36 live vec4 values would spill registers and a warp's 32 channels coalesce.
  const [inW, outW]: VecWidth[] = family === 'subgroup' ? [vecWidth(s.k), vecWidth(s.n)] : [1, 1];
  forEachChunk(g.n, per, (n0, count) => {
    const blocks = count * rows * cols;
    const tPad = paddedBlocks(blocks, s.k, s.n, family);
    const v = emptyTensor([WINO_XI, tPad, s.k], 'conv2d.winograd.v');
    dispatchChunk(inputTransformSpec(inW), [range(src, n0 * perSample.src, count * perSample.src)], [v],
      packParams([s.hIn, s.wIn, s.k / inW, s.padTop, s.padLeft, rows, cols, blocks, tPad].map(i32)), linearGrid(blocks * (s.k / inW)));
    const m = batchedGemm(v, u, tPad, s.k, s.n, family);
    v.dispose();
    dispatchChunk(outputTransformSpec(outW, b !== null), b ? [m, b] : [m], [range(out, n0 * perSample.out, count * perSample.out)],
      packParams([s.hOut, s.wOut, s.n / outW, rows, cols, blocks, tPad].map(i32)), linearGrid(blocks * (s.n / outW)));
    m.dispose();
  });
  u.dispose();
  return out;
}

// ---------------------------------------------------------------------------------------------
// Backward weight

/** Each split-K slice covers at least this many pixels, so its partial sums are worth their traffic. */
const SPLIT_K_MIN = 512;

/**
 * K slices for backward weight: enough workgroups to keep the device busy (a few hundred on a GPU,
 * a few dozen on lavapipe's threads), each slice long enough to be worth its partial sums. `tile`
 * and `lanes` default to this device's; a record's (bench/bars.ts) need no device.
 */
export function splitKCount(g: ConvGeometry, family = defaultConvFamily(), tile = gemmTile('backwardWeight', g.cout, family), lanes = familyLanes(family)): number {
  const m = g.kh * g.kw * g.cin;
  const sg = subgroupTile(m, g.cout, tileFit('backwardWeight', g), lanes);
  const [bm, bn, target] = family === 'tiled' ? [tile.bm, tile.bn, 256] : [sg.tm, sg.w * sg.tn, 32];
  const tiles = Math.ceil(m / bm) * Math.ceil(g.cout / bn);
  return Math.max(1, Math.min(Math.ceil(target / tiles), Math.floor((g.n * g.ho * g.wo) / SPLIT_K_MIN)));
}

/**
 * dw = Σ over pixels of x patchᵀ · dy, in `splits` K slices summed afterwards when above 1 (by
 * default splitKCount of each chunk of samples). The tiled kernels slice K in steps of BK pixels,
 * the subgroup kernels in whole image rows.
 */
export function backwardWeightGemm(g: ConvGeometry, dy: Tensor, x: Tensor, family = defaultConvFamily(), splits?: number): Tensor {
  const wShape = [g.kh, g.kw, g.cin, g.cout];
  const per = samplesPerChunk('conv2d.backwardWeight', g, x, dy, [planned('conv2d.dw', wShape)]);
  const dw = emptyTensor(wShape, 'conv2d.dw');
  // The slices of one chunk are bound together: at most as many as fit a binding.
  const maxSlices = Math.max(1, Math.floor(runtime().bindingLimit / (dw.size * 4)));
  forEachSampleChunk(g, per, x, dy, (gc, xc, dyc, index) => {
    const parts = Math.min(maxSlices, Math.max(1, splits ?? splitKCount(gc, family)));
    weightSlices(gc, dyc, xc, dw, family, parts, index > 0);
  });
  return dw;
}

/** Workgroups the subgroup weight gradient aims for: enough for lavapipe's threads to share evenly. */
const WEIGHT_GRAD_GROUPS = 64;

/**
 * Column tiles per workgroup of the subgroup weight gradient over `slices` K slices. With K a few
 * pixels (the deepest levels), a tile's setup is much of its work and there are thousands of
 * tiles: a workgroup then takes several column tiles in turn, down to about WEIGHT_GRAD_GROUPS
 * workgroups. On lavapipe that made the U-Net's l5 and l4 weight gradients 16% and 7% faster
 * (interleaved A/B, GPU timestamps). The tiled (GPU) family keeps one tile per workgroup: a GPU
 * wants every workgroup it can get.
 */
export function columnTilesPerGroup(g: ConvGeometry, family: ConvFamily, slices: number, lanes = familyLanes(family)): number {
  if (family !== 'subgroup') return 1;
  const sg = subgroupTile(g.kh * g.kw * g.cin, g.cout, tileFit('backwardWeight', g), lanes);
  const nTiles = Math.ceil(g.cout / (sg.w * sg.tn));
  const tiles = Math.ceil((g.kh * g.kw * g.cin) / sg.tm) * nTiles * slices;
  return Math.max(1, Math.min(nTiles, Math.floor(tiles / WEIGHT_GRAD_GROUPS)));
}

/** One chunk's weight gradient in `parts` K slices, written to dw or (`accumulate`) added to it. */
function weightSlices(g: ConvGeometry, dy: Range, x: Range, dw: Tensor, family: ConvFamily, parts: number, accumulate: boolean): void {
  const mw = g.kh * g.kw * g.cin;
  const k = g.n * g.ho * g.wo;
  const tile = gemmTile('backwardWeight', g.cout, family);
  const bk = tile.bk;
  const chunk = Math.ceil(k / bk / parts) * bk;
  const rowChunk = Math.ceil((g.n * g.ho) / parts);
  const used = family === 'tiled' ? Math.ceil(k / chunk) : Math.ceil((g.n * g.ho) / rowChunk);
  const inImage = bk % (g.ho * g.wo);
  const direct = used === 1 && !accumulate;
  const out = direct ? dw : emptyTensor([used, mw, g.cout], 'conv2d.dw.partial');
  launch('backwardWeight', family, tile, g, [dy, x], out, mw, g.cout, used, {
    mw, k, chunk, rowChunk, dWo: inImage % g.wo, dHo: Math.floor(inImage / g.wo), dN: Math.floor(bk / (g.ho * g.wo)),
    nPer: columnTilesPerGroup(g, family, used),
  });
  if (direct) return;
  const params = packParams([i32(dw.size), i32(used), i32(accumulate ? 1 : 0)]);
  dispatchChunk(splitSumSpec, [out], [dw], params, linearGrid(dw.size));
  out.dispose();
}

/** Sums the split-K slices [splits, n] -> [n] (adding to what out holds with `accumulate`): one thread per weight. */
const splitSumSpec: KernelSpec = {
  name: 'conv2d.splitKSum',
  key: '',
  inputs: 1,
  outputs: 1,
  wgsl: () => /* wgsl */ `
struct Params { n: i32, splits: i32, accumulate: i32 }
@group(0) @binding(0) var<storage, read> partial: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let i = i32(${linearIndex()});
  if (i >= params.n) { return; }
  var acc = 0.0;
  for (var s = 0; s < params.splits; s++) { acc += partial[s * params.n + i]; }
  if (params.accumulate != 0) { acc += out[i]; }
  out[i] = acc;
}`,
};

// ---------------------------------------------------------------------------------------------
// GPU entry points (no autograd)

export function conv2dForward(x: Tensor, w: Tensor, b: Tensor | null, opts: Conv2dOptions = {}): Tensor {
  const g = conv2dGeometry(x.shape, w.shape, opts);
  checkBias('conv2d', b, g.cout);
  return forwardGemm(g, x, w, b);
}

export function conv2dBackwardInput(dy: Tensor, w: Tensor, xShape: Shape, opts: Conv2dOptions = {}): Tensor {
  const g = conv2dGeometry(xShape, w.shape, opts);
  checkGradShape('conv2d.backwardInput', dy, [g.n, g.ho, g.wo, g.cout]);
  return backwardInputGemm(g, dy, w, null);
}

export function conv2dBackwardWeight(dy: Tensor, x: Tensor, wShape: Shape, opts: Conv2dOptions = {}): Tensor {
  const g = conv2dGeometry(x.shape, wShape, opts);
  checkGradShape('conv2d.backwardWeight', dy, [g.n, g.ho, g.wo, g.cout]);
  return backwardWeightGemm(g, dy, x);
}

/** db = Σ_{n, ho, wo} dy: a sum over all but the channel axis. */
export function conv2dBackwardBias(dy: Tensor): Tensor {
  return sumLeading(dy, dy.shape[dy.rank - 1]);
}

// ---------------------------------------------------------------------------------------------
// Differentiable op

/** dn.conv2d(x, w, b?, {stride, padding}): records dx, dw, db, computing only those needed. */
export function conv2d(x: Tensor, w: Tensor, b: Tensor | null = null, opts: Conv2dOptions = {}): Tensor {
  const g = conv2dGeometry(x.shape, w.shape, opts);
  checkBias('conv2d', b, g.cout);
  const y = forwardGemm(g, x, w, b);
  const keepsX = w.requiresGrad;
  const keepsW = x.requiresGrad;
  const saved = [...(keepsX ? [x] : []), ...(keepsW ? [w] : [])];
  return record('conv2d', b ? [x, w, b] : [x, w], y, (dy, needs, kept) => {
    const sx = keepsX ? kept[0] : null;
    const sw = keepsW ? kept[keepsX ? 1 : 0] : null;
    return [
      needs[0] && sw ? backwardInputGemm(g, dy, sw, null) : null,
      needs[1] && sx ? backwardWeightGemm(g, dy, sx) : null,
      b && needs[2] ? conv2dBackwardBias(dy) : null,
    ];
  }, saved);
}
