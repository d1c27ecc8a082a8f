// A dataset over host arrays, for fit: Keras's fit(x, y, batch_size, shuffle) and PyTorch's
// TensorDataset + DataLoader in one. fit disposes each batch it is given, so every epoch uploads
// its batches afresh from the arrays, which stay on the host (and the caller's).

import { ArgumentError } from '../errors.js';
import { describeValue, expectHostArray, expectKnownOptions, expectNumber, expectOptionalBoolean, expectOptionalNumber, expectOptions } from '../graph/args.js';
import { shapeSize, tensor, type Shape } from '../graph/tensor.js';
import { deriveSeed, seededRandom, shuffled } from '../data/split.js';
import type { Batch, Dataset } from './fit.js';

/** Values and their shape, the first axis the samples: `{ data: images, shape: [100, 32, 32, 3] }`. */
export interface HostArray {
  data: ArrayLike<number>;
  shape: Shape;
}

export interface ArrayDatasetOptions {
  /** Samples per batch; 32 by default, as Keras's. */
  batchSize?: number;
  /** A new order each epoch, seeded by (seed, epoch) so a run repeats; off by default, as PyTorch's DataLoader. */
  shuffle?: boolean;
  seed?: number;
  /** Leaves out the last batch when it is short (PyTorch's drop_last). */
  dropLast?: boolean;
}

const OPTIONS = ['batchSize', 'shuffle', 'seed', 'dropLast'] as const;

/**
 * `fit(model, arrayDataset(x, y, { batchSize: 16, shuffle: true }), arrayDataset(xv, yv), ...)`:
 * batches of x's and y's rows, in order or shuffled. batchesFrom lets a resumed epoch start at its
 * batch; batchCount is known.
 */
export function arrayDataset(x: HostArray, y: HostArray, opts: ArrayDatasetOptions = {}): Dataset & { batchCount: number; size: number } {
  const op = 'arrayDataset';
  for (const [role, a] of [['x', x], ['y', y]] as const) {
    if (!a || typeof a !== 'object' || !Array.isArray(a.shape) || typeof a.data?.length !== 'number') {
      throw new ArgumentError(`${op}: ${role} must be { data, shape } with the samples on the first axis, got ${describeValue(a)}`);
    }
    if (a.shape.length < 1 || !a.shape.every((d) => Number.isInteger(d) && d >= 0)) throw new ArgumentError(`${op}: ${role}.shape must be whole numbers, got [${a.shape}]`);
    if (shapeSize(a.shape) !== a.data.length) throw new ArgumentError(`${op}: ${role}.data holds ${a.data.length} values, where shape [${a.shape}] needs ${shapeSize(a.shape)}`);
    // Numbers only: strings became NaN in the batches, bigints failed in the copy at the first batch.
    expectHostArray(op, `${role}.data`, a.data);
    const odd = Array.isArray(a.data) ? a.data.findIndex((v) => typeof v !== 'number') : -1;
    if (odd >= 0) throw new ArgumentError(`${op}: ${role}.data[${odd}] must be a number, got ${describeValue(a.data[odd])}`);
  }
  if (x.shape[0] !== y.shape[0]) throw new ArgumentError(`${op}: x holds ${x.shape[0]} samples and y ${y.shape[0]}; they must pair up`);
  expectOptions(op, opts, '{ batchSize: 32, shuffle: true, seed: 1 }');
  expectKnownOptions(op, opts, OPTIONS, {});
  expectOptionalNumber(op, 'batchSize', opts.batchSize, { integer: true, min: 1 });
  expectOptionalBoolean(op, 'shuffle', opts.shuffle);
  expectOptionalNumber(op, 'seed', opts.seed, { integer: true, min: 0 });
  expectOptionalBoolean(op, 'dropLast', opts.dropLast);
  const size = x.shape[0];
  const batchSize = opts.batchSize ?? 32;
  const batchCount = opts.dropLast ? Math.floor(size / batchSize) : Math.ceil(size / batchSize);
  const order = (epoch: number): number[] => {
    const identity = Array.from({ length: size }, (_, i) => i);
    return opts.shuffle ? shuffled(identity, seededRandom(deriveSeed(opts.seed ?? 0, epoch))) : identity;
  };
  /** The rows of `a` at `indices`, as a new tensor (fit disposes it). */
  const gather = (a: HostArray, indices: number[]) => {
    const n = shapeSize(a.shape.slice(1));
    const out = new Float32Array(indices.length * n);
    indices.forEach((r, k) => {
      for (let j = 0; j < n; j++) out[k * n + j] = a.data[r * n + j];
    });
    return tensor(out, [indices.length, ...a.shape.slice(1)]);
  };
  function* batchesFrom(epoch: number, from: number): Generator<Batch> {
    expectNumber(op, 'from', from, { integer: true, min: 0 });
    const o = order(epoch);
    for (let b = from; b < batchCount; b++) {
      const indices = o.slice(b * batchSize, (b + 1) * batchSize);
      yield { x: gather(x, indices), y: gather(y, indices) };
    }
  }
  return { batches: (epoch: number) => batchesFrom(epoch, 0), batchesFrom, batchCount, size };
}
