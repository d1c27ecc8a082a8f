// `dawnet train`: the whole run. Builds data and model from the config, trains with the
// notebook's callbacks, writes metrics.jsonl and checkpoints every epoch, evaluates the test
// split at the end and writes the report. Interrupted runs save a checkpoint and can be resumed.

import { DawnetError, DeviceLostError, TrainingError } from '../errors.js';
import { readConvTuning, saveConvTuning } from '../io/conv-tuning.js';
import { adapterName, deviceLossCause } from '../gpu/device.js';
import { runtime } from '../gpu/runtime.js';
import { tensor, type Tensor } from '../graph/tensor.js';
import type { HostTensor } from '../io/safetensors.js';
import type { Module } from '../nn/module.js';
import { EarlyStopping, ModelCheckpoint, ReduceLROnPlateau, type Callback, type Logs } from '../train/callbacks.js';
import { cosineDecay, LearningRateScheduler } from '../train/schedules.js';
import { cloneTensor, loadCheckpoint, saveCheckpoint } from '../train/checkpoint.js';
import { WeightEma } from '../train/ema.js';
import { fit, type BatchProgress, type EpochProgress, type History } from '../train/fit.js';
import { bestMonitor, type TrainConfig } from './config.js';
import { makeDataset, prepareData, savedSplit } from './data.js';
import { DataError } from '../data/errors.js';
import { evaluateRun, type EvalResult } from './eval-job.js';
import { buildModel, optimizerFor } from './model.js';
import { writeRunReport } from './report-job.js';
import { nodeFs, nodePath, writeFileAtomic } from '../io/files.js';
import { applyConvTuning } from '../kernels/conv2d-tuning.js';
import { isDiskWriteError } from '../util/write-error.js';
import { appendMetrics, claimRunDir, clearRun, ensureRunDir, fileExists, readConfig, readMetrics, removeStaleTemporaries, rewriteMetrics, runFiles, useRunTuning, writeJson } from './run-dir.js';

export interface TrainHooks {
  log: (message: string) => void;
  onBatch?: (p: BatchProgress & { epochs: number }) => void;
  onEpoch?: (epoch: number, logs: Logs) => void;
  /** Set .stop to end after the current batch, or --accumulate group (Ctrl-C): fit's signal. */
  signal?: { stop: boolean };
  /**
   * The splits of the other folds of a cv that have started, each with its split.json: a new fold
   * must hold out the same test patients, split the same patients into training and validation,
   * and validate on none another fold validates on. One that does not (the data or the split's
   * algorithm changed since those folds were trained) is refused before anything of it is written.
   */
  otherFolds?: readonly FoldSplit[];
  /**
   * How a run stopped by a full disk or a lost device goes on, where that is not `--resume RUN`:
   * a cv fold or a sweep run continues when its whole command runs again.
   */
  continueWith?: string;
}

/** A fold's patients by part, and the split.json they come from. */
export interface FoldSplit {
  patients: { train: readonly string[]; val: readonly string[]; test: readonly string[] };
  source: string;
}

export interface TrainResult {
  history: History;
  test: EvalResult | null;
  interrupted: boolean;
}

/** Loads the weights file given with --weights into the classifier's VGG16 base. */
export async function importBaseWeights(c: TrainConfig, model: ReturnType<typeof buildModel>['model'], log: (m: string) => void): Promise<void> {
  if (!c.weights) return;
  const { loadWeights } = await import('../io/load-weights.js');
  const base = model.module('base');
  const report = await loadWeights(base, c.weights, { strict: false });
  log(`weights: loaded ${report.loaded.length} tensors from ${c.weights} (${report.format}); missing ${report.missing.length}, unexpected ${report.unexpected.length}`);
  if (report.loaded.length === 0) throw new DawnetError(`${c.weights}: no tensor matched the VGG16 base`);
  // The base is frozen: a tensor the file lacks would stay random for the whole run.
  if (report.missing.length) {
    const named = report.missing.slice(0, 4).join(', ');
    throw new DawnetError(`${c.weights}: ${report.missing.length} of the VGG16 base's tensors are missing (${named}${report.missing.length > 4 ? ', ...' : ''}); give a complete VGG16 weights file`);
  }
}

