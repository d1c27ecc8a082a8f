// Pooling over NHWC activations.
//
//   maxPool2d:       y[n,oh,ow,c] = max over the window of x[n, oh*sh - padTop + i, ow*sw - padLeft + j, c]
//   avgPool2d:       the window's sum over its real pixels, divided as pool-geometry.ts says (TF's
//                    'same' by the real pixels alone; PyTorch's padding=p by k*k less the ceil-mode overhang
//                    unless countIncludePad is false; or by divisorOverride)
//   globalAvgPool2d: y[n,c] = mean over h, w of x[n,h,w,c]          [N,H,W,C] -> [N,C]
//
// Windows ('valid', TF's 'same', PyTorch's explicit padding and ceil_mode), the output size and the
// divisor are worked out in pool-geometry.ts. Padded positions never win a max: every window holds a
// real pixel (pool-geometry.ts shows why), and the max is taken over those alone, which is PyTorch's
// -inf padding without reading it.
//
// Max pool saves the winner of every window (argmax: a u32 tensor of y's shape holding h * W + w of the
// winning input pixel; the first maximum in scan order wins ties). A NaN wins its window wherever
// it lies, as in PyTorch (whose max pool propagates NaN and points its index at it), the first NaN
// in scan order where PyTorch's kernels (CPU and CUDA) point at the last: only which NaN input
// receives dy differs. NaN is read from the bits, since WGSL leaves comparisons with NaN to the compiler.
// Both backwards are gathers: one thread per input pixel visits the few windows that contain it and
// sums what they send back, so overlapping windows (stride < size) need no atomics and every dy
// reaches its winner exactly once. Where the windows tile the image (stride = size) one thread per
// window scatters instead (disjointBackward).
//
// Every kernel here works per sample, so past the binding limit (kernels/chunking.ts) each splits
// along N: one dispatch per chunk of whole samples, its params counting only that chunk.

import { ArgumentError, ShapeError } from '../errors.js';
import { f32, packParams, u32 } from '../gpu/params.js';
import type { KernelSpec } from '../gpu/runtime.js';
import { describeValue, expectTensor } from '../graph/args.js';
import { record } from '../graph/autograd.js';
import { emptyTensor, formatShape, type Shape, type Tensor } from '../graph/tensor.js';
import { chunkItems, dispatchChunk, forEachChunk, part, planned, range, runPerSample } from './chunking.js';
import { expandMiddle } from './reduce.js';
import { decodeNhwc, isNanBits, LINEAR_MAIN_ARGS, linearIndex, vecWidth, workgroupGrid, type VecWidth } from './wgsl.js';
import {
  AVG_POOL_OPTIONS,
  COVERING,
  DIVISOR,
  MAX_POOL_OPTIONS,
  pool2dGeometry,
  poolParams,
  POOL_PARAMS,
  TYPES,
  WINDOW,
  type AvgPool2dOptions,
  type Pool2dGeometry,
  type Pool2dOptions,
} from './pool-geometry.js';

export { pool2dGeometry, type AvgPool2dOptions, type Pool2dGeometry, type Pool2dOptions } from './pool-geometry.js';

/** A windowed pool kernel over chunks of samples (chunking.ts's runPerSample), with the pool's params. */
function poolPass(spec: KernelSpec, g: Pool2dGeometry, inputs: Tensor[], outputs: [string, Shape][], threadsPerSample?: number, width: VecWidth = 1): Tensor[] {
  return runPerSample(spec, g.n, inputs, outputs, (threads) => poolParams(g, threads, width), threadsPerSample, width);
}

// ---------------------------------------------------------------------------------------------
// Backward where the windows tile the image (stride = size): both pools

/**
 * WGSL body: one thread per window writes every pixel of its cell of dx (`value`, a T of the
 * pixel's ih, iw and at = ih * W + iw, after the window's `prelude`), instead of one thread per
 * input pixel searching the windows that cover it. For 2x2 (the U-Net's pools) a quarter of the
 * threads, no loads per pixel, and a quarter of the index decoding, which dominates on CPU adapters
 * (an integer division there is a scalar division per lane): the avg pool's gather took 11-19 ms on
 * [4,128,128,16] 2x2 there against 0.4-1.2 ms for the max pool's backward of this kind. The last
 * row and column of cells also take the strip no window reaches ('valid' leftovers), and a
 * ceil-mode window is clipped to the image, so every pixel of dx is written exactly once.
 */
