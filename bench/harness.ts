// Running one case on both frameworks: inputs, outputs checked against each other, timings (on
// the clocks of bench/timing.ts, the two sides' samples interleaved so that a slow stretch of the
// machine slows both alike), rates, % of the peak and the tfjs / dawnet ratio of one clock. Conv
// cases get more dawnet sides in the same interleaving: with its operand loads replaced by
// register values (the operand probe), which says what those loads cost, and with each other conv
// algorithm (direct, Winograd, fused Winograd) that fits.

import { runtime } from '../src/gpu/runtime.js';
import type { KernelTime } from '../src/gpu/gpu-timer.js';
import { profile } from '../src/index.js';
import { setOperandProbe } from '../src/kernels/conv2d-launch.js';
import { Tensor, tensor } from '../src/graph/tensor.js';
import { CHECK_TOLERANCE, MASK_MISMATCHES, hostData, type BenchCase, type DnResult, type Metric, type OutputSpec } from './case.js';
import type { TfjsPeer } from './peer-tfjs.js';
import {
  dawnetGpuClock,
  timeInterleaved,
  type Clock,
  type ClockedTiming,
  type GpuClock,
  type Runner,
  type SideClocks,
  type TimingOptions,
} from './timing.js';

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

function allTensors(what: string, result: DnResult): Tensor[] {
  const ts = tensorsIn(result);
  if (!ts.length) throw new TypeError(`bench: ${what} returned no tensor`);
  return ts;
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
  /** max |dawnet - tfjs| / max |tfjs| (a mask: the share of elements that differ). */
  maxRelErr: number;
  tolerance: number;
  ok: boolean;
  /**
   * Which of several compared values the figures are of: the output (by name or number) furthest
   * over, or least under, its tolerance; for an end-to-end step, a step's loss or the weights.
   */
  output?: string;
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
  /** The FMA peak re-timed right after the case's samples (GFLOP/s), for cases counted in flops. */
  peakBeside?: number;
  /**
   * dawnet's median with its conv kernels' operand loads replaced by register values (ms, on
   * dawnet's clock), for cases with probeOperands where the probe ran.
   */
  operandsInRegistersMs?: number;
  /** The algorithm dawnet ran (BenchCase.algorithm), where the case names one. */
  algorithm?: string;
  /** dawnet's median under each of BenchCase.alternatives' algorithms (ms, on dawnet's clock). */
  alternatives?: Alternative[];
  /** Records before 2026-11-27 timed one other algorithm: read them with alternativesOf. */
  alternative?: { algorithm: string; ms: number };
  /**
   * One more dawnet step with each dispatch in its own timestamped pass (BenchCase.profileKernels):
   * GPU time by kernel, largest first. The passes add a little time of their own.
   */
  kernels?: KernelTime[];
}

