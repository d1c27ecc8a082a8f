// A failed output check in the tables and the bars (bench/markdown.ts, bench/bars.ts), --compare
// on records whose ratios are on different clocks (bench/compare.ts), and the launch case's wall
// ratio in the tables: all on made-up records, no GPU work beyond the conv tile choice.

import { describe, expect, it } from 'vitest';
import { evaluateBars } from '../../bench/bars.js';
import { compareRecords, comparisonLines } from '../../bench/compare.js';
import type { CaseResult, SideResult } from '../../bench/harness.js';
import { markdownReport } from '../../bench/markdown.js';
import type { PeakResult } from '../../bench/peak.js';
import type { BenchRecord } from '../../bench/report.js';
import { summarise, type Clock } from '../../bench/timing.js';
import { useGpu } from '../helpers/gpu.js';

// convLimit reads the runtime's conv family (lavapipe: subgroup).
useGpu();

/** A side on `clock` whose median is `ms`, with a wall median of `wallMs` (five samples). */
function side(ms: number, clock: Clock = 'gpu-timestamp', wallMs = ms): SideResult {
  const t = (m: number) => summarise([m * 0.99, m * 0.995, m, m * 1.005, m * 1.01]);
  return { timing: t(ms), wall: t(wallMs), clock, rate: 1 / ms, pctPeak: 60 };
}

function row(id: string, dnMs: number, tfMs: number, over: Partial<CaseResult> = {}): CaseResult {
  const dawnet = side(dnMs);
  return {
    id, group: id.split('.')[0], shape: '2x16x16x64', metric: 'flops', work: 2 * 2 * 16 * 16 * 9 * 64 * 64,
    dawnet, tfjs: side(tfMs), ratio: tfMs / dnMs, ratioClock: 'gpu-timestamp', check: { maxRelErr: 1e-7, tolerance: 1e-4, ok: true }, ...over,
  };
}

function record(rows: CaseResult[], over: Partial<BenchRecord> = {}): BenchRecord {
  const timing = summarise([1]);
  const peak: PeakResult = {
    clock: 'gpu-timestamp', gflops: 80, gbps: 10,
    fma: { threads: 1, iters: 64, flops: 1, timing },
    copy: { bytes: 1, threads: 1, dispatches: 1, timing },
  };
  return {
    date: '2026-01-01T00:00:00.000Z', adapter: 'llvmpipe (test)', adapterReport: {}, command: 'dawnet bench', scale: 8,
    timing: { reps: 5, warmup: 1 }, clock: { option: 'auto', dawnet: 'gpu-timestamp', tfjs: 'gpu-timestamp', quantized: false },
    tfjs: { version: '4.22.0', adapter: 'test' }, syncOverheadMs: { dawnet: 0, tfjs: 0 }, peak, rows, e2e: [], ...over,
  };
}

const DIFF = { maxRelErr: 0.5, tolerance: 1e-4, ok: false, output: 'dgamma' };

