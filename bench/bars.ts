// The issue's bars, checked against a run, with the figure that says what limits each miss:
//  - conv2d forward, backward input and backward weight at every U-Net shape: >= 3x tfjs
//  - the U-Net training step: >= 3x tfjs
//  - conv2d forward: >= 50% of the measured FMA peak on lavapipe (a CPU adapter), >= 40% on a GPU
//    (the issue's H100/H200 bar)
//  - peak GPU memory of each end-to-end case: <= 1.5x the theoretical minimum
// A row whose outputs differed from tfjs's (its check failed) meets none of them, whatever its
// figures: its time is of work that came out wrong. It is listed as a miss that says so.
// What limits a case is read off three floors under its median time: compute (flops at the FMA
// peak), memory (the bytes its operands must move at the measured copy bandwidth) and launch (the
// time one tiny op costs, the 'launch/relu-1' case, times the dispatches). A floor above half the
// time bounds it. On a CPU adapter a fourth floor counts the conv kernel's loads and stores at the
// measured per-lane access rates (bench/lane-access.ts); there they run on the same cores as the
// FMAs, so that floor and the compute floor add up. When no floor explains half the time, the
// kernel itself is what is slow, and the conv's GEMM figures
// say how it was spread: M x N x K, the workgroup tile, how many workgroups (with split-K slices
// for the weight gradient) and how full the edge tiles are. On a GPU, fewer workgroups than a
// GPU has multiprocessors (about 100) leaves it idle: that is called occupancy.

import { isCpuAdapterName } from '../src/gpu/adapter-kind.js';
import type { ConvDirection } from '../src/kernels/conv2d-gemm-common.js';
import type { ConvFamily } from '../src/kernels/conv2d-gemm.js';
import { SUBGROUP_LANES, subgroupTile, tileFit } from '../src/kernels/conv2d-subgroup.js';
import { CONV_TILE, parseGemmTile, tiledTileFor, type GemmTile } from '../src/kernels/conv2d-tiled.js';
import type { ConvGeometry } from '../src/kernels/conv2d.js';
import { ruleGemmTile } from '../src/kernels/conv2d-tile-rule.js';
import type { ConvAlgorithm } from '../src/kernels/conv2d-winograd-run.js';
import { GEMM_OUT_BLOCKS, GEMM_OUT_KERNEL } from '../src/kernels/conv2d-winograd-gemm-out.js';
import { columnTilesPerGroup, splitKCount } from '../src/kernels/conv2d-wgrad-split.js';
import { unetLevels, vggLayers, type ConvLayer } from './case.js';
import { convLaneAccesses, laneAccessMs } from './lane-access.js';
import { MEMORY_BAR, type E2eResult } from './e2e.js';
import { alternativesOf, timed, type CaseResult, type SideResult } from './harness.js';
import type { BenchRecord } from './report.js';
import type { KernelTime } from '../src/gpu/gpu-timer.js';

export const SPEED_BAR = 3;
/** % of the FMA peak the conv forwards must reach: on a CPU adapter, and on a GPU. */
const PEAK_BAR = { cpu: 50, gpu: 40 } as const;

/** A record's adapter ran on the CPU, by its name as the record gives it (what src/ runs the subgroup convs on). */
const isCpuRecord = (rec: BenchRecord): boolean => isCpuAdapterName(rec.adapter);

/** The forward's % of peak bar for the adapter a record was measured on. */
const peakBarOf = (rec: BenchRecord): number => (isCpuRecord(rec) ? PEAK_BAR.cpu : PEAK_BAR.gpu);

export interface Miss {
  id: string;
  /** The measured value, e.g. '2.41x' or '38.0%'. */
  value: string;
  /** The floors and what they say limits the case. */
  limit: string;
}

export interface Bar {
  name: string;
  target: string;
  checked: number;
  misses: Miss[];
  /** A figure beside the verdict that does not change it. */
  note?: string;
}


function convLayer(id: string, scale: number): ConvLayer | undefined {
  const name = id.slice(id.indexOf('/') + 1);
  return [...unetLevels(scale), ...vggLayers(scale)].find((l) => l.name === name);
}

function launchMs(rec: BenchRecord): number {
  const launch = rec.rows.find((r) => r.id === 'launch/relu-1');
  return launch && timed(launch.dawnet) ? launch.dawnet.timing.medianMs : rec.syncOverheadMs.dawnet;
}

