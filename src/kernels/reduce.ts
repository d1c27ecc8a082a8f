// Sum and mean over axes. Any contiguous run of axes views the input as [A, R, B] and reduces the
// middle: one workgroup per output element, 256 threads striding over R and a tree reduction in
// workgroup memory, so a reduction over a million elements still uses a full workgroup instead of
// one thread. Short rows (and on CPU adapters all rows, in parts of at most 4096) take a thread
// per output instead: reduce-rows.ts says when, with timings. Several non-adjacent axes are
// reduced one run at a time; a mean scales the last run's sums.
// Column sums ([1, R, B] with B a multiple of 4: a bias gradient over NHWC's channels, the shape
// most reductions here have) take a second kernel instead: 8 column lanes of four columns each
// (vec4) by 8 row lanes per workgroup, the rows in chunks of at least 256 (one workgroup row per
// chunk) whose partial sums a second pass adds. One workgroup of 256 threads per column read each
// column's values a lane at a time on CPU adapters and synchronised 32 SIMD groups at every step
// of its tree. (A sum over everything routed through them as [R/32, 32] was no faster on lavapipe
// than its single workgroup.)
// Backward broadcasts dy back over R (expandMiddle), scaled by 1/R for the mean.
//
// Past the binding limit (kernels/chunking.ts) both split along A, a chunk of [a, R, B] rows per
// dispatch, when one row R·B fits a binding. Otherwise (a bias gradient sums [1, N·H·W, C]) they
// split along R: reduceMiddle writes a partial sum per chunk of R, [A, chunks, B], and reduces that
// in a second pass; expandMiddle writes each chunk of R from its row of dy. A row B that takes more
// than half a binding leaves no chunk of two rows, so those rows are added one dispatch at a time.
// With R = 1 (a scaling) the op is element-wise and splits into flat chunks.

import { ArgumentError, ShapeError } from '../errors.js';
import { zeroesWorkgroupMemorySlowly } from '../gpu/adapter-kind.js';
import { packParams, u32, f32 } from '../gpu/params.js';
import { runtime, type KernelSpec } from '../gpu/runtime.js';
import { describeValue, expectTensor } from '../graph/args.js';
import { record } from '../graph/autograd.js';
import { assertLive, emptyTensor, shapeSize, type Shape, type Tensor } from '../graph/tensor.js';
import { chunkItems, dispatchChunk, forEachChunk, part, planned, range, type Range } from './chunking.js';
import { forcedWay } from './forced-way.js';
import { rowParts, rowsSpec, SUM_BINDINGS_WGSL, threadPerOutput } from './reduce-rows.js';
import { maxRowChunks } from './row-chunks.js';
import { LINEAR_MAIN_ARGS, linearGrid, linearIndex, workgroupGrid } from './wgsl.js';

const WG = 256;

// Each workgroup sums one output's rows, or one chunk of them: out[a, chunk, b] = sum over the
// chunk's rows of src[a, r, b] (chunks = 1: the whole middle axis).
const reduceSpec: KernelSpec = {
  name: 'reduce.sum',
  key: '',
  inputs: 1,
  outputs: 1,
  wgsl: () => /* wgsl */ `${SUM_BINDINGS_WGSL}var<workgroup> partial: array<f32, ${WG}>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let o = wid.x + wid.y * nwg.x;
  let inRange = o < params.a * params.chunks * params.b;
  var acc = 0.0;
  if (inRange) {
    let ib = o % params.b;
    let chunk = (o / params.b) % params.chunks;
    let ia = o / (params.b * params.chunks);
    let base = ia * params.r * params.b + ib;
    let r1 = min(params.r, (chunk + 1u) * params.rowsPerChunk);
    for (var r = chunk * params.rowsPerChunk + lid; r < r1; r += ${WG}u) {
      acc += src[base + r * params.b];
    }
  }
  partial[lid] = acc;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { partial[lid] += partial[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u && inRange) { out[o] = partial[0] * params.scale; }
}`,
};

