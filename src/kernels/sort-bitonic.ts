// The engine's GPU sort: rows of (key, index) pairs put in ascending order of key, then index, by a
// bitonic network. dn.sort (sort.ts), topk's large k and gather's gradient (its ids' positions by
// id) are built on it.
//
// Each row of c values is padded to P = the next power of two with pairs (0xffffffff, pos >= c),
// which come after every real pair, so a row's sorted pairs are its first c places. A pair's index
// is its position in the row, so no two pairs of a row are equal and the order is total: the same
// on every run, equal keys in index order (a stable sort), though the network itself is not stable.
//
// Passes (P·log²P/4 compare-exchanges a row, each a thread's):
// - 'local', first: a workgroup loads SORT_BLOCK pairs, making each key from its value by the
//   source's sortKey, and runs every stage up to min(P, SORT_BLOCK) in workgroup memory, a barrier
//   between steps;
// - for each longer stage k (P > SORT_BLOCK): a 'global' pass per step j >= SORT_BLOCK, one thread
//   per pair of places, then 'local' again for the stage's steps below SORT_BLOCK.
// Rows shorter than a block share one (the network's partners never leave a row of P).

import { packParams, u32 } from '../gpu/params.js';
import type { KernelSpec } from '../gpu/runtime.js';
import { emptyTensor, type Tensor } from '../graph/tensor.js';
import { dispatchChunk, type Range } from './chunking.js';
import { linearGrid, LINEAR_MAIN_ARGS, linearIndex, workgroupGrid } from './wgsl.js';

/** Pairs a workgroup sorts in workgroup memory: 512 keys and 512 indices, 4 KiB. */
export const SORT_BLOCK = 512;
const THREADS = SORT_BLOCK / 2;

/** Where a sort's keys come from: WGSL defining `fn sortKey(v: f32, extra: u32) -> u32`. */
export interface SortKey {
  /** Names the key function in the pipeline cache. */
  name: string;
  wgsl: string;
  /** Passed to sortKey as `extra` (gather: the axis length its ids are checked against). */
  extra?: number;
}

/** A sort's result: row r's pairs, in order, at [r·padded, r·padded + c); u32 bits in float tensors. */
export interface SortedPairs {
  keys: Tensor;
  order: Tensor;
  padded: number;
}

/** The next power of two at or above c (1 for 0 and 1). */
export const paddedLength = (c: number): number => 2 ** Math.ceil(Math.log2(Math.max(1, c)));

/** Places a sort of `rows` rows of c needs in each of its two buffers: whole blocks. */
export const sortPlaces = (rows: number, c: number): number => Math.ceil((rows * paddedLength(c)) / SORT_BLOCK) * SORT_BLOCK;

const COMPARE = /* wgsl */ `
fn after(ka: u32, ia: u32, kb: u32, ib: u32) -> bool { return ka > kb || (ka == kb && ia > ib); }`;

const localSpecs = new Map<string, KernelSpec>();