function f(ms: number): string {
  return ms >= 10 ? ms.toFixed(1) : ms >= 0.1 ? ms.toFixed(2) : ms.toFixed(3);
}

export interface Floors {
  compute: number;
  memory: number | null;
  launch: number;
  /** Per-lane loads and stores at their measured rates (CPU adapters' subgroup convs). */
  access?: number | null;
}

/** The floors under one dawnet time and the verdict. */
export function limitOf(measuredMs: number, floors: Floors, gemm?: Gemm): string {
  const { compute, memory, launch } = floors;
  const access = floors.access ?? null;
  const parts = [
    `${f(measuredMs)} ms; floors: compute ${f(compute)}`,
    memory === null ? '' : `memory ${f(memory)}`,
    access === null ? '' : `lane accesses ${f(access)}`,
    `launch ${f(launch)} ms`,
  ];
  let verdict = 'the kernel: no floor explains half the time';
  if (gemm) verdict += ` (GEMM ${gemm.m}x${gemm.n}x${gemm.k} in ${gemm.workgroups} ${gemm.family} workgroups of ${gemm.tile}, tiles ${(100 * gemm.fill).toFixed(0)}% full)`;
  if (gemm && gemm.family === 'tiled' && gemm.workgroups < 100) verdict = `occupancy: ${gemm.workgroups} workgroups (GEMM ${gemm.m}x${gemm.n}x${gemm.k}, tiles of ${gemm.tile})`;
  if (launch >= 0.5 * measuredMs) verdict = 'launch overhead';
  else if (memory !== null && memory >= compute && memory >= 0.5 * measuredMs) verdict = 'memory bound';
  else if (compute >= 0.5 * measuredMs) verdict = 'compute bound';
  else if (access !== null && access + compute >= 0.5 * measuredMs) {
    const share = (100 * (access + compute)) / measuredMs;
    verdict = `loads and stores a lane at a time (this adapter runs each computed-address access lane by lane): with the FMAs at the peak rate they account for ${share.toFixed(0)}% of the time`;
  }
  return `${parts.filter((p) => p).join(', ')} -> ${verdict}`;
}

export interface Gemm {
  m: number;
  n: number;
  k: number;
  family: ConvFamily;
  tile: string;
  workgroups: number;
  /** Split-K slices (backward weight), 1 otherwise. */
  splits: number;
  /** Useful outputs over the outputs the tiles cover. */
  fill: number;
}

/** The implicit GEMM a 'same', stride-1 conv direction runs, as src/kernels/conv2d.ts launches it. */
export function convGemm(dir: ConvDirection, l: ConvLayer, family: ConvFamily, choice: TileChoice = tiledTileFor, lanes = SUBGROUP_LANES): Gemm {
  const pixels = l.n * l.h * l.w;
  const [m, n, k] =
    dir === 'forward' ? [pixels, l.cout, l.k * l.k * l.cin] : dir === 'backwardInput' ? [pixels, l.cin, l.k * l.k * l.cout] : [l.k * l.k * l.cin, l.cout, pixels];
  const g = layerGeometry(l);
  const tile = typeof choice === 'function' ? choice(dir, n, g, 'direct') : choice;
  const sg = subgroupTile(m, n, tileFit(dir, { cin: l.cin, cout: l.cout, wo: l.w }), lanes);
  const [bm, bn] = family === 'tiled' ? [tile.bm, tile.bn] : [sg.tm, sg.w * sg.tn];
  const splits = dir === 'backwardWeight' ? splitKCount(g, family, tile, lanes) : 1;
  const perGroup = dir === 'backwardWeight' ? columnTilesPerGroup(g, family, splits, lanes) : 1;
  const tiles = Math.ceil(m / bm) * Math.ceil(n / bn);
  const workgroups = Math.ceil(m / bm) * Math.ceil(Math.ceil(n / bn) / perGroup) * splits;
  return { m, n, k, family, tile: `${bm}x${bn}`, workgroups, splits, fill: (m * n) / (tiles * bm * bn) };
}

