// max, min over axes (tf.max, torch.amax) and argmax, argmin along one axis (tf.argMax, torch.argmax).
//
//   y[kept] = max over the reduced axes of x      (min alike)
//   argmax: i[kept] = the first index along the axis where x holds that maximum, as a float32
//
// NaN outranks every number, so an output is NaN when any element it reduces is NaN (PyTorch,
// NumPy); argmax then points at the first NaN, as NumPy and PyTorch's do. Values are compared as
// integers made from their bits: WGSL lets a compiler assume that no float is NaN or infinite,
// so float comparisons could not be trusted with them (nor, under flush-to-zero, with subnormals).
// An output's holders are the elements equal to it (its NaNs, when it is NaN; -0 equals +0).
// Gradient: dy / holders to each holder, 0 elsewhere, as PyTorch's amax splits it. Not tf.max's
// dy to every holder: max(x + t) = max(x) + t, so the gradient of a shift must sum to dy however
// many elements tie (saturated or zeroed activations tie often), and not one holder only (the first,
// as torch.max(dim)'s values do), which would depend on the order of the data. A NaN output's
// gradient goes to its NaNs (amax's is NaN on the whole row); x's gradient there is moot anyway.
// argmax and argmin record nothing for autograd.
//
// Every reduction keeps a state per output: the extremum, the first index holding it and the number
// of holders. Combining two states is associative, so it reduces in any order: the same [A, R, B]
// runs, chunks and passes as reduce.ts's sums. A thread per output (its neighbours read
// neighbouring columns) or a 256-thread workgroup per output with a barrier tree, by
// extrema-rule.ts: on GPUs the thread for rows up to SHORT_ROWS, on CPU adapters always, rows
// past CPU_ROWS in parts whose states a second pass combines. Long rows with few outputs go in
// chunks of rows the same way. Long rows with B a multiple of 4 (a global max pool over NHWC's H
// and W) take extrema-columns.ts instead: four columns per vec4 load. Past the binding limit,
// chunks along A, or along R (states per chunk, then combined) when one row does not fit; R = 1
// is a copy, in flat chunks.
// Indices are exact in float32 up to 2^24, so argmax refuses longer axes.
// Saved for backward: x, y and the holder counts; it compares x with y and scatters dy / count
// (four columns per thread where B is a multiple of 4).
// Axes that are not adjacent reduce a run at a time (states in, states out); backward expands y and
// dy / count over every run but the first (reduce.ts's expandMiddle), then compares over that one.

import { ArgumentError, ShapeError } from '../errors.js';
import { packParams, u32 } from '../gpu/params.js';
import { runtime, type KernelSpec } from '../gpu/runtime.js';
import { describeValue, expectNumber, expectTensor } from '../graph/args.js';
import { record } from '../graph/autograd.js';
import { assertLive, emptyTensor, shapeSize, Tensor, type Shape } from '../graph/tensor.js';
import { chunkItems, dispatchChunk, forEachChunk, part, planned, range, type Range } from './chunking.js';
import { binaryForward } from './elementwise.js';
import { argExtremumRows } from './argmax-rows.js';
import { columnsApply, columnStates, extremaColumnsOverride } from './extrema-columns.js';
import { extremaParts, extremaThreads, SHORT_ROWS } from './extrema-rule.js';
import { expandMiddle, FEW_OUTPUTS, MIN_CHUNK_ROWS, normaliseAxes, runs } from './reduce.js';
import { isNanBits, LINEAR_MAIN_ARGS, linearGrid, linearIndex, vecType, vecWidth, workgroupGrid, type VecWidth } from './wgsl.js';

export type ExtremumKind = 'max' | 'min';

const WG = 256;
/** Float32 holds every integer index below this exactly. */
const MAX_INDEXED = 2 ** 24;

/** Per output: the extremum, the first index holding it and how many hold it (float32 each). */
export interface States {
  value: Tensor;
  index: Tensor;
  count: Tensor;
}

