// extrema.ts's states (extremum, first index, holder count) over the middle of [A, R, B] when B is
// a multiple of 4: a global max pool over NHWC's H and W, channels last. The kernel is reduce.ts's
// column sums with a state instead of a sum: each workgroup is 8 column lanes of four adjacent
// columns (vec4) by 8 row lanes, over one chunk of rows of one a; its row lanes' states are
// combined in workgroup memory, and the chunks' states, [A, chunks, B], by a second pass of the
// same kernel. A workgroup (or a thread) per output read one float per lane per row and, on
// lavapipe, paid a bounds check and a branch for each: a 2x32x32x32 max took 1.28 ms to the
// 0.12 ms of the same shape's sum on the column path.
//
// The comparisons are extrema.ts's (its key() and isNan(), four at a time): rank() is key() with
// NaN above every number (for min, the key inverted first), so beating is rank >, holding is
// rank == (all NaNs one rank, -0 and +0 one rank) and the empty state is rank 0, which no float
// reaches. On a tie the lower index keeps its value and index and the counts add, as combine() in
// extrema.ts, so results are bit-identical to its kernels whatever the chunks.

import { packParams, u32 } from '../gpu/params.js';
import { runtime, type KernelSpec } from '../gpu/runtime.js';
import type { Shape, Tensor } from '../graph/tensor.js';
import { chunkItems, dispatchChunk, forEachChunk, part, planned, range } from './chunking.js';
import { allocStates, sameWgsl, statesOf, type ExtremumKind, type States } from './extrema.js';
import { maxRowChunks } from './row-chunks.js';

/** Rows per chunk at least this, at most maxRowChunks chunks (reduce.ts's column sums alike). */
const MIN_ROWS = 256;
/** Column lanes (of 4 columns) and row lanes per workgroup. */
const LANES = 8;

const specs = new Map<string, KernelSpec>();

function columnSpec(kind: ExtremumKind, states: boolean): KernelSpec {
  const key = `${kind},${states ? 'states' : 'values'}`;
  const cached = specs.get(key);
  if (cached) return cached;
  const out = states ? 3 : 1;
  const spec: KernelSpec = {
    name: `${kind}.columns`,
    key: states ? 'states' : 'values',
    inputs: states ? 3 : 1,
    outputs: 3,
    wgsl: () => /* wgsl */ `
struct Params { r: u32, b4: u32, rowsPerChunk: u32, chunks: u32 }
struct S { v: vec4<f32>, r: vec4<u32>, i: vec4<u32>, c: vec4<u32> }
@group(0) @binding(0) var<storage, read> src: array<vec4<f32>>;
${states ? '@group(0) @binding(1) var<storage, read> srcIndex: array<vec4<f32>>;\n@group(0) @binding(2) var<storage, read> srcCount: array<vec4<f32>>;' : ''}
@group(0) @binding(${out}) var<storage, read_write> value: array<vec4<f32>>;
@group(0) @binding(${out + 1}) var<storage, read_write> index: array<vec4<f32>>;
@group(0) @binding(${out + 2}) var<storage, read_write> count: array<vec4<f32>>;
@group(0) @binding(${out + 3}) var<uniform> params: Params;
var<workgroup> partial: array<S, ${LANES * LANES}>;
${sameWgsl(4)}
fn rank(v: vec4<f32>) -> vec4<u32> {
  return select(${kind === 'max' ? 'key(v)' : '~key(v)'}, vec4<u32>(0xffffffffu), isNan(v));
}
fn combine(p: S, q: S) -> S {
  let tie = p.r == q.r;
  let qFirst = (q.r > p.r) | (tie & (q.i < p.i));
  let c = select(select(p.c, q.c, q.r > p.r), p.c + q.c, tie);
  return S(select(p.v, q.v, qFirst), max(p.r, q.r), select(p.i, q.i, qFirst), c);
}
@compute @workgroup_size(${LANES}, ${LANES})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let col = wid.x * ${LANES}u + lid.x;
  let chunk = wid.y;
  let ia = wid.z;
  let r1 = min((chunk + 1u) * params.rowsPerChunk, params.r);
  var s = S(vec4<f32>(0.0), vec4<u32>(0u), vec4<u32>(0u), vec4<u32>(0u));
  if (col < params.b4) {
    for (var row = chunk * params.rowsPerChunk + lid.y; row < r1; row += ${LANES}u) {
      let k = (ia * params.r + row) * params.b4 + col;
      ${
        states
          ? `let w = src[k];
      s = combine(s, S(w, rank(w), vec4<u32>(srcIndex[k]), vec4<u32>(srcCount[k])));`
          : `// Rows come in increasing order, so a lane's earlier holder is its first: a tie only counts.
      let w = src[k];
      let wr = rank(w);
      let up = wr > s.r;
      s = S(select(s.v, w, up), max(s.r, wr), select(s.i, vec4<u32>(row), up),
            select(s.c + select(vec4<u32>(0u), vec4<u32>(1u), wr == s.r), vec4<u32>(1u), up));`
      }
    }
  }
  let at = lid.y * ${LANES}u + lid.x;
  partial[at] = s;
  workgroupBarrier();
  for (var h = ${LANES / 2}u; h > 0u; h >>= 1u) {
    if (lid.y < h) { partial[at] = combine(partial[at], partial[at + h * ${LANES}u]); }
    workgroupBarrier();
  }
  if (lid.y != 0u || col >= params.b4) { return; }
  let o = (ia * params.chunks + chunk) * params.b4 + col;
  s = partial[at];
  value[o] = s.v;
  index[o] = vec4<f32>(s.i);
  count[o] = vec4<f32>(s.c);
}`,
  };
  specs.set(key, spec);
  return spec;
}

