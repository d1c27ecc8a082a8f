// The learning-rate range test's page: ONE self-contained HTML file (Chart.js inlined, no network)
// with the raw and smoothed loss against the learning rate on a log axis, the suggested rate marked,
// and a table of sampled points. The chart is plain Chart.js JSON built here (testable in
// TypeScript), drawn by the run report's page script, which also shows a banner when Chart.js is
// missing. Only numbers and fixed words reach the markup; the task and title are escaped.

import { SUGGESTION_RULE, type LrFinderResult } from '../train/lr-finder.js';
import { chartJsToInline, type ChartSpec } from './charts.js';
import { CSS, PAGE_SCRIPT } from './page-assets.js';

export interface LrFindPageData {
  title: string;
  task: string;
  result: LrFinderResult;
  minLr: number;
  maxLr: number;
  divergeFactor: number;
  /** Chart.js UMD source; read from node_modules when absent (Node only). */
  chartJsSource?: string;
}

/** Text for a text node: '&' and '<' are all that can start markup there. */
const text = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

export const formatLr = (lr: number): string => lr.toExponential(2);
export const formatLoss = (v: number): string => (Number.isFinite(v) ? v.toPrecision(4) : String(v));

/**
 * About `count` evenly spaced steps of the test, first and last included, plus the suggested one:
 * the rows of the command's text table and of the page's table.
 */
export function sampleSteps(result: LrFinderResult, count = 12): number[] {
  const n = result.lrs.length;
  const picked = new Set<number>();
  for (let k = 0; k < Math.min(count, n); k++) picked.add(Math.round((k * (n - 1)) / Math.max(1, Math.min(count, n) - 1)));
  if (result.suggestionIndex !== null) picked.add(result.suggestionIndex);
  return [...picked].sort((a, b) => a - b);
}

/**
 * The loss against the learning rate: raw losses as faint points, the smoothed curve, the suggestion
 * as one large point. The y axis stops at divergeFactor × the lowest smoothed loss (where the test
 * stops), so a final blow-up does not flatten the rest of the curve.
 */
export function lrFindChart(result: LrFinderResult, divergeFactor: number): ChartSpec {
  const points = (ys: number[]) => result.lrs.map((x, i) => ({ x, y: Number.isFinite(ys[i]) ? ys[i] : null }));
  const smoothed = result.smoothed.filter(Number.isFinite);
  const best = smoothed.length ? Math.min(...smoothed) : NaN;
  const top = Math.max(-Infinity, ...smoothed, ...result.losses.filter(Number.isFinite));
  // Clipped only when something reaches past the stop level; otherwise Chart.js pads the axis itself.
  const yMax = best > 0 && top > divergeFactor * best ? divergeFactor * best : undefined;
  const i = result.suggestionIndex;
  const datasets = [
    { label: 'loss', data: points(result.losses), borderColor: '#94a3b8', backgroundColor: '#94a3b8', pointRadius: 1.5, showLine: false },
    { label: 'smoothed loss', data: points(result.smoothed), borderColor: '#2563eb', backgroundColor: '#2563eb', pointRadius: 0, showLine: true, borderWidth: 2 },
  ];
  if (i !== null) {
    datasets.push({ label: `suggestion ${formatLr(result.lrs[i])}`, data: [{ x: result.lrs[i], y: result.smoothed[i] }], borderColor: '#dc2626', backgroundColor: '#dc2626', pointRadius: 6, showLine: false });
  }
  return {
    id: 'chart-lr-find',
    title: 'loss against learning rate',
    config: {
      type: 'scatter',
      data: { datasets },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        plugins: { legend: { position: 'bottom' } },
        scales: {
          x: { type: 'logarithmic', title: { display: true, text: 'learning rate (log scale)' } },
          y: { type: 'linear', ...(yMax !== undefined ? { max: yMax } : {}), title: { display: true, text: 'loss' } },
        },
      },
    },
  };
}

function table(result: LrFinderResult): string {
  const rows = sampleSteps(result).map((i) => {
    const mark = i === result.suggestionIndex ? ' class="suggested"' : '';
    return `<tr${mark}><td>${i + 1}</td><td>${formatLr(result.lrs[i])}</td><td>${formatLoss(result.losses[i])}</td><td>${formatLoss(result.smoothed[i])}</td></tr>`;
  });
  return `<table class="counts" data-testid="lr-find-table"><thead><tr><th>step</th><th>learning rate</th><th>loss</th><th>smoothed</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

export async function renderLrFindPage(data: LrFindPageData): Promise<string> {
  const { source, reason } = await chartJsToInline(data.chartJsSource);
  const { result } = data;
  const spec = lrFindChart(result, data.divergeFactor);
  const chips: [string, string][] = [
    ['task', data.task],
    ['steps', `${result.lrs.length}${result.stoppedEarly ? ' (stopped: the loss diverged)' : ''}`],
    ['range', `${formatLr(data.minLr)} – ${formatLr(data.maxLr)}`],
    ['suggestion', result.suggestion === null ? 'none (too few steps)' : formatLr(result.suggestion)],
  ];
  const specJson = JSON.stringify({ reason, charts: [spec] }).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${text(data.title)}</title><style>${CSS}
.chart-box{height:420px}tr.suggested td{background:#fef2f2;font-weight:600}</style></head>
<body data-charts="pending">
<header><h1 data-testid="report-title">${text(data.title)}</h1>
<ul class="chips">${chips.map(([k, v]) => `<li>${k} <b data-testid="chip-${k}">${text(v)}</b></li>`).join('')}</ul></header>
<main>
<div id="chart-error" class="error" data-testid="chart-error" role="alert" hidden></div>
<noscript><div class="error">The chart needs JavaScript; the table below holds the numbers.</div></noscript>
<section class="card" data-testid="section-lr-find"><h2>Loss against learning rate</h2><p class="muted">The suggestion is ${SUGGESTION_RULE}. It is a starting point: train somewhat below the rate where the loss is lowest.</p>
<div class="chart"><div class="chart-box"><canvas data-testid="${spec.id}" role="img" aria-label="${spec.title}"></canvas></div></div></section>
<section class="card" data-testid="section-steps"><h2>Sampled steps</h2>${table(result)}</section>
</main>
<script type="application/json" id="chart-specs">${specJson}</script>
${source ? `<script>${source}</script>` : ''}
<script>${PAGE_SCRIPT}</script>
</body></html>
`;
}