export const statesOf = (s: States): Tensor[] => [s.value, s.index, s.count];
const sourceTensors = (src: Tensor | States): Tensor[] => (src instanceof Tensor ? [src] : statesOf(src));

/** Three tensors of `shape`, labelled `${kind}.${what}value` and so on. */
export function allocStates(kind: ExtremumKind, shape: Shape, what = ''): States {
  return { value: emptyTensor(shape, `${kind}.${what}value`), index: emptyTensor(shape, `${kind}.${what}index`), count: emptyTensor(shape, `${kind}.${what}count`) };
}

function disposeStates(s: States): void {
  for (const t of statesOf(s)) t.dispose();
}

/**
 * WGSL: values compared through their bits, one float or four (the backward's vec4 columns).
 * key() orders every float but NaN as the floats go (-0 and +0 alike, subnormals kept apart from
 * 0); same() is equality with NaN equal to NaN: what makes a holder.
 */
export function sameWgsl(width: VecWidth): string {
  const [f, u, b] = [vecType(width), vecType(width, 'u32'), width === 4 ? 'vec4<bool>' : 'bool'];
  return /* wgsl */ `
fn isNan(v: ${f}) -> ${b} { return ${isNanBits('v', u)}; }
fn key(v: ${f}) -> ${u} {
  let b = select(bitcast<${u}>(v), ${u}(0u), bitcast<${u}>(v) == ${u}(0x80000000u));
  return select(b | ${u}(0x80000000u), ~b, b >= ${u}(0x80000000u));
}
fn same(v: ${f}, w: ${f}) -> ${b} { return select(key(v) == key(w), isNan(v) & isNan(w), isNan(v) | isNan(w)); }`;
}

/** WGSL: a reduction's state and how two combine (NaN beats every number). */
const combineWgsl = (kind: ExtremumKind): string => /* wgsl */ `
struct State { v: f32, i: u32, c: u32 }
${sameWgsl(1)}
fn beats(v: f32, w: f32) -> bool {
  if (isNan(v) || isNan(w)) { return isNan(v) && !isNan(w); }
  return key(v) ${kind === 'max' ? '>' : '<'} key(w);
}
// c = 0 is the empty state. On a tie the lower index and its value stay, the counts add.
fn combine(p: State, q: State) -> State {
  if (q.c == 0u) { return p; }
  if (p.c == 0u || beats(q.v, p.v)) { return q; }
  if (beats(p.v, q.v)) { return p; }
  if (q.i < p.i) { return State(q.v, q.i, p.c + q.c); }
  return State(p.v, p.i, p.c + q.c);
}`;

type Strategy = 'threads' | 'tree';
const specs = new Map<string, KernelSpec>();

/**
 * Output o = [a, chunk, b] reduces rows [chunk·rowsPerChunk, ...) of src[a, r, b]: plain values
 * (index = row + indexOffset, one holder each) or states from an earlier pass.
 */
