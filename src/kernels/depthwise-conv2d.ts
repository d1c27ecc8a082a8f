// Depthwise 2-D convolution, NHWC (tfjs's depthwiseConv2d, Keras's DepthwiseConv2D). x [N, H, W, C],
// w [kh, kw, C, M] (M: the channel multiplier, Keras/tfjs layout), b [C·M] -> y [N, Ho, Wo, C·M]:
//
//   y[n, ho, wo, c·M + m] = b[c·M + m] + Σ_{i, j} x[n, ho·sh − top + i, wo·sw − left + j, c] · w[i, j, c, m]
//
// with x read as zero outside the image: every input channel has its own M filters and channels never
// mix. Output size and padding are conv2d's exactly (conv2dGeometry, TensorFlow's 'same'). w's flat
// layout is [kh·kw, C·M], so output channel oc = c·M + m is also the weight's column at each tap.
// Backward: dx[n, h, w, c] = Σ_{m, i, j} dy[n, ho, wo, c·M + m] · w[i, j, c, m] over the taps whose
// output pixel ho = (h + top − i) / sh, wo = (w + left − j) / sw is whole and inside y;
// dw[i, j, c, m] = Σ_{n, ho, wo} x[n, ho·sh − top + i, wo·sw − left + j, c] · dy[n, ho, wo, c·M + m]
// (depthwise-conv2d-weight-grad.ts); db = Σ_{n, ho, wo} dy (reduce.ts's sumLeading).
// Saved for backward: x (only if w needs a gradient) and w (only if x does).
//
// Forward and backward input run one thread per element of their output. A depthwise conv does
// kh·kw multiply-adds per output where a conv2d does kh·kw·Cin: it is bound by memory, not by
// arithmetic, so there is no GEMM tiling to gain and the plain per-element gather is the kernel.
// With M = 1 and C % 4 == 0 (MobileNet's depthwise layers) every kernel takes four adjacent
// channels as a vec4: they are four adjacent floats of x, w, y, dy and dx alike, so one index decode
// and one bounds check serve four channels (on CPU adapters each costs a scalar division or branch
// per lane) and GPUs load 16 bytes at once. With M > 1 four adjacent output channels share one x
// channel (M >= 4) or straddle two (M = 2, 3): a different shape of kernel, left scalar here.
//
// Every tensor is bound whole: unlike conv2d nothing splits along N past the binding limit
// (kernels/chunking.ts). Each entry point checks its bindings before it allocates anything, so a
// tensor too large is a LimitError that leaks nothing.

import { ArgumentError, ShapeError } from '../errors.js';
import { packParams, u32 } from '../gpu/params.js';
import { runtime, type KernelSpec } from '../gpu/runtime.js';
import { describeValue, expectKnownOptions, expectOptions, expectTensor } from '../graph/args.js';
import { record } from '../graph/autograd.js';
import { emptyTensor, formatShape, type Shape, type Tensor } from '../graph/tensor.js';
import { checkWhole, planned } from './chunking.js';
import { checkBias, checkConvArgs, checkGradShape, conv2dGeometry } from './conv2d.js';
import { emptyBatchResult } from './empty-batch.js';
import { dilatedConv, dilatedConvBackwardInput, dilatedConvBackwardWeight, dilatedConvForward, isDilated, resolveDilation, type InnerConv } from './conv2d-dilated.js';
import { columnsFit, columnsSpec, columnThreads } from './depthwise-conv2d-columns.js';
import { depthwiseWeightGrad, weightGradChunks } from './depthwise-conv2d-weight-grad.js';
import { sumLeading } from './reduce.js';
import { decodeNhwc, LINEAR_MAIN_ARGS, LINEAR_WG, linearGrid, linearIndex, vecType, type VecWidth } from './wgsl.js';

export interface DepthwiseConv2dOptions {
  stride?: number | [number, number];
  padding?: 'same' | 'valid' | number | [number, number, number, number];
  /** Atrous, stride 1: by space-to-batch around the plain depthwise conv, as conv2d's (conv2d-dilated.ts). */
  dilation?: number | [number, number];
}

const OP = 'depthwiseConv2d';

/**
 * Unknown options are ArgumentErrors naming them, and so is an activation on a forward: there is
 * no fused one here (conv2d(x, w, b, { groups: C, activation: 'relu' }) has it). conv2d's grouped
 * path runs its depthwise case through these entry points with its own options: `groups: 1`,
 * `activation: 'none'` on the forward, and on the raw backwards whatever activation its caller
 * gave, which a gradient entry point ignores as conv2d's do.
 */
