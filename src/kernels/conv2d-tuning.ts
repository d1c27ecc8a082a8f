// Tuning: which conv algorithm is fastest is a property of the device, the shape and the batch,
// and a rule written from one GPU's timings (ruleConvAlgorithm) can be wrong on the next. tuneConvs
// runs a step once, notes every conv in it that has more than one algorithm (a 3x3 stride-1 conv:
// forward, backward input or weight gradient), times each algorithm on it (and on GPUs each GEMM
// tile of TUNING_TILES), interleaved, on this device's clock, and from then on runs that conv the
// fastest way (cuDNN's benchmark mode, done explicitly). The choices can be saved as JSON and
// loaded in a later run on the same adapter.

import { ArgumentError, LimitError } from '../errors.js';
import { isCpuAdapterReport } from '../gpu/adapter-kind.js';
import { runtime } from '../gpu/runtime.js';
import { describeValue, expectChoice, expectFunction, expectKnownOptions, expectOptionalNumber, expectOptions } from '../graph/args.js';
import { noGrad } from '../graph/autograd.js';
import { full, type Tensor } from '../graph/tensor.js';
import { backwardInputGemm, backwardWeightGemm, forwardGemm } from './conv2d.js';
import { algorithmRuns, CONV_ALGORITHMS, ruleConvAlgorithm, usesGemmTiles, type ConvAlgorithm } from './conv2d-winograd-run.js';
import { FUSED_GROUP_CHOICES, fusedGroupsOverride, fusedTileOverride, setFusedGroups, setFusedTile } from './conv2d-winograd-fused.js';
import { DEFAULT_FUSED_TILE, FUSED_TUNING_TILES, formatFusedTile, parseFusedTile } from './conv2d-winograd-fused-layout.js';
import { convTileOverride, setConvTile } from './conv2d-launch.js';
import { gemmColumns, ruleGemmTile } from './conv2d-tile-rule.js';
import { formatGemmTile, parseGemmTile, TUNING_TILES } from './conv2d-tiled.js';
import { recordConvs, setTunedConv, withTunedConvs, type ConvCall, type ConvCandidate, type TunedConv } from './conv2d-tuned.js';

export type { TunedConv } from './conv2d-tuned.js';
export { applyConvTuning, clearConvTuning, convTuning, type ConvTuning } from './conv2d-tuning-saved.js';

export interface TuneOptions {
  /**
   * Timed samples of each candidate per conv, after one warm-up run (which compiles its kernels);
   * a sample runs the conv often enough to last 2 ms (runsPerSample). Default 5; a candidate 1.5x
   * slower than the best after the first sample is not sampled again.
   */
  reps?: number;
  /**
   * The algorithms to time. Default: all of them on GPUs; on CPU adapters direct and staged
   * Winograd only (CPU_UNTUNED): the fused kernel ran 5-37x slower than direct on lavapipe in its
   * first design (bench/results/lavapipe-2026-11-27/tuned.json) and 3-26x slower than the rules'
   * kernels in its register-tiled one (2026-11-28, scale 8, GPU timestamps); the uniform-weights kernel ran 1.2x slower at
   * VGG16's conv1_1 and the U-Net's first conv and 4.6x at U-Net l1 (scale 8), and no faster at
   * two 1x1 convs (GPU timestamps, 2026-11-27): lavapipe loads a uniform value per lane group
   * with a bounds check, as it does a storage one (bench/README.md, lavapipe); the channel-lanes
   * kernel ran 2.55x slower than direct at VGG16's conv1_1 (scale 8, GPU timestamps, 2026-11-27).
   */
  algorithms?: readonly ConvAlgorithm[];
  /**
   * How much faster than the rule's choice another way must be to replace it (its time at most
   * 1 − margin of the rule's). Default (defaultMargin): 0.05 on GPU timestamps, since repeated
   * timings of one kernel differ by a few percent there and the rule's choices were also timed on
   * whole models; 0.2 on the wall clock (CPU adapters), where one conv timed twice differed by up to
   * 1.27x on lavapipe and choices by a 5% margin made whole U-Net steps no faster (0.75-1.14x).
   */
  margin?: number;
  /**
   * 'gpu': timestamp queries, the kernels' own time; 'wall': enqueue to queue drained, which also
   * counts encoding and each dispatch's launch. Default: 'gpu' where the adapter has
   * 'timestamp-query' and is a GPU; 'wall' on CPU adapters, whose encoding and launches take the
   * same cores as the kernels.
   */
  clock?: 'gpu' | 'wall';
  /**
   * The tiles to time for the tiled family's GEMMs ('BMxBNxBK/TMxTN'), beside the rule's; [] for
   * the rule's only. Default: TUNING_TILES (conv2d-tiled.ts). The subgroup family has no choice.
   */
  tiles?: readonly string[];
}

