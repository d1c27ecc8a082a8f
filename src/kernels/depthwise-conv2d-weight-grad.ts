// depthwiseConv2d's weight gradient (the op and its geometry are in depthwise-conv2d.ts):
//
//   dw[i, j, c, m] = Σ_{n, ho, wo} x[n, ho·sh − top + i, wo·sw − left + j, c] · dy[n, ho, wo, c·M + m]
//
// Each weight element is a dot product over all P = N·Ho·Wo output pixels, and there are only
// kh·kw·C·M of them (288 for a 3x3 layer of 32 channels): one thread per weight would leave most of
// the device idle walking P pixels in a row. Instead one workgroup of 256 threads takes one weight
// element and one chunk of PIXEL_CHUNK pixels (as loss.ts's dice.sums and groupnorm.ts's sums do),
// its threads striding over the chunk and a tree in workgroup memory adding their sums. P longer
// than one chunk leaves a partial sum per chunk, [weights, chunks], that reduceMiddle (reduce.ts)
// adds. Workgroups are laid out on a 2-D grid (workgroupGrid): weights · chunks can pass 65535.
// With the geometry's width 4 (M = 1, C % 4 == 0) a workgroup takes four adjacent channels of one
// tap as a vec4: a quarter of the workgroups and of the pixel index decoding.
// Everything is bound whole; depthwise-conv2d.ts checks the bindings before calling in here.

import { packParams, u32 } from '../gpu/params.js';
import { runtime, type KernelSpec } from '../gpu/runtime.js';
import { emptyTensor, type Tensor } from '../graph/tensor.js';
import type { DepthwiseGeometry } from './depthwise-conv2d.js';
import { reduceMiddle } from './reduce.js';
import { vecType, workgroupGrid, type VecWidth } from './wgsl.js';

const WG = 256;
/** Pixels one workgroup sums: 16 per thread, so a 64x64 output of one sample takes one workgroup per weight. */
export const PIXEL_CHUNK = WG * 16;

/** Partial sums per weight element: the chunks of PIXEL_CHUNK pixels that P = N·Ho·Wo splits into. */
export function weightGradChunks(g: DepthwiseGeometry): number {
  return Math.ceil((g.n * g.ho * g.wo) / PIXEL_CHUNK);
}

/** Weight element e (in units of the width) is w's flat index: e = (tap·C + c)·M + m, tap = ki·kw + kj. */
const weightGradSpec = (width: VecWidth): KernelSpec => ({
  name: 'depthwiseConv2d.backwardWeight',
  key: `w${width}`,
  inputs: 2,
  outputs: 1,
  wgsl: () => /* wgsl */ `
struct Params { weights: u32, chunks: u32, chunkSize: u32, pixels: u32, c: u32, m: u32, h: u32, w: u32, outH: u32, outW: u32, kw: u32, sh: u32, sw: u32, padTop: u32, padLeft: u32 }
alias T = ${vecType(width)};
@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read> dy: array<T>;
@group(0) @binding(2) var<storage, read_write> partial: array<T>;
@group(0) @binding(3) var<uniform> params: Params;
var<workgroup> sums: array<T, ${WG}>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  // o = e · chunks + chunk: partial is [weights, chunks], each weight's chunks side by side.
  let o = wid.x + wid.y * nwg.x;
  let inRange = o < params.weights * params.chunks;
  var acc = T(0.0);
  if (inRange) {
    let e = o / params.chunks;
    let cm = params.c * params.m;
    let oc = e % cm;
    let ch = oc / params.m;
    let tap = e / cm;
    let ki = tap / params.kw;
    let kj = tap % params.kw;
    let start = (o % params.chunks) * params.chunkSize;
    let end = min(start + params.chunkSize, params.pixels);
    for (var p = start + lid; p < end; p += ${WG}u) {
      let ow = p % params.outW;
      let oh = (p / params.outW) % params.outH;
      let n = p / (params.outW * params.outH);
      let ih = i32(oh * params.sh + ki) - i32(params.padTop);
      let iw = i32(ow * params.sw + kj) - i32(params.padLeft);
      // Taps on the padding read zeros: they add nothing.
      if (ih >= 0 && ih < i32(params.h) && iw >= 0 && iw < i32(params.w)) {
        acc += x[((n * params.h + u32(ih)) * params.w + u32(iw)) * params.c + ch] * dy[p * cm + oc];
      }
    }
  }
  // Every thread reaches the barriers, in range or not: they must be in uniform control flow.
  sums[lid] = acc;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { sums[lid] += sums[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u && inRange) { partial[o] = sums[0]; }
}`,
});
const WEIGHT_GRAD = { 1: weightGradSpec(1), 4: weightGradSpec(4) } as const;

/** dw [kh, kw, C, M] from dy [N, Ho, Wo, C·M] and x [N, H, W, C]; shapes and bindings already checked. */
export function depthwiseWeightGrad(g: DepthwiseGeometry, dy: Tensor, x: Tensor): Tensor {
  const wShape = [g.kh, g.kw, g.c, g.m];
  const weights = (g.kh * g.kw * g.c * g.m) / g.width;
  const pixels = g.n * g.ho * g.wo;
  const chunks = weightGradChunks(g);
  const partial = emptyTensor([weights, chunks, g.width], 'depthwiseConv2d.dwPartial');
  const params = packParams(
    [weights, chunks, PIXEL_CHUNK, pixels, g.c / g.width, g.m, g.h, g.w, g.ho, g.wo, g.kw, g.sh, g.sw, g.padTop, g.padLeft].map((v) => u32(v)),
  );
  runtime().dispatch(WEIGHT_GRAD[g.width], { inputs: [x.slice, dy.slice], outputs: [partial.slice], params }, workgroupGrid(weights * chunks));
  // One chunk: the partial sums are the whole sums already.
  const dw = chunks === 1 ? partial.share(wShape) : reduceMiddle(partial, weights, chunks, g.width, wShape);
  partial.dispose();
  return dw;
}