function checkOptions(opts: object, forward: boolean): void {
  const { groups, activation, ...documented } = opts as { groups?: unknown; activation?: unknown };
  expectKnownOptions(OP, documented, ['stride', 'padding', 'dilation']);
  if (groups !== undefined && groups !== 1) {
    throw new ArgumentError(`${OP}: groups is not an option here, got ${describeValue(groups)} (a depthwise conv is conv2d with groups = C)`);
  }
  if (forward && activation !== undefined && activation !== 'none') {
    throw new ArgumentError(`${OP}: activation is not supported, got ${describeValue(activation)}: apply dn.relu to the output, or use conv2d with groups = C`);
  }
}

/** One call's sizes; h, w are the input's height and width, ho, wo the output's. */
export interface DepthwiseGeometry {
  n: number;
  h: number;
  w: number;
  c: number;
  m: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  padTop: number;
  padLeft: number;
  ho: number;
  wo: number;
  /** Channels per thread: 4 (vec4) where M = 1 and C % 4 == 0, else 1 (see the header). */
  width: VecWidth;
}

/** Validates shapes and options; conv2dGeometry reads w [kh, kw, C, M] as [kh, kw, Cin, Cout]. */
export function depthwiseGeometry(xShape: Shape, wShape: Shape, opts: DepthwiseConv2dOptions = {}): DepthwiseGeometry {
  if (wShape.length !== 4) throw new ShapeError(`${OP}: weight must be [kh, kw, C, M] (rank 4) but is ${formatShape(wShape)}`);
  const g = conv2dGeometry(xShape, wShape, opts, OP);
  const { n, h, w, kh, kw, sh, sw, padTop, padLeft, ho, wo } = g;
  const [c, m] = [g.cin, g.cout];
  return { n, h, w, c, m, kh, kw, sh, sw, padTop, padLeft, ho, wo, width: m === 1 && c % 4 === 0 ? 4 : 1 };
}

const outputShape = (g: DepthwiseGeometry): Shape => [g.n, g.ho, g.wo, g.c * g.m];

// ---------------------------------------------------------------------------------------------
// Kernels: forward and backward input, one thread per output element

/** c is in units of the width (vec4s for width 4, where m is 1); total is the thread count. */
const GEOMETRY_PARAMS = /* wgsl */ `
struct Params { total: u32, c: u32, m: u32, h: u32, w: u32, outH: u32, outW: u32, kh: u32, kw: u32, sh: u32, sw: u32, padTop: u32, padLeft: u32 }`;

const geometryParams = (g: DepthwiseGeometry, total: number): ArrayBuffer =>
  packParams([total, g.c / g.width, g.m, g.h, g.w, g.ho, g.wo, g.kh, g.kw, g.sh, g.sw, g.padTop, g.padLeft].map((v) => u32(v)));

/** WGSL: the Params, T (f32 or vec4) and the bindings every depthwise kernel declares, inputs then output. */
const kernelHead = (width: VecWidth) => (inputs: string[], output: string): string => `${GEOMETRY_PARAMS}
alias T = ${vecType(width)};
${[...inputs, output].map((name, k) => `@group(0) @binding(${k}) var<storage, ${name === output ? 'read_write' : 'read'}> ${name}: array<T>;`).join('\n')}
@group(0) @binding(${inputs.length + 1}) var<uniform> params: Params;`;

