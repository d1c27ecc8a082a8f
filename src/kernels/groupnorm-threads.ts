// groupnorm.ts's statistics sums by a thread per (sample, group) chunk, for CPU adapters and for
// small groups on GPUs. The parameters, bindings and output (partial sums [N·G, chunks, 1 or 2]
// times params.scale) are the workgroup kernel's, so either runs any of groupnorm.ts's passes and
// the statistics stay two passes (Σx, then Σ(x − mean)² and Σ(x − mean)). That kernel gave each
// chunk a 256-thread workgroup and a tree of 8 barriers: lavapipe paid 18-26 us per workgroup
// whatever the group's size, so instance norm on [8, 8, 8, 256] (2048 groups of 64) took 104 ms
// and groups = 512 on [1024, 1, 1, 512] (a float each) 30 s.
//
// A thread walks its chunk pixel by pixel, the group's Cg channels (vec4s where Cg is a multiple
// of 4) within each, so it divides once, not per load. Instance norm (Cg = 1) with C a multiple of
// 4 reads four neighbouring channels per vec4 and keeps a sum per lane (four groups a thread):
// the 'lanes' layout, the quad layout below. Neighbouring threads take neighbouring groups, so
// they read neighbouring words.
//
// Accuracy: a thread adds whole pixels into a block until it holds BLOCK loads, then the block
// into its total, so a value meets at most BLOCK + Cg + chunk/BLOCK roundings (the tree's 16 + 8;
// a plain loop's chunk). Chunks' partial sums are then added by reduce.ts.
//
// Which kernel (rule, forced by setGroupNormRule in tests and benchmarks):
//  - 'cpu' (CPU adapters): the thread always, chunks of at most THREAD_CHUNK loads (fewer where
//    that leaves fewer than MIN_THREADS threads).
//  - 'gpu': the thread for groups of up to SMALL_GROUP loads, in one chunk; the tree beyond, where
//    its 256 threads read adjacent words of one group.
//  - 'tree': the workgroup kernel only (the old route on every adapter).
// Wall clock to dn.sync() on lavapipe (2 cores shared with other work), medians of 7 runs
// interleaved after a warm-up (5 for the second set of runs), 'tree' vs 'cpu', forward /
// forward + backward, [N, H, W, C] G; machine load moved between sets, so compare within a line:
//   [8, 8, 8, 256] 256 (U-Net bottleneck, instance)  100 / 173 ms vs 2.6 / 6.3 ms
//   [256, 1, 1, 512] 512                              5357 ms vs 4.5 ms (forward, before MIN_THREADS)
//   [4, 16, 16, 512] 512                              117 / 197 ms vs 11.4 / 27.4 ms
//   [8, 8, 8, 256] 32                                 15.1 / 24.7 ms vs 1.7 / 7.0 ms
//   [8, 64, 64, 32] 32                                24.1 / 50.6 ms vs 13.4 / 33.7 ms
//   [1024, 1, 1, 512] 1                               58.2 / 115 ms vs 3.4 / 16.6 ms
//   [16, 256, 256, 1] 1                               20.4 / 52.2 ms vs 11.5 / 38.4 ms
//   [4, 64, 64, 64] 1                                 8.4 / 27.3 ms vs 5.9 / 23.4 ms
//   U-Net at bench scale 8, instance norm: [2, 32, 32, 32] 4.9 / 8.8 vs 2.1 / 4.7 ms,
//   [2, 16, 16, 64] 7.1 / 12.5 vs 1.0 / 2.5, [2, 8, 8, 128] 15.0 / 22.3 vs 0.9 / 2.0,
//   [2, 4, 4, 256] 25.7 / 39.0 vs 0.8 / 1.7, [2, 2, 2, 512] 52.8 / 112 vs 0.8 / 2.1 ms.
//   GroupNorm(8): [2, 32, 32, 32] 2.2 / 4.6 vs 1.3 / 3.0 ms (before MIN_THREADS), [2, 64, 64, 32]
//   3.2 / 13.3 vs 2.2 / 8.4 ms (one run gave 11.4 vs 13.0 for the backward, whose sums are one
//   pass of five kernels: noise); [8, 32, 32, 6] 6: 3.8 / 7.6 vs 1.4 / 3.7 ms.
// MIN_THREADS took [8, 64, 64, 32] 32 from 33.7 to 13.4 ms and [16, 256, 256, 1] 1 from 34.1 to
// 11.5 ms forward (separate runs). GPUs were not measured: SMALL_GROUP is reduce-rows.ts's bound.

import type { KernelSpec } from '../gpu/runtime.js';
import { LINEAR_MAIN_ARGS, linearIndex, type VecWidth } from './wgsl.js';
import { adapterRule } from './adapter-rule.js';

/** Loads added into a block sum before it joins the thread's total. */
const BLOCK = 64;
/**
 * Loads per thread chunk on CPU adapters (rounded to whole pixels). Smaller chunks make more
 * threads for lavapipe's cores to share when groups are few and long, at one more reduce.ts pass.
 */
export const THREAD_CHUNK = 1024;
/**
 * Chunks shrink (to BLOCK loads at least) until a pass has this many threads: instance norm on
 * [8, 64, 64, 32] made 256 threads of 1024 vec4s, one workgroup, so one core (33.7 ms forward).
 */
const MIN_THREADS = 4096;
/** On GPUs, groups of up to this many loads take a thread each (rows of reduce-rows.ts's SHORT_ROWS). */
export const SMALL_GROUP = 64;

export type SumsMode = 'mean' | 'var' | 'grad';
export type GroupNormRule = 'cpu' | 'gpu' | 'tree';

/** What a pass of sums reads, by mode. */
export const SUMS_INPUTS: Record<SumsMode, string[]> = { mean: ['x'], var: ['x', 'mean'], grad: ['dy', 'x', 'gamma', 'mean', 'invStd'] };