/**
 * With fewer outputs than this, long rows are summed in chunks by as many workgroups, then the
 * partial sums: one workgroup per output left a GPU idle (a sum of 33 M floats to one took 52 ms
 * on an H200, 0.1% of its copy bandwidth).
 */
export const FEW_OUTPUTS = 1024;
/** Rows per chunk at least this: a workgroup's 256 threads sum 16 rows each before reducing. */
export const MIN_CHUNK_ROWS = 4096;

/** Rows per chunk of the column sums at least this, at most maxRowChunks chunks (as batchnorm.ts). */
const COLUMN_MIN_ROWS = 256;
/** Rows a column lane adds into one block sum before it joins the lane's total. */
const COLUMN_BLOCK = 64;

const columnsSpec: KernelSpec = {
  name: 'reduce.columns',
  key: `block${COLUMN_BLOCK}`,
  inputs: 1,
  outputs: 1,
  wgsl: () => /* wgsl */ `
struct Params { r: u32, b4: u32, rowsPerChunk: u32, scale: f32 }
@group(0) @binding(0) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> params: Params;
var<workgroup> partial: array<vec4<f32>, 64>;
@compute @workgroup_size(8, 8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let col = wid.x * 8u + lid.x;
  let chunk = wid.y;
  let r1 = min((chunk + 1u) * params.rowsPerChunk, params.r);
  var acc = vec4<f32>(0.0);
  if (col < params.b4) {
    // In blocks of ${COLUMN_BLOCK} rows a lane, each block's sum then joining acc: a plain loop met
    // ~1000 roundings per value over a million rows in 128 chunks (the mean of a constant 12345.678
    // was 3.6e-6 off), as reduce-rows.ts's blocks bound a thread's.
    for (var r0 = chunk * params.rowsPerChunk + lid.y; r0 < r1; r0 += ${8 * COLUMN_BLOCK}u) {
      var block = vec4<f32>(0.0);
      for (var row = r0; row < min(r0 + ${8 * COLUMN_BLOCK}u, r1); row += 8u) {
        block += src[row * params.b4 + col];
      }
      acc += block;
    }
  }
  partial[lid.y * 8u + lid.x] = acc;
  workgroupBarrier();
  for (var h = 4u; h > 0u; h >>= 1u) {
    if (lid.y < h) { partial[lid.y * 8u + lid.x] += partial[(lid.y + h) * 8u + lid.x]; }
    workgroupBarrier();
  }
  if (lid.y == 0u && col < params.b4) { out[chunk * params.b4 + col] = partial[lid.x] * params.scale; }
}`,
};

export type ColumnSumsWay = 'columns' | 'threads';

const forcedColumns = forcedWay<ColumnSumsWay>();

/** Runs fn with every column sum taking `way` (tests and the bench compare the two). */
export const withColumnSumsWay = <T>(way: ColumnSumsWay, fn: () => T): T => forcedColumns.with(way, fn);

/** SwiftShader's [1, R, B] sums of at most this many rows take the general route (columnSumsWay). */
export const SWIFTSHADER_THREAD_ROWS = 32768;

/**
 * How [1, R, B] sums with B a multiple of 4 run: 'columns' (columnSums), or 'threads', the general
 * route (a thread per output on CPU adapters, reduce-rows.ts), on SwiftShader
 * (zeroesWorkgroupMemorySlowly) for up to SWIFTSHADER_THREAD_ROWS rows. Dawn zeroes the column
 * kernel's 1 KiB of workgroup memory at every workgroup's start, which SwiftShader does slowly
 * (bench/README's SwiftShader section); more rows a workgroup make up for it. sum-nhw/unet-l1 in
 * Chromium (GPU timestamps, 2026-11-28): 2048 rows of 32 columns 0.38-0.40 ms by threads against
 * 0.53-0.66 by columns (two runs), 16384 rows 2.85 against 3.26, 131072 rows 11.5 against 10.9; the
 * bound lies between the last two. On lavapipe the columns won from 16384 rows (0.30 against 0.58
 * ms; 1.52 against 2.34 at 131072); at 2048 the threads (0.084 against 0.14 ms), both near the
 * launch floor.
 */
