// WeightEma: an exponential moving average of a model's weights (timm's ModelEmaV2, PyTorch's
// AveragedModel, Keras's use_ema). After each optimiser step every shadow tensor e takes
//
//   e ← d_t · e + (1 − d_t) · w,   d_t = min(decay, (1 + t) / (10 + t)) with warmup, else decay,
//
// t being the updates already applied (0 at the first), as TensorFlow's ExponentialMovingAverage
// with num_updates: early on the average follows the weights closely (d_0 = 0.1, d_90 = 0.91), so
// it is not dominated for thousands of steps by the random initialisation it starts from.
//
// What is averaged: the parameters that are trainable when the WeightEma is made (frozen ones do
// not move, so their average is themselves) and every buffer, such as batch norm's running mean
// and variance, with the same decay, as timm does. Running statistics are themselves an average of
// batch statistics that the live weights produced over the last ~1/momentum batches; averaged with
// the weights, they cover the same window of training as the averaged weights they are used with,
// instead of describing only the latest live weights (AveragedModel's use_buffers=False copies them
// and asks for update_bn to recompute them afterwards; an extra pass over the data that fit does
// not make). One rule for every tensor also keeps the update one kernel per tensor.
//
// The shadows live on the GPU and are updated in place (kernels/ema.ts): no readback. swapIn() puts
// the averaged weights into the model (keeping copies of the live ones) and swapOut() puts the
// live ones back; apply(fn) does both around fn, also when it throws or its promise rejects.

import { ArgumentError, DisposedError, FormatError, ShapeError } from '../errors.js';
import { describeValue, expectKnownOptions, expectNumber, expectOptions } from '../graph/args.js';
import { emptyTensor, type Tensor } from '../graph/tensor.js';
import { runtime } from '../gpu/runtime.js';
import type { HostTensor } from '../io/safetensors.js';
import { emaUpdate } from '../kernels/ema.js';
import { Module } from '../nn/module.js';
import { expectOptionalBoolean } from '../graph/args.js';

export interface WeightEmaOptions {
  /** The decay d (default 0.999): the average's memory is about 1 / (1 − d) steps. */
  decay?: number;
  /** Start with the smaller decay (1 + t) / (10 + t) while it is below `decay` (default true). */
  warmup?: boolean;
}

/** What a checkpoint keeps besides the shadow tensors. */
export interface EmaScalars {
  decay: number;
  warmup: boolean;
  updates: number;
}

interface Entry {
  name: string;
  live: Tensor;
  shadow: Tensor;
}

const copyInto = (src: Tensor, dst: Tensor): void => {
  if (src.size) runtime().copy(src.buffer, 0, dst.buffer, 0, src.size * 4);
};

export class WeightEma {
  readonly decay: number;
  readonly warmup: boolean;
  /** Updates applied so far: t of the warmup. */
  updates = 0;
  private entries: Entry[];
  /** Copies of the live weights while the averaged ones are swapped in. */
  private held: Tensor[] | null = null;
  private disposed = false;

  constructor(readonly model: Module, opts: WeightEmaOptions = {}) {
    if (!(model instanceof Module)) throw new ArgumentError(`WeightEma: model must be a Module, got ${describeValue(model)}`);
    expectOptions('WeightEma', opts, '{ decay: 0.999, warmup: true }');
    expectKnownOptions('WeightEma', opts, ['decay', 'warmup'], {});
    expectNumber('WeightEma', 'decay', opts.decay ?? 0.999, { min: 0, below: 1 });
    expectOptionalBoolean('WeightEma', 'warmup', opts.warmup);
    this.decay = opts.decay ?? 0.999;
    this.warmup = opts.warmup ?? true;
    this.entries = [...model.trainableParameters(), ...model.namedBuffers()].map(({ name, tensor }) => {
      const shadow = emptyTensor(tensor.shape, `ema.${name}`);
      shadow.name = `ema.${name}`;
      copyInto(tensor, shadow);
      return { name, live: tensor, shadow };
    });
  }

  /** Names of the averaged tensors, as in model.stateDict(). */
  get names(): string[] {
    return this.entries.map((e) => e.name);
  }

  /** The shadow tensors by name (owned by the WeightEma: do not dispose). */
  shadows(): Map<string, Tensor> {
    this.expectLive('shadows');
    return new Map(this.entries.map((e) => [e.name, e.shadow]));
  }

  get swapped(): boolean {
    return this.held !== null;
  }

  /** The decay the next update() uses. */
  nextDecay(): number {
    const t = this.updates;
    return this.warmup ? Math.min(this.decay, (1 + t) / (10 + t)) : this.decay;
  }

  /** Folds the model's current weights into the average (after an optimiser step). */
  update(): void {
    this.expectLive('update');
    if (this.swapped) throw new ArgumentError('WeightEma.update: the averaged weights are swapped in; swapOut() first (averaging them into themselves is not a step)');
    const d = this.nextDecay();
    for (const e of this.entries) emaUpdate(e.shadow, e.live, d);
    this.updates++;
  }

