// The bars of bench/bars.ts on made-up records (no GPU work): which cases meet each bar, the
// floors named for a miss (the per-lane access floor on a CPU adapter), and the conv forward's
// figure against the FMA loop re-timed beside each case, which is shown but leaves the verdict on
// the run's peak; the operand-load probe's figure where a row has it.

import { describe, expect, it } from 'vitest';
import { evaluateBars } from '../../bench/bars.js';
import type { CaseResult, SideResult } from '../../bench/harness.js';
import type { PeakResult } from '../../bench/peak.js';
import type { BenchRecord } from '../../bench/report.js';
import { summarise } from '../../bench/timing.js';
import { markdownReport } from '../../bench/markdown.js';
import { useGpu } from '../helpers/gpu.js';

// convGemm and the tile choice read the runtime's conv family (lavapipe: subgroup).
useGpu();

const PEAK_GFLOPS = 80;

function side(ms: number, flops: number): SideResult {
  const t = summarise([ms, ms, ms]);
  const rate = flops / (ms * 1e6);
  return { timing: t, wall: t, clock: 'gpu-timestamp', rate, pctPeak: (100 * rate) / PEAK_GFLOPS };
}

/** A conv forward row at U-Net level l (scale 8) taking `ms`, with an optional re-timed peak. */
function convRow(level: number, ms: number, tfjsMs: number, peakBeside?: number): CaseResult {
  const [h, c] = [[32, 32], [16, 64], [8, 128], [4, 256], [2, 512]][level - 1];
  const flops = 2 * 2 * h * h * 9 * c * c;
  return {
    id: `conv2d.forward/unet-l${level}`,
    group: 'conv2d',
    shape: '',
    metric: 'flops',
    work: flops,
    dawnet: side(ms, flops),
    tfjs: side(tfjsMs, flops),
    ratio: tfjsMs / ms,
    ratioClock: 'gpu-timestamp',
    check: null,
    ...(peakBeside ? { peakBeside } : {}),
  };
}

function record(rows: CaseResult[]): BenchRecord {
  const timing = summarise([1]);
  const peak: PeakResult = {
    clock: 'gpu-timestamp',
    gflops: PEAK_GFLOPS,
    gbps: 10,
    fma: { threads: 1, iters: 64, flops: 1, timing },
    copy: { bytes: 1, threads: 1, dispatches: 1, timing },
    laneAccess: { clock: 'gpu-timestamp', scalarLoads: 3000, vec4Loads: 1200, scalarStores: 2600 },
  };
  return {
    date: '2026-01-01T00:00:00.000Z', adapter: 'llvmpipe (test)', adapterReport: {}, command: 'dawnet bench', scale: 8,
    timing: { reps: 3, warmup: 1 }, tfjs: null, syncOverheadMs: { dawnet: 0, tfjs: null }, peak, rows, e2e: [],
  };
}