function disjointBackward(prelude: string, value: string): string {
  return /* wgsl */ `
  ${decodeNhwc('params.outH', 'params.outW')}
  ${WINDOW}
  ${prelude}
  let rowEnd = select(h1, i32(params.h), row == params.outH - 1u);
  let colEnd = select(w1, i32(params.w), col == params.outW - 1u);
  let plane = n * params.h * params.w;
  for (var ih = h0; ih < rowEnd; ih++) {
    for (var iw = w0; iw < colEnd; iw++) {
      let at = u32(ih) * params.w + u32(iw);
      dx[(plane + at) * params.c + ch] = ${value};
    }
  }`;
}

const tiles = (g: Pool2dGeometry): boolean => g.sh === g.kh && g.sw === g.kw && g.dh === 1 && g.dw === 1;

// ---------------------------------------------------------------------------------------------
// Max pool

const maxForwardSpec = (width: VecWidth): KernelSpec => ({
  name: 'maxPool2d.forward',
  key: `w${width}`,
  inputs: 1,
  outputs: 2,
  wgsl: () => /* wgsl */ `${POOL_PARAMS}
${TYPES(width)}
@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read_write> y: array<T>;
@group(0) @binding(2) var<storage, read_write> argmax: array<U>;
@group(0) @binding(3) var<uniform> params: Params;
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let i = ${linearIndex()};
  if (i >= params.total) { return; }
  ${decodeNhwc('params.outH', 'params.outW')}
  ${WINDOW}
  // No window lies wholly in padding (pool-geometry.ts), so (h0, w0) is a real pixel, its first tap.
  let first = u32(h0) * params.w + u32(w0);
  var bestAt = U(first);
  var best = x[(n * params.h * params.w + first) * params.c + ch];
  var bestIsNan = ${isNanBits('best', 'U')};
  for (var ih = h0; ih < h1; ih += dh) {
    for (var iw = w0; iw < w1; iw += dw) {
      let at = u32(ih) * params.w + u32(iw);
      let v = x[(n * params.h * params.w + at) * params.c + ch];
      let vIsNan = ${isNanBits('v', 'U')};
      // Strictly greater: the first maximum in scan order wins ties, per channel. A NaN beats any
      // number, and once the best is NaN nothing replaces it (whatever v > best says about a NaN
      // is masked by the bit tests, which a compiler cannot assume away).
      let better = ((v > best) | vIsNan) & !bestIsNan;
      best = select(best, v, better);
      bestAt = select(bestAt, U(at), better);
      bestIsNan = bestIsNan | vIsNan;
    }
  }
  y[i] = best;
  argmax[i] = bestAt;
}`,
});
const MAX_FORWARD = { 1: maxForwardSpec(1), 4: maxForwardSpec(4) } as const;

/** One thread per input pixel: visits the windows that cover it and sums what their winners got. */
const GATHER_BACKWARD = /* wgsl */ `
  ${decodeNhwc('params.h', 'params.w')}
  ${COVERING}
  let me = U(row * params.w + col);
  var acc = T(0.0);
  for (var oh = oh0; oh <= oh1; oh++) {
    for (var ow = ow0; ow <= ow1; ow++) {
      let o = ((n * params.outH + u32(oh)) * params.outW + u32(ow)) * params.c + ch;
      acc += select(T(0.0), dy[o], argmax[o] == me);
    }
  }
  dx[i] = acc;`;

/**
 * The gather with dilation: a pixel is tap (a, b) of window (oh, ow) where its padded row less
 * a·dh is a multiple of sh (columns alike), so it visits each tap position rather than a range of
 * windows. A pixel is at most one tap of a window, so no dy is counted twice.
 */
const DILATED_GATHER_BACKWARD = /* wgsl */ `
  ${decodeNhwc('params.h', 'params.w')}
  let ph = i32(row + params.padTop);
  let pw = i32(col + params.padLeft);
  let me = U(row * params.w + col);
  var acc = T(0.0);
  for (var a = 0; a < i32(params.kh); a++) {
    let th = ph - a * i32(params.dh);
    if (th < 0 || th % i32(params.sh) != 0 || th / i32(params.sh) >= i32(params.outH)) { continue; }
    let oh = u32(th / i32(params.sh));
    for (var b = 0; b < i32(params.kw); b++) {
      let tw = pw - b * i32(params.dw);
      if (tw < 0 || tw % i32(params.sw) != 0 || tw / i32(params.sw) >= i32(params.outW)) { continue; }
      let o = ((n * params.outH + oh) * params.outW + u32(tw / i32(params.sw))) * params.c + ch;
      acc += select(T(0.0), dy[o], argmax[o] == me);
    }
  }
  dx[i] = acc;`;

