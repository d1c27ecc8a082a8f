// The workgroup-per-row variants of softmax.ts's row kernels, for rows of many classes (the math,
// shapes and what is saved are in softmax.ts's header). One workgroup of ROW_WG threads owns a
// row: its threads stride over the row's C values (thread j takes j, j + ROW_WG, ...), the row
// max and the row sums are tree-reduced in workgroup memory, and every thread then writes its
// strided share of the outputs. Neighbouring threads touch neighbouring floats, so a GPU
// coalesces every pass; one thread per row reads floats C apart and leaves all but `rows`
// threads idle: [3, 1000] ran three threads. GPUs only: see rowKernel for CPU adapters.
//
// Rows are workgroups, so more than 65535 rows take workgroupGrid's 2-D layout, whose last
// workgroups lie past the end. WGSL wants workgroupBarrier() in uniform control flow, so those
// do not return early: they see a row of no columns (every strided loop is then empty) and skip
// the one write a thread makes outside those loops.

import type { KernelSpec } from '../gpu/runtime.js';
import type { SoftmaxKind } from './softmax.js';
import { adapterRule } from './adapter-rule.js';
import { LOG_ONE_PLUS } from './elementwise-math.js';
import { linearGrid, workgroupGrid } from './wgsl.js';

/**
 * Threads per row: 16 values each of a 1000-class row. On lavapipe the barriers dominate (the
 * softmax forward at [16384, 64] took 78 ms with its tree, 13 ms without it), and 256 threads
 * ran 2-5x slower than 64 in every case timed, C of 16 to 1000 ([1048, 1000]: 28.5 ms against 8.1).
 */
export const ROW_WG = 64;

/**
 * A workgroup per row from this many classes, on a GPU: each thread then has at least one value.
 * Below it most of a workgroup idles through log2(ROW_WG) barriers per reduction, while one
 * thread's row loop is short; segmentation's C of 2-16 over millions of pixels stays one thread
 * per row. On an H200 (2026-11-27, run 9) 1024 rows of 1000 classes took 0.018 ms by a workgroup a
 * row (1.32x tfjs) and 16x256x256 pixels of 4 classes 0.094 ms by a thread a row (23.9x); the
 * threshold itself was not compared there.
 */
export const ROW_MIN_C = 64;

// CPU adapters keep one thread per row at every C: lavapipe runs a workgroup's barriers one SIMD
// group at a time, and the workgroup kernels lost every case timed there (GPU timestamps, softmax
// forward and backward, C of 16 to 1000, 8 rows or 2^20 / C): 0.2 ms against 0.14 at [8, 1000],
// 8 ms against 2.5 at [1048, 1000], 78 ms against 2.7 at [16384, 64]. conv2d keeps CPU adapters
// on its direct kernels for the same reason.
const rowKernelChoice = adapterRule();

/**
 * Whether row kernels run a thread per row here (a CPU adapter, or overrideRowKernelChoice('cpu')):
 * softmax's, and layer norm's (layernorm.ts).
 */
export function rowsPerThread(): boolean {
  return rowKernelChoice.get() === 'cpu';
}

/** The kernel for rows of c values and the grid to launch it on: a thread or a workgroup per row. */
export function rowKernel(c: number, rows: number, perThread: KernelSpec, perRow: KernelSpec): [KernelSpec, [number, number]] {
  return c >= ROW_MIN_C && !rowsPerThread() ? [perRow, workgroupGrid(rows)] : [perThread, linearGrid(rows)];
}

/** Tests: choose the row kernels as on a CPU adapter or a GPU on this device; null: as its adapter is. */
export function overrideRowKernelChoice(kind: 'cpu' | 'gpu' | null): void {
  rowKernelChoice.set(kind);
}

/** WGSL params and bindings of each row kernel, the same in both variants (the host code binds them alike). */
export const ROW_DECLS = {
  softmaxForward: /* wgsl */ `struct Params { rows: u32, c: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;`,
  softmaxBackward: /* wgsl */ `struct Params { rows: u32, c: u32 }
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;`,
  crossEntropyForward: /* wgsl */ `struct Params { rows: u32, c: u32, keep: f32, spread: f32 }
@group(0) @binding(0) var<storage, read> z: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> loss: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;`,
  crossEntropyBackward: /* wgsl */ `struct Params { rows: u32, c: u32, keep: f32, spread: f32, ndy: u32, scale: f32 }
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> z: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> dz: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;`,
} as const;

