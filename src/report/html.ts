// The run report: ONE self-contained HTML file (no network), with Chart.js inlined, the curves of the
// training history, class counts, validation slices with truth/prediction outlines as PNG data URIs,
// the confusion matrix (classify) or per-slice Dice histogram (segment), an augmentation preview and
// the test metrics.
//
// Chart configurations are plain JSON built in charts.ts; the page's script only hands them to Chart.js, so
// what a chart shows is decided (and testable) in TypeScript. When Chart.js is missing or fails, the
// page says so in a visible banner instead of showing empty boxes; the tables still carry the numbers.
// Rendering is async: PNG compression and the lazy loading of node:fs (for Chart.js) both are.

import { heatmapOverlay } from './heatmap.js';
import { makeFolder, nodePath, writeFileAtomic } from '../io/files.js';
import { pngDataUri } from '../io/png.js';
import { meanOf, medianOf } from '../train/metrics.js';
import { barChart, diceHistogram, historyCharts, loadChartJs, type ChartSpec } from './charts.js';
import { overlay, toRgb8 } from './overlay.js';
import { CSS, PAGE_SCRIPT } from './page-assets.js';

export interface ReportSample {
  /** [H, W, C] in 0..1; 3 channels show as RGB (pre-contrast, FLAIR, post-contrast), 1 as gray. */
  image: Float32Array;
  height: number;
  width: number;
  /** [H, W] ground-truth mask, outlined in green. */
  truth?: Float32Array;
  /** [H, W] prediction (probabilities, thresholded at 0.5), outlined in red. */
  pred?: Float32Array;
  /** [H, W] Grad-CAM map in 0..1 (a classifier's evidence), drawn under the outlines in jet colours. */
  heat?: Float32Array;
  caption: string;
}

export interface ReportData {
  title: string;
  task: 'classify' | 'segment';
  config: Record<string, unknown>;
  adapter: string;
  /** One entry per epoch: loss, val_loss, val_<metric>..., lr, as fit() logs them. */
  history: { epoch: number; [k: string]: number }[];
  /** Per split (train, val, test): slices with and without a lesion. */
  classCounts?: Record<string, { positive: number; negative: number }>;
  samples?: ReportSample[];
  confusion?: { tp: number; fp: number; tn: number; fn: number };
  /** Per-slice Dice on the validation set; null where the empty-slice policy skipped the slice. */
  sliceDice?: (number | null)[];
  /** How slices with an empty truth and an empty prediction were scored ('one', 'skip', ...). */
  emptyPolicy?: string;
  /** Per test volume: Dice and surface distances (null where a policy left the value out); `incomplete` where a slice number is missing. */
  volumeScores?: { volume: string; dice: number | null; hd95: number | null; assd: number | null; incomplete?: boolean }[];
  /** What the surface distances measure and how empty masks were treated, shown above the table. */
  surfaceNote?: string;
  augmentPreview?: { before: ReportSample; after: ReportSample }[];
  testMetrics?: Record<string, number>;
  /** Chart.js UMD source; read from node_modules when absent (Node only). */
  chartJsSource?: string;
}



const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** Text that is safe inside <script>: the only way out of a script element is "</script" (or "<!--"). */
const scriptSafe = (s: string): string => s.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');

function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e6) ? v.toExponential(3) : String(Number(v.toPrecision(4)));
}

function formatValue(v: unknown): string {
  if (typeof v === 'number') return formatNumber(v);
  if (v === undefined || v === null) return '—';
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}

const percent = (a: number, b: number): string => (b === 0 ? '—' : `${((100 * a) / b).toFixed(1)}%`);


function chartBox(spec: ChartSpec): string {
  return `<div class="chart"><h3>${escapeHtml(spec.title)}</h3><div class="chart-box"><canvas data-testid="${spec.id}" role="img" aria-label="${escapeHtml(spec.title)}"></canvas></div></div>`;
}

function section(id: string, title: string, body: string): string {
  return `<section class="card" data-testid="section-${id}"><h2>${escapeHtml(title)}</h2>${body}</section>`;
}

