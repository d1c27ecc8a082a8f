// The terminal table (one row printed as each case finishes) and the JSON record's shape (the
// Node CLI writes it under bench/results/<adapter-slug>.json, the browser driver likewise).

import { mib } from './bars.js';
import type { E2eResult, StepProfile } from './e2e.js';
import type { KernelTime } from '../src/gpu/gpu-timer.js';
import { alternativesOf, type CaseResult, type SideResult } from './harness.js';
import type { Clock, ClockOption, TimingOptions } from './timing.js';
import type { PeakResult } from './peak.js';
import type { ConvAlgorithm } from '../src/kernels/conv2d-winograd-run.js';
import type { LaneAccessRates } from './lane-access.js';

const COLUMNS: [string, number][] = [
  ['case', 36],
  ['shape', 26],
  ['dawnet ms', 20],
  ['rate', 13],
  ['%peak', 6],
  ['tfjs ms', 20],
  ['rate', 13],
  ['tfjs/dn', 7],
  ['clock', 16],
  ['wall dn/tfjs', 15],
  ['check', 9],
];

function cells(values: string[]): string {
  return values.map((v, i) => (i < 2 ? v.padEnd(COLUMNS[i][1]) : v.padStart(COLUMNS[i][1]))).join(' ');
}

export function tableHeader(): string {
  const head = cells(COLUMNS.map(([name]) => name));
  return `${head}\n${'-'.repeat(head.length)}`;
}

/** A time in ms (or any figure) to three significant digits, at most three decimals. */
export function ms(v: number): string {
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v >= 1 ? v.toFixed(2) : v.toFixed(3);
}

function timeCell(side: CaseResult['dawnet'] | null): string {
  if (!side) return '-';
  if ('error' in side) return 'error';
  const t = side.timing;
  return `${ms(t.medianMs)} [${ms(t.minMs)}-${ms(t.maxMs)}]`;
}

function rateCell(side: CaseResult['dawnet'] | null, metric: CaseResult['metric']): string {
  if (!side || 'error' in side) return '-';
  const unit = metric === 'flops' ? 'GFLOP/s' : metric === 'bytes' ? 'GB/s' : 'img/s';
  return `${side.rate >= 100 ? side.rate.toFixed(0) : side.rate.toFixed(2)} ${unit}`;
}

const SHORT: Record<Clock, string> = { 'gpu-timestamp': 'gpu', wall: 'wall' };

/** The output check: ok or DIFF and the worst relative error; a failed one names its output. */
export function checkCell(r: Pick<CaseResult, 'check'>): string {
  if (!r.check) return '-';
  const { ok, maxRelErr, output } = r.check;
  return `${ok ? 'ok' : 'DIFF'} ${maxRelErr.toExponential(0)}${!ok && output ? ` (${output})` : ''}`;
}

/**
 * The sides' clocks: 'gpu', 'wall', or 'gpu/wall' (dawnet/tfjs) when they differ, the ratio then
 * being of walls; 'gpu, ratio wall' where both sides are GPU-timed but the ratio is taken on the
 * wall clock (the launch case: harness.ts says why).
 */
export function clockCell(r: CaseResult): string {
  const clocks = [r.dawnet, r.tfjs].filter((s): s is SideResult => !!s && 'timing' in s).map((s) => SHORT[s.clock]);
  const same = clocks.length === 2 && clocks[0] === clocks[1];
  if (same && r.ratioClock && SHORT[r.ratioClock] !== clocks[0]) return `${clocks[0]}, ratio ${SHORT[r.ratioClock]}`;
  return same ? clocks[0] : clocks.join('/') || '-';
}

/** Wall medians of both sides, whatever clock the row is on. */
function wallCell(r: CaseResult): string {
  const wall = (s: CaseResult['dawnet'] | null) => (s && 'timing' in s ? ms(s.wall.medianMs) : '-');
  return r.tfjs ? `${wall(r.dawnet)}/${wall(r.tfjs)}` : wall(r.dawnet);
}

