// fit's messages: the lines it logs (an epoch's, conv tuning's), the validation metrics of an
// epoch, and the error that says what a run stopped by a lost device kept and how it goes on.

import { DeviceLostError } from '../errors.js';
import { restatedLoss } from '../gpu/device.js';
import type { TunedConv } from '../kernels/conv2d-tuning.js';
import type { Logs } from './callbacks.js';
import type { EvalSet, MetricFn } from './fit.js';

/** One line on what tuneConvs chose: how many convs each algorithm got, and the time it took. */
export function tuningSummary(tuned: TunedConv[], seconds: number): string {
  const counts = new Map<string, number>();
  for (const t of tuned) counts.set(t.algorithm, (counts.get(t.algorithm) ?? 0) + 1);
  const by = [...counts].map(([a, n]) => `${n} ${a}`).join(', ');
  return `conv tuning: ${tuned.length} convs with a choice of algorithm timed in ${seconds.toFixed(1)} s${tuned.length ? `: ${by}` : ''}`;
}

/**
 * The epoch's val_<name> metrics. Predictions that are not all finite (a model diverged in eval
 * mode: batch norm's running statistics, say) make every metric NaN, with a warning, instead of
 * reaching the metric functions (segmentationReport and binaryReport refuse a NaN), so that the
 * run goes on: early stopping and ReduceLROnPlateau count the epoch as no improvement toward their
 * patience (a NaN never improves, as in Keras, even in the first epoch), and the best checkpoint
 * stays the best finite epoch's.
 */
export function validationMetrics(metrics: Record<string, MetricFn>, set: EvalSet, epoch: number, warn: (m: string) => void): Logs {
  const names = Object.keys(metrics);
  const bad = set.pred.findIndex((v) => !Number.isFinite(v));
  if (bad < 0) return Object.fromEntries(names.map((n) => [`val_${n}`, metrics[n](set)]));
  if (names.length) {
    const count = set.pred.reduce((k, v) => k + (Number.isFinite(v) ? 0 : 1), 0);
    warn(`fit: epoch ${epoch + 1}'s validation predictions are not all finite (${count} of ${set.pred.length}, the first ${set.pred[bad]}); its ${names.map((n) => `val_${n}`).join(', ')} are NaN, which never counts as an improvement`);
  }
  return Object.fromEntries(names.map((n) => [`val_${n}`, NaN]));
}

/** verbose's line for an epoch, Keras's `name: value` pairs with 4 decimals (a small rate in exponent form). */
export function epochLine(epoch: number, epochs: number, seconds: number, logs: Logs): string {
  const value = (v: number) => (Number.isNaN(v) ? 'nan' : v !== 0 && Math.abs(v) < 1e-3 ? v.toExponential(2) : v.toFixed(4));
  const pairs = Object.entries(logs).map(([k, v]) => `${k}: ${value(v)}`);
  return [`epoch ${epoch + 1}/${epochs}`, `${seconds.toFixed(1)}s`, ...pairs].join(' - ');
}

/** The last checkpoint a callback saved during fit: the file and its (0-based) epoch. */
export interface SavedCheckpoint {
  path: string;
  epoch: number;
}

/**
 * fit's error for a device lost during it: where the run stopped, what went with the device and
 * what is left, and how to go on. The device's own message speaks of "the last checkpoint" in
 * general; fit knows whether a callback saved one, which file, and the initialEpoch that resumes
 * from it (a run without one has nothing on disk to go back to). Any other error is returned as it came.
 */
export function lostInFit(e: unknown, epoch: number, saved: SavedCheckpoint | null): unknown {
  if (!(e instanceof DeviceLostError)) return e;
  const kept = saved
    ? `Kept: the files the callbacks saved; the last is ${saved.path}, of epoch ${saved.epoch + 1}. To go on: \`await dn.init()\`, build the model and ` +
      `optimiser again (the old ones cannot be loaded into), dn.train.loadCheckpoint('${saved.path}', model, optimizer), and fit with initialEpoch: ${saved.epoch + 1}`
    : 'No callback saved a checkpoint in this call, so nothing of it is on disk: `await dn.init()`, build the model and optimiser again, and train from ' +
      'the start or from weights saved before';
  return restatedLoss(
    e,
    (cause) =>
      `GPU device lost${cause ? ` (${cause})` : ''} in epoch ${epoch + 1} of fit, which stopped there. Gone with the device: the model's weights, ` +
      `the optimiser's state and the weights callbacks kept in memory (EarlyStopping's best). ${kept}`,
  );
}