function keyValueTable(entries: [string, string][], testid: string): string {
  const rows = entries.map(([k, v]) => `<tr><th scope="row">${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`);
  return `<table class="kv" data-testid="${testid}"><tbody>${rows.join('')}</tbody></table>`;
}

function settingsSection(data: ReportData): string {
  const entries: [string, string][] = Object.keys(data.config)
    .sort()
    .map((k) => [k, formatValue(data.config[k])]);
  const half = entries.length > 8 ? Math.ceil(entries.length / 2) : entries.length;
  const tables = [entries.slice(0, half), entries.slice(half)].filter((e) => e.length > 0);
  const body = `<p class="adapter"><span class="muted">GPU adapter</span> ${escapeHtml(data.adapter)}</p>
<div class="kv-columns">${tables.map((t) => keyValueTable(t, 'settings-table')).join('')}</div>`;
  return section('settings', 'Run settings', body);
}

async function sampleFigure(s: ReportSample, testid: string): Promise<string> {
  const rgb = toRgb8(s.image, s.height, s.width, { stretch: !inUnitRange(s.image) });
  const uri = await pngDataUri(overlay(s.heat ? heatmapOverlay(rgb, s.heat) : rgb, s.truth, s.pred));
  const small = s.width < 160 ? ' class="pixelated"' : '';
  return `<figure><img${small} data-testid="${testid}" src="${uri}" width="${s.width}" height="${s.height}" alt="${escapeHtml(s.caption)}"><figcaption>${escapeHtml(s.caption)}</figcaption></figure>`;
}

function inUnitRange(a: Float32Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] < 0 || a[i] > 1) return false;
  return true;
}

const LEGEND = `<p class="legend"><span class="swatch" style="background:#00e640"></span>ground truth
<span class="swatch" style="background:#ff2020"></span>prediction (p &ge; 0.5)
<span class="swatch" style="background:#ffe600"></span>both</p>`;

const HEAT_LEGEND = `<p class="legend" data-testid="heat-legend"><span class="swatch" style="background:linear-gradient(90deg,#000080,#00ffff,#ffff00,#800000)"></span>Grad-CAM:
where p(tumour) comes from, from little (blue) to most (red); none where the slice shows plain</p>`;

async function samplesSection(samples: ReportSample[]): Promise<string> {
  const figures = await Promise.all(samples.map((s) => sampleFigure(s, 'sample-image')));
  const heat = samples.some((s) => s.heat) ? HEAT_LEGEND : '';
  return section('samples', 'Validation slices', `${LEGEND}${heat}<div class="gallery">${figures.join('')}</div>`);
}

async function augmentSection(pairs: NonNullable<ReportData['augmentPreview']>): Promise<string> {
  const cards = await Promise.all(
    pairs.map(async (p) => {
      const [before, after] = await Promise.all([sampleFigure(p.before, 'augment-image'), sampleFigure(p.after, 'augment-image')]);
      return `<div class="pair">${before}${after}</div>`;
    }),
  );
  const note = '<p class="muted">Original (left) and augmented (right), the mask outlined in green.</p>';
  return section('augment', 'Augmentation preview', `${note}<div class="pairs">${cards.join('')}</div>`);
}

function confusionSection(c: NonNullable<ReportData['confusion']>): string {
  const pos = c.tp + c.fn;
  const neg = c.fp + c.tn;
  const cell = (n: number, of: number, name: string, correct: boolean): string => {
    const share = of === 0 ? 0 : n / of;
    const tint = correct ? `rgba(22,163,74,${(0.1 + 0.5 * share).toFixed(2)})` : `rgba(220,38,38,${(0.08 + 0.5 * share).toFixed(2)})`;
    return `<td style="background:${tint}"><div class="count">${n}</div><div class="rate">${name} · ${percent(n, of)}</div></td>`;
  };
  const table = `<table class="confusion" data-testid="confusion-table">
<thead><tr><th></th><th>predicted positive</th><th>predicted negative</th></tr></thead>
<tbody><tr><th scope="row">actual positive (${pos})</th>${cell(c.tp, pos, 'TP', true)}${cell(c.fn, pos, 'FN', false)}</tr>
<tr><th scope="row">actual negative (${neg})</th>${cell(c.fp, neg, 'FP', false)}${cell(c.tn, neg, 'TN', true)}</tr></tbody></table>`;
  const precision = c.tp + c.fp;
  const stats = keyValueTable(
    [
      ['accuracy', percent(c.tp + c.tn, pos + neg)],
      ['precision', percent(c.tp, precision)],
      ['recall (sensitivity)', percent(c.tp, pos)],
      ['specificity', percent(c.tn, neg)],
      ['F1', precision + pos === 0 ? '—' : ((2 * c.tp) / (precision + pos)).toFixed(3)],
    ],
    'confusion-stats',
  );
  const note = '<p class="muted">Rates are shares of the actual class (each row sums to 100%).</p>';
  return section('confusion', 'Confusion matrix', `${note}<div class="split">${table}${stats}</div>`);
}