/** Another algorithm's median beside the row's (ms, on dawnet's clock). */
export interface Alternative {
  algorithm: string;
  ms: number;
  /**
   * The row's own way re-timed interleaved with this one, where it was (the end-to-end 'tuned'
   * step against the untuned): ratios then use it rather than the row's median.
   */
  pairedMs?: number;
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
  /** Re-times the FMA peak (bench/peak.ts fmaProbe); called after the samples of flops cases. */
  probePeak?: () => Promise<number | null>;
  /** Run the operand-load probe of cases that ask for it. */
  probeOperands?: boolean;
  /** Time the other algorithms of cases that name them (default: yes). */
  alternatives?: boolean;
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

/** A side that was timed (not an error, not absent). */
export const timed = (side: CaseResult['dawnet'] | CaseResult['tfjs']): side is SideResult => !!side && 'timing' in side;

/**
 * tfjs / dawnet from medians of one clock: the sides' own when they agree, else both walls; both
 * walls always with `onWall` (BenchCase.ratioOnWall).
 */
export function sameClockRatio(dawnet: SideResult | { error: string }, tfjs: SideResult | { error: string } | null, onWall = false): { ratio: number | null; ratioClock: Clock | null } {
  if (!('timing' in dawnet) || !tfjs || !('timing' in tfjs)) return { ratio: null, ratioClock: null };
  if (dawnet.clock === tfjs.clock && !onWall) return { ratio: tfjs.timing.medianMs / dawnet.timing.medianMs, ratioClock: dawnet.clock };
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

/** A side of a case, set up and ready to time: its runner, its output for the check, its teardown. */
interface PreparedSide {
  runner: Runner;
  /** Every output, in order (the check compares each with the other side's). */
  output(): Promise<Float32Array[]>;
  dispose(): Promise<void>;
}

function prepareDawnet(c: BenchCase, host: Float32Array[]): PreparedSide {
  const inputs = host.map((data, i) => tensor(data, c.inputs[i].shape));
  const xs = [...inputs];
  const dispose = async () => {
    for (const x of new Set(xs)) x.dispose(); // a setup may hand an input back
    await runtime().sync().catch(() => {});
  };
  try {
    if (c.dawnetSetup) xs.push(...c.dawnetSetup(inputs));
  } catch (e) {
    void dispose();
    throw e;
  }
  return {
    runner: { step: () => disposeResult(c.dawnet(xs), xs), sync: () => runtime().sync() },
    output: async () => {
      const result = c.dawnet(xs);
      try {
        return await Promise.all(allTensors(c.id, result).map((t) => t.toArray()));
      } finally {
        disposeResult(result, xs);
      }
    },
    dispose,
  };
}

function prepareTfjs(c: BenchCase, host: Float32Array[], peer: TfjsPeer): PreparedSide {
  const { tf } = peer;
  const inputs = host.map((data, i) => tf.tensor(data, c.inputs[i].shape, 'float32'));
  const xs = [...inputs];
  const dispose = async () => tf.dispose(xs);
  try {
    if (c.tfjsSetup) xs.push(...tf.tidy(() => c.tfjsSetup!(tf, inputs)));
  } catch (e) {
    void dispose();
    throw e;
  }
  const op = c.tfjs!;
  return {
    runner: { step: () => tf.dispose(tf.tidy(() => op(tf, xs))), sync: peer.sync },
    output: async () => {
      const result = tf.tidy(() => (c.tfjsOutputs ?? op)(tf, xs));
      try {
        return (await Promise.all((Array.isArray(result) ? result : [result]).map((t) => t.data()))) as Float32Array[];
      } finally {
        tf.dispose(result);
      }
    },
    dispose,
  };
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

/** A 0/1 mask: the share of elements that differ, against MASK_MISMATCHES (one element at least). */
function compareMask(got: Float32Array, want: Float32Array): CheckResult {
  const tolerance = Math.max(MASK_MISMATCHES, 1 / Math.max(1, want.length));
  if (got.length !== want.length) return { maxRelErr: Infinity, tolerance, ok: false };
  let differ = 0;
  for (let i = 0; i < want.length; i++) if (!(got[i] === want[i])) differ++;
  const share = differ / Math.max(1, want.length);
  return { maxRelErr: share, tolerance, ok: share <= tolerance };
}

/**
 * Every output against the other side's of the same place, each by its spec (default: the case's
 * tolerance); the result is the output furthest over its tolerance (or closest to it), named. A
 * different number of outputs fails. dawnet outputs whose spec says `unchecked` are left out
 * first (tfjs returns none of them).
 */
export function compareEach(got: Float32Array[], want: Float32Array[], tolerance: number, specs: readonly OutputSpec[] = []): CheckResult {
  const skipped = specs.flatMap((s, i) => (s.unchecked ? [i] : []));
  if (skipped.length) {
    const keep = (_: unknown, i: number) => !skipped.includes(i);
    return compareEach(got.filter(keep), want, tolerance, specs.filter(keep));
  }
  if (got.length !== want.length) return { maxRelErr: Infinity, tolerance, ok: false, output: `${got.length} output(s) against ${want.length}` };
  let worst: CheckResult | null = null;
  for (let i = 0; i < want.length; i++) {
    const spec = specs[i];
    const r = spec?.mask ? compareMask(got[i], want[i]) : compareOutputs(got[i], want[i], spec?.tolerance ?? tolerance);
    const named = want.length > 1 ? { ...r, output: spec?.name ?? `output ${i + 1}` } : r;
    if (!worst || !(r.maxRelErr / r.tolerance <= worst.maxRelErr / worst.tolerance)) worst = named;
  }
  return worst ?? { maxRelErr: Infinity, tolerance, ok: false, output: 'no output' };
}

/**
 * dawnet's side once more with each step run `around` a setting (the operand probe, another
 * algorithm), timed among the sides' samples so a slow stretch of a shared machine slows it as
 * much as the others. It runs on the dawnet side's own tensors, which that side disposes.
 */
function dawnetAround(side: PreparedSide, around: <T>(step: () => T) => T): PreparedSide {
  const step = side.runner.step;
  return { ...side, runner: { ...side.runner, step: () => around(step) }, dispose: async () => {} };
}

/** Runs a step with the conv kernels' operand loads in registers (setOperandProbe on for it only). */
function withOperandProbe<T>(step: () => T): T {
  setOperandProbe(true);
  try {
    return step();
  } finally {
    setOperandProbe(false);
  }
}

/** The other algorithms a row timed beside it, from either record format. */
export const alternativesOf = (r: CaseResult): Alternative[] => r.alternatives ?? (r.alternative ? [r.alternative] : []);

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
    ...(c.algorithm ? { algorithm: c.algorithm() } : {}),
  };
  const check = env.check && !c.noCheck;
  let dnOut: Float32Array[] | null = null;
  let tfOut: Float32Array[] | null = null;
  // Both sides set up, then timed with their samples interleaved (bench/timing.ts says why); a
  // side that fails to set up or to run is reported and the other still timed. The operand probe
  // and the other algorithm, where they run, are more sides, with neither output nor check.
  const sides: { name: 'dawnet' | 'tfjs' | 'probe' | 'alternative'; prepared: PreparedSide; gpu: GpuClock | null; algorithm?: string }[] = [];
  try {
    sides.push({ name: 'dawnet', prepared: prepareDawnet(c, host), gpu: gpuClockOf('dawnet', env) });
  } catch (e) {
    row.dawnet = { error: message(e) };
  }
  if (env.tfjs && c.tfjs) {
    try {
      sides.push({ name: 'tfjs', prepared: prepareTfjs(c, host, env.tfjs), gpu: gpuClockOf('tfjs', env) });
    } catch (e) {
      row.tfjs = { error: message(e) };
    }
  }
  if (env.probeOperands && c.probeOperands && sides[0]?.name === 'dawnet') {
    sides.push({ name: 'probe', prepared: dawnetAround(sides[0].prepared, withOperandProbe), gpu: gpuClockOf('dawnet', env) });
  }
  const others = env.alternatives !== false && sides[0]?.name === 'dawnet' && c.alternatives ? await c.alternatives() : [];
  for (const other of others) {
    sides.push({ name: 'alternative', prepared: dawnetAround(sides[0].prepared, other.around), gpu: gpuClockOf('dawnet', env), algorithm: other.algorithm });
  }
  try {
    let timings: ClockedTiming[] | null = null;
    try {
      timings = await timeInterleaved(sides.map((s) => ({ runner: s.prepared.runner, gpu: s.gpu })), env.timing);
    } catch {
      // One side failed part-way: time each alone, so the other still gets its numbers.
    }
    for (const [i, s] of sides.entries()) {
      try {
        const t = timings ? timings[i] : await timeInterleaved([{ runner: s.prepared.runner, gpu: s.gpu }], env.timing).then((r) => r[0]);
        if (s.name === 'probe') {
          if (t.clock === (row.dawnet as SideResult).clock) row.operandsInRegistersMs = t.timing.medianMs;
          continue;
        }
        if (s.name === 'alternative') {
          if (t.clock === (row.dawnet as SideResult).clock) (row.alternatives ??= []).push({ algorithm: s.algorithm!, ms: t.timing.medianMs });
          continue;
        }
        const result = sideResult(c, t, env.peak);
        const out = check ? await s.prepared.output() : null;
        if (s.name === 'dawnet') [row.dawnet, dnOut] = [result, out];
        else [row.tfjs, tfOut] = [result, out];
        if (s.name === 'dawnet' && c.profileKernels && t.clock === 'gpu-timestamp') {
          const p = await profile(() => s.prepared.runner.step());
          if (p) row.kernels = p.kernels;
        }
      } catch (e) {
        if (s.name === 'dawnet') row.dawnet = { error: message(e) };
        else if (s.name === 'tfjs') row.tfjs = { error: message(e) };
      }
    }
  } finally {
    for (const s of sides) await s.prepared.dispose();
  }
  if (env.probePeak && c.metric === 'flops' && 'timing' in row.dawnet) {
    const beside = await env.probePeak();
    if (beside !== null) row.peakBeside = beside;
  }
  Object.assign(row, sameClockRatio(row.dawnet, row.tfjs, !!c.ratioOnWall));
  if (dnOut && tfOut) row.check = compareEach(dnOut, tfOut, c.tolerance ?? CHECK_TOLERANCE, c.outputs);
  return row;
}
