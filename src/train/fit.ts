// fit(): the Keras-style training loop. Each epoch: one optimiser step per training batch (one
// forward, loss, backward, update; temporaries freed by a scope), then the validation set in eval
// mode without gradients, whose predictions are gathered on the host so that metrics such as
// ROC AUC and per-volume Dice see the whole set. Callbacks then see the epoch's logs.
// With a weight average (ema), validation, restore-best snapshots and callback checkpoints all use
// the averaged weights: what is logged, kept and saved is the same set of weights.

import { ArgumentError, TrainingError } from '../errors.js';
import { describeValue } from '../graph/args.js';
import { noGrad } from '../graph/autograd.js';
import { scope } from '../graph/scope.js';
import { readTensors, Tensor } from '../graph/tensor.js';
import { unary } from '../kernels/elementwise.js';
import { tuneConvs, type TuneOptions } from '../kernels/conv2d-tuning.js';
import { Module } from '../nn/module.js';
import { clipGradNorm } from '../optim/clip.js';
import type { Optimizer } from '../optim/optimizer.js';
import type { Callback, Logs, TrainingControl } from './callbacks.js';
import { restoreState, saveCheckpoint, snapshotState } from './checkpoint.js';
import { checkFitArgs } from './fit-args.js';
import { countedPlanes } from './counted-planes.js';
import { emaForFit, WeightEma, type WeightEmaOptions } from './ema.js';
import { epochLine, lostInFit, tuningSummary, validationMetrics, type SavedCheckpoint } from './fit-messages.js';

export interface Batch {
  x: Tensor;
  y: Tensor;
  /** Volume (patient) of each sample, for per-volume metrics. */
  volumes?: string[];
  /**
   * For samples made of parts (a 3-D patch's planes), whether the metrics score each part, the
   * samples' parts in order: false for a part another sample also holds or for padding, so that
   * overlapping samples count each part once. Absent: every part counts.
   */
  counted?: boolean[];
}

/** Batches are handed over: fit() disposes them after use. */
export interface Dataset {
  batches(epoch: number): Iterable<Batch> | AsyncIterable<Batch>;
  /**
   * The batches `batches(epoch)` hands out from batch `from` (0-based) on, without making the
   * ones before it: the same samples and the same augmentation, which must therefore not depend
   * on the batches before (seed it by epoch and batch, as BatchLoader.epoch(epoch, from) allows).
   * A resumed epoch (FitOptions.resumeEpoch) starts with it where the dataset has it; without it,
   * fit draws the batches already trained from batches(epoch) and disposes them.
   */
  batchesFrom?(epoch: number, from: number): Iterable<Batch> | AsyncIterable<Batch>;
  /** Batches per epoch, when known (for progress and time left). */
  batchCount?: number;
}

/**
 * Refuses a batch whose tensors were already disposed: a dataset that hands out the same
 * prebuilt batches every epoch would otherwise fail in its second epoch with a DisposedError
 * naming the model's input, which says nothing of the rule it broke.
 */
export function expectFreshBatch(op: string, b: Batch, epoch: number, index: number): void {
  for (const role of ['x', 'y'] as const) {
    if (b[role]?.disposed) {
      throw new ArgumentError(
        `${op}: batch ${index + 1} of epoch ${epoch + 1} has a disposed ${role}: ${op} disposes each batch's x and y once it has used them, ` +
          'so batches(epoch) must make new tensors every time it is called (upload them from host arrays there)',
      );
    }
  }
}

export interface EvalSet {
  pred: Float32Array;
  target: Float32Array;
  /** Values per sample (1 for classification, H*W for masks). */
  sampleSize: number;
  volumes?: string[];
  /** The batches' `counted`, gathered as `volumes` is; left to the metrics to apply. */
  counted?: boolean[];
}

export type MetricFn = (set: EvalSet) => number;

