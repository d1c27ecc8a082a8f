// Resizing NHWC activations to [N, outH, outW, C] (up or down). Per axis, output position dst
// reads input position src = dst · r, where r is what PyTorch's interpolate uses (align_corners=False,
// recompute_scale_factor unset): 1 / scale when a scale is given, in / out when a size is.
//
//   nearest:  src = min(floor(dst · r), in − 1)                 (PyTorch / Keras 'nearest'; the default)
//   bilinear: src = max((dst + 0.5) · r − 0.5, 0), i0 = floor(src), i1 = min(i0 + 1, in − 1),
//             y = lerp(x[i0], x[i1], src − i0) along each axis  (PyTorch align_corners=False)
//   bilinear, alignCorners: src = dst · r with r = (in − 1) / (out − 1), 0 for out = 1, whatever
//             the scale (PyTorch align_corners=True: the corner pixels' centres meet)
//
// The output size is `size` or floor(in · scale). Where in · scale is whole on both axes, 1 / scale
// is in / out, and nearest runs in integer math, exactly; a fractional product makes the two
// ratios differ (5 rows at scale 1.5: 7 rows, r = 2/3, not 5/7), and nearest then multiplies by
// r in float32 as PyTorch does, so that a product landing on a whole number rounds as PyTorch's.
// Nothing is saved for the backward, which is a gather: one thread per input pixel visits the output
// pixels that read it and sums dy times the weight they used, recomputed with the forward's arithmetic,
// so there are no float atomics and the gradient is exactly the forward's transpose.
// Both directions work per sample: past the binding limit (kernels/chunking.ts) they split along N.
// With C a multiple of 4, a thread takes four adjacent channels as a vec4: a quarter of the
// threads, index decoding and (on CPU adapters, lane by lane) loads and stores.

import { ArgumentError, ShapeError } from '../errors.js';
import { f32, packParams, u32 } from '../gpu/params.js';
import type { KernelSpec } from '../gpu/runtime.js';
import { describeValue, expectChoice, expectKnownOptions, expectOptionalBoolean, expectOptions, expectTensor } from '../graph/args.js';
import { record } from '../graph/autograd.js';
import { emptyTensor, formatShape, shapeSize, type Shape, type Tensor } from '../graph/tensor.js';
import { chunkItems, dispatchChunk, forEachChunk, part, planned, range } from './chunking.js';
import { decodeNhwc, LINEAR_MAIN_ARGS, linearGrid, linearIndex, vecType, vecWidth, type VecWidth } from './wgsl.js';

export type UpsampleMode = 'nearest' | 'bilinear';

export interface Upsample2dOptions {
  /** Output = floor(input * scale) per axis, read back at src = dst / scale (PyTorch's); give this or `size`. */
  scale?: number | readonly [number, number];
  /** Output [H, W]. */
  size?: readonly [number, number];
  /** Default 'nearest', as nn.Upsample and PyTorch's interpolate. */
  mode?: UpsampleMode;
  /** Bilinear only: PyTorch's align_corners=True (see above). Default false, PyTorch's default and Keras's. */
  alignCorners?: boolean;
}

const OP = 'upsample2d';

/** [sh, sw] from `scale`, or null where a size is given instead. */
function scalePair(opts: Upsample2dOptions): [number, number] | null {
  const s: unknown = opts.scale;
  if (s === undefined) return null;
  const pair = typeof s === 'number' ? [s, s] : Array.isArray(s) && s.length === 2 ? (s as unknown[]) : null;
  if (!pair || !pair.every((v) => typeof v === 'number' && v > 0 && Number.isFinite(v))) {
    throw new ArgumentError(`${OP}: scale must be a positive number or a pair [sh, sw] of them, got ${Array.isArray(s) ? JSON.stringify(s) : describeValue(s)}`);
  }
  return pair as [number, number];
}

/** The output [H, W] from `size`: a pair of positive integers. */
function sizePair(size: unknown): [number, number] {
  if (!Array.isArray(size) || size.length !== 2 || !size.every((d) => typeof d === 'number' && Number.isInteger(d) && d > 0)) {
    throw new ArgumentError(`${OP}: size must be a pair [H, W] of positive integers, got ${Array.isArray(size) ? JSON.stringify(size) : describeValue(size)}`);
  }
  return size as [number, number];
}

