// `dawnet bench --tuning RECORD`: what tuning found in a record, against what the rules ran. For
// each conv case with a tuned side, the way it chose and its time against the row's, and what the
// ratio to tfjs would be with it; for each end-to-end step, the tuned step against the untuned one
// and every conv whose choice differs from the rule's. For whoever turns measured choices into
// ruleConvAlgorithm and tiledTileFor, so that 'auto' gets them without tuning. Runs nothing.

import type { TuningChoice } from './e2e.js';
import { alternativesOf, timed, type CaseResult } from './harness.js';
import { ms, type BenchRecord } from './report.js';
import { formatCandidate } from '../src/kernels/conv2d-tuning.js';

export interface TunedCase {
  id: string;
  shape: string;
  /** What the row ran (convAlgorithm's choice) and its median. */
  ran: string;
  ranMs: number;
  /** The tuned side: 'ALGORITHM [TILE]' and its median, on the row's clock. */
  tuned: string;
  tunedMs: number;
  /** ranMs / tunedMs: above 1, tuning was faster. */
  speedup: number;
  /** tfjs's median over the tuned and over the row's, where tfjs ran on the same clock. */
  tfjsOverTuned: number | null;
  tfjsOverRan: number | null;
}

export interface TunedStep {
  id: string;
  /** The untuned step's median over the tuned one's, interleaved (above 1: tuning was faster). */
  speedup: number;
  convs: number;
  /** The convs whose tuned way differs from the rule's; null where the record does not name the rule's ways. */
  changed: TuningChoice[] | null;
}

const TUNED = 'tuned: ';

function tunedCase(r: CaseResult): TunedCase | null {
  const t = alternativesOf(r).find((a) => a.algorithm.startsWith(TUNED));
  if (!t || !timed(r.dawnet)) return null;
  const ranMs = r.dawnet.timing.medianMs;
  const tfjsMs = timed(r.tfjs) && r.tfjs.clock === r.dawnet.clock ? r.tfjs.timing.medianMs : null;
  return {
    id: r.id,
    shape: r.shape,
    ran: r.algorithm ?? 'direct',
    ranMs,
    tuned: t.algorithm.slice(TUNED.length),
    tunedMs: t.ms,
    speedup: ranMs / t.ms,
    tfjsOverTuned: tfjsMs === null ? null : tfjsMs / t.ms,
    tfjsOverRan: tfjsMs === null ? null : tfjsMs / ranMs,
  };
}



function tunedStep(r: CaseResult & { tuning?: TuningChoice[] }): TunedStep | null {
  const t = alternativesOf(r).find((a) => a.algorithm === 'tuned' && a.pairedMs !== undefined);
  if (!t || !r.tuning) return null;
  const changed = r.tuning.every((c) => c.rule !== undefined) ? r.tuning.filter((c) => c.rule !== formatCandidate(c)) : null;
  return { id: r.id, speedup: t.pairedMs! / t.ms, convs: r.tuning.length, changed };
}

export function tuningSummary(record: BenchRecord): { cases: TunedCase[]; steps: TunedStep[] } {
  return {
    cases: record.rows.map(tunedCase).filter((c): c is TunedCase => c !== null),
    steps: (record.e2e ?? []).map(tunedStep).filter((s): s is TunedStep => s !== null),
  };
}

const ratio = (x: number | null): string => (x === null ? '-' : `${x.toFixed(2)}x`);

export function tuningLines(record: BenchRecord, path: string): string {
  const { cases, steps } = tuningSummary(record);
  const out = [`tuning in ${path} (${record.adapter}, scale ${record.scale}):`, ''];
  if (cases.length) {
    out.push(`${'case'.padEnd(34)} ${'ran'.padEnd(15)} ${'ms'.padStart(8)}  ${'tuned'.padEnd(28)} ${'ms'.padStart(8)} ${'speedup'.padStart(8)}  tfjs/tuned (tfjs/ran)`);
    for (const c of cases) {
      out.push(`${c.id.padEnd(34)} ${c.ran.padEnd(15)} ${ms(c.ranMs).padStart(8)}  ${c.tuned.padEnd(28)} ${ms(c.tunedMs).padStart(8)} ${ratio(c.speedup).padStart(8)}  ${ratio(c.tfjsOverTuned)} (${ratio(c.tfjsOverRan)})`);
    }
    out.push('');
  }
  for (const s of steps) {
    const head = `${s.id}: tuned ${ratio(s.speedup)} as fast as untuned (interleaved)`;
    if (!s.changed) {
      out.push(`${head}; tuning timed ${s.convs} conv(s) (the record does not name the rule's ways)`);
      continue;
    }
    out.push(`${head}; ${s.changed.length} of ${s.convs} convs tuned away from the rule${s.changed.length ? ':' : ''}`);
    for (const c of s.changed) {
      const [ruleMs, tunedMs] = [c.ruleMs === undefined ? '?' : ms(c.ruleMs), c.ms[c.algorithm] === undefined ? '?' : ms(c.ms[c.algorithm]!)];
      out.push(`  ${c.conv}: ${c.rule} ${ruleMs} ms -> ${formatCandidate(c)} ${tunedMs} ms`);
    }
  }
  if (!cases.length && !steps.length) out.push('no tuned sides in this record (bench --no-beside, a forced --conv-algorithm, or a record from before 2026-11-27)');
  return out.join('\n');
}
