// Max pooling that keeps where each maximum came from, and its inverse: SegNet's decoder, which
// upsamples by putting each value back where the encoder's pool found it (PyTorch's
// MaxPool2d(return_indices=True) and MaxUnpool2d).
//
//   maxPool2dWithIndices: y as maxPool2d, and indices[n,oh,ow,c] = h * W + w of the winner in its
//                         sample's channel plane (PyTorch's convention), as float32 (exact below 2^24)
//   maxUnpool2d:          y[n, k / outW, k % outW, c] = x[n,h,w,c] for k = indices[n,h,w,c], zeros elsewhere
//
// maxUnpool2d's output is (H - 1)·stride − 2·padding + size a side, or `outputSize` ([H, W], or the
// pooled input's NHWC shape) strictly within a stride of that (PyTorch's _unpool_output_size), which
// tells apart inputs that pooled to the same size. Two inputs may point at one place (overlapping windows, or indices from elsewhere): the
// later one in NHWC order wins, as PyTorch's CPU loop leaves it, made deterministic here by an
// atomicMax over the contenders' positions (a u32 "claim" per output element), then a gather. The
// gradient goes to the winners alone (dy at their place), the derivative of what the forward did;
// PyTorch's backward gathers dy for every input, the overwritten ones too. Indices that are not
// whole numbers in [0, outH·outW) place nothing (PyTorch raises; checking here would cost a
// readback): their inputs get no gradient. The claims, saved for backward, take the output's size.
// Chunks of whole samples past the binding limit, as pool.ts's kernels.

import { ArgumentError, ShapeError } from '../errors.js';
import { packParams, u32 } from '../gpu/params.js';
import { runtime, type KernelSpec } from '../gpu/runtime.js';
import { describeValue, expectTensor } from '../graph/args.js';
import { record } from '../graph/autograd.js';
import { emptyTensor, formatShape, type Shape, type Tensor } from '../graph/tensor.js';
import { chunkItems, dispatchChunk, forEachChunk, part, planned, range } from './chunking.js';
import { maxPool2dForward, maxPool2dBackward, type Pool2dOptions } from './pool.js';
import { isNanBits, LINEAR_MAIN_ARGS, linearGrid, linearIndex } from './wgsl.js';

/** Float32 holds every whole number below this exactly: planes larger than it cannot be indexed. */
const MAX_INDEXED = 2 ** 24;

const u32Values: KernelSpec = {
  name: 'maxPool2d.indices',
  key: '',
  inputs: 1,
  outputs: 1,
  wgsl: () => /* wgsl */ `
@group(0) @binding(0) var<storage, read> bits: array<u32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> params: vec4<u32>;
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let i = ${linearIndex()};
  if (i >= params.x) { return; }
  out[i] = f32(bits[i]);
}`,
};

/**
 * Max pool with the winners' places (PyTorch's return_indices): y is maxPool2d's, differentiable
 * as it is; `indices` (float32, y's shape, no gradient) holds h * W + w of each window's winner in
 * its sample's channel plane, what maxUnpool2d takes.
 */
export function maxPool2dWithIndices(x: Tensor, opts: Pool2dOptions): { y: Tensor; indices: Tensor } {
  expectTensor('maxPool2dWithIndices', 'input x', x);
  if (x.shape.length === 4 && x.shape[1] * x.shape[2] > MAX_INDEXED) throw new ShapeError(`maxPool2dWithIndices: ${x.describe()} has more than 2^24 pixels a plane, past float32's exact indices`);
  const { y, argmax } = maxPool2dForward(x, opts, 'maxPool2dWithIndices');
  try {
    const per = chunkItems('maxPool2dWithIndices', argmax.size, [part(argmax, 1), part(planned('maxPool2d.indices', argmax.shape), 1)]);
    const indices = emptyTensor(argmax.shape, 'maxPool2d.indices');
    forEachChunk(argmax.size, per, (first, count) => {
      dispatchChunk(u32Values, [range(argmax, first, count)], [range(indices, first, count)], packParams([u32(count), u32(0), u32(0), u32(0)]), linearGrid(count));
    });
    const xShape = x.shape;
    const o = { ...opts };
    const out = record('maxPool2d', [x], y, (dy, _needs, [winners]) => [maxPool2dBackward(dy, winners, xShape, o)], [argmax]);
    return { y: out, indices };
  } catch (e) {
    y.dispose();
    throw e;
  } finally {
    argmax.dispose();
  }
}

export interface MaxUnpool2dOptions {
  /** The pool's window, as given to it: one size or [h, w]. */
  size: number | readonly [number, number];
  /** Its stride (default: the size). */
  stride?: number | readonly [number, number];
  /** Its explicit padding (default 0). TF's 'same' has no inverse size: give outputSize instead. */
  padding?: number | readonly [number, number];
  /**
   * [H, W] of the output, or the whole NHWC shape (the pooled input's `.shape`, its N and C
   * checked against x's): what tells apart the sizes that pool to x's.
   */
  outputSize?: readonly [number, number] | readonly [number, number, number, number];
}

