// transpose(x, perm): the axes of x reordered, y.shape[d] = x.shape[perm[d]] (tf.transpose,
// PyTorch's permute), e.g. NCHW data to dawnet's NHWC with perm [0, 2, 3, 1]. Default perm: the
// axes reversed. One thread per output element: its flat index split into coordinates over y's
// shape, each times the stride of the x axis it comes from (a gather; every element is copied
// once). Its gradient is the transpose of dy by the inverse permutation. Ranks up to 8.

import { MAX_RANK, padToMaxRank, stridesOf } from './gather.js';
import { ShapeError } from '../errors.js';
import { packParams, u32 } from '../gpu/params.js';
import { runtime, type KernelSpec } from '../gpu/runtime.js';
import { expectTensor } from '../graph/args.js';
import { record } from '../graph/autograd.js';
import { emptyTensor, formatShape, type Tensor } from '../graph/tensor.js';
import { LINEAR_MAIN_ARGS, linearGrid, linearIndex } from './wgsl.js';

// MAX_RANK (8) and the padding of per-axis params arrays are the gathers' (gather.ts).

const spec: KernelSpec = {
  name: 'transpose',
  key: '',
  inputs: 1,
  outputs: 1,
  wgsl: () => /* wgsl */ `
struct Params { total: u32, rank: u32, pad0: u32, pad1: u32, outShape: array<vec4<u32>, 2>, inStride: array<vec4<u32>, 2> }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let i = ${linearIndex()};
  if (i >= params.total) { return; }
  var rest = i;
  var at = 0u;
  for (var d = i32(params.rank) - 1; d >= 0; d--) {
    let size = params.outShape[d / 4][d % 4];
    at += (rest % size) * params.inStride[d / 4][d % 4];
    rest /= size;
  }
  y[i] = x[at];
}`,
};

/** perm, checked to be a permutation of x's axes (negative axes count from the end). */
function resolvePerm(x: Tensor, perm: unknown): number[] {
  if (perm === undefined) return x.shape.map((_, d) => x.rank - 1 - d);
  const p = Array.isArray(perm) ? perm.map((a) => (typeof a === 'number' && a < 0 ? a + x.rank : a)) : null;
  if (!p || p.length !== x.rank || !p.every((a) => Number.isInteger(a) && a >= 0 && a < x.rank) || new Set(p).size !== x.rank) {
    throw new ShapeError(`transpose: perm must order all ${x.rank} axes of ${x.describe()} once each, got ${JSON.stringify(perm)}`);
  }
  return p as number[];
}

/** The raw gather (no tape). */
function permute(x: Tensor, perm: number[]): Tensor {
  const outShape = perm.map((a) => x.shape[a]);
  const strides = stridesOf(x.shape);
  const y = emptyTensor(outShape, 'transpose.out');
  if (y.size === 0) return y;
  const params = packParams([y.size, perm.length, 0, 0, ...padToMaxRank(outShape, 1), ...padToMaxRank(perm.map((a) => strides[a]), 0)].map((v) => u32(v)));
  runtime().dispatch(spec, { inputs: [x.slice], outputs: [y.slice], params }, linearGrid(y.size));
  return y;
}

/** Differentiable transpose; `perm` defaults to the axes reversed. */
export function transpose(x: Tensor, perm?: readonly number[]): Tensor {
  expectTensor('transpose', 'input x', x);
  if (x.rank > MAX_RANK) throw new ShapeError(`transpose: at most ${MAX_RANK} axes, got ${formatShape(x.shape)}`);
  const p = resolvePerm(x, perm);
  const inverse = p.map((_, d) => p.indexOf(d));
  return record('transpose', [x], permute(x, p), (dy) => [permute(dy, inverse)]);
}