/** A benchmark layer's 'same', stride-1 conv geometry. */
function layerGeometry(l: ConvLayer): ConvGeometry {
  const pad = Math.floor((l.k - 1) / 2);
  return { n: l.n, h: l.h, w: l.w, cin: l.cin, kh: l.k, kw: l.k, cout: l.cout, sh: 1, sw: 1, padTop: pad, padBottom: l.k - 1 - pad, padLeft: pad, padRight: l.k - 1 - pad, ho: l.h, wo: l.w };
}

/** One tile for every GEMM, or the tile the GEMM of `n` columns that `algorithm` runs for conv `g` takes. */
type TileChoice = GemmTile | ((dir: ConvDirection, n: number, g: ConvGeometry, algorithm: ConvAlgorithm) => GemmTile);

/**
 * The tiles a record's tiled convs ran: --conv-tile's, the rule by conv (ruleGemmTile), the
 * earlier rule by N alone (tiledTileFor), or (older records) CONV_TILE.
 */
function recordTiles(rec: BenchRecord): TileChoice {
  if (rec.convTile) return parseGemmTile(rec.convTile);
  if (rec.convTileRule === 'by-conv') return (dir, _n, g, algorithm) => ruleGemmTile(dir, g, algorithm);
  return rec.convTileRule === 'by-shape' ? tiledTileFor : CONV_TILE;
}

function convFamilyOf(rec: BenchRecord): ConvFamily {
  return isCpuRecord(rec) ? 'subgroup' : 'tiled';
}

function convLimit(r: CaseResult, rec: BenchRecord): string {
  if (!timed(r.dawnet)) return 'dawnet failed';
  const l = convLayer(r.id, rec.scale);
  const peak = rec.peak;
  if (!l || !peak) return 'no peak measured';
  const bytes = 4 * (l.n * l.h * l.w * (l.cin + l.cout) + l.k * l.k * l.cin * l.cout);
  const dir = r.id.slice('conv2d.'.length, r.id.indexOf('/')) as ConvDirection;
  const lanes = rec.convLanes ?? SUBGROUP_LANES;
  const gemm = convGemm(dir, l, convFamilyOf(rec), recordTiles(rec), lanes);
  const rates = peak.laneAccess && peak.laneAccess.clock === peak.clock ? peak.laneAccess : null;
  const access = gemm.family === 'subgroup' && rates ? laneAccessMs(convLaneAccesses(dir, l, gemm.splits, lanes), rates) : null;
  const floors = { compute: r.work / (peak.gflops * 1e6), memory: bytes / (peak.gbps * 1e6), launch: launchMs(rec), access };
  const tfjsPct = timed(r.tfjs) && r.tfjs.pctPeak !== null ? `; tfjs runs at ${r.tfjs.pctPeak.toFixed(1)}% of peak` : '';
  const measured = r.dawnet.timing.medianMs;
  const winograd = r.algorithm === 'winograd' || r.algorithm === 'winograd-fused' || r.algorithm === 'winograd-uniform';
  // The uniform-weights, channel-lanes and row-patch kernels have no GEMM tiles: their floors alone.
  const kind = r.algorithm === 'winograd-fused' ? 'fused' : r.algorithm === 'winograd-uniform' ? 'uniform' : 'staged';
  const limit = winograd ? winogradLimit(measured, dir, l, rec, kind, r.kernels) : limitOf(measured, floors, r.algorithm === 'uniform-weights' || r.algorithm === 'channel-lanes' || r.algorithm === 'row-patch' ? undefined : gemm);
  return limit + operandProbeNote(r, rec) + alternativeNote(r) + tfjsPct;
}

/**
 * A Winograd F(4x4, 3x3) conv (src/kernels/conv2d-winograd.ts; fused in one kernel:
 * conv2d-winograd-fused.ts; staged with its GEMMs by the uniform-weights kernel, 'uniform'): its
 * rate counts the direct convolution's flops, so the floors are its own: the 36 GEMMs'
 * multiply-adds over the blocks at the FMA peak (staged: padded to whole GEMM tiles; fused:
 * 32-block tiles, the last one partial, and uniform: the blocks alone, so unpadded), and its memory
 * traffic at the copy bandwidth (input, output, the weights and their transform; staged and
 * uniform, also V and M written and read). Where its kernels show the staged GEMMs and output
 * transform run as one (conv2d-winograd-gemm-out.ts, lavapipe's), its GEMM rows are that kernel's
 * tiles of GEMM_OUT_BLOCKS blocks, and only V goes through memory.
 */
