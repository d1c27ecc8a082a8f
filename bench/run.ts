// The run itself, wherever it happens (Node's CLI in bench/main.ts, a browser page in
// bench/web.ts): the peaks, the end-to-end cases, then every kernel case on dawnet and tfjs,
// printed as tables, checked against the bars, gathered into one record. The host initialises
// dawnet, loads tfjs and keeps the record (a file in Node, the page's return value in a browser).

import { UsageError } from '../src/cli/args.js';
import * as dn from '../src/index.js';
import { hasRuntime, runtime } from '../src/gpu/runtime.js';
import { defaultConvFamily, setConvTile, subgroupLanes } from '../src/kernels/conv2d-launch.js';
import { CONV_ALGORITHMS, setConvAlgorithm } from '../src/kernels/conv2d-winograd-run.js';
import { setFusedGroups } from '../src/kernels/conv2d-winograd-fused.js';
import { parseGemmTile } from '../src/kernels/conv2d-tiled.js';
import { runCase, type CaseResult, type Peak } from './harness.js';
import { chooseClocks, dawnetGpuClock, syncOverheadMs, type ClockOption, type SideClocks } from './timing.js';
import { barLines, evaluateBars } from './bars.js';
import { runE2eCase, type E2eCase, type E2eResult } from './e2e.js';
import type { BenchCase } from './case.js';
import { markdownReport } from './markdown.js';
import type { BenchOptions } from './options.js';
import { fmaProbe, measurePeak, type PeakResult } from './peak.js';
import type { TfjsPeer } from './peer-tfjs.js';
import { loadCases, loadE2eCases } from './registry.js';
import { adapterSlug, clockLine, e2eHeader, e2eRow, peakLines, tableHeader, tableRow, type BenchRecord, type ClockRecord } from './report.js';
import { isCpuAdapterReport } from '../src/gpu/adapter-kind.js';
import { buildCommit } from '../src/util/build-info.js';

/** The default --scale: 8 on an adapter that runs on the CPU (lavapipe, SwiftShader), 1 on a GPU. */
export const defaultScale = (report: dn.AdapterReport): number => (isCpuAdapterReport(report) ? 8 : 1);

/** The name a record's file takes after its adapter (bench/results/<slug>.json). */
export function recordSlug(report: dn.AdapterReport): string {
  const device = [report.vendor, report.architecture, report.device].filter((s) => s).join(' ');
  return adapterSlug(device || dn.info().name);
}

/**
 * Applies --conv-tile (the tiled family then runs that tile on every GEMM), --conv-algorithm and
 * --fused-groups on the current runtime; returns what undoes them.
 */
export function useConvSettings(opts: BenchOptions): () => void {
  if (opts.convTile) setConvTile(parseGemmTile(opts.convTile));
  if (opts.convAlgorithm !== 'auto') setConvAlgorithm(opts.convAlgorithm);
  if (opts.fusedGroups) setFusedGroups(opts.fusedGroups);
  return () => {
    if (!hasRuntime()) return;
    if (opts.convTile) setConvTile(null);
    if (opts.convAlgorithm !== 'auto') setConvAlgorithm('auto');
    if (opts.fusedGroups) setFusedGroups(null);
  };
}

/** The clock of each side for this run; throws when --clock gpu meets an adapter without timestamps. */
function benchClocks(option: ClockOption, peer: TfjsPeer | null, ownsRuntime: boolean): ClockRecord {
  const dawnet = runtime().gpuTimer.available;
  if (option === 'gpu' && !dawnet) throw new UsageError("--clock gpu: this adapter has no 'timestamp-query'; use --clock wall or auto");
  const clocks = chooseClocks(option, { dawnet, tfjs: peer ? peer.gpuClock !== null : null });
  return { option, dawnet: clocks.dawnet, tfjs: peer ? clocks.tfjs : null, quantized: !ownsRuntime };
}

/** Stops starting cases once the budget is spent; remembers what it skipped. */
class Budget {
  readonly skipped: string[] = [];
  private start = performance.now();
  constructor(private seconds: number | null) {}
  allows(id: string): boolean {
    if (this.seconds === null || (performance.now() - this.start) / 1000 < this.seconds) return true;
    this.skipped.push(id);
    return false;
  }
}

interface RunEnv {
  peak: Peak | null;
  tfjs: TfjsPeer | null;
  clocks: SideClocks;
  budget: Budget;
  /** Called after each case, so a run killed part-way still leaves its record. */
  save: () => void;
  /** Re-times the FMA peak beside each flops case (null: no peak measured). */
  probePeak: (() => Promise<number | null>) | null;
}

