// The summary of an A/B comparison of two builds (scripts/bench-ab.mjs): each side's records,
// runs in ABBA order, reduced per case to the median over runs of dawnet's median time, and the
// speedup of B over A with the range of the run-by-run ratios. On a shared CPU host two runs of the
// same code differ by up to 1.2x at a U-Net training step when always run in the same order, which
// is why the order alternates and the range is shown: a ratio whose range spans 1 is level.

import type { CaseResult } from './harness.js';
import type { BenchRecord } from './report.js';

export interface AbRow {
  id: string;
  /** Median over the side's runs of dawnet's median time, ms. */
  aMs: number;
  bMs: number;
  /** aMs / bMs: above 1, B is faster. */
  speedup: number;
  /** The least and greatest ratio of the runs paired in order (A run i against B run i). */
  range: [number, number];
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** dawnet's median time of each case of a record that ran, by id (kernel rows and end-to-end). */
function timesOf(rec: BenchRecord): Map<string, number> {
  const out = new Map<string, number>();
  for (const row of [...rec.rows, ...(rec.e2e ?? [])] as CaseResult[]) {
    if ('timing' in row.dawnet) out.set(row.id, row.dawnet.timing.medianMs);
  }
  return out;
}

/** Per case both sides ran in every run: A's and B's medians, B's speedup and its run-by-run range. */
export function abSummary(a: readonly BenchRecord[], b: readonly BenchRecord[]): AbRow[] {
  if (a.length === 0 || a.length !== b.length) throw new Error(`bench-ab: ${a.length} run(s) of A against ${b.length} of B; each side needs the same number, at least one`);
  const [ta, tb] = [a.map(timesOf), b.map(timesOf)];
  const ids = [...ta[0].keys()].filter((id) => [...ta, ...tb].every((t) => t.has(id)));
  return ids.map((id) => {
    const [as, bs] = [ta.map((t) => t.get(id)!), tb.map((t) => t.get(id)!)];
    const ratios = as.map((x, i) => x / bs[i]);
    const [aMs, bMs] = [median(as), median(bs)];
    return { id, aMs, bMs, speedup: aMs / bMs, range: [Math.min(...ratios), Math.max(...ratios)] };
  });
}

/** The summary as text lines: a header, then a row per case. */
export function abLines(rows: readonly AbRow[], labels: [string, string]): string[] {
  const f = (ms: number) => (ms >= 10 ? ms.toFixed(1) : ms.toFixed(3));
  const width = Math.max(4, ...rows.map((r) => r.id.length));
  return [
    `${'case'.padEnd(width)}  ${labels[0]} ms  ${labels[1]} ms  speedup of ${labels[1]} (run by run)`,
    ...rows.map((r) => `${r.id.padEnd(width)}  ${f(r.aMs)}  ${f(r.bMs)}  ${r.speedup.toFixed(2)}x (${r.range[0].toFixed(2)}-${r.range[1].toFixed(2)}x)${r.range[0] <= 1 && r.range[1] >= 1 ? ', level' : ''}`),
  ];
}
