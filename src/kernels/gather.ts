// The gather kernel behind slice, stridedSlice, reverse and tile (kernels/slice.ts), specialised
// per call shape. Output coordinate c on axis d reads input (begin_d + c·step_d) mod period_d.
//
// Why specialise: on CPU adapters (lavapipe) a loop over a runtime rank indexes the uniform arrays
// dynamically and divides by a uniform on every axis; integer division has no SIMD form there, so
// each costs a scalar divide per lane, and each scalar load or store a bounds check per lane. So
// before dispatch the axes are reduced to as few as possible, and the WGSL is written for exactly
// that rank with the per-axis work known at compile time:
//   - an axis of size 1 fixes its coordinate, so its step is irrelevant: step 1 (forward, begin
//     taken mod period) or, backward, begin set to where dy's coordinate sits (or the job is dead);
//   - axis d+1 that is the identity (begin 0, step 1, size = period: every row of it is copied
//     whole) merges into axis d when d has step 1: c = c_d·n + c_{d+1} reads
//     (begin_d·n + c) mod (period_d·n), n = size_{d+1}; the same holds for slice's backward, whose
//     inside test 0 ≤ c < period_d·n is the per-axis one. Axes of size and period 1 drop out;
//   - the mod by period is emitted only on axes that wrap (a tile's), the backward's divide by
//     step only on axes whose step is not ±1;
//   - when the innermost axis has step 1 and its size, begin and period are multiples of 4, every
//     group of four outputs reads four consecutive inputs: the kernel moves vec4s, its indices
//     counted in vec4s (all of x's strides are multiples of 4 then, and a wrap never splits one).
//   - each thread takes PER_THREAD elements of the innermost axis (below), so the divides that
//     find its row are shared by them.
// The first axis needs no mod (the row index is less than its size) and the last no multiply
// (its stride is 1). The key names the rank, the width and each axis's kind.

import { i32, packParams, u32 } from '../gpu/params.js';
import type { KernelSpec } from '../gpu/runtime.js';
import { shapeSize } from '../graph/tensor.js';
import { LINEAR_MAIN_ARGS, linearIndex, vecType, type VecWidth } from './wgsl.js';

export const MAX_RANK = 8;

/**
 * One axis of a gather. `size`: the written tensor's size on it; the read tensor's is `period`.
 * Forward: written coordinate c reads (begin + c·step) mod period. Backward (slice's): written
 * coordinate j reads c = (j − begin) / step where that is an integer in [0, period).
 */
export interface GatherAxis {
  size: number;
  begin: number;
  step: number;
  period: number;
}

export type Direction = 'forward' | 'backward';

/** Row-major strides of a shape, in elements. */
export const stridesOf = (shape: readonly number[]): number[] => shape.map((_, d) => shapeSize(shape.slice(d + 1)));

/** `v` padded with `pad` to MAX_RANK entries: a params block's fixed-size per-axis arrays. */
export const padToMaxRank = (v: readonly number[], pad: number): number[] => [...v, ...new Array<number>(MAX_RANK - v.length).fill(pad)];

const isIdentity = (a: GatherAxis): boolean => a.begin === 0 && a.step === 1 && a.size === a.period;

/** Axes of one rank less or more, equivalent to `axes` (see the header); null: nothing is read (a dead backward). */
export function collapseAxes(direction: Direction, axes: readonly GatherAxis[]): GatherAxis[] | null {
  const fixed: GatherAxis[] = [];
  for (const a of axes) {
    if (a.size !== 1) fixed.push(a);
    // `|| 0`: no −0 in the plans, so equal plans compare equal.
    else if (direction === 'forward') fixed.push({ size: 1, begin: (((a.begin % a.period) + a.period) % a.period) || 0, step: 1, period: a.period });
    else {
      const c = -a.begin / a.step;
      if (!Number.isInteger(c) || c < 0 || c >= a.period) return null;
      fixed.push({ size: 1, begin: -c || 0, step: 1, period: a.period });
    }
  }
  const out: GatherAxis[] = [];
  for (let d = fixed.length - 1; d >= 0; d--) {
    const a = fixed[d];
    if (a.size === 1 && a.period === 1) continue;
    const inner = out[0];
    if (inner && isIdentity(inner) && a.step === 1) {
      const n = inner.size;
      out[0] = { size: a.size * n, begin: a.begin * n, step: 1, period: a.period * n };
    } else out.unshift(a);
  }
  return out.length ? out : [{ size: 1, begin: 0, step: 1, period: 1 }];
}