/** The cases the options select. */
export interface Selection {
  e2e: E2eCase[];
  kernels: BenchCase[];
}

/** The selecting options as given, for the error when they select nothing. */
function selectionText(opts: BenchOptions): string {
  const { groups, only } = opts.filter;
  const parts = [groups ? `--group ${groups.join(',')}` : '', only ? `--only '${only.source}'` : '', opts.e2e ? '' : '--no-e2e'].filter((p) => p);
  return parts.length ? parts.join(' ') : 'the whole suite (no case family loaded)';
}

/**
 * The end-to-end and kernel cases the options select. A selection that matches no case is a usage
 * error, raised before any GPU work: a misspelt --only would otherwise measure the peaks and save
 * an empty record.
 */
export async function selectCases(opts: BenchOptions, scale: number): Promise<Selection> {
  const e2e = opts.e2e ? loadE2eCases(scale, opts.filter) : [];
  const kernels = await loadCases(scale, opts.filter);
  if (!e2e.length && !kernels.length) throw new UsageError(`no case matches ${selectionText(opts)} (dawnet bench --list shows the case ids)`);
  return { e2e, kernels };
}

async function runE2e(opts: BenchOptions, cases: E2eCase[], env: RunEnv, rows: E2eResult[]): Promise<void> {
  if (!cases.length) return;
  console.log(e2eHeader());
  for (const c of cases) {
    if (!env.budget.allows(c.id)) continue;
    // A training step's images per second is what its user waits for: wall clock, unless GPU
    // time is asked for by name. (Under tf.time, tfjs also gives every kernel its own pass and
    // readback, which slows its step: its GPU time came out above its wall time on lavapipe.)
    const e2eClocks: SideClocks = env.clocks && opts.clock === 'gpu' ? env.clocks : { dawnet: 'wall', tfjs: 'wall' };
    // On GPUs, the step under each conv algorithm it did not run with (every conv it fits), after
    // its own samples: what Winograd, and Winograd in one kernel, do to a whole step. Not on CPU
    // adapters, where 'auto' is direct everywhere and the conv rows time the others beside each
    // conv (lavapipe took 15-66x longer for a step with fused Winograd, at scale 32).
    const convAlternatives = opts.beside && !c.alone && !isCpuAdapterReport(runtime().ctx.report) ? CONV_ALGORITHMS.filter((a) => a !== opts.convAlgorithm) : [];
    // Everywhere, the step again after tuneConvs on it: what timing each conv's algorithms on this
    // device gives a whole step (a forced algorithm would override the tuning, so not then).
    const tuned = opts.beside && !c.alone && opts.convAlgorithm === 'auto';
    const e2eEnv = { timing: opts.timing, peak: env.peak, tfjs: env.tfjs, check: opts.check, memory: opts.memory, clocks: e2eClocks, convAlternatives, convAlgorithm: opts.convAlgorithm, tuned };
    const row = await runE2eCase(c, e2eEnv, () => runtime().sync());
    rows.push(row);
    env.save();
    console.log(e2eRow(row));
  }
  console.log('');
}

async function runKernels(opts: BenchOptions, cases: BenchCase[], env: RunEnv, rows: CaseResult[]): Promise<void> {
  if (!cases.length) return;
  console.log(tableHeader());
  for (const [i, c] of cases.entries()) {
    if (!env.budget.allows(c.id)) continue;
    // Both conv families have the operand probe: the subgroup one (CPU adapters) and the tiled one (GPUs).
    const row = await runCase(c, { timing: opts.timing, peak: env.peak, tfjs: env.tfjs, check: opts.check, seed: 1000 * (i + 1), clocks: env.clocks, probePeak: env.probePeak ?? undefined, probeOperands: opts.beside, alternatives: opts.beside });
    rows.push(row);
    env.save();
    console.log(tableRow(row));
  }
}

export async function listCases(opts: BenchOptions, scale: number): Promise<void> {
  const { e2e, kernels } = await selectCases(opts, scale);
  for (const c of [...e2e, ...kernels]) console.log(`${c.id.padEnd(44)} ${c.shape}`);
}

/**
 * The tfjs peer from `load`, its line printed; null, saying why, when it does not load (dawnet is
 * then timed alone).
 */
