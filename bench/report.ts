// The terminal table (one row printed as each case finishes) and the JSON record under
// bench/results/<adapter-slug>.json.

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { CaseResult } from './harness.js';
import type { PeakResult } from './peak.js';

const COLUMNS: [string, number][] = [
  ['case', 36],
  ['shape', 26],
  ['dawnet ms', 20],
  ['rate', 13],
  ['%peak', 6],
  ['tfjs ms', 20],
  ['rate', 13],
  ['tfjs/dn', 7],
  ['check', 9],
];

function cells(values: string[]): string {
  return values.map((v, i) => (i < 2 ? v.padEnd(COLUMNS[i][1]) : v.padStart(COLUMNS[i][1]))).join(' ');
}

export function tableHeader(): string {
  const head = cells(COLUMNS.map(([name]) => name));
  return `${head}\n${'-'.repeat(head.length)}`;
}

function ms(v: number): string {
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v >= 1 ? v.toFixed(2) : v.toFixed(3);
}

function timeCell(side: CaseResult['dawnet'] | null): string {
  if (!side) return '-';
  if ('error' in side) return 'error';
  const t = side.timing;
  return `${ms(t.medianMs)} [${ms(t.minMs)}-${ms(t.maxMs)}]`;
}

function rateCell(side: CaseResult['dawnet'] | null, metric: CaseResult['metric']): string {
  if (!side || 'error' in side) return '-';
  return `${side.rate >= 100 ? side.rate.toFixed(0) : side.rate.toFixed(2)} ${metric === 'flops' ? 'GFLOP/s' : 'GB/s'}`;
}

function pctCell(side: CaseResult['dawnet']): string {
  if ('error' in side || side.pctPeak === null) return '-';
  return side.pctPeak.toFixed(1);
}

export function tableRow(r: CaseResult): string {
  const check = r.check ? `${r.check.ok ? 'ok' : 'DIFF'} ${r.check.maxRelErr.toExponential(0)}` : '-';
  const row = cells([
    r.id.length > 36 ? `${r.id.slice(0, 35)}~` : r.id,
    r.shape.length > 26 ? `${r.shape.slice(0, 25)}~` : r.shape,
    timeCell(r.dawnet),
    rateCell(r.dawnet, r.metric),
    pctCell(r.dawnet),
    timeCell(r.tfjs),
    rateCell(r.tfjs, r.metric),
    r.ratio === null ? '-' : r.ratio.toFixed(2),
    check,
  ]);
  const errors = [
    'error' in r.dawnet ? `  dawnet: ${r.dawnet.error}` : '',
    r.tfjs && 'error' in r.tfjs ? `  tfjs: ${r.tfjs.error}` : '',
    r.noCheck && r.tfjs ? `  not compared: ${r.noCheck}` : '',
  ].filter((s) => s);
  return [row, ...errors].join('\n');
}

export function peakLines(p: PeakResult): string {
  return [
    `peak fma:  ${p.gflops.toFixed(1)} GFLOP/s  (fastest of ${p.fma.timing.samplesMs.length}: ${ms(p.fma.timing.minMs)} ms, median ${ms(p.fma.timing.medianMs)}; ${p.fma.threads} threads x ${p.fma.iters} rounds)`,
    `peak copy: ${p.gbps.toFixed(1)} GB/s  (fastest of ${p.copy.timing.samplesMs.length}: ${ms(p.copy.timing.minMs)} ms, median ${ms(p.copy.timing.medianMs)}; ${(p.copy.bytes / 2 ** 20).toFixed(0)} MiB moved x ${p.copy.dispatches} by ${p.copy.threads} threads)`,
  ].join('\n');
}

/** 'mesa software llvmpipe...' -> 'mesa-software-llvmpipe...', short and file-safe. */
export function adapterSlug(name: string): string {
  const slug = name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '')
    .slice(0, 48)
    .replace(/-$/, '');
  return slug || 'unknown-adapter';
}

export interface BenchRecord {
  date: string;
  adapter: string;
  adapterReport: unknown;
  command: string;
  scale: number;
  timing: unknown;
  tfjs: { version: string; adapter: string } | null;
  syncOverheadMs: { dawnet: number; tfjs: number | null };
  peak: PeakResult | null;
  rows: CaseResult[];
}

export function writeRecord(path: string, record: BenchRecord): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(record, null, 2)}\n`);
}
