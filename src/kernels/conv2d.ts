// 2-D convolution, NHWC. x [N, H, W, Cin], w [kh, kw, Cin, Cout] (Keras layout), b [Cout]:
//
//   y[n, ho, wo, co] = b[co] + Σ_{i, j, ci} x[n, ho·sh − padTop + i, wo·sw − padLeft + j, ci] · w[i, j, ci, co]
//
// with x read as zero outside the image. 'same' padding follows TensorFlow: Ho = ceil(H / sh) and
// the total padding max((Ho − 1)·sh + kh − H, 0) is split with the odd pixel at the bottom/right.
// Backward: dx is a correlation of dy with w (gathered per stride phase), dw = Σ_pixels patchᵀ·dy,
// db = Σ_{n, ho, wo} dy. Saved for backward: x (only if w needs a gradient) and w (only if x does).
// With `activation: 'relu'` (tfjs's fused conv2d; Sequential fuses a Conv2d followed by a ReLU) the
// kernels store max(y, 0) directly, and the backward first masks dy where the output is 0, from the
// output itself, saved as the ReLU it replaces would have: one pass over the output fewer each way.
//
// The fast kernels are implicit GEMMs generated in conv2d-gemm.ts, in two families: 'tiled' for GPUs
// (conv2d-tiled.ts) and 'subgroup' for CPU adapters such as lavapipe (conv2d-subgroup.ts);
// conv2d-launch.ts picks one and launches it. On GPUs the forward and backward input of 3x3
// stride-1 convs run by Winograd F(4x4, 3x3) instead (conv2d-winograd-run.ts decides, see
// convAlgorithm); their weight gradient can too (conv2d-winograd-wgrad.ts), where tuned or
// forced. Forwards with few weights and output channels can run with the weights in a uniform
// buffer (conv2d-uniform-weights.ts), where tuned or forced. The naive kernels (conv2d-naive.ts: one thread per output element, plain loops) are the
// baseline they race in bench/.
//
// Past the binding limit (kernels/chunking.ts) the GEMM directions split along N, a chunk of whole
// samples per dispatch with the weights and bias bound whole: forward and backward input are
// independent per sample; the weight gradient sums over N, so each chunk's (split-K) partial sums
// are added into dw by the split-K sum kernel, the first chunk writing and the rest accumulating.
// The naive kernels do not split (bench only).

import { ArgumentError, ShapeError } from '../errors.js';
import { packParams, i32 } from '../gpu/params.js';
import { runtime, type KernelSpec } from '../gpu/runtime.js';
import { describeValue, expectChoice, nchwHint, expectKnownOptions, expectOptionalTensor, expectOptions, expectTensor } from '../graph/args.js';
import { record } from '../graph/autograd.js';
import { scope } from '../graph/scope.js';
import { emptyTensor, formatShape, type Shape, type Tensor } from '../graph/tensor.js';
import { emptyBatchResult } from './empty-batch.js';
import { chunkItems, dispatchChunk, forEachChunk, part, planned, range, type Bound, type Range } from './chunking.js';
import type { ConvFamily } from './conv2d-gemm.js';
import { convTile, defaultConvFamily, launch } from './conv2d-launch.js';
import type { GemmTile } from './conv2d-tiled.js';
import { launchWeightGrad, splitKCount } from './conv2d-wgrad-split.js';
import { groupedConv, groupedConvBackwardInput, groupedConvBackwardWeight, groupedConvForward, isGrouped, resolveGroups } from './conv2d-grouped.js';
import { dilatedConv, dilatedConvBackwardInput, dilatedConvBackwardWeight, dilatedConvForward, dilatedPlan, isDilated, resolveDilation } from './conv2d-dilated.js';
import { convAlgorithm, winogradConv } from './conv2d-winograd-run.js';
import { winogradFusedConv } from './conv2d-winograd-fused.js';
import { winograd2Conv } from './conv2d-winograd-f2.js';
import { uniformWeightsChunk } from './conv2d-uniform-weights.js';
import { channelLanesChunk } from './conv2d-channel-lanes.js';
import { rowPatchChunk } from './conv2d-row-patch.js';
import { winogradWeightGrad } from './conv2d-winograd-wgrad.js';
import { unary, unaryBackward, unaryForward } from './elementwise.js';
import { sumLeading } from './reduce.js';
import { LINEAR_MAIN_ARGS, linearGrid, linearIndex } from './wgsl.js';

