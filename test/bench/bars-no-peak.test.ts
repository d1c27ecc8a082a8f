// A run without a peak (--no-peak) measures no % of peak: its conv forward bar reads 'not
// measured', as the speed bars do without tfjs, instead of 'missed by N of N' with 'no peak
// measured' against each case.

import { describe, expect, it } from 'vitest';
import { barLines, evaluateBars } from '../../bench/bars.js';
import type { CaseResult, SideResult } from '../../bench/harness.js';
import type { BenchRecord } from '../../bench/report.js';
import { summarise } from '../../bench/timing.js';

function side(ms: number, flops: number): SideResult {
  const t = summarise([ms, ms, ms]);
  return { timing: t, wall: t, clock: 'gpu-timestamp', rate: flops / (ms * 1e6), pctPeak: null };
}

const flops = 2 * 2 * 16 * 16 * 9 * 64 * 64;
const row: CaseResult = {
  id: 'conv2d.forward/unet-l2', group: 'conv2d', shape: '', metric: 'flops', work: flops,
  dawnet: side(0.5, flops), tfjs: side(10, flops), ratio: 20, ratioClock: 'gpu-timestamp', check: null,
};

const record: BenchRecord = {
  date: '2026-01-01T00:00:00.000Z', adapter: 'llvmpipe (test)', adapterReport: {}, command: 'dawnet bench --no-peak', scale: 16,
  timing: { reps: 3, warmup: 1 }, tfjs: null, syncOverheadMs: { dawnet: 0, tfjs: null }, peak: null, rows: [row], e2e: [],
};

describe('bench bars without a peak', () => {
  it('reports the % of peak bar as not measured', () => {
    const pct = evaluateBars(record).find((b) => b.name.startsWith('conv2d forward, % of the FMA peak'))!;
    expect([pct.checked, pct.misses]).toEqual([0, []]);
    expect(barLines(evaluateBars(record))).toMatch(/conv2d forward, % of the FMA peak \(>= 50%\): not measured/);
  });
});
