// `dawnet lr-find` through the real CLI on a tiny synthetic data set: the printed suggestion and
// table, lr-find.json and lr-find.html agreeing with each other, the page drawing its chart in
// headless Chromium (where there is one), --help and a one-line error.
import { readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lrFindSpec } from '../../src/cli/lr-find.js';
import { expectChartsDrawn, hasChromium } from '../helpers/charts-page.js';
import { buildCli, runCli, runCliSync, tempDir } from './helpers.js';

let cli = '';
let work = '';
beforeAll(async () => {
  cli = await buildCli();
  work = tempDir('dawnet-lr-find-');
}, 60_000);
afterAll(() => {
  rmSync(dirname(cli), { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

describe('dawnet lr-find', () => {
  const out = () => join(work, 'out');

  it('runs the range test on a U-Net and writes lr-find.json and lr-find.html that agree', async () => {
    const data = join(work, 'data');
    expect((await runCli(cli, ['synth', '--out', data, '--patients', '6', '--seed', '4', '--size', '32', '--slices', '6-8'])).code).toBe(0);
    const args = ['lr-find', 'segment', '--data', data, '--out', out(), '--size', '32', '--features', '4', '--depth', '2', '--batch', '8', '--augment', 'none', '--steps', '24', '--min-lr', '1e-4', '--max-lr', '10'];
    const r = await runCli(cli, args, { timeoutMs: 300_000 });
    expect(r.code, r.stderr).toBe(0);
    const json = JSON.parse(readFileSync(join(out(), 'lr-find.json'), 'utf8'));
    const n = json.lrs.length;
    expect(n).toBeGreaterThan(2);
    expect(n).toBeLessThanOrEqual(24);
    expect([json.losses.length, json.smoothed.length]).toEqual([n, n]);
    expect(json.lrs[0]).toBe(1e-4);
    expect(json.stoppedEarly).toBe(n < 24);
    expect(json.config).toMatchObject({ task: 'segment', features: 4, depth: 2 });
    expect(json.suggestion).toBe(json.lrs[json.suggestionIndex]);
    expect(r.stdout).toContain(`suggested learning rate: ${json.suggestion.toExponential(2)}`);
    expect(r.stdout).toMatch(/step\s+learning rate\s+loss\s+smoothed/);

    const html = readFileSync(join(out(), 'lr-find.html'), 'utf8');
    const specs = JSON.parse(/<script type="application\/json" id="chart-specs">(.*?)<\/script>/s.exec(html)![1]);
    const [raw, smooth, mark] = specs.charts[0].config.data.datasets;
    expect(raw.data.map((p: { x: number }) => p.x)).toEqual(json.lrs);
    expect(smooth.data.map((p: { y: number }) => p.y)).toEqual(json.smoothed);
    expect(mark.data[0].x).toBe(json.suggestion);
    expect(html).toContain(`data-testid="chip-suggestion">${json.suggestion.toExponential(2)}`);
  }, 300_000);

  it.skipIf(!hasChromium)('the page draws its chart in headless Chromium', async () => {
    await expectChartsDrawn(join(out(), 'lr-find.html'));
  }, 60_000);

  it('--help lists every option; a bad value is a one-line error', () => {
    const help = runCliSync(cli, ['lr-find', '--help']);
    expect(help.code).toBe(0);
    for (const flag of Object.keys(lrFindSpec.flags)) expect(help.stdout).toContain(`--${flag}`);
    expect(runCliSync(cli, ['--help']).stdout).toContain('  lr-find ');
    const bad = runCliSync(cli, ['lr-find', 'segment', '--data', work, '--steps', '1']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr.trim().split('\n')).toEqual([expect.stringContaining('--steps')]);
  });
});