export interface Conv2dOptions {
  stride?: number | [number, number];
  padding?: 'same' | 'valid' | number | [number, number, number, number];
  /** Atrous: taps d apart (stride 1 only, as TensorFlow's); conv2d-dilated.ts. Default 1. */
  dilation?: number | [number, number];
  /** Channel groups, weight [kh, kw, Cin/groups, Cout] (PyTorch's, Keras's); conv2d-grouped.ts. Default 1. */
  groups?: number;
  /** 'relu': max(conv + b, 0), stored by the conv's own kernels (grouped and dilated convs: a ReLU after). Default 'none'. */
  activation?: ConvActivation;
}

export type ConvActivation = 'none' | 'relu';

/** Conv2dOptions' keys: any other (a misspelt `strides`) is an ArgumentError, not a stride-1 conv. */
const CONV2D_OPTIONS = ['stride', 'padding', 'dilation', 'groups', 'activation'] as const;

/** Whether `opts` asks for the fused ReLU; any other activation is an ArgumentError naming `op`. */
function fusedRelu(op: string, opts: Conv2dOptions): boolean {
  expectChoice(op, 'activation', opts.activation, ['none', 'relu']);
  return opts.activation === 'relu';
}

/** The options without the activation: what the grouped and dilated paths' inner convs take. */
const withoutActivation = (opts: Conv2dOptions): Conv2dOptions => ({ ...opts, activation: 'none' });

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

/**
 * conv2d's output shape for an empty batch: one sample's geometry with the dilated kernel's span
 * and the groups' channels together (which checks them against x's as a sample's conv would).
 */
function emptyBatchShape(x: Tensor, w: Tensor, b: Tensor | null, opts: Conv2dOptions): Shape {
  const [, h, wd, cin] = x.shape;
  const [kh, kw, , cout] = w.shape;
  const [dh, dw] = opts.dilation === undefined ? [1, 1] : resolveDilation('conv2d', opts.dilation);
  const wCin = w.shape[2] * resolveGroups('conv2d', opts.groups);
  const g = conv2dGeometry([1, h, wd, cin], [(kh - 1) * dh + 1, (kw - 1) * dw + 1, wCin, cout], { stride: opts.stride, padding: opts.padding });
  checkBias('conv2d', b, cout);
  return [0, g.ho, g.wo, cout];
}