describe('bench bars', () => {
  it('counts misses on the run peak and names the lane-access floor for a CPU adapter', () => {
    // l1: 37.7 MFLOP in 1.2 ms = 31 GFLOP/s, 39% of 80; l3 in 0.8 ms = 47 GFLOP/s, 59%.
    const bars = evaluateBars(record([convRow(1, 1.2, 6), convRow(3, 0.8, 1.6)]));
    const speed = bars.find((b) => b.name.startsWith('conv2d (all directions)'))!;
    expect(speed.checked).toBe(2);
    expect(speed.misses.map((m) => m.id)).toEqual(['conv2d.forward/unet-l3']); // 1.6 / 0.8 = 2x < 3x
    const pct = bars.find((b) => b.name.startsWith('conv2d forward, % of the FMA peak'))!;
    expect(pct.misses.map((m) => [m.id, m.value])).toEqual([['conv2d.forward/unet-l1', '39.3%']]);
    expect(pct.misses[0].limit).toMatch(/lane accesses [\d.]+/);
    expect(pct.note).toBeUndefined();
  });

  it('holds a GPU to 40% of the FMA peak and a CPU adapter to 50%, and names the tiles a GPU ran', () => {
    // l3 in 0.8 ms = 59% and l2 (37.7 MFLOP like every level) in 1.1 ms = 43% of 80 GFLOP/s.
    const rows = [{ ...convRow(2, 1.1, 2), operandsInRegistersMs: 0.7 }, convRow(3, 0.8, 6)];
    const peakBar = (rec: BenchRecord) => evaluateBars(rec).find((b) => b.name.startsWith('conv2d forward, % of the FMA peak'))!;
    const cpu = peakBar(record(rows));
    expect([cpu.target, cpu.misses.map((m) => m.id)]).toEqual(['>= 50%', ['conv2d.forward/unet-l2']]);
    const gpuRecord = { ...record(rows), adapter: 'nvidia nvidia-h200 (test)', convTileRule: 'by-shape' as const };
    const gpu = peakBar(gpuRecord);
    expect([gpu.target, gpu.misses]).toEqual(['>= 40%', []]);
    // On a GPU the convs ran the tiled family with tiledTileFor's tiles: l2 (N = 64) 128x64
    // (at scale 8, 4 workgroups: too few for a GPU, which the verdict names).
    const speed = evaluateBars(gpuRecord).find((b) => b.name.startsWith('conv2d (all directions)'))!;
    const l2 = speed.misses.find((m) => m.id === 'conv2d.forward/unet-l2')!.limit;
    expect(l2).toMatch(/tiles of 128x64/);
    // The tiled kernels' probe keeps staging the values in workgroup memory, and says so.
    expect(l2).toMatch(/register values \(still staged in workgroup memory\) the same kernels ran in 0\.70 ms/);
    expect(peakBar(record(rows)).misses[0].limit).toMatch(/register values the same kernels ran in 0\.70 ms/);
  });

  it('names Winograd, its floors, kernels and the direct conv beside it where a row ran it', () => {
    // l1 at 1.5 ms against tfjs's 3 ms (2x, a miss) on a GPU record; 128-row tiles (N = 32):
    // 2 x 32 x 32 outputs in 4x4 blocks = 128 blocks, one tile; 36·128·32·32 multiply-adds.
    const row: CaseResult = {
      ...convRow(1, 1.5, 3),
      algorithm: 'winograd',
      alternatives: [{ algorithm: 'direct', ms: 2.4 }, { algorithm: 'winograd-fused', ms: 1.2 }],
      kernels: [
        { name: 'conv2d.forwardBatched', dispatches: 1, ms: 0.9 },
        { name: 'conv2d.winogradInput', dispatches: 1, ms: 0.3 },
      ],
    };
    const rec = { ...record([row]), adapter: 'nvidia nvidia-h200 (test)', convTileRule: 'by-shape' as const };
    const speed = evaluateBars(rec).find((b) => b.name.startsWith('conv2d (all directions)'))!;
    const limit = speed.misses.find((m) => m.id === 'conv2d.forward/unet-l1')!.limit;
    expect(limit).toMatch(/^Winograd F\(4x4, 3x3\), 25% of the direct multiply-adds \(36 GEMMs 128x32x32, 4 dispatches\): 1\.50 ms; floors: compute /);
    expect(limit).toMatch(/by kernel \(a pass each\): forwardBatched 0\.90, winogradInput 0\.30 ms/);
    expect(limit).toMatch(/direct beside it: 2\.40 ms \(1\.60x the time, 1\.25x tfjs\); winograd-fused beside it: 1\.20 ms \(0\.80x the time, 2\.50x tfjs\)/);
    expect(markdownReport(rec)).toContain('| conv2d.forward/unet-l1 (Winograd) |');
  });

  it("pads Winograd's GEMM rows to the tile each record's rule gave", () => {
    // l3 at scale 8: 2 x 8 x 8 outputs = 8 blocks, N = 128. By N alone (tiledTileFor) a 128x128
    // tile; by the conv (ruleGemmTile) 36 such tiles are few, so 64x64.
    const row: CaseResult = { ...convRow(3, 1.5, 3), algorithm: 'winograd' };
    const gemms = (rule: 'by-shape' | 'by-conv') => {
      const rec = { ...record([row]), adapter: 'nvidia nvidia-h200 (test)', convTileRule: rule };
      return /36 GEMMs (\d+)x128x128/.exec(evaluateBars(rec).find((b) => b.name.startsWith('conv2d (all directions)'))!.misses[0].limit)?.[1];
    };
    expect([gemms('by-shape'), gemms('by-conv')]).toEqual(['128', '64']);
  });

  it('gives the Winograd weight gradient its own GEMMs: Cin x Cout, K the blocks', () => {
    // l1's weight gradient at 3 ms against tfjs's 5 ms (a miss): 128 blocks, 36·32·32·128 multiply-adds.
    const row: CaseResult = { ...convRow(1, 3, 5), id: 'conv2d.backwardWeight/unet-l1', algorithm: 'winograd', alternatives: [{ algorithm: 'direct', ms: 2 }] };
    const rec = { ...record([row]), adapter: 'nvidia nvidia-h200 (test)', convTileRule: 'by-shape' as const };
    const limit = evaluateBars(rec).find((b) => b.name.startsWith('conv2d (all directions)'))!.misses.find((m) => m.id === 'conv2d.backwardWeight/unet-l1')!.limit;
    expect(limit).toMatch(/^Winograd F\(4x4, 3x3\) weight gradient, 25% of the direct multiply-adds \(36 GEMMs 32x32x128, 4 dispatches\): 3\.00 ms; floors: compute /);
    expect(limit).toMatch(/; direct beside it: 2\.00 ms \(0\.67x the time, 2\.50x tfjs\)/);
    expect(markdownReport(rec)).toContain('| conv2d.backwardWeight/unet-l1 (Winograd) |');
  });

  it("reads the GEMMs and output transform in one kernel (lavapipe's) from a conv's kernels: 16-block tiles, 3 dispatches, only V through memory", () => {
    // l1 at scale 8: 128 blocks, 36·128·32·32 multiply-adds either way; V is 36·128·32 floats.
    const kernels = [
      { name: 'conv2d.winogradGemmOut', dispatches: 1, ms: 1.1 },
      { name: 'conv2d.winogradInput', dispatches: 1, ms: 0.3 },
    ];
    const row: CaseResult = { ...convRow(1, 1.5, 3), algorithm: 'winograd', kernels };
    const limitOf = (r: CaseResult) => evaluateBars(record([r])).find((b) => b.name.startsWith('conv2d (all directions)'))!.misses[0].limit;
    const oneKernel = limitOf(row);
    expect(oneKernel).toMatch(/^Winograd F\(4x4, 3x3\), 25% of the direct multiply-adds \(36 GEMMs 128x32x32 and the output transform in one kernel, 3 dispatches\): 1\.50 ms; floors: compute /);
    const staged = limitOf({ ...row, kernels: [{ name: 'conv2d.forwardBatchedSubgroup', dispatches: 1, ms: 1.1 }, ...kernels.slice(1)] });
    expect(staged).toMatch(/\(36 GEMMs 128x32x32, 4 dispatches\)/);
    // Memory floor: x and y (2·32·32·64 floats), 45·32·32 for w and U, and V twice (one kernel)
    // or V and M twice (staged), at the record's copy bandwidth.
    const memoryMs = (text: string) => Number(/memory ([\d.]+)/.exec(text)![1]);
    const base = 2 * 32 * 32 * 64 + 45 * 32 * 32;
    const ratio = (base + 2 * 36 * 128 * 32) / (base + 2 * 36 * 128 * 64);
    expect(memoryMs(oneKernel) / memoryMs(staged)).toBeCloseTo(ratio, 1);
  });

  it('gives Winograd with uniform-weights GEMMs its own floors: unpadded blocks, 39 dispatches', () => {
    const row: CaseResult = { ...convRow(1, 1.5, 3), algorithm: 'winograd-uniform' };
    const rec = { ...record([row]), adapter: 'nvidia nvidia-h200 (test)', convTileRule: 'by-shape' as const };
    const misses = evaluateBars(rec).find((b) => b.name.startsWith('conv2d (all directions)'))!.misses;
    expect(misses[0].limit).toMatch(/^Winograd F\(4x4, 3x3\), 25% of the direct multiply-adds \(36 GEMMs 128x32x32 by the uniform-weights kernel, 39 dispatches\): 1\.50 ms; floors: compute /);
    expect(markdownReport(rec)).toContain('| conv2d.forward/unet-l1 (Winograd, uniform-weights GEMMs) |');
  });

  it('gives the fused Winograd its own floors, and reads records from before alternatives were a list', () => {
    // The same l1 by fused Winograd: 128 blocks unpadded, one kernel; a record of 2026-11-26 with
    // its single `alternative`.
    const fused: CaseResult = { ...convRow(1, 1.5, 3), algorithm: 'winograd-fused' };
    const old: CaseResult = { ...convRow(2, 1.5, 3), algorithm: 'winograd', alternative: { algorithm: 'direct', ms: 3 } };
    const rec = { ...record([fused, old]), adapter: 'nvidia nvidia-h200 (test)', convTileRule: 'by-shape' as const };
    const misses = evaluateBars(rec).find((b) => b.name.startsWith('conv2d (all directions)'))!.misses;
    expect(misses.find((m) => m.id === 'conv2d.forward/unet-l1')!.limit).toMatch(/^fused Winograd F\(4x4, 3x3\), 25% of the direct multiply-adds \(36 GEMMs 128x32x32 in one kernel, 2 dispatches\): 1\.50 ms; floors: compute /);
    expect(misses.find((m) => m.id === 'conv2d.forward/unet-l2')!.limit).toMatch(/; direct beside it: 3\.00 ms \(2\.00x the time, 1\.00x tfjs\)/);
    const md = markdownReport(rec);
    expect(md).toContain('| conv2d.forward/unet-l1 (fused Winograd) |');
    // The old record's one alternative gets the column; the row without any a dash.
    expect(md).toContain('| other algorithms beside it (dawnet) |');
    // (A wall-clock record: no wall column after it; test/bench/harness.test.ts has one.)
    expect(md).toMatch(/\| conv2d\.forward\/unet-l2 \(Winograd\) \|.*\| direct 3\.00 ms \|$/m);
    expect(md).toMatch(/\| conv2d\.forward\/unet-l1 \(fused Winograd\) \|.*\| - \|$/m);
  });

  it('shows the cases against the FMA loop re-timed beside them, without changing the verdict', () => {
    // l1 at 39% of the run's 80 GFLOP/s, but the loop re-timed beside it ran at 60: 52% of that.
    const rec = record([convRow(1, 1.2, 6, 60), convRow(3, 0.8, 6, 79)]);
    const pct = evaluateBars(rec).find((b) => b.name.startsWith('conv2d forward, % of the FMA peak'))!;
    expect(pct.misses.map((m) => m.id)).toEqual(['conv2d.forward/unet-l1']);
    expect(pct.misses[0].limit).toMatch(/re-timed right after it ran at 60\.0 GFLOP\/s, 52\.4% of that/);
    expect(pct.note).toMatch(/2 of 2 at 50% or more \(52\.4-59\.7%\)/);
    expect(markdownReport(rec)).toContain('(against the FMA loop re-timed right after each case: 2 of 2');
  });

  it('gives what the operand-load probe measured: the time without the loads and their share', () => {
    // l1 in 1.2 ms, 0.45 ms with the loads replaced: 37.7 MFLOP / 0.45 ms = 83.9 GFLOP/s, 104.9%
    // of 80; the loads take 1 - 0.45 / 1.2 = 62.5% of the time.
    const row = { ...convRow(1, 1.2, 6), operandsInRegistersMs: 0.45 };
    const pct = evaluateBars(record([row])).find((b) => b.name.startsWith('conv2d forward, % of the FMA peak'))!;
    expect(pct.misses[0].limit).toMatch(/replaced by register values the same kernels ran in 0\.45 ms \(104\.9% of peak\): loading the operands takes 63% of the time/);
    const without = evaluateBars(record([convRow(1, 1.2, 6)])).find((b) => b.name.startsWith('conv2d forward, % of the FMA peak'))!;
    expect(without.misses[0].limit).not.toMatch(/register values/);
  });
});