/** The wall medians when a side's rate is on GPU time. */
function wallNote(r: CaseResult): string {
  const sides: [string, SideResult][] = [];
  if ('timing' in r.dawnet) sides.push(['dawnet', r.dawnet]);
  if (r.tfjs && 'timing' in r.tfjs) sides.push(['tfjs', r.tfjs]);
  if (sides.every(([, s]) => s.clock === 'wall')) return '';
  return `  wall clock: ${sides.map(([name, s]) => `${name} ${ms(s.wall.medianMs)} ms`).join(', ')}`;
}

/** Notes under a row: errors, and sides that fell back to wall time. */
function sideNotes(r: CaseResult): string[] {
  const note = (name: string, s: CaseResult['dawnet'] | null) =>
    !s ? '' : 'error' in s ? `  ${name}: ${s.error}` : s.fallback ? `  ${name}: wall clock (${s.fallback})` : '';
  return [note('dawnet', r.dawnet), note('tfjs', r.tfjs)];
}

function pctCell(side: CaseResult['dawnet']): string {
  if ('error' in side || side.pctPeak === null) return '-';
  return side.pctPeak.toFixed(1);
}

/**
 * The algorithm a row ran when it is not the direct one, or when another was timed beside it: its
 * median against the other's, e.g. 'winograd; direct beside it: 1.31 ms, 2.10x slower'.
 */
export function algorithmNote(r: CaseResult): string {
  const others = alternativesOf(r);
  if (!others.length && (!r.algorithm || r.algorithm === 'direct')) return '';
  const ran = r.algorithm ?? 'direct';
  if (!others.length || !('timing' in r.dawnet)) return `  algorithm: ${ran}`;
  const mine = r.dawnet.timing.medianMs;
  const beside = others.map((a) => {
    const speedup = a.ms / (a.pairedMs ?? mine);
    const verdict = speedup >= 1 ? `${speedup.toFixed(2)}x slower` : `${(1 / speedup).toFixed(2)}x faster`;
    const paired = a.pairedMs === undefined ? '' : ` than ${ran} interleaved with it (${ms(a.pairedMs)} ms)`;
    return `${a.algorithm} beside it: ${ms(a.ms)} ms, ${verdict}${paired}`;
  });
  return `  algorithm: ${ran}; ${beside.join('; ')}`;
}

/** Where a case's GPU time went, where it ran several kernels: 'by kernel: a 0.31, b 0.12 ms'. */
export function kernelsNote(r: CaseResult): string {
  if (!r.kernels || r.kernels.length < 2) return '';
  return `  by kernel (a pass each): ${r.kernels.map((k) => `${k.name} ${ms(k.ms)}`).join(', ')} ms`;
}

export function tableRow(r: CaseResult): string {
  const check = checkCell(r);
  const row = cells([
    r.id.length > 36 ? `${r.id.slice(0, 35)}~` : r.id,
    r.shape.length > 26 ? `${r.shape.slice(0, 25)}~` : r.shape,
    timeCell(r.dawnet),
    rateCell(r.dawnet, r.metric),
    pctCell(r.dawnet),
    timeCell(r.tfjs),
    rateCell(r.tfjs, r.metric),
    r.ratio === null ? '-' : r.ratio.toFixed(2),
    clockCell(r),
    wallCell(r),
    check,
  ]);
  const errors = [...sideNotes(r), r.noCheck && r.tfjs ? `  not compared: ${r.noCheck}` : '', algorithmNote(r), kernelsNote(r)].filter((s) => s);
  return [row, ...errors].join('\n');
}

// ---------------------------------------------------------------------------------------------
// The end-to-end summary: speed next to the memory figures

const E2E_COLUMNS: [string, number][] = [
  ['end-to-end', 22],
  ['shape', 22],
  ['dawnet', 13],
  ['tfjs', 13],
  ['tfjs/dn', 7],
  ['clock', 16],
  ['%peak', 6],
  ['check', 9],
  ['dn mem', 9],
  ['tfjs mem', 9],
  ['minimum', 9],
  ['dn/min', 6],
];

function e2eCells(values: string[]): string {
  return values.map((v, i) => (i < 2 ? v.padEnd(E2E_COLUMNS[i][1]) : v.padStart(E2E_COLUMNS[i][1]))).join(' ');
}

export function e2eHeader(): string {
  const head = e2eCells(E2E_COLUMNS.map(([name]) => name));
  return `${head}\n${'-'.repeat(head.length)}`;
}

