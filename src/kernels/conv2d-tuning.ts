// Tuning: which conv algorithm is fastest is a property of the device, the shape and the batch,
// and a rule written from one GPU's timings (ruleConvAlgorithm) can be wrong on the next. tuneConvs
// runs a step once, notes every conv in it that has more than one algorithm (a 3x3 stride-1 forward
// or backward input), times each algorithm on it (and on GPUs each GEMM tile of TUNING_TILES),
// interleaved, on this device's clock, and from then on runs that conv the fastest way (cuDNN's
// benchmark mode, done explicitly). The choices can be saved as JSON and loaded in a later run on
// the same adapter.

import { FormatError, LimitError } from '../errors.js';
import { isCpuAdapterReport } from '../gpu/adapter-kind.js';
import { adapterName } from '../gpu/device.js';
import { runtime } from '../gpu/runtime.js';
import { noGrad } from '../graph/autograd.js';
import { full, type Tensor } from '../graph/tensor.js';
import { backwardInputGemm, forwardGemm, type ConvGeometry } from './conv2d.js';
import { CONV_ALGORITHMS, ruleConvAlgorithm, winogradFits, type ConvAlgorithm } from './conv2d-winograd-run.js';
import { FUSED_GROUP_CHOICES, fusedFits, fusedGroupsOverride, setFusedGroups } from './conv2d-winograd-fused.js';
import { winogradShape } from './conv2d-winograd.js';
import { convTileOverride, gemmTile, setConvTile } from './conv2d-launch.js';
import { formatGemmTile, parseGemmTile, TUNING_TILES } from './conv2d-tiled.js';
import { clearTunedConvs, GEOMETRY_FIELDS, recordConvs, setTunedConv, tunedConvs, type ConvCall, type ConvCandidate, type TunedConv } from './conv2d-tuned.js';

export type { TunedConv } from './conv2d-tuned.js';

export interface TuneOptions {
  /**
   * Timed samples of each candidate per conv, after one warm-up run (which compiles its kernels);
   * a sample runs the conv often enough to last 2 ms (runsPerSample). Default 5; a candidate 1.5x
   * slower than the best after the first sample is not sampled again.
   */
  reps?: number;
  /**
   * The algorithms to time. Default: all three on GPUs; on CPU adapters direct and staged
   * Winograd only, since the fused kernel ran 5-37x slower than direct on lavapipe (workgroup
   * memory and barriers; bench/results/lavapipe-2026-11-27/tuned.json) and each of its variants
   * takes lavapipe about 10 s to compile.
   */
  algorithms?: readonly ConvAlgorithm[];
  /**
   * How much faster than the rule's choice another algorithm must be to replace it: 0.05 (5%) by
   * default, since repeated timings of one kernel differ by a few percent on a shared machine and
   * the rule's choices were also timed on whole models.
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

/** The tuned choices of this device, as saveConvTuning writes them. */
export interface ConvTuning {
  format: 'dawnet-conv-tuning';
  version: 1;
  /** dn.info().name of the adapter that timed them. */
  adapter: string;
  convs: TunedConv[];
}

const DEFAULT_REPS = 5;
const DEFAULT_MARGIN = 0.05;
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
  const calls = await recordConvs(fn);
  await runtime().sync();
  const tuned: TunedConv[] = [];
  for (const call of calls) {
    const t = await tuneOne(call, options);
    if (t) tuned.push(t);
  }
  return tuned;
}

/**
 * Tunes one conv without a step to record it from (the benchmark's conv cases): what tuneConvs
 * does for each conv its step ran. Null where fewer than two ways could run it.
 */
export async function tuneConv(call: ConvCall, options: TuneOptions = {}): Promise<TunedConv | null> {
  await runtime().sync();
  return tuneOne(call, options);
}

/** What runs a conv no one has tuned: ruleConvAlgorithm's algorithm at gemmTile's tile. */
export function ruleCandidate(call: ConvCall): ConvCandidate {
  const algorithm = ruleConvAlgorithm(call.direction, call.geometry, call.family, isCpuAdapterReport(runtime().ctx.report));
  const tile = ruleTile(call, algorithm);
  return tile === undefined ? { algorithm } : { algorithm, tile };
}

