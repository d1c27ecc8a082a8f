// Dilated (atrous) conv2d, stride 1, by space-to-batch, as TensorFlow's atrous_conv2d does it:
//
//   y[n, h, w] = Σ_ij xp[n, h + i·dh, w + j·dw] · w[i, j]      (xp: x padded by top, left, ...)
//
// With h = a·dh + r, the taps of output row h read only input rows of residue r, a plain conv
// (dilation 1, 'valid') over the rows xp[r], xp[r + dh], ... So x is padded and split into its
// dh·dw residue grids, stacked along the batch (spaceToBatch); the split batch goes through the
// ordinary conv (its GEMM kernels, Winograd for 3x3, tuning, all three directions); and the
// outputs are interleaved back (batchToSpace). Each step is a gather, and each is the other's
// backward: batchToSpace with the padding as offset takes a split input's gradient back to x,
// spaceToBatch without it takes y's gradient to the split outputs. The cost over a native dilated
// kernel is one more pass over x and y, and the split x that the weight gradient keeps.
//
// Split tensors are [dh·dw·N, hq, wq, C], batch b = (r·dw + s)·N + n for residues (r, s).

import { ShapeError } from '../errors.js';
import { nchwHint } from '../graph/args.js';
import { packParams, u32 } from '../gpu/params.js';
import { runtime, type KernelSpec } from '../gpu/runtime.js';
import { record } from '../graph/autograd.js';
import { emptyTensor, formatShape, type Shape, type Tensor } from '../graph/tensor.js';
import { checkBias, conv2d, conv2dBackwardInput, conv2dBackwardWeight, conv2dForward, resolveExplicitPadding, samePadding, type Conv2dOptions } from './conv2d.js';
import { LINEAR_MAIN_ARGS, linearGrid, linearIndex, vecType, vecWidth, type VecWidth } from './wgsl.js';

const PARAMS = /* wgsl */ `struct Params { total: u32, n: u32, h: u32, w: u32, c: u32, hq: u32, wq: u32, dh: u32, dw: u32, offTop: u32, offLeft: u32 }`;

/**
 * A gather of one element (or vec4 of channels) per thread from src into out: `body` sets
 * `found` (whether the element exists in src) and `at` (its index there) from `ch` and `rest`,
 * thread i's channel and flat pixel index; elements not found are zero.
 */
function gatherSpec(name: string, width: VecWidth, body: string): KernelSpec {
  const t = vecType(width);
  return {
    name,
    key: `w${width}`,
    inputs: 1,
    outputs: 1,
    wgsl: () => /* wgsl */ `
${PARAMS}
@group(0) @binding(0) var<storage, read> src: array<${t}>;
@group(0) @binding(1) var<storage, read_write> out: array<${t}>;
@group(0) @binding(2) var<uniform> params: Params;
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let i = ${linearIndex()};
  if (i >= params.total) { return; }
  let ch = i % params.c;
  var rest = i / params.c;
  ${body}
  var v = ${t}(0.0);
  if (found) { v = src[at]; }
  out[i] = v;
}`,
  };
}

/**
 * spaceToBatch: out [dh·dw·N, hq, wq, C] from src [N, h, w, C]: out[b, a, e] = src[n, a·dh + r −
 * offTop, e·dw + s − offLeft], zero outside src. `width` channels per thread (vec4 where C allows).
 */
const splitSpec = (width: VecWidth): KernelSpec =>
  gatherSpec('conv2d.dilated.spaceToBatch', width, /* wgsl */ `let e = rest % params.wq; rest /= params.wq;
  let a = rest % params.hq;
  let b = rest / params.hq;
  let n = b % params.n;
  let rs = b / params.n;
  // Unsigned: a position in the padding wraps to a huge value and fails the bounds test.
  let h = a * params.dh + rs / params.dw - params.offTop;
  let w = e * params.dw + rs % params.dw - params.offLeft;
  let found = h < params.h && w < params.w;
  let at = ((n * params.h + h) * params.w + w) * params.c + ch;`);

/**
 * batchToSpace: out [N, h, w, C] from src [dh·dw·N, hq, wq, C], each out[n, y, x] the split
 * element of row y + offTop and column x + offLeft.
 */
const mergeSpec = (width: VecWidth): KernelSpec =>
  gatherSpec('conv2d.dilated.batchToSpace', width, /* wgsl */ `let x = rest % params.w + params.offLeft; rest /= params.w;
  let y = rest % params.h + params.offTop;
  let n = rest / params.h;
  let b = ((y % params.dh) * params.dw + x % params.dw) * params.n + n;
  let a = y / params.dh;
  let e = x / params.dw;
  let found = a < params.hq && e < params.wq;
  let at = ((b * params.hq + a) * params.wq + e) * params.c + ch;`);

const SPECS = { split: [splitSpec(1), splitSpec(4)], merge: [mergeSpec(1), mergeSpec(4)] } as const;