export function e2eRow(r: E2eResult): string {
  const m = r.memory && 'ratio' in r.memory ? r.memory : null;
  const tm = r.tfjsMemory && 'peakBytes' in r.tfjsMemory ? r.tfjsMemory : null;
  const row = e2eCells([
    r.id,
    r.shape.length > 22 ? `${r.shape.slice(0, 21)}~` : r.shape,
    rateCell(r.dawnet, 'images'),
    rateCell(r.tfjs, 'images'),
    r.ratio === null ? '-' : r.ratio.toFixed(2),
    clockCell(r),
    pctCell(r.dawnet),
    checkCell(r),
    m ? mib(m.peakBytes) : '-',
    tm ? mib(tm.peakBytes) : '-',
    m ? mib(m.minimum.total) : '-',
    m ? m.ratio.toFixed(2) : '-',
  ]);
  const notes = [
    ...sideNotes(r),
    wallNote(r),
    r.memory && 'error' in r.memory ? `  memory: ${r.memory.error}` : '',
    r.tfjsMemory && 'error' in r.tfjsMemory ? `  tfjs memory: ${r.tfjsMemory.error}` : '',
    m ? `  memory: ${memoryBreakdown(m)}` : '',
    tm ? `  tfjs memory: peak in use ${mib(tm.peakBytes)} (held before the step ${mib(tm.baselineBytes)}), allocated ${mib(tm.allocatedBytes)} with its free buffers` : '',
    r.profile ? `  dawnet by kernel: ${profileLine(r.profile)}` : '',
    algorithmNote(r),
  ].filter((s) => s);
  return [row, ...notes].join('\n');
}

/** The step's GPU time (one pass per dispatch) and its largest kernels' shares, dispatches in brackets. */
export function profileLine(p: StepProfile, top = 6): string {
  const share = (k: KernelTime) => `${k.name} ${((100 * k.ms) / p.totalMs).toFixed(0)}% (${k.dispatches})`;
  const rest = p.kernels.slice(top);
  const restMs = rest.reduce((acc, k) => acc + k.ms, 0);
  const tail = rest.length ? [`${rest.length} others ${((100 * restMs) / p.totalMs).toFixed(0)}%`] : [];
  const head = `${ms(p.plainMs)} ms on the GPU (${ms(p.totalMs)} with a pass per dispatch, shares of the latter)`;
  return `${head}: ${[...p.kernels.slice(0, top).map(share), ...tail].join(', ')}`;
}

/** One line: the minimum's parts, then the largest groups live at dawnet's peak. */
export function memoryBreakdown(m: Extract<E2eResult['memory'], { ratio: number }>): string {
  const min = m.minimum;
  const held = [`weights ${mib(min.weights)}`, min.moments ? `moments ${mib(min.moments)}` : '', `inputs ${mib(min.inputs)}`].filter((s) => s);
  const live = [min.atPeak.saved ? `saved ${mib(min.atPeak.saved)}` : '', min.atPeak.gradients ? `grads ${mib(min.atPeak.gradients)}` : '', `transient ${mib(min.atPeak.transient)}`].filter((s) => s);
  const top = m.atPeak.slice(0, 3).map((g) => `${g.label} ${mib(g.bytes)}`);
  return (
    `minimum = ${held.join(' + ')} + at ${min.at}: ${live.join(' + ')} (plain sum ${mib(min.sum)}, dawnet's floor ${mib(m.dawnetFloorBytes)}); ` +
    `dawnet at its peak: held ${mib(m.baselineBytes)} + ${top.join(', ')}`
  );
}

/** The clock line printed before the tables. */
export function clockLine(c: ClockRecord): string {
  const sides = c.tfjs === null || c.tfjs === c.dawnet ? c.dawnet : `dawnet ${c.dawnet}, tfjs ${c.tfjs}`;
  const rounding = c.dawnet === 'wall' && c.tfjs !== 'gpu-timestamp' ? '' : c.quantized ? ', timestamps rounded to 65.5 us by Dawn' : ', timestamps unrounded';
  return `clock:   ${sides} (--clock ${c.option}${rounding}); wall times recorded too`;
}