export async function loadPeer(load: () => Promise<TfjsPeer>): Promise<TfjsPeer | null> {
  try {
    const peer = await load();
    console.log(`tfjs:    ${peer.version} (webgpu backend, adapter ${peer.adapter})`);
    return peer;
  } catch (e) {
    console.log(`bench: tfjs did not load (${(e as Error).message}); timing dawnet only`);
    return null;
  }
}

/** What the host hands the run. */
export interface BenchHost {
  opts: BenchOptions;
  /** The command line as the record shows it. */
  command: string;
  report: dn.AdapterReport;
  scale: number;
  peer: TfjsPeer | null;
  /** false when dawnet's runtime was made elsewhere, with Dawn's timestamp rounding left on. */
  ownsRuntime: boolean;
  /** The file the record goes to, as the last line says; null where the host writes it later. */
  out: string | null;
  /** Keeps the record; called after each case, so a run killed part-way still leaves one. */
  save(record: BenchRecord): void;
}

/** Runs every selected case on the host's runtime and tfjs peer; returns the record. */
export async function runBenchRecord(host: BenchHost): Promise<BenchRecord> {
  const { opts, report, scale, peer } = host;
  const selection = await selectCases(opts, scale);
  const clock = benchClocks(opts.clock, peer, host.ownsRuntime);
  console.log(clockLine(clock));
  const gpu = clock.dawnet === 'gpu-timestamp' ? dawnetGpuClock() : null;
  let peak: PeakResult | null = null;
  if (opts.peak) {
    peak = await measurePeak({ copyBytes: (isCpuAdapterReport(report) ? 64 : 256) * 2 ** 20, gpu });
    console.log(peakLines(peak));
  }
  const overhead = {
    dawnet: await syncOverheadMs(() => runtime().sync()),
    tfjs: peer ? await syncOverheadMs(peer.sync) : null,
  };
  console.log(`sync round trip: dawnet ${overhead.dawnet.toFixed(3)} ms${peer ? `, tfjs ${overhead.tfjs!.toFixed(3)} ms` : ''}\n`);
  const budget = new Budget(opts.budgetS);
  const record: BenchRecord = {
    date: new Date().toISOString(),
    ...(buildCommit ? { commit: buildCommit } : {}),
    adapter: dn.info().name,
    adapterReport: report,
    command: host.command,
    scale,
    timing: opts.timing,
    clock,
    tfjs: peer ? { version: peer.version, adapter: peer.adapter } : null,
    syncOverheadMs: overhead,
    peak,
    rows: [],
    e2e: [],
    skipped: budget.skipped,
    ...(opts.convTile ? { convTile: opts.convTile } : { convTileRule: 'by-conv' as const }),
    ...(opts.convAlgorithm !== 'auto' ? { convAlgorithm: opts.convAlgorithm } : {}),
    ...(opts.fusedGroups ? { fusedGroups: opts.fusedGroups } : {}),
    ...(defaultConvFamily() === 'subgroup' ? { convLanes: subgroupLanes() } : {}),
  };
  // Each save lists the selected cases not yet run; the last one, after every case, none.
  const selected = [...selection.e2e, ...selection.kernels].map((c) => c.id);
  const save = () => {
    const done = new Set([...record.e2e!, ...record.rows].map((r) => r.id).concat(budget.skipped));
    const left = selected.filter((id) => !done.has(id));
    if (left.length) record.unfinished = left;
    else delete record.unfinished;
    host.save(record);
  };
  const clocks: SideClocks = { dawnet: clock.dawnet, tfjs: clock.tfjs ?? 'wall' };
  const probePeak = peak ? fmaProbe(peak, gpu) : null;
  const env: RunEnv = { peak: peak ? { gflops: peak.gflops, gbps: peak.gbps, clock: peak.clock } : null, tfjs: peer, clocks, budget, save, probePeak };
  await runE2e(opts, selection.e2e, env, record.e2e!);
  await runKernels(opts, selection.kernels, env, record.rows);
  save();
  console.log(`\n${barLines(evaluateBars(record))}`);
  if (budget.skipped.length) console.log(`\nbudget of ${opts.budgetS} s spent: skipped ${budget.skipped.length} case(s): ${budget.skipped.join(', ')}`);
  const mismatches = [...record.e2e!, ...record.rows].filter((r) => r.check && !r.check.ok).length;
  console.log(`\n${host.out ? `wrote ${host.out}` : 'record complete'}${mismatches ? `; ${mismatches} case(s) differ from tfjs beyond tolerance (check column)` : ''}`);
  if (opts.markdown) console.log(`\n${markdownReport(record)}`);
  return record;
}
