// `dawnet bench`: the device's measured peaks, the end-to-end cases (U-Net training step, VGG16
// forward, with each side's peak memory and dawnet's against the minimum), then every kernel
// case, each on dawnet and on TensorFlow.js's WebGPU backend (same Dawn GPU object, same process),
// printed as tables, checked against the issue's bars and recorded as JSON; --markdown prints the
// README section. Times are GPU timestamps where both sides have them, else wall clock (--clock).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as dn from '../src/index.js';
import { hasRuntime, runtime } from '../src/gpu/runtime.js';
import { parseGemmTile } from '../src/kernels/conv2d-tiled.js';
import { defaultConvFamily, setConvTile } from '../src/kernels/conv2d.js';
import { runCase, type CaseResult, type Peak } from './harness.js';
import {
  DEFAULT_TIMING,
  chooseClocks,
  dawnetGpuClock,
  syncOverheadMs,
  type ClockOption,
  type SideClocks,
  type TimingOptions,
} from './timing.js';
import { barLines, evaluateBars } from './bars.js';
import { runE2eCase, type E2eResult } from './e2e.js';
import { runGpuChecks } from './gpu-checks.js';
import { markdownReport } from './markdown.js';
import { fmaProbe, measurePeak, type PeakResult } from './peak.js';
import { loadTfjs, type TfjsPeer } from './peer-tfjs.js';
import { loadCases, loadE2eCases, type CaseFilter } from './registry.js';
import { adapterSlug, clockLine, e2eHeader, e2eRow, peakLines, tableHeader, tableRow, writeRecord, type BenchRecord, type ClockRecord } from './report.js';

/**
 * Dawn rounds timestamps to 2^16 ns (65.5 us) by default, against timing attacks in browsers; a
 * benchmark wants them whole. It applies to every device made from this GPU object: tfjs's too.
 */
const DAWN_TIMESTAMPS = 'disable-dawn-features=timestamp_quantization';

const USAGE = `usage: dawnet bench [options]

Times dawnet against TensorFlow.js (WebGPU backend) on the same adapter and against the
device's measured peaks: end-to-end cases first (a U-Net training step and a VGG16 forward in
images per second, with dawnet's peak GPU memory next to the step's minimum), then each kernel.

options:
  --scale S         divide batch and spatial sizes by S (default: 8 on a CPU adapter such as
                    lavapipe, 1 on a GPU); U-Net levels at batch 16, VGG16 at batch 32, 256x256;
                    end-to-end cases run at that batch and half of it
  --only REGEX      run only cases whose id matches (e.g. 'conv2d.forward', 'unet-l3')
  --group A,B       run only these groups (e2e, elementwise, reduce, conv2d, conv2d-naive,
                    matmul, pool, upsample, batchnorm, augment)
  --naive           also race the naive reference kernels (conv2d-naive)
  --warmup N        warm-up runs per case and side (default ${DEFAULT_TIMING.warmup})
  --reps N          timed samples per case and side (default ${DEFAULT_TIMING.reps})
  --min-sample-ms T repeat short ops within a sample until it lasts T ms (default ${DEFAULT_TIMING.minSampleMs})
  --clock C         auto (default): GPU timestamps when dawnet's and tfjs's devices both have
                    'timestamp-query', else wall clock on both; gpu: timestamps on each side
                    that has them (a ratio between clocks uses both walls); wall: wall clock.
                    Wall times are recorded in every case
  --no-tfjs         time dawnet only
  --no-check        do not compare dawnet's output with tfjs's
  --no-peak         skip the FMA and copy peak measurements
  --no-e2e          skip the end-to-end cases (U-Net training step, VGG16 forward)
  --no-memory       do not measure the end-to-end cases' peak GPU memory
  --budget SECONDS  start no new case after this long (the rest are listed as skipped)
  --out FILE        JSON path (default bench/results/<adapter>.json)
  --markdown [JSON] print the README's benchmark section after the run; given a record
                    written by an earlier run, print its section and run nothing
  --checks          run every op on the GPU against the CPU reference, forward and backward,
                    and exit (non-zero status when one differs)
  --conv-tile T     the tiled conv family's tile, BMxBNxBK/TMxTN (default 64x64x16/4x4; on a
                    GPU try 128x128x16/8x8): compare tiles on one machine in one sitting
  --list            print the case ids and exit`;

export interface BenchOptions {
  scale: number | null;
  filter: CaseFilter;
  timing: TimingOptions;
  clock: ClockOption;
  tfjs: boolean;
  check: boolean;
  peak: boolean;
  out: string | null;
  list: boolean;
  e2e: boolean;
  memory: boolean;
  budgetS: number | null;
  /** The tiled conv family's tile (parseGemmTile), or null for CONV_TILE. */
  convTile: string | null;
  /** true: print after the run; a path: render that record instead of running. */
  markdown: boolean | string;
  checks: boolean;
}

function intArg(name: string, v: string | undefined, min: number): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) throw new RangeError(`bench: ${name} needs a number >= ${min}, got '${v}'`);
  return n;
}

