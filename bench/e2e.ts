// End-to-end cases: a whole model step (a U-Net training step, a VGG16 forward) on dawnet and on
// TensorFlow.js, in images per second, with dawnet's peak GPU memory held against the step's
// theoretical minimum (bench/memory.ts).
//
// Both sides start from the same weights (dawnet's initialisation, read back and handed to tfjs)
// and the same batch, and their outputs are compared once before any step changes the weights.
// A step is timed like a kernel case (on the run's clock, wall time beside it: bench/timing.ts),
// one step per sample: repeating steps before a sync would let released buffers pile up until the
// submit. Peak memory is one more step on each side after timing, so Adam's moments exist:
// dawnet's under the pool probe (pool.peakBytesInUse), tfjs's under its buffer manager's watch
// (peak of tf.memory().numBytesInGPU: bench/peer-tfjs.ts says why that one). Last, one more dawnet
// step with a timestamped pass per dispatch gives its GPU time by kernel.

import {
  compareOutputs,
  pctOfPeak,
  sameClockRatio,
  type Alternative,
  type CaseResult,
  type Peak,
  type SideResult,
} from './harness.js';
import {
  dawnetGpuClock,
  timeClocked,
  timeInterleaved,
  type ClockedTiming,
  type GpuClock,
  type SideClocks,
  type TimingOptions,
} from './timing.js';
import { DAWNET_SAVES, minimumMemory, stepFlops, type MemoryMinimum, type NetGraph } from './memory.js';
import type { TfjsMemory, TfjsPeer } from './peer-tfjs.js';
import { probePeak, type LiveGroup } from './pool-probe.js';
import { profile as profileKernels } from '../src/index.js';
import type { KernelTime } from '../src/gpu/gpu-timer.js';
import { setConvAlgorithm, type ConvAlgorithm } from '../src/kernels/conv2d-winograd-run.js';
import { clearConvTuning, formatCandidate, ruleCandidate, tuneConvs, withConvTuning, type TunedConv } from '../src/kernels/conv2d-tuning.js';

export interface E2eSide {
  /** Enqueues one step (forward, and for training loss, backward and optimiser) without waiting. */
  step(): void;
  /** The model's output for the case's batch with the current weights. */
  output(): Promise<Float32Array>;
  dispose(): void;
}

export interface NamedWeight {
  shape: number[];
  data: Float32Array;
}

export interface DawnetSide extends E2eSide {
  /** The parameters by dawnet's names, for tfjs to start from the same weights. */
  weights(): Promise<Map<string, NamedWeight>>;
}

export interface E2eCase {
  /** e.g. 'unet.train/b2'. */
  id: string;
  group: 'e2e';
  shape: string;
  batch: number;
  mode: 'train' | 'inference';
  /** The same network as the two sides build, for the flop count and the memory minimum. */
  graph: NetGraph;
  dawnet(): DawnetSide;
  tfjs?(peer: TfjsPeer, weights: Map<string, NamedWeight>): Promise<E2eSide>;
  /** Largest allowed max|dawnet - tfjs| / max|tfjs| of the outputs. */
  tolerance: number;
  note?: string;
}

export interface MemoryReport {
  /** The pool's peakBytesInUse over one step. */
  peakBytes: number;
  /** Bytes in use before the step: weights, optimiser moments, the batch. */
  baselineBytes: number;
  minimum: MemoryMinimum;
  /** The same sum with what dawnet's ops save (relu keeps its input): dawnet's floor by design. */
  dawnetFloorBytes: number;
  /** peakBytes / minimum.total; the bar is 1.5. */
  ratio: number;
  /** The largest groups of buffers acquired during the step and live at the peak. */
  atPeak: LiveGroup[];
  /** Kernel dispatches in one dawnet step (launch overhead = this x the cost of one). */
  dispatches: number;
}

