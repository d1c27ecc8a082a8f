// --min-lesion-size and --keep-largest on eval and predict: parsed, defaulted to off, refused with a
// one-line error when not a non-negative whole number; the jobs check them again (from code) before
// reading the run, and refuse them for a classification run.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runEval } from '../../src/app/eval-job.js';
import { defaultConfig } from '../../src/app/config.js';
import { runPredict } from '../../src/app/predict-job.js';
import { parseArgs, UsageError } from '../../src/cli/args.js';
import { evalSpec, parseMinLesionSize } from '../../src/cli/eval.js';
import { predictSpec } from '../../src/cli/predict.js';
import { ArgumentError } from '../../src/errors.js';
import { buildCli, runCliSync } from './helpers.js';

let cli = '';
beforeAll(async () => {
  cli = await buildCli();
});
afterAll(() => rmSync(dirname(cli), { recursive: true, force: true }));

const log = () => undefined;

describe('--min-lesion-size and --keep-largest', () => {
  for (const spec of [evalSpec, predictSpec]) {
    const images = spec === predictSpec ? ['a.tif'] : [];
    it(`${spec.name}: off by default; a whole number and the switch are taken`, () => {
      const plain = parseArgs(spec, ['runs/u', ...images])!;
      expect(parseMinLesionSize(plain.flags['min-lesion-size'])).toBe(0);
      expect(plain.flags['keep-largest']).toBeUndefined();
      const on = parseArgs(spec, ['runs/u', ...images, '--min-lesion-size', '25', '--keep-largest'])!;
      expect(parseMinLesionSize(on.flags['min-lesion-size'])).toBe(25);
      expect(on.flags['keep-largest']).toBe(true);
      expect(parseMinLesionSize(parseArgs(spec, ['runs/u', ...images, '--min-lesion-size=0'])!.flags['min-lesion-size'])).toBe(0);
    });

    it(`${spec.name}: a negative, fractional or non-numeric size is a one-line error naming the flag`, () => {
      for (const bad of ['-3', '2.5', 'ten']) {
        const r = runCliSync(cli, [spec.name, '/nonexistent/run', ...images, '--min-lesion-size', bad]);
        expect(r.code, bad).not.toBe(0);
        expect(r.stderr.trim().split('\n'), bad).toHaveLength(1);
        expect(r.stderr, bad).toContain('--min-lesion-size');
      }
      expect(() => parseMinLesionSize(-1)).toThrow(UsageError);
      expect(() => parseMinLesionSize(0.5)).toThrow(/non-negative whole number/);
    });
  }

  it('the jobs refuse bad values before reading the run', async () => {
    for (const opts of [{ minLesionSize: -1 }, { minLesionSize: 1.5 }, { keepLargest: 'yes' as unknown as boolean }]) {
      await expect(runEval('/nonexistent/run', { ...opts, log }), JSON.stringify(opts)).rejects.toThrow(ArgumentError);
      await expect(runPredict('/nonexistent/run', ['a.tif'], '/tmp/never', log, opts), JSON.stringify(opts)).rejects.toThrow(ArgumentError);
    }
  });

  it('the jobs refuse post-processing for a classification run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dawnet-postprocess-'));
    try {
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...defaultConfig('classify'), out: dir }));
      await expect(runEval(dir, { minLesionSize: 10, log })).rejects.toThrow(/classify/);
      await expect(runPredict(dir, ['a.tif'], join(dir, 'pred'), log, { keepLargest: true })).rejects.toThrow(ArgumentError);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
