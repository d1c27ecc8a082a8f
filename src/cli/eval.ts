// `dawnet eval RUN [RUN...] [--data DIR] [--tta flip] [--spacing DZ,DY,DX] [--min-lesion-size N] [--keep-largest] [--window-weighting gaussian] [--json] [--out FILE]`.
// Several runs: their ensemble (app/ensemble-job.ts) on the test patients they all held out.

import { runEnsembleEval } from '../app/ensemble-job.js';
import { runEval } from '../app/eval-job.js';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { runFiles, writeJson } from '../app/run-dir.js';
import { makeParentFolder } from '../io/files.js';
import * as dn from '../index.js';
import { TTA_MODES, type TtaMode } from '../train/tta.js';
import { WINDOW_WEIGHTINGS, type WindowWeighting } from '../train/sliding-window.js';
import { parseArgs, UsageError, type CommandSpec } from './args.js';

export const evalSpec: CommandSpec = {
  name: 'eval',
  summary:
    "Evaluate a run's best checkpoint on its test split (the patients it never trained or validated on). Writes RUN/eval.json.\n" +
    'Segmentation adds HD95 and ASSD (surface distances, per volume and per lesion slice). Several runs (the folds of dawnet cv):\n' +
    'their ensemble, each best checkpoint predicting the test patients they all held out and the probabilities averaged,\n' +
    'scored as one run is (the loss included; --out FILE for its JSON).',
  positionals: [{ name: 'RUN', help: 'run folder written by dawnet train; more than one: their ensemble', variadic: true }],
  flags: {
    data: { type: 'string', help: "kaggle_3m folder (default: the one the run was trained on)" },
    tta: { type: 'string', help: 'test-time augmentation: flip averages the image and its left-right mirror', choices: TTA_MODES, default: 'none' },
    'window-weighting': { type: 'string', help: "a 3-D run's (train --volume-depth) sliding windows: 'uniform' averages a plane's windows alike, 'gaussian' weighs each by nnU-Net's Gaussian about its centre", choices: WINDOW_WEIGHTINGS, default: 'uniform' },
    spacing: { type: 'list', help: 'voxel spacing dz,dy,dx for HD95 and ASSD (default 1,1,1: pixels)' },
    'min-lesion-size': {
      type: 'number',
      help: 'drop predicted lesions under N voxels before the metrics: 3-D components of each patient volume, 26-connected (diagonal neighbours across slices join)',
      default: 0,
    },
    'keep-largest': { type: 'boolean', help: "keep only each patient's largest predicted lesion (after --min-lesion-size; a tie keeps the first in slice order)" },
    json: { type: 'boolean', help: 'print the metrics as JSON instead of a table' },
    out: { type: 'string', help: "also write the metrics' JSON here (an ensemble has no run folder of its own to write eval.json into)" },
    'all-patients': { type: 'boolean', help: "score every patient of --data (an external test set) instead of the run's test patients; warns about patients the run trained or validated on, and leaves RUN/eval.json as it is" },
  },
  examples: [
    'dawnet eval runs/unet',
    'dawnet eval runs/unet --tta flip',
    'dawnet eval runs/unet --min-lesion-size 50',
    'dawnet eval runs/vgg --data /data/kaggle_3m --json',
    'dawnet eval runs/cv/fold-1 runs/cv/fold-2 runs/cv/fold-3 --tta flip --out runs/cv/ensemble-tta.json',
    'dawnet eval runs/unet --data /data/other_site --all-patients --out runs/unet/external.json',
  ],
};

/** --spacing dz,dy,dx as three positive numbers, or undefined when not given. */
export function parseSpacing(values: string[] | undefined): number[] | undefined {
  if (values === undefined) return undefined;
  const spacing = values.map(Number);
  if (spacing.length !== 3 || !spacing.every((d) => Number.isFinite(d) && d > 0)) {
    throw new UsageError(`--spacing expects three positive numbers dz,dy,dx, got '${values.join(',')}'`);
  }
  return spacing;
}

/** --min-lesion-size as a non-negative whole number of voxels (pixels in predict). */
export function parseMinLesionSize(value: unknown): number {
  if (value === undefined) return 0;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new UsageError(`--min-lesion-size expects a non-negative whole number of voxels, got '${String(value)}'`);
  }
  return value;
}

/**
 * --out, checked before anything is evaluated: a .json path (it holds the metrics), not a folder
 * and not a file of the runs evaluated (`eval RUN --out RUN/best.safetensors` replaced the
 * checkpoint with JSON, and a text file of the user's was overwritten alike). Its folder is made
 * when the metrics are written.
 */
export async function checkEvalOut(out: string, runs: readonly string[]): Promise<void> {
  if (!out.endsWith('.json')) throw new UsageError(`--out takes a .json path (it writes the metrics as JSON), got '${out}'`);
  if (await stat(out).then((st) => st.isDirectory(), () => false)) throw new UsageError(`--out ${out} is a folder; give a .json path in it, such as ${out.replace(/\/+$/, '')}/eval-metrics.json`);
  const target = resolve(out);
  const own = runs.flatMap((run) => Object.values(runFiles(run)).map((f) => resolve(f)));
  if (own.includes(target)) throw new UsageError(`--out ${out} is one of the run's own files; give another path (the run's eval.json is written by eval itself)`);
}

export async function runEvalCommand(args: string[]): Promise<void> {
  const parsed = parseArgs(evalSpec, args);
  if (!parsed) return;
  if (typeof parsed.flags.out === 'string') await checkEvalOut(parsed.flags.out, parsed.positionals);
  const json = parsed.flags.json === true;
  const spacing = parseSpacing(parsed.flags.spacing as string[] | undefined);
  const minLesionSize = parseMinLesionSize(parsed.flags['min-lesion-size']);
  await dn.init();
  try {
    const quiet: string[] = [];
    const opts = {
      data: parsed.flags.data as string | undefined,
      tta: parsed.flags.tta as TtaMode,
      windowWeighting: parsed.flags['window-weighting'] as WindowWeighting,
      spacing,
      minLesionSize,
      keepLargest: parsed.flags['keep-largest'] === true,
      allPatients: parsed.flags['all-patients'] === true,
      log: (m: string) => (json ? quiet.push(m) : console.log(m)),
    };
    if (opts.allPatients && !opts.data) throw new UsageError('--all-patients scores an external data folder: give it with --data DIR');
    const runs = parsed.positionals;
    const result = runs.length > 1 ? await runEnsembleEval(runs, opts) : await runEval(runs[0], opts);
    if (json) console.log(JSON.stringify(result.json, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2));
    if (typeof parsed.flags.out === 'string') {
      await makeParentFolder(parsed.flags.out);
      await writeJson(parsed.flags.out, result.json);
    }
  } finally {
    dn.shutdown();
  }
}