function reduceSpec(kind: ExtremumKind, strategy: Strategy, states: boolean): KernelSpec {
  const key = `${strategy},${states ? 'states' : 'values'}`;
  const cached = specs.get(`${kind}:${key}`);
  if (cached) return cached;
  const load = states ? 'State(src[k], u32(srcIndex[k]), u32(srcCount[k]))' : 'State(src[k], row + params.indexOffset, 1u)';
  const threads = strategy === 'threads';
  const spec: KernelSpec = {
    name: `${kind}.reduce`,
    key,
    inputs: states ? 3 : 1,
    outputs: 3,
    wgsl: () => /* wgsl */ `
struct Params { a: u32, r: u32, b: u32, chunks: u32, rowsPerChunk: u32, indexOffset: u32 }
@group(0) @binding(0) var<storage, read> src: array<f32>;
${states ? '@group(0) @binding(1) var<storage, read> srcIndex: array<f32>;\n@group(0) @binding(2) var<storage, read> srcCount: array<f32>;' : ''}
@group(0) @binding(${states ? 3 : 1}) var<storage, read_write> value: array<f32>;
@group(0) @binding(${states ? 4 : 2}) var<storage, read_write> index: array<f32>;
@group(0) @binding(${states ? 5 : 3}) var<storage, read_write> count: array<f32>;
@group(0) @binding(${states ? 6 : 4}) var<uniform> params: Params;
${combineWgsl(kind)}
${threads ? '' : `var<workgroup> partial: array<State, ${WG}>;`}
@compute @workgroup_size(${WG})
fn main(${threads ? LINEAR_MAIN_ARGS : '@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32'}) {
  let o = ${threads ? linearIndex() : 'wid.x + wid.y * nwg.x'};
  let inRange = o < params.a * params.chunks * params.b;
  var s = State(0.0, 0u, 0u);
  if (inRange) {
    let ib = o % params.b;
    let chunk = (o / params.b) % params.chunks;
    let base = (o / (params.b * params.chunks)) * params.r * params.b + ib;
    let r1 = min(params.r, (chunk + 1u) * params.rowsPerChunk);
    for (var row = chunk * params.rowsPerChunk${threads ? '' : ' + lid'}; row < r1; row += ${threads ? '1u' : `${WG}u`}) {
      let k = base + row * params.b;
      s = combine(s, ${load});
    }
  }
  ${threads ? 'if (!inRange) { return; }' : `partial[lid] = s;
  workgroupBarrier();
  for (var h = ${WG / 2}u; h > 0u; h >>= 1u) {
    if (lid < h) { partial[lid] = combine(partial[lid], partial[lid + h]); }
    workgroupBarrier();
  }
  if (lid != 0u || !inRange) { return; }
  s = partial[0];`}
  value[o] = s.v;
  index[o] = f32(s.i);
  count[o] = f32(s.c);
}`,
  };
  specs.set(`${kind}:${key}`, spec);
  return spec;
}

const params = (a: number, r: number, b: number, chunks = 1, rowsPerChunk = r, indexOffset = 0): ArrayBuffer =>
  packParams([u32(a), u32(r), u32(b), u32(chunks), u32(rowsPerChunk), u32(indexOffset)]);

/** One dispatch of `outputs` outputs, each over at most `rows` rows. */
function launch(kind: ExtremumKind, src: Tensor | States, inputs: Range[], outputs: Range[], p: ArrayBuffer, rows: number, count: number): void {
  const strategy: Strategy = extremaThreads(rows) ? 'threads' : 'tree';
  const grid = strategy === 'threads' ? linearGrid(count) : workgroupGrid(count);
  dispatchChunk(reduceSpec(kind, strategy, !(src instanceof Tensor)), inputs, outputs, p, grid);
}

const whole = (t: Tensor): Range => range(t, 0, t.size);