const RESTORE_POINT = 'earlyStopping/';

/** The model's frozen parameters: they never change, so a snapshot need not save them. */
const frozenNames = (model: Module) => new Set(model.namedParameters().filter((p) => !p.tensor.requiresGrad).map((p) => p.name));

/** Early stopping's snapshot as checkpoint tensors, its frozen parameters left out. */
function restorePointTensors(model: Module, snapshot: Map<string, Tensor> | null): Map<string, Tensor> | null {
  if (!snapshot) return null;
  const frozen = frozenNames(model);
  return new Map([...snapshot].filter(([n]) => !frozen.has(n)).map(([n, t]) => [`${RESTORE_POINT}${n}`, t]));
}

/**
 * Early stopping's snapshot from a checkpoint's tensors, on the GPU, the frozen parameters taken
 * from the model; null where the checkpoint has none (saved before they were kept) or one that
 * does not fit the model (with a word in the log).
 */
function resumedRestorePoint(model: Module, saved: Map<string, HostTensor>, path: string, log: (m: string) => void): Map<string, Tensor> | null {
  if (![...saved.keys()].some((n) => n.startsWith(RESTORE_POINT))) return null;
  const frozen = frozenNames(model);
  const state = model.stateDict();
  const misfit = [...state].find(([n, t]) => !frozen.has(n) && saved.get(`${RESTORE_POINT}${n}`)?.shape.join() !== t.shape.join());
  if (misfit) {
    log(`resume: ${path} holds early stopping's best weights without '${misfit[0]}' in the model's shape; a stop will restore weights from after the resume`);
    return null;
  }
  return new Map([...state].map(([n, t]) => {
    const h = saved.get(`${RESTORE_POINT}${n}`);
    return [n, h && !frozen.has(n) ? tensor(h.data, h.shape, { name: n }) : cloneTensor(t)];
  }));
}

/**
 * The progress an interrupted checkpoint recorded through its unfinished epoch; undefined (with a
 * word in the log) for a checkpoint from before it was recorded, whose epoch then starts again.
 */
function savedProgress(p: unknown, path: string, log: (m: string) => void): EpochProgress | undefined {
  const r = p as Partial<EpochProgress> | undefined;
  const whole = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  if (r && whole(r.batches) && whole(r.samples) && Number.isFinite(r.lossSum) && Number.isFinite(r.metricSum)) return r as EpochProgress;
  log(`resume: ${path} does not say how far its unfinished epoch got; that epoch starts again from its first batch, with the weights it had reached`);
  return undefined;
}

/**
 * The config a resumed run continues with: the run's own (readConfig, its `out` the folder given),
 * with the caller's epochs as the target and the caller's data folder where one is given (the
 * data may have moved; the run's split.json then checks its patients are there).
 */
async function resumedConfig(config: TrainConfig, log: (m: string) => void): Promise<TrainConfig> {
  const saved = await readConfig(config.out);
  if (config.epochs !== saved.epochs) log(`resume: the target is now ${config.epochs} epochs (the run was set for ${saved.epochs})`);
  const data = config.data ? (await nodePath()).resolve(config.data) : saved.data;
  // Decoding threads change nothing the run computes: the caller's count is used.
  return { ...saved, epochs: config.epochs, data, workers: config.workers };
}

/** Up to three names, then an ellipsis for the rest. */
const some = (ps: readonly string[]) => `${ps.slice(0, 3).join(', ')}${ps.length > 3 ? ', ...' : ''}`;

/**
 * Refuses a new fold whose split disagrees with a started fold's (see TrainHooks.otherFolds): other
 * test patients, other patients to train and validate on, or a validation patient in both.
 */
