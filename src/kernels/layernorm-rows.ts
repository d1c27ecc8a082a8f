// Layer norm's kernels for CPU adapters: one thread per row of x [rows, C], four channels at a
// time where C is a multiple of 4 (a vec4 pays lavapipe's per-lane bounds check once for four
// floats). Group norm's route (a 256-thread workgroup per row, layernorm.ts) suits GPUs, whose
// neighbouring threads then read neighbouring floats; on lavapipe those workgroups ran their
// barriers one SIMD group at a time, and [1024, 768] took 34.5 ms against tfjs's 17.9 (bench
// group 'library', 2026-11-27), as softmax-rows.ts found for its workgroup rows.
//
//   forward:  mean, invStd per row (two passes: Σx, then Σ(x − mean)² and Σ(x − mean), which
//             corrects the mean and the variance as groupnorm.ts's finish), y = xhat·gamma + beta
//   backward: g = dy·gamma, dx = invStd·(g − mean(g) − xhat·mean(g·xhat)); the kernel also writes
//             dy·xhat, whose column sums (reduce.ts's sumLeading) are dgamma, as dy's are dbeta.

import { f32, packParams, u32 } from '../gpu/params.js';
import { runtime, type KernelSpec } from '../gpu/runtime.js';
import { emptyTensor, type Tensor } from '../graph/tensor.js';
import { checkWhole } from './chunking.js';
import { sumLeading } from './reduce.js';
import { LINEAR_MAIN_ARGS, linearGrid, linearIndex, vecType, vecWidth, type VecWidth } from './wgsl.js';

/** Sums a row's lanes: a vec4's four components, or the float itself. */
const total = (width: VecWidth, v: string): string => (width === 4 ? `dot(${v}, vec4<f32>(1.0))` : v);

function forwardSpec(width: VecWidth): KernelSpec {
  const T = vecType(width);
  return {
    name: 'layerNorm.forwardRows',
    key: `w${width}`,
    inputs: 3,
    outputs: 3,
    wgsl: () => /* wgsl */ `
struct Params { rows: u32, c: u32, n: f32, eps: f32 }
@group(0) @binding(0) var<storage, read> x: array<${T}>;
@group(0) @binding(1) var<storage, read> gamma: array<${T}>;
@group(0) @binding(2) var<storage, read> beta: array<${T}>;
@group(0) @binding(3) var<storage, read_write> y: array<${T}>;
@group(0) @binding(4) var<storage, read_write> mean: array<f32>;
@group(0) @binding(5) var<storage, read_write> invStd: array<f32>;
@group(0) @binding(6) var<uniform> params: Params;
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let r = ${linearIndex()};
  if (r >= params.rows) { return; }
  let base = r * params.c;
  var s = ${T}(0.0);
  for (var i = 0u; i < params.c; i++) { s += x[base + i]; }
  let m0 = ${total(width, 's')} / params.n;
  var q = ${T}(0.0);
  var e = ${T}(0.0);
  for (var i = 0u; i < params.c; i++) { let d = x[base + i] - m0; q += d * d; e += d; }
  // Σ(x - m0) corrects the first pass's rounding (groupnorm.ts's finishSpec says how); the select,
  // not max (undefined for NaN), clamps a variance rounded below 0 and keeps NaN.
  let dm = ${total(width, 'e')} / params.n;
  let v0 = ${total(width, 'q')} / params.n - dm * dm;
  let m = m0 + dm;
  let inv = 1.0 / sqrt(select(v0, 0.0, v0 < 0.0) + params.eps);
  for (var i = 0u; i < params.c; i++) { y[base + i] = (x[base + i] - m) * inv * gamma[i] + beta[i]; }
  mean[r] = m;
  invStd[r] = inv;
}`,
  };
}