const DEFAULT_REPS = 5;
/** tuneConvs's margin where none is given: by the clock the candidates were timed on (see TuneOptions.margin). */
export const defaultMargin = (clock: 'gpu' | 'wall'): number => (clock === 'gpu' ? 0.05 : 0.2);
/**
 * A candidate this much slower than the best after one sample each is not sampled again: the same
 * kernels timed twice differed by up to 1.3x on lavapipe (a shared 2-core VM), a few percent on a
 * GPU, so 1.5x keeps every candidate that could still win.
 */
const DROP_AFTER_FIRST = 1.5;
const MIN_SAMPLE_MS = 2;
const MAX_RUNS_PER_SAMPLE = 32;
const MAX_SAMPLE_OUTPUT_BYTES = 256 * 2 ** 20;

/**
 * Runs fn (awaited; typically one training step or forward pass) and then tunes every conv it ran
 * that has a choice of algorithm: later convs of the same geometry and batch run with the one
 * timed fastest. fn runs exactly once, as it would without tuning; the timing runs use their own
 * tensors. Returns what was timed and chosen, one entry per distinct conv.
 */
export async function tuneConvs(fn: () => unknown, options: TuneOptions = {}): Promise<TunedConv[]> {
  expectFunction('tuneConvs', 'fn', fn);
  checkTuneOptions(options);
  const calls = await recordConvs(fn);
  await runtime().sync();
  const tuned: TunedConv[] = [];
  for (const call of calls) {
    const t = await tuneOne(call, options);
    if (!t) continue;
    setTunedConv(runtime().device, t);
    tuned.push(t);
  }
  return tuned;
}

/**
 * Every option, before fn runs: a bad reps or margin was found only after the step had run, and
 * a misspelt key, an unknown algorithm or clock left the defaults in place without a word.
 */
function checkTuneOptions(options: unknown): asserts options is TuneOptions {
  const op = 'tuneConvs';
  expectOptions(op, options, "{ algorithms: ['direct', 'winograd'] }");
  const o = (options ?? {}) as Record<string, unknown>;
  expectKnownOptions(op, o, ['reps', 'algorithms', 'margin', 'clock', 'tiles'], {});
  expectOptionalNumber(op, 'reps', o.reps, { integer: true, min: 1 });
  expectOptionalNumber(op, 'margin', o.margin, { min: 0, below: 1 });
  expectChoice(op, 'clock', o.clock, ['gpu', 'wall']);
  for (const key of ['algorithms', 'tiles'] as const) {
    const list = o[key];
    if (list === undefined) continue;
    if (!Array.isArray(list)) throw new ArgumentError(`${op}: ${key} must be an array, got ${describeValue(list)}`);
    list.forEach((v: unknown, i) => (key === 'tiles' ? parseGemmTile(v as string, `${op}: tiles[${i}]`) : expectChoice(op, `algorithms[${i}]`, v, CONV_ALGORITHMS, false)));
  }
}

/**
 * Times one conv without a step to record it from (the benchmark's conv cases), as tuneConvs does
 * each conv its step ran, but leaves the device's table as it was (withConvTuning puts the
 * choice in force). Null where fewer than two ways could run it.
 */
export async function tuneConv(call: ConvCall, options: TuneOptions = {}): Promise<TunedConv | null> {
  await runtime().sync();
  return tuneOne(call, options);
}

/** Runs fn with exactly `convs` tuned on this device (none: every conv by the rules), then restores the table. */
export function withConvTuning<T>(convs: readonly TunedConv[], fn: () => T): T {
  return withTunedConvs(runtime().device, convs, fn);
}

/** What runs a conv no one has tuned: ruleConvAlgorithm's algorithm at its rule tile (setConvTile's, else ruleGemmTile's). */
export function ruleCandidate(call: ConvCall): ConvCandidate {
  const algorithm = ruleConvAlgorithm(call.direction, call.geometry, call.family, isCpuAdapterReport(runtime().ctx.report));
  const tile = ruleTile(call, algorithm);
  return tile === undefined ? { algorithm } : { algorithm, tile };
}

/**
 * The tile an algorithm's GEMM takes by the rule, as a string (what convTile gives an untuned
 * conv); undefined where there is no choice (the subgroup family, the fused kernel, the
 * uniform-weights kernel, Winograd by it).
 */
