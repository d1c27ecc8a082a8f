// slice, stridedSlice and reverse (tf.slice / tf.stridedSlice / tf.reverse, PyTorch's x[a:b:s] and
// torch.flip), and the gather they and tile (kernels/tile.ts) share. Output coordinate c on axis d
// reads input coordinate
//     (begin_d + c · step_d) mod period_d,      period_d = x's size on axis d.
// A slice stays inside x (0 ≤ begin + c·step < n for every c), so the mod never wraps; reverse is
// begin n − 1, step −1; tile is begin 0, step 1 and wraps once per tile. Flat indices are u32,
// per-axis coordinates i32 (negative steps), ranks up to 8 as in transpose.ts.
//
// Backward of slice and stridedSlice: dx is dy scattered into zeros of x's shape. A slice's elements
// are distinct, so it runs as a gather per dx element (no atomics, no separate zero fill): x
// coordinate j came from c = (j − begin) / step when that divides exactly and 0 ≤ c < y's size,
// else dx is 0. reverse's gradient is reverse(dy). Nothing is saved: only shapes, begins and steps.
//
// Past the binding limit (kernels/chunking.ts) a gather splits along axis 0: chunks of whole rows
// of the written tensor, each binding just the rows of the read tensor it touches (a tile chunk
// that wraps binds all of x); when one row is too big for a binding, each row is its own gather of
// one rank less. Chunk offsets are not aligned, so dispatchChunk stages the misaligned ones.
// Each piece's kernel is written for its shape (kernels/gather.ts): axes collapsed, vec4s where
// the innermost run allows.

import { ArgumentError, ShapeError } from '../errors.js';
import { runtime } from '../gpu/runtime.js';
import { describeValue, expectNumber, expectTensor } from '../graph/args.js';
import { record } from '../graph/autograd.js';
import { emptyTensor, formatShape, shapeSize, type Shape, type Tensor } from '../graph/tensor.js';
import { dispatchChunk, range } from './chunking.js';
import { collapseAxes, gatherKernel, gatherParams, gatherPlan, gatherThreads, MAX_RANK, type Direction, type GatherAxis } from './gather.js';

export type { GatherAxis } from './gather.js';
import { linearGrid } from './wgsl.js';

/** A gather, or a piece of one: `dst` written from float `dstAt`, `src` read from `srcAt`. */
interface Job {
  dst: Tensor;
  dstAt: number;
  src: Tensor;
  srcAt: number;
  axes: GatherAxis[];
  /** false: no element of src lands here (a slice's backward between its rows): dst is zeros. */
  live: boolean;
}

/** Rows [lo, lo + rows) of src that dst rows [t0, t0 + count) of `axis` read, and the begin that makes them local. */
function rowsRead(direction: Direction, axis: GatherAxis, t0: number, count: number): { lo: number; rows: number; begin: number } | null {
  const { begin, step, period } = axis;
  if (direction === 'forward') {
    const a = (((begin + t0 * step) % period) + period) % period;
    const e = a + (count - 1) * step;
    if (e >= 0 && e < period) return { lo: Math.min(a, e), rows: Math.abs(e - a) + 1, begin: a - Math.min(a, e) };
    return { lo: 0, rows: period, begin: a }; // a tile chunk that wraps: all of x's rows
  }
  const [u, v] = [(t0 - begin) / step, (t0 + count - 1 - begin) / step];
  const [lo, hi] = [Math.max(0, Math.ceil(Math.min(u, v))), Math.min(period - 1, Math.floor(Math.max(u, v)))];
  return lo > hi ? null : { lo, rows: hi - lo + 1, begin: begin - t0 + lo * step };
}