function winogradLimit(measuredMs: number, dir: ConvDirection, l: ConvLayer, rec: BenchRecord, kind: 'staged' | 'fused' | 'uniform', kernels?: KernelTime[]): string {
  const fused = kind === 'fused';
  const peak = rec.peak!;
  const byKernel = kernels && kernels.length > 1 ? `; by kernel (a pass each): ${kernels.map((k) => `${k.name.replace(/^conv2d\./, '')} ${f(k.ms)}`).join(', ')} ms` : '';
  const blocks = l.n * Math.ceil(l.h / 4) * Math.ceil(l.w / 4);
  if (dir === 'backwardWeight') return `${winogradWeightGradLimit(measuredMs, l, blocks, rec)}${byKernel}`;
  const [k, n] = dir === 'forward' ? [l.cin, l.cout] : [l.cout, l.cin];
  const gemmOut = kind === 'staged' && (kernels ?? []).some((kt) => kt.name === GEMM_OUT_KERNEL);
  const rows = gemmOut ? Math.ceil(blocks / GEMM_OUT_BLOCKS) * GEMM_OUT_BLOCKS : kind === 'staged' ? stagedGemmRows(blocks, k, n, dir, l, rec) : blocks;
  const flops = 2 * 36 * rows * k * n;
  const staging = fused ? 0 : gemmOut ? 2 * 36 * rows * k : 2 * 36 * rows * (k + n);
  const bytes = 4 * (l.n * l.h * l.w * (k + n) + staging + 45 * k * n);
  const dispatches = fused ? 2 : kind === 'uniform' ? 3 + 36 : gemmOut ? 3 : 4;
  const floors = { compute: flops / (peak.gflops * 1e6), memory: bytes / (peak.gbps * 1e6), launch: dispatches * launchMs(rec) };
  const share = (100 * flops) / (2 * l.n * l.h * l.w * 9 * k * n);
  const gemms = fused ? ' in one kernel' : kind === 'uniform' ? ' by the uniform-weights kernel' : gemmOut ? ' and the output transform in one kernel' : '';
  const what = `${fused ? 'fused ' : ''}Winograd F(4x4, 3x3), ${share.toFixed(0)}% of the direct multiply-adds (36 GEMMs ${rows}x${n}x${k}${gemms}, ${dispatches} dispatches)`;
  return `${what}: ${limitOf(measuredMs, floors)}${byKernel}`;
}

/**
 * The weight gradient by Winograd (src/kernels/conv2d-winograd-wgrad.ts): 36 GEMMs of Cin x Cout
 * whose K is the blocks (their K slices padded by less than one block each, left out here), and
 * x, dy, V and Z (written and read) through memory; four dispatches.
 */
function winogradWeightGradLimit(measuredMs: number, l: ConvLayer, blocks: number, rec: BenchRecord): string {
  const peak = rec.peak!;
  const flops = 2 * 36 * blocks * l.cin * l.cout;
  const bytes = 4 * (l.n * l.h * l.w * (l.cin + l.cout) + 2 * 36 * blocks * (l.cin + l.cout) + 9 * l.cin * l.cout);
  const floors = { compute: flops / (peak.gflops * 1e6), memory: bytes / (peak.gbps * 1e6), launch: 4 * launchMs(rec) };
  const share = (100 * flops) / (2 * l.n * l.h * l.w * 9 * l.cin * l.cout);
  return `Winograd F(4x4, 3x3) weight gradient, ${share.toFixed(0)}% of the direct multiply-adds (36 GEMMs ${l.cin}x${l.cout}x${blocks}, 4 dispatches): ${limitOf(measuredMs, floors)}`;
}

/** The staged Winograd's GEMM rows per ξ: the blocks padded to whole tiles of the record's family. */
function stagedGemmRows(blocks: number, k: number, n: number, dir: 'forward' | 'backwardInput', l: ConvLayer, rec: BenchRecord): number {
  const choice = recordTiles(rec);
  const bm = convFamilyOf(rec) === 'tiled'
    ? (typeof choice === 'function' ? choice(dir, n, layerGeometry(l), 'winograd') : choice).bm
    : subgroupTile(blocks, n, tileFit('forward', { cin: k, cout: n, wo: 1 }), rec.convLanes ?? SUBGROUP_LANES).tm;
  return Math.ceil(blocks / bm) * bm;
}

