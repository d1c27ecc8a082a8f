// gather's gradient (index-gather.ts): dx[o, j, k] = Σ dy[o, c, k] over every c whose id is j, in
// the order of c. Two ways, chosen by their cost, the same sums in the same order either way:
//
// - 'scan': the thread of each dx element reads the whole id list (|x|·L reads). Best when x is
//   small beside the ids.
// - 'sorted': the ids' positions sorted by (id, position) first, then each dx element sums just
//   its own run of them. The sort is sort-merge.ts's (L·log²L/2 reads, no atomics, so the order
//   is fixed; until 2026-11-28 a rank per position, L² compares); each
//   row's run starts where a binary search of the sorted ids finds its id (n·log L). An embedding table's rows (n = 4096, 256 wide, 512
//   ids) took 265 ms by scanning on lavapipe: most rows are picked by no id, and every row's
//   thread still read all 512.
//
// Ids outside the axis sort after every row's run, so no row sums them.

import { packParams, u32 } from '../gpu/params.js';
import type { KernelSpec } from '../gpu/runtime.js';
import { emptyTensor, type Shape, type Tensor } from '../graph/tensor.js';
import { chunkItems, dispatchChunk, forEachChunk, part, planned, range } from './chunking.js';
import { forcedWay } from './forced-way.js';
import { mergePasses, sortRows, type SortKey } from './sort-merge.js';
import { LINEAR_MAIN_ARGS, linearGrid, linearIndex, vecType, vecWidth, type VecWidth } from './wgsl.js';

/** x as [outer, n, inner] around gather's axis. */
export interface GatherLayout {
  outer: number;
  n: number;
  inner: number;
}

/**
 * WGSL: idOf(raw, n), the row an id names, rounded as oneHot rounds; n (past every row, which
 * also sorts it after every row's run) for one outside [0, n) or NaN. The range test comes before
 * u32(), which clamps.
 */
export const ID_FN = /* wgsl */ `
fn idOf(raw: f32, n: u32) -> u32 {
  let v = floor(raw + 0.5);
  return select(n, u32(select(0.0, v, v >= 0.0)), v >= 0.0 && v < f32(n));
}`;

/** The sort's key of an id: its row, n for one outside the axis (after every row's run). */
const ID_KEY = (n: number): SortKey => ({ name: 'gather-id', wgsl: `${ID_FN}\nfn sortKey(v: f32, extra: u32) -> u32 { return idOf(v, extra); }`, extra: n });

const startsSpec: KernelSpec = {
  name: 'gather.rowStarts',
  key: '',
  inputs: 1,
  outputs: 1,
  wgsl: () => /* wgsl */ `
struct Params { n: u32, l: u32 }
@group(0) @binding(0) var<storage, read> keys: array<u32>;
@group(0) @binding(1) var<storage, read_write> starts: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let j = ${linearIndex()};
  if (j > params.n) { return; }
  // The first sorted position whose key is j or more.
  var lo = 0u;
  var hi = params.l;
  while (lo < hi) {
    let mid = (lo + hi) / 2u;
    if (keys[mid] < j) { lo = mid + 1u; } else { hi = mid; }
  }
  starts[j] = f32(lo);
}`,
};

const sumSpecs = new Map<string, KernelSpec>();

