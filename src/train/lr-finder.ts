// The learning-rate range test (Smith 2017, "Cyclical Learning Rates", section 3.3; fastai's
// lr_find, PyTorch Lightning's Tuner.lr_find): train for a few batches from the model's current
// weights while the learning rate rises exponentially from minLr to maxLr, and watch the loss. It
// falls slowly at first, then fast, then blows up; a good rate sits where it falls fastest.
//
// Step i of n uses lr_i = minLr^(1 - t) · maxLr^t with t = i / (n - 1): the first step takes minLr
// and the last maxLr, exactly, and each rate is the last one times the same factor. The raw loss is
// noisy batch to batch, so it is smoothed as fastai does, an exponential average with bias
// correction (Adam's): avg_i = β avg_(i-1) + (1 - β) loss_i, avg_(-1) = 0, smoothed_i =
// avg_i / (1 - β^(i+1)). Without the correction the first points would sit near 0.
// The test stops when the smoothed loss exceeds divergeFactor × the best so far, or is not finite.
//
// The test changes the weights, running statistics, the optimiser's moments and its step count; all
// of it is snapshotted first (GPU copies) and put back afterwards, also when a step throws, so the
// caller trains from where it was, with the learning rate it had.

import { ArgumentError } from '../errors.js';
import { describeValue, expectFunction, expectNumber, expectOptions } from '../graph/args.js';
import { scope } from '../graph/scope.js';
import type { Tensor } from '../graph/tensor.js';
import { Module } from '../nn/module.js';
import { Optimizer } from '../optim/optimizer.js';
import { cloneTensor, restoreState, snapshotState } from './checkpoint.js';
import { expectFreshBatch, type Dataset } from './fit.js';
import { withDefaults } from '../util/defaults.js';

export interface LrFinderStep {
  step: number;
  steps: number;
  lr: number;
  loss: number;
  smoothed: number;
}

export interface LrFinderOptions {
  optimizer: Optimizer;
  loss: (pred: Tensor, target: Tensor) => Tensor;
  /** The first step's learning rate. Default 1e-7. */
  minLr?: number;
  /** The last step's learning rate (reached only if the loss has not diverged by then). Default 1. */
  maxLr?: number;
  /** Batches to train, at most (the dataset's epochs are cycled if it has fewer). Default 100. */
  steps?: number;
  /** β of the exponential average of the loss, in [0, 1); 0 keeps the raw loss. Default 0.98. */
  smoothing?: number;
  /** Stop once the smoothed loss exceeds this many times the lowest so far. Default 4. */
  divergeFactor?: number;
  onStep?: (s: LrFinderStep) => void;
}

export interface LrFinderResult {
  /** The learning rate of each step taken. */
  lrs: number[];
  /** Each step's batch loss, before its update. */
  losses: number[];
  smoothed: number[];
  /** The rate of steepest descent of the smoothed loss (suggestLearningRate); null when too few steps. */
  suggestion: number | null;
  /** Its index into lrs, for plots. */
  suggestionIndex: number | null;
  /** Whether the loss diverged (or became NaN) before the last step. */
  stoppedEarly: boolean;
}

/** findLearningRate's defaults: fastai's, but for maxLr, which is Lightning's 1 (fastai's 10 is past what these models train at). */
export const LR_FINDER_DEFAULTS = { minLr: 1e-7, maxLr: 1, steps: 100, smoothing: 0.98, divergeFactor: 4 } as const;

/** suggestLearningRate's rule in one sentence, for reports. */
export const SUGGESTION_RULE =
  'the learning rate where the smoothed loss falls fastest against log(lr): the most negative slope by central ' +
  'differences, leaving out the first tenth (at most 10) and the last twentieth (at least 1, at most 5) of the steps, as fastai does';

/** minLr^(1 - t) · maxLr^t at t = step / (steps - 1): exactly minLr at the first step and maxLr at the last. */
export function lrAtStep(step: number, steps: number, minLr: number, maxLr: number): number {
  const t = step / (steps - 1);
  return minLr ** (1 - t) * maxLr ** t;
}