function policyText(policy: string | undefined, skipped: number): string {
  const skippedText = skipped > 0 ? ` ${skipped} slice${skipped === 1 ? ' was' : 's were'} skipped and appear in no bin.` : '';
  if (policy === 'one') return `Slices whose true mask and prediction are both empty count as Dice 1 (policy "one").${skippedText}`;
  if (policy === 'skip') return `Slices whose true mask and prediction are both empty are left out (policy "skip").${skippedText}`;
  // Anything else is the caller's own sentence, e.g. "slices where ... are skipped".
  if (policy) return `Empty slices: ${policy.replace(/\.?\s*$/, '.')}${skippedText}`;
  return `Empty-slice policy not stated.${skippedText}`;
}

function diceSection(sliceDice: (number | null)[], policy: string | undefined, spec: ChartSpec): string {
  // Summed in ascending order, as the mean always was here.
  const scored = sliceDice.filter((d): d is number => d !== null && Number.isFinite(d)).sort((a, b) => a - b);
  const mean = meanOf(scored);
  const median = medianOf(scored);
  const summary = `<p data-testid="empty-policy">${scored.length} of ${sliceDice.length} slices scored; mean Dice <b>${formatNumber(mean)}</b>, median ${formatNumber(median)}. ${escapeHtml(policyText(policy, sliceDice.length - scored.length))}</p>`;
  return section('dice', 'Per-slice Dice', `${summary}<div class="charts one">${chartBox(spec)}</div>`);
}

function volumeSection(rows: NonNullable<ReportData['volumeScores']>, note: string | undefined): string {
  const name = (r: (typeof rows)[number]) => `${escapeHtml(r.volume)}${r.incomplete ? ' (incomplete)' : ''}`;
  const cells = rows.map((r) => `<tr><th scope="row">${name(r)}</th>${[r.dice, r.hd95, r.assd].map((v) => `<td>${formatValue(v)}</td>`).join('')}</tr>`);
  const table = `<table class="counts" data-testid="volume-table"><thead><tr><th>volume</th><th>Dice</th><th>HD95</th><th>ASSD</th></tr></thead><tbody>${cells.join('')}</tbody></table>`;
  const incomplete = rows.some((r) => r.incomplete)
    ? '<p class="muted" data-testid="incomplete-volumes">An incomplete volume misses a slice number (a slice the data scan skipped): its Dice is over the slices it has, and it has no HD95 or ASSD, which stacking the rest would measure across the gap as if its neighbours were adjacent.</p>'
    : '';
  return section('volumes', 'Test volumes: Dice and surface distances', `${note ? `<p class="muted">${escapeHtml(note)}</p>` : ''}${table}${incomplete}`);
}

