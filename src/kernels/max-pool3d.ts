// maxPool3d's kernels, NDHWC, 'valid' windows (pool3d.ts checks the arguments):
//
//   y[n, z, r, q, c] = max over a < kd, i < kh, j < kw of x[n, z·sd + a, r·sh + i, q·sw + j, c]
//
// Forward: a thread per output element (four channels of it where C allows: on CPU adapters a
// vec4 pays one bounds check and one index decoding for four) scans its window, keeping the first maximum in scan order
// (depth, then rows, then columns: PyTorch's max_pool3d's order) and where it lies (argmax: the
// voxel's (z·H + r)·W + q in its sample's channel volume, u32 bits in a float tensor, as
// maxPool2d's). A NaN wins its window, the first one, read from its bits as pool.ts does.
// Backward: a gather, a thread per input voxel summing dy over the few windows whose winner it is
// (overlapping windows included), so no atomics and the same bits every run. Saves the argmax.

import { packParams, u32 } from '../gpu/params.js';
import type { KernelSpec } from '../gpu/runtime.js';
import { record } from '../graph/autograd.js';
import type { Shape, Tensor } from '../graph/tensor.js';
import { runPerSample } from './chunking.js';
import { isNanBits, LINEAR_MAIN_ARGS, linearIndex, vecType, vecWidth, type VecWidth } from './wgsl.js';

/** x's volume [D, H, W, C], the window, stride and the output's [Do, Ho, Wo]. */
export interface Pool3dGeometry {
  n: number;
  d: number;
  h: number;
  w: number;
  c: number;
  k: [number, number, number];
  s: [number, number, number];
  out: [number, number, number];
}

const PARAMS = 'struct Params { total: u32, d: u32, h: u32, w: u32, c: u32, kd: u32, kh: u32, kw: u32, sd: u32, sh: u32, sw: u32, od: u32, oh: u32, ow: u32 }';

/** Params for `threads` threads, each taking `width` channels. */
const params = (g: Pool3dGeometry, threads: number, width: VecWidth): ArrayBuffer =>
  packParams([threads, g.d, g.h, g.w, g.c / width, ...g.k, ...g.s, ...g.out].map(u32));

const forwardSpecs = new Map<VecWidth, KernelSpec>();

/** Forward; width 4 takes four channels a thread (C a multiple of 4), each compared on its own. */
function forwardSpec(width: VecWidth): KernelSpec {
  let spec = forwardSpecs.get(width);
  if (spec) return spec;
  const [T, U, B] = [vecType(width), vecType(width, 'u32'), width === 4 ? 'vec4<bool>' : 'bool'];
  spec = {
    name: 'maxPool3d.forward',
    key: `v${width}`,
    inputs: 1,
    outputs: 2,
    wgsl: () => /* wgsl */ `
${PARAMS}
@group(0) @binding(0) var<storage, read> x: array<${T}>;
@group(0) @binding(1) var<storage, read_write> y: array<${T}>;
@group(0) @binding(2) var<storage, read_write> argmax: array<${U}>;
@group(0) @binding(3) var<uniform> params: Params;
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let e = ${linearIndex()};
  if (e >= params.total) { return; }
  // params.c counts this thread's units: channels, or groups of four.
  let c = e % params.c;
  let voxel = e / params.c;
  let q = voxel % params.ow;
  let r = (voxel / params.ow) % params.oh;
  let z = (voxel / (params.ow * params.oh)) % params.od;
  let n = voxel / (params.ow * params.oh * params.od);
  let sample = n * params.d * params.h * params.w;
  var best = ${T}(0.0);
  var at = ${U}(0u);
  var nan = ${B}(false);
  var first = true;
  for (var a = 0u; a < params.kd; a++) {
    for (var i = 0u; i < params.kh; i++) {
      for (var j = 0u; j < params.kw; j++) {
        let place = ((z * params.sd + a) * params.h + r * params.sh + i) * params.w + q * params.sw + j;
        let v = x[(sample + place) * params.c + c];
        let isNan = ${isNanBits('v', U)};
        let take = !nan & (${B}(first) | isNan | (v > best));
        best = select(best, v, take);
        at = select(at, ${U}(place), take);
        nan = nan | (take & isNan);
        first = false;
      }
    }
  }
  y[e] = best;
  argmax[e] = at;
}`,
  };
  forwardSpecs.set(width, spec);
  return spec;
}

/** The first and one past the last window index along an axis whose windows (k, stride s, out of them) contain position p. */
const WINDOWS = /* wgsl */ `
fn firstWindow(p: u32, k: u32, s: u32) -> u32 { return select(0u, (p - k + s) / s, p + 1u > k); }
fn endWindow(p: u32, s: u32, out: u32) -> u32 { return min(p / s + 1u, out); }`;

const backwardSpecs = new Map<VecWidth, KernelSpec>();

function backwardSpec(width: VecWidth): KernelSpec {
  let spec = backwardSpecs.get(width);
  if (spec) return spec;
  const [T, U] = [vecType(width), vecType(width, 'u32')];
  spec = {
    name: 'maxPool3d.backward',
    key: `v${width}`,
    inputs: 2,
    outputs: 1,
    wgsl: () => /* wgsl */ `
${PARAMS}
@group(0) @binding(0) var<storage, read> dy: array<${T}>;
@group(0) @binding(1) var<storage, read> argmax: array<${U}>;
@group(0) @binding(2) var<storage, read_write> dx: array<${T}>;
@group(0) @binding(3) var<uniform> params: Params;
${WINDOWS}
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let e = ${linearIndex()};
  if (e >= params.total) { return; }
  let c = e % params.c;
  let voxel = e / params.c;
  let place = voxel % (params.d * params.h * params.w);
  let n = voxel / (params.d * params.h * params.w);
  let col = place % params.w;
  let row = (place / params.w) % params.h;
  let dep = place / (params.w * params.h);
  var g = ${T}(0.0);
  for (var z = firstWindow(dep, params.kd, params.sd); z < endWindow(dep, params.sd, params.od); z++) {
    for (var r = firstWindow(row, params.kh, params.sh); r < endWindow(row, params.sh, params.oh); r++) {
      for (var q = firstWindow(col, params.kw, params.sw); q < endWindow(col, params.sw, params.ow); q++) {
        let o = (((n * params.od + z) * params.oh + r) * params.ow + q) * params.c + c;
        g += select(${T}(0.0), dy[o], argmax[o] == ${U}(place));
      }
    }
  }
  dx[e] = g;
}`,
  };
  backwardSpecs.set(width, spec);
  return spec;
}

/** Differentiable 3-D max pool by its own kernels; the argmax lives on the tape until the backward. */
export function maxPool3dKernels(x: Tensor, g: Pool3dGeometry): Tensor {
  const yShape = [g.n, ...g.out, g.c];
  const width = vecWidth(g.c);
  const run = (spec: KernelSpec, inputs: Tensor[], outputs: [string, Shape][]) => runPerSample(spec, g.n, inputs, outputs, (threads) => params(g, threads, width), undefined, width);
  const [y, argmax] = run(forwardSpec(width), [x], [['maxPool3d.out', yShape], ['maxPool3d.argmax', yShape]]);
  const xShape = x.shape;
  record('maxPool3d', [x], y, (dy, _needs, [winners]) => run(backwardSpec(width), [dy, winners], [['maxPool3d.dx', xShape]]), [argmax]);
  argmax.dispose();
  return y;
}