/**
 * The steepest descent of a smoothed loss curve against log(lr), fastai's and Lightning's rule:
 * 1. keep the leading finite points (a diverged test may end in NaN or Infinity);
 * 2. drop the first skipStart (the loss has barely moved there and the smoothing is still settling)
 *    and the last skipEnd (the blow-up); by default min(10, ⌊n/10⌋) and min(5, max(1, ⌊n/20⌋)),
 *    which is fastai's 10 and 5 for its 100 steps, scaled down for shorter runs; a short run still
 *    leaves out its last step, which would otherwise be judged by a one-sided difference at maxLr
 *    and could suggest maxLr itself;
 * 3. take the slope at each remaining point, d smoothed / d ln(lr), by central differences (one-sided
 *    at the window's ends), as numpy.gradient does;
 * 4. return the point of the most negative slope (the first on a tie), or null when fewer than two
 *    points remain. The point is returned even if no slope is negative; `slope` tells.
 */
export function suggestLearningRate(
  lrs: readonly number[],
  smoothed: readonly number[],
  opts: { skipStart?: number; skipEnd?: number } = {},
): { index: number; lr: number; slope: number } | null {
  if (lrs.length !== smoothed.length) throw new ArgumentError(`suggestLearningRate: ${lrs.length} learning rates but ${smoothed.length} losses`);
  let n = 0;
  while (n < smoothed.length && Number.isFinite(smoothed[n]) && lrs[n] > 0) n++;
  const skipStart = opts.skipStart ?? Math.min(10, Math.floor(n / 10));
  const skipEnd = opts.skipEnd ?? Math.min(5, Math.max(1, Math.floor(n / 20)));
  const lo = skipStart;
  const hi = n - skipEnd - 1;
  if (hi - lo < 1) return null;
  const x = (i: number) => Math.log(lrs[i]);
  let best: { index: number; lr: number; slope: number } | null = null;
  for (let i = lo; i <= hi; i++) {
    const a = Math.max(lo, i - 1);
    const b = Math.min(hi, i + 1);
    const slope = (smoothed[b] - smoothed[a]) / (x(b) - x(a));
    if (!best || slope < best.slope) best = { index: i, lr: lrs[i], slope };
  }
  return best;
}

function checkArgs(model: unknown, data: unknown, opts: LrFinderOptions): Required<Omit<LrFinderOptions, 'onStep'>> {
  const op = 'findLearningRate';
  if (!(model instanceof Module)) throw new ArgumentError(`${op}: model must be a Module, got ${describeValue(model)}`);
  if (typeof (data as Partial<Dataset> | null)?.batches !== 'function') throw new ArgumentError(`${op}: data must be a Dataset (an object with batches(epoch)), got ${describeValue(data)}`);
  expectOptions(op, opts, '{ optimizer, loss: dn.diceLoss }', true);
  if (!(opts.optimizer instanceof Optimizer)) throw new ArgumentError(`${op}: optimizer must be an Optimizer (dn.optim.Adam, ...), got ${describeValue(opts.optimizer)}`);
  expectFunction(op, 'loss', opts.loss);
  if (opts.onStep !== undefined) expectFunction(op, 'onStep', opts.onStep);
  const { minLr, maxLr, steps, smoothing, divergeFactor } = withDefaults(LR_FINDER_DEFAULTS, opts);
  expectNumber(op, 'minLr', minLr, { above: 0 });
  expectNumber(op, 'maxLr', maxLr, { above: minLr });
  expectNumber(op, 'steps', steps, { integer: true, min: 2 });
  expectNumber(op, 'smoothing', smoothing, { min: 0, below: 1 });
  expectNumber(op, 'divergeFactor', divergeFactor, { above: 1 });
  return { optimizer: opts.optimizer, loss: opts.loss, minLr, maxLr, steps, smoothing, divergeFactor };
}