/** The states of the middle of an [a, r, b] view of src (values, or states of an earlier run). */
function extremaMiddle(kind: ExtremumKind, src: Tensor | States, a: number, r: number, b: number, outShape: Shape): States {
  const ins = sourceTensors(src);
  assertLive(kind, ...ins);
  const limit = runtime().bindingLimit;
  if (a * b === 0) return allocStates(kind, outShape);
  if (r * b * 4 > limit && r > 1) return splitRows(kind, src, a, r, b, outShape);
  // Columns in vec4s (extrema-columns.ts) where rows are long: with rows of SHORT_ROWS or fewer the
  // thread per output was as fast or faster on lavapipe (its 8 row lanes idle over short rows).
  const columns = extremaColumnsOverride() ?? r > SHORT_ROWS;
  if (columns && columnsApply(r, b)) return columnStates(kind, src, a, r, b, outShape);
  // Parts: a thread's rows on CPU adapters (extrema-rule.ts), states [a, parts, b] then combined.
  const parts = r === 1 ? 1 : extremaParts(r);
  if (a * b < FEW_OUTPUTS && r >= 2 * MIN_CHUNK_ROWS && a * r * b * 4 <= limit) {
    // Few outputs over long rows: states per chunk of rows, each its own workgroup, then combined.
    const chunks = Math.max(parts, Math.min(Math.floor(r / MIN_CHUNK_ROWS), Math.ceil(FEW_OUTPUTS / (a * b))));
    const rowsPerChunk = Math.ceil(r / chunks);
    const used = Math.ceil(r / rowsPerChunk);
    const partial = allocStates(kind, [a, used, b]);
    launch(kind, src, ins.map(whole), statesOf(partial).map(whole), params(a, r, b, used, rowsPerChunk), rowsPerChunk, a * used * b);
    return combinePartial(kind, partial, a, used, b, outShape);
  }
  // R = 1 copies element-wise: flat chunks. Otherwise chunks of whole [r, b] rows.
  const rowsPerPart = Math.ceil(r / parts);
  const statesShape = parts === 1 ? outShape : [a, parts, b];
  const [items, rows, cols] = r === 1 ? [a * b, 1, 1] : [a, r * b, parts * b];
  const plan = planned(`${kind}.value`, statesShape);
  const per = chunkItems(`${kind}.reduce`, items, [...ins.map((t) => part(t, rows)), part(plan, cols), part(plan, cols), part(plan, cols)]);
  const out = allocStates(kind, statesShape, parts === 1 ? '' : 'partial.');
  forEachChunk(items, per, (first, count) => {
    const p = r === 1 ? params(1, 1, count) : params(count, r, b, parts, rowsPerPart);
    const inputs = ins.map((t) => range(t, first * rows, count * rows));
    launch(kind, src, inputs, statesOf(out).map((t) => range(t, first * cols, count * cols)), p, rowsPerPart, count * cols);
  });
  return parts === 1 ? out : combinePartial(kind, out, a, parts, b, outShape);
}

/** Rows too big to bind: states per chunk of r, [a, chunks, b], then combined. */
function splitRows(kind: ExtremumKind, src: Tensor | States, a: number, r: number, b: number, outShape: Shape): States {
  const ins = sourceTensors(src);
  const per = chunkItems(`${kind}.reduce`, r, ins.map((t) => part(t, b)));
  const chunks = Math.ceil(r / per);
  const partial = allocStates(kind, [a, chunks, b]);
  for (let ia = 0; ia < a; ia++) {
    forEachChunk(r, per, (first, count, k) => {
      const inputs = ins.map((t) => range(t, (ia * r + first) * b, count * b));
      const outputs = statesOf(partial).map((t) => range(t, (ia * chunks + k) * b, b));
      launch(kind, src, inputs, outputs, params(1, count, b, 1, count, first), count, b);
    });
  }
  return combinePartial(kind, partial, a, chunks, b, outShape);
}

function combinePartial(kind: ExtremumKind, partial: States, a: number, chunks: number, b: number, outShape: Shape): States {
  try {
    return extremaMiddle(kind, partial, a, chunks, b, outShape);
  } finally {
    disposeStates(partial);
  }
}

/** States over sorted, non-empty `axes`, a run of adjacent axes at a time; axes dropped. */
function extremaAxes(kind: ExtremumKind, x: Tensor, axes: number[]): States {
  let shape = [...x.shape];
  let current: Tensor | States = x;
  for (const [from, to] of runs(axes)) {
    const next = [...shape.slice(0, from), ...shape.slice(to)];
    let reduced: States;
    try {
      reduced = extremaMiddle(kind, current, shapeSize(shape.slice(0, from)), shapeSize(shape.slice(from, to)), shapeSize(shape.slice(to)), next);
    } finally {
      // An earlier run's states go, also when this run cannot fit (LimitError).
      if (!(current instanceof Tensor)) disposeStates(current);
    }
    current = reduced;
    shape = next;
  }
  return current as States;
}

// Four adjacent columns per thread where b is a multiple of 4: a load or store per lane costs a
// bounds check and a branch on lavapipe, once per vec4.
const backwardSpecs = new Map<VecWidth, KernelSpec>();