const forwardSpec = (width: VecWidth, bias: boolean): KernelSpec => {
  const inputs = bias ? ['x', 'w', 'b'] : ['x', 'w'];
  return {
    name: 'depthwiseConv2d.forward',
    key: `w${width}${bias ? 'b' : ''}`,
    inputs: inputs.length,
    outputs: 1,
    wgsl: () => /* wgsl */ `${kernelHead(width)(inputs, 'y')}
@compute @workgroup_size(${LINEAR_WG})
fn main(${LINEAR_MAIN_ARGS}) {
  let i = ${linearIndex()};
  if (i >= params.total) { return; }
  // y has C·M channels (decodeNhwc would read C): oc = c·M + m, x's channel c = oc / M.
  let cm = params.c * params.m;
  let oc = i % cm;
  let pix = i / cm;
  let col = pix % params.outW;
  let row = (pix / params.outW) % params.outH;
  let n = pix / (params.outW * params.outH);
  let ch = oc / params.m;
  let top = i32(row * params.sh) - i32(params.padTop);
  let left = i32(col * params.sw) - i32(params.padLeft);
  // Only the taps that land inside the image: kernel rows [i0, i1), columns [j0, j1).
  let i0 = max(-top, 0);
  let i1 = min(i32(params.kh), i32(params.h) - top);
  let j0 = max(-left, 0);
  let j1 = min(i32(params.kw), i32(params.w) - left);
  var acc = ${bias ? 'b[oc]' : 'T(0.0)'};
  for (var ki = i0; ki < i1; ki++) {
    let xRow = (n * params.h + u32(top + ki)) * params.w;
    for (var kj = j0; kj < j1; kj++) {
      acc += x[(xRow + u32(left + kj)) * params.c + ch] * w[(u32(ki) * params.kw + u32(kj)) * cm + oc];
    }
  }
  y[i] = acc;
}`,
  };
};
const FORWARD = {
  1: { plain: forwardSpec(1, false), bias: forwardSpec(1, true) },
  4: { plain: forwardSpec(4, false), bias: forwardSpec(4, true) },
} as const;

/**
 * One thread per dx element (n, h, w, c). Tap ki reaches input row h from output row
 * (h + top − ki) / sh, which exists only where that division is exact: rather than test every tap,
 * the loop starts at the first tap of the right phase, ki ≡ h + top (mod sh), and steps by sh (the
 * pool backwards' gather, with the stride test folded into the loop).
 */
const backwardInputSpec = (width: VecWidth): KernelSpec => ({
  name: 'depthwiseConv2d.backwardInput',
  key: `w${width}`,
  inputs: 2,
  outputs: 1,
  wgsl: () => /* wgsl */ `${kernelHead(width)(['dy', 'w'], 'dx')}
@compute @workgroup_size(${LINEAR_WG})
fn main(${LINEAR_MAIN_ARGS}) {
  let i = ${linearIndex()};
  if (i >= params.total) { return; }
  ${decodeNhwc('params.h', 'params.w')}
  let cm = params.c * params.m;
  let sh = i32(params.sh);
  let sw = i32(params.sw);
  let ph = i32(row + params.padTop);
  let pw = i32(col + params.padLeft);
  var acc = T(0.0);
  for (var ki = ph % sh; ki < i32(params.kh); ki += sh) {
    let oh = (ph - ki) / sh;
    if (oh < 0) { break; } // later taps reach further up still
    if (oh >= i32(params.outH)) { continue; }
    for (var kj = pw % sw; kj < i32(params.kw); kj += sw) {
      let ow = (pw - kj) / sw;
      if (ow < 0) { break; }
      if (ow >= i32(params.outW)) { continue; }
      let o = ((n * params.outH + u32(oh)) * params.outW + u32(ow)) * cm + ch * params.m;
      let t = (u32(ki) * params.kw + u32(kj)) * cm + ch * params.m;
      for (var mm = 0u; mm < params.m; mm++) { acc += dy[o + mm] * w[t + mm]; }
    }
  }
  dx[i] = acc;
}`,
});
const BACKWARD_INPUT = { 1: backwardInputSpec(1), 4: backwardInputSpec(4) } as const;
/** Kernels three wide at column stride 1 or 2 take four output columns a thread (depthwise-conv2d-columns.ts). */
const COLUMN_FORWARD = {
  1: { 1: { plain: columnsSpec(1, false, 1, kernelHead(1)), bias: columnsSpec(1, true, 1, kernelHead(1)) }, 2: { plain: columnsSpec(1, false, 2, kernelHead(1)), bias: columnsSpec(1, true, 2, kernelHead(1)) } },
  4: { 1: { plain: columnsSpec(4, false, 1, kernelHead(4)), bias: columnsSpec(4, true, 1, kernelHead(4)) }, 2: { plain: columnsSpec(4, false, 2, kernelHead(4)), bias: columnsSpec(4, true, 2, kernelHead(4)) } },
} as const;

const COLUMN_BACKWARD_INPUT = { 1: columnsSpec(1, false, 1, kernelHead(1), true), 4: columnsSpec(4, false, 1, kernelHead(4), true) } as const;