function ruleTile(call: ConvCall, algorithm: ConvAlgorithm): string | undefined {
  const { direction: dir, geometry: g } = call;
  if (call.family !== 'tiled' || !usesGemmTiles(algorithm)) return undefined;
  const forced = convTileOverride();
  if (forced) return formatGemmTile(forced);
  return formatGemmTile(ruleGemmTile(dir, g, algorithm));
}

/**
 * The rows of an algorithm's GEMM where they are few: the weight gradient's, kh·kw·Cin direct and
 * Cin by Winograd (per transform position); Infinity for the forward and backward input, whose
 * rows are pixels or blocks.
 */
function gemmRows(call: ConvCall, algorithm: ConvAlgorithm): number {
  const { direction: dir, geometry: g } = call;
  if (dir !== 'backwardWeight') return Infinity;
  return algorithm === 'direct' ? g.kh * g.kw * g.cin : g.cin;
}

/** What tuneConvs leaves out on CPU adapters unless asked (TuneOptions.algorithms). */
const CPU_UNTUNED: readonly ConvAlgorithm[] = ['winograd-fused', 'uniform-weights', 'winograd-uniform', 'channel-lanes', 'row-patch', 'winograd-f2'];

/**
 * The ways to time: each wanted algorithm that fits, and for the tiled family's GEMMs each tile
 * (the rule's first) whose columns, and rows, are at least half full: 128-wide tiles ran 0.5-0.8x
 * the narrower ones at N <= 64 on an H200 (conv2d-tiled.ts), so wider ones are not worth their
 * compiles, nor on a GPU's budget tiles taller than twice the weight gradient's few rows (Cin per
 * position by Winograd: 32 at U-Net l1). No tiles where setConvTile forces one: it would override
 * them anyway.
 */
function candidates(call: ConvCall, options: TuneOptions): ConvCandidate[] {
  const cpu = isCpuAdapterReport(runtime().ctx.report);
  const wanted = options.algorithms ?? (cpu ? CONV_ALGORITHMS.filter((a) => !CPU_UNTUNED.includes(a)) : CONV_ALGORITHMS);
  const { direction: dir, geometry: g } = call;
  const n = gemmColumns(dir, g);
  const wide = (options.tiles ?? TUNING_TILES.map(formatGemmTile)).map((t) => parseGemmTile(t)).filter((t) => t.bn < 2 * Math.max(n, 4));
  const out: ConvCandidate[] = [];
  for (const algorithm of CONV_ALGORITHMS.filter((a) => wanted.includes(a) && algorithmRuns(a, dir, g))) {
    if (algorithm === 'winograd-fused') {
      out.push(...fusedCandidates(n));
      continue;
    }
    const rule = ruleTile(call, algorithm);
    if (rule === undefined || convTileOverride()) {
      out.push(rule === undefined ? { algorithm } : { algorithm, tile: rule });
      continue;
    }
    const m = gemmRows(call, algorithm);
    const tiles = wide.filter((t) => t.bm < 2 * Math.max(m, 4)).map(formatGemmTile);
    for (const tile of [rule, ...tiles.filter((t) => t !== rule)]) out.push({ algorithm, tile });
  }
  return out;
}

/**
 * The fused kernel at each of FUSED_GROUP_CHOICES that gives it another workgroup (8 is the
 * default, written as no groups), or as it is where setFusedGroups forces a number; each at every
 * tile of FUSED_TUNING_TILES (the default written as no tile), or as it is where setFusedTile
 * forces one.
 */
export function fusedCandidates(n: number): ConvCandidate[] {
  const n4 = n / 4;
  const seen = new Set<number>();
  const groupChoices: (number | undefined)[] = [];
  for (const groups of fusedGroupsOverride() ? [FUSED_GROUP_CHOICES[0]] : FUSED_GROUP_CHOICES) {
    if (seen.has(Math.min(groups, n4))) continue;
    seen.add(Math.min(groups, n4));
    groupChoices.push(groups === FUSED_GROUP_CHOICES[0] ? undefined : groups);
  }
  const defaultTile = formatFusedTile(DEFAULT_FUSED_TILE);
  const tiles = fusedTileOverride() ? [defaultTile] : FUSED_TUNING_TILES;
  return groupChoices.flatMap((groups) => tiles.map((t) => ({ algorithm: 'winograd-fused' as const, ...(groups ? { groups } : {}), ...(t === defaultTile ? {} : { fusedTile: t }) })));
}