/** The tile an algorithm's GEMM takes by the rule, as a string; undefined where there is no choice. */
function ruleTile(call: ConvCall, algorithm: ConvAlgorithm): string | undefined {
  if (call.family !== 'tiled' || algorithm === 'winograd-fused') return undefined;
  const { direction: dir, geometry: g } = call;
  const n = algorithm === 'winograd' ? winogradShape(dir, g).n : dir === 'forward' ? g.cout : g.cin;
  return formatGemmTile(gemmTile(algorithm === 'winograd' ? 'forward' : dir, n, call.family));
}

/**
 * The ways to time: each wanted algorithm that fits, and for the tiled family's GEMMs each tile
 * (the rule's first) whose columns are at least half full: 128-wide tiles ran 0.5-0.8x the
 * narrower ones at N <= 64 on an H200 (conv2d-tiled.ts), so wider ones are not worth their
 * compiles. No tiles where setConvTile forces one: it would override them anyway.
 */
function candidates(call: ConvCall, options: TuneOptions): ConvCandidate[] {
  const cpu = isCpuAdapterReport(runtime().ctx.report);
  const wanted = options.algorithms ?? (cpu ? CONV_ALGORITHMS.filter((a) => a !== 'winograd-fused') : CONV_ALGORITHMS);
  const n = winogradShape(call.direction, call.geometry).n;
  const out: ConvCandidate[] = [];
  for (const algorithm of CONV_ALGORITHMS.filter((a) => wanted.includes(a) && (a !== 'winograd-fused' || fusedFits(n)))) {
    if (algorithm === 'winograd-fused') {
      out.push(...fusedCandidates(n));
      continue;
    }
    const rule = ruleTile(call, algorithm);
    if (rule === undefined || convTileOverride()) {
      out.push(rule === undefined ? { algorithm } : { algorithm, tile: rule });
      continue;
    }
    const tiles = (options.tiles ?? TUNING_TILES.map(formatGemmTile)).map((t) => formatGemmTile(parseGemmTile(t)));
    const wide = (t: string) => parseGemmTile(t).bn >= 2 * Math.max(n, 4);
    for (const tile of [rule, ...tiles.filter((t) => t !== rule && !wide(t))]) out.push({ algorithm, tile });
  }
  return out;
}

/**
 * The fused kernel at each of FUSED_GROUP_CHOICES that gives it another workgroup (8 is the
 * default, written as no groups), or as it is where setFusedGroups forces a number.
 */
export function fusedCandidates(n: number): ConvCandidate[] {
  if (fusedGroupsOverride()) return [{ algorithm: 'winograd-fused' }];
  const n4 = n / 4;
  const seen = new Set<number>();
  const out: ConvCandidate[] = [];
  for (const groups of FUSED_GROUP_CHOICES) {
    if (seen.has(Math.min(groups, n4))) continue;
    seen.add(Math.min(groups, n4));
    out.push(groups === FUSED_GROUP_CHOICES[0] ? { algorithm: 'winograd-fused' } : { algorithm: 'winograd-fused', groups });
  }
  return out;
}

/** A way to run a conv as the bench and saved tunings write it: 'ALGORITHM [TILE] [cgGROUPS]'. */
export function formatCandidate(c: ConvCandidate): string {
  return `${c.algorithm}${c.tile ? ` ${c.tile}` : ''}${c.groups ? ` cg${c.groups}` : ''}`;
}