function backwardSpec(width: VecWidth): KernelSpec {
  const cached = backwardSpecs.get(width);
  if (cached) return cached;
  const t = vecType(width);
  const spec: KernelSpec = {
    name: 'extrema.backward',
    key: String(width),
    inputs: 3,
    outputs: 1,
    wgsl: () => /* wgsl */ `
struct Params { a: u32, r: u32, b: u32 }
@group(0) @binding(0) var<storage, read> x: array<${t}>;
@group(0) @binding(1) var<storage, read> y: array<${t}>;
@group(0) @binding(2) var<storage, read> g: array<${t}>;
@group(0) @binding(3) var<storage, read_write> dx: array<${t}>;
@group(0) @binding(4) var<uniform> params: Params;
${sameWgsl(width)}
@compute @workgroup_size(${WG})
fn main(${LINEAR_MAIN_ARGS}) {
  let i = ${linearIndex()};
  if (i >= params.a * params.r * params.b) { return; }
  let o = (i / (params.r * params.b)) * params.b + i % params.b;
  dx[i] = select(${t}(0.0), g[o], same(x[i], y[o]));
}`,
  };
  backwardSpecs.set(width, spec);
  return spec;
}

/** dx[a, r, b] = g[a, b] where x[a, r, b] holds y[a, b], else 0; chunked as expandMiddle. */
function scatterHolders(x: Tensor, y: Tensor, g: Tensor, a: number, r: number, b: number): Tensor {
  // R = 1: every element holds its own output, so flat chunks work.
  if (r === 1) [a, b] = [a * b, 1];
  const spec = backwardSpec(vecWidth(b));
  const op = spec.name;
  const plan = planned('extrema.dx', x.shape);
  const dispatch = (xs: Range, ys: Range, gs: Range, dxs: Range, ca: number, cr: number): void =>
    dispatchChunk(spec, [xs, ys, gs], [dxs], packParams([u32(ca), u32(cr), u32(b / vecWidth(b))]), linearGrid((ca * cr * b) / vecWidth(b)));
  if (r * b * 4 <= runtime().bindingLimit) {
    const per = chunkItems(op, a, [part(x, r * b), part(plan, r * b), part(y, b), part(g, b)]);
    const dx = emptyTensor(x.shape, 'extrema.dx');
    forEachChunk(a, per, (first, count) => {
      const [at, n] = [first * r * b, count * r * b];
      dispatch(range(x, at, n), range(y, first * b, count * b), range(g, first * b, count * b), range(dx, at, n), count, r);
    });
    return dx;
  }
  // Rows too big to bind: chunks of r, each against its row of y and g.
  const per = chunkItems(op, r, [part(x, b), part(plan, b)]);
  const dx = emptyTensor(x.shape, 'extrema.dx');
  for (let ia = 0; ia < a; ia++) {
    forEachChunk(r, per, (first, count) => {
      const at = (ia * r + first) * b;
      dispatch(range(x, at, count * b), range(y, ia * b, b), range(g, ia * b, b), range(dx, at, count * b), 1, count);
    });
  }
  return dx;
}

/** dL/dx of max or min over sorted `axes`: dy / count to each holder of y. */
function extremumBackward(x: Tensor, y: Tensor, count: Tensor, dy: Tensor, axes: number[]): Tensor {
  const kept = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const g = binaryForward('div', dy, count);
  let [cy, cg] = [y.share(kept), g.share(kept)];
  g.dispose();
  const [first, ...rest] = runs(axes).reverse();
  for (const [from, to] of rest) {
    const shape = [...cy.shape.slice(0, from), ...x.shape.slice(from, to), ...cy.shape.slice(to)];
    const [a, r, b] = [shapeSize(cy.shape.slice(0, from)), shapeSize(x.shape.slice(from, to)), shapeSize(cy.shape.slice(to))];
    const next = [expandMiddle(cy, a, r, b, shape), expandMiddle(cg, a, r, b, shape)];
    cy.dispose();
    cg.dispose();
    [cy, cg] = next;
  }
  const [from, to] = first;
  const dx = scatterHolders(x, cy, cg, shapeSize(x.shape.slice(0, from)), shapeSize(x.shape.slice(from, to)), shapeSize(x.shape.slice(to)));
  cy.dispose();
  cg.dispose();
  return dx;
}