/** The most dst rows from t0 (at most `most`) whose src rows number at most `srcRows`; rows read grow with the count. */
function rowsPerChunk(direction: Direction, axis: GatherAxis, t0: number, most: number, srcRows: number): number {
  let [lo, hi] = [1, most];
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if ((rowsRead(direction, axis, t0, mid)?.rows ?? 0) <= srcRows) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

function runJob(op: string, direction: Direction, job: Job): void {
  const dstShape = job.axes.map((a) => a.size);
  const srcShape = job.axes.map((a) => a.period);
  const dstSize = shapeSize(dstShape);
  if (dstSize === 0) return;
  const srcSize = job.live ? shapeSize(srcShape) : 0;
  const fit = Math.floor(runtime().bindingLimit / 4);
  if (dstSize <= fit && srcSize <= fit) {
    dispatchJob(op, direction, job, dstSize, srcShape);
    return;
  }
  const [first, ...rest] = job.axes;
  const dstInner = shapeSize(dstShape.slice(1));
  const srcInner = job.live ? shapeSize(srcShape.slice(1)) : 0;
  const dstRows = Math.floor(fit / dstInner);
  const srcRows = srcInner === 0 ? Infinity : Math.floor(fit / srcInner);
  // Whole rows fit: chunks of rows. Otherwise each row of axis 0 is a gather of one rank less.
  const rows = dstRows >= 1 && srcRows >= 1;
  for (let t0 = 0, count = 1; t0 < first.size; t0 += count) {
    count = rows ? rowsPerChunk(direction, first, t0, Math.min(dstRows, first.size - t0), srcRows) : 1;
    const read = job.live ? rowsRead(direction, first, t0, count) : null;
    const axes = rows ? [{ size: count, begin: read?.begin ?? 0, step: first.step, period: read?.rows ?? 0 }, ...rest] : rest;
    const srcAt = job.srcAt + (read ? read.lo * srcInner : 0);
    runJob(op, direction, { dst: job.dst, dstAt: job.dstAt + t0 * dstInner, src: job.src, srcAt, axes, live: read !== null });
  }
}

function dispatchJob(op: string, direction: Direction, job: Job, dstSize: number, srcShape: number[]): void {
  // A dead job only writes zeros: one axis, and floats, as its binding of src is a single one.
  const axes = job.live ? collapseAxes(direction, job.axes) : null;
  const plan = axes ? gatherPlan(direction, axes) : gatherPlan(direction, [{ size: dstSize, begin: 0, step: 1, period: 1 }], false);
  const src = axes ? range(job.src, job.srcAt, shapeSize(srcShape)) : job.src.size > 0 ? range(job.src, 0, 1) : job.src;
  dispatchChunk(gatherKernel(op, direction, plan), [src], [range(job.dst, job.dstAt, dstSize)], gatherParams(plan, axes !== null), linearGrid(gatherThreads(plan)));
}

/** The raw gather (no tape): y[c] reads x at (begin + c·step) mod period on every axis. */
export function gatherForward(op: string, x: Tensor, axes: GatherAxis[]): Tensor {
  const y = emptyTensor(axes.map((a) => a.size), `${op}.out`);
  runJob(op, 'forward', { dst: y, dstAt: 0, src: x, srcAt: 0, axes, live: true });
  return y;
}

/** The gradient of a slice gathered by `axes` from x of `xShape`: dy at the elements it read, zeros elsewhere. */
function sliceBackward(op: string, dy: Tensor, xShape: Shape, axes: GatherAxis[]): Tensor {
  const dx = emptyTensor(xShape, `${op}.dx`);
  const back = axes.map((a, d) => ({ size: xShape[d], begin: a.begin, step: a.step, period: a.size }));
  runJob(op, 'backward', { dst: dx, dstAt: 0, src: dy, srcAt: 0, axes: back, live: dy.size > 0 });
  return dx;
}

export function checkRank(op: string, x: Tensor): void {
  if (x.rank > MAX_RANK) throw new ShapeError(`${op}: at most ${MAX_RANK} axes, got ${formatShape(x.shape)}`);
}

/** An array of integers with at most one entry per axis of x. */
export function expectIntegers(op: string, role: string, v: unknown, x: Tensor, rule: { min?: number } = {}): number[] {
  if (!Array.isArray(v)) throw new ArgumentError(`${op}: ${role} must be an array of integers, got ${describeValue(v)}`);
  v.forEach((e, i) => expectNumber(op, `${role}[${i}]`, e, { integer: true, ...rule }));
  if (v.length > x.rank) throw new ShapeError(`${op}: ${role} has ${v.length} entries for the ${x.rank} axes of ${x.describe()}`);
  return v as number[];
}

/** y = the gather of x by `axes`, differentiable as a slice. */
function sliced(op: string, x: Tensor, axes: GatherAxis[]): Tensor {
  const xShape = x.shape;
  return record(op, [x], gatherForward(op, x, axes), (dy) => [sliceBackward(op, dy, xShape, axes)]);
}

/**
 * tf.slice: `size[d]` elements from `begin[d]` on each axis. A negative begin counts from the end
 * (−1 is the last element); size −1 (the default) takes the rest of the axis. Axes past the end of
 * `begin` are taken whole. Out-of-range begins and sizes are ShapeErrors.
 */
export function slice(x: Tensor, begin: readonly number[], size?: readonly number[]): Tensor {
  const op = 'slice';
  expectTensor(op, 'input x', x);
  checkRank(op, x);
  const b = expectIntegers(op, 'begin', begin, x);
  const s = size === undefined ? [] : expectIntegers(op, 'size', size, x, { min: -1 });
  const axes = x.shape.map((n, d): GatherAxis => {
    const raw = b[d] ?? 0;
    const start = raw < 0 ? raw + n : raw;
    if (start < 0 || start > n) throw new ShapeError(`${op}: begin ${raw} on axis ${d} is outside [-${n}, ${n}] (${x.describe()})`);
    const length = (s[d] ?? -1) === -1 ? n - start : s[d];
    if (start + length > n) throw new ShapeError(`${op}: size ${length} from ${start} on axis ${d} runs past its ${n} elements (${x.describe()})`);
    return { size: length, begin: start, step: 1, period: n };
  });
  return sliced(op, x, axes);
}

/** Python's slice(start, stop, step) on an axis of n: bounds count from the end when negative, then clamp. */
function pythonSlice(n: number, start: number, stop: number, step: number): GatherAxis {
  const [lo, hi] = step > 0 ? [0, n] : [-1, n - 1];
  const clamp = (v: number): number => Math.min(hi, Math.max(lo, v < 0 ? v + n : v));
  const [first, last] = [clamp(start), clamp(stop)];
  const size = Math.max(0, Math.ceil((last - first) / step));
  // With one element or none the step is never used: 1 keeps a huge one out of the i32 params.
  return { size, begin: first, step: size > 1 ? step : 1, period: n };
}

/**
 * tf.stridedSlice without masks, as Python slices x[b0:e0:s0, b1:e1:s1, ...]: negative begins and
 * ends count from the end, out-of-range ones clamp to the axis, strides may be negative (not 0),
 * and an end not on the stride is not reached. Axes past the end of `begin` are taken whole;
 * `strides` defaults to ones.
 */
export function stridedSlice(x: Tensor, begin: readonly number[], end: readonly number[], strides?: readonly number[]): Tensor {
  const op = 'stridedSlice';
  expectTensor(op, 'input x', x);
  checkRank(op, x);
  const b = expectIntegers(op, 'begin', begin, x);
  const e = expectIntegers(op, 'end', end, x);
  const s = strides === undefined ? b.map(() => 1) : expectIntegers(op, 'strides', strides, x);
  if (e.length !== b.length || s.length !== b.length) {
    throw new ShapeError(`${op}: begin, end and strides need the same length, got ${b.length}, ${e.length} and ${s.length}`);
  }
  const zero = s.indexOf(0);
  if (zero >= 0) throw new ArgumentError(`${op}: strides[${zero}] must not be 0`);
  const axes = x.shape.map((n, d) => (d < b.length ? pythonSlice(n, b[d], e[d], s[d]) : { size: n, begin: 0, step: 1, period: n }));
  return sliced(op, x, axes);
}

/** tf.reverse / torch.flip: x with the order of the given axes reversed (default: all of them). */
export function reverse(x: Tensor, axes?: number | readonly number[]): Tensor {
  const op = 'reverse';
  expectTensor(op, 'input x', x);
  checkRank(op, x);
  let list: number[];
  if (axes === undefined) list = x.shape.map((_, d) => d);
  else if (typeof axes === 'number') list = [axes];
  else if (Array.isArray(axes)) list = [...axes];
  else throw new ArgumentError(`${op}: axes must be an axis or an array of axes, got ${describeValue(axes)}`);
  list.forEach((a, i) => expectNumber(op, `axes[${i}]`, a, { integer: true }));
  const flips = list.map((a) => (a < 0 ? a + x.rank : a));
  if (flips.some((a) => a < 0 || a >= x.rank) || new Set(flips).size !== flips.length) {
    throw new ShapeError(`${op}: axes ${JSON.stringify(axes)} must name distinct axes of ${x.describe()}`);
  }
  const gather = x.shape.map((n, d): GatherAxis => (flips.includes(d) ? { size: n, begin: n - 1, step: -1, period: n } : { size: n, begin: 0, step: 1, period: n }));
  const flip = (t: Tensor): Tensor => gatherForward(op, t, gather);
  return record(op, [x], flip(x), (dy) => [flip(dy)]);
}
