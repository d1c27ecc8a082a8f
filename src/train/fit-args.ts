// fit's arguments, checked before the first batch: a slip there should not cost an epoch. Options
// fit does not read are refused, Keras's fit arguments named with where dawnet takes them (a
// batchSize no one reads would train at the dataset's size, silently), and metrics and callbacks
// of the wrong kind are named before training rather than failing in validation with a TypeError.

import { ArgumentError, DisposedError } from '../errors.js';
import { describeValue, expectKnownOptions, expectNumber, expectOptionalNumber, expectOptions, isPlainObject } from '../graph/args.js';
import { Module } from '../nn/module.js';
import { Optimizer } from '../optim/optimizer.js';
import type { Callback } from './callbacks.js';
import type { Dataset, FitOptions } from './fit.js';

const FIT_OPTIONS = [
  'epochs', 'initialEpoch', 'resumeEpoch', 'optimizer', 'loss', 'trainMetric', 'metrics', 'callbacks', 'onBatch', 'onEpoch',
  'onInterrupt', 'checkpointMeta', 'signal', 'log', 'verbose', 'injectNanAtBatch', 'tuneConvs', 'clipGradNorm', 'accumulate', 'ema',
] as const;

/** Keras's Model.fit arguments that dawnet takes elsewhere (camelCase; snake_case is camelised first). */
const KERAS_FIT: Readonly<Record<string, string>> = {
  batchSize: "the dataset's batches(epoch) makes the batches, at the size it chooses",
  validationData: 'the validation set is fit\'s third argument: fit(model, train, val, options)',
  validationSplit: 'the validation set is fit\'s third argument: fit(model, train, val, options)',
  shuffle: "the dataset's batches(epoch) chooses each epoch's order",
  clipnorm: 'clipGradNorm',
};

const METRICS_EXAMPLE = '{ acc: (set) => dn.train.binaryReport(set.pred, set.target).accuracy }, logged as val_acc';

export function checkFitArgs(model: unknown, train: unknown, val: unknown, opts: FitOptions): void {
  if (!(model instanceof Module)) throw new ArgumentError(`fit: model must be a Module, got ${describeValue(model)}`);
  for (const [role, data] of [['train', train], ['val', val]] as const) {
    if (role === 'val' && (data === null || data === undefined)) continue;
    if (typeof (data as Partial<Dataset> | null)?.batches !== 'function') {
      throw new ArgumentError(`fit: ${role} must be a Dataset (an object with batches(epoch))${role === 'val' ? ' or null' : ''}, got ${describeValue(data)}`);
    }
  }
  expectOptions('fit', opts, '{ epochs: 10, optimizer, loss: dn.diceLoss }', true);
  for (const key of Object.keys(opts)) {
    const keras = KERAS_FIT[key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())];
    if (keras && !(FIT_OPTIONS as readonly string[]).includes(key)) throw new ArgumentError(`fit: unknown option '${key}' (Keras's fit argument): ${keras}`);
  }
  expectKnownOptions('fit', opts, FIT_OPTIONS, {});
  expectNumber('fit', 'epochs', opts.epochs, { integer: true, min: 0 });
  expectOptionalNumber('fit', 'initialEpoch', opts.initialEpoch, { integer: true, min: 0 });
  expectOptionalNumber('fit', 'clipGradNorm', opts.clipGradNorm, { above: 0 });
  expectOptionalNumber('fit', 'accumulate', opts.accumulate, { integer: true, min: 1 });
  if (opts.verbose !== undefined && ![true, false, 0, 1, 2].includes(opts.verbose)) {
    throw new ArgumentError(`fit: verbose must be true, false or Keras's 0, 1 or 2, got ${describeValue(opts.verbose)}`);
  }
  if (opts.resumeEpoch !== undefined) {
    const r = opts.resumeEpoch;
    expectNumber('fit', 'resumeEpoch.batches', r?.batches, { integer: true, min: 0 });
    expectNumber('fit', 'resumeEpoch.samples', r.samples, { integer: true, min: 0 });
    expectNumber('fit', 'resumeEpoch.lossSum', r.lossSum);
    expectNumber('fit', 'resumeEpoch.metricSum', r.metricSum);
  }
  if (!(opts.optimizer instanceof Optimizer)) throw new ArgumentError(`fit: optimizer must be an Optimizer (dn.optim.Adam, ...), got ${describeValue(opts.optimizer)}`);
  if (typeof opts.loss !== 'function') throw new ArgumentError(`fit: loss must be a function (pred, target) => Tensor, got ${describeValue(opts.loss)}`);
  const metrics: unknown = opts.metrics;
  if (metrics !== undefined && (!isPlainObject(metrics) || Object.values(metrics).some((f) => typeof f !== 'function'))) {
    const named = Array.isArray(metrics) ? " (Keras's list of names: dawnet has no metrics by name)" : '';
    throw new ArgumentError(`fit: metrics must be an object of functions of the validation set, such as ${METRICS_EXAMPLE}; got ${describeValue(metrics)}${named}`);
  }
  const callbacks: unknown = opts.callbacks;
  const made = Array.isArray(callbacks) ? callbacks.findIndex((c) => typeof c === 'function' && /^class\b/.test(Function.prototype.toString.call(c))) : -1;
  if (made >= 0) {
    const name = (callbacks as { name: string }[])[made].name;
    throw new ArgumentError(`fit: callbacks[${made}] is the class ${name}, not a callback made from it: new ${name}({ ... })`);
  }
  if (callbacks !== undefined && (!Array.isArray(callbacks) || callbacks.some((c) => typeof c !== 'object' || c === null))) {
    throw new ArgumentError(`fit: callbacks must be an array of callbacks, such as [new dn.train.EarlyStopping({ patience: 5 })], got ${describeValue(callbacks)}`);
  }
  (callbacks as object[] | undefined)?.forEach(expectCallbackHooks);
  expectModelTrainable(model, opts);
}