describe('a failed output check', () => {
  it('is said beside the ratio in the markdown table', () => {
    const md = markdownReport(record([row('conv2d.forward/unet-l2', 1, 19, { check: DIFF }), row('conv2d.forward/unet-l3', 1, 5)]));
    expect(md).toMatch(/\| conv2d\.forward\/unet-l2 \|[^\n]*\| 19\.00x, outputs differ in dgamma \(5\.0e-1 > 0\.0001\) \|/);
    // The row that agreed carries no mark.
    expect(md).toMatch(/\| 5\.00x \|/);
    // Its table cell, and its two bar misses (speed, % of peak), each in the value and the limit.
    expect(md.match(/outputs differ/g)).toHaveLength(5);
  });

  it('meets no bar, and the miss says why', () => {
    const bars = evaluateBars(record([row('conv2d.forward/unet-l2', 1, 19, { check: DIFF }), row('conv2d.forward/unet-l3', 1, 5)]));
    const speed = bars.find((b) => b.name.startsWith('conv2d (all directions)'))!;
    expect(speed.checked).toBe(2);
    expect(speed.misses.map((m) => m.id)).toEqual(['conv2d.forward/unet-l2']);
    expect(speed.misses[0].value).toBe('19.00x, outputs differ');
    expect(speed.misses[0].limit).toMatch(/^outputs differ from tfjs's \(dgamma\): max rel err 5\.0e-1 > 0\.0001/);
    // % of peak: 60% meets the 50% bar, but not with outputs that differ.
    const peak = bars.find((b) => b.name.startsWith('conv2d forward, %'))!;
    expect(peak.misses.map((m) => m.id)).toEqual(['conv2d.forward/unet-l2']);
  });
});

describe('--compare across clocks', () => {
  it('divides ratios only on one clock: both rows\' wall ratios where the records\' clocks differ, and says so', () => {
    // Same code: on GPU time the ratio reads 3x, on wall clock 1x in both runs.
    const gpu = row('relu', 1, 3, { dawnet: side(1, 'gpu-timestamp', 2), tfjs: side(3, 'gpu-timestamp', 2) });
    const wall = row('relu', 2, 2, { dawnet: side(2, 'wall'), tfjs: side(2, 'wall'), ratio: 1, ratioClock: 'wall' });
    const c = compareRecords(record([gpu]), record([wall], { clock: { option: 'wall', dawnet: 'wall', tfjs: 'wall', quantized: false } }));
    const [x] = c.changes;
    expect(x.peerClock).toBe('wall');
    expect(x.peerSpeedup).toBeCloseTo(1, 10);
    expect(x.peerNote).toMatch(/ratios on different clocks \(BASE gpu-timestamp, NEW wall\): both wall ratios used/);
    expect(c.notes.join('\n')).toMatch(/clocks differ: BASE gpu-timestamp, NEW wall/);
    expect(comparisonLines(c, 'a.json', 'b.json')).toMatch(/relu .* 1\.00x +wall; vs tfjs: ratios on different clocks/);
    // On one clock, the records' own ratios, and no note.
    const same = compareRecords(record([gpu]), record([row('relu', 0.5, 3)])).changes[0];
    expect([same.peerSpeedup, same.peerClock, same.peerNote]).toEqual([2, 'gpu-timestamp', undefined]);
  });

  it('gives no ratio against tfjs where a record lacks the wall times to put both on one', () => {
    const gpu = row('relu', 1, 3);
    const noTfjsWall = row('relu', 2, 2, { dawnet: side(2, 'wall'), tfjs: { error: 'x' }, ratio: 1, ratioClock: 'wall' });
    const [x] = compareRecords(record([gpu]), record([noTfjsWall])).changes;
    expect([x.peerSpeedup, x.peerClock]).toEqual([null, null]);
    expect(x.peerNote).toMatch(/different clocks .*no wall ratio in both/);
  });
});

describe('the launch case on a GPU-timed run', () => {
  it('shows its wall-clock ratio marked, and the introduction says why', () => {
    const launch = row('launch/relu-1', 0.01, 0.03, { group: 'elementwise', metric: 'bytes', work: 8, dawnet: side(0.01, 'gpu-timestamp', 0.1), tfjs: side(0.03, 'gpu-timestamp', 0.08), ratio: 0.8, ratioClock: 'wall' });
    const md = markdownReport(record([launch]));
    expect(md).toMatch(/\| launch\/relu-1 \|[^\n]*\| 0\.80x \(wall clock\) \|/);
    expect(md).toMatch(/launch\/relu-1 divides wall medians too: on GPU time dawnet's sample is one pass/);
    // A record from before (its launch ratio on GPU time) reads as it did.
    expect(markdownReport(record([{ ...launch, ratio: 3, ratioClock: 'gpu-timestamp' }]))).not.toMatch(/divides wall medians too/);
  });
});
