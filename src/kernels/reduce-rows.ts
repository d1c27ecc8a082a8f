// reduce.ts's sums with a thread per output, for short rows: out[a, chunk, b] = scale · the sum
// of src[a, r, b] over the chunk's rows, one thread looping over them (the parameters and the
// layout are the workgroup kernel's, so either runs any of reduce.ts's dispatches). Neighbouring
// threads take neighbouring b, so they read neighbouring words; with b = 1 each reads its own row.
// The workgroup kernel (256 threads per output and a tree of 8 barriers in workgroup memory) is
// what long rows need, but over many short rows it idled: 255 of 256 threads had nothing to add
// for rows of 4, and lavapipe, which runs a workgroup's threads as a loop and every barrier as a
// switch between them, took 13.2 s to sum a [1048576, 4] tensor over its rows (max, which has a
// thread path, took 37 ms). extrema.ts takes the same route for its short rows.
//
// Which kernel, by the adapter (rows: the most any one output sums, numbers measured below):
//  - GPUs: a thread per output for rows up to SHORT_ROWS (64, extrema.ts's bound), the tree for
//    longer ones, whose 256 threads read adjacent words where one thread per row would stride.
//  - CPU adapters: a thread per output always, rows longer than CPU_ROWS split into parts of that
//    many (partial sums [A, parts, B], then their sum). lavapipe paid 12-45 us per tree workgroup
//    whatever its rows, so the thread won at every shape tried (see CPU_ROWS).
//
// Accuracy: a thread adds its rows in blocks of BLOCK, each block's sum then joining the total,
// so a value meets at most BLOCK + CPU_ROWS/BLOCK = 128 roundings per pass (the tree's 16 + 8 at
// 4096 rows; a plain loop's 4096). Parts keep that bound for any row length.

import type { KernelSpec } from '../gpu/runtime.js';
import { LINEAR_MAIN_ARGS, linearIndex } from './wgsl.js';
import { adapterRule } from './adapter-rule.js';

/** Values summed into one block sum before it joins the row's total. */
const BLOCK = 64;

/** Rows up to this take a thread per output on every adapter. */
export const SHORT_ROWS = 64;

/**
 * On CPU adapters a thread sums up to this many rows, longer rows in parts of it. Wall clock of
 * sum(x, axis 1, or all) on lavapipe (16 cores), from the call to dn.sync(), median of 3 runs
 * interleaved with the other kernel after a warm-up, the tree (rule 'tree', the old code) vs this:
 *   [1048576, 4]  26634 ms vs 29.1 ms   [65536, 4]    1657 ms vs 1.7 ms   [16384, 16]  200 ms vs 1.0 ms
 *   [8192, 3, 5]    496 ms vs 1.0 ms    [4096, 64]    51.5 ms vs 0.9 ms   [1024, 256] 14.5 ms vs 0.8 ms
 *   [8192, 512]     114 ms vs 3.8 ms    [2048, 2048]  32.2 ms vs 3.4 ms   [256, 1024]  3.8 ms vs 0.7 ms
 *   [512, 4096]     9.9 ms vs 2.1 ms    [64, 4096]     1.7 ms vs 0.6 ms   [16, 64]     0.7 ms vs 0.4 ms
 *   [256, 16384]   22.1 ms vs 3.5 ms    [1024, 16384] 31.3 ms vs 10.7 ms
 *   [1048576] (all) 5.3 ms vs 1.4 ms    [16777216] (all) 30.8 ms vs 10.0 ms
 * (mean of [1048576, 4]: 13383 ms vs 13.3 ms; rows past 8192 with few outputs run in chunks of
 * rows either way, reduce.ts's reduceInChunks). The thread won everywhere, so the bound is set by
 * the rounding (above), not by speed. GPUs were not measured: their rule is extrema.ts's.
 */
export const CPU_ROWS = 4096;

/** The bindings both sum kernels take: src [a, r, b] summed over r into out [a, chunks, b]. */
export const SUM_BINDINGS_WGSL = /* wgsl */ `
struct Params { a: u32, r: u32, b: u32, scale: f32, chunks: u32, rowsPerChunk: u32 }
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
`;

export const rowsSpec: KernelSpec = {
  name: 'reduce.sumRows',
  key: `block${BLOCK}`,
  inputs: 1,
  outputs: 1,
  wgsl: () => /* wgsl */ `${SUM_BINDINGS_WGSL}@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let o = ${linearIndex()};
  if (o >= params.a * params.chunks * params.b) { return; }
  let ib = o % params.b;
  let chunk = (o / params.b) % params.chunks;
  let ia = o / (params.b * params.chunks);
  let base = ia * params.r * params.b + ib;
  let r1 = min(params.r, (chunk + 1u) * params.rowsPerChunk);
  var total = 0.0;
  for (var r0 = chunk * params.rowsPerChunk; r0 < r1; r0 += ${BLOCK}u) {
    var block = 0.0;
    for (var r = r0; r < min(r0 + ${BLOCK}u, r1); r++) {
      block += src[base + r * params.b];
    }
    total += block;
  }
  out[o] = total * params.scale;
}`,
};

export type SumRowsRule = 'cpu' | 'gpu' | 'tree';
const sumRowsRule = adapterRule<'tree'>();

/** Tests and benchmarks: this adapter's sums as on a CPU adapter, a GPU, or always by the tree (the old kernel); null: by the adapter. */
export function setSumRowsRule(rule: SumRowsRule | null): void {
  sumRowsRule.set(rule);
}

/** Whether sums over at most `rows` rows each take a thread per output. */
export function threadPerOutput(rows: number): boolean {
  const r = sumRowsRule.get();
  return r === 'cpu' ? rows <= CPU_ROWS : r === 'gpu' && rows <= SHORT_ROWS;
}

/** Parts of at most CPU_ROWS rows each that rows of r are reduced in under `rule` (1: whole; parts only on CPU adapters). */
export const partsFor = (rule: string, r: number): number => (rule === 'cpu' ? Math.max(1, Math.ceil(r / CPU_ROWS)) : 1);

/** Parts of at most CPU_ROWS rows each that rows of r are summed in (1: whole). */
export const rowParts = (r: number): number => partsFor(sumRowsRule.get(), r);
