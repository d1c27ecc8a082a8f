// The main job end to end through the real CLI on a synthetic data set: train, eval, predict,
// the report in headless Chromium, and the classifier. Interruptions, resumes and the training
// options are in train-options.e2e.test.ts (two files, so the test forks share the load).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodePng } from '../../src/io/png.js';
import { expectChartsDrawn, hasChromium } from '../helpers/charts-page.js';
import { runCli, useCliWorkspace } from './helpers.js';

let cli = '';
let work = '';
let data = '';
useCliWorkspace('dawnet-e2e-', ['--patients', '14', '--seed', '3', '--size', '32', '--slices', '10-16'], (ws) => ({ cli, work, data } = ws));

const SEGMENT = ['--size', '32', '--features', '8', '--depth', '3', '--batch', '8', '--lr', '0.003', '--loss', 'bce+dice', '--augment', 'hflip'];

describe('train segment, eval, predict, report', () => {
  const run = () => join(work, 'seg');

  it('reaches a Dice above 0.8 on held-out synthetic patients', async () => {
    const r = await runCli(cli, ['train', 'segment', '--data', data, '--out', run(), '--epochs', '20', ...SEGMENT], { timeoutMs: 400_000 });
    expect(r.code, r.stderr).toBe(0);
    const evalJson = JSON.parse(readFileSync(join(run(), 'eval.json'), 'utf8'));
    expect(evalJson.dicePerSlice).toBeGreaterThan(0.8);
    const lines = readFileSync(join(run(), 'metrics.jsonl'), 'utf8').trim().split('\n');
    expect(lines.length).toBeGreaterThan(0);
    expect(JSON.parse(lines[0])).toHaveProperty('val_dice');
    for (const f of ['config.json', 'split.json', 'best.safetensors', 'last.safetensors', 'report.html']) expect(existsSync(join(run(), f)), f).toBe(true);
    // No patient is in two splits.
    const split = JSON.parse(readFileSync(join(run(), 'split.json'), 'utf8'));
    const all = [...split.patients.train, ...split.patients.val, ...split.patients.test];
    expect(new Set(all).size).toBe(all.length);
  }, 420_000);

  it('eval --json prints the test metrics with the empty-slice policy', async () => {
    const r = await runCli(cli, ['eval', run(), '--json']);
    expect(r.code, r.stderr).toBe(0);
    const json = JSON.parse(r.stdout.slice(r.stdout.indexOf('{')));
    expect(json.emptyPolicy).toBe('one');
    expect(json.dicePerSlice).toBeGreaterThan(0.8);
    expect(json).toHaveProperty('dicePerVolume');
  }, 120_000);

  it('predict writes probability, mask and overlay PNGs', async () => {
    const split = JSON.parse(readFileSync(join(run(), 'split.json'), 'utf8'));
    const patient = split.patients.test[0] as string;
    const { readdirSync } = await import('node:fs');
    const folder = readdirSync(data).find((f) => f.startsWith(patient))!;
    const slice = readdirSync(join(data, folder)).find((f) => /_\d+\.tif$/.test(f))!;
    const out = join(work, 'pred');
    const r = await runCli(cli, ['predict', run(), join(data, folder, slice), '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const base = slice.replace(/\.tif$/, '');
    for (const kind of ['prob', 'mask', 'overlay']) {
      const png = await decodePng(new Uint8Array(readFileSync(join(out, `${base}_${kind}.png`))));
      expect([png.width, png.height]).toEqual([32, 32]);
    }
    expect(JSON.parse(readFileSync(join(out, 'predictions.json'), 'utf8')).predictions).toHaveLength(1);
  }, 120_000);

  it.skipIf(!hasChromium)('the report opens in headless Chromium and draws its charts', async () => {
    await expectChartsDrawn(join(run(), 'report.html'), async (page) => {
      const charts = await page.evaluate(() => Object.keys((window as unknown as { Chart: { instances: object } }).Chart.instances).length);
      expect(charts).toBeGreaterThanOrEqual(4);
      expect(await page.locator('[data-testid="section-samples"] img').count()).toBeGreaterThan(0);
      const { mkdirSync } = await import('node:fs');
      mkdirSync('test-results', { recursive: true });
      await page.screenshot({ path: 'test-results/e2e-report.png', fullPage: true });
    });
  }, 120_000);
});

describe('train classify', () => {
  it('a small random-weight VGG-style classifier beats the majority class clearly', async () => {
    const classData = join(work, 'class-data');
    const s = await runCli(cli, ['synth', '--out', classData, '--patients', '22', '--seed', '11', '--size', '32', '--slices', '10-16']);
    expect(s.code, s.stderr).toBe(0);
    const run = join(work, 'cls');
    const r = await runCli(cli, ['train', 'classify', '--data', classData, '--out', run, '--size', '32', '--width-scale', '0.125', '--epochs', '15', '--batch', '8', '--lr', '0.001', '--augment', 'hflip', '--test-fraction', '0.3'], { timeoutMs: 400_000 });
    expect(r.code, r.stderr).toBe(0);
    const e = JSON.parse(readFileSync(join(run, 'eval.json'), 'utf8'));
    const positives = e.tp + e.fn;
    const total = e.tp + e.fn + e.tn + e.fp;
    const majority = Math.max(positives, total - positives) / total;
    expect(e.accuracy).toBeGreaterThan(majority + 0.08);
    // The report shows each validation slice under the classifier's Grad-CAM map.
    expect(readFileSync(join(run, 'report.html'), 'utf8')).toContain('data-testid="heat-legend"');
  }, 420_000);
});
