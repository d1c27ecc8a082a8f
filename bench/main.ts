// `dawnet bench`: the device's measured peaks, then every case on dawnet and on TensorFlow.js's
// WebGPU backend (same Dawn GPU object, same process), printed as a table and recorded as JSON.

import { join } from 'node:path';
import * as dn from '../src/index.js';
import { hasRuntime, runtime } from '../src/gpu/runtime.js';
import { DEFAULT_TIMING, runCase, syncOverheadMs, type CaseResult, type Peak, type TimingOptions } from './harness.js';
import { measurePeak, type PeakResult } from './peak.js';
import { loadTfjs, type TfjsPeer } from './peer-tfjs.js';
import { loadCases, type CaseFilter } from './registry.js';
import { adapterSlug, peakLines, tableHeader, tableRow, writeRecord } from './report.js';

const USAGE = `usage: dawnet bench [options]

Times dawnet's kernels against TensorFlow.js (WebGPU backend) on the same adapter.

options:
  --scale S         divide batch and spatial sizes by S (default: 8 on a CPU adapter such as
                    lavapipe, 1 on a GPU); U-Net levels at batch 16, VGG16 at batch 32, 256x256
  --only REGEX      run only cases whose id matches (e.g. 'conv2d.forward', 'unet-l3')
  --group A,B       run only these groups (elementwise, reduce, conv2d, conv2d-naive, matmul,
                    pool, upsample, batchnorm)
  --naive           also race the naive reference kernels (conv2d-naive)
  --warmup N        warm-up runs per case and side (default ${DEFAULT_TIMING.warmup})
  --reps N          timed samples per case and side (default ${DEFAULT_TIMING.reps})
  --min-sample-ms T repeat short ops within a sample until it lasts T ms (default ${DEFAULT_TIMING.minSampleMs})
  --no-tfjs         time dawnet only
  --no-check        do not compare dawnet's output with tfjs's
  --no-peak         skip the FMA and copy peak measurements
  --out FILE        JSON path (default bench/results/<adapter>.json)
  --list            print the case ids and exit`;

export interface BenchOptions {
  scale: number | null;
  filter: CaseFilter;
  timing: TimingOptions;
  tfjs: boolean;
  check: boolean;
  peak: boolean;
  out: string | null;
  list: boolean;
}

function intArg(name: string, v: string | undefined, min: number): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) throw new RangeError(`bench: ${name} needs a number >= ${min}, got '${v}'`);
  return n;
}

export function parseBenchArgs(args: string[]): BenchOptions | null {
  const o: BenchOptions = {
    scale: null,
    filter: {},
    timing: { ...DEFAULT_TIMING },
    tfjs: true,
    check: true,
    peak: true,
    out: null,
    list: false,
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
    else if (a === '--no-tfjs') o.tfjs = false;
    else if (a === '--no-check') o.check = false;
    else if (a === '--no-peak') o.peak = false;
    else if (a === '--out') o.out = next() ?? null;
    else if (a === '--list') o.list = true;
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

export async function runBench(args: string[]): Promise<void> {
  const opts = parseBenchArgs(args);
  if (!opts) {
    console.log(USAGE);
    return;
  }
  const ownsRuntime = !hasRuntime();
  const report = await dn.init();
  const name = dn.info().name;
  const scale = opts.scale ?? (isCpuAdapter(report) ? 8 : 1);
  const cases = await loadCases(scale, opts.filter);
  if (opts.list) {
    for (const c of cases) console.log(`${c.id.padEnd(44)} ${c.shape}`);
    if (ownsRuntime) dn.shutdown();
    return;
  }
  let peer: TfjsPeer | null = null;
  try {
    console.log(`adapter: ${name}`);
    console.log(`scale:   ${scale} (batch and spatial sizes divided by it), ${cases.length} cases`);
    let peak: PeakResult | null = null;
    if (opts.peak) {
      peak = await measurePeak({ copyBytes: (isCpuAdapter(report) ? 64 : 256) * 2 ** 20 });
      console.log(peakLines(peak));
    }
    if (opts.tfjs) peer = await tryLoadTfjs();
    if (peer) console.log(`tfjs:    ${peer.version} (webgpu backend, adapter ${peer.adapter})`);
    const overhead = {
      dawnet: await syncOverheadMs(() => runtime().sync()),
      tfjs: peer ? await syncOverheadMs(peer.sync) : null,
    };
    console.log(`sync round trip: dawnet ${overhead.dawnet.toFixed(3)} ms${peer ? `, tfjs ${overhead.tfjs!.toFixed(3)} ms` : ''}\n`);
    const peakRates: Peak | null = peak ? { gflops: peak.gflops, gbps: peak.gbps } : null;
    console.log(tableHeader());
    const rows: CaseResult[] = [];
    for (const [i, c] of cases.entries()) {
      const row = await runCase(c, { timing: opts.timing, peak: peakRates, tfjs: peer, check: opts.check, seed: 1000 * (i + 1) });
      rows.push(row);
      console.log(tableRow(row));
    }
    const device = [report.vendor, report.architecture, report.device].filter((s) => s).join(' ');
    const out = opts.out ?? join('bench', 'results', `${adapterSlug(device || name)}.json`);
    writeRecord(out, {
      date: new Date().toISOString(),
      adapter: name,
      adapterReport: report,
      command: ['dawnet', 'bench', ...args].join(' '),
      scale,
      timing: opts.timing,
      tfjs: peer ? { version: peer.version, adapter: peer.adapter } : null,
      syncOverheadMs: overhead,
      peak,
      rows,
    });
    const mismatches = rows.filter((r) => r.check && !r.check.ok).length;
    console.log(`\nwrote ${out}${mismatches ? `; ${mismatches} case(s) differ from tfjs beyond tolerance (check column)` : ''}`);
  } finally {
    peer?.unload();
    if (ownsRuntime) dn.shutdown();
  }
}