export function columnSumsWay(r: number): ColumnSumsWay {
  return forcedColumns.current ?? (zeroesWorkgroupMemorySlowly(runtime().ctx.report) && r <= SWIFTSHADER_THREAD_ROWS ? 'threads' : 'columns');
}

/** Sums the rows of an [r, b] tensor (b a multiple of 4, bound whole): partial sums per chunk of rows, then their sum. */
function columnSums(x: Tensor, r: number, b: number, outShape: Shape, scale: number): Tensor {
  const columnGroups = Math.ceil(b / 32);
  const chunks = Math.max(1, Math.min(maxRowChunks(columnGroups), Math.ceil(r / COLUMN_MIN_ROWS)));
  const rowsPerChunk = Math.ceil(r / chunks);
  const used = Math.ceil(r / rowsPerChunk);
  const out = emptyTensor(used === 1 ? outShape : [used, b], used === 1 ? 'reduce.out' : 'reduce.partial');
  const params = packParams([u32(r), u32(b / 4), u32(rowsPerChunk), f32(used === 1 ? scale : 1)]);
  runtime().dispatch(columnsSpec, { inputs: [x.slice], outputs: [out.slice], params }, [columnGroups, used]);
  if (used === 1) return out;
  const sums = columnSums(out, used, b, outShape, scale);
  out.dispose();
  return sums;
}

const expandSpec: KernelSpec = {
  name: 'reduce.expand',
  key: '',
  inputs: 1,
  outputs: 1,
  wgsl: () => /* wgsl */ `
struct Params { a: u32, r: u32, b: u32, scale: f32 }
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= params.a * params.r * params.b) { return; }
  let ib = i % params.b;
  let ia = i / (params.r * params.b);
  out[i] = src[ia * params.b + ib] * params.scale;
}`,
};

const middleParams = (a: number, r: number, b: number, scale: number, chunks = 1, rowsPerChunk = r): ArrayBuffer =>
  packParams([u32(a), u32(r), u32(b), f32(scale), u32(chunks), u32(rowsPerChunk)]);

/**
 * The sum kernel for `outputs` outputs over at most `rows` rows each, and its grid: a thread per
 * output for short rows (reduce-rows.ts), else a workgroup per output.
 */
function sumKernel(rows: number, outputs: number): [KernelSpec, [number, number]] {
  return threadPerOutput(rows) ? [rowsSpec, linearGrid(outputs)] : [reduceSpec, workgroupGrid(outputs)];
}

/** Reduces the middle of an [a, r, b] view; `scale` multiplies the sums (1/r for a mean). */
export function reduceMiddle(x: Tensor, a: number, r: number, b: number, outShape: Shape, scale = 1): Tensor {
  assertLive('reduce', x);
  const op = reduceSpec.name;
  if (r * b * 4 > runtime().bindingLimit && r > 1) return reduceSplitR(x, a, r, b, outShape, scale);
  if (a === 1 && r > 1 && b % 4 === 0 && columnSumsWay(r) === 'columns') return columnSums(x, r, b, outShape, scale);
  if (a * b < FEW_OUTPUTS && r >= 2 * MIN_CHUNK_ROWS && a * r * b * 4 <= runtime().bindingLimit) return reduceInChunks(x, a, r, b, outShape, scale);
  // r = 1 is a scaling, element-wise: flat chunks. Otherwise chunks of whole [r, b] rows, each
  // row summed in `parts` (a thread's rows on CPU adapters, reduce-rows.ts): [a, parts, b] partial
  // sums, then their sum.
  const parts = r === 1 ? 1 : rowParts(r);
  const rowsPerPart = Math.ceil(r / parts);
  const sumsShape = parts === 1 ? outShape : [a, parts, b];
  const [items, rows, cols] = r === 1 ? [a * b, 1, 1] : [a, r * b, parts * b];
  const per = chunkItems(op, items, [part(x, rows), part(planned('reduce.out', sumsShape), cols)]);
  const out = emptyTensor(sumsShape, parts === 1 ? 'reduce.out' : 'reduce.partial');
  forEachChunk(items, per, (first, count) => {
    const params = r === 1 ? middleParams(1, 1, count, scale) : middleParams(count, r, b, parts === 1 ? scale : 1, parts, rowsPerPart);
    const [spec, grid] = sumKernel(rowsPerPart, count * cols);
    dispatchChunk(spec, [range(x, first * rows, count * rows)], [range(out, first * cols, count * cols)], params, grid);
  });
  if (parts === 1) return out;
  const sums = reduceMiddle(out, a, parts, b, outShape, scale);
  out.dispose();
  return sums;
}

