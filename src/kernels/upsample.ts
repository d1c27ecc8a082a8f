// Resizing NHWC activations to [N, outH, outW, C] (up or down), per axis with r = in / out:
//
//   nearest:  src = floor(dst * in / out)                       (PyTorch / Keras 'nearest'; integer math)
//   bilinear: src = max((dst + 0.5) * r - 0.5, 0), i0 = floor(src), i1 = min(i0 + 1, in - 1),
//             y = lerp(x[i0], x[i1], src - i0) along each axis  (PyTorch align_corners=False)
//
// The output size is `size` or floor(in * scale). The coordinate mapping always uses in / out (PyTorch
// with recompute_scale_factor=True; identical to the default for integer scales).
// Nothing is saved for the backward, which is a gather: one thread per input pixel visits the output
// pixels that read it and sums dy times the weight they used, recomputed with the forward's arithmetic,
// so there are no float atomics and the gradient is exactly the forward's transpose.
// Both directions work per sample: past the binding limit (kernels/chunking.ts) they split along N.
// With C a multiple of 4, a thread takes four adjacent channels as a vec4: a quarter of the
// threads, index decoding and (on CPU adapters, lane by lane) loads and stores.

import { ShapeError } from '../errors.js';
import { f32, packParams, u32 } from '../gpu/params.js';
import type { KernelSpec } from '../gpu/runtime.js';
import { expectOptions, expectTensor } from '../graph/args.js';
import { record } from '../graph/autograd.js';
import { emptyTensor, formatShape, shapeSize, type Shape, type Tensor } from '../graph/tensor.js';
import { chunkItems, dispatchChunk, forEachChunk, part, planned, range } from './chunking.js';
import { decodeNhwc, LINEAR_MAIN_ARGS, linearGrid, linearIndex, vecType, vecWidth, type VecWidth } from './wgsl.js';

export type UpsampleMode = 'nearest' | 'bilinear';

export interface Upsample2dOptions {
  /** Output = floor(input * scale) per axis; give this or `size`. */
  scale?: number | readonly [number, number];
  /** Output [H, W]. */
  size?: readonly [number, number];
  mode: UpsampleMode;
}

/** Validates x's shape and the options; returns the output shape [N, outH, outW, C]. */
export function upsample2dShape(xShape: Shape, opts: Upsample2dOptions): [number, number, number, number] {
  if (xShape.length !== 4) throw new ShapeError(`upsample2d: expected an NHWC input of rank 4, got ${formatShape(xShape)}`);
  const [n, h, w, c] = xShape;
  if (h === 0 || w === 0) throw new ShapeError(`upsample2d: empty spatial size in ${formatShape(xShape)}`);
  if (opts.mode !== 'nearest' && opts.mode !== 'bilinear') throw new ShapeError(`upsample2d: mode must be 'nearest' or 'bilinear', got ${String(opts.mode)}`);
  if ((opts.scale === undefined) === (opts.size === undefined)) throw new ShapeError('upsample2d: give exactly one of scale and size');
  let out: [number, number];
  if (opts.size !== undefined) {
    out = [opts.size[0], opts.size[1]];
  } else {
    const s = opts.scale!;
    const [sh, sw] = typeof s === 'number' ? [s, s] : s;
    if (!(sh > 0 && sw > 0 && Number.isFinite(sh) && Number.isFinite(sw))) throw new ShapeError(`upsample2d: scale must be positive, got ${String(s)}`);
    out = [Math.floor(h * sh), Math.floor(w * sw)];
  }
  if (!out.every((d) => Number.isInteger(d) && d > 0)) {
    throw new ShapeError(`upsample2d: output size [${out}] must be positive integers (input ${formatShape(xShape)})`);
  }
  return [n, out[0], out[1], c];
}

/** total and c count vec4s for width 4. */
function params(total: number, xShape: Shape, outH: number, outW: number, width: VecWidth): ArrayBuffer {
  const [, h, w, c] = xShape;
  return packParams([u32(total / width), u32(h), u32(w), u32(c / width), u32(outH), u32(outW), f32(h / outH), f32(w / outW), f32(outH / h), f32(outW / w)]);
}

/** rh = h / outH (and rw) map output to input; gh = outH / h (and gw) bound the gather's search. */
const HEADER = /* wgsl */ `
struct Params { total: u32, h: u32, w: u32, c: u32, outH: u32, outW: u32, rh: f32, rw: f32, gh: f32, gw: f32 }`;