/**
 * A per-batch training metric in two halves: `tensors` enqueues what it needs on the GPU (small
 * tensors: a loss, the predictions of a classifier), `value` turns their host copies into a number.
 * The step reads them back together with the loss, in one round trip.
 */
export interface TrainMetric {
  name: string;
  tensors: (pred: Tensor, target: Tensor) => Tensor[];
  value: (host: Float32Array[]) => number;
}

export interface BatchProgress {
  epoch: number;
  batch: number;
  batchCount?: number;
  loss: number;
  /** The running training metric, when FitOptions.trainMetric is set. */
  metric?: { name: string; value: number };
  samples: number;
  seconds: number;
}

/**
 * How far an epoch had got when it was interrupted: its batches trained, and the sums behind its
 * running loss and metric (each batch's value times its samples). Saved with an interrupted run's
 * checkpoint, it lets the resumed run take up the epoch where it stopped (FitOptions.resumeEpoch).
 */
export interface EpochProgress {
  batches: number;
  samples: number;
  lossSum: number;
  metricSum: number;
}

export interface FitOptions {
  epochs: number;
  initialEpoch?: number;
  /**
   * Resuming an epoch that was interrupted part-way: the first epoch (initialEpoch) starts at
   * batch `batches`, by the dataset's batchesFrom where it has one (nothing made for the batches
   * trained before), else by drawing those batches and disposing them untrained, so the batches
   * that follow (and their augmentation, seeded by epoch and batch) are those an uninterrupted run
   * would have seen; its logged loss and metric count the skipped batches' sums. Exact where the
   * interruption came at the end of a group of `accumulate` batches or of the epoch, as a stop
   * (`signal`) makes it.
   */
  resumeEpoch?: EpochProgress;
  optimizer: Optimizer;
  loss: (pred: Tensor, target: Tensor) => Tensor;
  /** A metric of each training batch (e.g. Dice, accuracy), averaged over the epoch and logged under its name. */
  trainMetric?: TrainMetric;
  /**
   * Computed on the validation set each epoch, logged as val_<name>; NaN, without calling them,
   * for an epoch whose validation predictions are not all finite.
   */
  metrics?: Record<string, MetricFn>;
  callbacks?: Callback[];
  onBatch?: (p: BatchProgress) => void;
  onEpoch?: (epoch: number, logs: Logs) => void | Promise<void>;
  /**
   * Called when `signal` stops an epoch part-way, with where it stopped, before the callbacks'
   * onTrainEnd frees what they hold (early stopping's best weights): the place to save a checkpoint.
   */
  onInterrupt?: (epoch: number, progress: EpochProgress) => void | Promise<void>;
  /** Metadata stored in checkpoints written by callbacks. */
  checkpointMeta?: Record<string, unknown>;
  /**
   * Set `.stop = true` (e.g. on Ctrl-C) to end after the current batch, or with `accumulate` after
   * the current group of batches (or the epoch's last, shorter group), before validation: a group is
   * never cut short, so that resuming from History.progress (resumeEpoch) takes the same optimiser
   * steps as a run never stopped. History.progress and onInterrupt say where it stopped.
   */
  signal?: { stop: boolean };
  /** Where the callbacks' messages (and with `verbose`, each epoch's line) go; nowhere by default. */
  log?: (message: string) => void;
  /**
   * Keras's verbose: a line per epoch, `epoch 3/10 - 2.1s - loss: 0.4123 - val_loss: 0.3921 - lr:
   * 0.001`, to `log`, or with no `log` to console.log together with the callbacks' messages.
   * Off by default (the CLI prints its own lines from onEpoch). Keras's 0, 1 and 2 are taken too.
   */
  verbose?: boolean | 0 | 1 | 2;
  /** Testing hook: multiplies the loss of this (1-based) batch of the first epoch by NaN. */
  injectNanAtBatch?: number;
  /**
   * Tune the convs on the first batch trained (tuneConvs): its step runs as usual, then each of its convs
   * that has a choice of algorithm is timed on this device, and every later batch of the same
   * size runs them by the fastest (a last, smaller batch by the rule). true for tuneConvs'
   * defaults, or its options. The choices are logged.
   */
  tuneConvs?: boolean | TuneOptions;
  /** Clip the gradients' global L2 norm to this before each step (optim.clipGradNorm, as PyTorch's clip_grad_norm_). */
  clipGradNorm?: number;
  /**
   * Gradient accumulation: one optimiser step every this many batches, each batch's loss scaled by
   * 1/accumulate before its backward, so the step sees the mean over the batches (a batch that
   * memory would not hold, in pieces). An epoch's last, shorter group steps too, on the mean over
   * its own batches. Default 1.
   */
  accumulate?: number;
  /**
   * An exponential moving average of the weights (WeightEma), updated after every optimiser step
   * (once per accumulated group). Validation runs on the averaged weights, so val_* in the logs
   * are the average's; EarlyStopping's restore-best and ModelCheckpoint keep and save the averaged
   * weights. A WeightEma (kept after fit, e.g. to save or resume it) or its options (one made for
   * this call and freed at its end). The training loss and metric are the live weights'.
   */
  ema?: WeightEma | WeightEmaOptions;
}