const columnsOverride = new WeakMap<GPUDevice, boolean>();

/** Tests and A/B timing: false runs every forward on the per-element kernel on this device; null restores. */
export function setDepthwiseColumns(on: boolean | null): void {
  const device = runtime().device;
  if (on === null) columnsOverride.delete(device);
  else columnsOverride.set(device, on);
}

// ---------------------------------------------------------------------------------------------
// Launches (shapes already checked)

function forward(g: DepthwiseGeometry, x: Tensor, w: Tensor, b: Tensor | null): Tensor {
  const yShape = outputShape(g);
  checkWhole(OP, [x, w, b, planned('depthwiseConv2d.y', yShape)]);
  const y = emptyTensor(yShape, 'depthwiseConv2d.y');
  const inputs = (b ? [x, w, b] : [x, w]).map((t) => t.slice);
  const variant = b ? 'bias' : 'plain';
  if (columnsFit(g.kw, g.sw) && (columnsOverride.get(runtime().device) ?? true)) {
    const total = columnThreads(g.n * g.ho, g.wo, (g.c * g.m) / g.width);
    const spec = COLUMN_FORWARD[g.width][g.sw as 1 | 2][variant];
    runtime().dispatch(spec, { inputs, outputs: [y.slice], params: geometryParams(g, total) }, linearGrid(total));
    return y;
  }
  const total = y.size / g.width;
  runtime().dispatch(FORWARD[g.width][variant], { inputs, outputs: [y.slice], params: geometryParams(g, total) }, linearGrid(total));
  return y;
}

function backwardInput(g: DepthwiseGeometry, dy: Tensor, w: Tensor): Tensor {
  const xShape = [g.n, g.h, g.w, g.c];
  checkWhole(OP, [dy, w, planned('depthwiseConv2d.dx', xShape)]);
  const dx = emptyTensor(xShape, 'depthwiseConv2d.dx');
  // At stride 1 with one filter a channel, the input gradient is the forward over dy with the
  // kernel turned (depthwise-conv2d-columns.ts): four columns a thread where the kernel is 3 wide.
  const [turnedTop, turnedLeft] = [g.kh - 1 - g.padTop, g.kw - 1 - g.padLeft];
  if (g.m === 1 && g.sh === 1 && g.sw === 1 && columnsFit(g.kw, 1) && turnedTop >= 0 && turnedLeft >= 0 && (columnsOverride.get(runtime().device) ?? true)) {
    const turned = { ...g, h: g.ho, w: g.wo, ho: g.h, wo: g.w, padTop: turnedTop, padLeft: turnedLeft };
    const total = columnThreads(g.n * g.h, g.w, g.c / g.width);
    runtime().dispatch(COLUMN_BACKWARD_INPUT[g.width], { inputs: [dy.slice, w.slice], outputs: [dx.slice], params: geometryParams(turned, total) }, linearGrid(total));
    return dx;
  }
  const total = dx.size / g.width;
  runtime().dispatch(BACKWARD_INPUT[g.width], { inputs: [dy.slice, w.slice], outputs: [dx.slice], params: geometryParams(g, total) }, linearGrid(total));
  return dx;
}

function backwardWeight(g: DepthwiseGeometry, dy: Tensor, x: Tensor): Tensor {
  const weights = g.kh * g.kw * g.c * g.m;
  checkWhole(OP, [x, dy, planned('depthwiseConv2d.dwPartial', [weights, weightGradChunks(g)])]);
  return depthwiseWeightGrad(g, dy, x);
}

// ---------------------------------------------------------------------------------------------
// GPU entry points (no autograd)

/** The backward entry points' arguments: the gradient, the other operand, a shape, options. */
function checkGradArgs(dy: unknown, other: unknown, otherRole: string, shape: unknown, shapeRole: string, opts: unknown): void {
  expectTensor(OP, 'gradient dy', dy);
  expectTensor(OP, otherRole, other);
  if (!Array.isArray(shape)) throw new ArgumentError(`${OP}: ${shapeRole} must be an array of 4 sizes, got ${describeValue(shape)}`);
  expectOptions(OP, opts, "{ stride: 2, padding: 'same' }");
  checkOptions(opts as object, false);
}

