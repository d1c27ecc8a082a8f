// histogram(x, { bins, min, max }) as torch.histc: counts of x's values in `bins` equal bins over
// [min, max] (the last bin closed: a value at max counts in it), as float32 [bins]. Values outside
// the range, and NaN, count nowhere. Without a range, x's own minimum and maximum give it (a
// constant x: [v − 1, v + 1], torch's); both are computed on the GPU, nothing is read back. Not
// differentiable (counts), as torch.histc. Intensity histograms of MRI slices (for histogram
// matching, or to choose a window) are the use in mind.
//
// Bin of v: ⌊(v − min)·bins / (max − min)⌋ in float32, torch's formula. Two ways to count (integer
// sums in any order are exact, so both give the same counts on every run):
// - 'local': each workgroup counts its share of x in workgroup memory with integer atomics, then
//   adds its counts to the output's. Its array holds the bins rounded up to a power of two, not
//   the most workgroup memory allows: Dawn zeroes workgroup memory at every workgroup's start,
//   and on SwiftShader (Chromium's CPU adapter) that cost 1.3 ms a workgroup of 256 threads for
//   16 KiB against 0.1-0.2 ms for 4 KiB (a microbenchmark, wall clock; gone with Dawn's
//   disable_workgroup_init toggle), so 256 bins in a 16 KiB array took 2.6x tfjs's time.
// - 'direct': every value's atomic add goes straight into the output: no workgroup memory and no
//   barriers, but adds into one bin wait on each other (a background's bin).
// More bins than workgroup memory holds count directly. A last pass turns the u32 counts into
// floats in place.

import { ArgumentError } from '../errors.js';
import { packParams, u32 } from '../gpu/params.js';
import { zeroesWorkgroupMemorySlowly } from '../gpu/adapter-kind.js';
import { runtime, type KernelSpec } from '../gpu/runtime.js';
import { expectKnownOptions, expectNumber, expectOptionalNumber, expectOptions, expectTensor } from '../graph/args.js';
import { noGrad } from '../graph/autograd.js';
import { reshape } from '../graph/reshape.js';
import { scope } from '../graph/scope.js';
import { tensor, type Tensor, zeros } from '../graph/tensor.js';
import { chunkItems, dispatchChunk, forEachChunk, part, range } from './chunking.js';
import { concat } from './concat.js';
import { max, min } from './extrema.js';
import { forcedWay } from './forced-way.js';
import { LINEAR_MAIN_ARGS, linearGrid, linearIndex, workgroupGrid } from './wgsl.js';

/** Bins a workgroup counts in its own memory (16 KiB of u32, every adapter's minimum). */
export const LOCAL_BINS = 4096;
const THREADS = 256;
/** Values a workgroup counts: enough that adding its counts to the output's is a small part. */
const PER_WORKGROUP = 16 * THREADS;

export type HistogramWay = 'local' | 'direct';

const forced = forcedWay<HistogramWay>();

/** Runs fn with every histogram counting `way` (tests and the bench compare the two). */
export const withHistogramWay = <T>(way: HistogramWay, fn: () => T): T => forced.with(way, fn);

/**
 * The way a histogram of `bins` bins counts: 'direct' past LOCAL_BINS; else 'direct' on SwiftShader
 * (zeroesWorkgroupMemorySlowly) and 'local' elsewhere. On SwiftShader (in Chromium, GPU timestamps)
 * 'direct' took 0.14-0.16 ms against 'local''s 0.50 at 2x32x32x3 values and 256 bins, and 4.1-4.3
 * against 11.4-11.8 at 8x128x128x3, with the values spread evenly or half of them in one bin (the
 * bench's histogram-256 cases). On lavapipe 'local' took 1.66-1.76 ms against 2.48-3.06 at
 * 8x128x128x3 (at 2x32x32x3 the two were within the noise, both near the launch floor). On a GPU,
 * adds into one global bin from thousands of threads wait on each other; workgroup memory is what
 * GPUs' histograms count in.
 */
export function histogramWay(bins: number): HistogramWay {
  if (bins > LOCAL_BINS) return 'direct';
  return forced.current ?? (zeroesWorkgroupMemorySlowly(runtime().ctx.report) ? 'direct' : 'local');
}

/** The workgroup array for `bins` bins: the next power of two, at least 64 (few pipelines). */
export function localArrayBins(bins: number): number {
  return Math.max(64, 2 ** Math.ceil(Math.log2(bins)));
}

const countSpecs = new Map<string, KernelSpec>();

