// Timing an op on one of two clocks, for both frameworks (bench/harness.ts runs the cases).
//
// Wall clock ('wall'), always measured: a full GPU round trip, enqueue the op, then wait for the
// queue to drain (dawnet: runtime().sync(), which submits and awaits onSubmittedWorkDone; tfjs:
// its own submit, then the same wait). That includes encoding and submission, which is what a
// training step pays, plus one queue round trip, which is measured separately (syncOverheadMs) and
// becomes negligible once a sample lasts milliseconds.
//
// GPU timestamps ('gpu-timestamp'), where the side's device has 'timestamp-query':
//  - dawnet: runtime().gpuTimer around the sample. Every compute pass dawnet begins in it (one per
//    command buffer: a submit every 96 dispatches, at a readback or a copy) writes its start and
//    end; the sample is the sum of end - start over those passes. Not in it: copies between
//    passes, queue writes (uniforms, uploads), submission and the CPU's encoding. The timer does
//    not change how work is batched, so the same samples give the wall time too.
//  - tfjs: tf.time(f).kernelMs. Under tf.time, tfjs 4.22's WebGPU backend puts every kernel in a
//    pass of its own with timestamp writes, submits it, and reads the two timestamps back before
//    summing the spans; so kernelMs is the sum of per-kernel spans, its compute programs only
//    (uploads and buffer copies are not programs). Each kernel pays a pass begin/end of its own,
//    and on a GPU that could overlap independent dispatches inside one pass none overlap: on such
//    a GPU this sum can exceed what the batched, untimed step costs. Timing also submits and maps
//    once per kernel, so tfjs's wall time comes from separate, untimed samples.
// Both are GPU busy time in compute passes, what the kernels themselves cost; the wall clock adds
// what it takes to feed them. A tfjs / dawnet ratio is taken only between samples of one clock:
// when a side could not give GPU time (no feature, no reading), both sides' wall medians are used.
//
// Short ops are repeated `inner` times per sample so a (wall) sample lasts at least minSampleMs;
// GPU samples use the same `inner`. Warm-up runs compile pipelines and fill buffer pools first.


import { runtime } from '../src/gpu/runtime.js';

export interface TimingOptions {
  warmup: number;
  reps: number;
  /** Repeat the op within one sample until a sample lasts this long (0: never repeat). */
  minSampleMs: number;
  maxInner: number;
}

export const DEFAULT_TIMING: TimingOptions = { warmup: 2, reps: 7, minSampleMs: 20, maxInner: 64 };

export interface Timing {
  medianMs: number;
  minMs: number;
  maxMs: number;
  q1Ms: number;
  q3Ms: number;
  /** Op runs per sample. */
  inner: number;
  samplesMs: number[];
}

/** One framework's way to run an op once (without waiting) and to wait for the GPU. */
export interface Runner {
  step(): void;
  sync(): Promise<void>;
}

export type Clock = 'gpu-timestamp' | 'wall';

/** `--clock`: auto is GPU timestamps when every side run has them, else wall on both. */
export type ClockOption = 'auto' | 'gpu' | 'wall';

/** A side's GPU clock: timestamp queries around the work. */
export interface GpuClock {
  /**
   * Runs `enqueue` and waits for the GPU: wall ms around both and GPU ms of the kernels it ran
   * (null when no reading came back).
   */
  measure(enqueue: () => void): Promise<{ wallMs: number; gpuMs: number | null }>;
  /** Measuring changes how work is submitted (tfjs: a submit and a readback per kernel), so its wall time is not the plain one. */
  perturbsWall: boolean;
}

/** The clock each side's samples use. */
export interface SideClocks {
  dawnet: Clock;
  tfjs: Clock;
}

/**
 * Which clock each side uses. 'wall': both wall. 'gpu': GPU timestamps on each side that has
 * them. 'auto': GPU timestamps on both when dawnet has them and tfjs either has them or is not
 * run (`tfjs: null`), else wall on both, so the two sides' numbers stay comparable.
 */
export function chooseClocks(option: ClockOption, has: { dawnet: boolean; tfjs: boolean | null }): SideClocks {
  const gpu = (yes: boolean | null): Clock => (yes ? 'gpu-timestamp' : 'wall');
  if (option === 'wall') return { dawnet: 'wall', tfjs: 'wall' };
  if (option === 'gpu') return { dawnet: gpu(has.dawnet), tfjs: gpu(has.tfjs) };
  const both = has.dawnet && has.tfjs !== false;
  return { dawnet: gpu(both), tfjs: gpu(both && has.tfjs === true) };
}

/** dawnet's GPU clock: the runtime's timer around one sample; null without 'timestamp-query'. */
export function dawnetGpuClock(): GpuClock | null {
  const timer = runtime().gpuTimer;
  if (!timer.available) return null;
  return {
    perturbsWall: false,
    measure: async (enqueue) => {
      timer.begin();
      const t0 = performance.now();
      let wallMs: number;
      try {
        enqueue();
        await runtime().sync();
        wallMs = performance.now() - t0;
      } catch (e) {
        await timer.end().catch(() => null);
        throw e;
      }
      return { wallMs, gpuMs: await timer.end() };
    },
  };
}