function extremum(kind: ExtremumKind, x: Tensor, axes: number | number[] | undefined, keepDims: boolean): Tensor {
  expectTensor(kind, 'input x', x);
  if (typeof keepDims !== 'boolean') throw new ArgumentError(`${kind}: keepDims must be a boolean, got ${describeValue(keepDims)}`);
  const ax = normaliseAxes(kind, x, axes);
  if (ax.length === 0) return record(kind, [x], x.share(), (dy) => [dy.share()]);
  const empty = ax.find((i) => x.shape[i] === 0);
  if (empty !== undefined) throw new ShapeError(`${kind}: axis ${empty} of ${x.describe()} is empty, so it has no ${kind === 'max' ? 'maximum' : 'minimum'}`);
  const states = extremaAxes(kind, x, ax);
  const shape = keepDims ? x.shape.map((d, i) => (ax.includes(i) ? 1 : d)) : states.value.shape;
  const [y, count] = [states.value.share(shape), states.count.share(shape)];
  disposeStates(states);
  const out = record(kind, [x], y, (dy, _needs, [sx, sy, sc]) => [extremumBackward(sx, sy, sc, dy, ax)], [x, y, count]);
  count.dispose();
  return out;
}

/** dn.max(x, axes?, keepDims?): over one axis, several, or all when none are given (tf.max, torch.amax). */
export function max(x: Tensor, axes?: number | number[], keepDims = false): Tensor {
  return extremum('max', x, axes, keepDims);
}

/** dn.min(x, axes?, keepDims?): over one axis, several, or all when none are given (tf.min, torch.amin). */
export function min(x: Tensor, axes?: number | number[], keepDims = false): Tensor {
  return extremum('min', x, axes, keepDims);
}

function argExtremum(kind: ExtremumKind, x: Tensor, axis: number, keepDims: boolean): Tensor {
  const op = kind === 'max' ? 'argmax' : 'argmin';
  expectTensor(op, 'input x', x);
  expectNumber(op, 'axis', axis, { integer: true });
  if (typeof keepDims !== 'boolean') throw new ArgumentError(`${op}: keepDims must be a boolean, got ${describeValue(keepDims)}`);
  const [ax] = normaliseAxes(op, x, axis);
  const r = x.shape[ax];
  if (r === 0) throw new ShapeError(`${op}: axis ${ax} of ${x.describe()} is empty`);
  if (r > MAX_INDEXED) throw new ShapeError(`${op}: axis ${ax} of ${x.describe()} is longer than 2^24, where float32 indices are no longer exact`);
  // keepDims (PyTorch's keepdim): the axis kept with size 1, which broadcasts against x.
  const outShape = keepDims ? x.shape.map((d, i) => (i === ax ? 1 : d)) : x.shape.filter((_, i) => i !== ax);
  const [a, b] = [shapeSize(x.shape.slice(0, ax)), shapeSize(x.shape.slice(ax + 1))];
  // The last axis where a thread per output would take it anyway: the index alone (argmax-rows.ts).
  if (b === 1 && r > 1 && a > 0 && extremaThreads(r) && extremaParts(r) === 1) return argExtremumRows(kind, x, a, r, outShape);
  const states = extremaMiddle(kind, x, a, r, b, outShape);
  states.value.dispose();
  states.count.dispose();
  return states.index;
}

/**
 * dn.argmax(x, axis, keepDims?): the index of the first maximum along the axis, as float32
 * (oneHot takes it); keepDims keeps the axis with size 1 (PyTorch's keepdim). Not differentiable.
 */
export function argmax(x: Tensor, axis: number, keepDims = false): Tensor {
  return argExtremum('max', x, axis, keepDims);
}

/** dn.argmin(x, axis, keepDims?): the index of the first minimum along the axis, as float32. Not differentiable. */
export function argmin(x: Tensor, axis: number, keepDims = false): Tensor {
  return argExtremum('min', x, axis, keepDims);
}