/** The counting kernel: 'direct' (localBins 0), or 'local' into an array of localBins. */
function countSpec(localBins: number): KernelSpec {
  const local = localBins > 0;
  const key = local ? `local${localBins}` : 'direct';
  let spec = countSpecs.get(key);
  if (spec) return spec;
  const add = local ? 'atomicAdd(&binCounts[b], 1u)' : 'atomicAdd(&counts[b], 1u)';
  spec = {
    name: 'histogram.count',
    key,
    inputs: 2,
    outputs: 1,
    wgsl: () => /* wgsl */ `
struct Params { total: u32, bins: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> bounds: array<f32>;
@group(0) @binding(2) var<storage, read_write> counts: array<atomic<u32>>;
@group(0) @binding(3) var<uniform> params: Params;
${local ? `var<workgroup> binCounts: array<atomic<u32>, ${localBins}>;` : ''}
@compute @workgroup_size(${THREADS})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
  // A constant x's range is widened as torch's: [v - 1, v + 1].
  let same = bounds[0] == bounds[1];
  let lo = select(bounds[0], bounds[0] - 1.0, same);
  let hi = select(bounds[1], bounds[1] + 1.0, same);
  let first = (wid.x + wid.y * nwg.x) * ${PER_WORKGROUP}u;
  ${local ? `for (var b = t; b < params.bins; b += ${THREADS}u) { atomicStore(&binCounts[b], 0u); }
  workgroupBarrier();` : ''}
  for (var i = first + t; i < min(first + ${PER_WORKGROUP}u, params.total); i += ${THREADS}u) {
    let v = x[i];
    // NaN fails both comparisons.
    if (v >= lo && v <= hi) {
      let b = min(u32((v - lo) * f32(params.bins) / (hi - lo)), params.bins - 1u);
      ${add};
    }
  }
  ${local ? `workgroupBarrier();
  for (var b = t; b < params.bins; b += ${THREADS}u) {
    let c = atomicLoad(&binCounts[b]);
    if (c > 0u) { atomicAdd(&counts[b], c); }
  }` : ''}
}`,
  };
  countSpecs.set(key, spec);
  return spec;
}

/** The u32 counts as float32, in place. */
const floatSpec: KernelSpec = {
  name: 'histogram.float',
  key: '',
  inputs: 0,
  outputs: 1,
  wgsl: () => /* wgsl */ `
struct Params { bins: u32 }
@group(0) @binding(0) var<storage, read_write> counts: array<u32>;
@group(0) @binding(1) var<uniform> params: Params;
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let b = ${linearIndex()};
  if (b >= params.bins) { return; }
  counts[b] = bitcast<u32>(f32(counts[b]));
}`,
};

export interface HistogramOptions {
  /** Number of equal bins. Default 100 (torch.histc's). */
  bins?: number;
  /** The range's ends, both or neither (then x's minimum and maximum). */
  min?: number;
  max?: number;
}

/** [min, max] as a 2-value tensor: the given ends, or x's own (on the GPU). */
function boundsOf(x: Tensor, opts: HistogramOptions): Tensor {
  if (opts.min !== undefined) return tensor([opts.min, opts.max!], [2]);
  return scope(() => concat([reshape(min(x), [1]), reshape(max(x), [1])], 0));
}

/** Counts of x's values in `bins` equal bins over [min, max] (x's range by default), as float32 [bins]. */
export function histogram(x: Tensor, options: HistogramOptions = {}): Tensor {
  const op = 'histogram';
  expectTensor(op, 'input x', x);
  expectOptions(op, options, '{ bins: 256, min: 0, max: 1 }');
  expectKnownOptions(op, options, ['bins', 'min', 'max']);
  const bins = options.bins ?? 100;
  expectNumber(op, 'bins', bins, { integer: true, min: 1, max: 2 ** 24 });
  expectOptionalNumber(op, 'min', options.min);
  expectOptionalNumber(op, 'max', options.max);
  if ((options.min === undefined) !== (options.max === undefined)) throw new ArgumentError(`${op}: give both min and max, or neither (x's own range), got min ${options.min} and max ${options.max}`);
  if (options.min !== undefined && !(options.min < options.max!)) throw new ArgumentError(`${op}: min ${options.min} must be below max ${options.max}`);
  const per = chunkItems(op, x.size, [part(x, 1)]);
  const counts = zeros([bins]);
  if (x.size === 0) return counts;
  noGrad(() => {
    const bounds = boundsOf(x, options);
    const spec = countSpec(histogramWay(bins) === 'local' ? localArrayBins(bins) : 0);
    forEachChunk(x.size, per, (first, count) => {
      const grid = workgroupGrid(Math.ceil(count / PER_WORKGROUP));
      dispatchChunk(spec, [range(x, first, count), bounds], [counts], packParams([u32(count), u32(bins)]), grid);
    });
    bounds.dispose();
    dispatchChunk(floatSpec, [], [counts], packParams([u32(bins)]), linearGrid(bins));
  });
  return counts;
}