function sumSpec(way: 'scan' | 'sorted', width: VecWidth): KernelSpec {
  const key = `${way}.v${width}`;
  let s = sumSpecs.get(key);
  if (s) return s;
  const T = vecType(width);
  const loop =
    way === 'scan'
      ? /* wgsl */ `for (var c = 0u; c < params.l; c++) {
    if (idOf(ids[c], params.n) == j) { acc += dy[(o * params.l + c) * params.inner + k]; }
  }`
      : /* wgsl */ `for (var p = u32(starts[j]); p < u32(starts[j + 1u]); p++) {
    acc += dy[(o * params.l + order[p]) * params.inner + k];
  }`;
  const bindings =
    way === 'scan'
      ? `@group(0) @binding(1) var<storage, read> ids: array<f32>;`
      : `@group(0) @binding(1) var<storage, read> order: array<u32>;\n@group(0) @binding(2) var<storage, read> starts: array<f32>;`;
  const out = way === 'scan' ? 2 : 3;
  s = {
    name: 'gather.backward',
    key,
    inputs: way === 'scan' ? 2 : 3,
    outputs: 1,
    wgsl: () => /* wgsl */ `
struct Params { total: u32, n: u32, l: u32, inner: u32 }
@group(0) @binding(0) var<storage, read> dy: array<${T}>;
${bindings}${way === 'scan' ? ID_FN : ''}
@group(0) @binding(${out}) var<storage, read_write> dx: array<${T}>;
@group(0) @binding(${out + 1}) var<uniform> params: Params;
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let i = ${linearIndex()};
  if (i >= params.total) { return; }
  let k = i % params.inner;
  let j = (i / params.inner) % params.n;
  let o = i / (params.inner * params.n);
  var acc = ${T}();
  ${loop}
  dx[i] = acc;
}`,
  };
  sumSpecs.set(key, s);
  return s;
}

/** Positions past which float32 counts stop being exact: 'sorted' stores its runs' starts as floats. */
const EXACT_COUNT = 2 ** 24;

/**
 * 'sorted' where its passes cost less than scanning: x's threads times L, against the sort's
 * reads (L·log²L/2) + n·log L + |x| + L·inner.
 */
export function backwardWay(g: GatherLayout, l: number): 'scan' | 'sorted' {
  if (l >= EXACT_COUNT) return 'scan';
  const width = vecWidth(g.inner);
  const threads = (g.outer * g.n * g.inner) / width;
  const scan = threads * l;
  const sorted = (l * mergePasses(l) ** 2) / 2 + (g.n + 1) * Math.log2(l + 1) + threads + (g.outer * l * g.inner) / width;
  return sorted < scan ? 'sorted' : 'scan';
}

const forced = forcedWay<'scan' | 'sorted'>();

/** Runs fn with every gather backward taking `way` (the bench times both ways beside each other). */
export const withBackwardWay = <T>(way: 'scan' | 'sorted', fn: () => T): T => forced.with(way, fn);

/** dx of xShape from dy [outer, L, inner] and the ids (L > 0), by the cheaper way. */
export function gatherBackward(dy: Tensor, ids: Tensor, xShape: Shape, g: GatherLayout, l: number, way = forced.current ?? backwardWay(g, l)): Tensor {
  const perDx = g.n * g.inner;
  if (g.outer * perDx === 0) return emptyTensor(xShape, 'gather.dx');
  // Planned before anything is allocated, so a binding too small leaks nothing.
  const sortBuffers = ['keys', 'order', 'keys', 'order'].map((n) => planned(`sort.${n}`, [l]));
  const lists = way === 'sorted' ? [ids, ...sortBuffers, planned('gather.starts', [g.n + 1])] : [ids];
  const per = chunkItems('gather.backward', g.outer, [part(dy, l * g.inner), part(planned('gather.dx', xShape), perDx)], lists);
  let sorted: { order: Tensor; starts: Tensor } | null = null;
  if (way === 'sorted') {
    const { keys, order } = sortRows(ids, 1, l, ID_KEY(g.n));
    const starts = emptyTensor([g.n + 1], 'gather.starts');
    dispatchChunk(startsSpec, [keys], [starts], packParams([u32(g.n), u32(l)]), linearGrid(g.n + 1));
    keys.dispose();
    sorted = { order, starts };
  }
  const whole = sorted ? [sorted.order, sorted.starts] : [ids];
  const dx = emptyTensor(xShape, 'gather.dx');
  const width = vecWidth(g.inner);
  forEachChunk(g.outer, per, (first, count) => {
    const total = (count * perDx) / width;
    const params = packParams([u32(total), u32(g.n), u32(l), u32(g.inner / width)]);
    const src = range(dy, first * l * g.inner, count * l * g.inner);
    dispatchChunk(sumSpec(way, width), [src, ...whole], [range(dx, first * perDx, count * perDx)], params, linearGrid(total));
  });
  if (sorted) for (const t of [sorted.order, sorted.starts]) t.dispose();
  return dx;
}