function backwardSpec(width: VecWidth): KernelSpec {
  const T = vecType(width);
  return {
    name: 'layerNorm.backwardRows',
    key: `w${width}`,
    inputs: 5,
    outputs: 2,
    wgsl: () => /* wgsl */ `
struct Params { rows: u32, c: u32, n: f32 }
@group(0) @binding(0) var<storage, read> dy: array<${T}>;
@group(0) @binding(1) var<storage, read> x: array<${T}>;
@group(0) @binding(2) var<storage, read> gamma: array<${T}>;
@group(0) @binding(3) var<storage, read> mean: array<f32>;
@group(0) @binding(4) var<storage, read> invStd: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<${T}>;
@group(0) @binding(6) var<storage, read_write> dyXhat: array<${T}>;
@group(0) @binding(7) var<uniform> params: Params;
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let r = ${linearIndex()};
  if (r >= params.rows) { return; }
  let base = r * params.c;
  let m = mean[r];
  let inv = invStd[r];
  var sg = ${T}(0.0);
  var sgx = ${T}(0.0);
  for (var i = 0u; i < params.c; i++) {
    let g = dy[base + i] * gamma[i];
    sg += g;
    sgx += g * (x[base + i] - m) * inv;
  }
  let mg = ${total(width, 'sg')} / params.n;
  let mgx = ${total(width, 'sgx')} / params.n;
  for (var i = 0u; i < params.c; i++) {
    let xhat = (x[base + i] - m) * inv;
    let d = dy[base + i];
    dx[base + i] = inv * (d * gamma[i] - mg - xhat * mgx);
    dyXhat[base + i] = d * xhat;
  }
}`,
  };
}

const FORWARD = { 1: forwardSpec(1), 4: forwardSpec(4) } as const;
const BACKWARD = { 1: backwardSpec(1), 4: backwardSpec(4) } as const;

/** y, and the per-row mean and invStd the backward takes, for x [rows, c] bound whole. */
export function layerNormRowsForward(x: Tensor, gamma: Tensor, beta: Tensor, eps: number): { y: Tensor; mean: Tensor; invStd: Tensor } {
  checkWhole('layerNorm', [x]);
  const c = x.shape[1];
  const rows = x.shape[0];
  const width = vecWidth(c);
  const y = emptyTensor(x.shape, 'layerNorm.y');
  const mean = emptyTensor([rows], 'layerNorm.mean');
  const invStd = emptyTensor([rows], 'layerNorm.invStd');
  runtime().dispatch(
    FORWARD[width],
    { inputs: [x.slice, gamma.slice, beta.slice], outputs: [y.slice, mean.slice, invStd.slice], params: packParams([u32(rows), u32(c / width), f32(c), f32(eps)]) },
    linearGrid(rows),
  );
  return { y, mean, invStd };
}

/** dx, dgamma, dbeta (those `needs` asks for; the others null) from the forward's statistics. */
export function layerNormRowsBackward(dy: Tensor, x: Tensor, gamma: Tensor, mean: Tensor, invStd: Tensor, needs: readonly boolean[]): (Tensor | null)[] {
  const [rows, c] = x.shape;
  const width = vecWidth(c);
  let dx: Tensor | null = null;
  let dgamma: Tensor | null = null;
  if (needs[0] || needs[1]) {
    dx = emptyTensor(x.shape, 'layerNorm.dx');
    const dyXhat = emptyTensor(x.shape, 'layerNorm.dyXhat');
    runtime().dispatch(
      BACKWARD[width],
      { inputs: [dy.slice, x.slice, gamma.slice, mean.slice, invStd.slice], outputs: [dx.slice, dyXhat.slice], params: packParams([u32(rows), u32(c / width), f32(c)]) },
      linearGrid(rows),
    );
    if (needs[1]) dgamma = sumLeading(dyXhat, c);
    dyXhat.dispose();
    if (!needs[0]) {
      dx.dispose();
      dx = null;
    }
  }
  return [dx, dgamma, needs[2] ? sumLeading(dy, c) : null];
}