/** WGSL: the smoothed target t of element i; keep = 1 - e and spread = e / C come in params. */
export const TARGET = `fn smoothedTarget(i: u32) -> f32 { return y[i] * params.keep + params.spread; }`;

/**
 * WGSL: `fn name(v: type, lid) -> type`, the combination of every thread's v, returned to all
 * threads. Each kernel calls each such function once, so nothing writes its array after the
 * last barrier and the read of element 0 needs no barrier behind it.
 */
function treeFn(name: string, type: string, combine: (a: string, b: string) => string): string {
  return /* wgsl */ `
var<workgroup> ${name}Part: array<${type}, ${ROW_WG}>;
fn ${name}(v: ${type}, lid: u32) -> ${type} {
  ${name}Part[lid] = v;
  workgroupBarrier();
  for (var s = ${ROW_WG / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { ${name}Part[lid] = ${combine(`${name}Part[lid]`, `${name}Part[lid + s]`)}; }
    workgroupBarrier();
  }
  return ${name}Part[0];
}`;
}

const TREE_MAX = treeFn('rowMax', 'f32', (a, b) => `max(${a}, ${b})`);
const treeSum = (type: string): string => treeFn('rowSum', type, (a, b) => `${a} + ${b}`);

/** WGSL: the entry point's builtins. */
const ROW_MAIN_ARGS = /* wgsl */ `@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32`;

/** WGSL: `row`, `inRange`, and the row's flat indices [base, end): empty past the last row (see the header). */
const ROW_START = /* wgsl */ `
  let row = wid.x + wid.y * nwg.x;
  let inRange = row < params.rows;
  let base = select(0u, row * params.c, inRange);
  let end = select(0u, base + params.c, inRange);`;

/** WGSL: the loop header over the thread's share of the row, flat index k. */
const STRIDED = `for (var k = base + lid; k < end; k += ${ROW_WG}u)`;

/**
 * WGSL: `m`, the row max of `src`. Every thread starts from the row's first value (threads past C
 * have none of their own; past the last row it is src[0], unused), so a row of -inf gets m = -inf,
 * as one thread per row does, and NaN in every output. Starting from -FLT_MAX gave logSoftmax -inf
 * and the cross-entropy +inf there, where the thread-per-row kernels (and PyTorch) give NaN.
 */
const strideMax = (src: string): string => /* wgsl */ `
  var mine = ${src}[base];
  ${STRIDED} { mine = max(mine, ${src}[k]); }
  let m = rowMax(mine, lid);`;

/** Per kind: the forward after the max, and the backward's (dy, y) -> dx, as one thread per row computes them. */
const BODIES = {
  softmax: {
    // exp again in the write pass, not stored in y by the sum pass: that store would cost a write
    // and a read of y per value, more than the exp on a GPU.
    forward: `var part = 0.0;
  ${STRIDED} { part += exp(x[k] - m); }
  let inv = 1.0 / rowSum(part, lid);
  ${STRIDED} { y[k] = exp(x[k] - m) * inv; }`,
    backward: `var part = 0.0;
  ${STRIDED} { part += dy[k] * y[k]; }
  let dot = rowSum(part, lid);
  ${STRIDED} { dx[k] = y[k] * (dy[k] - dot); }`,
  },
  logSoftmax: {
    // log sum exp as softmax.ts's rowLogSum takes it: the terms below the max and the ties apart.
    forward: `var part = vec2<f32>(0.0);
  ${STRIDED} { let d = x[k] - m; part += select(vec2<f32>(exp(d), 0.0), vec2<f32>(0.0, 1.0), d == 0.0); }
  let sums = rowSum(part, lid);
  let logSum = logOnePlus(sums.x + (sums.y - 1.0));
  ${STRIDED} { y[k] = (x[k] - m) - logSum; }`,
    backward: `var part = 0.0;
  ${STRIDED} { part += dy[k]; }
  let total = rowSum(part, lid);
  ${STRIDED} { dx[k] = dy[k] - exp(y[k]) * total; }`,
  },
} as const;

