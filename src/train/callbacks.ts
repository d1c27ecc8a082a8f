// Callbacks with Keras's semantics (keras/src/callbacks in Keras 3, which the reference notebook's
// tf.keras 2.x matches on everything used here). Each reads the epoch's logs (loss, val_loss,
// val_accuracy, ...) and acts on a TrainingControl: stop, change the learning rate, snapshot or
// restore the weights, save a checkpoint.
//
// Options are checked when a callback is made, not at the first epoch's end: a misspelt option
// (Keras's restore_best_weights for restoreBestWeights) would otherwise leave the default in
// force for the whole run, silently, and a bad value would surface only after an epoch's training.
//
// A NaN monitored value (a validation whose predictions were not finite, or an empty one) is never
// an improvement, as in Keras, where best starts at +-inf and every comparison with NaN is false:
// it counts toward patience like any epoch that does not improve, also when it comes first, and the
// first finite value after it is the best. Here "no best yet" is a NaN best (a state that survives
// JSON), which any finite value improves on.

import { ArgumentError } from '../errors.js';
import { describeValue, expectChoice, expectKnownOptions, expectOptionalBoolean, expectOptionalNumber, expectOptions } from '../graph/args.js';

export type Logs = Record<string, number>;
export type Mode = 'min' | 'max' | 'auto';

export interface TrainingControl {
  stopTraining: boolean;
  getLr(): number;
  setLr(lr: number): void;
  /** A copy of the current weights (owned by the caller of restoreWeights / disposeWeights). */
  snapshotWeights(): unknown;
  restoreWeights(snapshot: unknown): void;
  disposeWeights(snapshot: unknown): void;
  /** Writes a checkpoint (atomically) to the given path. */
  saveCheckpoint(path: string, epoch: number, logs: Logs): Promise<void>;
  log(message: string): void;
  /**
   * Set by fit when the run has ended as planned: its epochs done, or a callback stopped it. Left
   * unset after an interruption (signal) or an error, whose weights are the ones to resume from:
   * EarlyStopping restores its best weights at the end of a finished run only.
   */
  finished?: boolean;
  /**
   * What the user must see even when nothing else is logged (a monitored metric missing from the
   * logs): fit sends it to its log, or to console.warn without one. Absent, log() takes it.
   */
  warn?(message: string): void;
}

export interface Callback {
  /** Counters worth carrying across a resumed run (wait, best, cooldown). */
  getState?(): Record<string, number>;
  setState?(state: Record<string, number>): void;
  onTrainBegin?(ctl: TrainingControl): void | Promise<void>;
  /** Before the epoch's first batch (a learning-rate schedule sets the rate here). */
  onEpochBegin?(epoch: number, ctl: TrainingControl): void | Promise<void>;
  onEpochEnd?(epoch: number, logs: Logs, ctl: TrainingControl): void | Promise<void>;
  onTrainEnd?(ctl: TrainingControl): void | Promise<void>;
}

/** Keras's 'auto': metrics that grow when better (accuracy, AUC, Dice, ...) are maximised. */
export function resolveMode(mode: Mode, monitor: string): 'min' | 'max' {
  if (mode !== 'auto') return mode;
  return /acc|auc|dice|iou|precision|recall|f1|specificity|sensitivity/.test(monitor) ? 'max' : 'min';
}

/** Callback and metric pairs already warned about, per run (a run has its own control). */
const warned = new WeakMap<TrainingControl, Set<string>>();

/**
 * The monitored value, or undefined with a warning when the logs lack it: a misspelt monitor
 * ('val_acc' for 'val_accuracy') would otherwise never act. Keras warns every epoch; once per run
 * for each callback and metric says it without burying the rest of the log.
 */
function monitored(logs: Logs, monitor: string, who: string, ctl: TrainingControl): number | undefined {
  const v = logs[monitor];
  if (v !== undefined) return v;
  const seen = warned.get(ctl) ?? new Set<string>();
  warned.set(ctl, seen);
  if (seen.has(`${who} ${monitor}`)) return undefined;
  seen.add(`${who} ${monitor}`);
  const message = `${who}: metric '${monitor}' is not in the logs (${Object.keys(logs).join(', ')}); ${who} does nothing while it is missing`;
  if (ctl.warn) ctl.warn(message);
  else ctl.log(message);
  return undefined;
}

/**
 * A callback's options: an object of known keys. A Keras name (snake_case) gets the dawnet name
 * it means; a string in place of the options reads as the monitor, so the hint shows that form.
 */
function expectCallbackOptions(op: string, opts: unknown, known: readonly string[]): void {
  const example = typeof opts === 'string' ? `{ monitor: '${opts}' }` : "{ monitor: 'val_loss', patience: 10 }";
  expectOptions(op, opts, example);
  if (opts === undefined) return;
  expectKnownOptions(op, opts as object, known, {});
}

