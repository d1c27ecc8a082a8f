// `dawnet bench --compare` (bench/compare.ts) on made-up records: the speedup and its verdict from
// the runs' interquartile ranges, the speedup against tfjs staying put when the whole machine ran
// slower in one run, cases left out with the reason, notes on what differs between the runs; and
// the option's parsing (bench/options.ts).

import { describe, expect, it } from 'vitest';
import { compareRecords, comparisonLines, verdict } from '../../bench/compare.js';
import type { CaseResult, SideResult } from '../../bench/harness.js';
import { parseBenchArgs } from '../../bench/options.js';
import type { BenchRecord } from '../../bench/report.js';
import { summarise } from '../../bench/timing.js';

/** A side whose samples are `ms` each, spread by ±`spread` (five samples). */
function side(ms: number, spread = 0.01): SideResult {
  const t = summarise([ms - spread, ms - spread / 2, ms, ms + spread / 2, ms + spread]);
  return { timing: t, wall: t, clock: 'gpu-timestamp', rate: 1 / ms, pctPeak: null };
}

function row(id: string, dnMs: number, tfMs: number | null, shape = '2x8x8x4'): CaseResult {
  return {
    id, group: 'g', shape, metric: 'flops', work: 1,
    dawnet: side(dnMs), tfjs: tfMs === null ? null : side(tfMs),
    ratio: tfMs === null ? null : tfMs / dnMs, ratioClock: 'gpu-timestamp', check: null,
  };
}

function record(rows: CaseResult[], over: Partial<BenchRecord> = {}): BenchRecord {
  return {
    date: '2026-01-01T00:00:00.000Z', adapter: 'llvmpipe (test)', adapterReport: {}, command: 'dawnet bench', scale: 8,
    timing: { reps: 5, warmup: 1 }, tfjs: { version: '4.22.0', adapter: 'test' }, syncOverheadMs: { dawnet: 0, tfjs: 0 },
    peak: null, rows, e2e: [], ...over,
  };
}

describe('bench --compare', () => {
  it('calls a change only when the interquartile ranges do not overlap', () => {
    const t = (ms: number, spread: number) => side(ms, spread).timing;
    expect(verdict(t(1, 0.01), t(0.8, 0.01))).toBe('faster');
    expect(verdict(t(1, 0.01), t(1.2, 0.01))).toBe('slower');
    // 1.0 vs 0.95 with quartiles at ±0.05: [0.95, 1.05] and [0.90, 1.00] overlap.
    expect(verdict(t(1, 0.1), t(0.95, 0.1))).toBe('within spread');
    // Two samples a side: their quartiles are the samples, so no verdict however far apart.
    expect(verdict(summarise([1, 1.01]), summarise([0.5, 0.51]))).toBe('few samples');
  });

  it('gives each case its speedup and its speedup against tfjs', () => {
    // conv: dawnet 2 -> 1 ms while tfjs stayed at 8: 2x either way. relu: the whole machine ran
    // 1.5x slower in NEW (dawnet 1 -> 1.5, tfjs 3 -> 4.5): 0.67x on its own, 1.00x against tfjs.
    const base = record([row('conv', 2, 8), row('relu', 1, 3)]);
    const next = record([row('conv', 1, 8), row('relu', 1.5, 4.5)]);
    const c = compareRecords(base, next);
    const [conv, relu] = c.changes;
    expect([conv.id, conv.speedup, conv.verdict]).toEqual(['conv', 2, 'faster']);
    expect(conv.peerSpeedup).toBeCloseTo(2, 10);
    expect(relu.speedup).toBeCloseTo(1 / 1.5, 10);
    expect(relu.verdict).toBe('slower');
    expect(relu.peerSpeedup).toBeCloseTo(1, 10);
    expect(c.skipped).toEqual([]);
    expect(c.notes).toEqual([]);
    const text = comparisonLines(c, 'a.json', 'b.json');
    expect(text).toMatch(/^conv +2\.00 +1\.00 +2\.00x +faster +2\.00x  gpu-timestamp$/m);
    expect(text).toContain('2 case(s): 1 faster, 1 slower, 0 within');
    expect(text).toContain(`geometric mean speedup ${Math.sqrt(2 / 1.5).toFixed(2)}x`);
  });

  it('leaves out cases it cannot compare and says why; notes what differs between the runs', () => {
    const base = record([row('a', 1, 2), row('b', 1, null, '2x8x8x4'), row('gone', 1, 1)]);
    const next = record([row('a', 1, null), row('b', 1, null, '1x4x4x4'), row('new', 1, 1)], { adapter: 'other', scale: 16, tfjs: null });
    const c = compareRecords(base, next);
    expect(c.changes.map((x) => [x.id, x.peerSpeedup])).toEqual([['a', null]]);
    expect(c.skipped).toEqual(['b: shape 2x8x8x4 in BASE, 1x4x4x4 in NEW', 'new: only in NEW', 'gone: only in BASE']);
    expect(c.notes).toEqual([
      'adapters differ: BASE llvmpipe (test), NEW other',
      'scales differ: BASE 8, NEW 16 (cases of another shape are not compared)',
      "tfjs ran in BASE only: dawnet's samples there alternated with tfjs's; runs made the same way compare best",
    ]);
  });

  it('compares on the wall clock when the two runs timed dawnet on different clocks', () => {
    const base = record([row('a', 1, null)]);
    const nextRow = row('a', 0.5, null);
    const wall = summarise([0.7, 0.7, 0.7]);
    nextRow.dawnet = { ...(nextRow.dawnet as SideResult), clock: 'wall', timing: wall, wall };
    const [a] = compareRecords(base, record([nextRow])).changes;
    expect([a.clock, a.nextMs]).toEqual(['wall', 0.7]);
  });

  it('parses --compare BASE NEW and refuses it with one file', () => {
    expect(parseBenchArgs(['--compare', 'a.json', 'b.json'])!.compare).toEqual(['a.json', 'b.json']);
    expect(parseBenchArgs([])!.compare).toBeNull();
    expect(parseBenchArgs([])!.convAlgorithm).toBe('auto');
    expect(parseBenchArgs(['--conv-algorithm', 'winograd'])!.convAlgorithm).toBe('winograd');
    expect(parseBenchArgs(['--conv-algorithm', 'winograd-fused'])!.convAlgorithm).toBe('winograd-fused');
    expect(parseBenchArgs(['--conv-algorithm', 'uniform-weights'])!.convAlgorithm).toBe('uniform-weights');
    expect(() => parseBenchArgs(['--conv-algorithm', 'fft'])).toThrow(/--conv-algorithm needs auto, direct, winograd, winograd-fused, uniform-weights, winograd-uniform, channel-lanes, row-patch or winograd-f2, got 'fft'/);
    expect([parseBenchArgs([])!.beside, parseBenchArgs(['--no-beside'])!.beside]).toEqual([true, false]);
    expect([parseBenchArgs([])!.fusedGroups, parseBenchArgs(['--fused-groups', '4'])!.fusedGroups]).toEqual([null, 4]);
    expect(() => parseBenchArgs(['--fused-groups', '3'])).toThrow(/--fused-groups needs 1, 2, 4 or 8, got '3'/);
    expect(() => parseBenchArgs(['--compare', 'a.json'])).toThrow(/needs two record files/);
  });
});
