// `dawnet bench --compare BASE.json NEW.json`: what changed between two records, case by case, for
// a change to a kernel (same machine, before and after) or between adapters. Two figures per case:
//  - dawnet's own speedup, BASE median / NEW median on one clock, called faster or slower only
//    when the interquartile ranges of the two runs do not overlap;
//  - the speedup measured against tfjs, NEW's tfjs/dawnet ratio over BASE's: where both runs timed
//    the peer, tfjs is a control that ran beside dawnet in each run, so a machine that was slower
//    during one of them (a shared VM drifts) moves both sides and cancels out of this figure. Two
//    ratios are divided only when they are on one clock: where the records' ratios are on different
//    clocks (GPU time in one, wall clock in the other), both rows' wall ratios are used and the row
//    says so; GPU and wall ratios of the same code differ by 2x on small kernels.
// Nothing runs on the GPU; cases whose shapes differ (another --scale) are listed, not compared.

import { timed, type CaseResult, type SideResult } from './harness.js';
import { ms, type BenchRecord } from './report.js';
import type { Clock, Timing } from './timing.js';

export type Verdict = 'faster' | 'slower' | 'within spread' | 'few samples';

/**
 * Fewer samples a side and the quartiles are the samples themselves: two runs of the same kernel
 * with 2 samples each were called 0.53x and 1.10x apart on lavapipe.
 */
const MIN_SAMPLES = 5;

export interface CaseChange {
  id: string;
  shape: string;
  clock: Clock;
  baseMs: number;
  nextMs: number;
  /** baseMs / nextMs: above 1 means NEW is faster. */
  speedup: number;
  verdict: Verdict;
  /** NEW's tfjs/dawnet ratio over BASE's, both ratios on `peerClock`, where both runs timed tfjs. */
  peerSpeedup: number | null;
  /** The clock of both ratios in peerSpeedup. */
  peerClock: Clock | null;
  /** Why peerSpeedup is not the records' own ratios divided (their clocks differ), or why there is none. */
  peerNote?: string;
}

export interface Comparison {
  changes: CaseChange[];
  /** Cases in one record only, or timed in one only, or with another shape: why each is left out. */
  skipped: string[];
  /** What differs between the runs besides the code (adapter, scale, clock, timing). */
  notes: string[];
}


/** Both sides' timings on one clock: their own when they share it, else both walls. */
function onOneClock(a: SideResult, b: SideResult): { clock: Clock; a: Timing; b: Timing } {
  return a.clock === b.clock ? { clock: a.clock, a: a.timing, b: b.timing } : { clock: 'wall', a: a.wall, b: b.wall };
}

/**
 * Faster or slower only when the middle halves of the two runs' samples do not overlap, each run
 * having at least MIN_SAMPLES samples.
 */
export function verdict(base: Timing, next: Timing): Verdict {
  if (Math.min(base.samplesMs.length, next.samplesMs.length) < MIN_SAMPLES) return 'few samples';
  if (next.q3Ms < base.q1Ms) return 'faster';
  if (next.q1Ms > base.q3Ms) return 'slower';
  return 'within spread';
}

function changeOf(base: CaseResult, next: CaseResult): CaseChange | string {
  if (base.shape !== next.shape) return `${next.id}: shape ${base.shape} in BASE, ${next.shape} in NEW`;
  if (!timed(base.dawnet) || !timed(next.dawnet)) return `${next.id}: dawnet not timed in ${timed(base.dawnet) ? 'NEW' : 'BASE'}`;
  const t = onOneClock(base.dawnet, next.dawnet);
  return {
    id: next.id,
    shape: next.shape,
    clock: t.clock,
    baseMs: t.a.medianMs,
    nextMs: t.b.medianMs,
    speedup: t.a.medianMs / t.b.medianMs,
    verdict: verdict(t.a, t.b),
    ...peerChange(base, next),
  };
}

/** A row's tfjs / dawnet ratio of the two sides' wall medians, or null. */
function wallRatio(r: CaseResult): number | null {
  return timed(r.dawnet) && timed(r.tfjs) ? r.tfjs.wall.medianMs / r.dawnet.wall.medianMs : null;
}

/**
 * NEW's tfjs / dawnet ratio over BASE's. Each record keeps its ratio on one clock (bench/harness.ts
 * sameClockRatio); when the two records' clocks differ, both rows' wall ratios instead.
 */
function peerChange(base: CaseResult, next: CaseResult): Pick<CaseChange, 'peerSpeedup' | 'peerClock' | 'peerNote'> {
  if (base.ratio === null || next.ratio === null) return { peerSpeedup: null, peerClock: null };
  const [cb, cn] = [base.ratioClock ?? 'wall', next.ratioClock ?? 'wall'];
  if (cb === cn) return { peerSpeedup: next.ratio / base.ratio, peerClock: cb };
  const [wb, wn] = [wallRatio(base), wallRatio(next)];
  const why = `ratios on different clocks (BASE ${cb}, NEW ${cn})`;
  if (wb === null || wn === null) return { peerSpeedup: null, peerClock: null, peerNote: `${why}, and no wall ratio in both` };
  return { peerSpeedup: wn / wb, peerClock: 'wall', peerNote: `${why}: both wall ratios used` };
}