const OPTIONS = new Set(['size', 'stride', 'padding', 'outputSize']);

interface UnpoolGeometry {
  n: number;
  h: number;
  w: number;
  c: number;
  outH: number;
  outW: number;
}

function pairOption(name: string, v: unknown, min: number): [number, number] {
  const pair = typeof v === 'number' ? [v, v] : Array.isArray(v) && v.length === 2 ? v : null;
  if (!pair || !pair.every((d) => Number.isInteger(d) && d >= min)) throw new ArgumentError(`maxUnpool2d: ${name} must be a whole number >= ${min} or two of them, got ${describeValue(v)}`);
  return [pair[0], pair[1]];
}

/** The output size, checked as PyTorch's _unpool_output_size checks it. */
export function unpoolGeometry(xShape: Shape, opts: MaxUnpool2dOptions): UnpoolGeometry {
  if (typeof opts !== 'object' || opts === null) throw new ArgumentError(`maxUnpool2d: options must be an object such as { size: 2 }, got ${describeValue(opts)}`);
  const unknown = Object.keys(opts).filter((k) => !OPTIONS.has(k));
  if (unknown.length) throw new ArgumentError(`maxUnpool2d: unknown option${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} (it takes size, stride, padding and outputSize)`);
  if (xShape.length !== 4) throw new ShapeError(`maxUnpool2d: x must be NHWC [N, H, W, C], got ${formatShape(xShape)}`);
  const [kh, kw] = pairOption('size', opts.size, 1);
  const [sh, sw] = opts.stride === undefined ? [kh, kw] : pairOption('stride', opts.stride, 1);
  const [ph, pw] = opts.padding === undefined ? [0, 0] : pairOption('padding', opts.padding, 0);
  const [n, h, w, c] = xShape;
  const dh = (h - 1) * sh - 2 * ph + kh;
  const dw = (w - 1) * sw - 2 * pw + kw;
  let [outH, outW] = [dh, dw];
  if (opts.outputSize !== undefined) {
    const size: unknown = opts.outputSize;
    if (Array.isArray(size) && size.length === 4) {
      // A whole NHWC shape (PyTorch takes a whole NCHW size too): its sample count and channels must be x's.
      if (size[0] !== n || size[3] !== c) throw new ShapeError(`maxUnpool2d: outputSize ${formatShape(size)} has another batch or channel count than x ${formatShape(xShape)}`);
      [outH, outW] = pairOption('outputSize', [size[1], size[2]], 1);
    } else [outH, outW] = pairOption('outputSize', size, 1);
    if (!(Math.abs(outH - dh) < sh && Math.abs(outW - dw) < sw)) {
      throw new ArgumentError(`maxUnpool2d: outputSize [${outH}, ${outW}] is not one a pool of size [${kh}, ${kw}], stride [${sh}, ${sw}] and padding [${ph}, ${pw}] takes to ${h}x${w}: each side must be within a stride of [${dh}, ${dw}]`);
    }
  }
  if (outH < 1 || outW < 1) throw new ShapeError(`maxUnpool2d: ${formatShape(xShape)} with size [${kh}, ${kw}], stride [${sh}, ${sw}] and padding [${ph}, ${pw}] unpools to ${outH}x${outW}`);
  if (outH * outW > MAX_INDEXED) throw new ShapeError(`maxUnpool2d: an output plane of ${outH}x${outW} is past float32's exact indices (2^24)`);
  return { n, h, w, c, outH, outW };
}

const PARAMS = 'struct Params { total: u32, perSample: u32, c: u32, plane: u32 }';

/** The output element an input element's index places it at (within its chunk), or none. */
const TARGET = /* wgsl */ `
fn placeOf(i: u32) -> u32 {
  let k = indices[i];
  if (${isNanBits('k', 'u32')} || k < 0.0 || k >= f32(params.plane) || floor(k) != k) { return 0xffffffffu; }
  let sample = i / params.perSample;
  return (sample * params.plane + u32(k)) * params.c + i % params.c;
}`;

/** Pass 1: each input element claims its place; the latest in NHWC order (its position in the sample, + 1) stays. */
const claimSpec: KernelSpec = {
  name: 'maxUnpool2d.claim',
  key: '',
  inputs: 1,
  outputs: 1,
  wgsl: () => /* wgsl */ `${PARAMS}
@group(0) @binding(0) var<storage, read> indices: array<f32>;
@group(0) @binding(1) var<storage, read_write> claims: array<atomic<u32>>;
@group(0) @binding(2) var<uniform> params: Params;
${TARGET}
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let i = ${linearIndex()};
  if (i >= params.total) { return; }
  let t = placeOf(i);
  if (t != 0xffffffffu) { atomicMax(&claims[t], i % params.perSample + 1u); }
}`,
};

/** Pass 2: each output element takes its claimant's value, or 0. params.total counts outputs here. */
const placeSpec: KernelSpec = {
  name: 'maxUnpool2d.forward',
  key: '',
  inputs: 2,
  outputs: 1,
  wgsl: () => /* wgsl */ `${PARAMS}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> claims: array<u32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let o = ${linearIndex()};
  if (o >= params.total) { return; }
  let s = claims[o];
  let sample = o / (params.plane * params.c);
  let source = select(0u, sample * params.perSample + s - 1u, s != 0u);
  y[o] = select(0.0, x[source], s != 0u);
}`,
};