/** A way to run a conv as the bench and saved tunings write it: 'ALGORITHM [TILE] [cgGROUPS] [FUSED TILE]'. */
export function formatCandidate(c: ConvCandidate): string {
  return `${c.algorithm}${c.tile ? ` ${c.tile}` : ''}${c.groups ? ` cg${c.groups}` : ''}${c.fusedTile ? ` ${c.fusedTile}` : ''}`;
}

/**
 * One conv of `call`'s geometry by `c`, its output freed once enqueued (its tile forced only while
 * it enqueues). src is x (forward) or dy; w is the weights, or for the weight gradient x.
 */
function runner(call: ConvCall, c: ConvCandidate, src: Tensor, w: Tensor): () => void {
  const { direction, geometry: g, family } = call;
  const tile = c.tile !== undefined && !convTileOverride() ? parseGemmTile(c.tile) : null;
  const groups = c.groups !== undefined && !fusedGroupsOverride() ? (c.groups as 1 | 2 | 4 | 8) : null;
  const fused = c.fusedTile !== undefined && !fusedTileOverride() ? parseFusedTile(c.fusedTile) : null;
  return () =>
    noGrad(() => {
      if (tile) setConvTile(tile);
      if (groups) setFusedGroups(groups);
      if (fused) setFusedTile(fused);
      try {
        const out =
          direction === 'forward' ? forwardGemm(g, src, w, null, family, c.algorithm)
          : direction === 'backwardInput' ? backwardInputGemm(g, src, w, null, family, c.algorithm)
          : backwardWeightGemm(g, src, w, family, undefined, c.algorithm);
        out.dispose();
      } finally {
        if (tile) setConvTile(null);
        if (groups) setFusedGroups(null);
        if (fused) setFusedTile(null);
      }
    });
}

/**
 * Runs of a conv per sample: enough for MIN_SAMPLE_MS, since Dawn rounds GPU timestamps down to
 * 65.5 us unless the device was made without that (gpu-timer.ts) and a wall-clock sample carries a
 * sync's round trip (0.12 ms on lavapipe); at most MAX_RUNS_PER_SAMPLE, and no more outputs than
 * MAX_SAMPLE_OUTPUT_BYTES (each run's output is reusable only after the sample's submit).
 */
export function runsPerSample(oneMs: number, outputBytes: number): number {
  const byTime = Math.ceil(MIN_SAMPLE_MS / Math.max(oneMs, MIN_SAMPLE_MS / MAX_RUNS_PER_SAMPLE));
  const byMemory = Math.max(1, Math.floor(MAX_SAMPLE_OUTPUT_BYTES / Math.max(outputBytes, 1)));
  return Math.max(1, Math.min(byTime, byMemory, MAX_RUNS_PER_SAMPLE));
}

/** Milliseconds of one run: GPU timestamps where the adapter has them and no other timing runs, else wall clock to the queue drained. */
async function sample(run: () => void, clock: 'gpu' | 'wall'): Promise<{ ms: number; clock: 'gpu' | 'wall' }> {
  const rt = runtime();
  if (clock === 'gpu' && rt.gpuTimer.available && !rt.gpuTimer.active) {
    rt.gpuTimer.begin();
    let ms: number | null;
    try {
      run();
    } finally {
      ms = await rt.gpuTimer.end();
    }
    if (ms !== null) return { ms, clock: 'gpu' };
  }
  const t0 = performance.now();
  run();
  await rt.sync();
  return { ms: performance.now() - t0, clock: 'wall' };
}

