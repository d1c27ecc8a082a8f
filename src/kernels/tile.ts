// tile(x, reps) as tf.tile (PyTorch's x.repeat with one rep per axis): y [n_0·r_0, …, n_k·r_k],
// y[c] = x[c mod n] on every axis. The forward is slice.ts's gather (begin 0, step 1, period n).
//
// Backward: dx[j] = Σ over the r_0·…·r_k tiles t of dy[j + t·n], a gather-sum per dx element over
// every tile (no atomics: each thread owns its dx element). Nothing is saved but x's shape and reps.
//
// Past the binding limit the backward splits as the gathers do, along axis 0: while dy is too big
// and axis 0 has several tiles, each tile's block of dy rows (contiguous: axis 0 is outermost) is
// summed in its own pass, later passes adding to dx (`accumulate`); with one tile on axis 0, dx and
// dy rows correspond, and chunks of whole rows, or one row at a time at one rank less, fit.

import { ShapeError } from '../errors.js';
import { packParams, u32 } from '../gpu/params.js';
import { runtime, type KernelSpec } from '../gpu/runtime.js';
import { expectTensor } from '../graph/args.js';
import { record } from '../graph/autograd.js';
import { emptyTensor, shapeSize, type Shape, type Tensor } from '../graph/tensor.js';
import { dispatchChunk, range } from './chunking.js';
import { checkRank, expectIntegers, gatherForward, MAX_RANK, stridesOf } from './slice.js';
import { LINEAR_MAIN_ARGS, linearGrid, linearIndex } from './wgsl.js';

const at = (name: string): string => `params.${name}[d / 4][d % 4]`;

const backwardSpec: KernelSpec = {
  name: 'tile.backward',
  key: '',
  inputs: 1,
  outputs: 1,
  wgsl: () => /* wgsl */ `
struct Params { total: u32, rank: u32, tiles: u32, accumulate: u32, size: array<vec4<u32>, 2>, reps: array<vec4<u32>, 2>, stride: array<vec4<u32>, 2>, jump: array<vec4<u32>, 2> }
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read_write> dx: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let i = ${linearIndex()};
  if (i >= params.total) { return; }
  var rest = i;
  var first = 0u;
  for (var d = i32(params.rank) - 1; d >= 0; d--) {
    first += (rest % ${at('size')}) * ${at('stride')};
    rest /= ${at('size')};
  }
  var acc = 0.0;
  for (var t = 0u; t < params.tiles; t++) {
    // Tile t's coordinates over reps; each step along axis d jumps n_d rows of dy on it.
    var k = t;
    var dyIndex = first;
    for (var d = i32(params.rank) - 1; d >= 0; d--) {
      dyIndex += (k % ${at('reps')}) * ${at('jump')};
      k /= ${at('reps')};
    }
    acc += dy[dyIndex];
  }
  if (params.accumulate != 0u) { acc += dx[i]; }
  dx[i] = acc;
}`,
};

/** A piece of the backward: dx of `shape` from float `dxAt`, its `reps` tiles in dy from `dyAt`. */
interface Job {
  dx: Tensor;
  dxAt: number;
  dy: Tensor;
  dyAt: number;
  shape: number[];
  reps: number[];
  accumulate: boolean;
  /** false: a rep is 0, so dy is empty and dx is zeros. */
  live: boolean;
}

function runJob(job: Job): void {
  const { shape, reps } = job;
  const dxSize = shapeSize(shape);
  if (dxSize === 0) return;
  const dyShape = shape.map((n, d) => n * reps[d]);
  const dySize = job.live ? shapeSize(dyShape) : 0;
  const fit = Math.floor(runtime().bindingLimit / 4);
  if (dxSize <= fit && dySize <= fit) {
    dispatchJob(job, dxSize, dyShape);
    return;
  }
  const [n, ...inner] = shape;
  const [r, ...innerReps] = reps;
  const dxInner = shapeSize(inner);
  const dyInner = job.live ? shapeSize(dyShape.slice(1)) : 0;
  if (r > 1 && dySize > fit) {
    for (let t = 0; t < r; t++) {
      runJob({ ...job, dyAt: job.dyAt + t * n * dyInner, reps: [1, ...innerReps], accumulate: job.accumulate || t > 0 });
    }
    return;
  }
  // One tile on axis 0 (or none, dead): row i of dx sums over row i of dy.
  const dxRows = Math.floor(fit / dxInner);
  const dyRows = dyInner === 0 ? Infinity : Math.floor(fit / dyInner);
  const rows = Math.min(dxRows, dyRows);
  for (let i = 0; i < n; i += Math.max(rows, 1)) {
    const dxAt = job.dxAt + i * dxInner;
    const dyAt = job.dyAt + i * dyInner;
    if (rows >= 1) runJob({ ...job, dxAt, dyAt, shape: [Math.min(rows, n - i), ...inner] });
    else runJob({ ...job, dxAt, dyAt, shape: inner, reps: innerReps });
  }
}

function dispatchJob(job: Job, dxSize: number, dyShape: number[]): void {
  const fill = (v: number[], pad: number): number[] => [...v, ...new Array<number>(MAX_RANK - v.length).fill(pad)];
  const stride = stridesOf(dyShape);
  const params = packParams([
    u32(dxSize),
    u32(job.shape.length),
    u32(job.live ? shapeSize(job.reps) : 0),
    u32(job.accumulate ? 1 : 0),
    ...fill(job.shape, 1).map(u32),
    ...fill(job.reps, 1).map(u32),
    ...fill(stride, 0).map(u32),
    ...fill(job.shape.map((n, d) => n * stride[d]), 0).map(u32),
  ]);
  // With a zero rep there is nothing to sum, but the binding must be valid: all of (empty) dy.
  const dy = job.live ? range(job.dy, job.dyAt, shapeSize(dyShape)) : job.dy;
  dispatchChunk(backwardSpec, [dy], [range(job.dx, job.dxAt, dxSize, job.accumulate)], params, linearGrid(dxSize));
}

/** The gradient of tile: each dx element summed over its tiles in dy. */
export function tileBackward(dy: Tensor, xShape: Shape, reps: readonly number[]): Tensor {
  const dx = emptyTensor(xShape, 'tile.dx');
  runJob({ dx, dxAt: 0, dy, dyAt: 0, shape: [...xShape], reps: [...reps], accumulate: false, live: dy.size > 0 });
  return dx;
}

/** Differentiable tf.tile: x repeated reps[d] times along each axis d (one rep per axis; 0 empties it). */
export function tile(x: Tensor, reps: readonly number[]): Tensor {
  const op = 'tile';
  expectTensor(op, 'input x', x);
  checkRank(op, x);
  const r = expectIntegers(op, 'reps', reps, x, { min: 0 });
  if (r.length !== x.rank) throw new ShapeError(`${op}: reps needs one entry per axis of ${x.describe()}, got ${JSON.stringify(reps)}`);
  const xShape = x.shape;
  const y = gatherForward(op, x, xShape.map((n, d) => ({ size: n * r[d], begin: 0, step: 1, period: n })));
  return record(op, [x], y, (dy) => [tileBackward(dy, xShape, r)]);
}
