// Learning-rate schedules by epoch, as Keras's LearningRateScheduler: at the start of every epoch
// the optimiser's lr becomes schedule(epoch, lr). A schedule is a plain function of the epoch
// (0-based, counting from the run's first epoch, so a resumed run picks up where it stopped);
// cosineDecay and stepDecay build the usual ones.

import { ArgumentError } from '../errors.js';
import { expectFunction, expectKnownOptions, expectNumber, expectOptionalBoolean, expectOptionalNumber, expectOptions } from '../graph/args.js';
import type { Callback, TrainingControl } from './callbacks.js';

/** The learning rate for `epoch`, given the one the optimiser has now. */
export type Schedule = (epoch: number, lr: number) => number;

export class LearningRateScheduler implements Callback {
  constructor(readonly schedule: Schedule, readonly opts: { verbose?: boolean } = {}) {
    const op = 'LearningRateScheduler';
    expectFunction(op, 'schedule', schedule);
    // Keras's LearningRateScheduler(schedule, 1) passes verbose by position: said, not ignored.
    expectOptions(op, opts, '{ verbose: true }');
    expectKnownOptions(op, opts, ['verbose'], {});
    expectOptionalBoolean(op, 'verbose', opts.verbose);
  }

  onEpochBegin(epoch: number, ctl: TrainingControl): void {
    const before = ctl.getLr();
    const lr = this.schedule(epoch, before);
    if (typeof lr !== 'number' || !Number.isFinite(lr) || lr < 0) {
      throw new ArgumentError(`LearningRateScheduler: schedule(${epoch}, ${before}) returned ${String(lr)}, not a learning rate >= 0`);
    }
    ctl.setLr(lr);
    if (this.opts.verbose) ctl.log(`LearningRateScheduler: epoch ${epoch + 1}, learning rate ${lr}`);
  }
}

export interface CosineDecayOptions {
  /** The peak learning rate, reached after the warm-up. */
  lr: number;
  /** Epochs over which it decays to minLr (the run's length). */
  epochs: number;
  minLr?: number;
  /** Epochs of linear warm-up first: lr · (epoch + 1) / warmupEpochs. */
  warmupEpochs?: number;
}

/**
 * Cosine decay (SGDR without restarts): after the warm-up, minLr + (lr - minLr) · (1 + cos(π · t)),
 * halved, t = (epoch - warmupEpochs) / (epochs - warmupEpochs): 0 at the first epoch after the
 * warm-up, reaching 1 (minLr) at `epochs`, where the run has ended, and staying there past it. So
 * the last epoch still trains, at a small rate above minLr, as PyTorch's CosineAnnealingLR
 * (T_max = the epochs after warm-up) and Keras's CosineDecay (decay_steps alike) give it. Before
 * 2026-11-27 t reached 1 at the last epoch itself, which with minLr 0 trained it at lr 0.
 */
export function cosineDecay(options: CosineDecayOptions): Schedule {
  const op = 'cosineDecay';
  expectOptions(op, options, '{ lr: 1e-3, epochs: 50 }', true);
  expectKnownOptions(op, options, ['lr', 'epochs', 'minLr', 'warmupEpochs'], {});
  const { lr, epochs, minLr = 0, warmupEpochs = 0 } = options;
  expectNumber(op, 'lr', lr, { min: 0 });
  expectNumber(op, 'epochs', epochs, { integer: true, min: 1 });
  expectOptionalNumber(op, 'minLr', minLr, { min: 0, max: lr });
  expectOptionalNumber(op, 'warmupEpochs', warmupEpochs, { integer: true, min: 0, below: epochs });
  return (epoch) => {
    if (epoch < warmupEpochs) return (lr * (epoch + 1)) / warmupEpochs;
    const t = Math.min(1, (epoch - warmupEpochs) / (epochs - warmupEpochs));
    return minLr + ((lr - minLr) * (1 + Math.cos(Math.PI * t))) / 2;
  };
}

/** lr · factor^floor(epoch / every): Keras's ExponentialDecay with staircase, by epoch. */
export function stepDecay(options: { lr: number; every: number; factor?: number }): Schedule {
  const op = 'stepDecay';
  expectOptions(op, options, '{ lr: 1e-3, every: 10, factor: 0.5 }', true);
  expectKnownOptions(op, options, ['lr', 'every', 'factor'], {});
  const { lr, every, factor = 0.1 } = options;
  expectNumber(op, 'lr', lr, { min: 0 });
  expectNumber(op, 'every', every, { integer: true, min: 1 });
  expectNumber(op, 'factor', factor, { above: 0, max: 1 });
  return (epoch) => lr * factor ** Math.floor(epoch / every);
}