/** Each window's dy to its winner, zeros to the rest of its cell. */
const DISJOINT_MAX_BACKWARD = disjointBackward('let winner = argmax[i];\n  let g = dy[i];', 'select(T(0.0), g, U(at) == winner)');

/** The max pool's backwards: dy and the forward's argmax in, dx out; `disjoint` picks the body. */
type MaxBackward = 'gather' | 'disjoint' | 'dilated';
const maxBackwardSpec = (width: VecWidth, kind: MaxBackward): KernelSpec => ({
  name: kind === 'disjoint' ? 'maxPool2d.backwardDisjoint' : 'maxPool2d.backward',
  key: kind === 'dilated' ? `w${width},dilated` : `w${width}`,
  inputs: 2,
  outputs: 1,
  wgsl: () => /* wgsl */ `${POOL_PARAMS}
${TYPES(width)}
@group(0) @binding(0) var<storage, read> dy: array<T>;
@group(0) @binding(1) var<storage, read> argmax: array<U>;
@group(0) @binding(2) var<storage, read_write> dx: array<T>;
@group(0) @binding(3) var<uniform> params: Params;
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let i = ${linearIndex()};
  if (i >= params.total) { return; }
  ${{ gather: GATHER_BACKWARD, disjoint: DISJOINT_MAX_BACKWARD, dilated: DILATED_GATHER_BACKWARD }[kind]}
}`,
});
const MAX_BACKWARD = { 1: maxBackwardSpec(1, 'gather'), 4: maxBackwardSpec(4, 'gather') } as const;
const MAX_BACKWARD_DISJOINT = { 1: maxBackwardSpec(1, 'disjoint'), 4: maxBackwardSpec(4, 'disjoint') } as const;
const MAX_BACKWARD_DILATED = { 1: maxBackwardSpec(1, 'dilated'), 4: maxBackwardSpec(4, 'dilated') } as const;

/** y and the winners' positions (u32 bits in a tensor of y's shape: not float data, only for the backward). */
export function maxPool2dForward(x: Tensor, opts: Pool2dOptions, op = 'maxPool2d'): { y: Tensor; argmax: Tensor } {
  const g = pool2dGeometry(op, x.shape, opts, MAX_POOL_OPTIONS);
  const shape = [g.n, g.outH, g.outW, g.c];
  const width = vecWidth(g.c);
  const [y, argmax] = poolPass(MAX_FORWARD[width], g, [x], [['maxPool2d.out', shape], ['maxPool2d.argmax', shape]], undefined, width);
  return { y, argmax };
}

/** dx of x's shape: each dy goes to its window's winner; a pixel winning several windows sums them. */
export function maxPool2dBackward(dy: Tensor, argmax: Tensor, xShape: Shape, opts: Pool2dOptions): Tensor {
  const g = pool2dGeometry('maxPool2d', xShape, opts, MAX_POOL_OPTIONS);
  const yShape = [g.n, g.outH, g.outW, g.c];
  if (dy.shape.join() !== yShape.join() || argmax.shape.join() !== yShape.join()) {
    throw new ShapeError(`maxPool2d backward: dy ${formatShape(dy.shape)} and argmax ${formatShape(argmax.shape)} must be ${formatShape(yShape)}`);
  }
  const width = vecWidth(g.c);
  if (tiles(g)) return poolPass(MAX_BACKWARD_DISJOINT[width], g, [dy, argmax], [['maxPool2d.dx', xShape]], g.outH * g.outW * g.c, width)[0];
  const spec = g.dh === 1 && g.dw === 1 ? MAX_BACKWARD : MAX_BACKWARD_DILATED;
  return poolPass(spec[width], g, [dy, argmax], [['maxPool2d.dx', xShape]], undefined, width)[0];
}

/** Differentiable max pool; the argmax lives on the tape until the backward has run. */
export function maxPool2d(x: Tensor, opts: Pool2dOptions): Tensor {
  expectTensor('maxPool2d', 'input x', x);
  const { y, argmax } = maxPool2dForward(x, opts);
  const xShape = x.shape;
  const o = { ...opts };
  record('maxPool2d', [x], y, (dy, _needs, [winners]) => [maxPool2dBackward(dy, winners, xShape, o)], [argmax]);
  argmax.dispose();
  return y;
}

