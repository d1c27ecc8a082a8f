// bench/ab-summary.ts: the A/B comparison of two builds' records (scripts/bench-ab.mjs).

import { describe, expect, it } from 'vitest';
import { abLines, abSummary } from '../../bench/ab-summary.js';
import type { BenchRecord } from '../../bench/report.js';

/** A record with dawnet's median time for each id (a kernel row, or an end-to-end row for ids with a '/b'). */
function record(times: Record<string, number | 'error'>): BenchRecord {
  const row = (id: string, t: number | 'error') => ({ id, dawnet: t === 'error' ? { error: 'boom' } : { timing: { medianMs: t } } });
  const entries = Object.entries(times);
  return {
    rows: entries.filter(([id]) => !id.includes('/b')).map(([id, t]) => row(id, t)),
    e2e: entries.filter(([id]) => id.includes('/b')).map(([id, t]) => row(id, t)),
  } as unknown as BenchRecord;
}

describe('abSummary', () => {
  it("takes each side's median over its runs, B's speedup, and the run-by-run range", () => {
    const a = [record({ k: 2, 'unet.train/b2': 100 }), record({ k: 4, 'unet.train/b2': 110 }), record({ k: 3, 'unet.train/b2': 90 })];
    const b = [record({ k: 1, 'unet.train/b2': 100 }), record({ k: 2, 'unet.train/b2': 100 }), record({ k: 2, 'unet.train/b2': 100 })];
    const rows = abSummary(a, b);
    expect(rows.map((r) => r.id)).toEqual(['k', 'unet.train/b2']);
    expect(rows[0]).toEqual({ id: 'k', aMs: 3, bMs: 2, speedup: 1.5, range: [1.5, 2] });
    expect(rows[1].speedup).toBe(1);
    expect(rows[1].range).toEqual([0.9, 1.1]);
    const lines = abLines(rows, ['A', 'B']);
    expect(lines[1]).toMatch(/^k +3\.000 {2}2\.000 {2}1\.50x \(1\.50-2\.00x\)$/);
    expect(lines[2]).toMatch(/1\.00x \(0\.90-1\.10x\), level$/);
  });

  it('leaves out a case some run lacks or failed, and refuses sides of different run counts', () => {
    const rows = abSummary([record({ k: 1, x: 'error' }), record({ k: 1, x: 2, only: 1 })], [record({ k: 1, x: 1 }), record({ k: 1, x: 1 })]);
    expect(rows.map((r) => r.id)).toEqual(['k']);
    expect(() => abSummary([record({ k: 1 })], [])).toThrow(/1 run\(s\) of A against 0 of B/);
    expect(() => abSummary([], [])).toThrow(/at least one/);
  });
});
