// End-to-end cases: a whole model step (a U-Net training step, a VGG16 forward) on dawnet and on
// TensorFlow.js, in images per second, with dawnet's peak GPU memory held against the step's
// theoretical minimum (bench/memory.ts).
//
// Both sides start from the same weights (dawnet's initialisation, read back and handed to tfjs)
// and the same batch. Before timing, the check runs the case's few steps on both through the very
// step() that is timed, and compares what each step computed (a training step's loss, a forward's
// output) and, for training, a digest of each weight tensor's update over those steps
// (updateError): a step that skipped its backward or its optimiser update fails it. A step is
// then timed like a kernel case (on the run's clock, wall time beside it: bench/timing.ts), the
// two sides' samples interleaved with the order swapped every other round (timeInterleaved), one
// step per sample: repeating steps before a sync would let released buffers pile up until the
// submit. dawnet's other algorithms are timed after. Peak memory is one more step on each side
// after timing, so Adam's moments exist:
// dawnet's under the pool probe (pool.peakBytesInUse), tfjs's under its buffer manager's watch
// (peak of tf.memory().numBytesInGPU: bench/peer-tfjs.ts says why that one). Last, one more dawnet
// step with a timestamped pass per dispatch gives its GPU time by kernel.

import {
  compareOutputs,
  type CheckResult,
  pctOfPeak,
  sameClockRatio,
  timed,
  type Alternative,
  type CaseResult,
  type Peak,
  type SideResult,
} from './harness.js';
import {
  dawnetGpuClock,
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
  /**
   * Enqueues one step (forward, and for training loss, backward and optimiser) without waiting.
   * What it computed (the loss; a forward's output) stays readable by last() until the next step.
   */
  step(): void;
  /** What the last step computed: a training step's loss, a forward's output; empty before any step. */
  last(): Promise<Float32Array>;
  /** The trainable weights by dawnet's names, as they are now (training cases). */
  weights?(): Promise<Map<string, NamedWeight>>;
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
  /** Steps the check runs on both sides, from the same weights, before timing. */
  checkSteps: number;
  /** Largest allowed max|dawnet - tfjs| / max|tfjs| of what each of those steps computed (last()). */
  tolerance: number;
  /**
   * Training: largest allowed relative error of each weight tensor's update over the check's steps,
   * digested as the sum of |Δ| over its elements (Δ = the weights after the steps minus the shared
   * start; updateError says why not element by element).
   */
  weightTolerance?: number;
  note?: string;
  /**
   * Time dawnet's step alone: no other conv algorithms and no tuning beside it (a variant of a
   * row above, whose alternatives it would repeat at a GPU run's cost).
   */
  alone?: boolean;
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
  /** The fused kernel's tile it chose, where not the default. */
  fusedTile?: string;
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
    ...(t.fusedTile ? { fusedTile: t.fusedTile } : {}),
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

/** One step per sample (the header says why). */
const stepOptions = (opts: TimingOptions): TimingOptions => ({ ...opts, maxInner: 1 });

async function timeSide(side: E2eSide, sync: () => Promise<void>, opts: TimingOptions, gpu: GpuClock | null): Promise<ClockedTiming> {
  return (await timeInterleaved([{ runner: { step: () => side.step(), sync }, gpu }], stepOptions(opts)))[0];
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

/**
 * The digest of one weight tensor's update from `start`: the sum of |Δ| over its elements (its L1
 * norm), and its relative error. Not the update element by element: Adam's first steps move each
 * weight by about ±lr whatever the gradient's size, so a weight whose gradient is within float32
 * noise of 0 moves one way on one engine and the other way on the other (on lavapipe at 64x64, 3%
 * of a tensor's weights, a relative L2 error of 0.35 against 1 for no update at all). The L1 norm
 * keeps how far the step moved the tensor, which a skipped or doubled update or a wrong rate or
 * gradient changes, and leaves the sign to the losses, which an update the wrong way changes.
 */
function updateError(start: Float32Array, got: Float32Array, want: Float32Array): number {
  if (got.length !== start.length || want.length !== start.length) return Infinity;
  let movedGot = 0;
  let movedWant = 0;
  for (let i = 0; i < start.length; i++) {
    movedGot += Math.abs(got[i] - start[i]);
    movedWant += Math.abs(want[i] - start[i]);
  }
  const err = Math.abs(movedGot - movedWant) / (movedWant || 1);
  return Number.isNaN(err) ? Infinity : err;
}

/** Each weight tensor's update on dawnet against tfjs's; the worst tensor, named. */
function compareUpdates(start: Map<string, NamedWeight>, got: Map<string, NamedWeight>, want: Map<string, NamedWeight>, tolerance: number, steps: number): CheckResult {
  let worst: CheckResult = { maxRelErr: 0, tolerance, ok: true, output: `weights after ${steps} steps` };
  for (const [name, w] of start) {
    const [g, t] = [got.get(name), want.get(name)];
    const err = g && t ? updateError(w.data, g.data, t.data) : Infinity;
    if (!(err <= worst.maxRelErr)) worst = { maxRelErr: err, tolerance, ok: err <= tolerance, output: `update of ${name} over ${steps} steps` };
  }
  return worst;
}

/** The worst of several checks by how far over (or near) its tolerance each is. */
function worstCheck(checks: CheckResult[]): CheckResult {
  return checks.reduce((w, c) => (!(c.maxRelErr / c.tolerance <= w.maxRelErr / w.tolerance) ? c : w));
}

/**
 * The check: the case's steps on both sides through their timed step(), each step's result
 * compared, then (training) each weight's update over them. A step that fails fails the check.
 */
async function checkSteps(c: E2eCase, dn: DawnetSide, tf: E2eSide, start: Map<string, NamedWeight> | null): Promise<CheckResult> {
  const checks: CheckResult[] = [];
  const what = c.mode === 'train' ? 'loss' : 'output';
  try {
    for (let i = 1; i <= c.checkSteps; i++) {
      dn.step();
      tf.step();
      checks.push({ ...compareOutputs(await dn.last(), await tf.last(), c.tolerance), output: `${what} of step ${i}` });
    }
    if (c.mode === 'train') {
      if (!start || !tf.weights) throw new Error('the weights before the steps, or tfjs\'s after them, cannot be read');
      checks.push(compareUpdates(start, await dn.weights(), await tf.weights(), c.weightTolerance ?? c.tolerance, c.checkSteps));
    }
  } catch (e) {
    checks.push({ maxRelErr: Infinity, tolerance: c.tolerance, ok: false, output: `a step failed: ${message(e)}` });
  }
  return worstCheck(checks);
}

interface DawnetExtras {
  alternatives?: Alternative[];
  tuning?: TuningChoice[];
  alternativeErrors?: string[];
  profile: StepProfile | { error: string } | null;
  memory: MemoryReport | { error: string } | null;
}

/** After the samples: dawnet's step under the other algorithms, tuned, its peak memory and its profile. */
async function dawnetExtras(c: E2eCase, side: DawnetSide, result: SideResult, env: E2eEnv, sync: () => Promise<void>, gpu: GpuClock | null): Promise<DawnetExtras> {
  const run: DawnetExtras = { memory: null, profile: null };
  if (env.convAlternatives?.length) {
    const { alternatives, errors } = await timeAlternatives(side, env, sync, gpu, result.clock);
    [run.alternatives, run.alternativeErrors] = [alternatives, errors];
  }
  if (env.tuned) {
    try {
      const t = await timeTuned(side, env, sync, gpu);
      if (t.clock === result.clock) run.alternatives = [...(run.alternatives ?? []), { algorithm: 'tuned', ms: t.ms, pairedMs: t.untunedMs }];
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
  return run;
}

/** A side of the case, opened and ready to time: its runner and GPU clock. */
interface OpenSide<S extends E2eSide> {
  side: S;
  sync: () => Promise<void>;
  gpu: GpuClock | null;
}

/**
 * Both sides timed with their samples interleaved; if that fails part-way (one side threw), each
 * alone, so the other still gets its numbers. A side that fails gets its error.
 */
async function timeSides(c: E2eCase, sides: OpenSide<E2eSide>[], env: E2eEnv): Promise<(SideResult | { error: string })[]> {
  try {
    const timings = await timeInterleaved(sides.map((s) => ({ runner: { step: () => s.side.step(), sync: s.sync }, gpu: s.gpu })), stepOptions(env.timing));
    return timings.map((t) => sideResult(c, t, env.peak));
  } catch {
    const out: (SideResult | { error: string })[] = [];
    for (const s of sides) {
      await s.sync().catch(() => {});
      try {
        out.push(sideResult(c, await timeSide(s.side, s.sync, env.timing, s.gpu), env.peak));
      } catch (e) {
        out.push({ error: message(e) });
      }
    }
    return out;
  }
}

/** The row's fields from dawnet's extras. */
function addExtras(row: E2eResult, x: DawnetExtras, env: E2eEnv): void {
  row.memory = x.memory;
  row.profile = x.profile && 'error' in x.profile ? null : x.profile;
  if (x.profile && 'error' in x.profile) row.note = [row.note, `profile: ${x.profile.error}`].filter(Boolean).join('; ');
  if (x.alternatives?.length) Object.assign(row, { algorithm: env.convAlgorithm ?? 'auto', alternatives: x.alternatives });
  if (x.tuning) row.tuning = x.tuning;
  if (x.alternativeErrors?.length) row.note = [row.note, ...x.alternativeErrors.map((e) => `under ${e}`)].filter(Boolean).join('; ');
}

/** dawnet's side and its starting weights, and tfjs's made from them; a failure is put in the row. */
async function openSides(c: E2eCase, env: E2eEnv, row: E2eResult, dawnetSync: () => Promise<void>): Promise<{ dn: OpenSide<DawnetSide> | null; tf: OpenSide<E2eSide> | null; start: Map<string, NamedWeight> | null }> {
  let dn: OpenSide<DawnetSide> | null = null;
  let start: Map<string, NamedWeight> | null = null;
  try {
    dn = { side: c.dawnet(), sync: dawnetSync, gpu: env.clocks?.dawnet === 'gpu-timestamp' ? dawnetGpuClock() : null };
    if (env.tfjs && c.tfjs) start = await dn.side.weights();
  } catch (e) {
    row.dawnet = { error: message(e) };
    dn?.side.dispose();
    dn = null;
  }
  const peer = env.tfjs;
  if (!peer || !c.tfjs) return { dn, tf: null, start };
  if (!start) {
    row.tfjs = { error: 'not run: dawnet failed before its weights could be read' };
    return { dn, tf: null, start };
  }
  try {
    const side = await c.tfjs(peer, start);
    return { dn, tf: { side, sync: peer.sync, gpu: env.clocks?.tfjs === 'gpu-timestamp' ? peer.gpuClock : null }, start };
  } catch (e) {
    row.tfjs = { error: message(e) };
    return { dn, tf: null, start };
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
  const { dn, tf, start } = await openSides(c, env, row, dawnetSync);
  try {
    if (env.check && dn && tf) row.check = await checkSteps(c, dn.side, tf.side, start);
    const sides = [dn, tf].filter((s): s is OpenSide<E2eSide> => s !== null);
    const results = sides.length ? await timeSides(c, sides, env) : [];
    if (dn) row.dawnet = results[0];
    if (tf) row.tfjs = results[dn ? 1 : 0];
    if (dn && timed(row.dawnet)) addExtras(row, await dawnetExtras(c, dn.side, row.dawnet, env, dn.sync, dn.gpu), env);
    if (tf && env.memory && timed(row.tfjs)) {
      try {
        row.tfjsMemory = await env.tfjs!.memoryPeak(() => tf.side.step());
      } catch (e) {
        row.tfjsMemory = { error: message(e) };
      }
    }
  } finally {
    dn?.side.dispose();
    tf?.side.dispose();
    await dawnetSync().catch(() => {});
  }
  Object.assign(row, sameClockRatio(row.dawnet, row.tfjs));
  return row;
}