/** Whether coordinate begin + c·step leaves [0, period) for some c in [0, size). */
const wraps = (a: GatherAxis): boolean => {
  const last = a.begin + (a.size - 1) * a.step;
  return Math.min(a.begin, last) < 0 || Math.max(a.begin, last) >= a.period;
};

/** The dispatch of a (collapsed) gather: its kernel's key and width, the axes counted in vec4s when that is 4. */
export interface GatherPlan {
  axes: GatherAxis[];
  width: VecWidth;
  /** Per axis: 'w' wraps (forward), 's' divides by its step (backward), '-' neither. */
  kinds: string;
}

export function gatherPlan(direction: Direction, axes: GatherAxis[], vec4 = true): GatherPlan {
  const last = axes[axes.length - 1];
  const four = vec4 && last.step === 1 && [last.size, last.begin, last.period].every((v) => v % 4 === 0);
  const units = four ? [...axes.slice(0, -1), { size: last.size / 4, begin: last.begin / 4, step: 1, period: last.period / 4 }] : axes;
  const kinds = units.map((a) => (direction === 'forward' ? (wraps(a) ? 'w' : '-') : Math.abs(a.step) === 1 ? '-' : 's')).join('');
  return { axes: units, width: four ? 4 : 1, kinds };
}

/** The params block of a plan, laid out as PARAMS below. */
export function gatherParams(plan: GatherPlan, live: boolean): ArrayBuffer {
  const ax = plan.axes;
  return packParams([
    u32(gatherThreads(plan)),
    u32(live ? 1 : 0),
    u32(0),
    u32(0),
    ...padToMaxRank(ax.map((a) => a.size), 1).map(u32),
    ...padToMaxRank(stridesOf(ax.map((a) => a.period)), 0).map(u32),
    ...padToMaxRank(ax.map((a) => a.begin), 0).map(i32),
    ...padToMaxRank(ax.map((a) => a.step), 1).map(i32),
    ...padToMaxRank(ax.map((a) => Math.max(1, a.period)), 1).map(u32),
  ]);
}

const PARAMS = /* wgsl */ `struct Params { threads: u32, live: u32, pad0: u32, pad1: u32, size: array<vec4<u32>, 2>, stride: array<vec4<u32>, 2>, begin: array<vec4<i32>, 2>, step: array<vec4<i32>, 2>, period: array<vec4<u32>, 2> }`;

/** WGSL: axis d's entry of a params array, at a constant index. */
export const at = (name: string, d: number): string => `params.${name}[${d >> 2}][${d & 3}]`;

/** WGSL: coordinates c0 … c(rank−1) of the flat index i, one element per thread (tile.ts's backward). */
export function coordinates(rank: number): string {
  const lines = ['var rest = i;'];
  for (let d = rank - 1; d > 0; d--) lines.push(`let c${d} = i32(rest % ${at('size', d)});`, `rest /= ${at('size', d)};`);
  lines.push('let c0 = i32(rest);');
  return lines.join('\n  ');
}

/**
 * Elements (of the plan's width) per thread, along the innermost axis: the outer coordinates and
 * their divides are paid once for them. Thread b of a row takes b, b + blocks, b + 2·blocks, ...,
 * so neighbouring threads still touch neighbouring elements (coalesced on GPUs, whole vectors of
 * lanes on CPU adapters). Against one per thread on lavapipe, interleaved runs gave the forwards
 * 1.25-1.9x (noisy); 4 and 8 measured alike, and 4 keeps more threads for small tensors.
 */
const PER_THREAD = 4;

/** Threads of a plan: its rows times the blocks of PER_THREAD elements per row. */
export function gatherThreads(plan: GatherPlan): number {
  const sizes = plan.axes.map((a) => a.size);
  const inner = sizes[sizes.length - 1];
  return shapeSize(sizes.slice(0, -1)) * Math.ceil(inner / PER_THREAD);
}

/** WGSL: the row and block of thread i, the outer coordinates c0 … c(last−1) of that row. */
function rowOf(last: number): string {
  const lines = [`let blocks = (${at('size', last)} + ${PER_THREAD - 1}u) / ${PER_THREAD}u;`, 'let b = i % blocks;', 'var rest = i / blocks;', 'let row = rest;'];
  for (let d = last - 1; d > 0; d--) lines.push(`let c${d} = i32(rest % ${at('size', d)});`, `rest /= ${at('size', d)};`);
  if (last > 0) lines.push('let c0 = i32(rest);');
  return lines.join('\n  ');
}