export function depthwiseConv2dForward(x: Tensor, w: Tensor, b: Tensor | null = null, opts: DepthwiseConv2dOptions = {}): Tensor {
  checkConvArgs(OP, x, w, b, opts, (o) => checkOptions(o, true));
  if (isDilated(opts, OP)) return dilatedConvForward(x, w, b ?? null, opts, DEPTHWISE);
  const g = depthwiseGeometry(x.shape, w.shape, opts);
  checkBias(OP, b, g.c * g.m);
  return forward(g, x, w, b ?? null);
}

export function depthwiseConv2dBackwardInput(dy: Tensor, w: Tensor, xShape: Shape, opts: DepthwiseConv2dOptions = {}): Tensor {
  checkGradArgs(dy, w, 'weight w', xShape, 'xShape', opts);
  if (isDilated(opts, OP)) return dilatedConvBackwardInput(dy, w, xShape, opts, DEPTHWISE);
  const g = depthwiseGeometry(xShape, w.shape, opts);
  checkGradShape(OP, dy, outputShape(g));
  return backwardInput(g, dy, w);
}

export function depthwiseConv2dBackwardWeight(dy: Tensor, x: Tensor, wShape: Shape, opts: DepthwiseConv2dOptions = {}): Tensor {
  checkGradArgs(dy, x, 'input x', wShape, 'wShape', opts);
  if (isDilated(opts, OP)) return dilatedConvBackwardWeight(dy, x, wShape, opts, DEPTHWISE);
  const g = depthwiseGeometry(x.shape, wShape, opts);
  checkGradShape(OP, dy, outputShape(g));
  return backwardWeight(g, dy, x);
}

// ---------------------------------------------------------------------------------------------
// Differentiable op

/** depthwiseConv2d(x, w, b?, {stride, padding, dilation}): records dx, dw, db, computing only those needed. */
export function depthwiseConv2d(x: Tensor, w: Tensor, b: Tensor | null = null, opts: DepthwiseConv2dOptions = {}): Tensor {
  checkConvArgs(OP, x, w, b, opts, (o) => checkOptions(o, true));
  if (x.rank === 4 && x.shape[0] === 0) {
    // An empty batch (N = 0): one sample's output size (with the dilated kernel's span), nothing to compute.
    const [dh, dw] = opts.dilation === undefined ? [1, 1] : resolveDilation(OP, opts.dilation);
    const [kh, kw, c, m] = w.shape;
    const one = depthwiseGeometry([1, ...x.shape.slice(1)], [(kh - 1) * dh + 1, (kw - 1) * dw + 1, c, m], { stride: opts.stride, padding: opts.padding });
    checkBias(OP, b ?? null, one.c * one.m);
    return emptyBatchResult(OP, x, [w, b ?? null], [0, one.ho, one.wo, one.c * one.m]);
  }
  if (isDilated(opts, OP)) return dilatedConv(x, w, b ?? null, opts, DEPTHWISE);
  const g = depthwiseGeometry(x.shape, w.shape, opts);
  checkBias(OP, b, g.c * g.m);
  const bias = b ?? null;
  const y = forward(g, x, w, bias);
  const keepsX = w.requiresGrad;
  const keepsW = x.requiresGrad;
  const saved = [...(keepsX ? [x] : []), ...(keepsW ? [w] : [])];
  return record(OP, bias ? [x, w, bias] : [x, w], y, (dy, needs, kept) => {
    const sx = keepsX ? kept[0] : null;
    const sw = keepsW ? kept[keepsX ? 1 : 0] : null;
    return [
      needs[0] && sw ? backwardInput(g, dy, sw) : null,
      needs[1] && sx ? backwardWeight(g, dy, sx) : null,
      bias && needs[2] ? sumLeading(dy, g.c * g.m) : null,
    ];
  }, saved);
}

/** The plain depthwise conv, 'valid', that a dilated call runs over its split input. */
const DEPTHWISE: InnerConv = {
  op: OP,
  outChannels: (wShape) => wShape[2] * wShape[3],
  forward: (x, w, b) => depthwiseConv2dForward(x, w, b, VALID),
  backwardInput: (dy, w, xShape) => depthwiseConv2dBackwardInput(dy, w, xShape, VALID),
  backwardWeight: (dy, x, wShape) => depthwiseConv2dBackwardWeight(dy, x, wShape, VALID),
  differentiable: (x, w, b) => depthwiseConv2d(x, w, b, VALID),
};
const VALID: DepthwiseConv2dOptions = { padding: 'valid' };