/** One conv of `call`'s geometry by `c`, its output freed once enqueued (its tile forced only while it enqueues). */
function runner(call: ConvCall, c: ConvCandidate, src: Tensor, w: Tensor): () => void {
  const { direction, geometry: g, family } = call;
  const tile = c.tile !== undefined && !convTileOverride() ? parseGemmTile(c.tile) : null;
  const groups = c.groups !== undefined && !fusedGroupsOverride() ? (c.groups as 1 | 2 | 4 | 8) : null;
  return () =>
    noGrad(() => {
      if (tile) setConvTile(tile);
      if (groups) setFusedGroups(groups);
      try {
        const out = direction === 'forward' ? forwardGemm(g, src, w, null, family, c.algorithm) : backwardInputGemm(g, src, w, null, family, c.algorithm);
        out.dispose();
      } finally {
        if (tile) setConvTile(null);
        if (groups) setFusedGroups(null);
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
  const { direction, geometry: g, family } = call;
  const reps = options.reps ?? DEFAULT_REPS;
  const clockWanted = options.clock ?? (isCpuAdapterReport(rt.ctx.report) ? 'wall' : 'gpu');
  if (!Number.isInteger(reps) || reps < 1) throw new RangeError(`tuneConvs: reps must be a positive integer, got ${reps}`);
  const margin = options.margin ?? DEFAULT_MARGIN;
  if (!(margin >= 0 && margin < 1)) throw new RangeError(`tuneConvs: margin must be at least 0 and below 1, got ${margin}`);
  const srcShape = direction === 'forward' ? [g.n, g.h, g.w, g.cin] : [g.n, g.ho, g.wo, g.cout];
  // Values do not change a kernel's time; constants keep NaNs and denormals out. Where the device has no
  // room for them beside what the caller holds, the conv stays untuned rather than failing the
  // step that asked for tuning.
  const made: Tensor[] = [];
  try {
    for (const shape of [srcShape, [g.kh, g.kw, g.cin, g.cout]]) made.push(full(shape, 0.01));
  } catch (e) {
    for (const t of made) t.dispose();
    if (e instanceof LimitError) return null;
    throw e;
  }
  const [src, w] = made;
  try {
    const runs: { c: ConvCandidate; run: () => void; inner: number; times: number[] }[] = [];
    const outBytes = 4 * g.n * (direction === 'forward' ? g.ho * g.wo * g.cout : g.h * g.w * g.cin);
    for (const c of candidates(call, options)) {
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
    const best = choose(timed, rule, margin);
    const tuned: TunedConv = { ...call, ...best, ms, timed, clock };
    setTunedConv(rt.device, tuned);
    return tuned;
  } finally {
    src.dispose();
    w.dispose();
  }
}

const sameCandidate = (a: ConvCandidate, b: ConvCandidate): boolean => a.algorithm === b.algorithm && a.tile === b.tile && a.groups === b.groups;

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
  return { algorithm: pick.algorithm, ...(pick.tile === undefined ? {} : { tile: pick.tile }), ...(pick.groups === undefined ? {} : { groups: pick.groups }) };
}

/** This device's tuned choices, to save as JSON (saveConvTuning) and load in a later run. */
export function convTuning(): ConvTuning {
  const rt = runtime();
  return { format: 'dawnet-conv-tuning', version: 1, adapter: adapterName(rt.ctx.report), convs: tunedConvs(rt.device) };
}

/** Forgets this device's tuned choices: convAlgorithm's rule again everywhere. */
export function clearConvTuning(): void {
  clearTunedConvs(runtime().device);
}

/**
 * Takes tuned choices made earlier (convTuning's object, or its JSON text), after checking every
 * field; `source` names where they came from in errors (a file name). Choices from another adapter
 * are refused: what is fastest on one device says little about the next. Returns how many were taken.
 */
export function applyConvTuning(data: unknown, source = 'conv tuning'): number {
  const rt = runtime();
  const t = parseTuning(typeof data === 'string' ? parseJson(data, source) : data, source);
  const here = adapterName(rt.ctx.report);
  if (t.adapter !== here) throw new FormatError(`${source}: tuned on "${t.adapter}", but this adapter is "${here}"; run tuneConvs here instead`);
  for (const c of t.convs) setTunedConv(rt.device, c);
  return t.convs.length;
}

function parseJson(text: string, source: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new FormatError(`${source}: not JSON (${(e as Error).message})`);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function parseTuning(v: unknown, source: string): ConvTuning {
  if (!isObject(v) || v.format !== 'dawnet-conv-tuning') throw new FormatError(`${source}: not a dawnet conv tuning (no format "dawnet-conv-tuning")`);
  if (v.version !== 1) throw new FormatError(`${source}: version ${String(v.version)}; this dawnet reads version 1`);
  if (typeof v.adapter !== 'string' || !Array.isArray(v.convs)) throw new FormatError(`${source}: needs "adapter" (a string) and "convs" (a list)`);
  return { format: 'dawnet-conv-tuning', version: 1, adapter: v.adapter, convs: v.convs.map((c, i) => parseConv(c, `${source}: convs[${i}]`)) };
}

function parseConv(c: unknown, where: string): TunedConv {
  if (!isObject(c)) throw new FormatError(`${where} is not an object`);
  const { direction, family, algorithm, geometry, ms, clock } = c;
  if (direction !== 'forward' && direction !== 'backwardInput') throw new FormatError(`${where}: direction ${JSON.stringify(direction)} is not "forward" or "backwardInput"`);
  if (family !== 'tiled' && family !== 'subgroup') throw new FormatError(`${where}: family ${JSON.stringify(family)} is not "tiled" or "subgroup"`);
  if (!CONV_ALGORITHMS.includes(algorithm as ConvAlgorithm)) throw new FormatError(`${where}: algorithm ${JSON.stringify(algorithm)} is not one of ${CONV_ALGORITHMS.join(', ')}`);
  if (!isObject(geometry)) throw new FormatError(`${where}: no geometry`);
  const g = {} as ConvGeometry;
  for (const f of GEOMETRY_FIELDS) {
    const x = geometry[f];
    if (typeof x !== 'number' || !Number.isInteger(x) || x < (f.startsWith('pad') ? 0 : 1)) throw new FormatError(`${where}: geometry.${f} is ${JSON.stringify(x)}, not a ${f.startsWith('pad') ? 'non-negative' : 'positive'} integer`);
    g[f] = x;
  }
  if (!winogradFits(direction, g)) throw new FormatError(`${where}: a ${g.kh}x${g.kw} conv at stride ${g.sh}x${g.sw} has no choice of algorithm (Winograd runs 3x3 at stride 1)`);
  if (algorithm === 'winograd-fused' && !fusedFits(winogradShape(direction, g).n)) throw new FormatError(`${where}: the fused kernel cannot run ${winogradShape(direction, g).n} output channels`);
  const tile = c.tile === undefined ? undefined : parseTile(c.tile, family === 'tiled' && algorithm !== 'winograd-fused', where);
  const groups = c.groups === undefined ? undefined : parseGroups(c.groups, algorithm === 'winograd-fused', where);
  const times: Partial<Record<ConvAlgorithm, number>> = {};
  for (const [a, t] of Object.entries(isObject(ms) ? ms : {})) if (CONV_ALGORITHMS.includes(a as ConvAlgorithm) && typeof t === 'number') times[a as ConvAlgorithm] = t;
  // What the choice was made from: kept where well formed, for reading; nothing runs by it.
  const timed = Array.isArray(c.timed)
    ? c.timed.filter((t): t is ConvCandidate & { ms: number } => isObject(t) && CONV_ALGORITHMS.includes(t.algorithm as ConvAlgorithm) && typeof t.ms === 'number' && (t.tile === undefined || typeof t.tile === 'string'))
    : undefined;
  return { direction, family, algorithm: algorithm as ConvAlgorithm, ...(tile ? { tile } : {}), ...(groups ? { groups } : {}), geometry: g, ms: times, ...(timed ? { timed } : {}), clock: clock === 'wall' ? 'wall' : 'gpu' };
}

/** A saved number of channel groups: what setFusedGroups takes, for the fused kernel only. */
function parseGroups(groups: unknown, fused: boolean, where: string): number {
  if (!fused) throw new FormatError(`${where}: channel groups (${JSON.stringify(groups)}) for a conv that is not run by the fused kernel`);
  if (groups !== 1 && groups !== 2 && groups !== 4 && groups !== 8) throw new FormatError(`${where}: groups ${JSON.stringify(groups)} is not 1, 2, 4 or 8`);
  return groups;
}

/** A saved tile, checked as setConvTile's are; only the tiled family's direct and staged Winograd GEMMs take one. */
function parseTile(tile: unknown, takesTile: boolean, where: string): string {
  if (!takesTile) throw new FormatError(`${where}: a tile (${JSON.stringify(tile)}) for a conv whose kernel takes none (only the tiled family's direct and Winograd GEMMs do)`);
  if (typeof tile !== 'string') throw new FormatError(`${where}: tile ${JSON.stringify(tile)} is not a string`);
  try {
    return formatGemmTile(parseGemmTile(tile));
  } catch (e) {
    throw new FormatError(`${where}: ${(e as Error).message}`);
  }
}
