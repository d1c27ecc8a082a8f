// maxPool3d's kernels, NDHWC (pool3d.ts checks the arguments and works out the padding):
//
//   y[n, z, r, q, c] = max over a < kd, i < kh, j < kw of x[n, z·sd − pd + a, r·sh − ph + i, q·sw − pw + j, c]
//
// taken over the window's voxels inside the volume alone: padding (pd, ph, pw before each axis,
// uniform params) is never read, which is PyTorch's −inf padding and TensorFlow's 'same' without
// a padded copy of x. Every window holds a real voxel (pool3d.ts says why), so the scan starts
// from one.
// Forward: a thread per output element (four channels of it where C allows: on CPU adapters a
// vec4 pays one bounds check and one index decoding for four) scans its window, keeping the first maximum in scan order
// (depth, then rows, then columns: PyTorch's max_pool3d's order) and where it lies (argmax: the
// voxel's (z·H + r)·W + q in its sample's channel volume, u32 bits in a float tensor, as
// maxPool2d's). A NaN wins its window, the first one, read from its bits as pool.ts does.
// Backward: a gather, a thread per input voxel summing dy over the few windows whose winner it is
// (overlapping windows included; the voxel's position counted from the padding's start, as the
// windows are), so no atomics and the same bits every run. Saves the argmax.

import { packParams, u32 } from '../gpu/params.js';
import type { KernelSpec } from '../gpu/runtime.js';
import { record } from '../graph/autograd.js';
import type { Shape, Tensor } from '../graph/tensor.js';
import { runPerSample } from './chunking.js';
import { isNanBits, LINEAR_MAIN_ARGS, linearIndex, vecType, vecWidth, type VecWidth } from './wgsl.js';

/** x's volume [D, H, W, C], the window, stride, the padding before each axis and the output's [Do, Ho, Wo]. */
export interface Pool3dGeometry {
  n: number;
  d: number;
  h: number;
  w: number;
  c: number;
  k: [number, number, number];
  s: [number, number, number];
  p: [number, number, number];
  out: [number, number, number];
}

const PARAMS = 'struct Params { total: u32, d: u32, h: u32, w: u32, c: u32, kd: u32, kh: u32, kw: u32, sd: u32, sh: u32, sw: u32, pd: u32, ph: u32, pw: u32, od: u32, oh: u32, ow: u32 }';

/** Params for `threads` threads, each taking `width` channels. */
const params = (g: Pool3dGeometry, threads: number, width: VecWidth): ArrayBuffer =>
  packParams([threads, g.d, g.h, g.w, g.c / width, ...g.k, ...g.s, ...g.p, ...g.out].map(u32));

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
  // The window's corner, and its voxels inside the volume: planes [z0, z1), rows [r0, r1), columns [q0, q1).
  let front = i32(z * params.sd) - i32(params.pd);
  let top = i32(r * params.sh) - i32(params.ph);
  let left = i32(q * params.sw) - i32(params.pw);
  let z0 = u32(max(front, 0));
  let r0 = u32(max(top, 0));
  let q0 = u32(max(left, 0));
  let z1 = u32(min(front + i32(params.kd), i32(params.d)));
  let r1 = u32(min(top + i32(params.kh), i32(params.h)));
  let q1 = u32(min(left + i32(params.kw), i32(params.w)));
  for (var zz = z0; zz < z1; zz++) {
    for (var rr = r0; rr < r1; rr++) {
      for (var qq = q0; qq < q1; qq++) {
        let place = (zz * params.h + rr) * params.w + qq;
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

/** The first and one past the last window index along an axis whose windows (k, stride s, out of them) contain position p, counted from the padding's start. */
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
  // The voxel counted from the padding's start on each axis, as the windows are.
  let dep = place / (params.w * params.h) + params.pd;
  let row = (place / params.w) % params.h + params.ph;
  let col = place % params.w + params.pw;
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
