// `dawnet lr-find classify|segment --data DIR`: the learning-rate range test (dn.train.findLearningRate)
// on the model and training split that `dawnet train` with the same flags would build. Prints the
// suggested rate and a table, and writes lr-find.json and a self-contained lr-find.html to --out.
// Nothing is trained for keeps: the run starts from fresh weights, as train's first epoch would.

import type { TrainConfig } from '../app/config.js';
import { makeDataset, prepareData } from '../app/data.js';
import { buildModel, optimizerFor } from '../app/model.js';
import { writeJson } from '../app/run-dir.js';
import { importBaseWeights } from '../app/train-job.js';
import * as dn from '../index.js';
import { makeFolder, nodePath, writeFileAtomic } from '../io/files.js';
import { formatLoss, formatLr, renderLrFindPage, sampleSteps } from '../report/lr-find-html.js';
import { findLearningRate, LR_FINDER_DEFAULTS, SUGGESTION_RULE, type LrFinderResult } from '../train/lr-finder.js';
import { parseArgs, UsageError, type CommandSpec } from './args.js';
import { configFromFlags, trainSpec, validateTrainConfig } from './train.js';

/** train's flags that decide the model, its loss and optimiser, and the training batches. */
const MODEL_AND_DATA = [
  'data', 'batch', 'size', 'optimizer', 'loss', 'seed', 'augment', 'split', 'test-fraction', 'val-fraction',
  'features', 'depth', 'attention', 'norm', 'width-scale', 'weights', 'normalize', 'limit', 'workers', 'strict',
  'volume-depth', 'patches-per-volume',
] as const;

export const lrFindSpec: CommandSpec = {
  name: 'lr-find',
  summary:
    'Learning-rate range test (Smith 2017; fastai lr_find): trains the model `dawnet train` would build for up to --steps\n' +
    'batches while the learning rate rises exponentially from --min-lr to --max-lr, stops when the smoothed loss diverges,\n' +
    'and suggests the rate where the smoothed loss falls fastest. Writes lr-find.json and lr-find.html to --out.',
  positionals: [{ name: 'classify|segment', help: 'the task' }],
  flags: {
    out: { type: 'string', help: 'folder for lr-find.json and lr-find.html', default: 'runs/lr-find' },
    steps: { type: 'number', help: 'batches to train at most (epochs of the training split are repeated if needed)', default: LR_FINDER_DEFAULTS.steps },
    'min-lr': { type: 'number', help: 'learning rate of the first step', default: LR_FINDER_DEFAULTS.minLr },
    'max-lr': { type: 'number', help: 'learning rate of the last step', default: LR_FINDER_DEFAULTS.maxLr },
    ...Object.fromEntries(MODEL_AND_DATA.map((name) => [name, trainSpec.flags[name]])),
  },
  examples: ['dawnet lr-find segment --data kaggle_3m --out runs/lr-find', 'dawnet lr-find classify --data kaggle_3m --weights vgg16_notop.h5 --steps 200 --max-lr 0.1'],
};

export interface LrFindSettings {
  config: TrainConfig;
  steps: number;
  minLr: number;
  maxLr: number;
}

/** The task and flags, checked: train's joint checks, then the range test's own; UsageErrors naming the flag. */
export function lrFindSettings(task: string, flags: Record<string, unknown>): LrFindSettings {
  if (task !== 'classify' && task !== 'segment') throw new UsageError(`the task must be 'classify' or 'segment', got '${task}'`);
  const config = configFromFlags(task, flags);
  validateTrainConfig(config, false);
  const steps = flags.steps as number;
  const minLr = flags['min-lr'] as number;
  const maxLr = flags['max-lr'] as number;
  if (!Number.isInteger(steps) || steps < 2) throw new UsageError(`--steps must be a whole number of at least 2, got ${steps}`);
  if (!(minLr > 0)) throw new UsageError(`--min-lr must be positive, got ${minLr}`);
  if (!(maxLr > minLr)) throw new UsageError(`--max-lr must be above --min-lr (${minLr}), got ${maxLr}`);
  return { config, steps, minLr, maxLr };
}

