// gather(x, indices, axis) as tf.gather (PyTorch's index_select, and with a table of embeddings
// nn.Embedding's lookup): the slices of x along `axis` that `indices` name, in their order, as
//   y[o, c, k] = x[o, indices[c], k],   x viewed as [outer, n, inner] around the axis,
// indices of any shape standing in for the axis (y: x.shape before it, indices.shape, the rest).
// Indices are float32 ids, as argmax gives and oneHot takes, rounded to the nearest integer as
// oneHot rounds them. An id outside [0, n), or NaN, gives NaN across its slice: a GPU kernel cannot
// raise PyTorch's error, and a NaN is seen where tfjs's WebGPU zero is not. Ids given as numbers are
// checked on the host instead, and one out of range is refused naming its position.
//
// Backward (to x; ids have no gradient): dx[o, j, k] = Σ dy[o, c, k] over every c whose id is j,
// in the order of c, with no atomics: the same sums on every run and adapter
// (index-gather-backward.ts). Saves the ids (shared).
//
// Past the binding limit both directions split along outer (kernels/chunking.ts): each chunk binds
// its rows of x and y (or dy and dx), the ids whole. inner a multiple of 4 runs in vec4s.

import { ArgumentError, ShapeError } from '../errors.js';
import { f32, packParams, u32 } from '../gpu/params.js';
import type { KernelSpec } from '../gpu/runtime.js';
import { describeValue, expectNumber, expectTensor, normaliseAxis } from '../graph/args.js';
import { record } from '../graph/autograd.js';
import { assertLive, emptyTensor, full, shapeSize, type Shape, Tensor, tensor, zeros } from '../graph/tensor.js';
import { chunkItems, dispatchChunk, forEachChunk, part, planned, range } from './chunking.js';
import { gatherBackward, ID_FN, type GatherLayout } from './index-gather-backward.js';
import { LINEAR_MAIN_ARGS, linearGrid, linearIndex, vecType, vecWidth, type VecWidth } from './wgsl.js';

/** Ids are float32: past 2^24 not every integer is one, so a longer axis cannot be addressed. */
const MAX_AXIS = 2 ** 24;

const specs = new Map<string, KernelSpec>();

function forwardSpec(width: VecWidth): KernelSpec {
  const key = `v${width}`;
  let s = specs.get(key);
  if (s) return s;
  const T = vecType(width);
  s = {
    name: 'gather.forward',
    key,
    inputs: 2,
    outputs: 1,
    wgsl: () => /* wgsl */ `
struct Params { total: u32, n: u32, l: u32, inner: u32, fill: f32 }
@group(0) @binding(0) var<storage, read> x: array<${T}>;
@group(0) @binding(1) var<storage, read> ids: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<${T}>;
@group(0) @binding(3) var<uniform> params: Params;
${ID_FN}
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let i = ${linearIndex()};
  if (i >= params.total) { return; }
  let k = i % params.inner;
  let c = (i / params.inner) % params.l;
  let o = i / (params.inner * params.l);
  let id = idOf(ids[c], params.n);
  let ok = id < params.n;
  y[i] = select(${T}(params.fill), x[(o * params.n + select(0u, id, ok)) * params.inner + k], ok);
}`,
  };
  specs.set(key, s);
  return s;
}

/**
 * The forward over all its chunks: x [outer, n, inner] to y [outer, L, inner], ids bound whole;
 * `fill` across the slice of an id outside the axis (gather's NaN; unsortedSegmentSum's gradient's 0).
 */
export function gatherSlices(x: Tensor, ids: Tensor, y: Tensor, g: GatherLayout, l: number, fill = NaN): void {
  const perY = l * g.inner;
  if (g.outer * perY === 0) return;
  const width = vecWidth(g.inner);
  const per = chunkItems('gather.forward', g.outer, [part(x, g.n * g.inner), part(y, perY)], [ids]);
  forEachChunk(g.outer, per, (first, count) => {
    const total = (count * perY) / width;
    const params = packParams([u32(total), u32(g.n), u32(l), u32(g.inner / width), f32(fill)]);
    const src = range(x, first * g.n * g.inner, count * g.n * g.inner);
    dispatchChunk(forwardSpec(width), [src, ids], [range(y, first * perY, count * perY)], params, linearGrid(total));
  });
}

/** The ids as a tensor: a Tensor as given (checked live), or numbers checked here and uploaded. */
function idTensor(op: string, indices: unknown, n: number, axis: number): { ids: Tensor; shape: Shape; made: boolean } {
  if (indices instanceof Tensor) {
    expectTensor(op, 'indices', indices);
    return { ids: indices, shape: indices.shape, made: false };
  }
  const list = Array.isArray(indices) || ArrayBuffer.isView(indices) ? Array.from(indices as ArrayLike<number>) : null;
  if (!list) throw new ArgumentError(`${op}: indices must be a Tensor of ids or an array of integers, got ${describeValue(indices)}`);
  const bad = list.findIndex((v) => typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= n);
  if (bad >= 0) throw new ArgumentError(`${op}: indices[${bad}] is ${describeValue(list[bad])}, not an integer in [0, ${n}) (the size of axis ${axis})`);
  return { ids: tensor(Float32Array.from(list), [list.length]), shape: [list.length], made: true };
}

/**
 * Differentiable tf.gather: the slices of x along `axis` (negative counts from the end) named by
 * `indices`, a Tensor of float32 ids (any shape, rounded to the nearest integer; one outside the
 * axis gives NaN) or an array of integers (checked); the result has indices' shape in place of the
 * axis. The gradient goes to x, each slice's summed over the times it was picked.
 */
export function gather(x: Tensor, indices: Tensor | readonly number[] | ArrayLike<number>, axis = 0): Tensor {
  const op = 'gather';
  expectTensor(op, 'input x', x);
  expectNumber(op, 'axis', axis, { integer: true });
  if (x.rank === 0) throw new ShapeError(`${op}: x ${x.describe()} has no axis to gather along`);
  const ax = normaliseAxis(op, axis, x.rank, x.describe());
  const g: GatherLayout = { outer: shapeSize(x.shape.slice(0, ax)), n: x.shape[ax], inner: shapeSize(x.shape.slice(ax + 1)) };
  if (g.n > MAX_AXIS) throw new ShapeError(`${op}: axis ${ax} of ${x.describe()} is longer than 2^24, which float32 ids cannot all name`);
  const { ids, shape: idShape, made } = idTensor(op, indices, g.n, ax);
  assertLive(op, x, ids);
  const l = ids.size;
  const yShape = [...x.shape.slice(0, ax), ...idShape, ...x.shape.slice(ax + 1)];
  try {
    // Planned before the output exists, so a binding too small for one row leaks nothing.
    chunkItems('gather.forward', g.outer, [part(x, g.n * g.inner), part(planned('gather.out', yShape), l * g.inner)], [ids]);
    // An empty axis: every id is outside it (and there is no x to bind).
    const y = g.n === 0 ? full(yShape, NaN) : emptyTensor(yShape, 'gather.out', op);
    if (g.n > 0) gatherSlices(x, ids, y, g, l);
    const xShape = x.shape;
    return record(op, [x], y, (dy, _needs, [saved]) => [l === 0 ? zeros(xShape) : gatherBackward(dy, saved, xShape, g, l)], [ids]);
  } finally {
    if (made) ids.dispose();
  }
}
