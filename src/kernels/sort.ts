// sort(x, axis, { descending }) as torch.sort with stable=True: the values along one axis in order
// and their indices (float32, as argmax gives them). Ascending by default; equal values (and -0
// with +0) keep their index order either way; NaN counts as larger than every number (last
// ascending, first descending, PyTorch's). argsort gives the indices alone. tfjs has no sort (its
// users call tf.topk with k = the axis).
//
// Along the last axis each row's values are keyed by their bits (extrema.ts's key) and sorted with
// their positions by the merge passes of sort-merge.ts; another axis is moved last and back
// by transposes. A write pass then copies each value from x at its sorted position.
//
// Backward (to x; indices have none): a permutation's, each dy put back where its value came from,
// by a thread per element. Saves the indices.

import { ShapeError } from '../errors.js';
import { packParams, u32 } from '../gpu/params.js';
import type { KernelSpec } from '../gpu/runtime.js';
import { expectKnownOptions, expectNumber, expectOptionalBoolean, expectOptions, expectTensor, normaliseAxis } from '../graph/args.js';
import { noGrad, recordMulti } from '../graph/autograd.js';
import { emptyTensor, shapeSize, type Tensor } from '../graph/tensor.js';
import { chunkItems, dispatchChunk, forEachChunk, part, planned, range } from './chunking.js';
import { sameWgsl } from './extrema.js';
import { sortRows, type SortKey } from './sort-merge.js';
import { transpose } from './transpose.js';
import { LINEAR_MAIN_ARGS, linearGrid, linearIndex } from './wgsl.js';

/** WGSL: rank(v), the order key of a value: NaN above every number, the numbers as floats order them. */
export const RANK_WGSL = /* wgsl */ `${sameWgsl(1)}
fn rank(v: f32) -> u32 { return select(key(v), 0xffffffffu, isNan(v)); }`;

/** Keys that sort values ascending or (their complement) descending. */
export const VALUE_KEYS: Record<'ascending' | 'descending', SortKey> = {
  ascending: { name: 'ascending', wgsl: `${RANK_WGSL}\nfn sortKey(v: f32, extra: u32) -> u32 { return rank(v); }` },
  descending: { name: 'descending', wgsl: `${RANK_WGSL}\nfn sortKey(v: f32, extra: u32) -> u32 { return ~rank(v); }` },
};

/** The first k of each sorted row: x's value at each place and its index. */
const writeSpec: KernelSpec = {
  name: 'sort.write',
  key: '',
  inputs: 2,
  outputs: 2,
  wgsl: () => /* wgsl */ `
struct Params { total: u32, c: u32, k: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> order: array<u32>;
@group(0) @binding(2) var<storage, read_write> values: array<f32>;
@group(0) @binding(3) var<storage, read_write> indices: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let e = ${linearIndex()};
  if (e >= params.total) { return; }
  let row = e / params.k;
  let i = order[row * params.c + e - row * params.k];
  values[e] = x[row * params.c + i];
  indices[e] = f32(i);
}`,
};

/** dx[row, indices[row, j]] = dy[row, j]: each of a row's k picks' gradient back at its index. */
const scatterSpec: KernelSpec = {
  name: 'sort.backward',
  key: '',
  inputs: 2,
  outputs: 1,
  wgsl: () => /* wgsl */ `
struct Params { total: u32, c: u32, k: u32 }
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> indices: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let e = ${linearIndex()};
  if (e >= params.total) { return; }
  dx[(e / params.k) * params.c + u32(indices[e])] = dy[e];
}`,
};

/**
 * The first k of each row of the last axis of x, in `key`'s order, and their indices: x's shape
 * with the last axis k. Rows go a chunk at a time through the sort, within the binding limit.
 */