/** 'local': a block's stages kFirst..kLast (each from step min(k/2, THREADS) down), in workgroup memory. */
function localSpec(key: SortKey | null): KernelSpec {
  const cacheKey = key ? `load:${key.name}` : 'merge';
  let spec = localSpecs.get(cacheKey);
  if (spec) return spec;
  const load = key
    ? /* wgsl */ `var k = 0xffffffffu;
    if (row < params.rows && pos < params.c) { k = sortKey(src[row * params.c + pos], params.extra); }
    kw[e] = k;
    iw[e] = pos;`
    : /* wgsl */ `kw[e] = keys[f];
    iw[e] = order[f];`;
  const out = key ? 1 : 0;
  spec = {
    name: 'sort.local',
    key: cacheKey,
    inputs: key ? 1 : 0,
    outputs: 2,
    wgsl: () => /* wgsl */ `
struct Params { rows: u32, c: u32, p: u32, extra: u32, kFirst: u32, kLast: u32 }
${key ? '@group(0) @binding(0) var<storage, read> src: array<f32>;' : ''}
@group(0) @binding(${out}) var<storage, read_write> keys: array<u32>;
@group(0) @binding(${out + 1}) var<storage, read_write> order: array<u32>;
@group(0) @binding(${out + 2}) var<uniform> params: Params;
var<workgroup> kw: array<u32, ${SORT_BLOCK}>;
var<workgroup> iw: array<u32, ${SORT_BLOCK}>;
${key ? key.wgsl : ''}
${COMPARE}
@compute @workgroup_size(${THREADS})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
  let base = (wid.x + wid.y * nwg.x) * ${SORT_BLOCK}u;
  for (var h = 0u; h < 2u; h++) {
    let e = t + h * ${THREADS}u;
    let f = base + e;
    let row = f / params.p;
    let pos = f % params.p;
    ${load}
  }
  workgroupBarrier();
  for (var k = params.kFirst; k <= params.kLast; k <<= 1u) {
    for (var j = min(k >> 1u, ${THREADS}u); j > 0u; j >>= 1u) {
      let i = 2u * j * (t / j) + t % j;
      let l = i + j;
      let ascending = (((base + i) % params.p) & k) == 0u;
      let ka = kw[i];
      let ia = iw[i];
      let kb = kw[l];
      let ib = iw[l];
      if (after(ka, ia, kb, ib) == ascending) {
        kw[i] = kb;
        iw[i] = ib;
        kw[l] = ka;
        iw[l] = ia;
      }
      workgroupBarrier();
    }
  }
  for (var h = 0u; h < 2u; h++) {
    let e = t + h * ${THREADS}u;
    keys[base + e] = kw[e];
    order[base + e] = iw[e];
  }
}`,
  };
  localSpecs.set(cacheKey, spec);
  return spec;
}

/** 'global': step j of stage k over every pair of places, a thread each. */
const globalSpec: KernelSpec = {
  name: 'sort.global',
  key: '',
  inputs: 0,
  outputs: 2,
  wgsl: () => /* wgsl */ `
struct Params { half: u32, p: u32, k: u32, j: u32 }
@group(0) @binding(0) var<storage, read_write> keys: array<u32>;
@group(0) @binding(1) var<storage, read_write> order: array<u32>;
@group(0) @binding(2) var<uniform> params: Params;
${COMPARE}
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let t = ${linearIndex()};
  if (t >= params.half) { return; }
  let j = params.j;
  let i = 2u * j * (t / j) + t % j;
  let l = i + j;
  let ascending = ((i % params.p) & params.k) == 0u;
  let ka = keys[i];
  let ia = order[i];
  let kb = keys[l];
  let ib = order[l];
  if (after(ka, ia, kb, ib) == ascending) {
    keys[i] = kb;
    order[i] = ib;
    keys[l] = ka;
    order[l] = ia;
  }
}`,
};

/**
 * Sorts each of `rows` rows of c floats of src (rows·c of them) by (sortKey(value), position).
 * The caller disposes the result's two tensors; their size is sortPlaces(rows, c), which must fit
 * a binding (callers split their rows first).
 */
export function sortRows(src: Tensor | Range, rows: number, c: number, key: SortKey): SortedPairs {
  const p = paddedLength(c);
  const places = sortPlaces(rows, c);
  const keys = emptyTensor([places], 'sort.keys');
  const order = emptyTensor([places], 'sort.order');
  const blocks = workgroupGrid(places / SORT_BLOCK);
  const local = (k0: number, k1: number, spec: KernelSpec, inputs: (Tensor | Range)[]) =>
    dispatchChunk(spec, inputs, [keys, order], packParams([u32(rows), u32(c), u32(p), u32(key.extra ?? 0), u32(k0), u32(k1)]), blocks);
  local(2, Math.min(p, SORT_BLOCK), localSpec(key), [src]);
  for (let k = 2 * SORT_BLOCK; k <= p; k *= 2) {
    for (let j = k / 2; j >= SORT_BLOCK; j /= 2) {
      dispatchChunk(globalSpec, [], [keys, order], packParams([u32(places / 2), u32(p), u32(k), u32(j)]), linearGrid(places / 2));
    }
    local(k, k, localSpec(null), []);
  }
  return { keys, order, padded: p };
}
