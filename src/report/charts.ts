// The report's charts as plain Chart.js configurations (JSON built here, so what a chart shows is
// decided and tested in TypeScript), and the Chart.js source the page inlines.

import { nodeFs, nodeModule, nodePath } from '../io/files.js';
import type { ReportData } from './html.js';

export interface ChartSpec {
  id: string;
  title: string;
  config: Record<string, unknown>;
}

const TRAIN_COLOR = '#2563eb';
const VAL_COLOR = '#ea580c';

export function lineChart(id: string, title: string, epochs: number[], series: { label: string; color: string; data: number[] }[], log = false): ChartSpec {
  return {
    id,
    title,
    config: {
      type: 'line',
      data: {
        labels: epochs,
        datasets: series.map((s) => ({
          label: s.label,
          data: s.data.map((v) => (Number.isFinite(v) ? v : null)),
          borderColor: s.color,
          backgroundColor: s.color,
          pointRadius: 2.5,
          tension: 0.2,
        })),
      },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        interaction: { mode: 'index', intersect: false },
        plugins: { legend: { position: 'bottom' } },
        scales: {
          x: { title: { display: true, text: 'epoch' } },
          y: { type: log ? 'logarithmic' : 'linear', title: { display: true, text: title } },
        },
      },
    },
  };
}

/**
 * One chart per quantity: loss (train and val), each metric (val_<m> with the train <m> when logged),
 * the learning rate, and any other logged key. Epoch on x.
 */
export function historyCharts(history: ReportData['history']): ChartSpec[] {
  const keys = new Set<string>();
  for (const row of history) for (const k of Object.keys(row)) if (k !== 'epoch') keys.add(k);
  const bases = [...new Set([...keys].filter((k) => k !== 'lr').map((k) => k.replace(/^val_/, '')))];
  bases.sort((a, b) => (a === 'loss' ? -1 : b === 'loss' ? 1 : a.localeCompare(b)));
  const epochs = history.map((r) => r.epoch);
  const column = (k: string): number[] => history.map((r) => (k in r ? r[k] : NaN));
  const charts = bases.map((base) => {
    const series = [];
    if (keys.has(base)) series.push({ label: `train ${base}`, color: TRAIN_COLOR, data: column(base) });
    if (keys.has(`val_${base}`)) series.push({ label: `val ${base}`, color: VAL_COLOR, data: column(`val_${base}`) });
    return lineChart(`chart-${base}`, base, epochs, series);
  });
  if (keys.has('lr')) {
    const lr = column('lr').filter((v) => v > 0);
    const log = lr.length > 0 && Math.max(...lr) / Math.min(...lr) > 20;
    charts.push(lineChart('chart-lr', 'learning rate', epochs, [{ label: 'lr', color: '#7c3aed', data: column('lr') }], log));
  }
  return charts;
}

export function barChart(id: string, title: string, labels: string[], datasets: { label: string; color: string; data: number[] }[], xTitle: string): ChartSpec {
  return {
    id,
    title,
    config: {
      type: 'bar',
      data: { labels, datasets: datasets.map((d) => ({ label: d.label, data: d.data, backgroundColor: d.color })) },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        plugins: { legend: { display: datasets.length > 1, position: 'bottom' } },
        scales: { x: { title: { display: true, text: xTitle } }, y: { beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: 'slices' } } },
      },
    },
  };
}

const DICE_BINS = 10;

export function diceHistogram(sliceDice: (number | null)[]): { counts: number[]; labels: string[] } {
  const counts = new Array<number>(DICE_BINS).fill(0);
  for (const d of sliceDice) {
    if (d === null || !Number.isFinite(d)) continue;
    counts[Math.min(DICE_BINS - 1, Math.max(0, Math.floor(d * DICE_BINS)))]++;
  }
  const labels = counts.map((_, i) => `${(i / DICE_BINS).toFixed(1)}–${((i + 1) / DICE_BINS).toFixed(1)}`);
  return { counts, labels };
}

/**
 * The Chart.js source a page inlines (`given`, else node_modules'), or null and why not. The
 * library is inlined as-is: a source that could close the script element is left out (and the
 * page's banner says so) rather than altered.
 */
export async function chartJsToInline(given?: string | null): Promise<{ source: string | null; reason: string }> {
  const loaded = given !== undefined ? { source: given, reason: 'the given Chart.js source did not define Chart' } : await loadChartJs();
  if (loaded.source !== null && /<\/script|<!--/i.test(loaded.source)) return { source: null, reason: 'the Chart.js source contains "</script" or "<!--" and was not inlined' };
  return loaded;
}

export async function loadChartJs(): Promise<{ source: string | null; reason: string }> {
  const isNode = typeof process !== 'undefined' && !!process.versions?.node;
  if (!isNode) return { source: null, reason: 'no Chart.js source was given' };
  try {
    const { createRequire } = await nodeModule<typeof import('node:module')>('node:module');
    const [fs, path] = [await nodeFs(), await nodePath()];
    // chart.js exports no ./dist/* subpath, so resolve its main file and look beside it.
    const main = createRequire(import.meta.url).resolve('chart.js');
    return { source: await fs.readFile(path.join(path.dirname(main), 'chart.umd.min.js'), 'utf8'), reason: '' };
  } catch (e) {
    return { source: null, reason: `chart.js could not be read from node_modules (${(e as Error).message})` };
  }
}