/**
 * Width 4 with `lanes`: every vec4 lane its own group (Cg = 1), mean and invStd read four at a
 * time; otherwise a thread's loads all belong to one group and their lanes add up.
 */
function threadSumsSpec(mode: SumsMode, width: VecWidth, lanes: boolean): KernelSpec {
  const inputs = SUMS_INPUTS[mode];
  const T = width === 4 ? 'vec4<f32>' : 'f32';
  const S = lanes ? T : 'f32';
  const type = (name: string) => (name === 'mean' || name === 'invStd' ? S : T);
  const body = {
    mean: 'b0 += x[at];',
    var: 'let d = x[at] - mu; b0 += d * d; b1 += d;',
    grad: 'let gr = dy[at] * gamma[grp * params.cg + cc]; b0 += gr; b1 += gr * (x[at] - mu) * istd;',
  }[mode];
  const two = mode !== 'mean';
  const total = (v: string) => (width === 4 && !lanes ? `dot(${v}, vec4<f32>(1.0))` : v);
  const write = (q: number, v: string) =>
    lanes
      ? `for (var j = 0u; j < 4u; j++) { partial[((4u * ng + j) * params.chunks + chunk) * ${two ? 2 : 1}u + ${q}u] = ${v}[j] * params.scale; }`
      : `partial[o * ${two ? 2 : 1}u + ${q}u] = ${total(v)} * params.scale;`;
  return {
    name: 'groupNorm.sumsThreads',
    key: `${mode}w${width}${lanes ? 'lanes' : ''}`,
    inputs: inputs.length,
    outputs: 1,
    wgsl: () => /* wgsl */ `
struct Params { groups: u32, chunks: u32, chunkSize: u32, m: u32, cg: u32, c: u32, sample: u32, g: u32, scale: f32 }
${inputs.map((name, i) => `@group(0) @binding(${i}) var<storage, read> ${name}: array<${type(name)}>;`).join('\n')}
@group(0) @binding(${inputs.length}) var<storage, read_write> partial: array<f32>;
@group(0) @binding(${inputs.length + 1}) var<uniform> params: Params;
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let o = ${linearIndex()};
  if (o >= params.groups * params.chunks) { return; }
  let ng = o / params.chunks;
  let chunk = o % params.chunks;
  let grp = ng % params.g;
  let base = (ng / params.g) * params.sample + grp * params.cg;
  ${mode === 'mean' ? '' : 'let mu = mean[ng];'}
  ${mode === 'grad' ? 'let istd = invStd[ng];' : ''}
  // chunkSize is whole pixels: pixels [p0, p1) of this chunk.
  let p0 = chunk * (params.chunkSize / params.cg);
  let p1 = min(params.m, (chunk + 1u) * params.chunkSize) / params.cg;
  var t0 = ${T}(0.0);
  var t1 = ${T}(0.0);
  var b0 = ${T}(0.0);
  var b1 = ${T}(0.0);
  var used = 0u;
  for (var p = p0; p < p1; p++) {
    for (var cc = 0u; cc < params.cg; cc++) {
      let at = base + p * params.c + cc;
      ${body}
    }
    used += params.cg;
    if (used >= ${BLOCK}u) {
      t0 += b0;
      ${two ? 't1 += b1;' : ''}
      b0 = ${T}(0.0);
      ${two ? `b1 = ${T}(0.0);` : ''}
      used = 0u;
    }
  }
  t0 += b0;
  ${two ? 't1 += b1;' : ''}
  ${write(0, 't0')}
  ${two ? write(1, 't1') : ''}
}`,
  };
}

const cache = new Map<string, KernelSpec>();
const groupNormRule = adapterRule<'tree'>();

/** Tests and benchmarks: group norm's statistics as on a CPU adapter, a GPU, or by the workgroup tree only (the old kernel); null: by the adapter. */
export function setGroupNormRule(rule: GroupNormRule | null): void {
  groupNormRule.set(rule);
}

/** The shape of x as a sums kernel sees it: channels, groups, elements per group, vec width. */
export interface SumsLayout {
  c: number;
  groups: number;
  m: number;
  width: VecWidth;
}

export interface ThreadPlan {
  spec: KernelSpec;
  /** Loads per chunk, whole pixels. */
  chunkSize: number;
  /** The layout the kernel runs on: the quad layout (groups of four channels, vec4) for lanes. */
  layout: SumsLayout;
}

/** The thread kernel for a pass over the n samples' groups of layout l, or null where the workgroup tree runs. */
export function threadSumsPlan(mode: SumsMode, l: SumsLayout, n: number): ThreadPlan | null {
  const r = groupNormRule.get();
  const mw = l.m / l.width;
  if (r === 'tree' || (r === 'gpu' && mw > SMALL_GROUP)) return null;
  const lanes = l.width === 1 && l.c === l.groups && l.c % 4 === 0;
  // Four groups of one channel as one group of a vec4: loads per "group" stay M, one per pixel.
  const layout: SumsLayout = lanes ? { c: l.c, groups: l.groups / 4, m: l.m * 4, width: 4 } : l;
  const width = layout.width;
  const cg = layout.c / layout.groups / width;
  const loads = Math.min(THREAD_CHUNK, Math.max(BLOCK, Math.ceil((n * layout.groups * mw) / MIN_THREADS)));
  const chunkSize = r === 'gpu' ? mw : Math.max(1, Math.floor(loads / cg)) * cg;
  const key = `${mode}w${width}${lanes}`;
  let spec = cache.get(key);
  if (!spec) cache.set(key, (spec = threadSumsSpec(mode, width, lanes)));
  return { spec, chunkSize, layout };
}