/** reduceMiddle with few outputs and long rows (bound whole): partial sums over chunks of r, [a, chunks, b], then their sum. */
function reduceInChunks(x: Tensor, a: number, r: number, b: number, outShape: Shape, scale: number): Tensor {
  const chunks = Math.max(rowParts(r), Math.min(Math.floor(r / MIN_CHUNK_ROWS), Math.ceil(FEW_OUTPUTS / (a * b))));
  const rowsPerChunk = Math.ceil(r / chunks);
  const used = Math.ceil(r / rowsPerChunk);
  const partial = emptyTensor([a, used, b], 'reduce.partial');
  const [spec, grid] = sumKernel(rowsPerChunk, a * used * b);
  runtime().dispatch(spec, { inputs: [x.slice], outputs: [partial.slice], params: middleParams(a, r, b, 1, used, rowsPerChunk) }, grid);
  const out = reduceMiddle(partial, a, used, b, outShape, scale);
  partial.dispose();
  return out;
}

/** acc[i] = (acc[i] + src[i]) · scale: one row added into a running sum (reduceRowByRow). */
const accumulateSpec: KernelSpec = {
  name: 'reduce.accumulate',
  key: '',
  inputs: 1,
  outputs: 1,
  wgsl: () => /* wgsl */ `
struct Params { n: u32, scale: f32 }
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> acc: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let i = ${linearIndex()};
  if (i >= params.n) { return; }
  acc[i] = (acc[i] + src[i]) * params.scale;
}`,
};

/** reduceMiddle for rows too big to bind: partial sums over chunks of r, [a, chunks, b], then their sum. */
function reduceSplitR(x: Tensor, a: number, r: number, b: number, outShape: Shape, scale: number): Tensor {
  const per = chunkItems(reduceSpec.name, r, [part(x, b)]);
  // One row takes more than half a binding: chunks of one row would leave the partials as big as
  // x and the split would recurse on the same problem. Add the rows one at a time instead.
  if (per < 2) return reduceRowByRow(x, a, r, b, outShape, scale);
  const chunks = Math.ceil(r / per);
  const partial = emptyTensor([a, chunks, b], 'reduce.partial');
  for (let ia = 0; ia < a; ia++) {
    forEachChunk(r, per, (first, count, k) => {
      const src = range(x, (ia * r + first) * b, count * b);
      const [spec, grid] = sumKernel(count, b);
      dispatchChunk(spec, [src], [range(partial, (ia * chunks + k) * b, b)], middleParams(1, count, b, 1), grid);
    });
  }
  const out = reduceMiddle(partial, a, chunks, b, outShape, scale);
  partial.dispose();
  return out;
}

/**
 * reduceMiddle when a single row of b values needs a binding of its own: each output row starts as
 * a copy of x's first row (the reduce kernel over one row) and takes the others one dispatch at a
 * time, the last one applying `scale`. r dispatches per output row, for rows of tens of MiB.
 */