export function sortedPrefix(op: string, x: Tensor, k: number, key: SortKey): { values: Tensor; indices: Tensor } {
  const c = x.shape[x.rank - 1];
  if (c > 2 ** 24) throw new ShapeError(`${op}: the axis of ${x.describe()} is longer than 2^24, which float32 indices cannot all name`);
  const rows = shapeSize(x.shape.slice(0, -1));
  const outShape = [...x.shape.slice(0, -1), k];
  const outs = [part(planned(`${op}.values`, outShape), k), part(planned(`${op}.indices`, outShape), k)];
  // The sort's two pairs of buffers.
  const scratch = ['keys', 'order', 'keys', 'order'].map((n) => part(planned(`sort.${n}`, [rows, c]), c));
  const per = chunkItems(op, rows, [part(x, c), ...outs, ...scratch]);
  const values = emptyTensor(outShape, `${op}.values`, op);
  const indices = emptyTensor(outShape, `${op}.indices`, op);
  if (rows * k === 0) return { values, indices };
  forEachChunk(rows, per, (first, count) => {
    const src = range(x, first * c, count * c);
    const sorted = sortRows(src, count, c, key);
    const params = packParams([u32(count * k), u32(c), u32(k)]);
    dispatchChunk(writeSpec, [src, sorted.order], [range(values, first * k, count * k), range(indices, first * k, count * k)], params, linearGrid(count * k));
    sorted.keys.dispose();
    sorted.order.dispose();
  });
  return { values, indices };
}

/**
 * Puts each of dy's k values a row back at its index among the c of dx's row (dx's other places
 * keep what they hold: zeros where k < c).
 */
export function scatterPicks(dy: Tensor, indices: Tensor, dx: Tensor, rows: number, c: number, k: number): void {
  const per = chunkItems('sort.backward', rows, [part(dy, k), part(indices, k), part(dx, c)]);
  forEachChunk(rows, per, (first, count) => {
    const params = packParams([u32(count * k), u32(c), u32(k)]);
    const into = range(dx, first * c, count * c, k < c);
    dispatchChunk(scatterSpec, [range(dy, first * k, count * k), range(indices, first * k, count * k)], [into], params, linearGrid(count * k));
  });
}

export interface SortOptions {
  /** Largest first (NaN first of all). Default false: smallest first, NaN last. */
  descending?: boolean;
}

function checkArgs(op: string, x: Tensor, axis: number, options: SortOptions): number {
  expectTensor(op, 'input x', x);
  if (x.rank === 0) throw new ShapeError(`${op}: x ${x.describe()} has no axis to sort along`);
  expectNumber(op, 'axis', axis, { integer: true });
  expectOptions(op, options, '{ descending: true }');
  expectKnownOptions(op, options, ['descending']);
  expectOptionalBoolean(op, 'descending', options.descending);
  return normaliseAxis(op, axis, x.rank, x.describe());
}

/** The permutation that swaps `axis` with the last (its own inverse). */
function swapLast(rank: number, axis: number): number[] {
  const perm = Array.from({ length: rank }, (_, i) => i);
  [perm[axis], perm[rank - 1]] = [rank - 1, axis];
  return perm;
}

/**
 * The values of x along `axis` (the last by default) sorted, and their indices: { values,
 * indices }, each x's shape. Differentiable in x through values.
 */
export function sort(x: Tensor, axis = -1, options: SortOptions = {}): { values: Tensor; indices: Tensor } {
  const ax = checkArgs('sort', x, axis, options);
  if (ax !== x.rank - 1) {
    const perm = swapLast(x.rank, ax);
    const moved = transpose(x, perm);
    const last = sort(moved, -1, options);
    moved.dispose();
    const back = { values: transpose(last.values, perm), indices: transpose(last.indices, perm) };
    last.values.dispose();
    last.indices.dispose();
    return back;
  }
  const c = x.shape[x.rank - 1];
  const { values, indices } = sortedPrefix('sort', x, c, VALUE_KEYS[options.descending ? 'descending' : 'ascending']);
  const xShape = x.shape;
  recordMulti('sort', [x], [values], ([dy], _needs, [saved]) => {
    const dx = emptyTensor(xShape, 'sort.dx');
    if (dx.size > 0) scatterPicks(dy!, saved, dx, dx.size / c, c, c);
    return [dx];
  }, [indices]);
  return { values, indices };
}

/** The indices that sort x along `axis` (sort's indices alone; no gradient). */
export function argsort(x: Tensor, axis = -1, options: SortOptions = {}): Tensor {
  checkArgs('argsort', x, axis, options);
  const { values, indices } = noGrad(() => sort(x, axis, options));
  values.dispose();
  return indices;
}