export interface History {
  epochs: number[];
  logs: Logs[];
  stoppedEarly: boolean;
  interrupted: boolean;
  /** Where the interrupted epoch stopped (for FitOptions.resumeEpoch); absent unless interrupted. */
  progress?: EpochProgress;
}

/**
 * One epoch of fit's training. `tune`: whether opts.tuneConvs tunes on the first batch this call
 * trains (fit's first epoch by default); `tuned` says whether it did. fit keeps asking until an
 * epoch has trained a batch: a resumed epoch interrupted at its last batch trains none.
 */
export async function trainEpoch(
  model: Module,
  data: Dataset,
  opts: FitOptions,
  epoch: number,
  tune = epoch === (opts.initialEpoch ?? 0),
): Promise<{ loss: number; metric?: number; interrupted: boolean; progress: EpochProgress; tuned: boolean }> {
  model.train();
  const start = performance.now();
  const resumed = epoch === (opts.initialEpoch ?? 0) ? opts.resumeEpoch : undefined;
  let total = resumed?.lossSum ?? 0;
  let metricTotal = resumed?.metricSum ?? 0;
  let samples = resumed?.samples ?? 0;
  const skip = resumed?.batches ?? 0;
  // A dataset that can start part-way makes none of the batches trained before the interruption.
  const startsAtSkip = skip > 0 && typeof data.batchesFrom === 'function';
  let batch = startsAtSkip ? skip : 0;
  let stepped = false;
  let tuned = false;
  /** Batches trained since the last optimiser step (a resumed epoch's skipped ones are not). */
  let pending = 0;
  const accumulate = opts.accumulate ?? 1;
  const progress = (): EpochProgress => ({ batches: batch, samples, lossSum: total, metricSum: metricTotal });
  /** Clips (when asked) and applies the gradients gathered from the last `group` batches. */
  const applyStep = (group: number) => {
    const params = model.trainableParameters().map((p) => p.tensor);
    // Each batch's share was 1/accumulate; a shorter group (the epoch's last, or the rest of one
    // that a resumed epoch takes up part-way) is rescaled to the mean of its own batches. Done
    // here because a dataset need not know its length (batchCount) before the last batch comes.
    if (group < accumulate) scaleGradients(params, accumulate / group);
    // The norm of what the step applies (Keras's global_clipnorm, Lightning's clipping): a
    // trainable parameter the optimiser does not hold has a gradient that no step uses.
    if (opts.clipGradNorm !== undefined) clipGradNorm(opts.optimizer.parameterTensors(), opts.clipGradNorm).dispose();
    opts.optimizer.step();
    opts.optimizer.zeroGrad();
    // The model's too: the gradient of a trainable parameter outside the optimiser would otherwise
    // grow over the whole run (memory held, and a stale sum where it is read).
    model.zeroGrad();
    pending = 0;
    // fit passes the WeightEma it resolved; options alone are fit's to turn into one.
    if (opts.ema instanceof WeightEma) opts.ema.update();
  };
  for await (const b of startsAtSkip ? data.batchesFrom!(epoch, skip) : data.batches(epoch)) {
    expectFreshBatch('fit', b, epoch, batch);
    if (batch < skip) {
      // Trained before the interruption: drawn so that the batches after it come as they did.
      b.x.dispose();
      b.y.dispose();
      batch++;
      continue;
    }
    let lossTensor!: Tensor;
    let metricTensors: Tensor[] = [];
    const firstBatch = !stepped && tune;
    stepped = true;
    try {
      const poison = opts.injectNanAtBatch !== undefined && opts.injectNanAtBatch === batch + 1 && epoch === (opts.initialEpoch ?? 0);
      // The loss and metric tensors leave the scope by being returned, not by keep(): if anything
      // throws (a LimitError in backward), the scope disposes them with the rest, and with them the
      // graph behind the loss, which a kept loss would hold alive for the life of the process.
      const step = () => scope(() => {
        const p = model.forward(b.x);
        let loss = opts.loss(p, b.y);
        // A loss per sample or pixel would fail in backward as 'not a scalar; pass dy': said here, as fit's.
        if (!(loss instanceof Tensor) || loss.size !== 1) {
          throw new ArgumentError(`fit: the loss must return one number as a tensor (reduce it, e.g. dn.mean(...)); loss(pred, y) returned ${describeValue(loss)}`);
        }
        // Fault injection for tests: a real NaN flowing through the graph, not a faked number.
        if (poison) loss = unary('scale', loss, Number.NaN);
        const metrics = opts.trainMetric ? noGrad(() => opts.trainMetric!.tensors(p, b.y)) : [];
        // Accumulating: each batch's share of the group's mean; the unscaled loss is what is logged.
        (accumulate > 1 ? unary('scale', loss, 1 / accumulate) : loss).backward();
        return { loss, metrics };
      });
      const took = (r: { loss: Tensor; metrics: Tensor[] }) => {
        lossTensor = r.loss;
        metricTensors = r.metrics;
      };
      if (firstBatch && opts.tuneConvs) {
        const t0 = performance.now();
        const convs = await tuneConvs(() => took(step()), opts.tuneConvs === true ? {} : opts.tuneConvs);
        tuned = true;
        opts.log?.(tuningSummary(convs, (performance.now() - t0) / 1000));
      } else took(step());
    } catch (e) {
      // A step that failed part-way may have added to some gradients: a caller who catches the
      // error and calls fit again (with a smaller batch, say) starts from none.
      opts.optimizer.zeroGrad();
      model.zeroGrad();
      throw e;
    } finally {
      b.x.dispose();
      b.y.dispose();
    }
    const n = b.x.shape[0];
    // One readback per step: the loss and the metric's inputs together.
    const [lossHost, ...metricHost] = await readTensors([lossTensor, ...metricTensors]);
    const value = lossHost[0];
    for (const t of [lossTensor, ...metricTensors]) t.dispose();
    if (!Number.isFinite(value)) {
      opts.optimizer.zeroGrad();
      model.zeroGrad();
      throw new TrainingError(`training loss became ${value} at epoch ${epoch + 1}, batch ${batch + 1}; stopping (the last checkpoint is kept)`, { epoch: epoch + 1, batch: batch + 1 });
    }
    // After the loss check: a metric refuses the NaN predictions of a diverged step (binaryReport).
    const metric = opts.trainMetric ? opts.trainMetric.value(metricHost) : undefined;
    pending++;
    if ((batch + 1) % accumulate === 0) applyStep(pending);
    total += value * n;
    if (metric !== undefined) metricTotal += metric * n;
    samples += n;
    batch++;
    const runningMetric = opts.trainMetric ? { name: opts.trainMetric.name, value: metricTotal / samples } : undefined;
    opts.onBatch?.({ epoch, batch, batchCount: data.batchCount, loss: total / samples, metric: runningMetric, samples, seconds: (performance.now() - start) / 1000 });
    // A stop ends a group of `accumulate` batches, never cuts one: a resumed run then takes the
    // steps the uninterrupted run took, as a group cut short would have stepped on part of it.
    if (opts.signal?.stop && batch % accumulate === 0) break;
  }
  if (pending) applyStep(pending);
  const metric = opts.trainMetric && samples ? metricTotal / samples : undefined;
  // A stop during the epoch's last, shorter group ends the epoch as it ends the group: interrupted
  // after its last batch (known only now where the dataset has no batchCount), before validation.
  const interrupted = opts.signal?.stop === true;
  return { loss: samples ? total / samples : NaN, metric, interrupted, progress: progress(), tuned };
}

