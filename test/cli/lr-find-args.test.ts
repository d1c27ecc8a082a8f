// `dawnet lr-find`: flags parsed into train's config and the range test's settings, bad ones
// refused with a UsageError before any work; the text table, the chart and the page from a
// synthetic result (no GPU).

import { describe, expect, it } from 'vitest';
import { parseArgs, UsageError } from '../../src/cli/args.js';
import { formatLrFindTable, lrFindSettings, lrFindSpec } from '../../src/cli/lr-find.js';
import { lrFindChart, renderLrFindPage, sampleSteps } from '../../src/report/lr-find-html.js';
import { lrAtStep, type LrFinderResult } from '../../src/train/lr-finder.js';

const settingsOf = (argv: string[]) => {
  const parsed = parseArgs(lrFindSpec, argv)!;
  return lrFindSettings(parsed.positionals[0], parsed.flags);
};

describe('lr-find flags', () => {
  it("takes train's model and data flags and the range test's own, with the defaults", () => {
    const s = settingsOf(['segment', '--data', 'd', '--size', '64', '--features', '8', '--depth', '3', '--batch', '4', '--optimizer', 'sgd', '--loss', 'bce+dice']);
    expect([s.steps, s.minLr, s.maxLr]).toEqual([100, 1e-7, 1]);
    expect(s.config).toMatchObject({ task: 'segment', data: 'd', out: 'runs/lr-find', size: 64, features: 8, depth: 3, batch: 4, optimizer: 'sgd', loss: 'bce+dice' });
    const t = settingsOf(['classify', '--data', 'd', '--out', 'o', '--steps', '40', '--min-lr', '1e-5', '--max-lr=0.1', '--width-scale', '0.125', '--size', '32']);
    expect([t.steps, t.minLr, t.maxLr, t.config.out, t.config.widthScale, t.config.loss]).toEqual([40, 1e-5, 0.1, 'o', 0.125, 'bce']);
  });

  it("takes --volume-depth: the range test of the 3-D U-Net on volume patches, as train would build it", () => {
    const s = settingsOf(['segment', '--data', 'd', '--size', '32', '--depth', '2', '--volume-depth', '8', '--patches-per-volume', '3']);
    expect(s.config).toMatchObject({ volumeDepth: 8, patchesPerVolume: 3, normalize: 'zscore-volume' });
    expect(() => settingsOf(['segment', '--data', 'd', '--depth', '2', '--volume-depth', '6'])).toThrow(/--volume-depth 6 must be a multiple of 4/);
  });

  it('refuses bad flags with a one-line UsageError naming the flag', () => {
    const cases: [string[], RegExp][] = [
      [['segment', '--data', 'd', '--steps', '1'], /--steps/],
      [['segment', '--data', 'd', '--steps', '2.5'], /--steps/],
      [['segment', '--data', 'd', '--min-lr', '0'], /--min-lr/],
      [['segment', '--data', 'd', '--min-lr', 'tiny'], /--min-lr/],
      [['segment', '--data', 'd', '--min-lr', '1e-3', '--max-lr', '1e-3'], /--max-lr/],
      [['segment', '--data', 'd', '--epochs', '3'], /--epochs/],
      [['segment', '--data', 'd', '--norm', 'layer'], /--norm/],
      [['segment', '--data', 'd', '--size', '30'], /--size/],
      [['classify', '--data', 'd', '--loss', 'dice'], /--loss/],
      [['segment'], /--data/],
      [['regress', '--data', 'd'], /classify' or 'segment/],
      [[], /classify\|segment/],
    ];
    for (const [argv, flag] of cases) {
      let error: unknown;
      try {
        settingsOf(argv);
      } catch (e) {
        error = e;
      }
      expect(error, argv.join(' ')).toBeInstanceOf(UsageError);
      expect((error as Error).message).toMatch(flag);
      expect((error as Error).message.split('\n')).toHaveLength(1);
    }
  });
});

/** A synthetic test of 30 steps: a fall, a floor, then a blow-up. */
function synthetic(): LrFinderResult {
  const lrs = Array.from({ length: 30 }, (_, i) => lrAtStep(i, 30, 1e-5, 1));
  const smoothed = lrs.map((lr) => 1 - 0.5 * Math.tanh(2 * (Math.log10(lr) + 3)) + (lr > 0.3 ? 50 * lr : 0));
  return { lrs, losses: smoothed.map((v, i) => v + (i % 2 ? 0.05 : -0.05)), smoothed, suggestion: lrs[12], suggestionIndex: 12, stoppedEarly: true };
}

describe('lr-find output', () => {
  it('the table samples the steps, first and last included, and marks the suggestion', () => {
    const r = synthetic();
    const steps = sampleSteps(r, 6);
    expect(steps[0]).toBe(0);
    expect(steps.at(-1)).toBe(29);
    expect(steps).toContain(12);
    const lines = formatLrFindTable(r).split('\n');
    expect(lines[0]).toMatch(/step\s+learning rate\s+loss\s+smoothed/);
    const marked = lines.filter((l) => l.includes('< suggestion'));
    expect(marked).toHaveLength(1);
    expect(marked[0]).toContain(r.lrs[12].toExponential(2));
  });

  it('the chart: loss and smoothed loss on a log x axis, the suggestion marked, the blow-up clipped', () => {
    const r = synthetic();
    const config = lrFindChart(r, 4).config as {
      type: string;
      data: { datasets: { label: string; data: { x: number; y: number | null }[] }[] };
      options: { scales: { x: { type: string }; y: { max?: number } } };
    };
    expect(config.type).toBe('scatter');
    expect(config.options.scales.x.type).toBe('logarithmic');
    const [raw, smooth, mark] = config.data.datasets;
    expect(raw.data.map((p) => p.x)).toEqual(r.lrs);
    expect(smooth.data.map((p) => p.y)).toEqual(r.smoothed);
    expect(mark.data).toEqual([{ x: r.lrs[12], y: r.smoothed[12] }]);
    expect(mark.label).toContain(r.lrs[12].toExponential(2));
    expect(config.options.scales.y.max).toBeCloseTo(4 * Math.min(...r.smoothed), 12);
  });

  it('the page embeds the chart JSON and the table, escapes the title, and inlines Chart.js only when safe', async () => {
    const r = synthetic();
    const page = await renderLrFindPage({ title: 'range <test>', task: 'segment', result: r, minLr: 1e-5, maxLr: 1, divergeFactor: 4, chartJsSource: 'window.Chart = function () {};' });
    expect(page).toContain('range &lt;test>');
    expect(page).not.toContain('<test>');
    expect(page).toContain('window.Chart = function () {};');
    const json = JSON.parse(/<script type="application\/json" id="chart-specs">(.*?)<\/script>/s.exec(page)![1]);
    expect(json.charts[0].config.data.datasets[1].data.map((p: { x: number }) => p.x)).toEqual(r.lrs);
    expect(page).toContain(`data-testid="chip-suggestion">${r.lrs[12].toExponential(2)}`);
    expect(page.match(/<tr class="suggested">/g)).toHaveLength(1);
    const unsafe = await renderLrFindPage({ title: 't', task: 'segment', result: r, minLr: 1e-5, maxLr: 1, divergeFactor: 4, chartJsSource: 'x("</script>")' });
    expect(unsafe).not.toContain('x("</script>")');
    expect(unsafe).toContain('was not inlined');
  });
});