/** Whether columnStates takes [a, r, b]: columns in vec4s, a column-group grid a dispatch allows, rows that bind. */
export function columnsApply(r: number, b: number): boolean {
  const maxDim = runtime().limits.maxComputeWorkgroupsPerDimension;
  return r > 1 && b % 4 === 0 && b > 0 && Math.ceil(b / (4 * LANES)) <= maxDim && r * b * 4 <= runtime().bindingLimit;
}


/**
 * The states of the middle of [a, r, b] (columnsApply true) from values or earlier states: per
 * chunk of rows, then combined. Split along A where x does not fit one binding.
 */
export function columnStates(kind: ExtremumKind, src: Tensor | States, a: number, r: number, b: number, outShape: Shape): States {
  const ins = 'value' in src ? statesOf(src) : [src];
  const groups = Math.ceil(b / (4 * LANES));
  const chunks = Math.max(1, Math.min(maxRowChunks(groups * a), Math.ceil(r / MIN_ROWS)));
  const rowsPerChunk = Math.ceil(r / chunks);
  const used = Math.ceil(r / rowsPerChunk);
  const what = used === 1 ? '' : 'partial.';
  const plan = planned(`${kind}.${what}value`, [a, used, b]);
  const maxDim = runtime().limits.maxComputeWorkgroupsPerDimension;
  const per = Math.min(chunkItems(`${kind}.columns`, a, [...ins.map((t) => part(t, r * b)), ...[0, 1, 2].map(() => part(plan, used * b))]), maxDim);
  const out = allocStates(kind, used === 1 ? outShape : [a, used, b], what);
  const p = packParams([u32(r), u32(b / 4), u32(rowsPerChunk), u32(used)]);
  const spec = columnSpec(kind, ins.length === 3);
  forEachChunk(a, per, (first, count) => {
    const inputs = ins.map((t) => range(t, first * r * b, count * r * b));
    const outputs = statesOf(out).map((t) => range(t, first * used * b, count * used * b));
    dispatchChunk(spec, inputs, outputs, p, [groups, used, count]);
  });
  if (used === 1) return out;
  try {
    return columnStates(kind, out, a, used, b, outShape);
  } finally {
    for (const t of statesOf(out)) t.dispose();
  }
}

const override = new WeakMap<GPUDevice, boolean>();

/** Tests and benchmarks: force the column path on or off where it applies on this device; null: as routed. */
export function setExtremaColumns(on: boolean | null): void {
  const device = runtime().device;
  if (on === null) override.delete(device);
  else override.set(device, on);
}

export const extremaColumnsOverride = (): boolean | undefined => override.get(runtime().device);
