// Callbacks with Keras's semantics (keras/src/callbacks in Keras 3, which the reference notebook's
// tf.keras 2.x matches on everything used here). Each reads the epoch's logs (loss, val_loss,
// val_accuracy, ...) and acts on a TrainingControl: stop, change the learning rate, snapshot or
// restore the weights, save a checkpoint.

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

function monitored(logs: Logs, monitor: string, who: string, ctl: TrainingControl): number | undefined {
  const v = logs[monitor];
  if (v === undefined) ctl.log(`${who}: metric '${monitor}' is not in the logs (${Object.keys(logs).join(', ')}); skipping`);
  return v;
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

  constructor(readonly opts: EarlyStoppingOptions = {}) {
    this.monitor = opts.monitor ?? 'val_loss';
    this.minDelta = Math.abs(opts.minDelta ?? 0);
    this.patience = opts.patience ?? 0;
    this.mode = resolveMode(opts.mode ?? 'auto', this.monitor);
  }

  /** Keras: improvement when (current - minDelta) beats the reference in the mode's direction. */
  private improves(current: number, reference: number): boolean {
    if (Number.isNaN(reference)) return true;
    return this.mode === 'min' ? current + this.minDelta < reference : current - this.minDelta > reference;
  }

  private resumed: Record<string, number> | null = null;

  getState(): Record<string, number> {
    return { wait: this.wait, best: this.best, bestEpoch: this.bestEpoch };
  }

  setState(state: Record<string, number>): void {
    this.resumed = state;
  }

  onTrainBegin(ctl: TrainingControl): void {
    this.wait = this.resumed?.wait ?? 0;
    this.stoppedEpoch = 0;
    this.best = this.resumed?.best ?? NaN;
    this.bestEpoch = this.resumed?.bestEpoch ?? 0;
    this.resumed = null;
    if (this.bestWeights) ctl.disposeWeights(this.bestWeights);
    this.bestWeights = null;
  }

  onEpochEnd(epoch: number, logs: Logs, ctl: TrainingControl): void {
    const current = monitored(logs, this.monitor, 'EarlyStopping', ctl);
    if (current === undefined || epoch < (this.opts.startFromEpoch ?? 0)) return;
    if (this.opts.restoreBestWeights && this.bestWeights === null) {
      this.bestWeights = ctl.snapshotWeights();
      this.bestEpoch = epoch;
    }
    this.wait++;
    if (this.improves(current, this.best)) {
      this.best = current;
      this.bestEpoch = epoch;
      if (this.opts.restoreBestWeights) {
        ctl.disposeWeights(this.bestWeights);
        this.bestWeights = ctl.snapshotWeights();
      }
      if (this.opts.baseline === undefined || this.improves(current, this.opts.baseline)) this.wait = 0;
      return;
    }
    if (this.wait >= this.patience && epoch > 0) {
      this.stoppedEpoch = epoch;
      ctl.stopTraining = true;
      if (this.opts.restoreBestWeights && this.bestWeights !== null) {
        ctl.log(`EarlyStopping: restoring the weights of epoch ${this.bestEpoch + 1} (${this.monitor} ${this.best})`);
        ctl.restoreWeights(this.bestWeights);
      }
    }
  }

  onTrainEnd(ctl: TrainingControl): void {
    if (this.stoppedEpoch > 0) ctl.log(`EarlyStopping: stopped after epoch ${this.stoppedEpoch + 1}`);
    if (this.bestWeights) ctl.disposeWeights(this.bestWeights);
    this.bestWeights = null;
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
    this.monitor = opts.monitor ?? 'val_loss';
    this.factor = opts.factor ?? 0.1;
    if (this.factor >= 1) throw new RangeError('ReduceLROnPlateau: factor must be < 1');
    this.patience = opts.patience ?? 10;
    this.mode = resolveMode(opts.mode ?? 'auto', this.monitor);
    this.minDelta = opts.minDelta ?? 1e-4;
    this.cooldown = opts.cooldown ?? 0;
    this.minLr = opts.minLr ?? 0;
  }

  /** Keras: min mode improves when current < best - minDelta. */
  private improves(current: number): boolean {
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

/** Saves to `path` (atomically); `{epoch}` in the path is replaced by the 1-based epoch. */
export class ModelCheckpoint implements Callback {
  readonly monitor: string;
  readonly mode: 'min' | 'max';
  best = NaN;
  saves: number[] = [];

  constructor(readonly path: string, readonly opts: ModelCheckpointOptions = {}) {
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
    const better = Number.isNaN(this.best) || (this.mode === 'min' ? current < this.best : current > this.best);
    if (better) {
      // No best yet is NaN (a state that survives JSON); Keras words it as the start of its search.
      const from = Number.isNaN(this.best) ? (this.mode === 'min' ? 'inf' : '-inf') : String(this.best);
      ctl.log(`ModelCheckpoint: ${this.monitor} improved from ${from} to ${current}; saving ${path}`);
      this.best = current;
      await ctl.saveCheckpoint(path, epoch, logs);
      this.saves.push(epoch);
    }
  }
}