/** Validates x's shape and the options; returns the output shape [N, outH, outW, C]. */
export function upsample2dShape(xShape: Shape, opts: Upsample2dOptions): [number, number, number, number] {
  expectOptions(OP, opts, "{ scale: 2, mode: 'nearest' }", true);
  expectKnownOptions(OP, opts, ['scale', 'size', 'mode', 'alignCorners']);
  if (xShape.length !== 4) throw new ShapeError(`${OP}: expected an NHWC input x of rank 4, got ${formatShape(xShape)}`);
  const [n, h, w, c] = xShape;
  if (h === 0 || w === 0) throw new ShapeError(`${OP}: empty spatial size in ${formatShape(xShape)}`);
  expectChoice(OP, 'mode', opts.mode, ['nearest', 'bilinear']);
  expectOptionalBoolean(OP, 'alignCorners', opts.alignCorners);
  // PyTorch refuses it too: nearest has no corners to align.
  if (opts.alignCorners && opts.mode !== 'bilinear') throw new ArgumentError(`${OP}: alignCorners needs mode 'bilinear'`);
  if ((opts.scale === undefined) === (opts.size === undefined)) throw new ArgumentError(`${OP}: give exactly one of scale and size`);
  const scale = scalePair(opts);
  const out = scale ? [Math.floor(h * scale[0]), Math.floor(w * scale[1])] : sizePair(opts.size);
  if (!out.every((d) => d > 0)) {
    throw new ShapeError(`${OP}: scale ${JSON.stringify(opts.scale)} leaves no output pixels: ${formatShape(xShape)} would become ${out[0]}x${out[1]}`);
  }
  return [n, out[0], out[1], c];
}

/** Output-to-input ratio per axis: 1 / scale when a scale is given (PyTorch's), else in / out; aligned corners (in − 1) / (out − 1). */
function ratios(xShape: Shape, outShape: Shape, opts: Upsample2dOptions): [number, number] {
  const aligned = (i: number, o: number) => (o > 1 ? (i - 1) / (o - 1) : 0);
  if (opts.alignCorners) return [aligned(xShape[1], outShape[1]), aligned(xShape[2], outShape[2])];
  const scale = scalePair(opts);
  return scale ? [1 / scale[0], 1 / scale[1]] : [xShape[1] / outShape[1], xShape[2] / outShape[2]];
}

/**
 * What a kernel samples with: the mode, and for nearest whether it needs the float ratio (a
 * scale whose product with the input size is fractional) or the exact integer in / out.
 */
type Sampling = UpsampleMode | 'nearestScaled' | 'bilinearAligned';

function samplingOf(xShape: Shape, outShape: Shape, opts: Upsample2dOptions): Sampling {
  if (opts.mode === 'bilinear') return opts.alignCorners ? 'bilinearAligned' : 'bilinear';
  const [rh, rw] = ratios(xShape, outShape, opts);
  // The integer path matches PyTorch's floor(dst · float32(1/scale)) only where that ratio is
  // exact in float32 too (in / out a power of two): at scale 41, row 41 rounds under a whole 1.
  const exactIn32 = (r: number, inSize: number, outSize: number) => r === inSize / outSize && Math.fround(r) === r;
  return exactIn32(rh, xShape[1], outShape[1]) && exactIn32(rw, xShape[2], outShape[2]) ? 'nearest' : 'nearestScaled';
}

/** total and c count vec4s for width 4; `ratio` is [rh, rw] (see ratios). */
function params(total: number, xShape: Shape, outH: number, outW: number, ratio: [number, number], width: VecWidth): ArrayBuffer {
  const [, h, w, c] = xShape;
  const [rh, rw] = ratio;
  // A ratio of 0 (aligned corners, one input or output pixel): any g of at least out spans every output.
  const [gh, gw] = [rh > 0 ? 1 / rh : outH, rw > 0 ? 1 / rw : outW];
  return packParams([u32(total / width), u32(h), u32(w), u32(c / width), u32(outH), u32(outW), f32(rh), f32(rw), f32(gh), f32(gw)]);
}

/** rh, rw map output to input (src = dst · r); gh = 1 / rh (and gw) bound the gather's search. */
const HEADER = /* wgsl */ `
struct Params { total: u32, h: u32, w: u32, c: u32, outH: u32, outW: u32, rh: f32, rw: f32, gh: f32, gw: f32 }`;


/**
 * WGSL shared by the bilinear kernels: the two taps and the weight of the second along one axis.
 * `offset` is the half-pixel shift, '0.5' (align_corners=False) or '0.0' (aligned corners).
 */
