// The README's benchmark section from a run's record: the adapter, the date, the exact command, the
// measured peaks, then the rows grouped (end-to-end first, then each kernel family in suite order),
// each with dawnet's and tfjs's time and rate, tfjs time / dawnet time, and dawnet's % of peak,
// and last the issue's bars with the misses. `dawnet bench --markdown [record.json]` prints it.

import { evaluateBars, mib, type Bar } from './bars.js';
import type { E2eResult } from './e2e.js';
import type { CaseResult } from './harness.js';
import type { BenchRecord } from './report.js';

function num(v: number): string {
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v >= 1 ? v.toFixed(2) : v.toFixed(3);
}

const UNITS = { flops: 'GFLOP/s', bytes: 'GB/s', images: 'img/s' } as const;

function side(s: CaseResult['dawnet'] | null, metric: CaseResult['metric']): string {
  if (!s) return '-';
  if ('error' in s) return 'error';
  return `${num(s.timing.medianMs)} ms (${num(s.rate)} ${UNITS[metric]})`;
}

function pct(s: CaseResult['dawnet']): string {
  return 'timing' in s && s.pctPeak !== null ? s.pctPeak.toFixed(1) : '-';
}

function ratio(r: CaseResult): string {
  return r.ratio === null ? '-' : `${r.ratio.toFixed(2)}x`;
}

function escape(s: string): string {
  return s.replace(/\|/g, '\\|');
}

function table(head: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.map(escape).join(' | ')} |`;
  return [line(head), `|${head.map(() => ' --- ').join('|')}|`, ...rows.map(line)].join('\n');
}

function e2eTable(rows: E2eResult[]): string {
  return table(
    ['case', 'shape', 'dawnet', 'tfjs', 'tfjs / dawnet', '% of peak', 'peak memory', 'minimum', 'ratio'],
    rows.map((r) => {
      const m = r.memory && 'ratio' in r.memory ? r.memory : null;
      return [r.id, r.shape, side(r.dawnet, 'images'), side(r.tfjs, 'images'), ratio(r), pct(r.dawnet), m ? mib(m.peakBytes) : '-', m ? mib(m.minimum.total) : '-', m ? `${m.ratio.toFixed(2)}x` : '-'];
    }),
  );
}

function groupTable(rows: CaseResult[]): string {
  return table(
    ['case', 'shape', 'dawnet', 'tfjs', 'tfjs / dawnet', '% of peak'],
    rows.map((r) => [r.id, r.shape, side(r.dawnet, r.metric), side(r.tfjs, r.metric), ratio(r), pct(r.dawnet)]),
  );
}

function barList(bars: Bar[]): string {
  const out: string[] = [];
  for (const b of bars) {
    const status = b.checked === 0 ? 'not measured' : b.misses.length === 0 ? `met by all ${b.checked} cases` : `missed by ${b.misses.length} of ${b.checked}`;
    out.push(`- ${b.name}, ${b.target}: ${status}`);
    for (const m of b.misses) out.push(`  - \`${m.id}\` ${m.value}: ${m.limit}`);
  }
  return out.join('\n');
}

export function markdownReport(rec: BenchRecord): string {
  const t = rec.timing as { reps?: number; warmup?: number };
  const lines = [
    '## Benchmarks',
    '',
    `Measured on **${rec.adapter}** on ${rec.date.slice(0, 10)} with`,
    '',
    '```',
    rec.command,
    '```',
    '',
    `Scale ${rec.scale}: batch and image sides are the models' (U-Net levels at batch 16, 256x256; VGG16 at batch 32, 256x256) divided by ${rec.scale}. ` +
      `Times are medians of ${t.reps ?? '?'} samples after ${t.warmup ?? '?'} warm-up run(s), wall clock around enqueue and wait for the queue` +
      `${rec.tfjs ? `; the peer is TensorFlow.js ${rec.tfjs.version} (WebGPU backend) on the same adapter in the same process` : '; tfjs was not run'}.`,
  ];
  if (rec.peak) {
    lines.push(
      '',
      `Measured peaks: FMA ${rec.peak.gflops.toFixed(1)} GFLOP/s, copy ${rec.peak.gbps.toFixed(1)} GB/s (read + write). ` +
        '"% of peak" is dawnet\'s rate over the peak of its metric (FMA for convolutions, matmuls and end-to-end steps, copy for the rest).',
    );
  }
  const e2e = rec.e2e ?? [];
  if (e2e.length) {
    lines.push('', '### End-to-end', '', e2eTable(e2e), '');
    lines.push(
      "Peak memory is the buffer pool's peakBytesInUse over one dawnet step. The minimum is what an ideal schedule must hold at its worst " +
        'moment: weights, Adam moments and the batch, plus the activations backward still needs, the weight gradients written so far and ' +
        'the transient tensors at that op (bench/memory.ts lists what each op saves). % of peak counts the convolutions\' flops only.',
    );
  }
  const groups = [...new Set(rec.rows.map((r) => r.group))];
  for (const g of groups) lines.push('', `### ${g}`, '', groupTable(rec.rows.filter((r) => r.group === g)));
  if (rec.skipped?.length) lines.push('', `Not run (the --budget ran out): ${rec.skipped.map((id) => `\`${id}\``).join(', ')}.`);
  lines.push('', '### Bars', '', barList(evaluateBars(rec)), '');
  return lines.join('\n');
}
