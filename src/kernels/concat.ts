// Concatenation and its inverse along any axis.
//
// Around `axis`, every tensor is viewed as [outer, width] rows with width = (its size on the axis) *
// (product of the later dimensions): concat writes input i's rows into the output's rows at column
// offset_i, split reads them back out. Both are one "slab copy" dispatch per part, so any number of
// inputs works without running into the binding limit, and the channel axis of a U-Net skip (rows
// of C1 and C2 floats) is a plain strided copy.
//
//   concat backward: split(dy, sizes, axis).
//   split backward:  one tape node for all the parts (recordMulti), run once with every part's dy:
//                    each dy is copied into its slab of one x-sized gradient, and the slabs of
//                    parts that got none are zeroed, a run of neighbours at a time. So the
//                    backward writes x's size once however many parts there are. (Each part
//                    writing a zero tensor of x's size, summed by the tape, grew with parts x size:
//                    unstack of [100, 64, 64, 4] fwd+bwd 651 ms against stack's 35; see
//                    .exp/perf-p2/ab-split.mjs for the figures now.)
//
// Past the binding limit (kernels/chunking.ts) the slab copies split into chunks of whole rows; a
// row too wide for one binding (concatenating along N, say) is copied with buffer copies, which no
// binding limit applies to. split's backward splits into chunks of rows.

import { ArgumentError, ShapeError } from '../errors.js';
import { packParams, u32 } from '../gpu/params.js';
import { runtime, type KernelSpec } from '../gpu/runtime.js';
import { describeValue, expectNumber, expectTensor, expectTensorList, normaliseAxis } from '../graph/args.js';
import { record, recordMulti } from '../graph/autograd.js';
import { emptyTensor, formatShape, shapeSize, type Shape, type Tensor } from '../graph/tensor.js';
import { chunkItems, dispatchChunk, forEachChunk, part, range } from './chunking.js';
import { LINEAR_MAIN_ARGS, linearGrid, linearIndex } from './wgsl.js';

function slabCopySpec(name: string): KernelSpec {
  return {
    name,
    key: '',
    inputs: 1,
    outputs: 1,
    wgsl: () => /* wgsl */ `
struct Params { total: u32, width: u32, srcStride: u32, srcOffset: u32, dstStride: u32, dstOffset: u32 }
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let i = ${linearIndex()};
  if (i >= params.total) { return; }
  let row = i / params.width;
  let j = i % params.width;
  dst[row * params.dstStride + params.dstOffset + j] = src[row * params.srcStride + params.srcOffset + j];
}`,
  };
}

const concatSpec = slabCopySpec('concat.forward');
const splitSpec = slabCopySpec('split.forward');

/** A part's dy into its slab of x's gradient (split's backward). */
const splitBackwardSpec = slabCopySpec('split.backward');

/** dst[row, offset + j] = 0 for j < width: the slabs of a split's gradient that no part wrote. */
const splitZeroSpec: KernelSpec = {
  name: 'split.zero',
  key: '',
  inputs: 0,
  outputs: 1,
  wgsl: () => /* wgsl */ `
struct Params { total: u32, width: u32, stride: u32, offset: u32 }
@group(0) @binding(0) var<storage, read_write> dst: array<f32>;
@group(0) @binding(1) var<uniform> params: Params;
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let i = ${linearIndex()};
  if (i >= params.total) { return; }
  dst[(i / params.width) * params.stride + params.offset + i % params.width] = 0.0;
}`,
};

/** One side of a slab copy: row r's slab starts at float r·stride + offset of the tensor. */
interface Slab {
  t: Tensor;
  stride: number;
  offset: number;
}

/** dst's slab of each of `rows` rows = src's slab, `width` floats each. */
function slabCopy(spec: KernelSpec, src: Slab, dst: Slab, rows: number, width: number): void {
  if (rows * width === 0) return;
  const rt = runtime();
  if (Math.max(src.stride, dst.stride) * 4 > rt.bindingLimit) {
    for (let r = 0; r < rows; r++) rt.copy(src.t.buffer, (r * src.stride + src.offset) * 4, dst.t.buffer, (r * dst.stride + dst.offset) * 4, width * 4);
    return;
  }
  const per = chunkItems(spec.name, rows, [part(src.t, src.stride), part(dst.t, dst.stride)]);
  forEachChunk(rows, per, (r0, count) => {
    const params = packParams([u32(count * width), u32(width), u32(src.stride), u32(src.offset), u32(dst.stride), u32(dst.offset)]);
    const from = range(src.t, r0 * src.stride, count * src.stride);
    // The other slabs of dst's rows belong to other parts: a staged copy must keep them.
    const to = range(dst.t, r0 * dst.stride, count * dst.stride, true);
    dispatchChunk(spec, [from], [to], params, linearGrid(count * width));
  });
}

/** Zeroes dst's slab of each of `rows` rows (`width` floats at row·stride + offset). */
function slabZero(dst: Slab, rows: number, width: number): void {
  if (rows * width === 0) return;
  const rt = runtime();
  if (rows === 1 || dst.stride * 4 > rt.bindingLimit) {
    for (let r = 0; r < rows; r++) rt.clear(dst.t.buffer, (r * dst.stride + dst.offset) * 4, width * 4);
    return;
  }
  const per = chunkItems(splitZeroSpec.name, rows, [part(dst.t, dst.stride)]);
  forEachChunk(rows, per, (r0, count) => {
    const params = packParams([u32(count * width), u32(width), u32(dst.stride), u32(dst.offset)]);
    dispatchChunk(splitZeroSpec, [], [range(dst.t, r0 * dst.stride, count * dst.stride, true)], params, linearGrid(count * width));
  });
}


