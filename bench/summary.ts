// The README's short benchmark summary of a run's record, beside the full section bench/markdown.ts
// renders for bench/README.md: where, when and by which command it was measured, one table of the
// headline rows and the issue's bars one line each, without the misses' detail. The rows: each
// end-to-end case (images per second, tfjs / dawnet, dawnet's peak memory against the step's
// minimum), then each conv direction over the U-Net shapes as ranges (dawnet's time, the ratio,
// % of the FMA peak). Every figure is the record's, formatted as the full tables format it;
// scripts/readme-bench.mjs writes it into the README and adds the link to the full tables.

import { evaluateBars, mib } from './bars.js';
import type { E2eResult } from './e2e.js';
import { timed, type CaseResult } from './harness.js';
import { barStatus, measuredOn, ratio, runClockOf, table } from './markdown.js';
import { ms, type BenchRecord } from './report.js';

const DIRECTIONS = ['forward', 'backwardInput', 'backwardWeight'] as const;

/** 'lo-hi' (or one value where they agree) of the values, each formatted, then the unit; '-' for none. */
function range(values: number[], format: (v: number) => string, unit = ''): string {
  if (!values.length) return '-';
  const lo = format(Math.min(...values));
  const hi = format(Math.max(...values));
  return `${lo === hi ? lo : `${lo}-${hi}`}${unit}`;
}

function e2eRow(r: E2eResult, rec: BenchRecord): string[] {
  const d = r.dawnet;
  const m = r.memory && 'ratio' in r.memory ? r.memory : null;
  return [
    `\`${r.id}\``,
    timed(d) ? `${ms(d.rate)} img/s` : 'error' in d ? 'error' : '-',
    ratio(r, runClockOf(rec)),
    timed(d) && d.pctPeak !== null ? d.pctPeak.toFixed(1) : '-',
    m ? `${mib(m.peakBytes)}, ${m.ratio.toFixed(2)}x the minimum (${mib(m.minimum.total)})` : '-',
  ];
}

/** One conv direction over the U-Net shapes: ranges over the rows that have each figure. */
function convRow(dir: (typeof DIRECTIONS)[number], rows: CaseResult[], rec: BenchRecord): string[] {
  const runClock = runClockOf(rec);
  const ok = rows.flatMap((r) => (timed(r.dawnet) ? [r.dawnet] : []));
  const ratios = rows.flatMap((r) => (r.ratio === null ? [] : [r.ratio]));
  const differ = rows.filter((r) => r.check && !r.check.ok).length;
  const notes = [
    rows.length > ok.length ? `${rows.length - ok.length} failed` : '',
    rows.some((r) => r.ratio !== null && (r.ratioClock ?? 'wall') !== runClock) ? `some on the ${runClock === 'wall' ? 'GPU' : 'wall'} clock` : '',
    differ ? `outputs differ in ${differ}` : '',
  ].filter(Boolean);
  const ratioCell = range(ratios, (v) => v.toFixed(2), 'x');
  return [
    `conv2d.${dir} at the ${rows.length} U-Net shapes`,
    range(ok.map((s) => s.timing.medianMs), ms, ' ms'),
    notes.length ? `${ratioCell} (${notes.join(', ')})` : ratioCell,
    range(ok.flatMap((s) => (s.pctPeak === null ? [] : [s.pctPeak])), (v) => v.toFixed(1)),
    '-',
  ];
}

/** The summary's lines (no trailing blank line). */
export function summaryLines(rec: BenchRecord): string[] {
  const peak = rec.peak ? `, FMA peak ${rec.peak.gflops.toFixed(1)} GFLOP/s` : '';
  const peer = rec.tfjs ? `tfjs ${rec.tfjs.version}` : 'tfjs not run';
  const rows = (rec.e2e ?? []).map((r) => e2eRow(r, rec));
  for (const dir of DIRECTIONS) {
    const convs = rec.rows.filter((r) => r.group === 'conv2d' && new RegExp(`^conv2d\\.${dir}/unet-l\\d+$`).test(r.id));
    if (convs.length) rows.push(convRow(dir, convs, rec));
  }
  const lines = [`${measuredOn(rec)} with \`${rec.command}\` (scale ${rec.scale}${peak}; ${peer}):`, ''];
  if (rows.length) lines.push(table(['case', 'dawnet', 'tfjs / dawnet', '% of peak', 'dawnet peak memory'], rows), '');
  if (rec.skipped?.length) lines.push(`Not run (the --budget ran out): ${rec.skipped.length} case(s).`, '');
  // A record saved by a run stopped part-way would otherwise read as the whole selection.
  if (rec.unfinished?.length) lines.push(`Not run (the run stopped before them): ${rec.unfinished.length} case(s).`, '');
  lines.push(...evaluateBars(rec).map((b) => `- ${barStatus(b)}`));
  return lines.join('\n').split('\n');
}
