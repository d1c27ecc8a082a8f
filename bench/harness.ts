// Timing and running one case on both frameworks, on one of two clocks.
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
import { Tensor, tensor } from '../src/graph/tensor.js';
import { CHECK_TOLERANCE, hostData, type BenchCase, type DnResult, type Metric } from './case.js';
import type { TfjsPeer } from './peer-tfjs.js';

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

/**
 * Samples on `gpu` when given (and wall time beside them), else wall time only. Wall samples
 * come from the GPU samples themselves when timing does not disturb the work, else from
 * separate untimed samples first.
 */
export async function timeClocked(runner: Runner, opts: TimingOptions, gpu: GpuClock | null): Promise<ClockedTiming> {
  const inner = await warmUp(runner, opts);
  if (!gpu) {
    const wall = summarise(await wallSamples(runner, opts.reps, inner), inner);
    return { timing: wall, clock: 'wall', wall };
  }
  const wallMs = gpu.perturbsWall ? await wallSamples(runner, opts.reps, inner) : [];
  const gpuMs: (number | null)[] = [];
  for (let r = 0; r < opts.reps; r++) {
    const m = await gpu.measure(() => {
      for (let i = 0; i < inner; i++) runner.step();
    });
    if (!gpu.perturbsWall) wallMs.push(m.wallMs / inner);
    gpuMs.push(m.gpuMs === null ? null : m.gpuMs / inner);
  }
  const wall = summarise(wallMs, inner);
  const why = gpuFallback(gpuMs);
  if (why) return { timing: wall, clock: 'wall', wall, fallback: why };
  return { timing: summarise(gpuMs as number[], inner), clock: 'gpu-timestamp', wall };
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

// ---------------------------------------------------------------------------------------------
// dawnet results: a tensor or a structure holding tensors

export function tensorsIn(result: unknown, out: Tensor[] = [], depth = 0): Tensor[] {
  if (result instanceof Tensor) out.push(result);
  else if (result && typeof result === 'object' && depth < 4) {
    for (const v of Array.isArray(result) ? result : Object.values(result)) tensorsIn(v, out, depth + 1);
  }
  return out;
}

/** Disposes what an op returned, never one of its inputs (an op may hand an input back). */
function disposeResult(result: DnResult, inputs: Tensor[]): void {
  for (const t of tensorsIn(result)) if (!inputs.includes(t)) t.dispose();
}

function firstTensor(what: string, result: DnResult): Tensor {
  const t = tensorsIn(result)[0];
  if (!t) throw new TypeError(`bench: ${what} returned no tensor`);
  return t;
}

// ---------------------------------------------------------------------------------------------
// One case on both sides

export interface Peak {
  gflops: number;
  gbps: number;
  /** The clock the peaks were timed on (absent: wall). */
  clock?: Clock;
}

export interface SideResult extends ClockedTiming {
  /** GFLOP/s or GB/s, by the case's metric, from `timing`. */
  rate: number;
  /** rate over the measured peak of that metric; null without a peak or when the peak is on another clock. */
  pctPeak: number | null;
}

export interface CheckResult {
  /** max |dawnet - tfjs| / max |tfjs|. */
  maxRelErr: number;
  tolerance: number;
  ok: boolean;
}

export interface CaseResult {
  id: string;
  group: string;
  shape: string;
  metric: Metric;
  work: number;
  dawnet: SideResult | { error: string };
  tfjs: SideResult | { error: string } | null;
  /** tfjs median / dawnet median, both on `ratioClock`: above 1 means dawnet is faster. */
  ratio: number | null;
  /** The clock of both medians in the ratio: the sides' clock when they agree, else wall. */
  ratioClock: Clock | null;
  check: CheckResult | null;
  note?: string;
  /** Why the outputs were not compared. */
  noCheck?: string;
}

export interface CaseEnv {
  timing: TimingOptions;
  peak: Peak | null;
  tfjs: TfjsPeer | null;
  /** Read both outputs once and compare them. */
  check: boolean;
  seed: number;
  /** The clock of each side (absent: wall on both). */
  clocks?: SideClocks;
}

/** % of peak, only when the peak was timed on the side's clock. */
export function pctOfPeak(rate: number, peakRate: number | null, peakClock: Clock, clock: Clock): number | null {
  // A wall-clock rate against a GPU-clock peak is still a lower bound (wall time >= GPU time), so
  // it is shown; a GPU-clock rate against a wall-clock peak could overstate, so it is not.
  const comparable = peakClock === clock || clock === 'wall';
  return peakRate !== null && peakRate > 0 && comparable ? (100 * rate) / peakRate : null;
}

function sideResult(c: BenchCase, t: ClockedTiming, peak: Peak | null): SideResult {
  const rate = c.work / (t.timing.medianMs * 1e6);
  const peakRate = peak ? (c.metric === 'flops' ? peak.gflops : peak.gbps) : null;
  return { ...t, rate, pctPeak: pctOfPeak(rate, peakRate, peak?.clock ?? 'wall', t.clock) };
}

/** tfjs / dawnet from medians of one clock: the sides' own when they agree, else both walls. */
export function sameClockRatio(dawnet: SideResult | { error: string }, tfjs: SideResult | { error: string } | null): { ratio: number | null; ratioClock: Clock | null } {
  if (!('timing' in dawnet) || !tfjs || !('timing' in tfjs)) return { ratio: null, ratioClock: null };
  if (dawnet.clock === tfjs.clock) return { ratio: tfjs.timing.medianMs / dawnet.timing.medianMs, ratioClock: dawnet.clock };
  return { ratio: tfjs.wall.medianMs / dawnet.wall.medianMs, ratioClock: 'wall' };
}

/** The GPU clock a side uses, or null for wall time. */
function gpuClockOf(side: keyof SideClocks, env: CaseEnv): GpuClock | null {
  if (env.clocks?.[side] !== 'gpu-timestamp') return null;
  return side === 'dawnet' ? dawnetGpuClock() : (env.tfjs?.gpuClock ?? null);
}

function message(e: unknown): string {
  return e instanceof Error ? `${e.name === 'Error' ? '' : `${e.name}: `}${e.message}` : String(e);
}

async function runDawnet(c: BenchCase, host: Float32Array[], env: CaseEnv): Promise<[SideResult, Float32Array | null]> {
  const xs = host.map((data, i) => tensor(data, c.inputs[i].shape));
  try {
    const runner: Runner = { step: () => disposeResult(c.dawnet(xs), xs), sync: () => runtime().sync() };
    const timing = await timeClocked(runner, env.timing, gpuClockOf('dawnet', env));
    let out: Float32Array | null = null;
    if (env.check) {
      const result = c.dawnet(xs);
      try {
        out = await firstTensor(c.id, result).toArray();
      } finally {
        disposeResult(result, xs);
      }
    }
    return [sideResult(c, timing, env.peak), out];
  } finally {
    for (const x of xs) x.dispose();
    await runtime().sync().catch(() => {});
  }
}

async function runTfjs(
  c: BenchCase,
  host: Float32Array[],
  env: CaseEnv,
  peer: TfjsPeer,
): Promise<[SideResult, Float32Array | null]> {
  const { tf } = peer;
  const xs = host.map((data, i) => tf.tensor(data, c.inputs[i].shape, 'float32'));
  try {
    const op = c.tfjs!;
    const runner: Runner = { step: () => tf.dispose(tf.tidy(() => op(tf, xs))), sync: peer.sync };
    const timing = await timeClocked(runner, env.timing, gpuClockOf('tfjs', env));
    let out: Float32Array | null = null;
    if (env.check) {
      const result = tf.tidy(() => op(tf, xs));
      try {
        const first = Array.isArray(result) ? result[0] : result;
        out = (await first.data()) as Float32Array;
      } finally {
        tf.dispose(result);
      }
    }
    return [sideResult(c, timing, env.peak), out];
  } finally {
    tf.dispose(xs);
  }
}

export function compareOutputs(got: Float32Array, want: Float32Array, tolerance: number): CheckResult {
  if (got.length !== want.length) return { maxRelErr: Infinity, tolerance, ok: false };
  let maxErr = 0;
  let maxRef = 0;
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    maxErr = Number.isNaN(err) ? Infinity : Math.max(maxErr, err);
    maxRef = Math.max(maxRef, Math.abs(want[i]));
  }
  const maxRelErr = maxErr / (maxRef || 1);
  return { maxRelErr, tolerance, ok: maxRelErr <= tolerance };
}