  /** Puts the averaged weights into the model, keeping the live ones for swapOut(). */
  swapIn(): void {
    this.expectLive('swapIn');
    if (this.swapped) throw new ArgumentError('WeightEma.swapIn: the averaged weights are already swapped in');
    this.held = this.entries.map((e) => {
      const copy = emptyTensor(e.live.shape, `ema.held.${e.name}`);
      copyInto(e.live, copy);
      copyInto(e.shadow, e.live);
      return copy;
    });
  }

  /** Puts the live weights back, exactly as they were at swapIn(). */
  swapOut(): void {
    if (!this.held) throw new ArgumentError('WeightEma.swapOut: the averaged weights are not swapped in');
    this.entries.forEach((e, i) => copyInto(this.held![i], e.live));
    for (const t of this.held) t.dispose();
    this.held = null;
  }

  /** Runs fn with the averaged weights in the model and the live ones back afterwards, even if fn throws (or its promise rejects). */
  apply<T>(fn: () => T): T {
    this.swapIn();
    let result: T;
    try {
      result = fn();
    } catch (e) {
      this.swapOut();
      throw e;
    }
    if (result instanceof Promise) return result.finally(() => this.swapOut()) as T;
    this.swapOut();
    return result;
  }

  /** Sets every shadow to the model's current weights, and the update count to `updates` (0: the warmup starts again). */
  reset(updates = 0): void {
    this.expectLive('reset');
    if (this.swapped) throw new ArgumentError('WeightEma.reset: the averaged weights are swapped in; swapOut() first');
    for (const e of this.entries) copyInto(e.live, e.shadow);
    this.updates = updates;
  }

  /** Checks saved shadows (a checkpoint's `ema/` tensors, without the prefix) against this average's names and shapes. */
  expectState(source: string, saved: Map<string, { shape: readonly number[] }>): void {
    const missing = this.names.filter((n) => !saved.has(n));
    const unexpected = [...saved.keys()].filter((n) => !this.entries.some((e) => e.name === n));
    if (missing.length || unexpected.length) {
      throw new ShapeError(`${source}: the checkpoint's EMA state does not match the averaged tensors: missing [${missing.join(', ')}], unexpected [${unexpected.join(', ')}]`);
    }
    for (const e of this.entries) {
      const shape = saved.get(e.name)!.shape;
      if (shape.join() !== e.shadow.shape.join()) {
        throw new ShapeError(`${source}: EMA tensor '${e.name}' has shape [${shape}] in the checkpoint but [${e.shadow.shape}] in the model`);
      }
    }
  }

  /**
   * Takes saved shadows (checked by expectState) and the update count, so that the average
   * continues exactly. The decay and warmup stay this average's own (the caller's choice).
   */
  loadState(saved: Map<string, HostTensor>, updates: number): void {
    this.expectLive('loadState');
    if (this.swapped) throw new ArgumentError('WeightEma.loadState: the averaged weights are swapped in; swapOut() first');
    for (const e of this.entries) runtime().write(e.shadow.buffer, saved.get(e.name)!.data);
    this.updates = updates;
  }

  /** Frees the shadows; the live weights are put back first if the averaged ones are swapped in. */
  dispose(): void {
    if (this.swapped) this.swapOut();
    for (const e of this.entries) e.shadow.dispose();
    this.entries = [];
    this.disposed = true;
  }

  private expectLive(op: string): void {
    if (this.disposed) throw new DisposedError(`WeightEma.${op}: the average was used after dispose()`);
  }
}

/** The scalars of a checkpoint's `ema` metadata entry (parsed as checkpoint.ts parses every entry), checked. */
export function parseEmaScalars(source: string, s: Partial<EmaScalars>): EmaScalars {
  if (typeof s.decay !== 'number' || !Number.isInteger(s.updates) || s.updates! < 0) {
    throw new FormatError(`${source}: the checkpoint's EMA metadata has no decay and update count (${JSON.stringify(s)})`);
  }
  return { decay: s.decay, warmup: s.warmup !== false, updates: s.updates! };
}

/**
 * fit's `ema` option: a WeightEma of this model (the caller's, kept after fit) or its options (one
 * made for the run and freed at its end).
 */
export function emaForFit(model: Module, v: WeightEma | WeightEmaOptions | undefined): { ema: WeightEma | null; owned: boolean } {
  if (v === undefined) return { ema: null, owned: false };
  if (v instanceof WeightEma) {
    if (v.model !== model) throw new ArgumentError('fit: ema averages another model than the one being trained');
    return { ema: v, owned: false };
  }
  if (typeof v !== 'object' || v === null) throw new ArgumentError(`fit: ema must be a WeightEma or its options { decay: 0.999 }, got ${describeValue(v)}`);
  return { ema: new WeightEma(model, v), owned: true };
}