/**
 * The other algorithms, timed beside the case (BenchCase.alternatives), and where tfjs was timed
 * on the same clock, what each would make the ratio against it.
 */
function alternativeNote(r: CaseResult): string {
  if (!timed(r.dawnet)) return '';
  const ran = r.dawnet.timing.medianMs;
  const tfjsMs = timed(r.tfjs) && r.tfjs.clock === r.dawnet.clock ? r.tfjs.timing.medianMs : null;
  const vsTfjs = (ms: number) => (tfjsMs === null ? '' : `, ${(tfjsMs / ms).toFixed(2)}x tfjs`);
  return alternativesOf(r).map((a) => `; ${a.algorithm} beside it: ${f(a.ms)} ms (${(a.ms / (a.pairedMs ?? ran)).toFixed(2)}x the time${a.pairedMs === undefined ? '' : ' interleaved with it'}${vsTfjs(a.ms)})`).join('');
}

/**
 * What the operand-load probe measured (bench/harness.ts timeOperandProbe): the same kernels with
 * their loads replaced by register values, timed in the same run, and the share of the time the
 * loads account for.
 */
function operandProbeNote(r: CaseResult, rec: BenchRecord): string {
  const ms = r.operandsInRegistersMs;
  if (!timed(r.dawnet) || ms === undefined || ms <= 0) return '';
  const pct = rec.peak && rec.peak.clock === r.dawnet.clock ? ` (${((100 * r.work) / (ms * 1e6) / rec.peak.gflops).toFixed(1)}% of peak)` : '';
  const share = 100 * (1 - ms / r.dawnet.timing.medianMs);
  const staged = convFamilyOf(rec) === 'tiled' ? ' (still staged in workgroup memory)' : '';
  return `; with its operand loads replaced by register values${staged} the same kernels ran in ${ms.toFixed(2)} ms${pct}: loading the operands takes ${share.toFixed(0)}% of the time`;
}

function stepLimit(r: E2eResult, rec: BenchRecord): string {
  if (!timed(r.dawnet) || !rec.peak) return 'no timing or no peak';
  const dispatches = r.memory && 'dispatches' in r.memory ? r.memory.dispatches : 0;
  const floors = { compute: r.flops / (rec.peak.gflops * 1e6), memory: null, launch: dispatches * launchMs(rec) };
  return `${limitOf(r.dawnet.timing.medianMs, floors)} (${dispatches} dispatches)`;
}

/** dawnet's rate against the FMA loop re-timed right after its samples, or null. */
function pctBeside(r: CaseResult): number | null {
  return timed(r.dawnet) && r.peakBeside ? (100 * r.dawnet.rate) / r.peakBeside : null;
}

function besideNote(r: CaseResult): string {
  const pct = pctBeside(r);
  return pct === null ? '' : `; the FMA loop re-timed right after it ran at ${r.peakBeside!.toFixed(1)} GFLOP/s, ${pct.toFixed(1)}% of that`;
}

/**
 * How the cases fare against the FMA loop re-timed beside each (the machine's speed drifts on a
 * shared VM): a figure for the reader, the verdict stays on the run's peak.
 */
function besideSummary(rows: CaseResult[], bar: number): { note?: string } {
  const pcts = rows.map(pctBeside).filter((p): p is number => p !== null);
  if (!pcts.length) return {};
  const met = pcts.filter((p) => p >= bar).length;
  return { note: `against the FMA loop re-timed right after each case: ${met} of ${pcts.length} at ${bar}% or more (${Math.min(...pcts).toFixed(1)}-${Math.max(...pcts).toFixed(1)}%)` };
}

function ratioValue(r: CaseResult): string {
  return r.ratio === null ? (r.tfjs && 'error' in r.tfjs ? 'tfjs failed' : 'no tfjs') : `${r.ratio.toFixed(2)}x`;
}

/** The row's outputs differed from tfjs's: whatever its figures, it meets no bar. */
const checkFailed = (r: CaseResult): boolean => !!r.check && !r.check.ok;