/** The sampled steps as a text table, the suggested row marked with '<'. */
export function formatLrFindTable(result: LrFinderResult): string {
  const head = `${'step'.padStart(6)}  ${'learning rate'.padEnd(13)}  ${'loss'.padEnd(10)}  smoothed`;
  const rows = sampleSteps(result).map((i) => {
    const mark = i === result.suggestionIndex ? '  < suggestion' : '';
    return `${String(i + 1).padStart(6)}  ${formatLr(result.lrs[i]).padEnd(13)}  ${formatLoss(result.losses[i]).padEnd(10)}  ${formatLoss(result.smoothed[i])}${mark}`;
  });
  return [head, ...rows].join('\n');
}

/** Runs the test on the run's training split and writes the two files; returns the result. */
async function runLrFindJob(s: LrFindSettings, log: (m: string) => void, onStep?: (line: string) => void): Promise<LrFinderResult> {
  const c = s.config;
  // Its own name: an --out that is a run folder keeps the run's data-problems.txt (lr-find saves
  // nothing to a run).
  const { split, writeProblems } = await prepareData(c, log, undefined, `${c.out}/lr-find-data-problems.txt`);
  await writeProblems();
  const built = buildModel(c);
  const optimizer = optimizerFor(c, built.model.trainableParameters());
  const train = makeDataset(split.train, c, { train: true });
  let result: LrFinderResult;
  try {
    await importBaseWeights(c, built.model, log);
    result = await findLearningRate(built.model, train, {
      optimizer,
      loss: built.loss,
      minLr: s.minLr,
      maxLr: s.maxLr,
      steps: s.steps,
      onStep: (p) => onStep?.(`lr-find: step ${p.step + 1}/${p.steps} lr ${formatLr(p.lr)} loss ${formatLoss(p.loss)} smoothed ${formatLoss(p.smoothed)}`),
    });
  } finally {
    await train.close();
    optimizer.dispose();
    built.model.dispose();
  }
  const path = await nodePath();
  await makeFolder(c.out);
  await writeJson(path.join(c.out, 'lr-find.json'), {
    task: c.task,
    minLr: s.minLr,
    maxLr: s.maxLr,
    steps: s.steps,
    smoothing: LR_FINDER_DEFAULTS.smoothing,
    divergeFactor: LR_FINDER_DEFAULTS.divergeFactor,
    ...result,
    rule: SUGGESTION_RULE,
    config: c,
  });
  const html = await renderLrFindPage({ title: `Learning-rate range test: ${c.task}`, task: c.task, result, minLr: s.minLr, maxLr: s.maxLr, divergeFactor: LR_FINDER_DEFAULTS.divergeFactor });
  await writeFileAtomic(path.join(c.out, 'lr-find.html'), html);
  return result;
}

export async function runLrFind(args: string[]): Promise<void> {
  const parsed = parseArgs(lrFindSpec, args);
  if (!parsed) return;
  const settings = lrFindSettings(parsed.positionals[0], parsed.flags);
  // Made first: an --out that is a file or cannot be written failed only after the whole test.
  await makeFolder(settings.config.out);
  await dn.init();
  const log = (m: string) => console.log(m);
  log(`adapter: ${dn.info().name}`);
  // Redrawn in place on a terminal; a pipe gets the table at the end only.
  const tty = process.stderr.isTTY;
  try {
    const result = await runLrFindJob(settings, log, tty ? (line) => process.stderr.write(`\r${line}\x1b[K`) : undefined);
    if (tty) process.stderr.write('\n');
    const stop = result.stoppedEarly ? `; stopped at step ${result.lrs.length}, the smoothed loss having diverged` : '';
    log(`lr-find: ${result.lrs.length} steps from ${formatLr(settings.minLr)} towards ${formatLr(settings.maxLr)}${stop}`);
    log(formatLrFindTable(result));
    log(result.suggestion === null ? 'suggested learning rate: none (too few steps to judge a slope)' : `suggested learning rate: ${formatLr(result.suggestion)} (steepest descent of the smoothed loss)`);
    log(`wrote ${settings.config.out}/lr-find.json and lr-find.html`);
  } finally {
    dn.shutdown();
  }
}