const MODES: readonly Mode[] = ['min', 'max', 'auto'];
/** patience, cooldown, startFromEpoch: counts of epochs. */
const WHOLE = { integer: true, min: 0 } as const;

/** The options every monitoring callback shares: the metric's name and its direction. */
function expectMonitor(op: string, opts: { monitor?: unknown; mode?: unknown }): void {
  if (opts.monitor !== undefined && (typeof opts.monitor !== 'string' || opts.monitor === '')) {
    throw new ArgumentError(`${op}: monitor must be the name of a logged metric such as 'val_loss', got ${describeValue(opts.monitor)}`);
  }
  expectChoice(op, 'mode', opts.mode, MODES);
}

export interface EarlyStoppingOptions {
  monitor?: string;
  minDelta?: number;
  patience?: number;
  mode?: Mode;
  baseline?: number;
  restoreBestWeights?: boolean;
  startFromEpoch?: number;
}

const EARLY_STOPPING_OPTIONS = ['monitor', 'minDelta', 'patience', 'mode', 'baseline', 'restoreBestWeights', 'startFromEpoch'] as const;

/**
 * Keras's EarlyStopping: stops after `patience` epochs without improvement, restoring the best
 * epoch's weights when asked (also at the end of a run that did not stop, as Keras 3 does). A NaN epoch is no improvement and counts toward the patience, even
 * the first (whose weights restoreBestWeights then keeps until an epoch improves, as Keras does).
 */
export class EarlyStopping implements Callback {
  readonly monitor: string;
  readonly minDelta: number;
  readonly patience: number;
  readonly mode: 'min' | 'max';
  wait = 0;
  best = NaN;
  bestEpoch = 0;
  stoppedEpoch = 0;
  private bestWeights: unknown = null;
  /** The epoch whose weights bestWeights holds: bestEpoch's, unless a resume lost them. */
  private weightsEpoch = 0;
  private resumedWeights: unknown = null;

  constructor(readonly opts: EarlyStoppingOptions = {}) {
    const op = 'EarlyStopping';
    expectCallbackOptions(op, opts, EARLY_STOPPING_OPTIONS);
    expectMonitor(op, opts);
    expectOptionalNumber(op, 'minDelta', opts.minDelta);
    expectOptionalNumber(op, 'patience', opts.patience, WHOLE);
    expectOptionalNumber(op, 'baseline', opts.baseline);
    expectOptionalBoolean(op, 'restoreBestWeights', opts.restoreBestWeights);
    expectOptionalNumber(op, 'startFromEpoch', opts.startFromEpoch, WHOLE);
    this.monitor = opts.monitor ?? 'val_loss';
    // Keras takes abs(min_delta): its sign is the mode's to give (older runs stored a negative one).
    this.minDelta = Math.abs(opts.minDelta ?? 0);
    this.patience = opts.patience ?? 0;
    this.mode = resolveMode(opts.mode ?? 'auto', this.monitor);
  }

  /**
   * Keras: improvement when (current - minDelta) beats the reference in the mode's direction; a
   * NaN current never does, a NaN reference (no best yet) gives way to any other.
   */
  private improves(current: number, reference: number): boolean {
    if (Number.isNaN(current)) return false;
    if (Number.isNaN(reference)) return true;
    return this.mode === 'min' ? current + this.minDelta < reference : current - this.minDelta > reference;
  }

  private resumed: Record<string, number> | null = null;

  /** stoppedEpoch (0 while training goes on) tells a resumed run that this one had finished. */
  getState(): Record<string, number> {
    return { wait: this.wait, best: this.best, bestEpoch: this.bestEpoch, stoppedEpoch: this.stoppedEpoch };
  }

  setState(state: Record<string, number>): void {
    this.resumed = state;
  }

  /** The weights restoreBestWeights would restore now (a snapshot it owns), or null. */
  get restorePoint(): unknown {
    return this.bestWeights;
  }

  /**
   * With setState, for a resumed run: the restorePoint saved with its state, which this callback
   * then owns (and disposes through the control). Without it, a resumed run that stops can restore
   * only weights from after the resume.
   */
  resumeRestorePoint(snapshot: unknown): void {
    this.resumedWeights = snapshot;
  }

  onTrainBegin(ctl: TrainingControl): void {
    this.wait = this.resumed?.wait ?? 0;
    this.stoppedEpoch = 0;
    this.best = this.resumed?.best ?? NaN;
    this.bestEpoch = this.resumed?.bestEpoch ?? 0;
    this.resumed = null;
    if (this.bestWeights) ctl.disposeWeights(this.bestWeights);
    this.bestWeights = this.resumedWeights;
    this.weightsEpoch = this.bestEpoch;
    this.resumedWeights = null;
  }

