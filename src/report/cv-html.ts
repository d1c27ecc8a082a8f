// `dawnet cv`'s page (OUT/cv.html): one self-contained page with the folds' table (each fold's best
// validation score and test metrics, their mean and standard deviation, the ensemble's row), one
// chart of every fold's validation metric by epoch, and links to each fold's own report. The
// table holds every number, so the page is useful without its chart.

import { chartJsToInline, lineChart, type ChartSpec } from './charts.js';
import { CSS, PAGE_SCRIPT } from './page-assets.js';

/** One fold's row (dawnet cv's FoldRow). */
export interface CvFold {
  /** 0-based fold index. */
  fold: number;
  /** The fold's run folder (on the page: relative to it, for the link). */
  run: string;
  valPatients: number;
  /** The epoch of the best validation metric, 0-based. */
  bestEpoch: number;
  /** Best val_dice (segment) or val_accuracy (classify) over the epochs. */
  val: number;
  /** eval.json's numbers that the table shows (NaN where a fold has no test set). */
  test: Record<string, number>;
  /** The monitored validation metric by epoch (index = epoch). */
  curve: number[];
}

export interface CvPageData {
  title: string;
  task: 'classify' | 'segment';
  seed: number;
  testFraction: number;
  /** Name of the monitored metric (val_dice, val_accuracy). */
  monitor: string;
  /** eval.json field and column title of each test metric shown. */
  columns: [string, string][];
  folds: CvFold[];
  summary: Record<string, { mean: number; sd: number; n: number }>;
  ensemble?: Record<string, unknown>;
  /** Chart.js source to inline instead of the installed one (tests). */
  chartJsSource?: string | null;
}

const text = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');
const num = (x: unknown): string => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(4) : 'n/a');
const FOLD_COLORS = ['#2563eb', '#ea580c', '#16a34a', '#9333ea', '#dc2626', '#0891b2', '#ca8a04', '#db2777'];

/** Every fold's validation metric by epoch, one line each (folds stopped early end early). */
function foldsChart(data: CvPageData): ChartSpec {
  const epochs = Math.max(1, ...data.folds.map((f) => f.curve.length));
  return lineChart(
    'chart-cv-val',
    data.monitor,
    Array.from({ length: epochs }, (_, i) => i + 1),
    data.folds.map((f, i) => ({ label: `fold ${f.fold + 1}`, color: FOLD_COLORS[i % FOLD_COLORS.length], data: Array.from({ length: epochs }, (_, e) => f.curve[e] ?? NaN) })),
  );
}

function table(data: CvPageData): string {
  const head = ['fold', 'val patients', `${data.monitor} (best, epoch)`, ...data.columns.map(([, t]) => t)];
  const rows = data.folds.map((f) => {
    const cells = [`<a href="${text(f.run)}/report.html">${f.fold + 1}</a>`, String(f.valPatients), `${num(f.val)} (${f.bestEpoch + 1})`, ...data.columns.map(([k]) => num(f.test[k]))];
    return `<tr data-testid="cv-fold-${f.fold + 1}">${cells.map((c) => `<td>${c}</td>`).join('')}</tr>`;
  });
  // Over fewer folds than the table's (a fold without the value is left out), the cell says how many.
  const over = (s: CvPageData['summary'][string] | undefined, pick: 'mean' | 'sd') => {
    const n = s?.n ?? 0;
    return `${num(s?.[pick])}${n > 0 && n < data.folds.length ? ` (${n} of ${data.folds.length})` : ''}`;
  };
  const stat = (label: string, pick: 'mean' | 'sd') => {
    const cells = [label, '', over(data.summary.val, pick), ...data.columns.map(([k]) => over(data.summary[k], pick))];
    return `<tr class="summary" data-testid="cv-${pick}">${cells.map((c) => `<td>${c}</td>`).join('')}</tr>`;
  };
  rows.push(stat('mean', 'mean'), stat('sd', 'sd'));
  if (data.ensemble) {
    const cells = ['ensemble', '', '', ...data.columns.map(([k]) => num(data.ensemble![k]))];
    rows.push(`<tr class="summary" data-testid="cv-ensemble">${cells.map((c) => `<td>${c}</td>`).join('')}</tr>`);
  }
  return `<table class="counts" data-testid="cv-table"><thead><tr>${head.map((h) => `<th>${text(h)}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

export async function renderCvPage(data: CvPageData): Promise<string> {
  const { source, reason } = await chartJsToInline(data.chartJsSource);
  const spec = foldsChart(data);
  const chips: [string, string][] = [
    ['task', data.task],
    ['folds', String(data.folds.length)],
    ['seed', String(data.seed)],
    ['test patients', data.testFraction > 0 ? `${Math.round(100 * data.testFraction)}%, held out of every fold` : 'none'],
  ];
  const specJson = JSON.stringify({ reason, charts: [spec] }).replace(/</g, '\\u003c');
  const ensembleNote = data.ensemble
    ? 'The ensemble row is the folds\u2019 best checkpoints averaged as one model on the test patients.'
    : 'No test patients, so no test metrics and no ensemble.';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${text(data.title)}</title><style>${CSS}
.chart-box{height:380px}tr.summary td{font-weight:600;background:#f8fafc}</style></head>
<body data-charts="pending">
<header><h1 data-testid="report-title">${text(data.title)}</h1>
<ul class="chips">${chips.map(([k, v]) => `<li>${k} <b data-testid="chip-${k.replace(/ /g, '-')}">${text(v)}</b></li>`).join('')}</ul></header>
<main>
<div id="chart-error" class="error" data-testid="chart-error" role="alert" hidden></div>
<noscript><div class="error">The chart needs JavaScript; the table holds the numbers.</div></noscript>
<section class="card" data-testid="section-cv-table"><h2>Folds</h2><p class="muted">Each fold validates on its own patients and is tested on the patients every fold held out; its row is its best checkpoint's (by ${text(data.monitor)}). The standard deviation is the sample's (n &minus; 1); a fold without a value (n/a) is left out of its column's mean and standard deviation, which then say over how many folds they are. ${ensembleNote} A fold's number links to its own report.</p>${table(data)}</section>
<section class="card" data-testid="section-cv-chart"><h2>${text(data.monitor)} by epoch</h2>
<div class="chart"><div class="chart-box"><canvas data-testid="${spec.id}" role="img" aria-label="${text(spec.title)}"></canvas></div></div></section>
</main>
<script type="application/json" id="chart-specs">${specJson}</script>
${source ? `<script>${source}</script>` : ''}
<script>${PAGE_SCRIPT}</script>
</body></html>
`;
}
