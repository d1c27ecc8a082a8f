// depthwiseConv2d's weight gradient (the op and its geometry are in depthwise-conv2d.ts):
//
//   dw[i, j, c, m] = Σ_{n, ho, wo} x[n, ho·sh − top + i, wo·sw − left + j, c] · dy[n, ho, wo, c·M + m]
//
// Each weight element is a dot product over all P = N·Ho·Wo output pixels, and there are only
// kh·kw·C·M of them. A thread takes one output channel (four adjacent ones as a vec4 where M = 1 and
// C % 4 == 0), a block of up to MAX_TAPS taps and a run of consecutive pixels: it walks the run
// row by row (no division past its first pixel), reads each dy once and the x under each of its taps,
// and keeps one sum per tap. Neighbouring threads take neighbouring channels, so they read
// neighbouring floats of x and dy. The runs leave partial sums [chunks, kh·kw·C·M] (w's own layout
// per chunk) that reduceMiddle (reduce.ts) adds over the chunks: two dispatches in all.
//
// This replaced one 256-thread workgroup per (tap, channel, chunk of 4096 pixels) with a barrier
// tree, three divisions per pixel and x read at a stride of C floats between threads, once per
// tap: on lavapipe that was 10-14x the forward (C = 512 [2,32,32,512] 3x3: 34-46 ms against 3-5).
// Everything is bound whole; depthwise-conv2d.ts checks the bindings before calling in here.

import { packParams, u32 } from '../gpu/params.js';
import { runtime, type KernelSpec } from '../gpu/runtime.js';
import { emptyTensor, type Tensor } from '../graph/tensor.js';
import type { DepthwiseGeometry } from './depthwise-conv2d.js';
import { reduceMiddle } from './reduce.js';
import { LINEAR_MAIN_ARGS, linearGrid, linearIndex, vecType, type VecWidth } from './wgsl.js';

/** Sums one thread keeps: a 3x3 or 3x5 kernel in one block, 5x5 in two, 7x7 in four, 1x33 in three. */
export const MAX_TAPS = 16;

/** Tap blocks and taps per block (the last may be shorter): blocks as even as MAX_TAPS allows. */
export function tapBlocks(g: DepthwiseGeometry): { blocks: number; taps: number } {
  const kk = g.kh * g.kw;
  const blocks = Math.ceil(kk / MAX_TAPS);
  return { blocks, taps: Math.ceil(kk / blocks) };
}

/**
 * Pixels one thread walks: few enough that the threads (channels · tap blocks · runs) reach
 * TARGET_THREADS, to fill a GPU, and at least MIN_RUN (and kh·kw·M), so that the partial sums stay
 * smaller than dy and the second pass short. Lavapipe, 2 shared cores, this kernel plus the second
 * pass against the old tree (medians of 7, interleaved; noisy machine), runs of 16 / 64 / 256 / 1024:
 * [2,32,32,512] 3x3 27.9 / 26.7-33.4 / 23.0-24.3 / 22.8 ms (old 184-305), [8,64,64,32] 3x3
 * 9.5 / 8.4-25.0 / 6.9-19.6 / 18.4 (old 76-126), [16,256,256,2] 33x1 307 / 165-215 / 180-184 / 167
 * (old 1777-1844): 16 loses up to 2x on the biggest, 64 and up are level within the noise, so the
 * rule gives 64 to 112 pixels on these shapes and keeps 4096+ threads for GPUs.
 */
const TARGET_THREADS = 1 << 14;
const MIN_RUN = 64;
const MAX_RUN = 1024;

let runOverride: number | null = null;

/** Tests and A/B timing: a fixed run length in pixels; null restores the rule. */
export function setWeightGradRun(pixels: number | null): void {
  runOverride = pixels;
}

export function weightGradRun(g: DepthwiseGeometry): number {
  if (runOverride !== null) return runOverride;
  const pixels = g.n * g.ho * g.wo;
  const lanes = ((g.c * g.m) / g.width) * tapBlocks(g).blocks;
  const run = Math.ceil((pixels * lanes) / TARGET_THREADS);
  return Math.min(MAX_RUN, Math.max(MIN_RUN, g.kh * g.kw * g.m, run));
}

/** Partial sums per weight element: the runs of weightGradRun pixels that P = N·Ho·Wo splits into. */
export function weightGradChunks(g: DepthwiseGeometry): number {
  return Math.max(1, Math.ceil((g.n * g.ho * g.wo) / weightGradRun(g)));
}