  onEpochEnd(epoch: number, logs: Logs, ctl: TrainingControl): void {
    const current = monitored(logs, this.monitor, 'EarlyStopping', ctl);
    if (current === undefined || epoch < (this.opts.startFromEpoch ?? 0)) return;
    if (this.opts.restoreBestWeights && this.bestWeights === null) {
      // Keras's fallback when nothing improves: the first epoch's weights. A resumed run that lost
      // its best weights keeps the best epoch it had, and says whose weights it restores instead.
      this.bestWeights = ctl.snapshotWeights();
      this.weightsEpoch = epoch;
      if (Number.isNaN(this.best)) this.bestEpoch = epoch;
    }
    this.wait++;
    if (this.improves(current, this.best)) {
      this.best = current;
      this.bestEpoch = epoch;
      if (this.opts.restoreBestWeights) {
        ctl.disposeWeights(this.bestWeights);
        this.bestWeights = ctl.snapshotWeights();
        this.weightsEpoch = epoch;
      }
      if (this.opts.baseline === undefined || this.improves(current, this.opts.baseline)) this.wait = 0;
      return;
    }
    if (this.wait >= this.patience && epoch > 0) {
      this.stoppedEpoch = epoch;
      ctl.stopTraining = true;
      this.restoreBest(ctl);
    }
  }

  /**
   * Keras 3 restores the best weights in on_train_end, so a run that used all its epochs without
   * stopping ends on its best epoch too, not on its last (tf.keras 2 restored only on a stop).
   * The stop restores them as it stops, so the callbacks after this one see them already.
   */
  onTrainEnd(ctl: TrainingControl): void {
    if (this.stoppedEpoch > 0) ctl.log(`EarlyStopping: stopped after epoch ${this.stoppedEpoch + 1}`);
    else if (ctl.finished === true) this.restoreBest(ctl);
    if (this.bestWeights) ctl.disposeWeights(this.bestWeights);
    this.bestWeights = null;
  }

  private restoreBest(ctl: TrainingControl): void {
    if (!this.opts.restoreBestWeights || this.bestWeights === null) return;
    ctl.log(
      this.weightsEpoch === this.bestEpoch
        ? `EarlyStopping: restoring the weights of epoch ${this.bestEpoch + 1} (${this.monitor} ${this.best})`
        : `EarlyStopping: restoring the weights of epoch ${this.weightsEpoch + 1}, the first since the run resumed: the best, epoch ${this.bestEpoch + 1}'s (${this.monitor} ${this.best}), were not resumed with its state`,
    );
    ctl.restoreWeights(this.bestWeights);
  }
}

export interface ReduceLROnPlateauOptions {
  monitor?: string;
  factor?: number;
  patience?: number;
  mode?: Mode;
  minDelta?: number;
  cooldown?: number;
  minLr?: number;
}

const REDUCE_LR_OPTIONS = ['monitor', 'factor', 'patience', 'mode', 'minDelta', 'cooldown', 'minLr'] as const;

/**
 * Keras's ReduceLROnPlateau: the learning rate times `factor` after `patience` epochs without
 * improvement. A NaN epoch is no improvement and counts toward the patience, even the first.
 */
export class ReduceLROnPlateau implements Callback {
  readonly monitor: string;
  readonly factor: number;
  readonly patience: number;
  readonly mode: 'min' | 'max';
  readonly minDelta: number;
  readonly cooldown: number;
  readonly minLr: number;
  wait = 0;
  cooldownCounter = 0;
  best = NaN;

  constructor(opts: ReduceLROnPlateauOptions = {}) {
    const op = 'ReduceLROnPlateau';
    expectCallbackOptions(op, opts, REDUCE_LR_OPTIONS);
    expectMonitor(op, opts);
    // 1 would never reduce, 0 or less would stop training or flip the steps' sign.
    expectOptionalNumber(op, 'factor', opts.factor, { above: 0, below: 1 });
    for (const k of ['patience', 'cooldown'] as const) expectOptionalNumber(op, k, opts[k], WHOLE);
    for (const k of ['minDelta', 'minLr'] as const) expectOptionalNumber(op, k, opts[k], { min: 0 });
    this.monitor = opts.monitor ?? 'val_loss';
    this.factor = opts.factor ?? 0.1;
    this.patience = opts.patience ?? 10;
    this.mode = resolveMode(opts.mode ?? 'auto', this.monitor);
    this.minDelta = opts.minDelta ?? 1e-4;
    this.cooldown = opts.cooldown ?? 0;
    this.minLr = opts.minLr ?? 0;
  }

  /** Keras: min mode improves when current < best - minDelta; a NaN never does (no best yet: any other). */
  private improves(current: number): boolean {
    if (Number.isNaN(current)) return false;
    if (Number.isNaN(this.best)) return true;
    return this.mode === 'min' ? current < this.best - this.minDelta : current > this.best + this.minDelta;
  }