async function tuneOne(call: ConvCall, options: TuneOptions): Promise<TunedConv | null> {
  const rt = runtime();
  const { direction, geometry: g } = call;
  const reps = options.reps ?? DEFAULT_REPS;
  const clockWanted = options.clock ?? (isCpuAdapterReport(rt.ctx.report) ? 'wall' : 'gpu');
  if (!Number.isInteger(reps) || reps < 1) throw new RangeError(`tuneConvs: reps must be a positive integer, got ${reps}`);
  const margin = options.margin;
  if (margin !== undefined && !(margin >= 0 && margin < 1)) throw new RangeError(`tuneConvs: margin must be at least 0 and below 1, got ${margin}`);
  // One way (a 1x1 conv on a CPU adapter, where the uniform-weights kernel is left out): nothing to time.
  const ways = candidates(call, options);
  if (ways.length < 2) return null;
  const [xShape, dyShape, wShape] = [[g.n, g.h, g.w, g.cin], [g.n, g.ho, g.wo, g.cout], [g.kh, g.kw, g.cin, g.cout]];
  const shapes = direction === 'forward' ? [xShape, wShape] : direction === 'backwardInput' ? [dyShape, wShape] : [dyShape, xShape];
  // Values do not change a kernel's time; constants keep NaNs and denormals out. Where the device has no
  // room for them beside what the caller holds, the conv stays untuned rather than failing the
  // step that asked for tuning.
  const made: Tensor[] = [];
  try {
    for (const shape of shapes) made.push(full(shape, 0.01));
  } catch (e) {
    for (const t of made) t.dispose();
    if (e instanceof LimitError) return null;
    throw e;
  }
  const [src, w] = made;
  try {
    const runs: { c: ConvCandidate; run: () => void; inner: number; times: number[] }[] = [];
    const outBytes = 4 * (direction === 'forward' ? g.n * g.ho * g.wo * g.cout : direction === 'backwardInput' ? g.n * g.h * g.w * g.cin : g.kh * g.kw * g.cin * g.cout);
    for (const c of ways) {
      const once = runner(call, c, src, w);
      try {
        await sample(once, clockWanted); // warm-up: compiles the kernels
        const inner = runsPerSample((await sample(once, clockWanted)).ms, outBytes);
        const run = () => {
          for (let i = 0; i < inner; i++) once();
        };
        runs.push({ c, run, inner, times: [] });
      } catch (e) {
        if (!(e instanceof LimitError)) throw e; // e.g. a workspace the adapter cannot bind: not a candidate
      }
    }
    if (runs.length < 2) return null;
    let clock: 'gpu' | 'wall' = 'gpu';
    const rule = ruleCandidate(call);
    let live = runs;
    for (let r = 0; r < reps; r++) {
      for (const x of live) {
        const s = await sample(x.run, clockWanted);
        x.times.push(s.ms / x.inner);
        if (s.clock === 'wall') clock = 'wall';
      }
      // After the first round, only the candidates that could still win go on (and the rule's,
      // which the margin is measured against): with every tile of every algorithm timed, most
      // are far behind after one sample.
      if (r === 0) {
        const kept = stillRunning(runs.map((x) => ({ ...x.c, ms: x.times[0] })), rule);
        live = runs.filter((_, i) => kept[i]);
      }
    }
    // The fastest sample: other work on the machine only ever slows a run down, so it is the
    // closest to the kernels' own time (medians of one conv differed by up to 1.3x between two
    // runs minutes apart on the shared 2-core VM this was written on).
    // Dropped candidates keep their one sample: slower than the survivors by far anyway.
    const timed = runs.map((x) => ({ ...x.c, ms: Math.min(...x.times) }));
    const ms: Partial<Record<ConvAlgorithm, number>> = {};
    for (const t of timed) ms[t.algorithm] = Math.min(ms[t.algorithm] ?? Infinity, t.ms);
    return { ...call, ...choose(timed, rule, margin ?? defaultMargin(clock)), ms, timed, clock };
  } finally {
    src.dispose();
    w.dispose();
  }
}

const sameCandidate = (a: ConvCandidate, b: ConvCandidate): boolean => a.algorithm === b.algorithm && a.tile === b.tile && a.groups === b.groups && a.fusedTile === b.fusedTile;

/** Which candidates, by their first sample, are sampled again: within DROP_AFTER_FIRST of the best, and the rule's. */
export function stillRunning(first: readonly (ConvCandidate & { ms: number })[], rule: ConvCandidate): boolean[] {
  const best = Math.min(...first.map((c) => c.ms));
  return first.map((c) => c.ms <= DROP_AFTER_FIRST * best || sameCandidate(c, rule));
}

/** The fastest candidate, unless the rule's way (its algorithm at its tile) is within `margin` of it. */
export function choose(timed: readonly (ConvCandidate & { ms: number })[], rule: ConvCandidate, margin: number): ConvCandidate {
  if (timed.length === 0) return rule;
  const best = timed.reduce((a, b) => (b.ms < a.ms ? b : a));
  const ruleMs = timed.find((t) => sameCandidate(t, rule))?.ms;
  const pick = ruleMs !== undefined && best.ms > ruleMs * (1 - margin) ? rule : best;
  return { algorithm: pick.algorithm, ...(pick.tile === undefined ? {} : { tile: pick.tile }), ...(pick.groups === undefined ? {} : { groups: pick.groups }), ...(pick.fusedTile === undefined ? {} : { fusedTile: pick.fusedTile }) };
}