/** Multiplies each gradient of `params` by `factor` (a new tensor in place of the old). */
function scaleGradients(params: Tensor[], factor: number): void {
  noGrad(() => {
    for (const p of params) {
      if (!p.grad) continue;
      const scaled = unary('scale', p.grad, factor);
      p.grad.dispose();
      p.grad = scaled;
    }
  });
}

/**
 * Runs the model over a dataset without gradients: mean loss and the gathered predictions. The loss
 * is each batch's loss weighted by its samples, as Keras's evaluate reports it: for a loss that
 * pools over its batch (Dice over the whole batch) it depends on the batch size; the metrics
 * computed from the gathered predictions do not. A batch with `counted` flags has its loss taken
 * over the planes they count (countedPlanes), weighted by those planes in samples.
 */
export async function evaluate(model: Module, data: Dataset, lossFn: FitOptions['loss']): Promise<{ loss: number; set: EvalSet }> {
  // Each module's training flag is put back afterwards, so that a custom loop that validates
  // every N steps does not go on training with batch norm in inference mode and dropout off.
  const restoreModes = model.saveTrainingModes();
  model.eval();
  const preds: Float32Array[] = [];
  const targets: Float32Array[] = [];
  const volumes: string[] = [];
  const counted: boolean[] = [];
  let total = 0;
  let samples = 0;
  let sampleSize = 1;
  try {
    for await (const b of data.batches(0)) {
      expectFreshBatch('evaluate', b, 0, preds.length);
      const made: Tensor[] = [];
      try {
        const { pred, loss, weight } = noGrad(() => scope(() => {
          const p = model.forward(b.x);
          const part = countedPlanes(p, b.y, b.counted);
          if (!part) return { pred: p, loss: lossFn(p, b.y), weight: b.x.shape[0] };
          return { pred: p, loss: part.planes ? lossFn(part.pred, part.target) : null, weight: part.samples };
        }));
        made.push(pred, ...(loss ? [loss] : []));
        const n = b.x.shape[0];
        sampleSize = pred.size / n;
        const [predHost, targetHost, lossHost] = await readTensors([pred, b.y, ...(loss ? [loss] : [])]);
        if (loss) {
          total += lossHost[0] * weight;
          samples += weight;
        }
        preds.push(predHost);
        targets.push(targetHost);
        volumes.push(...(b.volumes ?? []));
        counted.push(...(b.counted ?? []));
      } finally {
        for (const t of [...made, b.x, b.y]) t.dispose();
      }
    }
  } finally {
    restoreModes();
  }
  const concat = (parts: Float32Array[]): Float32Array => {
    const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  };
  return {
    loss: samples ? total / samples : NaN,
    set: { pred: concat(preds), target: concat(targets), sampleSize, volumes: volumes.length ? volumes : undefined, counted: counted.length ? counted : undefined },
  };
}