/** Validates a conv2d call and works out its output size and padding. */
export function conv2dGeometry(xShape: Shape, wShape: Shape, opts: Conv2dOptions = {}, op = 'conv2d'): ConvGeometry {
  if (isGrouped(opts)) throw new ShapeError(`${op}: no GEMM geometry for a grouped conv (groups ${opts.groups})`);
  // Dilated convs run as an ordinary conv over a split input (conv2d-dilated.ts), never here.
  if (isDilated(opts)) throw new ShapeError(`${op}: no GEMM geometry for a dilated conv (dilation ${JSON.stringify(opts.dilation)})`);
  checkRank4(op, 'input', xShape, '[N, H, W, C]');
  checkRank4(op, 'weight', wShape, '[kh, kw, Cin, Cout]');
  const [n, h, w, cin] = xShape;
  const [kh, kw, wCin, cout] = wShape;
  if (wCin !== cin) {
    throw new ShapeError(`${op}: input has ${cin} channels but the weight expects ${wCin} (input ${formatShape(xShape)}, weight ${formatShape(wShape)})${nchwHint(xShape, wCin)}`);
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
  if (isGrouped(opts)) return conv2dOutputShape(xShape, [wShape[0], wShape[1], xShape[3], wShape[3]], { ...opts, groups: 1 });
  if (isDilated(opts)) {
    const p = dilatedPlan(xShape, wShape, opts);
    return [p.n, p.ho, p.wo, wShape[3]];
  }
  const g = conv2dGeometry(xShape, wShape, opts);
  return [g.n, g.ho, g.wo, g.cout];
}

/**
 * What plain JavaScript can get wrong in a conv call (conv2d, convTranspose2d): x and w not
 * tensors, options passed where the bias goes, options not an object.
 */
export function checkConvArgs(op: string, x: unknown, w: unknown, b: unknown, opts: unknown, checkOptions: (opts: object) => void): asserts x is Tensor {
  expectTensor(op, 'input x', x);
  expectTensor(op, 'weight w', w);
  expectOptionalTensor(op, 'bias b', b, `options go after the bias: ${op}(x, w, null, { padding: 'same' })`);
  expectOptions(op, opts, "{ stride: 2, padding: 'same' }");
  // Each conv's own rule for its options (the keys it reads), so that none is ignored silently.
  checkOptions((opts ?? {}) as object);
}

/** conv2d's options: the keys it reads. */
const conv2dOptions = (opts: object) => expectKnownOptions('conv2d', opts, CONV2D_OPTIONS);

export function checkBias(op: string, b: Tensor | null | undefined, channels: number): void {
  if (b && (b.rank !== 1 || b.shape[0] !== channels)) {
    throw new ShapeError(`${op}: bias must be [${channels}] but is ${formatShape(b.shape)}`);
  }
}

/** The backward entry points' arguments: the gradient, the other operand, a shape, options. */
function checkGradArgs(op: string, dy: unknown, other: unknown, otherRole: string, shape: unknown, shapeRole: string, opts: unknown): void {
  expectTensor(op, 'gradient dy', dy);
  expectTensor(op, otherRole, other);
  if (!Array.isArray(shape) || shape.some((d) => typeof d !== 'number')) throw new ArgumentError(`${op}: ${shapeRole} must be an array of 4 sizes, got ${describeValue(shape)}`);
  if (shape.length !== 4 || !shape.every((d: number) => Number.isInteger(d) && d >= 0)) throw new ShapeError(`${op}: ${shapeRole} must be 4 whole sizes >= 0, got ${formatShape(shape)}`);
  expectOptions(op, opts, "{ stride: 2, padding: 'same' }");
  expectKnownOptions(op, opts as object, CONV2D_OPTIONS);
}

export function checkGradShape(op: string, dy: Tensor, want: Shape): void {
  if (dy.shape.join() !== want.join()) {
    throw new ShapeError(`${op}: gradient dy is ${formatShape(dy.shape)} but the output is ${formatShape(want)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// The direct GEMMs (conv2d-launch.ts picks the family and tile and launches them)

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

/**
 * y = conv2d(x, w) + b, geometry already checked; `algorithm` defaults to convAlgorithm's; `relu`
 * stores max(y, 0) from every algorithm's kernels.
 */
export function forwardGemm(g: ConvGeometry, x: Tensor, w: Tensor, b: Tensor | null, family = defaultConvFamily(), algorithm = convAlgorithm('forward', g, family), relu = false): Tensor {
  if (algorithm === 'winograd' || algorithm === 'winograd-uniform') return winogradConv('forward', g, x, w, b, family, relu, algorithm === 'winograd' ? 'tiles' : 'uniform');
  if (algorithm === 'winograd-fused') return winogradFusedConv('forward', g, x, w, b, family, relu);
  if (algorithm === 'winograd-f2') return winograd2Conv('forward', g, x, w, b, relu);
  const yShape = [g.n, g.ho, g.wo, g.cout];
  const per = samplesPerChunk('conv2d.forward', g, x, planned('conv2d.y', yShape), [w, b]);
  const y = emptyTensor(yShape, 'conv2d.y');
  const tile = convTile('forward', g, family, 'direct');
  const bk = tile.bk;
  const dTap = Math.floor(bk / g.cin);
  forEachSampleChunk(g, per, x, y, (gc, xc, yc) => {
    if (algorithm === 'uniform-weights') return uniformWeightsChunk(gc, xc, w, b, yc, relu);
    if (algorithm === 'channel-lanes') return channelLanesChunk(gc, xc, w, b, yc, relu);
    if (algorithm === 'row-patch') return rowPatchChunk(gc, xc, w, b, yc, relu);
    const m = gc.n * g.ho * g.wo;
    launch('forward', family, tile, gc, b ? [xc, w, b] : [xc, w], yc, m, g.cout, 1, {
      m, k: g.kh * g.kw * g.cin, dCi: bk % g.cin, dTapW: dTap % g.kw, dTapH: Math.floor(dTap / g.kw),
    }, false, relu);
  });
  return y;
}

/** conv2d's input gradient, + b when given (convTranspose2d's forward is this with a bias). */
export function backwardInputGemm(g: ConvGeometry, dy: Tensor, w: Tensor, b: Tensor | null, family = defaultConvFamily(), algorithm = convAlgorithm('backwardInput', g, family)): Tensor {
  if (algorithm === 'winograd' || algorithm === 'winograd-uniform') return winogradConv('backwardInput', g, dy, w, b, family, false, algorithm === 'winograd' ? 'tiles' : 'uniform');
  if (algorithm === 'winograd-fused') return winogradFusedConv('backwardInput', g, dy, w, b, family);
  if (algorithm === 'winograd-f2') return winograd2Conv('backwardInput', g, dy, w, b);
  const dxShape = [g.n, g.h, g.w, g.cin];
  const per = samplesPerChunk('conv2d.backwardInput', g, planned('conv2d.dx', dxShape), dy, [w, b]);
  const dx = emptyTensor(dxShape, 'conv2d.dx');
  const tile = convTile('backwardInput', g, family, 'direct');
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
// Backward weight

/**
 * dw = Σ over pixels of x patchᵀ · dy, in `splits` K slices summed afterwards when above 1 (by
 * default splitKCount of each chunk of samples). The tiled kernels slice K in steps of BK pixels,
 * the subgroup kernels in whole image rows. By Winograd instead (conv2d-winograd-wgrad.ts) where
 * `algorithm` (convAlgorithm's by default) says so; `splits` is the direct GEMM's.
 */
export function backwardWeightGemm(g: ConvGeometry, dy: Tensor, x: Tensor, family = defaultConvFamily(), splits?: number, algorithm = convAlgorithm('backwardWeight', g, family)): Tensor {
  if (algorithm !== 'direct') return winogradWeightGrad(g, dy, x, family);
  const wShape = [g.kh, g.kw, g.cin, g.cout];
  const per = samplesPerChunk('conv2d.backwardWeight', g, x, dy, [planned('conv2d.dw', wShape)]);
  const dw = emptyTensor(wShape, 'conv2d.dw');
  // The slices of one chunk are bound together: at most as many as fit a binding.
  const maxSlices = Math.max(1, Math.floor(runtime().bindingLimit / (dw.size * 4)));
  const tile = convTile('backwardWeight', g, family, 'direct');
  forEachSampleChunk(g, per, x, dy, (gc, xc, dyc, index) => {
    const parts = Math.min(maxSlices, Math.max(1, splits ?? splitKCount(gc, family, tile)));
    weightSlices(gc, dyc, xc, dw, family, tile, parts, index > 0);
  });
  return dw;
}

/** One chunk's weight gradient in `parts` K slices, written to dw or (`accumulate`) added to it. */
function weightSlices(g: ConvGeometry, dy: Range, x: Range, dw: Tensor, family: ConvFamily, tile: GemmTile, parts: number, accumulate: boolean): void {
  const mw = g.kh * g.kw * g.cin;
  const k = g.n * g.ho * g.wo;
  const chunk = Math.ceil(k / tile.bk / parts) * tile.bk;
  const rowChunk = Math.ceil((g.n * g.ho) / parts);
  const used = family === 'tiled' ? Math.ceil(k / chunk) : Math.ceil((g.n * g.ho) / rowChunk);
  const direct = used === 1 && !accumulate;
  const out = direct ? dw : emptyTensor([used, mw, g.cout], 'conv2d.dw.partial');
  launchWeightGrad(g, dy, x, out, family, tile, { slices: used, chunk, rowChunk });
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
  checkConvArgs('conv2d', x, w, b, opts, conv2dOptions);
  const relu = fusedRelu('conv2d', opts);
  if (isGrouped(opts) || isDilated(opts)) {
    const inner = withoutActivation(opts);
    const y = isGrouped(opts) ? groupedConvForward(x, w, b, inner) : dilatedConvForward(x, w, b, inner);
    if (!relu) return y;
    const z = unaryForward('relu', y);
    y.dispose();
    return z;
  }
  const g = conv2dGeometry(x.shape, w.shape, opts);
  checkBias('conv2d', b, g.cout);
  return forwardGemm(g, x, w, b, undefined, undefined, relu);
}

export function conv2dBackwardInput(dy: Tensor, w: Tensor, xShape: Shape, opts: Conv2dOptions = {}): Tensor {
  checkGradArgs('conv2d.backwardInput', dy, w, 'weight w', xShape, 'xShape', opts);
  if (isGrouped(opts)) return groupedConvBackwardInput(dy, w, xShape, opts);
  if (isDilated(opts)) return dilatedConvBackwardInput(dy, w, xShape, opts);
  const g = conv2dGeometry(xShape, w.shape, opts, 'conv2d.backwardInput');
  checkGradShape('conv2d.backwardInput', dy, [g.n, g.ho, g.wo, g.cout]);
  return backwardInputGemm(g, dy, w, null);
}

export function conv2dBackwardWeight(dy: Tensor, x: Tensor, wShape: Shape, opts: Conv2dOptions = {}): Tensor {
  checkGradArgs('conv2d.backwardWeight', dy, x, 'input x', wShape, 'wShape', opts);
  if (isGrouped(opts)) return groupedConvBackwardWeight(dy, x, wShape, opts);
  if (isDilated(opts)) return dilatedConvBackwardWeight(dy, x, wShape, opts);
  const g = conv2dGeometry(x.shape, wShape, opts, 'conv2d.backwardWeight');
  checkGradShape('conv2d.backwardWeight', dy, [g.n, g.ho, g.wo, g.cout]);
  return backwardWeightGemm(g, dy, x);
}

/** db = Σ_{n, ho, wo} dy: a sum over all but the channel axis. */
export function conv2dBackwardBias(dy: Tensor): Tensor {
  expectTensor('conv2d.backwardBias', 'gradient dy', dy);
  return sumLeading(dy, dy.shape[dy.rank - 1]);
}

// ---------------------------------------------------------------------------------------------
// Differentiable op

/**
 * dn.conv2d(x, w, b?, {stride, padding, dilation, groups, activation}): records dx, dw, db,
 * computing only those needed.
 */
export function conv2d(x: Tensor, w: Tensor, b: Tensor | null = null, opts: Conv2dOptions = {}): Tensor {
  checkConvArgs('conv2d', x, w, b, opts, conv2dOptions);
  const relu = fusedRelu('conv2d', opts);
  if (x.rank === 4 && x.shape[0] === 0) return emptyBatchResult('conv2d', x, [w, b], emptyBatchShape(x, w, b, opts));
  if (isGrouped(opts) || isDilated(opts)) {
    const inner = withoutActivation(opts);
    const conv = () => (isGrouped(opts) ? groupedConv(x, w, b, inner) : dilatedConv(x, w, b, inner));
    return relu ? scope(() => unary('relu', conv())) : conv();
  }
  const g = conv2dGeometry(x.shape, w.shape, opts);
  checkBias('conv2d', b, g.cout);
  const y = forwardGemm(g, x, w, b, undefined, undefined, relu);
  const keepsX = w.requiresGrad;
  const keepsW = x.requiresGrad;
  const saved = [...(keepsX ? [x] : []), ...(keepsW ? [w] : []), ...(relu ? [y] : [])];
  return record('conv2d', b ? [x, w, b] : [x, w], y, (dy, needs, kept) => {
    const sx = keepsX ? kept[0] : null;
    const sw = keepsW ? kept[keepsX ? 1 : 0] : null;
    // The fused ReLU's backward: dy where the output is positive or NaN (as PyTorch's threshold_backward), 0 elsewhere.
    const dz = relu ? unaryBackward('relu', dy, kept[kept.length - 1]) : dy;
    const grads = [
      needs[0] && sw ? backwardInputGemm(g, dz, sw, null) : null,
      needs[1] && sx ? backwardWeightGemm(g, dz, sx) : null,
      b && needs[2] ? conv2dBackwardBias(dz) : null,
    ];
    if (dz !== dy) dz.dispose();
    return grads;
  }, saved);
}
