// argmax and argmin along the last axis, the classes of a segmentation map or a classifier's
// logits: a thread per row, reading its row in vec4s where the row is a multiple of 4 long, and
// writing the index alone. extrema.ts's general reduction keeps three states per output (value,
// index, holder count) for max's backward and for passes that combine; argmax needs none of that,
// and over 4 classes its three stores were as many bytes as the loads. On an H200 argmax over
// 16x256x256x4 ran at 0.77x tfjs by that route (bench/results/nvidia-h200-2026-11-27/run9-kernels.json).
//
// The order is extrema-columns.ts's rank(): the key of the bits (every float but NaN in order, -0
// and +0 one rank; inverted for argmin) with NaN above every number, so that a strictly greater
// rank moves the index: the first maximum, or the first NaN, as extrema.ts and NumPy give.

import { packParams, u32 } from '../gpu/params.js';
import type { KernelSpec } from '../gpu/runtime.js';
import { emptyTensor, type Shape, type Tensor } from '../graph/tensor.js';
import { chunkItems, dispatchChunk, forEachChunk, part, planned, range } from './chunking.js';
import { sameWgsl, type ExtremumKind } from './extrema.js';
import { LINEAR_MAIN_ARGS, linearGrid, linearIndex } from './wgsl.js';

const specs = new Map<string, KernelSpec>();

/** The kernel: rows of `r` floats (in vec4s when `vec4`), one index each. */
function rowsSpec(kind: ExtremumKind, vec4: boolean): KernelSpec {
  const key = `${kind},${vec4 ? 'vec4' : 'scalar'}`;
  const cached = specs.get(key);
  if (cached) return cached;
  const order = kind === 'max' ? 'k' : '~k';
  const lanes = ['x', 'y', 'z', 'w'];
  const spec: KernelSpec = {
    name: `arg${kind}.rows`,
    key: vec4 ? 'vec4' : 'scalar',
    inputs: 1,
    outputs: 1,
    wgsl: () => /* wgsl */ `
struct Params { rows: u32, r: u32 }
@group(0) @binding(0) var<storage, read> src: array<${vec4 ? 'vec4<f32>' : 'f32'}>;
@group(0) @binding(1) var<storage, read_write> index: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
${sameWgsl(vec4 ? 4 : 1)}
fn rank(v: ${vec4 ? 'vec4<f32>' : 'f32'}) -> ${vec4 ? 'vec4<u32>' : 'u32'} {
  let k = key(v);
  return select(${order}, ${vec4 ? 'vec4<u32>(0xffffffffu)' : '0xffffffffu'}, isNan(v));
}
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let o = ${linearIndex()};
  if (o >= params.rows) { return; }
  // params.r: the row's length in vec4s or floats. Every float's rank is above 0, so the first
  // element always takes the lead.
  let base = o * params.r;
  var best = 0u;
  var at = 0u;
  for (var j = 0u; j < params.r; j++) {
    let q = rank(src[base + j]);
    ${
      vec4
        ? lanes.map((l, i) => `if (q.${l} > best) { best = q.${l}; at = 4u * j + ${i}u; }`).join('\n    ')
        : 'if (q > best) { best = q; at = j; }'
    }
  }
  index[o] = f32(at);
}`,
  };
  specs.set(key, spec);
  return spec;
}

/**
 * The index of the first maximum (minimum) of each of `rows` rows of `r` contiguous floats of x
 * (the last axis), as float32 of `outShape`. Rows are bound a chunk at a time past the binding limit.
 */
export function argExtremumRows(kind: ExtremumKind, x: Tensor, rows: number, r: number, outShape: Shape): Tensor {
  const op = `arg${kind}`;
  const vec4 = r % 4 === 0;
  const per = chunkItems(op, rows, [part(x, r), part(planned(`${op}.index`, outShape), 1)]);
  const out = emptyTensor(outShape, `${op}.index`);
  const spec = rowsSpec(kind, vec4);
  forEachChunk(rows, per, (first, count) => {
    dispatchChunk(spec, [range(x, first * r, count * r)], [range(out, first, count)], packParams([u32(count), u32(vec4 ? r / 4 : r)]), linearGrid(count));
  });
  return out;
}