/** Runs a case on dawnet and (when loaded) tfjs; a failing side is reported, not thrown. */
export async function runCase(c: BenchCase, env: CaseEnv): Promise<CaseResult> {
  const host = c.inputs.map((spec, i) => hostData(spec, env.seed + i));
  const row: CaseResult = {
    id: c.id,
    group: c.group,
    shape: c.shape,
    metric: c.metric,
    work: c.work,
    dawnet: { error: 'not run' },
    tfjs: null,
    ratio: null,
    ratioClock: null,
    check: null,
    ...(c.note ? { note: c.note } : {}),
    ...(c.noCheck ? { noCheck: c.noCheck } : {}),
  };
  const check = env.check && !c.noCheck;
  let dnOut: Float32Array | null = null;
  let tfOut: Float32Array | null = null;
  try {
    [row.dawnet, dnOut] = await runDawnet(c, host, { ...env, check });
  } catch (e) {
    row.dawnet = { error: message(e) };
  }
  if (env.tfjs && c.tfjs) {
    try {
      [row.tfjs, tfOut] = await runTfjs(c, host, { ...env, check }, env.tfjs);
    } catch (e) {
      row.tfjs = { error: message(e) };
    }
  }
  Object.assign(row, sameClockRatio(row.dawnet, row.tfjs));
  if (dnOut && tfOut) row.check = compareOutputs(dnOut, tfOut, c.tolerance ?? CHECK_TOLERANCE);
  return row;
}