/** Thread i: lane = i % lanes (output channel, in units of the width), then chunk, then tap block. */
const weightGradSpec = (width: VecWidth, taps: number): KernelSpec => ({
  name: 'depthwiseConv2d.backwardWeightChannels',
  key: `w${width}t${taps}`,
  inputs: 2,
  outputs: 1,
  wgsl: () => /* wgsl */ `
struct Params { total: u32, lanes: u32, chunks: u32, run: u32, pixels: u32, taps: u32, c: u32, m: u32, h: u32, w: u32, outH: u32, outW: u32, kw: u32, sh: u32, sw: u32, padTop: u32, padLeft: u32 }
alias T = ${vecType(width)};
@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read> dy: array<T>;
@group(0) @binding(2) var<storage, read_write> partial: array<T>;
@group(0) @binding(3) var<uniform> params: Params;
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let i = ${linearIndex()};
  if (i >= params.total) { return; }
  let oc = i % params.lanes;
  let chunk = (i / params.lanes) % params.chunks;
  let tap0 = (i / (params.lanes * params.chunks)) * ${taps}u;
  let ch = oc / params.m;
  let count = min(${taps}u, params.taps - tap0);
  let ki0 = tap0 / params.kw;
  let kj0 = tap0 % params.kw;
  let start = chunk * params.run;
  let end = min(start + params.run, params.pixels);
  var ow = start % params.outW;
  var oh = (start / params.outW) % params.outH;
  var n = start / (params.outW * params.outH);
  var acc: array<T, ${taps}>;
  for (var p = start; p < end; p++) {
    let g = dy[p * params.lanes + oc];
    let top = i32(oh * params.sh) - i32(params.padTop);
    let left = i32(ow * params.sw) - i32(params.padLeft);
    var ki = ki0;
    var kj = kj0;
    for (var t = 0u; t < ${taps}u; t++) {
      let ih = top + i32(ki);
      let iw = left + i32(kj);
      // Taps on the padding read zeros: they add nothing.
      if (t < count && ih >= 0 && ih < i32(params.h) && iw >= 0 && iw < i32(params.w)) {
        acc[t] += x[((n * params.h + u32(ih)) * params.w + u32(iw)) * params.c + ch] * g;
      }
      kj++;
      if (kj == params.kw) { kj = 0u; ki++; }
    }
    ow++;
    if (ow == params.outW) { ow = 0u; oh++; if (oh == params.outH) { oh = 0u; n++; } }
  }
  for (var t = 0u; t < count; t++) {
    partial[(chunk * params.taps + tap0 + t) * params.lanes + oc] = acc[t];
  }
}`,
});
const specs = new Map<string, KernelSpec>();

function spec(width: VecWidth, taps: number): KernelSpec {
  const key = `${width}/${taps}`;
  if (!specs.has(key)) specs.set(key, weightGradSpec(width, taps));
  return specs.get(key)!;
}

/** dw [kh, kw, C, M] from dy [N, Ho, Wo, C·M] and x [N, H, W, C]; shapes and bindings already checked. */
export function depthwiseWeightGrad(g: DepthwiseGeometry, dy: Tensor, x: Tensor): Tensor {
  const wShape = [g.kh, g.kw, g.c, g.m];
  const kk = g.kh * g.kw;
  const lanes = (g.c * g.m) / g.width;
  const pixels = g.n * g.ho * g.wo;
  const run = weightGradRun(g);
  const chunks = weightGradChunks(g);
  const { blocks, taps } = tapBlocks(g);
  const total = lanes * chunks * blocks;
  const partial = emptyTensor([chunks, kk * lanes * g.width], 'depthwiseConv2d.dwPartial');
  const params = packParams(
    [total, lanes, chunks, run, pixels, kk, g.c / g.width, g.m, g.h, g.w, g.ho, g.wo, g.kw, g.sh, g.sw, g.padTop, g.padLeft].map((v) => u32(v)),
  );
  runtime().dispatch(spec(g.width, taps), { inputs: [x.slice, dy.slice], outputs: [partial.slice], params }, linearGrid(total));
  // One chunk: the partial sums are the whole sums already.
  const dw = chunks === 1 ? partial.share(wShape) : reduceMiddle(partial, 1, chunks, kk * lanes * g.width, wShape);
  partial.dispose();
  return dw;
}