interface Grid {
  n: number;
  c: number;
  /** The full tensor's rows and columns. */
  h: number;
  w: number;
  /** The split tensor's. */
  hq: number;
  wq: number;
  d: [number, number];
  off: [number, number];
}

function gather(kind: 'split' | 'merge', src: Tensor, g: Grid): Tensor {
  const width = vecWidth(g.c);
  const shape = kind === 'split' ? [g.d[0] * g.d[1] * g.n, g.hq, g.wq, g.c] : [g.n, g.h, g.w, g.c];
  const out = emptyTensor(shape, `conv2d.dilated.${kind}`);
  const total = out.size / width;
  const params = packParams([total, g.n, g.h, g.w, g.c / width, g.hq, g.wq, g.d[0], g.d[1], g.off[0], g.off[1]].map(u32));
  runtime().dispatch(SPECS[kind][width === 4 ? 1 : 0], { inputs: [src.slice], outputs: [out.slice], params }, linearGrid(total));
  return out;
}

/** [dh, dw] from a number or a pair; ShapeError naming `op` unless positive integers. */
export function resolveDilation(op: string, dilation: unknown): [number, number] {
  const pair: unknown[] = Array.isArray(dilation) ? dilation : [dilation ?? 1, dilation ?? 1];
  if (pair.length !== 2 || !pair.every((v) => typeof v === 'number' && Number.isInteger(v) && v >= 1)) {
    throw new ShapeError(`${op}: dilation must be a positive integer or a pair of them, got ${JSON.stringify(dilation)}`);
  }
  return pair as [number, number];
}

export const isDilated = (opts: Conv2dOptions, op = 'conv2d'): boolean => opts.dilation !== undefined && resolveDilation(op, opts.dilation).some((d) => d > 1);

/** A dilated call's sizes: the padding, the output, the split input and the inner conv's output. */
export interface DilatedPlan {
  d: [number, number];
  pads: [number, number, number, number];
  n: number;
  h: number;
  w: number;
  ho: number;
  wo: number;
  hq: number;
  wq: number;
  /** The inner conv's output, split: [dh·dw·N, hz, wz, Cout]. */
  hz: number;
  wz: number;
}

export function dilatedPlan(xShape: Shape, wShape: Shape, opts: Conv2dOptions, op = 'conv2d'): DilatedPlan {
  if (xShape.length !== 4 || wShape.length !== 4) throw new ShapeError(`${op}: input ${formatShape(xShape)} and weight ${formatShape(wShape)} must be rank 4`);
  if (xShape[3] !== wShape[2]) throw new ShapeError(`${op}: input has ${xShape[3]} channels but the weight expects ${wShape[2]} (input ${formatShape(xShape)}, weight ${formatShape(wShape)})${nchwHint(xShape, wShape[2])}`);
  const d = resolveDilation(op, opts.dilation);
  const stride = opts.stride ?? 1;
  if ((Array.isArray(stride) ? stride : [stride, stride]).some((s) => s !== 1)) {
    throw new ShapeError(`${op}: a dilated conv takes stride 1 (as TensorFlow's), got stride ${JSON.stringify(stride)} with dilation ${JSON.stringify(opts.dilation)}`);
  }
  const [n, h, w] = xShape;
  const [kh, kw] = wShape;
  // The kernel's reach: k taps d apart.
  const [eh, ew] = [(kh - 1) * d[0] + 1, (kw - 1) * d[1] + 1];
  const padding = opts.padding ?? 'valid';
  const pads: [number, number, number, number] =
    padding === 'same' ? [...samePadding(h, eh, 1), ...samePadding(w, ew, 1)] : padding === 'valid' ? [0, 0, 0, 0] : resolveExplicitPadding(op, padding);
  const [hp, wp] = [h + pads[0] + pads[1], w + pads[2] + pads[3]];
  const [ho, wo] = [hp - eh + 1, wp - ew + 1];
  if (ho < 1 || wo < 1) {
    throw new ShapeError(`${op}: a ${kh}x${kw} kernel dilated by ${d.join('x')} reaches ${eh}x${ew}, more than input ${formatShape(xShape)} with padding [${pads.join(',')}]`);
  }
  const [hq, wq] = [Math.ceil(hp / d[0]), Math.ceil(wp / d[1])];
  return { d, pads, n, h, w, ho, wo, hq, wq, hz: hq - kh + 1, wz: wq - kw + 1 };
}

const VALID: Conv2dOptions = { padding: 'valid' };

/** x to its padded residue grids. */
const splitInput = (p: DilatedPlan, x: Tensor): Tensor =>
  gather('split', x, { n: p.n, c: x.shape[3], h: p.h, w: p.w, hq: p.hq, wq: p.wq, d: p.d, off: [p.pads[0], p.pads[2]] });