function clockArg(v: string | undefined): ClockOption {
  if (v === 'auto' || v === 'gpu' || v === 'wall') return v;
  throw new RangeError(`bench: --clock needs auto, gpu or wall, got '${v}'`);
}

export function parseBenchArgs(args: string[]): BenchOptions | null {
  const o: BenchOptions = {
    scale: null,
    filter: {},
    timing: { ...DEFAULT_TIMING },
    clock: 'auto',
    tfjs: true,
    check: true,
    peak: true,
    out: null,
    list: false,
    e2e: true,
    memory: true,
    budgetS: null,
    convTile: null,
    markdown: false,
    checks: false,
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const next = () => args[++i];
    if (a === '--help' || a === '-h') return null;
    else if (a === '--scale') o.scale = intArg(a, next(), 1);
    else if (a === '--only') o.filter.only = new RegExp(next() ?? '');
    else if (a === '--group') o.filter.groups = (next() ?? '').split(',').filter((s) => s);
    else if (a === '--naive') o.filter.naive = true;
    else if (a === '--warmup') o.timing.warmup = intArg(a, next(), 0);
    else if (a === '--reps') o.timing.reps = intArg(a, next(), 1);
    else if (a === '--min-sample-ms') o.timing.minSampleMs = intArg(a, next(), 0);
    else if (a === '--clock') o.clock = clockArg(next());
    else if (a === '--no-tfjs') o.tfjs = false;
    else if (a === '--no-check') o.check = false;
    else if (a === '--no-peak') o.peak = false;
    else if (a === '--out') o.out = next() ?? null;
    else if (a === '--list') o.list = true;
    else if (a === '--no-e2e') o.e2e = false;
    else if (a === '--no-memory') o.memory = false;
    else if (a === '--budget') o.budgetS = intArg(a, next(), 1);
    else if (a === '--conv-tile') {
      o.convTile = next() ?? '';
      parseGemmTile(o.convTile); // a bad tile fails here, before any GPU work
    }
    else if (a === '--checks') o.checks = true;
    else if (a === '--markdown') o.markdown = args[i + 1]?.endsWith('.json') ? next()! : true;
    else throw new RangeError(`bench: unknown option '${a}' (see --help)`);
  }
  return o;
}

/** lavapipe, llvmpipe, SwiftShader, WARP: adapters that run on the CPU get a smaller default. */
export function isCpuAdapter(report: dn.AdapterReport): boolean {
  const text = [report.vendor, report.architecture, report.device, report.description].join(' ');
  return /llvmpipe|lavapipe|swiftshader|software|warp|cpu/i.test(text);
}