function reduceRowByRow(x: Tensor, a: number, r: number, b: number, outShape: Shape, scale: number): Tensor {
  const out = emptyTensor(outShape, 'reduce.out');
  for (let ia = 0; ia < a; ia++) {
    const acc = range(out, ia * b, b);
    const [spec, grid] = sumKernel(1, b);
    dispatchChunk(spec, [range(x, ia * r * b, b)], [acc], middleParams(1, 1, b, r === 1 ? scale : 1), grid);
    for (let k = 1; k < r; k++) {
      const params = packParams([u32(b), f32(k === r - 1 ? scale : 1)]);
      dispatchChunk(accumulateSpec, [range(x, (ia * r + k) * b, b)], [acc], params, linearGrid(b));
    }
  }
  return out;
}

/** Inverse of reduceMiddle's shape change: out[a, r, b] = dy[a, b] * scale. */
export function expandMiddle(dy: Tensor, a: number, r: number, b: number, outShape: Shape, scale = 1): Tensor {
  assertLive('reduce.expand', dy);
  const expand = (src: Range, dst: Range, ca: number, cr: number): void => {
    dispatchChunk(expandSpec, [src], [dst], middleParams(ca, cr, b, scale), linearGrid(ca * cr * b));
  };
  const planOut = planned('reduce.expand.out', outShape);
  if (r * b * 4 <= runtime().bindingLimit) {
    const per = chunkItems(expandSpec.name, a, [part(dy, b), part(planOut, r * b)]);
    const out = emptyTensor(outShape, 'reduce.expand.out');
    forEachChunk(a, per, (first, count) => expand(range(dy, first * b, count * b), range(out, first * r * b, count * r * b), count, r));
    return out;
  }
  // Rows too big to bind: chunks of r, each reading its row of dy.
  const per = chunkItems(expandSpec.name, r, [part(planOut, b)]);
  const out = emptyTensor(outShape, 'reduce.expand.out');
  for (let ia = 0; ia < a; ia++) {
    forEachChunk(r, per, (first, count) => expand(range(dy, ia * b, b), range(out, (ia * r + first) * b, count * b), 1, count));
  }
  return out;
}

/** Sums g (any shape) over its leading elements down to the trailing `n` elements: [g.size/n, n] -> [n]. */
export function sumLeading(g: Tensor, n: number): Tensor {
  // No trailing elements (a bias of a layer with no outputs): nothing to sum, and no row count.
  if (n === 0) return emptyTensor([0], 'reduce.out');
  return reduceMiddle(g, 1, g.size / n, n, [n]);
}

/**
 * The axes as sorted indices from 0, each checked as given (so a message shows -3, not the -1 it
 * would wrap to): a whole number in [-rank, rank), named once. PyTorch refuses a repeated axis
 * too; dropping it would hide a typo such as [1, -1] on a rank-2 tensor.
 */
export function normaliseAxes(op: string, x: Tensor, axes?: number | number[]): number[] {
  if (axes === undefined) return x.shape.map((_, i) => i);
  if (typeof axes === 'number') axes = [axes];
  if (!Array.isArray(axes)) throw new ArgumentError(`${op}: axes must be an axis or an array of axes, got ${describeValue(axes)}`);
  const out: number[] = [];
  for (const given of axes as unknown[]) {
    const ax = normaliseAxis(op, x, given);
    if (out.includes(ax)) throw new ShapeError(`${op}: axis ${String(given)} appears twice in ${JSON.stringify(axes)} (${x.describe()})`);
    out.push(ax);
  }
  return out.sort((p, q) => p - q);
}

/** One axis, from 0; ArgumentError for a non-number, ShapeError for a fraction or out of range. */
function normaliseAxis(op: string, x: Tensor, given: unknown): number {
  if (typeof given !== 'number') throw new ArgumentError(`${op}: an axis must be a whole number, got ${describeValue(given)}`);
  if (!Number.isInteger(given)) throw new ShapeError(`${op}: axis ${given} must be a whole number (${x.describe()})`);
  if (given < -x.rank || given >= x.rank) {
    const valid = x.rank ? `axes run from ${-x.rank} to ${x.rank - 1}` : 'a scalar has no axes';
    throw new ShapeError(`${op}: axis ${given} is out of range for ${x.describe()} (${valid})`);
  }
  return given < 0 ? given + x.rank : given;
}

