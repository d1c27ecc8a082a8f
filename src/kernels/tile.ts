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
import { at, coordinates, padToMaxRank, stridesOf } from './gather.js';
import { checkRank, expectIntegers, gatherForward } from './slice.js';
import { LINEAR_MAIN_ARGS, linearGrid, linearIndex, vecType, vecWidth, type VecWidth } from './wgsl.js';

/** x's shape and reps reduced as gather.ts reduces a gather: rep-1 axes of size 1 drop out, a rep-1 axis merges into the one before it. */
export function collapseTiles(shape: readonly number[], reps: readonly number[]): { shape: number[]; reps: number[] } {
  const out: { n: number; r: number }[] = [];
  for (let d = shape.length - 1; d >= 0; d--) {
    const [n, r] = [shape[d], reps[d]];
    if (n === 1 && r === 1) continue;
    // With one tile on the inner axis, dy's rows of it are x's: x coordinate c·n' + c' lies at (c + t·n)·n' + c' in dy.
    if (out[0]?.r === 1) out[0] = { n: n * out[0].n, r };
    else out.unshift({ n, r });
  }
  if (!out.length) out.push({ n: 1, r: 1 });
  return { shape: out.map((a) => a.n), reps: out.map((a) => a.r) };
}

const backwardSpecs = new Map<string, KernelSpec>();

/**
 * The backward for x of `rank` (collapsed) axes, `width` floats per thread. The tiles are summed
 * in nested loops, axis 0 outermost: the order of the old flat tile index, so sums are unchanged.
 */
function backwardSpec(rank: number, width: VecWidth): KernelSpec {
  const key = `r${rank}.v${width}`;
  let spec = backwardSpecs.get(key);
  if (!spec) {
    const type = vecType(width);
    const first = Array.from({ length: rank }, (_, d) => (d === rank - 1 ? `u32(c${d})` : `u32(c${d}) * ${at('stride', d)}`)).join(' + ');
    const open = Array.from({ length: rank }, (_, d) =>
      `for (var t${d} = 0u; t${d} < ${at('reps', d)}; t${d}++) {\n    let o${d} = ${d === 0 ? 'first' : `o${d - 1}`} + t${d} * ${at('jump', d)};`,
    ).join('\n    ');
    spec = {
      name: 'tile.backward',
      key,
      inputs: 1,
      outputs: 1,
      wgsl: () => /* wgsl */ `
struct Params { total: u32, accumulate: u32, pad0: u32, pad1: u32, size: array<vec4<u32>, 2>, reps: array<vec4<u32>, 2>, stride: array<vec4<u32>, 2>, jump: array<vec4<u32>, 2> }
@group(0) @binding(0) var<storage, read> dy: array<${type}>;
@group(0) @binding(1) var<storage, read_write> dx: array<${type}>;
@group(0) @binding(2) var<uniform> params: Params;
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let i = ${linearIndex()};
  if (i >= params.total) { return; }
  ${coordinates(rank)}
  let first = ${first};
  var acc = ${type}();
  ${open}
    acc += dy[o${rank - 1}];
  ${'}'.repeat(rank)}
  if (params.accumulate != 0u) { acc += dx[i]; }
  dx[i] = acc;
}`,
    };
    backwardSpecs.set(key, spec);
  }
  return spec;
}

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
  const fill = padToMaxRank;
  // A dead job (a rep of 0) sums no tiles; it runs in floats, as its binding of dy may be empty.
  const c = collapseTiles(job.shape, job.live ? job.reps : job.reps.map(() => 0));
  const width: VecWidth = job.live ? vecWidth(c.shape[c.shape.length - 1]) : 1;
  // In vec4s the innermost axis is n/4 wide: dy's strides and the jumps between tiles shrink with it.
  const shape = c.shape.map((n, d) => (d === c.shape.length - 1 ? n / width : n));
  const stride = stridesOf(shape.map((n, d) => n * c.reps[d]));
  const params = packParams([
    u32(dxSize / width),
    u32(job.accumulate ? 1 : 0),
    u32(0),
    u32(0),
    ...fill(shape, 1).map(u32),
    ...fill(c.reps, 1).map(u32),
    ...fill(stride, 0).map(u32),
    ...fill(shape.map((n, d) => n * stride[d]), 0).map(u32),
  ]);
  // With a zero rep there is nothing to sum, but the binding must be valid: all of (empty) dy.
  const dy = job.live ? range(job.dy, job.dyAt, shapeSize(dyShape)) : job.dy;
  const spec = backwardSpec(shape.length, width);
  dispatchChunk(spec, [dy], [range(job.dx, job.dxAt, dxSize, job.accumulate)], params, linearGrid(dxSize / width));
}

/** The gradient of tile: each dx element summed over its tiles in dy. */
function tileBackward(dy: Tensor, xShape: Shape, reps: readonly number[]): Tensor {
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