function runNotes(base: BenchRecord, next: BenchRecord): string[] {
  const notes: string[] = [];
  if (base.adapter !== next.adapter) notes.push(`adapters differ: BASE ${base.adapter}, NEW ${next.adapter}`);
  if (base.scale !== next.scale) notes.push(`scales differ: BASE ${base.scale}, NEW ${next.scale} (cases of another shape are not compared)`);
  if (base.timing.reps !== next.timing.reps || base.timing.warmup !== next.timing.warmup) {
    notes.push(`samples differ: BASE ${base.timing.reps} after ${base.timing.warmup} warm-up(s), NEW ${next.timing.reps} after ${next.timing.warmup}`);
  }
  const [cb, cn] = [base.clock?.dawnet ?? 'wall', next.clock?.dawnet ?? 'wall'];
  if (cb !== cn) notes.push(`clocks differ: BASE ${cb}, NEW ${cn} (speedups and ratios against tfjs are taken on wall clock where the rows' clocks differ)`);
  if (!base.tfjs !== !next.tfjs) {
    notes.push(`tfjs ran in ${base.tfjs ? 'BASE' : 'NEW'} only: dawnet's samples there alternated with tfjs's; runs made the same way compare best`);
  } else if (base.tfjs && next.tfjs && base.tfjs.version !== next.tfjs.version) {
    notes.push(`tfjs differs: BASE ${base.tfjs.version}, NEW ${next.tfjs.version}`);
  }
  return notes;
}

export function compareRecords(base: BenchRecord, next: BenchRecord): Comparison {
  const all = (r: BenchRecord): CaseResult[] => [...(r.e2e ?? []), ...r.rows];
  const byId = new Map(all(base).map((r) => [r.id, r]));
  const changes: CaseChange[] = [];
  const skipped: string[] = [];
  for (const r of all(next)) {
    const b = byId.get(r.id);
    if (!b) {
      skipped.push(`${r.id}: only in NEW`);
      continue;
    }
    byId.delete(r.id);
    const c = changeOf(b, r);
    if (typeof c === 'string') skipped.push(c);
    else changes.push(c);
  }
  for (const id of byId.keys()) skipped.push(`${id}: only in BASE`);
  return { changes, skipped, notes: runNotes(base, next) };
}


/** The comparison as a terminal table with a summary line. */
export function comparisonLines(c: Comparison, basePath: string, nextPath: string): string {
  const out = [`BASE ${basePath}`, `NEW  ${nextPath}`, ...c.notes.map((n) => `note: ${n}`), ''];
  const head = `${'case'.padEnd(36)} ${'BASE ms'.padStart(9)} ${'NEW ms'.padStart(9)} ${'speedup'.padStart(8)} ${'verdict'.padStart(14)} ${'vs tfjs'.padStart(8)}  clock`;
  out.push(head, '-'.repeat(head.length));
  for (const x of c.changes) {
    const peer = x.peerSpeedup === null ? '-' : `${x.peerSpeedup.toFixed(2)}x`;
    const peerNote = x.peerNote ? `; vs tfjs: ${x.peerNote}` : '';
    out.push(`${x.id.padEnd(36)} ${ms(x.baseMs).padStart(9)} ${ms(x.nextMs).padStart(9)} ${`${x.speedup.toFixed(2)}x`.padStart(8)} ${x.verdict.padStart(14)} ${peer.padStart(8)}  ${x.clock}${peerNote}`);
  }
  const count = (v: Verdict) => c.changes.filter((x) => x.verdict === v).length;
  const geo = c.changes.length ? Math.exp(c.changes.reduce((s, x) => s + Math.log(x.speedup), 0) / c.changes.length) : null;
  const few = count('few samples');
  out.push('', `${c.changes.length} case(s): ${count('faster')} faster, ${count('slower')} slower, ${count('within spread')} within the runs' spread` +
    (few ? `, ${few} with fewer than ${MIN_SAMPLES} samples a side (no verdict)` : '') +
    (geo === null ? '' : `; geometric mean speedup ${geo.toFixed(2)}x`));
  if (c.skipped.length) out.push(`not compared: ${c.skipped.join('; ')}`);
  out.push(`speedup: BASE median / NEW median on one clock; faster or slower only when the runs' interquartile ranges do not overlap (${MIN_SAMPLES} samples a side at least);`,
    "vs tfjs: NEW's tfjs/dawnet ratio over BASE's, which a machine slower in one run than the other leaves unchanged");
  return out.join('\n');
}