export function peakLines(p: PeakResult): string {
  const on = (p.clock ?? 'wall') === 'wall' ? 'wall' : 'GPU-timed';
  return [
    `peak fma:  ${p.gflops.toFixed(1)} GFLOP/s  (fastest of ${p.fma.timing.samplesMs.length} ${on}: ${ms(p.fma.timing.minMs)} ms, median ${ms(p.fma.timing.medianMs)}; ${p.fma.threads} threads x ${p.fma.iters} rounds of ${p.fma.unroll ?? 1} fma(s) per chain)`,
    `peak copy: ${p.gbps.toFixed(1)} GB/s  (fastest of ${p.copy.timing.samplesMs.length} ${on}: ${ms(p.copy.timing.minMs)} ms, median ${ms(p.copy.timing.medianMs)}; ${(p.copy.bytes / 2 ** 20).toFixed(0)} MiB moved x ${p.copy.dispatches} by ${p.copy.threads} threads)`,
    ...(p.laneAccess ? [`per-lane accesses: ${laneAccessLine(p.laneAccess)}`] : []),
  ].join('\n');
}

/** Which FMA loop gave the peak, for the README: ' (4 fmas per chain a round)'; '' for records before the unroll was a choice. */
export function fmaUnrollNote(p: PeakResult): string {
  return p.fma.unroll === undefined ? '' : ` (the fastest FMA loop, ${p.fma.unroll} fma${p.fma.unroll === 1 ? '' : 's'} per chain a round)`;
}

/** The per-lane access rates in G accesses per second. */
export function laneAccessLine(r: LaneAccessRates): string {
  const g = (perUs: number) => (perUs / 1000).toFixed(2);
  return `${g(r.scalarLoads)} G float loads/s, ${g(r.vec4Loads)} G vec4 loads/s, ${g(r.scalarStores)} G float stores/s (a lane at a time)`;
}

/** 'mesa software llvmpipe...' -> 'mesa-software-llvmpipe...', short and file-safe. */
export function adapterSlug(name: string): string {
  const slug = name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '')
    .slice(0, 48)
    .replace(/-$/, '');
  return slug || 'unknown-adapter';
}

/** Which clock the run's times are on. */
export interface ClockRecord {
  /** --clock as given. */
  option: ClockOption;
  dawnet: Clock;
  /** null: tfjs was not run. */
  tfjs: Clock | null;
  /** Dawn rounded the timestamps to 2^16 ns (the bench turns that off when it creates the device). */
  quantized: boolean;
}

export interface BenchRecord {
  date: string;
  /** The commit the bench's bundle was built from (+changes: with uncommitted edits); absent from source runs and older records. */
  commit?: string;
  adapter: string;
  adapterReport: unknown;
  command: string;
  scale: number;
  timing: Pick<TimingOptions, 'reps' | 'warmup'> & Partial<TimingOptions>;
  /** Absent in records from before GPU timestamps: wall clock. */
  clock?: ClockRecord;
  tfjs: { version: string; adapter: string } | null;
  syncOverheadMs: { dawnet: number; tfjs: number | null };
  peak: PeakResult | null;
  rows: CaseResult[];
  /** End-to-end cases; absent in records written before they existed. */
  e2e?: E2eResult[];
  /** Cases not started because --budget ran out. */
  skipped?: string[];
  /**
   * Cases selected but not yet run when the record was saved: present only in a record whose run
   * stopped part-way (Ctrl-C, a crash), so it does not read as the whole selection.
   */
  unfinished?: string[];
  /** The tiled conv family's tile when --conv-tile chose one for every GEMM. */
  convTile?: string;
  /**
   * Without --conv-tile, how the tiled family took each GEMM's tile: 'by-conv', ruleGemmTile's
   * (by the conv and algorithm; from 2026-11-27); 'by-shape', tiledTileFor's (by N alone); absent
   * in records from before either, whose tiled family ran CONV_TILE everywhere.
   */
  convTileRule?: 'by-shape' | 'by-conv';
  /** --conv-algorithm when not auto (absent: convAlgorithm chose; in records before Winograd: direct). */
  convAlgorithm?: ConvAlgorithm;
  /** --fused-groups when given (absent: the fused Winograd kernel's default, 8). */
  fusedGroups?: number;
  /** Lanes per workgroup of the subgroup conv family, where it ran (absent in older records: 8). */
  convLanes?: number;
}