/** WGSL: the loop over a thread's elements c of the innermost axis, `body` writing dst[o]. */
function overElements(last: number, before: string, body: string): string {
  const size = at('size', last);
  return `${rowOf(last)}
  ${before}
  for (var k = 0u; k < ${PER_THREAD}u; k++) {
    let c = b + k * blocks;
    if (c >= ${size}) { break; }
    let o = row * ${size} + c;
    ${body}
  }`;
}

// begin + c·step ≥ 0 for every c (a slice stays inside x, a tile counts up from 0): the u32 mod is safe.
function forwardBody(plan: GatherPlan): string {
  const last = plan.axes.length - 1;
  const outer = [...plan.kinds].slice(0, last).map((k, d) => {
    const coord = `u32(${at('begin', d)} + c${d} * ${at('step', d)})`;
    return `${k === 'w' ? `(${coord} % ${at('period', d)})` : coord} * ${at('stride', d)}`;
  });
  const base = `let base = ${outer.length ? outer.join(' + ') : '0u'};`;
  if (plan.kinds[last] !== 'w') {
    return overElements(last, base, `dst[o] = src[base + u32(${at('begin', last)} + i32(c) * ${at('step', last)})];`);
  }
  // A wrapping coordinate advances by blocks·step and is reduced only when it passes the period,
  // not divided on every element.
  const period = at('period', last);
  return overElements(
    last,
    `${base}
  var s = u32(${at('begin', last)} + i32(b) * ${at('step', last)}) % ${period};`,
    `dst[o] = src[base + s];
    s = u32(i32(s) + i32(blocks) * ${at('step', last)});
    if (s >= ${period}) { s %= ${period}; }`,
  );
}

/** WGSL: `k<d>`, the read coordinate of written coordinate `c` (an i32) on axis d, and `inside<d>`, whether it is one. */
function backwardAxis(d: number, kind: string, c: string): string[] {
  const [step, period] = [at('step', d), `i32(${at('period', d)})`];
  const lines = [`let q${d} = ${c} - ${at('begin', d)};`];
  // A step of ±1 is its own inverse: no divide, and every coordinate is on the stride.
  if (kind === 's') lines.push(`let k${d} = q${d} / ${step};`, `let inside${d} = k${d} * ${step} == q${d} && k${d} >= 0 && k${d} < ${period};`);
  else lines.push(`let k${d} = q${d} * ${step};`, `let inside${d} = k${d} >= 0 && k${d} < ${period};`);
  return lines;
}

function backwardBody(plan: GatherPlan, type: string): string {
  const last = plan.axes.length - 1;
  const before: string[] = [];
  const terms: string[] = [];
  const tests = ['params.live != 0u'];
  for (let d = 0; d < last; d++) {
    before.push(...backwardAxis(d, plan.kinds[d], `c${d}`));
    terms.push(`u32(k${d}) * ${at('stride', d)}`);
    tests.push(`inside${d}`);
  }
  before.push(`let outside = !(${tests.join(' && ')});`, `let base = ${terms.length ? terms.join(' + ') : '0u'};`);
  return overElements(
    last,
    before.join('\n  '),
    `${backwardAxis(last, plan.kinds[last], 'i32(c)').join('\n    ')}
    var v = ${type}();
    if (!outside && inside${last}) { v = src[base + u32(k${last})]; }
    dst[o] = v;`,
  );
}

const specs = new Map<string, KernelSpec>();

/** The kernel of `op` for `plan` (its name labels the pipeline, so an error names the op that failed). */
export function gatherKernel(op: string, direction: Direction, plan: GatherPlan): KernelSpec {
  const name = `${op}.${direction}`;
  const key = `r${plan.axes.length}.v${plan.width}.${plan.kinds}`;
  let spec = specs.get(`${name}/${key}`);
  if (!spec) {
    const type = vecType(plan.width);
    const body = direction === 'forward' ? forwardBody(plan) : backwardBody(plan, type);
    spec = {
      name,
      key,
      inputs: 1,
      outputs: 1,
      wgsl: () => /* wgsl */ `
${PARAMS}
@group(0) @binding(0) var<storage, read> src: array<${type}>;
@group(0) @binding(1) var<storage, read_write> dst: array<${type}>;
@group(0) @binding(2) var<uniform> params: Params;
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let i = ${linearIndex()};
  if (i >= params.threads) { return; }
  ${body}
}`,
    };
    specs.set(`${name}/${key}`, spec);
  }
  return spec;
}
