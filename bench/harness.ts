// Timing and running one case on both frameworks.
//
// Timing is wall clock around a full GPU round trip: enqueue the op, then wait for the queue to
// drain (dawnet: runtime().sync(), which submits and awaits onSubmittedWorkDone; tfjs: its own
// submit, then the same wait). That includes encoding and submission, which is what a training
// step pays, plus one queue round trip, which is measured separately (syncOverheadMs) and becomes
// negligible once a sample lasts milliseconds. Short ops are repeated `inner` times per sample so
// a sample lasts at least minSampleMs. Warm-up runs compile pipelines and fill buffer pools first.

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

export async function timeRunner(runner: Runner, opts: TimingOptions): Promise<Timing> {
  let last = 0;
  for (let i = 0; i < opts.warmup; i++) last = await timeOnce(runner);
  let inner = 1;
  if (opts.minSampleMs > 0 && opts.maxInner > 1) {
    // The last warm-up run sizes the samples; without warm-up, one more run does.
    const once = opts.warmup > 0 ? last : await timeOnce(runner);
    inner = Math.min(opts.maxInner, Math.max(1, Math.ceil(opts.minSampleMs / Math.max(once, 1e-3))));
  }
  const samples: number[] = [];
  for (let r = 0; r < opts.reps; r++) {
    const t0 = performance.now();
    for (let i = 0; i < inner; i++) runner.step();
    await runner.sync();
    samples.push((performance.now() - t0) / inner);
  }
  return summarise(samples, inner);
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
}

export interface SideResult {
  timing: Timing;
  /** GFLOP/s or GB/s, by the case's metric. */
  rate: number;
  /** rate over the measured peak of that metric; null without a peak. */
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
  /** tfjs median / dawnet median: above 1 means dawnet is faster. */
  ratio: number | null;
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
}

function sideResult(c: BenchCase, timing: Timing, peak: Peak | null): SideResult {
  const rate = c.work / (timing.medianMs * 1e6);
  const peakRate = peak ? (c.metric === 'flops' ? peak.gflops : peak.gbps) : 0;
  return { timing, rate, pctPeak: peakRate > 0 ? (100 * rate) / peakRate : null };
}

function message(e: unknown): string {
  return e instanceof Error ? `${e.name === 'Error' ? '' : `${e.name}: `}${e.message}` : String(e);
}

async function runDawnet(c: BenchCase, host: Float32Array[], env: CaseEnv): Promise<[SideResult, Float32Array | null]> {
  const xs = host.map((data, i) => tensor(data, c.inputs[i].shape));
  try {
    const runner: Runner = { step: () => disposeResult(c.dawnet(xs), xs), sync: () => runtime().sync() };
    const timing = await timeRunner(runner, env.timing);
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
    const timing = await timeRunner(runner, env.timing);
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
  if ('timing' in row.dawnet && row.tfjs && 'timing' in row.tfjs) {
    row.ratio = row.tfjs.timing.medianMs / row.dawnet.timing.medianMs;
  }
  if (dnOut && tfOut) row.check = compareOutputs(dnOut, tfOut, c.tolerance ?? CHECK_TOLERANCE);
  return row;
}