const bilinearTaps = (offset: string): string => /* wgsl */ `
struct Taps { i0: u32, i1: u32, t: f32 }
fn taps(dst: u32, size: u32, ratio: f32) -> Taps {
  let src = max((f32(dst) + ${offset}) * ratio - ${offset}, 0.0);
  let i0 = min(u32(src), size - 1u);
  return Taps(i0, min(i0 + 1u, size - 1u), src - f32(i0));
}
// The weight output position dst gives input position i (both taps may be i at the edge).
fn weight(dst: u32, i: u32, size: u32, ratio: f32) -> f32 {
  let k = taps(dst, size, ratio);
  return select(0.0, 1.0 - k.t, k.i0 == i) + select(0.0, k.t, k.i1 == i);
}`;

/** WGSL of nearest with a float ratio: PyTorch's min(floor(dst * r), size - 1), in float32 as PyTorch's. */
const NEAREST_SOURCE = /* wgsl */ `
fn source(dst: u32, size: u32, ratio: f32) -> u32 {
  return min(u32(floor(f32(dst) * ratio)), size - 1u);
}`;

function spec(mode: Sampling, direction: 'forward' | 'backward', width: VecWidth): KernelSpec {
  const body = BODIES[mode][direction];
  const [a, b] = direction === 'forward' ? ['x', 'y'] : ['dy', 'dx'];
  return {
    name: `upsample2d.${direction}`,
    key: `${mode}w${width}`,
    inputs: 1,
    outputs: 1,
    wgsl: () => /* wgsl */ `${HEADER}
alias T = ${vecType(width)};
${mode === 'bilinear' ? bilinearTaps('0.5') : mode === 'bilinearAligned' ? bilinearTaps('0.0') : mode === 'nearestScaled' ? NEAREST_SOURCE : ''}
@group(0) @binding(0) var<storage, read> ${a}: array<T>;
@group(0) @binding(1) var<storage, read_write> ${b}: array<T>;
@group(0) @binding(2) var<uniform> params: Params;
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let i = ${linearIndex()};
  if (i >= params.total) { return; }
  ${direction === 'forward' ? decodeNhwc('params.outH', 'params.outW') : decodeNhwc('params.h', 'params.w')}
  ${body}
}`,
  };
}

/**
 * The bilinear kernels' bodies for half-pixel offset o. The backward: output dst reads input i
 * only when its src = (dst + o)·r − o lies in (i − 1, i + 1), that is dst in
 * ((i − 1 + o)·g − o, (i + 1 + o)·g − o) with g = 1 / r; one position of margin each side
 * absorbs float rounding, and weight() decides exactly.
 */
function bilinearBodies(o: string): { forward: string; backward: string } {
  return {
    forward: /* wgsl */ `
  let ky = taps(row, params.h, params.rh);
  let kx = taps(col, params.w, params.rw);
  let base = n * params.h;
  let v00 = x[((base + ky.i0) * params.w + kx.i0) * params.c + ch];
  let v01 = x[((base + ky.i0) * params.w + kx.i1) * params.c + ch];
  let v10 = x[((base + ky.i1) * params.w + kx.i0) * params.c + ch];
  let v11 = x[((base + ky.i1) * params.w + kx.i1) * params.c + ch];
  let top = v00 + (v01 - v00) * kx.t;
  let bottom = v10 + (v11 - v10) * kx.t;
  y[i] = top + (bottom - top) * ky.t;`,
    backward: /* wgsl */ `
  let oh0 = max(i32(floor((f32(row) - 1.0 + ${o}) * params.gh - ${o})) - 1, 0);
  let oh1 = min(i32(ceil((f32(row) + 1.0 + ${o}) * params.gh - ${o})) + 1, i32(params.outH) - 1);
  let ow0 = max(i32(floor((f32(col) - 1.0 + ${o}) * params.gw - ${o})) - 1, 0);
  let ow1 = min(i32(ceil((f32(col) + 1.0 + ${o}) * params.gw - ${o})) + 1, i32(params.outW) - 1);
  var acc = T(0.0);
  for (var oh = oh0; oh <= oh1; oh++) {
    let wy = weight(u32(oh), row, params.h, params.rh);
    if (wy == 0.0) { continue; }
    for (var ow = ow0; ow <= ow1; ow++) {
      let wx = weight(u32(ow), col, params.w, params.rw);
      acc += wy * wx * dy[((n * params.outH + u32(oh)) * params.outW + u32(ow)) * params.c + ch];
    }
  }
  dx[i] = acc;`,
  };
}