export interface E2eResult extends CaseResult {
  batch: number;
  /** Flops of one step (convolutions only, bench/memory.ts stepFlops). */
  flops: number;
  /** dawnet's peak over one step against the minimum. */
  memory: MemoryReport | { error: string } | null;
  /** tfjs's peak GPU bytes over one step (null: tfjs not run or --no-memory). */
  tfjsMemory: TfjsMemory | { error: string } | null;
  /**
   * dawnet's GPU time per kernel over one more step, each dispatch in its own timestamped pass
   * (null without 'timestamp-query'): where the step's time goes.
   */
  profile?: StepProfile | null;
  /** The choices tuneConvs made before the 'tuned' alternative was timed (E2eEnv.tuned). */
  tuning?: TuningChoice[];
}

export interface StepProfile {
  /** The step's GPU time as it normally runs (passes shared by many dispatches). */
  plainMs: number;
  /** Its GPU time with one pass per dispatch, what the kernels' times add up to. */
  totalMs: number;
  kernels: KernelTime[];
}

export interface E2eEnv {
  timing: TimingOptions;
  peak: Peak | null;
  tfjs: TfjsPeer | null;
  check: boolean;
  /** Measure each side's peak memory (one more step each). */
  memory: boolean;
  /** The clock of each side (absent: wall on both). */
  clocks?: SideClocks;
  /**
   * Conv algorithms to time dawnet's step under as well (setConvAlgorithm, on every conv it fits),
   * after its own samples and on the same model: the row's `alternatives`.
   */
  convAlternatives?: readonly ConvAlgorithm[];
  /** What the step itself runs its convs with: 'auto' (convAlgorithm's choice, the default) or the forced one. */
  convAlgorithm?: ConvAlgorithm | 'auto';
  /**
   * Time dawnet's step once more after tuneConvs on it (each conv by the algorithm it timed
   * fastest; the tuning is cleared after): the alternative 'tuned', and the choices in `tuning`.
   */
  tuned?: boolean;
}

/** One conv's tuned choice as a record keeps it: the conv, what ran and each algorithm's fastest sample. */
export interface TuningChoice {
  conv: string;
  algorithm: ConvAlgorithm;
  /** The tiled family's GEMM tile it chose, where it had a choice. */
  tile?: string;
  /** The fused kernel's channel vec4s per workgroup it chose, where not 8. */
  groups?: number;
  ms: Partial<Record<ConvAlgorithm, number>>;
  /** What the rule runs it with (formatCandidate's 'ALGORITHM [TILE]') and that way's time, as tuning measured it. */
  rule?: string;
  ruleMs?: number;
}

const tuningChoice = (t: TunedConv): TuningChoice => {
  const g = t.geometry;
  // The channels the conv's kernels go from and to: dx from Cout to Cin; dw, as the conv, Cin to Cout.
  const [cin, cout] = t.direction === 'backwardInput' ? [g.cout, g.cin] : [g.cin, g.cout];
  const rule = ruleCandidate(t);
  const ruleMs = t.timed?.find((c) => formatCandidate(c) === formatCandidate(rule))?.ms;
  return {
    conv: `${t.direction} ${g.n}x${g.ho}x${g.wo} ${cin}->${cout}`,
    algorithm: t.algorithm,
    ...(t.tile ? { tile: t.tile } : {}),
    ...(t.groups ? { groups: t.groups } : {}),
    ms: t.ms,
    rule: formatCandidate(rule),
    ...(ruleMs === undefined ? {} : { ruleMs }),
  };
};

export const MEMORY_BAR = 1.5;

function message(e: unknown): string {
  return e instanceof Error ? `${e.name === 'Error' ? '' : `${e.name}: `}${e.message}` : String(e);
}

/** Images per second; % of the FMA peak from the step's conv flops. */
function sideResult(c: E2eCase, t: ClockedTiming, peak: Peak | null): SideResult {
  const seconds = t.timing.medianMs / 1000;
  const gflops = stepFlops(c.graph, c.mode === 'train') / seconds / 1e9;
  return { ...t, rate: c.batch / seconds, pctPeak: pctOfPeak(gflops, peak?.gflops ?? null, peak?.clock ?? 'wall', t.clock) };
}

async function timeSide(side: E2eSide, sync: () => Promise<void>, opts: TimingOptions, gpu: GpuClock | null): Promise<ClockedTiming> {
  return timeClocked({ step: () => side.step(), sync }, { ...opts, maxInner: 1 }, gpu);
}

