// The engine's GPU sort: rows of (key, index) pairs put in ascending order of key, then index, by
// merging sorted runs of 1, 2, 4, ... places, a pass each. dn.sort (sort.ts), topk's large k and
// gather's gradient (its ids' positions by id) are built on it.
//
// A pair's index is its position in the row, so no two pairs of a row are equal and the order is
// total: the same on every run, equal keys in index order (a stable sort), with no atomics.
//
// Each merge pass moves every pair once, by a thread each, straight to its place in the merged run:
// its place in its own run plus the number of pairs of the other run that come before it, which a
// binary search of that run counts (log₂w + 1 reads for runs of w; the same count of steps in every
// thread, so lanes stay together). A row of c takes ⌈log₂c⌉ passes and c·log²c/2 reads. A bitonic
// network (the usual GPU sort, tried first here: blocks of 512 in workgroup memory, then a global
// pass per step of the longer stages) needs log²c/2 steps, each behind a barrier or a pass; on
// lavapipe it sorted 4 and 32 rows of 1000 and one of 65536 in 4.0-4.6, 16.5-17.3 and 66-68 ms
// against 1.9-2.8, 9.2-10.0 and 22-39 ms by these passes (wall clock, best of 5, interleaved).

import { packParams, u32 } from '../gpu/params.js';
import type { KernelSpec } from '../gpu/runtime.js';
import { emptyTensor, type Tensor } from '../graph/tensor.js';
import { dispatchChunk, type Range } from './chunking.js';
import { linearGrid, LINEAR_MAIN_ARGS, linearIndex } from './wgsl.js';

/** Where a sort's keys come from: WGSL defining `fn sortKey(v: f32, extra: u32) -> u32`. */
export interface SortKey {
  /** Names the key function in the pipeline cache. */
  name: string;
  wgsl: string;
  /** Passed to sortKey as `extra` (gather: the axis length its ids are checked against). */
  extra?: number;
}

/** A sort's result: row r's pairs, in order, at [r·c, (r + 1)·c); u32 bits in float tensors. */
export interface SortedPairs {
  keys: Tensor;
  order: Tensor;
}

/** Merge passes a row of c takes: runs of 1, 2, 4, ... up to c. */
export const mergePasses = (c: number): number => (c <= 1 ? 0 : Math.ceil(Math.log2(c)));

const keySpecs = new Map<string, KernelSpec>();

/** Each place's key and its position in its row. */
function keySpec(key: SortKey): KernelSpec {
  let spec = keySpecs.get(key.name);
  if (spec) return spec;
  spec = {
    name: 'sort.keys',
    key: key.name,
    inputs: 1,
    outputs: 2,
    wgsl: () => /* wgsl */ `
struct Params { total: u32, c: u32, extra: u32 }
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> keys: array<u32>;
@group(0) @binding(2) var<storage, read_write> order: array<u32>;
@group(0) @binding(3) var<uniform> params: Params;
${key.wgsl}
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let f = ${linearIndex()};
  if (f >= params.total) { return; }
  keys[f] = sortKey(src[f], params.extra);
  order[f] = f - (f / params.c) * params.c;
}`,
  };
  keySpecs.set(key.name, spec);
  return spec;
}

/** One pass: the runs of w of each row merged in pairs, from (keys, order) into (keysOut, orderOut). */
const mergeSpec: KernelSpec = {
  name: 'sort.merge',
  key: '',
  inputs: 2,
  outputs: 2,
  wgsl: () => /* wgsl */ `
struct Params { total: u32, c: u32, w: u32, shift: u32 }
@group(0) @binding(0) var<storage, read> keys: array<u32>;
@group(0) @binding(1) var<storage, read> order: array<u32>;
@group(0) @binding(2) var<storage, read_write> keysOut: array<u32>;
@group(0) @binding(3) var<storage, read_write> orderOut: array<u32>;
@group(0) @binding(4) var<uniform> params: Params;
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let f = ${linearIndex()};
  if (f >= params.total) { return; }
  // One integer division a thread (lavapipe divides lane by lane); w is 2^shift.
  let w = params.w;
  let row = f / params.c;
  let rowStart = row * params.c;
  let pos = f - rowStart;
  let run = pos >> params.shift;
  let k = keys[f];
  let i = order[f];
  // The other run of the pair, clipped at the row's end (the last run may be short or missing).
  let other = (run ^ 1u) << params.shift;
  let len = select(0u, min(w, params.c - other), other < params.c);
  // How many of the other run's pairs come before (k, i): the largest count whose last pair does.
  var before = 0u;
  // Without branches (lavapipe runs a branch's loads lane by lane behind a mask): a step past the
  // run reads the row's first pair and is not taken.
  for (var step = w; step > 0u; step >>= 1u) {
    let at = before + step;
    let inRun = at <= len;
    let j = select(rowStart, rowStart + other + at - 1u, inRun);
    let kj = keys[j];
    let oj = order[j];
    before = select(before, at, inRun && (kj < k || (kj == k && oj < i)));
  }
  let place = rowStart + ((run & ~1u) << params.shift) + (pos & (w - 1u)) + before;
  keysOut[place] = k;
  orderOut[place] = i;
}`,
};

/**
 * Sorts each of `rows` rows of c floats of src (rows·c of them) by (sortKey(value), position).
 * The caller disposes the result's two tensors of rows·c, which must fit a binding (callers split
 * their rows first).
 */
export function sortRows(src: Tensor | Range, rows: number, c: number, key: SortKey): SortedPairs {
  const total = rows * c;
  const made = () => ({ keys: emptyTensor([total], 'sort.keys'), order: emptyTensor([total], 'sort.order') });
  let from = made();
  dispatchChunk(keySpec(key), [src], [from.keys, from.order], packParams([u32(total), u32(c), u32(key.extra ?? 0)]), linearGrid(total));
  if (mergePasses(c) === 0) return from;
  // Two buffers of each, read and written in turn: the pool reuses a freed buffer only after a submit.
  let to = made();
  for (let shift = 0; shift < mergePasses(c); shift++) {
    const params = packParams([u32(total), u32(c), u32(2 ** shift), u32(shift)]);
    dispatchChunk(mergeSpec, [from.keys, from.order], [to.keys, to.order], params, linearGrid(total));
    [from, to] = [to, from];
  }
  for (const t of [to.keys, to.order]) t.dispose();
  return from;
}