export async function fit(model: Module, train: Dataset, val: Dataset | null, opts: FitOptions): Promise<History> {
  checkFitArgs(model, train, val, opts);
  const { ema, owned } = emaForFit(model, opts.ema);
  opts = { ...opts, ema: ema ?? undefined };
  const verbose = opts.verbose === true || opts.verbose === 1 || opts.verbose === 2;
  const log = opts.log ?? (verbose ? (message: string) => console.log(message) : () => undefined);
  const warn = opts.log ?? ((message: string) => console.warn(message));
  /** fn with the weights that are validated: the averaged ones when there is an average. */
  const validated = <T>(fn: () => T): T => (ema ? ema.apply(fn) : fn());
  // Where the run is, and the last checkpoint a callback saved: what a lost device's error says.
  let at = opts.initialEpoch ?? 0;
  let saved: SavedCheckpoint | null = null;
  const ctl: TrainingControl = {
    stopTraining: false,
    getLr: () => opts.optimizer.lr,
    setLr: (lr) => {
      opts.optimizer.lr = lr;
    },
    snapshotWeights: () => validated(() => snapshotState(model)),
    restoreWeights: (s) => {
      restoreState(model, s as Map<string, Tensor>);
      // The restored (averaged) weights become the average too: model and average agree on them.
      ema?.reset(ema.updates);
    },
    disposeWeights: (s) => {
      for (const t of (s as Map<string, Tensor> | null)?.values() ?? []) t.dispose();
    },
    saveCheckpoint: async (path, epoch, logs) => {
      await validated(() => saveCheckpoint(path, model, opts.optimizer, { ...opts.checkpointMeta, epoch, metrics: logs }, ema));
      saved = { path, epoch };
    },
    log,
    // A warning (a monitored metric missing) must reach the user when fit logs nothing else.
    warn,
  };
  const history: History = { epochs: [], logs: [], stoppedEarly: false, interrupted: false };
  const callbacks = opts.callbacks ?? [];
  // Each epoch trains in train() and validates in eval(); the model is handed back in the modes
  // it came in, so fit followed by forward() runs as the caller had set it up.
  const restoreModes = model.saveTrainingModes();
  try {
    for (const cb of callbacks) await cb.onTrainBegin?.(ctl);
    // The convs are tuned on the first batch this call trains, whichever epoch that comes in.
    let tune = opts.tuneConvs !== undefined && opts.tuneConvs !== false;
    for (let epoch = opts.initialEpoch ?? 0; epoch < opts.epochs; epoch++) {
      at = epoch;
      for (const cb of callbacks) await cb.onEpochBegin?.(epoch, ctl);
      const epochStart = performance.now();
      const { loss, metric, interrupted, progress, tuned } = await trainEpoch(model, train, opts, epoch, tune);
      if (tuned) tune = false;
      const logs: Logs = { loss };
      if (opts.trainMetric && metric !== undefined) logs[opts.trainMetric.name] = metric;
      if (interrupted) {
        history.interrupted = true;
        history.progress = progress;
        await opts.onInterrupt?.(epoch, progress);
        break;
      }
      if (val) {
        const { loss: valLoss, set } = await validated(() => evaluate(model, val, opts.loss));
        logs.val_loss = valLoss;
        Object.assign(logs, validationMetrics(opts.metrics ?? {}, set, epoch, warn));
      }
      for (const cb of callbacks) await cb.onEpochEnd?.(epoch, logs, ctl);
      logs.lr ??= opts.optimizer.lr;
      history.epochs.push(epoch);
      history.logs.push(logs);
      if (verbose) log(epochLine(epoch, opts.epochs, (performance.now() - epochStart) / 1000, logs));
      await opts.onEpoch?.(epoch, logs);
      if (ctl.stopTraining) {
        history.stoppedEarly = true;
        break;
      }
    }
    if (!history.interrupted) ctl.finished = true;
  } catch (e) {
    throw lostInFit(e, at, saved);
  } finally {
    try {
      for (const cb of callbacks) await cb.onTrainEnd?.(ctl);
    } finally {
      if (owned) ema!.dispose();
      restoreModes();
    }
  }
  return history;
}