function checkFoldSplit(mine: FoldSplit['patients'], others: readonly FoldSplit[], out: string): void {
  const key = (ps: readonly string[]) => [...ps].sort().join('\n');
  const missing = (a: readonly string[], b: readonly string[]) => a.filter((p) => !b.includes(p));
  for (const { patients: theirs, source } of others) {
    let problem = '';
    if (key(mine.test) !== key(theirs.test)) {
      const extra = missing(mine.test, theirs.test);
      problem = `holds out other test patients than ${source} (${extra.length ? `${some(extra)} not among them` : 'fewer'}): the folds of one cv must share theirs`;
    } else if (key([...mine.train, ...mine.val]) !== key([...theirs.train, ...theirs.val])) {
      const [ours, only] = [missing([...mine.train, ...mine.val], [...theirs.train, ...theirs.val]), missing([...theirs.train, ...theirs.val], [...mine.train, ...mine.val])];
      problem = `trains and validates on other patients than ${source} (${[ours.length ? `${some(ours)} not among them` : '', only.length ? `${some(only)} not among this run's` : ''].filter(Boolean).join('; ')}): the folds of one cv must split the same patients`;
    } else {
      const shared = mine.val.filter((p) => theirs.val.includes(p));
      if (shared.length) problem = `validates on patients that ${source} validates on too (${some(shared)}): the folds of one cv validate on disjoint groups`;
    }
    if (!problem) continue;
    throw new DataError(
      `${out}: this run's split ${problem}; the data folder's patients, or the split's algorithm (2026-11-27: no longer in the machine's locale order), changed since that fold was trained. ` +
        `Run the cv again into another --out`,
    );
  }
}

/** A conv tuning file's text, its choices taken on this device (errors name the file). */
async function takeConvTuning(path: string, log: (m: string) => void): Promise<string> {
  const text = await readConvTuning(path, 'train');
  log(`conv tuning: ${applyConvTuning(text, path)} choices from ${path}`);
  return text;
}

/** A new run's config as stored: its data folder absolute, so --resume works from any working directory. */
async function newRunConfig(config: TrainConfig, overwrite: boolean): Promise<TrainConfig> {
  // A weights file that is not there is said before the run folder is made or the data scanned
  // (it failed with a bare ENOENT once the model was built).
  if (config.weights && !(await fileExists(config.weights))) throw new DataError(`${config.weights}: no such weights file (the classifier's VGG16 base)`);
  await claimRunDir(config.out, overwrite);
  const resolve = (await nodePath()).resolve;
  return { ...config, data: resolve(config.data), ...(config.convTuning ? { convTuning: resolve(config.convTuning) } : {}) };
}

/**
 * Trains `config` into config.out; with `resume`, continues the run in that folder instead (its
 * own settings, config.epochs as the target). A new run refuses a folder that holds a run unless
 * `overwrite`, which removes that run first.
 */
export async function runTraining(config: TrainConfig, hooks: TrainHooks, resume = false, overwrite = false): Promise<TrainResult> {
  const io = await nodeFs();
  const created = !resume && !(await io.stat(config.out).then(() => true, () => false));
  try {
    return await trainRun(config, hooks, resume, overwrite);
  } catch (e) {
    // The run folder this call made, still empty: the data or the weights were refused before the
    // run wrote anything, and an empty folder would be left for the user to find (and counted by
    // the next scan of its parent). A folder with anything in it stays as it is.
    if (created) await io.rmdir(config.out).catch(() => undefined);
    throw e;
  }
}