// ---------------------------------------------------------------------------------------------
// Average pool (windowed)

const avgForwardSpec: KernelSpec = {
  name: 'avgPool2d.forward',
  key: '',
  inputs: 1,
  outputs: 1,
  wgsl: () => /* wgsl */ `${POOL_PARAMS}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
${DIVISOR}
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let i = ${linearIndex()};
  if (i >= params.total) { return; }
  ${decodeNhwc('params.outH', 'params.outW')}
  ${WINDOW}
  var acc = 0.0;
  for (var ih = h0; ih < h1; ih++) {
    for (var iw = w0; iw < w1; iw++) {
      acc += x[((n * params.h + u32(ih)) * params.w + u32(iw)) * params.c + ch];
    }
  }
  y[i] = acc / divisor(top, left);
}`,
};

const avgBackwardSpec: KernelSpec = {
  name: 'avgPool2d.backward',
  key: '',
  inputs: 1,
  outputs: 1,
  wgsl: () => /* wgsl */ `${POOL_PARAMS}
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read_write> dx: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
${DIVISOR}
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let i = ${linearIndex()};
  if (i >= params.total) { return; }
  ${decodeNhwc('params.h', 'params.w')}
  ${COVERING}
  var acc = 0.0;
  for (var oh = oh0; oh <= oh1; oh++) {
    let top = oh * i32(params.sh) - i32(params.padTop);
    for (var ow = ow0; ow <= ow1; ow++) {
      let left = ow * i32(params.sw) - i32(params.padLeft);
      acc += dy[((n * params.outH + u32(oh)) * params.outW + u32(ow)) * params.c + ch] / divisor(top, left);
    }
  }
  dx[i] = acc;
}`,
};

/** Each window's dy / divisor to its real pixels, as the forward divides; four channels a thread where C % 4 == 0. */
const avgBackwardDisjointSpec = (width: VecWidth): KernelSpec => ({
  name: 'avgPool2d.backwardDisjoint',
  key: `w${width}`,
  inputs: 1,
  outputs: 1,
  wgsl: () => /* wgsl */ `${POOL_PARAMS}
${TYPES(width)}
@group(0) @binding(0) var<storage, read> dy: array<T>;
@group(0) @binding(1) var<storage, read_write> dx: array<T>;
@group(0) @binding(2) var<uniform> params: Params;
${DIVISOR}
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let i = ${linearIndex()};
  if (i >= params.total) { return; }
  ${disjointBackward('let g = dy[i] / divisor(top, left);', 'select(T(0.0), g, ih < h1 && iw < w1)')}
}`,
});
const AVG_BACKWARD_DISJOINT = { 1: avgBackwardDisjointSpec(1), 4: avgBackwardDisjointSpec(4) } as const;

export function avgPool2dForward(x: Tensor, opts: AvgPool2dOptions): Tensor {
  const g = pool2dGeometry('avgPool2d', x.shape, opts, AVG_POOL_OPTIONS);
  return poolPass(avgForwardSpec, g, [x], [['avgPool2d.out', [g.n, g.outH, g.outW, g.c]]])[0];
}

export function avgPool2dBackward(dy: Tensor, xShape: Shape, opts: AvgPool2dOptions): Tensor {
  const g = pool2dGeometry('avgPool2d', xShape, opts, AVG_POOL_OPTIONS);
  const yShape = [g.n, g.outH, g.outW, g.c];
  if (dy.shape.join() !== yShape.join()) throw new ShapeError(`avgPool2d backward: dy ${formatShape(dy.shape)} must be ${formatShape(yShape)}`);
  const width = vecWidth(g.c);
  if (tiles(g)) return poolPass(AVG_BACKWARD_DISJOINT[width], g, [dy], [['avgPool2d.dx', xShape]], g.outH * g.outW * g.c, width)[0];
  return poolPass(avgBackwardSpec, g, [dy], [['avgPool2d.dx', xShape]])[0];
}

export function avgPool2d(x: Tensor, opts: AvgPool2dOptions): Tensor {
  expectTensor('avgPool2d', 'input x', x);
  const y = avgPool2dForward(x, opts);
  const xShape = x.shape;
  const o = { ...opts };
  return record('avgPool2d', [x], y, (dy) => [avgPool2dBackward(dy, xShape, o)]);
}