/** A miss's value and limit, led by the failed check where there was one. */
function missOf(r: CaseResult, value: string, limit: () => string): Miss {
  if (!checkFailed(r)) return { id: r.id, value, limit: limit() };
  const c = r.check!;
  const where = c.output ? ` (${c.output})` : '';
  return { id: r.id, value: `${value}, outputs differ`, limit: `outputs differ from tfjs's${where}: max rel err ${c.maxRelErr.toExponential(1)} > ${c.tolerance}, so the time is of work that came out wrong; ${limit()}` };
}

export function evaluateBars(rec: BenchRecord): Bar[] {
  // A speed bar counts the cases tfjs was run for (a tfjs failure is a miss, no tfjs is no measurement).
  const convUnet = rec.rows.filter((r) => r.group === 'conv2d' && /\/unet-l\d+$/.test(r.id) && r.tfjs !== null);
  // The % of peak bar counts nothing without a peak (--no-peak): not measured, not missed.
  const convForward = rec.peak ? rec.rows.filter((r) => r.group === 'conv2d' && r.id.startsWith('conv2d.forward/')) : [];
  const e2e = rec.e2e ?? [];
  const unetSteps = e2e.filter((r) => r.id.startsWith('unet.train/') && r.tfjs !== null);
  const withMemory = e2e.filter((r) => r.memory && 'ratio' in r.memory);
  const peakBar = peakBarOf(rec);
  return [
    {
      name: 'conv2d (all directions) at the U-Net shapes vs tfjs',
      target: `>= ${SPEED_BAR}x`,
      checked: convUnet.length,
      misses: convUnet.filter((r) => !(r.ratio !== null && r.ratio >= SPEED_BAR) || checkFailed(r)).map((r) => missOf(r, ratioValue(r), () => convLimit(r, rec))),
    },
    {
      name: 'U-Net training step vs tfjs',
      target: `>= ${SPEED_BAR}x`,
      checked: unetSteps.length,
      misses: unetSteps.filter((r) => !(r.ratio !== null && r.ratio >= SPEED_BAR) || checkFailed(r)).map((r) => missOf(r, ratioValue(r), () => stepLimit(r, rec))),
    },
    {
      name: 'conv2d forward, % of the FMA peak',
      target: `>= ${peakBar}%`,
      checked: convForward.length,
      misses: convForward
        .filter((r) => !(timed(r.dawnet) && r.dawnet.pctPeak !== null && r.dawnet.pctPeak >= peakBar) || checkFailed(r))
        .map((r) => missOf(r, timed(r.dawnet) && r.dawnet.pctPeak !== null ? `${r.dawnet.pctPeak.toFixed(1)}%` : '-', () => `${convLimit(r, rec)}${besideNote(r)}`)),
      ...besideSummary(convForward, peakBar),
    },
    {
      name: 'peak GPU memory / theoretical minimum',
      target: `<= ${MEMORY_BAR}x`,
      checked: withMemory.length,
      misses: withMemory
        .filter((r) => (r.memory && 'ratio' in r.memory && r.memory.ratio > MEMORY_BAR) || checkFailed(r))
        .map((r) => {
          const m = r.memory as Extract<E2eResult['memory'], { ratio: number }>;
          const top = m.atPeak.slice(0, 4).map((g) => `${g.label} ${mib(g.bytes)} (${g.count})`);
          return missOf(r, `${m.ratio.toFixed(2)}x`, () => `live at the peak besides the ${mib(m.baselineBytes)} held before the step: ${top.join(', ')}; dawnet's own floor ${mib(m.dawnetFloorBytes)}`);
        }),
    },
  ];
}

export function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(bytes >= 10 * 2 ** 20 ? 0 : 1)} MiB`;
}

export function barLines(bars: Bar[]): string {
  const out: string[] = [];
  for (const b of bars) {
    const status = b.checked === 0 ? 'not measured' : b.misses.length === 0 ? `met by all ${b.checked}` : `missed by ${b.misses.length} of ${b.checked}`;
    out.push(`${b.name} (${b.target}): ${status}`);
    if (b.note) out.push(`  (${b.note})`);
    for (const m of b.misses) out.push(`  ${m.id.padEnd(34)} ${m.value.padStart(9)}  ${m.limit}`);
  }
  return out.join('\n');
}