/** WGSL shared by the bilinear kernels: the two taps and the weight of the second along one axis. */
const BILINEAR_TAPS = /* wgsl */ `
struct Taps { i0: u32, i1: u32, t: f32 }
fn taps(dst: u32, size: u32, ratio: f32) -> Taps {
  let src = max((f32(dst) + 0.5) * ratio - 0.5, 0.0);
  let i0 = min(u32(src), size - 1u);
  return Taps(i0, min(i0 + 1u, size - 1u), src - f32(i0));
}
// The weight output position dst gives input position i (both taps may be i at the edge).
fn weight(dst: u32, i: u32, size: u32, ratio: f32) -> f32 {
  let k = taps(dst, size, ratio);
  return select(0.0, 1.0 - k.t, k.i0 == i) + select(0.0, k.t, k.i1 == i);
}`;

function spec(mode: UpsampleMode, direction: 'forward' | 'backward', width: VecWidth): KernelSpec {
  const body = BODIES[mode][direction];
  const [a, b] = direction === 'forward' ? ['x', 'y'] : ['dy', 'dx'];
  return {
    name: `upsample2d.${direction}`,
    key: `${mode}w${width}`,
    inputs: 1,
    outputs: 1,
    wgsl: () => /* wgsl */ `${HEADER}
alias T = ${vecType(width)};
${mode === 'bilinear' ? BILINEAR_TAPS : ''}
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
  bilinear: {
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
    // Output dst reads input i only when its src lies in (i - 1, i + 1), that is
    // dst in ((i - 0.5) * g - 0.5, (i + 1.5) * g - 0.5) with g = out / in; one position of margin
    // each side absorbs float rounding, and weight() decides exactly.
    backward: /* wgsl */ `
  let oh0 = max(i32(floor((f32(row) - 0.5) * params.gh - 0.5)) - 1, 0);
  let oh1 = min(i32(ceil((f32(row) + 1.5) * params.gh - 0.5)) + 1, i32(params.outH) - 1);
  let ow0 = max(i32(floor((f32(col) - 0.5) * params.gw - 0.5)) - 1, 0);
  let ow1 = min(i32(ceil((f32(col) + 1.5) * params.gw - 0.5)) + 1, i32(params.outW) - 1);
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
  },
} as const;

/**
 * A new tensor of dstShape, one thread per element (per vec4 for width 4), in chunks of whole
 * samples when a binding would exceed the limit.
 */
function samplePass(k: KernelSpec, src: Tensor, dstShape: Shape, label: string, xShape: Shape, outShape: Shape, width: VecWidth): Tensor {
  const n = xShape[0];
  const [s, d] = n === 0 ? [0, 0] : [src.size / n, shapeSize(dstShape) / n];
  const per = chunkItems(k.name, n, [part(src, s), part(planned(label, dstShape), d)]);
  const dst = emptyTensor(dstShape, label);
  forEachChunk(n, per, (n0, count) => {
    const p = params(count * d, xShape, outShape[1], outShape[2], width);
    dispatchChunk(k, [range(src, n0 * s, count * s)], [range(dst, n0 * d, count * d)], p, linearGrid((count * d) / width));
  });
  return dst;
}

export function upsample2dForward(x: Tensor, opts: Upsample2dOptions): Tensor {
  const outShape = upsample2dShape(x.shape, opts);
  const width = vecWidth(x.shape[3]);
  return samplePass(spec(opts.mode, 'forward', width), x, outShape, 'upsample2d.out', x.shape, outShape, width);
}

/** dx of xShape: the transpose of the forward's sampling. */
export function upsample2dBackward(dy: Tensor, xShape: Shape, opts: Upsample2dOptions): Tensor {
  const outShape = upsample2dShape(xShape, opts);
  if (dy.shape.join() !== outShape.join()) {
    throw new ShapeError(`upsample2d backward: dy ${formatShape(dy.shape)} must be ${formatShape(outShape)}`);
  }
  const width = vecWidth(xShape[3]);
  return samplePass(spec(opts.mode, 'backward', width), dy, xShape, 'upsample2d.dx', xShape, outShape, width);
}

export function upsample2d(x: Tensor, opts: Upsample2dOptions): Tensor {
  expectTensor('upsample2d', 'input x', x);
  expectOptions('upsample2d', opts, "{ scale: 2, mode: 'nearest' }", true);
  const y = upsample2dForward(x, opts);
  const xShape = x.shape;
  const o = { ...opts };
  return record('upsample2d', [x], y, (dy) => [upsample2dBackward(dy, xShape, o)]);
}