const HOOKS = ['onTrainBegin', 'onEpochBegin', 'onEpochEnd', 'onTrainEnd'] as const;
/** Keras's hooks that fit has no callback form of, and the option that takes their place. */
const NO_HOOK: Readonly<Record<string, string>> = {
  onBatchBegin: "fit's onBatch option (after each batch)",
  onBatchEnd: "fit's onBatch option",
  onTrainBatchBegin: "fit's onBatch option (after each batch)",
  onTrainBatchEnd: "fit's onBatch option",
};

/**
 * A callback fit would call nothing of is refused: one written for Keras (on_epoch_end) or with a
 * misspelt hook would otherwise never run, silently.
 */
function expectCallbackHooks(cb: object, i: number): void {
  const methods = new Set<string>();
  for (let o: object | null = cb; o && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
    for (const key of Object.getOwnPropertyNames(o)) if (key !== 'constructor' && typeof (cb as Record<string, unknown>)[key] === 'function') methods.add(key);
  }
  const who = `fit: callbacks[${i}] (${cb.constructor?.name && cb.constructor !== Object ? cb.constructor.name : 'an object'})`;
  for (const m of methods) {
    const camel = m.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
    if (m === camel && !(m in NO_HOOK)) continue;
    if ((HOOKS as readonly string[]).includes(camel)) throw new ArgumentError(`${who} has ${m}, Keras's name: fit calls ${camel}`);
    if (camel in NO_HOOK) throw new ArgumentError(`${who} has ${m}, which fit never calls: use ${NO_HOOK[camel]}`);
  }
  const hooks = HOOKS.filter((h) => typeof (cb as Callback)[h] === 'function');
  if (!hooks.length) throw new ArgumentError(`${who} has none of ${HOOKS.join(', ')}, so fit would never call it`);
}

/**
 * The model must be alive and the optimiser must hold its trainable parameters: an optimiser made
 * over another model (or an earlier copy of this one) would step nothing, and the run would train
 * nothing, silently.
 */
function expectModelTrainable(model: Module, opts: FitOptions): void {
  const named = model.namedParameters();
  const dead = named.find((p) => p.tensor.disposed);
  if (dead) throw new DisposedError(`fit: the model (${model.constructor.name}) was disposed: its parameter '${dead.name}' was used after dispose()`);
  const held = new Set(opts.optimizer.parameterTensors());
  const trainable = model.trainableParameters();
  if (trainable.length && !trainable.some((p) => held.has(p.tensor))) {
    const gone = opts.optimizer.parameterTensors().some((t) => t.disposed) ? ' (some of its tensors are disposed: a model since disposed?)' : '';
    throw new ArgumentError(
      `fit: the optimiser (${opts.optimizer.kind}) holds none of the model's ${trainable.length} trainable parameters ('${trainable[0].name}', ...)${gone}; ` +
        `make it over this model's: new dn.optim.${opts.optimizer.kind}(model.parameters())`,
    );
  }
}