/** Backward: each input element takes dy at its place where its claim won, else 0. */
const backwardSpec: KernelSpec = {
  name: 'maxUnpool2d.backward',
  key: '',
  inputs: 3,
  outputs: 1,
  wgsl: () => /* wgsl */ `${PARAMS}
@group(0) @binding(0) var<storage, read> indices: array<f32>;
@group(0) @binding(1) var<storage, read> claims: array<u32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;
${TARGET}
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let i = ${linearIndex()};
  if (i >= params.total) { return; }
  let t = placeOf(i);
  var g = 0.0;
  if (t != 0xffffffffu && claims[t] == i % params.perSample + 1u) { g = dy[t]; }
  dx[i] = g;
}`,
};

/** The chunks' params: `total` threads per sample, the sample's input size, C and the output plane. */
const chunkParams = (g: UnpoolGeometry, count: number, total: number): ArrayBuffer => packParams([u32(count * total), u32(g.h * g.w * g.c), u32(g.c), u32(g.outH * g.outW)]);

/** y and the claims (u32 bits in a tensor of y's shape: which input each place holds, + 1; 0 for none). */
export function maxUnpool2dForward(x: Tensor, indices: Tensor, opts: MaxUnpool2dOptions): { y: Tensor; claims: Tensor } {
  const g = unpoolGeometry(x.shape, opts);
  if (indices.shape.join() !== x.shape.join()) throw new ShapeError(`maxUnpool2d: indices ${indices.describe()} must have x's shape ${formatShape(x.shape)}`);
  const outShape = [g.n, g.outH, g.outW, g.c];
  const [perIn, perOut] = [g.h * g.w * g.c, g.outH * g.outW * g.c];
  // Planned before anything is allocated: a LimitError leaves nothing behind.
  const planY = planned('maxUnpool2d.out', outShape);
  const per = chunkItems('maxUnpool2d', g.n, [part(x, perIn), part(indices, perIn), part(planY, perOut), part(planY, perOut)]);
  const claims = emptyTensor(outShape, 'maxUnpool2d.claims');
  const y = emptyTensor(outShape, 'maxUnpool2d.out');
  if (y.size === 0) return { y, claims };
  runtime().clear(claims.buffer, 0, claims.size * 4);
  forEachChunk(g.n, per, (first, count) => {
    // keep: a staged chunk of the claims starts from the zeros just cleared.
    const claimed = range(claims, first * perOut, count * perOut, true);
    if (perIn > 0) dispatchChunk(claimSpec, [range(indices, first * perIn, count * perIn)], [claimed], chunkParams(g, count, perIn), linearGrid(count * perIn));
    dispatchChunk(placeSpec, [range(x, first * perIn, count * perIn), range(claims, first * perOut, count * perOut)], [range(y, first * perOut, count * perOut)], chunkParams(g, count, perOut), linearGrid(count * perOut));
  });
  return { y, claims };
}

/** dx of x's shape from dy (y's shape), the indices and the forward's claims. */
export function maxUnpool2dBackward(dy: Tensor, indices: Tensor, claims: Tensor, opts: MaxUnpool2dOptions): Tensor {
  const g = unpoolGeometry(indices.shape, opts);
  const [perIn, perOut] = [g.h * g.w * g.c, g.outH * g.outW * g.c];
  const per = chunkItems('maxUnpool2d backward', g.n, [part(indices, perIn), part(claims, perOut), part(dy, perOut), part(planned('maxUnpool2d.dx', indices.shape), perIn)]);
  const dx = emptyTensor(indices.shape, 'maxUnpool2d.dx');
  if (dx.size === 0) return dx;
  forEachChunk(g.n, per, (first, count) => {
    const inputs = [range(indices, first * perIn, count * perIn), range(claims, first * perOut, count * perOut), range(dy, first * perOut, count * perOut)];
    dispatchChunk(backwardSpec, inputs, [range(dx, first * perIn, count * perIn)], chunkParams(g, count, perIn), linearGrid(count * perIn));
  });
  return dx;
}

/**
 * PyTorch's max_unpool2d on NHWC: each value of x placed where `indices` (from
 * maxPool2dWithIndices, x's shape) says in its sample's channel plane of the output, zeros
 * elsewhere; differentiable in x (not in the indices).
 */
export function maxUnpool2d(x: Tensor, indices: Tensor, opts: MaxUnpool2dOptions): Tensor {
  expectTensor('maxUnpool2d', 'input x', x);
  expectTensor('maxUnpool2d', 'indices', indices);
  const { y, claims } = maxUnpool2dForward(x, indices, opts);
  const o = { ...opts };
  const out = record('maxUnpool2d', [x], y, (dy, _needs, [idx, won]) => [maxUnpool2dBackward(dy, idx, won, o)], [indices, claims]);
  claims.dispose();
  return out;
}

