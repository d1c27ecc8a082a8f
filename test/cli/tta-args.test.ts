// --tta and --spacing on eval and predict: parsed, defaulted, and refused with a clear error before
// any work starts. The options are checked again where the jobs take them from code.
import { describe, expect, it } from 'vitest';
import { runEval } from '../../src/app/eval-job.js';
import { runPredict } from '../../src/app/predict-job.js';
import { parseArgs, UsageError } from '../../src/cli/args.js';
import { evalSpec, parseSpacing } from '../../src/cli/eval.js';
import { predictSpec } from '../../src/cli/predict.js';
import { ArgumentError } from '../../src/errors.js';
import type { TtaMode } from '../../src/train/tta.js';

describe('--tta', () => {
  for (const spec of [evalSpec, predictSpec]) {
    it(`${spec.name}: flip is taken, none is the default, anything else is a usage error naming the choices`, () => {
      const images = spec === predictSpec ? ['a.tif'] : [];
      expect(parseArgs(spec, ['runs/u', ...images, '--tta', 'flip'])!.flags.tta).toBe('flip');
      expect(parseArgs(spec, ['runs/u', ...images, '--tta=none'])!.flags.tta).toBe('none');
      expect(parseArgs(spec, ['runs/u', ...images])!.flags.tta).toBe('none');
      expect(() => parseArgs(spec, ['runs/u', ...images, '--tta', 'rotate'])).toThrow(UsageError);
      expect(() => parseArgs(spec, ['runs/u', ...images, '--tta', 'rotate'])).toThrow(/--tta must be one of none, flip, got 'rotate'/);
      expect(() => parseArgs(spec, ['runs/u', ...images, '--tta'])).toThrow(UsageError);
    });
  }

  it('the jobs refuse an unknown mode before reading the run', async () => {
    const log = () => undefined;
    await expect(runEval('/nonexistent/run', { tta: 'hflip' as TtaMode, log })).rejects.toThrow(ArgumentError);
    await expect(runPredict('/nonexistent/run', ['a.tif'], '/tmp/never', log, { tta: 'both' as TtaMode })).rejects.toThrow(ArgumentError);
  });
});

describe('eval --spacing', () => {
  it('takes three positive numbers dz,dy,dx', () => {
    expect(parseSpacing(parseArgs(evalSpec, ['runs/u', '--spacing', '3,0.5,0.5'])!.flags.spacing as string[])).toEqual([3, 0.5, 0.5]);
    expect(parseSpacing(undefined)).toBeUndefined();
    for (const bad of [['1', '1'], ['1', '0', '1'], ['1', 'x', '1'], ['1', '1', '1', '1']]) expect(() => parseSpacing(bad)).toThrow(UsageError);
  });

  it('the job refuses a bad spacing before reading the run', async () => {
    await expect(runEval('/nonexistent/run', { spacing: [1, -1, 1], log: () => undefined })).rejects.toThrow(ArgumentError);
  });
});