/** Validates the inputs; returns the normalised axis, each input's size on it, and the output shape. */
export function concatShape(shapes: Shape[], axis: number): { axis: number; sizes: number[]; shape: number[] } {
  if (shapes.length === 0) throw new ShapeError('concat: needs at least one tensor');
  const first = shapes[0];
  const all = shapes.map(formatShape).join(', ');
  const ax = normaliseAxis('concat', axis, first.length, all);
  for (const s of shapes) {
    if (s.length !== first.length || s.some((d, i) => i !== ax && d !== first[i])) {
      throw new ShapeError(`concat: shapes must agree except on axis ${ax} (got ${all})`);
    }
  }
  const sizes = shapes.map((s) => s[ax]);
  const shape = [...first];
  shape[ax] = sizes.reduce((p, d) => p + d, 0);
  return { axis: ax, sizes, shape };
}

/** Rows before the axis and floats per unit of the axis. */
function rowsAround(shape: Shape, axis: number): { outer: number; inner: number } {
  return { outer: shapeSize(shape.slice(0, axis)), inner: shapeSize(shape.slice(axis + 1)) };
}

export function concatForward(xs: Tensor[], axis: number): Tensor {
  const { axis: ax, sizes, shape } = concatShape(xs.map((x) => x.shape), axis);
  const out = emptyTensor(shape, 'concat.out');
  const { outer, inner } = rowsAround(shape, ax);
  const stride = shape[ax] * inner;
  let offset = 0;
  xs.forEach((x, i) => {
    const width = sizes[i] * inner;
    slabCopy(concatSpec, { t: x, stride: width, offset: 0 }, { t: out, stride, offset }, outer, width);
    offset += width;
  });
  return out;
}

function checkSizes(x: Tensor, sizes: number[], axis: number): number {
  const ax = normaliseAxis('split', axis, x.rank, x.describe());
  const total = sizes.reduce((p, d) => p + d, 0);
  if (!sizes.every((d) => Number.isInteger(d) && d >= 0) || total !== x.shape[ax]) {
    throw new ShapeError(`split: sizes [${sizes}] must be non-negative integers summing to ${x.shape[ax]} (axis ${ax} of ${x.describe()})`);
  }
  return ax;
}

/** The parts of x along axis; `wanted[i] === false` skips part i (returned as null). */
function splitParts(x: Tensor, sizes: number[], ax: number, wanted?: boolean[]): (Tensor | null)[] {
  const { outer, inner } = rowsAround(x.shape, ax);
  const stride = x.shape[ax] * inner;
  let offset = 0;
  return sizes.map((size, i) => {
    const width = size * inner;
    const start = offset;
    offset += width;
    if (wanted && !wanted[i]) return null;
    const shape = [...x.shape];
    shape[ax] = size;
    const out = emptyTensor(shape, 'split.out');
    slabCopy(splitSpec, { t: x, stride, offset: start }, { t: out, stride: width, offset: 0 }, outer, width);
    return out;
  });
}

export function splitForward(x: Tensor, sizes: number[], axis: number): Tensor[] {
  return splitParts(x, sizes, checkSizes(x, sizes, axis)) as Tensor[];
}

/** Differentiable concatenation along `axis` (negative counts from the end: -1 is NHWC's channels). */
export function concat(xs: Tensor[], axis: number): Tensor {
  expectTensorList('concat', 'tensors', xs);
  expectNumber('concat', 'axis', axis, { integer: true });
  const { axis: ax, sizes } = concatShape(xs.map((x) => x.shape), axis);
  const y = concatForward(xs, ax);
  return record('concat', xs, y, (dy, needs) => splitParts(dy, sizes, ax, needs));
}

/** x's gradient from its parts': each dy in its slab, zeros in the slabs of parts with none. */
function splitBackward(shape: Shape, ax: number, sizes: number[], dys: (Tensor | null)[]): Tensor {
  const { outer, inner } = rowsAround(shape, ax);
  const stride = shape[ax] * inner;
  const dx = emptyTensor(shape, 'split.dx');
  let offset = 0;
  // Floats per row of the run of parts without a gradient that ends at offset: one zeroing each.
  let gap = 0;
  const zeroGap = (): void => {
    slabZero({ t: dx, stride, offset: offset - gap }, outer, gap);
    gap = 0;
  };
  sizes.forEach((size, i) => {
    const width = size * inner;
    const dy = dys[i];
    if (dy) {
      zeroGap();
      slabCopy(splitBackwardSpec, { t: dy, stride: width, offset: 0 }, { t: dx, stride, offset }, outer, width);
    } else gap += width;
    offset += width;
  });
  zeroGap();
  return dx;
}

/** Differentiable split into parts of `sizes` along `axis`. */
export function split(x: Tensor, sizes: number[], axis: number): Tensor[] {
  expectTensor('split', 'input x', x);
  if (!Array.isArray(sizes)) throw new ArgumentError(`split: sizes must be an array of part sizes, got ${describeValue(sizes)}`);
  expectNumber('split', 'axis', axis, { integer: true });
  const ax = checkSizes(x, sizes, axis);
  const parts = splitParts(x, sizes, ax) as Tensor[];
  // The backward may run long after this call: a copy, not the caller's array, which may change.
  const shape = x.shape;
  const partSizes = [...sizes];
  return recordMulti('split', [x], parts, (dys) => [splitBackward(shape, ax, partSizes, dys)]);
}