/** Splits sorted axes into runs of adjacent axes, last run first (so earlier indices stay valid). */
export function runs(axes: number[]): [number, number][] {
  const out: [number, number][] = [];
  for (const ax of axes) {
    const last = out[out.length - 1];
    if (last && last[1] === ax) last[1] = ax + 1;
    else out.push([ax, ax + 1]);
  }
  return out.reverse();
}

function reduceAxes(op: 'sum' | 'mean', x: Tensor, axes: number[] | undefined, keepDims: boolean): Tensor {
  const ax = normaliseAxes(op, x, axes);
  let shape = [...x.shape];
  let current = x;
  const count = ax.reduce((p, i) => p * x.shape[i], 1);
  const keptShape = x.shape.map((d, i) => (ax.includes(i) ? 1 : d));
  const axisRuns = runs(ax);
  for (const [k, [from, to]] of axisRuns.entries()) {
    const a = shapeSize(shape.slice(0, from));
    const r = shapeSize(shape.slice(from, to));
    const b = shapeSize(shape.slice(to));
    const next = [...shape.slice(0, from), ...shape.slice(to)];
    // The mean's 1/count scales the last run's sums: no pass of its own over the output.
    const scale = op === 'mean' && k === axisRuns.length - 1 ? 1 / count : 1;
    const reduced = reduceMiddle(current, a, r, b, next, scale);
    if (current !== x) current.dispose();
    current = reduced;
    shape = next;
  }
  if (current === x) current = x.share();
  const finalShape = keepDims ? keptShape : shape;
  const out = current.shape.join() === finalShape.join() ? current : current.share(finalShape);
  if (out !== current) current.dispose();
  return out;
}

/** Broadcasts dy (reduced over `axes`) back to `shape`, times `scale`. */
function expandAxes(dy: Tensor, shape: Shape, axes: number[], scale: number): Tensor {
  let current = dy.share(shape.map((d, i) => (axes.includes(i) ? 1 : d)));
  let curShape = [...current.shape];
  for (const [from, to] of runs(axes).reverse()) {
    const a = shapeSize(curShape.slice(0, from));
    const r = shapeSize(shape.slice(from, to));
    const b = shapeSize(curShape.slice(to));
    const nextShape = [...curShape.slice(0, from), ...shape.slice(from, to), ...curShape.slice(to)];
    const next = expandMiddle(current, a, r, b, nextShape, scale);
    scale = 1;
    current.dispose();
    current = next;
    curShape = nextShape;
  }
  return current;
}

function reduceOp(op: 'sum' | 'mean', x: Tensor, axes: number | number[] | undefined, keepDims: boolean): Tensor {
  expectTensor(op, 'input x', x);
  // Checked, not tested for truth: sum(x, 1, { keepDims: false }) would keep the axis.
  if (typeof keepDims !== 'boolean') throw new ArgumentError(`${op}: keepDims must be a boolean, got ${describeValue(keepDims)}`);
  const ax = normaliseAxes(op, x, axes);
  const out = reduceAxes(op, x, ax, keepDims);
  const count = ax.reduce((p, i) => p * x.shape[i], 1);
  return record(op, [x], out, (dy) => [expandAxes(dy, x.shape, ax, op === 'mean' ? 1 / count : 1)]);
}

/** dn.sum(x, axes?, keepDims?): over one axis, several, or all when none are given. */
export function sum(x: Tensor, axes?: number | number[], keepDims = false): Tensor {
  return reduceOp('sum', x, axes, keepDims);
}

/** dn.mean(x, axes?, keepDims?): over one axis, several, or all when none are given. */
export function mean(x: Tensor, axes?: number | number[], keepDims = false): Tensor {
  return reduceOp('mean', x, axes, keepDims);
}

