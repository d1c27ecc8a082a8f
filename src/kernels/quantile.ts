// quantile(x, q, { axis, keepDims }) as torch.quantile and NumPy's quantile with their default
// 'linear' interpolation: the sorted values along the axis (all of x when none is given) read at
// place q·(n − 1), between two neighbours by its fraction. A row holding NaN gives NaN (as
// torch's). Percentile clipping of MRI intensities (nnU-Net clips CT to its 0.5th and 99.5th) reads
// two of them.
//
// Composed of sort (sort.ts), gathers of the two neighbours, a lerp and a where, so the gradient
// comes from theirs: each quantile's dy goes to its two neighbours' places in x, (1 − f) and f.

import { ArgumentError, ShapeError } from '../errors.js';
import { describeValue, expectKnownOptions, expectNumber, expectOptionalBoolean, expectOptions, expectTensor, normaliseAxis } from '../graph/args.js';
import { reshape } from '../graph/reshape.js';
import { scope } from '../graph/scope.js';
import type { Tensor } from '../graph/tensor.js';
import { concat } from './concat.js';
import { arithmetic } from './elementwise.js';
import { notEqual } from './elementwise-more.js';
import { gather } from './index-gather.js';
import { sort } from './sort.js';
import { transpose } from './transpose.js';
import { where } from './where.js';

export interface QuantileOptions {
  /** The axis to take quantiles along; by default all of x, flattened. */
  axis?: number;
  /** Keep the reduced axis (all axes, without `axis`) as size 1. Default false. */
  keepDims?: boolean;
}

function checkQ(op: string, q: unknown): number[] {
  const list = typeof q === 'number' ? [q] : Array.isArray(q) ? q : null;
  if (!list || list.length === 0) throw new ArgumentError(`${op}: q must be a number in [0, 1] or a non-empty array of them, got ${describeValue(q)}`);
  list.forEach((v, i) => expectNumber(op, Array.isArray(q) ? `q[${i}]` : 'q', v, { min: 0, max: 1 }));
  return list as number[];
}

/** The q-th quantile along one axis of sorted values (n of them), that axis of size 1. */
function readAt(values: Tensor, n: number, q: number, axis: number): Tensor {
  const place = q * (n - 1);
  const lo = Math.floor(place);
  const f = place - lo;
  const below = gather(values, [lo], axis);
  // An exact place reads one value: a lerp with an infinite neighbour would make 0·inf = NaN.
  if (f === 0) return below;
  const above = gather(values, [lo + 1], axis);
  return arithmetic('add', below, arithmetic('mul', arithmetic('sub', above, below), f));
}

/**
 * The q-th quantiles of x (q a number, or an array of them, each in [0, 1]) along `axis`, or of
 * all of x. A number q removes the axis (keeps it as 1 with keepDims); an array puts the
 * quantiles on a new first axis, as torch.quantile.
 */
export function quantile(x: Tensor, q: number | readonly number[], options: QuantileOptions = {}): Tensor {
  const op = 'quantile';
  expectTensor(op, 'input x', x);
  const qs = checkQ(op, q);
  expectOptions(op, options, '{ axis: -1, keepDims: true }');
  expectKnownOptions(op, options, ['axis', 'keepDims']);
  expectOptionalBoolean(op, 'keepDims', options.keepDims);
  const whole = options.axis === undefined;
  if (!whole) expectNumber(op, 'axis', options.axis, { integer: true });
  if (!whole && x.rank === 0) throw new ShapeError(`${op}: x ${x.describe()} has no axis ${options.axis}`);
  const ax = whole ? 0 : normaliseAxis(op, options.axis!, x.rank, x.describe());
  const n = whole ? x.size : x.shape[ax];
  if (n === 0) throw new ShapeError(`${op}: x ${x.describe()} has no values ${whole ? '' : `along axis ${ax} `}to take a quantile of`);
  return scope(() => {
    const flat = whole ? reshape(x, [n]) : x;
    const { values, indices } = sort(flat, ax);
    indices.dispose();
    const read = concat(qs.map((v) => readAt(values, n, v, ax)), ax);
    // Ascending, a NaN sorts last: the row's last value says whether it holds one.
    const last = gather(values, [n - 1], ax);
    const y = where(notEqual(last, last), NaN, read);
    // y has the quantiles where the axis was: reshape to what the options ask for.
    const kept = whole ? x.shape.map(() => 1) : x.shape.map((d, i) => (i === ax ? 1 : d));
    const rest = options.keepDims ? kept : whole ? [] : x.shape.filter((_, i) => i !== ax);
    if (typeof q === 'number') return reshape(y, rest);
    const first = whole ? y : transpose(y, [ax, ...x.shape.map((_, i) => i).filter((i) => i !== ax)]);
    return reshape(first, [qs.length, ...rest]);
  });
}