async function measureMemory(c: E2eCase, side: E2eSide): Promise<MemoryReport> {
  const probe = await probePeak(() => side.step());
  const minimum = minimumMemory(c.graph, c.mode);
  return {
    peakBytes: probe.peakBytes,
    baselineBytes: probe.baselineBytes,
    minimum,
    dawnetFloorBytes: minimumMemory(c.graph, c.mode, DAWNET_SAVES).total,
    ratio: probe.peakBytes / minimum.total,
    atPeak: probe.atPeak.slice(0, 8),
    dispatches: probe.dispatches,
  };
}

/**
 * Two more steps: one timed plainly on the GPU clock, then one with a timestamped pass per
 * dispatch for the time per kernel name. The second costs more (a pass per dispatch has its own
 * overhead, which weighs most on tiny kernels); both totals are kept so the report can say so.
 */
async function profileStep(side: E2eSide): Promise<StepProfile | null> {
  const clock = dawnetGpuClock();
  if (!clock) return null;
  const plain = await clock.measure(() => side.step());
  const profile = await profileKernels(() => side.step());
  return plain.gpuMs === null || !profile ? null : { plainMs: plain.gpuMs, ...profile };
}

/** The step timed again under each of env.convAlternatives (ms on the side's clock; failures noted). */
async function timeAlternatives(side: E2eSide, env: E2eEnv, sync: () => Promise<void>, gpu: GpuClock | null, clock: string): Promise<{ alternatives: { algorithm: string; ms: number }[]; errors: string[] }> {
  const alternatives: { algorithm: string; ms: number }[] = [];
  const errors: string[] = [];
  for (const algorithm of env.convAlternatives ?? []) {
    const before = setConvAlgorithm(algorithm);
    try {
      const t = await timeSide(side, sync, env.timing, gpu);
      if (t.clock === clock) alternatives.push({ algorithm, ms: t.timing.medianMs });
    } catch (e) {
      errors.push(`${algorithm}: ${message(e)}`);
      await sync().catch(() => {});
    } finally {
      setConvAlgorithm(before);
    }
  }
  return { alternatives, errors };
}

/**
 * The step again after tuneConvs on it, interleaved with the step untuned (each sample run with
 * the choices in force or none), both on the side's clock: a tuning's gain on one clock stretch.
 */
async function timeTuned(side: E2eSide, env: E2eEnv, sync: () => Promise<void>, gpu: GpuClock | null): Promise<{ ms: number; untunedMs: number; clock: string; tuning: TuningChoice[] }> {
  try {
    const choices = await tuneConvs(() => side.step());
    const runner = (convs: TunedConv[]) => ({ step: () => withConvTuning(convs, () => side.step()), sync });
    const [untuned, tuned] = await timeInterleaved([{ runner: runner([]), gpu }, { runner: runner(choices), gpu }], { ...env.timing, maxInner: 1 });
    if (untuned.clock !== tuned.clock) throw new Error(`the tuned and untuned steps were timed on different clocks (${untuned.clock}, ${tuned.clock})`);
    return { ms: tuned.timing.medianMs, untunedMs: untuned.timing.medianMs, clock: tuned.clock, tuning: choices.map(tuningChoice) };
  } finally {
    clearConvTuning();
  }
}

interface DawnetRun {
  alternatives?: Alternative[];
  tuning?: TuningChoice[];
  alternativeErrors?: string[];
  profile: StepProfile | { error: string } | null;
  side: SideResult | { error: string };
  out: Float32Array | null;
  weights: Map<string, NamedWeight> | null;
  memory: MemoryReport | { error: string } | null;
}

