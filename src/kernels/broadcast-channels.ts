// mulOverChannels(x, s): every channel of a pixel times that pixel's one value,
//
//   y[..., c] = x[..., c] · s[..., 0]        x [..., C] (NHWC: [N, H, W, C]), s x's shape with C = 1
//
// the product an attention gate needs (Oktay et al.'s x·ψ, ψ [N, H, W, 1]). The binary ops'
// suffix broadcasting cannot express it: there the smaller operand is a trailing part of the
// other's shape and repeats along the leading axes, whereas s repeats along the last one.
// Composing it instead (a 1x1 conv with an all-ones [1, 1, 1, C] weight to copy s across the
// channels, then mul) would cost a temporary the size of x, a conv forward, and in backward a conv
// input-gradient and a mul whose product is then summed by the conv: about three times the memory
// traffic of this kernel, in every gate of the decoder.
//
// Backward: dx = dy · s, which is the forward kernel itself with dy in x's place, and
//   ds[p] = Σ_c dy[p, c] · x[p, c]        one thread per pixel, summing its C channels.
// Saves x and s (shares, no copies).
// One thread per element of y (four channels as a vec4 when C is a multiple of 4). Past the
// storage binding limit the pixels split into chunks (kernels/chunking.ts): x, y and dy bind C
// floats per pixel, s and ds one.

import { ShapeError } from '../errors.js';
import { packParams, u32 } from '../gpu/params.js';
import type { KernelSpec } from '../gpu/runtime.js';
import { expectTensor } from '../graph/args.js';
import { record } from '../graph/autograd.js';
import { emptyTensor, formatShape, zeros, type Shape, type Tensor } from '../graph/tensor.js';
import { chunkItems, dispatchChunk, forEachChunk, part, planned, range } from './chunking.js';
import { LINEAR_MAIN_ARGS, linearGrid, linearIndex, vecType, vecWidth, type VecWidth } from './wgsl.js';

const OP = 'mulOverChannels';

/** y = x · s[pixel]: `c` is the channels in units of the vector width, so i / c is the pixel. */
function scaleSpec(width: VecWidth): KernelSpec {
  const t = vecType(width);
  return {
    name: `${OP}.forward`,
    key: `w${width}`,
    inputs: 2,
    outputs: 1,
    wgsl: () => /* wgsl */ `
struct Params { n: u32, c: u32 }
@group(0) @binding(0) var<storage, read> x: array<${t}>;
@group(0) @binding(1) var<storage, read> s: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<${t}>;
@group(0) @binding(3) var<uniform> params: Params;
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let i = ${linearIndex()};
  if (i >= params.n) { return; }
  y[i] = x[i] * s[i / params.c];
}`,
  };
}

/** ds[p] = Σ over the pixel's channels of dy · x. */
function channelDotSpec(width: VecWidth): KernelSpec {
  const t = vecType(width);
  return {
    name: `${OP}.backwardScale`,
    key: `w${width}`,
    inputs: 2,
    outputs: 1,
    wgsl: () => /* wgsl */ `
struct Params { pixels: u32, c: u32 }
@group(0) @binding(0) var<storage, read> dy: array<${t}>;
@group(0) @binding(1) var<storage, read> x: array<${t}>;
@group(0) @binding(2) var<storage, read_write> ds: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let p = ${linearIndex()};
  if (p >= params.pixels) { return; }
  var acc = 0.0;
  for (var k = 0u; k < params.c; k++) {
    let at = p * params.c + k;
    acc += ${width === 4 ? 'dot(dy[at], x[at])' : 'dy[at] * x[at]'};
  }
  ds[p] = acc;
}`,
  };
}

function checkShapes(x: Tensor, s: Tensor): void {
  const want = [...x.shape.slice(0, -1), 1];
  if (x.rank < 1 || s.rank !== x.rank || s.shape.some((d, k) => d !== want[k])) {
    throw new ShapeError(`${OP}: s must be x's shape with one channel, ${formatShape(want)}, got s ${s.describe()} (x ${x.describe()})`);
  }
}

/** y = wide · s[pixel], wide [..., C] and s one value per pixel; no tape. */
function scaleForward(wide: Tensor, s: Tensor): Tensor {
  const c = wide.shape[wide.rank - 1];
  const pixels = s.size;
  const per = chunkItems(`${OP}.forward`, pixels, [part(wide, c), part(s, 1), part(planned(`${OP}.out`, wide.shape), c)]);
  const y = emptyTensor(wide.shape, `${OP}.out`);
  if (y.size === 0) return y;
  const w = vecWidth(c);
  forEachChunk(pixels, per, (first, count) => {
    const n = (count * c) / w;
    const inputs = [range(wide, first * c, count * c), range(s, first, count)];
    dispatchChunk(scaleSpec(w), inputs, [range(y, first * c, count * c)], packParams([u32(n), u32(c / w)]), linearGrid(n));
  });
  return y;
}

/** ds of shape `sShape`: each pixel's channels of dy · x summed; no tape. */
function channelDot(dy: Tensor, x: Tensor, sShape: Shape): Tensor {
  const c = x.shape[x.rank - 1];
  const pixels = x.size / Math.max(c, 1);
  const per = chunkItems(`${OP}.backwardScale`, pixels, [part(dy, c), part(x, c), part(planned(`${OP}.ds`, sShape), 1)]);
  // No channels: each pixel's sum is empty, 0.
  if (c === 0) return zeros(sShape);
  const ds = emptyTensor(sShape, `${OP}.ds`);
  if (ds.size === 0) return ds;
  const w = vecWidth(c);
  forEachChunk(pixels, per, (first, count) => {
    const inputs = [range(dy, first * c, count * c), range(x, first * c, count * c)];
    dispatchChunk(channelDotSpec(w), inputs, [range(ds, first, count)], packParams([u32(count), u32(c / w)]), linearGrid(count));
  });
  return ds;
}

/**
 * Differentiable x · s with s [..., 1] broadcast over x's last (channel) axis: an attention map
 * applied to a feature map. Gradients dx = dy · s and ds = Σ_c dy · x.
 */
export function mulOverChannels(x: Tensor, s: Tensor): Tensor {
  expectTensor(OP, 'x', x);
  expectTensor(OP, 's', s);
  checkShapes(x, s);
  const y = scaleForward(x, s);
  return record(
    OP,
    [x, s],
    y,
    (dy, needs, [sx, ss]) => [needs[0] ? scaleForward(dy, ss) : null, needs[1] ? channelDot(dy, sx, ss.shape) : null],
    [x, s],
  );
}