async function tryLoadTfjs(): Promise<TfjsPeer | null> {
  const gpu = runtime().ctx.nodeGpu ?? (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  if (!gpu) {
    console.log('bench: no GPU object to give tfjs; timing dawnet only');
    return null;
  }
  try {
    return await loadTfjs(gpu);
  } catch (e) {
    console.log(`bench: tfjs did not load (${(e as Error).message}); timing dawnet only`);
    return null;
  }
}

/** The clock of each side for this run; throws when --clock gpu meets an adapter without timestamps. */
function benchClocks(option: ClockOption, peer: TfjsPeer | null, ownsRuntime: boolean): ClockRecord {
  const dawnet = runtime().gpuTimer.available;
  if (option === 'gpu' && !dawnet) throw new RangeError("bench: --clock gpu: this adapter has no 'timestamp-query'; use --clock wall or auto");
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
  /** Time the conv cases' operand-load probe (the subgroup family runs the convs). */
  probeOperands: boolean;
}

async function runE2e(opts: BenchOptions, scale: number, env: RunEnv, rows: E2eResult[]): Promise<void> {
  const cases = opts.e2e ? loadE2eCases(scale, opts.filter) : [];
  if (!cases.length) return;
  console.log(e2eHeader());
  for (const c of cases) {
    if (!env.budget.allows(c.id)) continue;
    // A training step's images per second is what its user waits for: wall clock, unless GPU
    // time is asked for by name. (Under tf.time, tfjs also gives every kernel its own pass and
    // readback, which slows its step: its GPU time came out above its wall time on lavapipe.)
    const e2eClocks: SideClocks = env.clocks && opts.clock === 'gpu' ? env.clocks : { dawnet: 'wall', tfjs: 'wall' };
    const e2eEnv = { timing: opts.timing, peak: env.peak, tfjs: env.tfjs, check: opts.check, memory: opts.memory, clocks: e2eClocks };
    const row = await runE2eCase(c, e2eEnv, () => runtime().sync());
    rows.push(row);
    env.save();
    console.log(e2eRow(row));
  }
  console.log('');
}

async function runKernels(opts: BenchOptions, scale: number, env: RunEnv, rows: CaseResult[]): Promise<void> {
  const cases = await loadCases(scale, opts.filter);
  if (!cases.length) return;
  console.log(tableHeader());
  for (const [i, c] of cases.entries()) {
    if (!env.budget.allows(c.id)) continue;
    const row = await runCase(c, { timing: opts.timing, peak: env.peak, tfjs: env.tfjs, check: opts.check, seed: 1000 * (i + 1), clocks: env.clocks, probePeak: env.probePeak ?? undefined, probeOperands: env.probeOperands });
    rows.push(row);
    env.save();
    console.log(tableRow(row));
  }
}

async function listCases(opts: BenchOptions, scale: number): Promise<void> {
  const e2e = opts.e2e ? loadE2eCases(scale, opts.filter) : [];
  for (const c of [...e2e, ...(await loadCases(scale, opts.filter))]) console.log(`${c.id.padEnd(44)} ${c.shape}`);
}

export async function runBench(args: string[]): Promise<void> {
  const opts = parseBenchArgs(args);
  if (!opts) {
    console.log(USAGE);
    return;
  }
  if (typeof opts.markdown === 'string') {
    console.log(markdownReport(JSON.parse(readFileSync(opts.markdown, 'utf8')) as BenchRecord));
    return;
  }
  const ownsRuntime = !hasRuntime();
  const report = await dn.init({ dawnOptions: [DAWN_TIMESTAMPS] });
  if (opts.convTile) setConvTile(parseGemmTile(opts.convTile));
  const name = dn.info().name;
  const scale = opts.scale ?? (isCpuAdapter(report) ? 8 : 1);
  let peer: TfjsPeer | null = null;
  try {
    if (opts.checks) {
      console.log(`adapter: ${name}`);
      const failed = await runGpuChecks();
      if (failed) throw new Error(`${failed} GPU check(s) differ from the CPU reference`);
      return;
    }
    if (opts.list) return await listCases(opts, scale);
    console.log(`adapter: ${name}`);
    console.log(`scale:   ${scale} (batch and spatial sizes divided by it)`);
    if (opts.tfjs) peer = await tryLoadTfjs();
    if (peer) console.log(`tfjs:    ${peer.version} (webgpu backend, adapter ${peer.adapter})`);
    const clock = benchClocks(opts.clock, peer, ownsRuntime);
    console.log(clockLine(clock));
    let peak: PeakResult | null = null;
    if (opts.peak) {
      const gpu = clock.dawnet === 'gpu-timestamp' ? dawnetGpuClock() : null;
      peak = await measurePeak({ copyBytes: (isCpuAdapter(report) ? 64 : 256) * 2 ** 20, gpu });
      console.log(peakLines(peak));
    }
    const overhead = {
      dawnet: await syncOverheadMs(() => runtime().sync()),
      tfjs: peer ? await syncOverheadMs(peer.sync) : null,
    };
    console.log(`sync round trip: dawnet ${overhead.dawnet.toFixed(3)} ms${peer ? `, tfjs ${overhead.tfjs!.toFixed(3)} ms` : ''}\n`);
    const budget = new Budget(opts.budgetS);
    const device = [report.vendor, report.architecture, report.device].filter((s) => s).join(' ');
    const out = opts.out ?? join('bench', 'results', `${adapterSlug(device || name)}.json`);
    const record: BenchRecord = {
      date: new Date().toISOString(),
      adapter: name,
      adapterReport: report,
      command: ['dawnet', 'bench', ...args].join(' '),
      scale,
      timing: opts.timing,
      clock,
      tfjs: peer ? { version: peer.version, adapter: peer.adapter } : null,
      syncOverheadMs: overhead,
      peak,
      rows: [],
      e2e: [],
      skipped: budget.skipped,
      ...(opts.convTile ? { convTile: opts.convTile } : {}),
    };
    const save = () => writeRecord(out, record);
    const clocks: SideClocks = { dawnet: clock.dawnet, tfjs: clock.tfjs ?? 'wall' };
    const probePeak = peak ? fmaProbe(peak, clock.dawnet === 'gpu-timestamp' ? dawnetGpuClock() : null) : null;
    const probeOperands = defaultConvFamily() === 'subgroup';
    const env: RunEnv = { peak: peak ? { gflops: peak.gflops, gbps: peak.gbps, clock: peak.clock } : null, tfjs: peer, clocks, budget, save, probePeak, probeOperands };
    await runE2e(opts, scale, env, record.e2e!);
    await runKernels(opts, scale, env, record.rows);
    save();
    console.log(`\n${barLines(evaluateBars(record))}`);
    if (budget.skipped.length) console.log(`\nbudget of ${opts.budgetS} s spent: skipped ${budget.skipped.length} case(s): ${budget.skipped.join(', ')}`);
    const mismatches = [...record.e2e!, ...record.rows].filter((r) => r.check && !r.check.ok).length;
    console.log(`\nwrote ${out}${mismatches ? `; ${mismatches} case(s) differ from tfjs beyond tolerance (check column)` : ''}`);
    if (opts.markdown) console.log(`\n${markdownReport(record)}`);
  } finally {
    if (opts.convTile && hasRuntime()) setConvTile(null);
    peer?.unload();
    if (ownsRuntime) dn.shutdown();
  }
}