// ---------------------------------------------------------------------------------------------
// Global average pool: one workgroup per (n, block of CB channels). Its 256 threads are CB channel
// lanes times 256/CB pixel lanes, so adjacent threads read adjacent channels (coalesced) and a large
// H*W is spread over many threads before the tree reduction in workgroup memory.

const GAP_WG = 256;

function gapSpec(cb: number): KernelSpec {
  const lanes = GAP_WG / cb;
  return {
    name: 'globalAvgPool2d.forward',
    key: `cb=${cb}`,
    inputs: 1,
    outputs: 1,
    wgsl: () => /* wgsl */ `
struct Params { n: u32, hw: u32, c: u32, scale: f32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
var<workgroup> partial: array<f32, ${GAP_WG}>;
@compute @workgroup_size(${GAP_WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let blocks = (params.c + ${cb - 1}u) / ${cb}u;
  let wgIndex = wid.x + wid.y * nwg.x;
  let n = wgIndex / blocks;
  let lane = lid / ${cb}u;
  let ch = (wgIndex % blocks) * ${cb}u + lid % ${cb}u;
  let inRange = n < params.n && ch < params.c;
  var acc = 0.0;
  if (inRange) {
    for (var p = lane; p < params.hw; p += ${lanes}u) {
      acc += x[(n * params.hw + p) * params.c + ch];
    }
  }
  partial[lid] = acc;
  workgroupBarrier();
  for (var s = ${lanes / 2}u; s > 0u; s >>= 1u) {
    if (lane < s) { partial[lid] += partial[lid + s * ${cb}u]; }
    workgroupBarrier();
  }
  if (lane == 0u && inRange) { y[n * params.c + ch] = partial[lid] * params.scale; }
}`,
  };
}

/** Channel block: the smallest power of two covering C, at most 64 (so at least 4 pixel lanes). */
function channelBlock(c: number): number {
  let cb = 1;
  while (cb < c && cb < 64) cb *= 2;
  return cb;
}

export function globalAvgPool2dForward(x: Tensor): Tensor {
  if (x.rank !== 4) throw new ShapeError(`globalAvgPool2d: expected an NHWC input x of rank 4, got ${formatShape(x.shape)}`);
  const [n, h, w, c] = x.shape;
  if (h * w === 0) throw new ShapeError(`globalAvgPool2d: empty spatial size in ${formatShape(x.shape)}`);
  const cb = channelBlock(c);
  const per = chunkItems('globalAvgPool2d.forward', n, [part(x, h * w * c), part(planned('globalAvgPool2d.out', [n, c]), c)]);
  const y = emptyTensor([n, c], 'globalAvgPool2d.out');
  forEachChunk(n, per, (n0, count) => {
    const params = packParams([u32(count), u32(h * w), u32(c), f32(1 / (h * w))]);
    dispatchChunk(gapSpec(cb), [range(x, n0 * h * w * c, count * h * w * c)], [range(y, n0 * c, count * c)], params, workgroupGrid(count * Math.ceil(c / cb)));
  });
  return y;
}

/** dx[n,h,w,c] = dy[n,c] / (H*W). */
export function globalAvgPool2dBackward(dy: Tensor, xShape: Shape): Tensor {
  const [n, h, w, c] = xShape;
  if (xShape.length !== 4 || dy.shape.join() !== [n, c].join()) {
    throw new ShapeError(`globalAvgPool2d backward: dy ${formatShape(dy.shape)} does not match input ${formatShape(xShape)}`);
  }
  return expandMiddle(dy, n, h * w, c, xShape, 1 / (h * w));
}

/**
 * Takes no options: one given anyway (Keras's keepdims, say) is an ArgumentError, not ignored
 * while the output stays [N, C].
 */
export function globalAvgPool2d(x: Tensor, ...extra: never[]): Tensor {
  expectTensor('globalAvgPool2d', 'input x', x);
  if (extra.length) throw new ArgumentError(`globalAvgPool2d: takes the input alone (its output is [N, C]), got ${describeValue(extra[0])} as well`);
  const y = globalAvgPool2dForward(x);
  const xShape = x.shape;
  return record('globalAvgPool2d', [x], y, (dy) => [globalAvgPool2dBackward(dy, xShape)]);
}