async function runDawnet(c: E2eCase, env: E2eEnv, sync: () => Promise<void>): Promise<DawnetRun> {
  const run: DawnetRun = { side: { error: 'not run' }, out: null, weights: null, memory: null, profile: null };
  let side: DawnetSide | null = null;
  try {
    side = c.dawnet();
    if (env.tfjs && c.tfjs) run.weights = await side.weights();
    if (env.check) run.out = await side.output();
    const gpu = env.clocks?.dawnet === 'gpu-timestamp' ? dawnetGpuClock() : null;
    run.side = sideResult(c, await timeSide(side, sync, env.timing, gpu), env.peak);
    if (env.convAlternatives?.length) {
      const { alternatives, errors } = await timeAlternatives(side, env, sync, gpu, run.side.clock);
      [run.alternatives, run.alternativeErrors] = [alternatives, errors];
    }
    if (env.tuned) {
      try {
        const t = await timeTuned(side, env, sync, gpu);
        if (t.clock === run.side.clock) run.alternatives = [...(run.alternatives ?? []), { algorithm: 'tuned', ms: t.ms, pairedMs: t.untunedMs }];
        run.tuning = t.tuning;
      } catch (e) {
        run.alternativeErrors = [...(run.alternativeErrors ?? []), `tuned: ${message(e)}`];
        await sync().catch(() => {});
      }
    }
    if (env.memory) {
      try {
        run.memory = await measureMemory(c, side);
      } catch (e) {
        run.memory = { error: message(e) };
      }
    }
    try {
      run.profile = await profileStep(side);
    } catch (e) {
      run.profile = { error: message(e) };
    }
  } catch (e) {
    run.side = { error: message(e) };
  } finally {
    side?.dispose();
    await sync().catch(() => {});
  }
  return run;
}

interface TfjsRun {
  side: SideResult;
  out: Float32Array | null;
  memory: TfjsMemory | { error: string } | null;
}

async function runTfjs(c: E2eCase, env: E2eEnv, peer: TfjsPeer, weights: Map<string, NamedWeight>): Promise<TfjsRun> {
  const side = await c.tfjs!(peer, weights);
  try {
    const out = env.check ? await side.output() : null;
    const gpu = env.clocks?.tfjs === 'gpu-timestamp' ? peer.gpuClock : null;
    const result = sideResult(c, await timeSide(side, peer.sync, env.timing, gpu), env.peak);
    let memory: TfjsRun['memory'] = null;
    if (env.memory) {
      try {
        memory = await peer.memoryPeak(() => side.step());
      } catch (e) {
        memory = { error: message(e) };
      }
    }
    return { side: result, out, memory };
  } finally {
    side.dispose();
  }
}

/** Runs one end-to-end case on dawnet and (when loaded) tfjs; failures are reported in the row. */
export async function runE2eCase(c: E2eCase, env: E2eEnv, dawnetSync: () => Promise<void>): Promise<E2eResult> {
  const row: E2eResult = {
    id: c.id,
    group: c.group,
    shape: c.shape,
    metric: 'images',
    work: c.batch,
    batch: c.batch,
    flops: stepFlops(c.graph, c.mode === 'train'),
    dawnet: { error: 'not run' },
    tfjs: null,
    ratio: null,
    ratioClock: null,
    check: null,
    memory: null,
    tfjsMemory: null,
    ...(c.note ? { note: c.note } : {}),
  };
  const dn = await runDawnet(c, env, dawnetSync);
  row.dawnet = dn.side;
  row.memory = dn.memory;
  row.profile = dn.profile && 'error' in dn.profile ? null : dn.profile;
  if (dn.profile && 'error' in dn.profile) row.note = [row.note, `profile: ${dn.profile.error}`].filter(Boolean).join('; ');
  if (dn.alternatives?.length) Object.assign(row, { algorithm: env.convAlgorithm ?? 'auto', alternatives: dn.alternatives });
  if (dn.tuning) row.tuning = dn.tuning;
  if (dn.alternativeErrors?.length) row.note = [row.note, ...dn.alternativeErrors.map((e) => `under ${e}`)].filter(Boolean).join('; ');
  let tfOut: Float32Array | null = null;
  if (env.tfjs && c.tfjs) {
    if (!dn.weights) row.tfjs = { error: 'not run: dawnet failed before its weights could be read' };
    else {
      try {
        const tf = await runTfjs(c, env, env.tfjs, dn.weights);
        [row.tfjs, tfOut, row.tfjsMemory] = [tf.side, tf.out, tf.memory];
      } catch (e) {
        row.tfjs = { error: message(e) };
      }
    }
  }
  Object.assign(row, sameClockRatio(row.dawnet, row.tfjs));
  if (dn.out && tfOut) row.check = compareOutputs(dn.out, tfOut, c.tolerance);
  return row;
}