function quantile(sorted: number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

export function summarise(samplesMs: number[], inner = 1): Timing {
  if (samplesMs.length === 0) throw new RangeError('bench: no samples to summarise');
  const s = [...samplesMs].sort((a, b) => a - b);
  return {
    medianMs: quantile(s, 0.5),
    minMs: s[0],
    maxMs: s[s.length - 1],
    q1Ms: quantile(s, 0.25),
    q3Ms: quantile(s, 0.75),
    inner,
    samplesMs,
  };
}

async function timeOnce(runner: Runner): Promise<number> {
  const t0 = performance.now();
  runner.step();
  await runner.sync();
  return performance.now() - t0;
}

/** Warm-up runs; returns how many op runs a sample holds. */
async function warmUp(runner: Runner, opts: TimingOptions): Promise<number> {
  let last = 0;
  for (let i = 0; i < opts.warmup; i++) last = await timeOnce(runner);
  if (!(opts.minSampleMs > 0 && opts.maxInner > 1)) return 1;
  // The last warm-up run sizes the samples; without warm-up, one more run does.
  const once = opts.warmup > 0 ? last : await timeOnce(runner);
  return Math.min(opts.maxInner, Math.max(1, Math.ceil(opts.minSampleMs / Math.max(once, 1e-3))));
}

async function wallSamples(runner: Runner, reps: number, inner: number): Promise<number[]> {
  const samples: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    for (let i = 0; i < inner; i++) runner.step();
    await runner.sync();
    samples.push((performance.now() - t0) / inner);
  }
  return samples;
}

/** Wall-clock samples only. */
export async function timeRunner(runner: Runner, opts: TimingOptions): Promise<Timing> {
  const inner = await warmUp(runner, opts);
  return summarise(await wallSamples(runner, opts.reps, inner), inner);
}

export interface ClockedTiming {
  /** The samples of `clock`: what the rate, % of peak and the ratio are computed from. */
  timing: Timing;
  clock: Clock;
  /** Wall-clock samples (the same as `timing` when the clock is 'wall'). */
  wall: Timing;
  /** Why GPU time was asked for and wall time is used instead. */
  fallback?: string;
}

/** Why GPU samples cannot stand as the timing, or null when they can. */
export function gpuFallback(samplesMs: (number | null)[]): string | null {
  if (samplesMs.some((v) => v === null || !Number.isFinite(v))) return 'no GPU time came back for a sample';
  const sorted = (samplesMs as number[]).slice().sort((a, b) => a - b);
  if (!(sorted[Math.floor(sorted.length / 2)] > 0)) return 'the GPU time rounds to 0 (timestamp resolution)';
  return null;
}

/** One side to time: how to run its op, and its GPU clock (null: wall time only). */
export interface TimedSide {
  runner: Runner;
  gpu: GpuClock | null;
}

/** A side's samples as they are taken, one rep at a time. */
interface SideSamples {
  side: TimedSide;
  inner: number;
  wallMs: number[];
  gpuMs: (number | null)[];
}

/** One rep of a side: a GPU sample (and its wall time, or a separate wall sample first when timing disturbs the work). */
async function sampleOnce(s: SideSamples): Promise<void> {
  const { runner, gpu } = s.side;
  if (!gpu) {
    s.wallMs.push(...(await wallSamples(runner, 1, s.inner)));
    return;
  }
  if (gpu.perturbsWall) s.wallMs.push(...(await wallSamples(runner, 1, s.inner)));
  const m = await gpu.measure(() => {
    for (let i = 0; i < s.inner; i++) runner.step();
  });
  if (!gpu.perturbsWall) s.wallMs.push(m.wallMs / s.inner);
  s.gpuMs.push(m.gpuMs === null ? null : m.gpuMs / s.inner);
}

function clocked(s: SideSamples): ClockedTiming {
  const wall = summarise(s.wallMs, s.inner);
  if (!s.side.gpu) return { timing: wall, clock: 'wall', wall };
  const why = gpuFallback(s.gpuMs);
  if (why) return { timing: wall, clock: 'wall', wall, fallback: why };
  return { timing: summarise(s.gpuMs as number[], s.inner), clock: 'gpu-timestamp', wall };
}

/**
 * Times several sides of one case with their samples interleaved (rep 1 of each side, then rep 2
 * of each, ...), each on its GPU clock when given, wall time beside it. On a machine whose speed
 * drifts, a slow stretch then slows every side's samples alike instead of one side's all, so
 * their ratio holds. Every other rep runs the sides in reverse order, so that no side always runs
 * first (right after the sync that ends the rep before) or always right after a given other.
 * Warm-ups come first, side by side.
 */
export async function timeInterleaved(sides: TimedSide[], opts: TimingOptions): Promise<ClockedTiming[]> {
  const samples: SideSamples[] = [];
  for (const side of sides) samples.push({ side, inner: await warmUp(side.runner, opts), wallMs: [], gpuMs: [] });
  for (let r = 0; r < opts.reps; r++) for (const s of r % 2 ? [...samples].reverse() : samples) await sampleOnce(s);
  return samples.map(clocked);
}

/**
 * Samples on `gpu` when given (and wall time beside them), else wall time only. Wall samples
 * come from the GPU samples themselves when timing does not disturb the work, else from
 * separate untimed samples taken before each.
 */
export async function timeClocked(runner: Runner, opts: TimingOptions, gpu: GpuClock | null): Promise<ClockedTiming> {
  return (await timeInterleaved([{ runner, gpu }], opts))[0];
}

/** Median time of waiting on an idle queue: the floor under every sample. */
export async function syncOverheadMs(sync: () => Promise<void>, reps = 21): Promise<number> {
  await sync();
  const samples: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await sync();
    samples.push(performance.now() - t0);
  }
  return summarise(samples).medianMs;
}