function forwardSpec(kind: SoftmaxKind): KernelSpec {
  return {
    name: `${kind}.forward.workgroup`,
    key: `${ROW_WG}`,
    inputs: 1,
    outputs: 1,
    wgsl: () => /* wgsl */ `
${ROW_DECLS.softmaxForward}
${TREE_MAX}
${kind === 'logSoftmax' ? `${treeSum('vec2<f32>')}\n${LOG_ONE_PLUS}` : treeSum('f32')}
@compute @workgroup_size(${ROW_WG})
fn main(${ROW_MAIN_ARGS}) {
  ${ROW_START}
  ${strideMax('x')}
  ${BODIES[kind].forward}
}`,
  };
}

function backwardSpec(kind: SoftmaxKind): KernelSpec {
  return {
    name: `${kind}.backward.workgroup`,
    key: `${ROW_WG}`,
    inputs: 2,
    outputs: 1,
    wgsl: () => /* wgsl */ `
${ROW_DECLS.softmaxBackward}
${treeSum('f32')}
@compute @workgroup_size(${ROW_WG})
fn main(${ROW_MAIN_ARGS}) {
  ${ROW_START}
  ${BODIES[kind].backward}
}`,
  };
}

// Cross-entropy. The one-thread kernel sums t ((m - z) + log s) after s is known: a third pass.
// Here one pass after the max sums s = sum exp(z - m) (as the terms below the max and the ties
// with it, for rowLogSum's accuracy), tsum = sum t and dist = sum t (m - z), and
// l = dist + tsum log s, the same sum regrouped. With t >= 0 every term of both parts is
// >= 0 (m - z >= 0, s >= 1), so nothing cancels, unlike tsum (m + log s) - sum t z, which at
// logits of +-90 subtracts two numbers near 90 tsum to find a loss that may be near 0.

const crossEntropyForwardSpec: KernelSpec = {
  name: 'softmaxCrossEntropy.forward.workgroup',
  key: `${ROW_WG}`,
  inputs: 2,
  outputs: 1,
  wgsl: () => /* wgsl */ `
${ROW_DECLS.crossEntropyForward}
${TARGET}
${TREE_MAX}
${treeSum('vec4<f32>')}
${LOG_ONE_PLUS}
@compute @workgroup_size(${ROW_WG})
fn main(${ROW_MAIN_ARGS}) {
  ${ROW_START}
  ${strideMax('z')}
  var part = vec4<f32>(0.0);
  ${STRIDED} {
    let t = smoothedTarget(k);
    let d = z[k] - m;
    // -t d as 0 at t = 0: a class masked by z = -inf adds nothing, as in the one-thread kernel.
    part += vec4<f32>(select(exp(d), 0.0, d == 0.0), t, select(-t * d, 0.0, t == 0.0), select(0.0, 1.0, d == 0.0));
  }
  let sums = rowSum(part, lid);
  if (lid == 0u && inRange) { loss[row] = sums.z + sums.y * logOnePlus(sums.x + (sums.w - 1.0)); }
}`,
};

const crossEntropyBackwardSpec: KernelSpec = {
  name: 'softmaxCrossEntropy.backward.workgroup',
  key: `${ROW_WG}`,
  inputs: 3,
  outputs: 1,
  wgsl: () => /* wgsl */ `
${ROW_DECLS.crossEntropyBackward}
${TARGET}
${TREE_MAX}
${treeSum('vec2<f32>')}
@compute @workgroup_size(${ROW_WG})
fn main(${ROW_MAIN_ARGS}) {
  ${ROW_START}
  ${strideMax('z')}
  var part = vec2<f32>(0.0);
  ${STRIDED} { part += vec2<f32>(exp(z[k] - m), smoothedTarget(k)); }
  let sums = rowSum(part, lid);
  // Soft labels need not sum to 1, so sum t stays in the gradient.
  let scaled = sums.y / sums.x;
  var g = 0.0;
  if (inRange) { g = dy[row % params.ndy] * params.scale; }
  ${STRIDED} { dz[k] = g * (exp(z[k] - m) * scaled - smoothedTarget(k)); }
}`,
};

/** Built once: the runtime caches pipelines by name and key, never per call. */
export const ROW_SPECS = {
  softmax: { forward: forwardSpec('softmax'), backward: backwardSpec('softmax') },
  logSoftmax: { forward: forwardSpec('logSoftmax'), backward: backwardSpec('logSoftmax') },
  softmaxCrossEntropy: { forward: crossEntropyForwardSpec, backward: crossEntropyBackwardSpec },
} as const;