const BODIES = {
  nearest: {
    forward: /* wgsl */ `
  let ih = row * params.h / params.outH;
  let iw = col * params.w / params.outW;
  y[i] = x[((n * params.h + ih) * params.w + iw) * params.c + ch];`,
    // Output rows reading input row `row`: ceil(row * outH / h) .. ceil((row + 1) * outH / h) - 1.
    backward: /* wgsl */ `
  let oh0 = (row * params.outH + params.h - 1u) / params.h;
  let oh1 = ((row + 1u) * params.outH + params.h - 1u) / params.h;
  let ow0 = (col * params.outW + params.w - 1u) / params.w;
  let ow1 = ((col + 1u) * params.outW + params.w - 1u) / params.w;
  var acc = T(0.0);
  for (var oh = oh0; oh < oh1; oh++) {
    for (var ow = ow0; ow < ow1; ow++) {
      acc += dy[((n * params.outH + oh) * params.outW + ow) * params.c + ch];
    }
  }
  dx[i] = acc;`,
  },
  nearestScaled: {
    forward: /* wgsl */ `
  let ih = source(row, params.h, params.rh);
  let iw = source(col, params.w, params.rw);
  y[i] = x[((n * params.h + ih) * params.w + iw) * params.c + ch];`,
    // Output rows reading input row `row` lie near row * gh .. (row + 1) * gh; one row of margin
    // each side absorbs float rounding, and source() decides exactly, as the forward did.
    backward: /* wgsl */ `
  let oh0 = max(i32(floor(f32(row) * params.gh)) - 1, 0);
  let oh1 = min(i32(ceil(f32(row + 1u) * params.gh)) + 1, i32(params.outH) - 1);
  let ow0 = max(i32(floor(f32(col) * params.gw)) - 1, 0);
  let ow1 = min(i32(ceil(f32(col + 1u) * params.gw)) + 1, i32(params.outW) - 1);
  var acc = T(0.0);
  for (var oh = oh0; oh <= oh1; oh++) {
    if (source(u32(oh), params.h, params.rh) != row) { continue; }
    for (var ow = ow0; ow <= ow1; ow++) {
      if (source(u32(ow), params.w, params.rw) != col) { continue; }
      acc += dy[((n * params.outH + u32(oh)) * params.outW + u32(ow)) * params.c + ch];
    }
  }
  dx[i] = acc;`,
  },
  bilinear: bilinearBodies('0.5'),
  bilinearAligned: bilinearBodies('0.0'),
} satisfies Record<Sampling, { forward: string; backward: string }>;

/**
 * A new tensor of dstShape, one thread per element (per vec4 for width 4), in chunks of whole
 * samples when a binding would exceed the limit.
 */
function samplePass(k: KernelSpec, src: Tensor, dstShape: Shape, label: string, xShape: Shape, outShape: Shape, ratio: [number, number], width: VecWidth): Tensor {
  const n = xShape[0];
  const [s, d] = n === 0 ? [0, 0] : [src.size / n, shapeSize(dstShape) / n];
  const per = chunkItems(k.name, n, [part(src, s), part(planned(label, dstShape), d)]);
  const dst = emptyTensor(dstShape, label);
  forEachChunk(n, per, (n0, count) => {
    const p = params(count * d, xShape, outShape[1], outShape[2], ratio, width);
    dispatchChunk(k, [range(src, n0 * s, count * s)], [range(dst, n0 * d, count * d)], p, linearGrid((count * d) / width));
  });
  return dst;
}

export function upsample2dForward(x: Tensor, opts: Upsample2dOptions): Tensor {
  const outShape = upsample2dShape(x.shape, opts);
  const width = vecWidth(x.shape[3]);
  const k = spec(samplingOf(x.shape, outShape, opts), 'forward', width);
  return samplePass(k, x, outShape, 'upsample2d.out', x.shape, outShape, ratios(x.shape, outShape, opts), width);
}

/** dx of xShape: the transpose of the forward's sampling. */
export function upsample2dBackward(dy: Tensor, xShape: Shape, opts: Upsample2dOptions): Tensor {
  const outShape = upsample2dShape(xShape, opts);
  if (dy.shape.join() !== outShape.join()) {
    throw new ShapeError(`upsample2d backward: dy ${formatShape(dy.shape)} must be ${formatShape(outShape)}`);
  }
  const width = vecWidth(xShape[3]);
  const k = spec(samplingOf(xShape, outShape, opts), 'backward', width);
  return samplePass(k, dy, xShape, 'upsample2d.dx', xShape, outShape, ratios(xShape, outShape, opts), width);
}

export function upsample2d(x: Tensor, opts: Upsample2dOptions): Tensor {
  expectTensor('upsample2d', 'input x', x);
  const y = upsample2dForward(x, opts);
  const xShape = x.shape;
  const o = { ...opts };
  return record('upsample2d', [x], y, (dy) => [upsample2dBackward(dy, xShape, o)]);
}
