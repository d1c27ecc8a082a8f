// stack and unstack (tf.stack / tf.unstack, torch.stack / torch.unbind): k tensors of one shape S
// joined along a new axis of size k, and a tensor taken apart along an axis, which disappears.
//
// Both are compositions, so they bring no kernel and their gradients come from the parts:
//   stack(xs, axis)   = concat of each x viewed with a 1 inserted at `axis` (a reshape: no copy);
//   unstack(x, axis)  = split into parts of 1 along `axis`, each viewed without it.
// concat and split already chunk past the binding limit (kernels/concat.ts).

import { ShapeError } from '../errors.js';
import { expectNumber, expectTensor, expectTensorList, normaliseAxis } from '../graph/args.js';
import { reshape } from '../graph/reshape.js';
import { scope } from '../graph/scope.js';
import { formatShape, type Tensor } from '../graph/tensor.js';
import { concat, split } from './concat.js';

/** Differentiable stack along a new axis (negative counts from the end of the result: −1 makes it last). */
export function stack(xs: Tensor[], axis = 0): Tensor {
  const op = 'stack';
  expectTensorList(op, 'tensors', xs);
  expectNumber(op, 'axis', axis, { integer: true });
  const shape = xs[0].shape;
  const mismatch = xs.find((x) => formatShape(x.shape) !== formatShape(shape));
  if (mismatch) throw new ShapeError(`${op}: every tensor must have the shape of the first, ${formatShape(shape)}, got ${xs.map((x) => formatShape(x.shape)).join(', ')}`);
  const ax = axis < 0 ? axis + shape.length + 1 : axis;
  if (ax < 0 || ax > shape.length) throw new ShapeError(`${op}: axis ${axis} is out of range for stacking tensors of shape ${formatShape(shape)}`);
  const unit = [...shape.slice(0, ax), 1, ...shape.slice(ax)];
  return scope(() => concat(xs.map((x) => reshape(x, unit)), ax));
}

/** Differentiable unstack: the x.shape[axis] slices of x along `axis`, each without that axis. */
export function unstack(x: Tensor, axis = 0): Tensor[] {
  const op = 'unstack';
  expectTensor(op, 'input x', x);
  expectNumber(op, 'axis', axis, { integer: true });
  const ax = normaliseAxis(op, axis, x.rank, x.describe());
  const n = x.shape[ax];
  const rest = x.shape.filter((_, d) => d !== ax);
  if (n === 0) return [];
  return scope(() => split(x, new Array<number>(n).fill(1), ax).map((part) => reshape(part, rest)));
}