/** Everything the test changes, copied; restore() puts it back and frees the copies. */
function snapshot(model: Module, optimizer: Optimizer): { restore: () => void } {
  const weights = snapshotState(model);
  const scalars = model.namedScalarState();
  const restoreModes = model.saveTrainingModes();
  const grads = model.namedParameters().map((p) => [p.tensor, p.tensor.grad ? cloneTensor(p.tensor.grad) : null] as const);
  const { tensors, scalars: optScalars } = optimizer.stateDict();
  const optState = new Map([...tensors].map(([k, t]) => [k, cloneTensor(t)]));
  return {
    restore: () => {
      restoreState(model, weights);
      for (const t of weights.values()) t.dispose();
      model.loadNamedScalarState(scalars);
      restoreModes();
      for (const [p, g] of grads) {
        p.zeroGrad();
        p.grad = g;
      }
      // dispose() empties the state map, so slots the test created go too: SGD's momentum then
      // starts afresh from the first gradient, as it would have without the test.
      optimizer.dispose();
      optimizer.loadStateDict(optState, { ...optScalars });
    },
  };
}

/**
 * Runs the learning-rate range test on `model` with `data` (see the top of this file) and returns
 * the rates, the raw and smoothed losses, and the suggested rate. The model and the optimiser are
 * left exactly as they were. One readback per step (the loss).
 */
export async function findLearningRate(model: Module, data: Dataset, opts: LrFinderOptions): Promise<LrFinderResult> {
  const { optimizer, loss: lossFn, minLr, maxLr, steps, smoothing, divergeFactor } = checkArgs(model, data, opts);
  const result: LrFinderResult = { lrs: [], losses: [], smoothed: [], suggestion: null, suggestionIndex: null, stoppedEarly: false };
  const saved = snapshot(model, optimizer);
  try {
    model.train();
    optimizer.zeroGrad();
    let avg = 0;
    let best = Infinity;
    let diverged = false;
    for (let epoch = 0; result.lrs.length < steps && !diverged; epoch++) {
      let batches = 0;
      for await (const b of data.batches(epoch)) {
        expectFreshBatch('findLearningRate', b, epoch, batches);
        batches++;
        const i = result.lrs.length;
        const lr = lrAtStep(i, steps, minLr, maxLr);
        optimizer.lr = lr;
        let lossTensor: Tensor;
        try {
          // Returned rather than kept: if backward throws, the scope frees the loss and the graph
          // it holds, as it frees everything else the step made.
          lossTensor = scope(() => {
            const l = lossFn(model.forward(b.x), b.y);
            l.backward();
            return l;
          });
        } finally {
          b.x.dispose();
          b.y.dispose();
        }
        let value: number;
        try {
          value = await lossTensor.item();
        } finally {
          lossTensor.dispose();
        }
        avg = smoothing * avg + (1 - smoothing) * value;
        const smoothed = avg / (1 - smoothing ** (i + 1));
        result.lrs.push(lr);
        result.losses.push(value);
        result.smoothed.push(smoothed);
        opts.onStep?.({ step: i, steps, lr, loss: value, smoothed });
        best = Math.min(best, smoothed);
        diverged = !Number.isFinite(smoothed) || smoothed > divergeFactor * best;
        // A diverged step's update is never used, so it is not taken.
        if (!diverged) optimizer.step();
        optimizer.zeroGrad();
        if (diverged || result.lrs.length >= steps) break;
      }
      if (batches === 0) throw new ArgumentError(`findLearningRate: the dataset gave no batches in epoch ${epoch}`);
    }
    result.stoppedEarly = diverged && result.lrs.length < steps;
  } finally {
    saved.restore();
  }
  const pick = suggestLearningRate(result.lrs, result.smoothed);
  result.suggestion = pick?.lr ?? null;
  result.suggestionIndex = pick?.index ?? null;
  return result;
}