/** A split input's gradient back to x's pixels (the padding's dropped). */
const mergeInput = (p: DilatedPlan, g: Tensor): Tensor =>
  gather('merge', g, { n: p.n, c: g.shape[3], h: p.h, w: p.w, hq: p.hq, wq: p.wq, d: p.d, off: [p.pads[0], p.pads[2]] });
/** The inner conv's split outputs interleaved into y (the rows past ho cropped). */
const mergeOutput = (p: DilatedPlan, z: Tensor): Tensor =>
  gather('merge', z, { n: p.n, c: z.shape[3], h: p.ho, w: p.wo, hq: p.hz, wq: p.wz, d: p.d, off: [0, 0] });
/** y's gradient to the inner conv's split outputs (zero where they were cropped). */
const splitOutput = (p: DilatedPlan, dy: Tensor): Tensor =>
  gather('split', dy, { n: p.n, c: dy.shape[3], h: p.ho, w: p.wo, hq: p.hz, wq: p.wz, d: p.d, off: [0, 0] });

/**
 * The conv a dilated call wraps, run 'valid' over the split input: conv2d's, or depthwiseConv2d's
 * (whose weight [kh, kw, C, M] gives C·M output channels). Each takes the split tensors whole.
 */
export interface InnerConv {
  op: string;
  outChannels(wShape: Shape): number;
  forward(x: Tensor, w: Tensor, b: Tensor | null): Tensor;
  backwardInput(dy: Tensor, w: Tensor, xShape: Shape): Tensor;
  backwardWeight(dy: Tensor, x: Tensor, wShape: Shape): Tensor;
  /** On the tape. */
  differentiable(x: Tensor, w: Tensor, b: Tensor | null): Tensor;
}

export const CONV2D: InnerConv = {
  op: 'conv2d',
  outChannels: (wShape) => wShape[3],
  forward: (x, w, b) => conv2dForward(x, w, b, VALID),
  backwardInput: (dy, w, xShape) => conv2dBackwardInput(dy, w, xShape, VALID),
  backwardWeight: (dy, x, wShape) => conv2dBackwardWeight(dy, x, wShape, VALID),
  differentiable: (x, w, b) => conv2d(x, w, b, VALID),
};

/** Raw forward (no tape). */
export function dilatedConvForward(x: Tensor, w: Tensor, b: Tensor | null, opts: Conv2dOptions, inner = CONV2D): Tensor {
  const p = dilatedPlan(x.shape, w.shape, opts, inner.op);
  checkBias(inner.op, b, inner.outChannels(w.shape));
  const xs = splitInput(p, x);
  const z = inner.forward(xs, w, b);
  xs.dispose();
  const y = mergeOutput(p, z);
  z.dispose();
  return y;
}

export function dilatedConvBackwardInput(dy: Tensor, w: Tensor, xShape: Shape, opts: Conv2dOptions, inner = CONV2D): Tensor {
  const op = `${inner.op}.backwardInput`;
  const p = dilatedPlan(xShape, w.shape, opts, op);
  checkDy(op, dy, p, inner.outChannels(w.shape));
  const dz = splitOutput(p, dy);
  const dxs = inner.backwardInput(dz, w, [p.d[0] * p.d[1] * p.n, p.hq, p.wq, xShape[3]]);
  dz.dispose();
  const dx = mergeInput(p, dxs);
  dxs.dispose();
  return dx;
}

export function dilatedConvBackwardWeight(dy: Tensor, x: Tensor, wShape: Shape, opts: Conv2dOptions, inner = CONV2D): Tensor {
  const op = `${inner.op}.backwardWeight`;
  const p = dilatedPlan(x.shape, wShape, opts, op);
  checkDy(op, dy, p, inner.outChannels(wShape));
  const [dz, xs] = [splitOutput(p, dy), splitInput(p, x)];
  const dw = inner.backwardWeight(dz, xs, wShape);
  dz.dispose();
  xs.dispose();
  return dw;
}

function checkDy(op: string, dy: Tensor, p: DilatedPlan, cout: number): void {
  const want = [p.n, p.ho, p.wo, cout];
  if (dy.shape.join() !== want.join()) throw new ShapeError(`${op}: gradient dy is ${formatShape(dy.shape)} but the output is ${formatShape(want)}`);
}

/** Differentiable: the split and merge on the tape around the inner conv's differentiable op. */
export function dilatedConv(x: Tensor, w: Tensor, b: Tensor | null, opts: Conv2dOptions, inner = CONV2D): Tensor {
  const p = dilatedPlan(x.shape, w.shape, opts, inner.op);
  checkBias(inner.op, b, inner.outChannels(w.shape));
  const xs = record(`${inner.op}.dilated.split`, [x], splitInput(p, x), (g) => [mergeInput(p, g)]);
  const z = inner.differentiable(xs, w, b);
  xs.dispose();
  const y = record(`${inner.op}.dilated.merge`, [z], mergeOutput(p, z), (g) => [splitOutput(p, g)]);
  z.dispose();
  return y;
}
