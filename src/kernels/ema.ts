// Exponential moving average of weights, in place (train/ema.ts keeps the shadow tensors):
//
//   e = d · e + (1 - d) · w       e: the shadow (read and written), w: the live tensor (read only)
//
// Both tensors are flat f32 of the same size; nothing is saved (no gradient flows through it).
// d and 1 - d travel as separate uniforms, 1 - d computed in float64 on the host: in float32,
// 1 - f32(0.999) is 0.00099998713, 1.3e-5 off the weight the formula gives the new value, an error
// repeated at every step. Four floats per thread where the size allows, as the optimiser updates
// (kernels/optimizer.ts): the update is memory bound, 3 floats moved per element.

import { f32, packParams, u32 } from '../gpu/params.js';
import { runtime, type KernelSpec } from '../gpu/runtime.js';
import { ShapeError } from '../errors.js';
import type { Tensor } from '../graph/tensor.js';
import { LINEAR_MAIN_ARGS, linearGrid, linearIndex, vecType, vecWidth, type VecWidth } from './wgsl.js';

const emaSpec = (width: VecWidth): KernelSpec => ({
  name: 'ema.update',
  key: `w${width}`,
  inputs: 1,
  outputs: 1,
  wgsl: () => /* wgsl */ `
struct Params { n: u32, decay: f32, oneMinusDecay: f32 }
@group(0) @binding(0) var<storage, read> live: array<${vecType(width)}>;
@group(0) @binding(1) var<storage, read_write> shadow: array<${vecType(width)}>;
@group(0) @binding(2) var<uniform> params: Params;
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let i = ${linearIndex()};
  if (i >= params.n) { return; }
  shadow[i] = params.decay * shadow[i] + params.oneMinusDecay * live[i];
}`,
});
const EMA = { 1: emaSpec(1), 4: emaSpec(4) } as const;

/** shadow ← decay · shadow + (1 − decay) · live, on the GPU, queued (no readback). */
export function emaUpdate(shadow: Tensor, live: Tensor, decay: number): void {
  if (shadow.size !== live.size) {
    throw new ShapeError(`ema.update: the shadow ${shadow.describe()} and the live tensor ${live.describe()} differ in size`);
  }
  if (shadow.size === 0) return;
  const width = vecWidth(shadow.size);
  runtime().dispatch(
    EMA[width],
    { inputs: [live.slice], outputs: [shadow.slice], params: packParams([u32(shadow.size / width), f32(decay), f32(1 - decay)]) },
    linearGrid(shadow.size / width),
  );
}