function classSection(counts: NonNullable<ReportData['classCounts']>, spec: ChartSpec): string {
  const rows = Object.entries(counts).map(
    ([split, c]) => `<tr><th scope="row">${escapeHtml(split)}</th><td>${c.positive}</td><td>${c.negative}</td><td>${c.positive + c.negative}</td><td>${percent(c.positive, c.positive + c.negative)}</td></tr>`,
  );
  const table = `<table class="counts" data-testid="class-table"><thead><tr><th>split</th><th>positive</th><th>negative</th><th>total</th><th>positive share</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
  return section('classes', 'Class counts per split', `<div class="split"><div class="charts one">${chartBox(spec)}</div>${table}</div>`);
}



function headerChips(data: ReportData): string {
  const chips: [string, string][] = [
    ['task', data.task],
    ['epochs', String(data.history.length)],
  ];
  const withVal = data.history.filter((r) => Number.isFinite(r.val_loss));
  if (withVal.length > 0) {
    const best = withVal.reduce((a, b) => (b.val_loss < a.val_loss ? b : a));
    chips.push(['best val_loss', `${formatNumber(best.val_loss)} (epoch ${best.epoch})`]);
  }
  chips.push(['adapter', data.adapter]);
  return `<ul class="chips">${chips.map(([k, v]) => `<li>${escapeHtml(k)} <b>${escapeHtml(v)}</b></li>`).join('')}</ul>`;
}

export async function renderReport(data: ReportData): Promise<string> {
  const loaded = data.chartJsSource !== undefined ? { source: data.chartJsSource, reason: 'the given Chart.js source did not define Chart' } : await loadChartJs();
  const curves = historyCharts(data.history);
  const charts = [...curves];
  const sections = [settingsSection(data)];
  const curveBody = curves.length ? `<div class="charts">${curves.map(chartBox).join('')}</div>` : '<p class="muted">No epochs were logged.</p>';
  sections.push(section('curves', 'Training curves', curveBody));
  if (data.classCounts && Object.keys(data.classCounts).length > 0) {
    const splits = Object.keys(data.classCounts);
    const spec = barChart('chart-class-counts', 'slices per split', splits, [
      { label: 'positive (lesion)', color: '#f97316', data: splits.map((s) => data.classCounts![s].positive) },
      { label: 'negative', color: '#94a3b8', data: splits.map((s) => data.classCounts![s].negative) },
    ], 'split');
    charts.push(spec);
    sections.push(classSection(data.classCounts, spec));
  }
  if (data.samples && data.samples.length > 0) sections.push(await samplesSection(data.samples));
  if (data.task === 'classify' && data.confusion) sections.push(confusionSection(data.confusion));
  if (data.task === 'segment' && data.sliceDice) {
    const { counts, labels } = diceHistogram(data.sliceDice);
    const spec = barChart('chart-dice-hist', 'slices per Dice bin', labels, [{ label: 'slices', color: '#0e9384', data: counts }], 'Dice');
    charts.push(spec);
    sections.push(diceSection(data.sliceDice, data.emptyPolicy, spec));
  }
  if (data.task === 'segment' && data.volumeScores?.length) sections.push(volumeSection(data.volumeScores, data.surfaceNote));
  if (data.augmentPreview && data.augmentPreview.length > 0) sections.push(await augmentSection(data.augmentPreview));
  if (data.testMetrics && Object.keys(data.testMetrics).length > 0) {
    const entries: [string, string][] = Object.entries(data.testMetrics).map(([k, v]) => [k, formatNumber(v)]);
    sections.push(section('test', 'Test metrics', keyValueTable(entries, 'test-table')));
  }
  const specJson = JSON.stringify({ reason: loaded.reason, charts }).replace(/</g, '\\u003c');
  const chartScript = loaded.source ? `<script>${scriptSafe(loaded.source)}</script>` : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(data.title)}</title><style>${CSS}</style></head>
<body data-charts="pending">
<header><h1 data-testid="report-title">${escapeHtml(data.title)}</h1>${headerChips(data)}</header>
<main>
<div id="chart-error" class="error" data-testid="chart-error" role="alert" hidden></div>
<noscript><div class="error">Charts need JavaScript; the tables below hold the numbers.</div></noscript>
${sections.join('\n')}
</main>
<script type="application/json" id="chart-specs">${specJson}</script>
${chartScript}
<script>${PAGE_SCRIPT}</script>
</body></html>
`;
}

/** Renders the report and writes it atomically (creating the folder if needed). */
export async function writeReport(path: string, data: ReportData): Promise<void> {
  const html = await renderReport(data);
  await makeFolder((await nodePath()).dirname(path));
  await writeFileAtomic(path, html);
}