async function trainRun(config: TrainConfig, hooks: TrainHooks, resume: boolean, overwrite: boolean): Promise<TrainResult> {
  const log = hooks.log;
  const files = runFiles(config.out);
  // --conv-tuning FILE, taken before the run's folder is claimed: a file another adapter tuned, or
  // a damaged one, refuses the run and leaves nothing behind.
  const tuning = !resume && config.convTuning ? await takeConvTuning(config.convTuning, log) : null;
  const c = resume ? await resumedConfig(config, log) : await newRunConfig(config, overwrite);
  let initialEpoch = 0;
  let resumeEpoch: EpochProgress | undefined;
  let savedExtra = new Map<string, HostTensor>();
  let callbackState: Record<string, Record<string, number>> = {};
  await ensureRunDir(c.out);
  const stale = await removeStaleTemporaries(c.out);
  if (stale.length) log(`run folder: removed ${stale.length} temporary file(s) left by a write that was cut off (${some(stale)})`);
  // A resumed run keeps the patients it started with (its split.json).
  const { split, writeProblems } = await prepareData(c, log, resume ? await savedSplit(c.out) : undefined);
  if (hooks.otherFolds && !resume) checkFoldSplit(split.patients, hooks.otherFolds, c.out);
  const built = buildModel(c);
  const { model } = built;
  const optimizer = optimizerFor(c, model.trainableParameters());
  // --ema: the average's shadows go into every checkpoint, so --resume continues it exactly.
  const ema = c.ema ? new WeightEma(model, { decay: c.ema }) : null;
  const release = () => {
    ema?.dispose();
    optimizer.dispose();
  };
  // What fails from here to the first epoch (the callbacks' checks, a checkpoint or base weights
  // that do not load) frees the model, optimiser and average before it propagates, and comes
  // before anything of the run is written or an old run cleared.
  let callbacks: Record<string, Callback>;
  try {
    const monitor = bestMonitor(c.task);
    // Without validation slices (--val-fraction 0) val_loss is NaN every epoch, which never
    // improves: early stopping and the plateau schedule would stop the run and cut the rate for
    // want of a validation, so they are left out. The checkpoint keeps each epoch as the latest.
    const validates = split.val.length > 0;
    if (!validates) log(`no validation slices: early stopping${c.lrSchedule === 'cosine' ? ' is' : ' and ReduceLROnPlateau are'} off (they watch val_loss)`);
    // The checkpoint saves before early stopping restores an earlier epoch's weights: an epoch that
    // improves the best metric and runs out the patience at once must save its own weights, which
    // its metrics describe and the test evaluation then scores, not the restored ones.
    callbacks = {
      checkpoint: new ModelCheckpoint(files.best, { monitor, saveBestOnly: true }),
      ...(validates ? { earlyStopping: new EarlyStopping({ monitor: 'val_loss', minDelta: c.minDelta, patience: c.patience, restoreBestWeights: true }) } : {}),
      ...(c.lrSchedule === 'cosine'
        ? { lrSchedule: new LearningRateScheduler(cosineDecay({ lr: c.lr, epochs: c.epochs, minLr: c.lr / 100 })) }
        : validates ? { reduceLr: new ReduceLROnPlateau({ monitor: 'val_loss', factor: c.lrFactor, patience: c.lrPatience }) } : {}),
    };
    if (resume && (await fileExists(files.last))) {
      const loaded = await loadCheckpoint(files.last, model, optimizer, ema);
      if (ema && !loaded.emaRestored) log(`resume: ${files.last} holds no weight average; it starts again from the loaded weights`);
      initialEpoch = (loaded.meta.epoch ?? -1) + 1;
      callbackState = (loaded.meta.callbacks as typeof callbackState) ?? {};
      savedExtra = loaded.extra;
      // A run that early stopping ended is finished, whatever the target: left alone it would not
      // have trained another epoch.
      const stopped = callbackState.earlyStopping?.stoppedEpoch ?? 0;
      // Interrupted part-way through an epoch: the batches it had trained are not trained again.
      if (loaded.meta.interrupted) resumeEpoch = savedProgress(loaded.meta.progress, files.last, log);
      await rewriteMetrics(c.out, (await readMetrics(c.out)).filter((r) => r.epoch < initialEpoch));
      if (stopped > 0) initialEpoch = Math.max(initialEpoch, c.epochs);
      log(
        stopped > 0
          ? `resume: ${c.out} was stopped early after epoch ${stopped + 1} (no val_loss improvement in ${c.patience} epochs); finishing it (test evaluation and report)`
          : initialEpoch < c.epochs
            ? `resume: continuing ${c.out} from epoch ${initialEpoch + 1} of ${c.epochs}${resumeEpoch ? `, after its first ${resumeEpoch.batches} batches` : ''}`
            : `resume: ${c.out} has trained all ${c.epochs} epochs; finishing it (test evaluation and report)`,
      );
    } else {
      if (resume) log(`resume: no checkpoint in ${c.out} yet; starting from the beginning`);
      await importBaseWeights(c, model, log);
      ema?.reset();
      // A new run's folder holds no config.json (claimRunDir), so whatever run files are there
      // (of a run killed before it wrote its config, or of an --overwrite killed while clearing)
      // belong to no run, and a stale last.safetensors would be resumed as this run's.
      if (!resume) await clearRun(c.out);
      await rewriteMetrics(c.out, []);
    }
    await writeJson(files.config, c);
    await writeJson(files.split, { level: split.level, patients: split.patients, counts: split.counts });
    await writeProblems();
  } catch (e) {
    release();
    model.dispose();
    throw e;
  }

  for (const [name, cb] of Object.entries(callbacks)) if (callbackState[name]) cb.setState?.(callbackState[name]);
  // Early stopping's best weights go into last.safetensors with its counters, so that a resumed run
  // that stops restores the same weights as the uninterrupted run would.
  const earlyStopping = callbacks.earlyStopping as EarlyStopping | undefined;
  const extra = () => restorePointTensors(model, (earlyStopping?.restorePoint ?? null) as Map<string, Tensor> | null);
  const callbackStates = () => Object.fromEntries(Object.entries(callbacks).map(([n, cb]) => [n, cb.getState?.() ?? {}]));
  // The input the model was trained on goes into every checkpoint, so that a checkpoint without its
  // run folder (the web page's Segment panel) resizes and normalises slices as predict does.
  const input = { size: c.size, normalize: c.normalize };
  const meta = (epoch: number, logs: Logs) => ({
    architecture: built.architecture,
    ...input,
    epoch,
    metrics: logs,
    seed: c.seed,
    task: c.task,
    adapter: adapterName(runtime().ctx.report),
    callbacks: callbackStates(),
  });

  // With --tune-convs the first batch trained tunes, unless an earlier epoch of this run saved
  // choices that this adapter can take. The choices are saved at the end of the first epoch that
  // trained a batch: a resumed epoch may have none left to train.
  // --conv-tuning: the copy in the run folder, written once the folder is the run's (an --overwrite
  // has cleared it), is what a resume, eval and predict take.
  if (tuning !== null) await writeFileAtomic(files.tuning, tuning, 'train');
  else if (resume && c.convTuning) await useRunTuning(c.out, log);
  const tune = c.tuneConvs === true && !(await useRunTuning(c.out, log));
  let tuned = false;
  let tuningSaved = false;
  const train = makeDataset(split.train, c, { train: true });
  const val = makeDataset(split.val, c, { train: false });
  const started = performance.now();
  let lastCompleted = initialEpoch - 1;
  /** The last batch trained, for a lost device's message. */
  let at = null as { epoch: number; batch: number } | null;
  let history: History;
  // The restore point is early stopping's once fit begins, which frees it; until then, this code's.
  let restorePoint: Map<string, Tensor> | null = null;
  try {
    if (earlyStopping) {
      restorePoint = resumedRestorePoint(model, savedExtra, files.last, log);
      if (restorePoint) earlyStopping.resumeRestorePoint(restorePoint);
    }
    history = await fit(model, train, val, {
      epochs: c.epochs,
      initialEpoch,
      resumeEpoch,
      optimizer,
      loss: built.loss,
      trainMetric: built.trainMetric,
      metrics: built.metrics,
      callbacks: Object.values(callbacks),
      checkpointMeta: { architecture: built.architecture, ...input, seed: c.seed, task: c.task },
      // Ctrl-C: fit stops at the end of a group of accumulated batches (or of the epoch), so that
      // the resumed run takes the same optimiser steps.
      signal: hooks.signal,
      log,
      tuneConvs: tune,
      clipGradNorm: c.clipGradNorm ? c.clipGradNorm : undefined,
      accumulate: c.accumulate ?? 1,
      ema: ema ?? undefined,
      // DAWNET_INJECT_NAN_AT_BATCH=n: a NaN loss at batch n, to test the stop path end to end.
      injectNanAtBatch: process.env.DAWNET_INJECT_NAN_AT_BATCH ? Number(process.env.DAWNET_INJECT_NAN_AT_BATCH) : undefined,
      onBatch: (p) => {
        // A batch has trained, and the first that did was tuned.
        tuned = tune;
        at = { epoch: p.epoch, batch: p.batch };
        hooks.onBatch?.({ ...p, epochs: c.epochs });
      },
      // Mid-epoch weights and how far the epoch got: --resume takes the epoch up from its next batch.
      onInterrupt: (_epoch, progress) => saveCheckpoint(files.last, model, optimizer, { ...meta(lastCompleted, {}), interrupted: true, progress }, ema, extra()),
      onEpoch: async (epoch, logs) => {
        lastCompleted = epoch;
        await appendMetrics(c.out, { epoch, ...logs, seconds: (performance.now() - started) / 1000 });
        await saveCheckpoint(files.last, model, optimizer, meta(epoch, logs), ema, extra());
        if (tuned && !tuningSaved) {
          await saveConvTuning(files.tuning);
          tuningSaved = true;
        }
        hooks.onEpoch?.(epoch, logs);
      },
    });
  } catch (e) {
    await Promise.all([train.close(), val.close()]);
    // Freed already where fit had begun (early stopping's onTrainEnd); dispose() is idempotent.
    for (const t of restorePoint?.values() ?? []) t.dispose();
    release();
    model.dispose();
    if (e instanceof TrainingError) {
      const kept = (await fileExists(files.last)) ? `last good checkpoint: ${files.last}` : 'no epoch had finished, so there is no checkpoint';
      throw new TrainingError(`${e.message.replace(/ \(the last checkpoint is kept\)$/, '')}; ${kept}`, e.at);
    }
    throw await stoppedRun(e, c.out, at ? `in epoch ${at.epoch + 1} (${at.batch} of its batches trained)` : 'before a batch was trained', hooks.continueWith);
  }
  await Promise.all([train.close(), val.close()]);
  if (history.interrupted) {
    log(`interrupted: checkpoint saved to ${files.last}; continue with --resume ${c.out}`);
    release();
    model.dispose();
    return { history, test: null, interrupted: true };
  }
  // Evaluate the best checkpoint (by the validation metric), as `dawnet eval` does: the last
  // epoch's weights are not necessarily the best ones. With --ema it holds the averaged weights.
  release();
  let test: EvalResult | null;
  try {
    if (await fileExists(files.best)) await loadCheckpoint(files.best, model);
    // --test-fraction 0 (a k-fold run scored on its validation group alone): nothing to test on.
    test = split.test.length ? await evaluateRun(c, model, split.test, log) : null;
    if (test) await writeJson(files.eval, test.json);
    else log('test: no test patients (--test-fraction 0), so no test evaluation and no eval.json');
    await writeRunReport(c, model, split, test, log);
  } catch (e) {
    model.dispose();
    throw await stoppedRun(e, c.out, 'while the run was evaluated and reported on', hooks.continueWith);
  }
  model.dispose();
  return { history, test, interrupted: false };
}

/**
 * A lost device or a write the disk refused, with what the run kept and how it goes on; any other
 * error as it came. What was saved is whole: files are written atomically, and a save begins by
 * reading the tensors back, which a lost device fails, so nothing is written from one.
 */
async function stoppedRun(e: unknown, out: string, where: string, continueWith?: string): Promise<unknown> {
  const disk = isDiskWriteError(e);
  if (!disk && !(e instanceof DeviceLostError)) return e;
  const last = runFiles(out).last;
  const saved = await fileExists(last);
  const next = continueWith
    ? `${continueWith}${saved ? ` (this run from its last checkpoint, ${last})` : ''}`
    : saved
      ? `--resume ${out} continues it from its last checkpoint, ${last}`
      : `--resume ${out} starts it again (no epoch had finished, so there is no checkpoint)`;
  if (disk) {
    (e as Error).message += `. Nothing the run saved is lost: once the disk takes writes again, ${next}`;
    return e;
  }
  const cause = deviceLossCause(e);
  return new DeviceLostError(`GPU device lost${cause ? ` (${cause})` : ''} ${where}, so the run stopped. Nothing it saved is lost: ${next}`);
}