  private resumed: Record<string, number> | null = null;

  getState(): Record<string, number> {
    return { wait: this.wait, cooldownCounter: this.cooldownCounter, best: this.best };
  }

  setState(state: Record<string, number>): void {
    this.resumed = state;
  }

  onTrainBegin(): void {
    this.wait = this.resumed?.wait ?? 0;
    this.cooldownCounter = this.resumed?.cooldownCounter ?? 0;
    this.best = this.resumed?.best ?? NaN;
    this.resumed = null;
  }

  onEpochEnd(_epoch: number, logs: Logs, ctl: TrainingControl): void {
    logs.lr = ctl.getLr();
    const current = monitored(logs, this.monitor, 'ReduceLROnPlateau', ctl);
    if (current === undefined) return;
    if (this.cooldownCounter > 0) {
      this.cooldownCounter--;
      this.wait = 0;
    }
    if (this.improves(current)) {
      this.best = current;
      this.wait = 0;
    } else if (this.cooldownCounter === 0) {
      this.wait++;
      if (this.wait >= this.patience) {
        const old = ctl.getLr();
        // Keras compares against float32(min_lr): a learning rate already at the floor stays.
        if (old > Math.fround(this.minLr)) {
          const next = Math.max(old * this.factor, this.minLr);
          ctl.setLr(next);
          ctl.log(`ReduceLROnPlateau: learning rate ${old} -> ${next}`);
          this.cooldownCounter = this.cooldown;
          this.wait = 0;
        }
      }
    }
  }
}

export interface ModelCheckpointOptions {
  monitor?: string;
  saveBestOnly?: boolean;
  mode?: Mode;
}

const CHECKPOINT_OPTIONS = ['monitor', 'saveBestOnly', 'mode'] as const;

/**
 * Saves to `path` (atomically); `{epoch}` in the path is replaced by the 1-based epoch. With
 * saveBestOnly, a NaN is never the best: while no epoch has had a finite value each epoch is saved
 * as the latest (Keras saves none), and the first finite one is then the best.
 */
export class ModelCheckpoint implements Callback {
  readonly monitor: string;
  readonly mode: 'min' | 'max';
  best = NaN;
  saves: number[] = [];

  constructor(readonly path: string, readonly opts: ModelCheckpointOptions = {}) {
    const op = 'ModelCheckpoint';
    if (typeof path !== 'string' || path === '') {
      throw new ArgumentError(`${op}: path must be a non-empty string such as 'run/best-{epoch}.safetensors', got ${describeValue(path)}`);
    }
    expectCallbackOptions(op, opts, CHECKPOINT_OPTIONS);
    expectMonitor(op, opts);
    expectOptionalBoolean(op, 'saveBestOnly', opts.saveBestOnly);
    this.monitor = opts.monitor ?? 'val_loss';
    this.mode = resolveMode(opts.mode ?? 'auto', this.monitor);
  }

  getState(): Record<string, number> {
    return { best: this.best };
  }

  setState(state: Record<string, number>): void {
    this.best = state.best ?? NaN;
  }

  async onEpochEnd(epoch: number, logs: Logs, ctl: TrainingControl): Promise<void> {
    const path = this.path.replace('{epoch}', String(epoch + 1).padStart(3, '0'));
    if (!this.opts.saveBestOnly) {
      await ctl.saveCheckpoint(path, epoch, logs);
      this.saves.push(epoch);
      return;
    }
    const current = monitored(logs, this.monitor, 'ModelCheckpoint', ctl);
    if (current === undefined) return;
    // No best yet is NaN (a state that survives JSON); Keras words it as the start of its search.
    const none = Number.isNaN(this.best);
    if (Number.isNaN(current)) {
      // Never a best, as in Keras. Keras saves nothing then; while no epoch has a finite value (a run
      // without validation slices has none), each epoch is saved as the latest instead, so that eval
      // and predict find this file. The first finite value replaces it as the best.
      if (!none) return;
      ctl.log(`ModelCheckpoint: ${this.monitor} is NaN (nothing validated, or not finite) and no epoch has set a best; saving ${path} as the latest`);
    } else {
      if (!none && !(this.mode === 'min' ? current < this.best : current > this.best)) return;
      // Five decimals, as Keras prints them.
      const from = none ? (this.mode === 'min' ? 'inf' : '-inf') : this.best.toFixed(5);
      ctl.log(`ModelCheckpoint: ${this.monitor} improved from ${from} to ${current.toFixed(5)}; saving ${path}`);
      this.best = current;
    }
    await ctl.saveCheckpoint(path, epoch, logs);
    this.saves.push(epoch);
  }
}
