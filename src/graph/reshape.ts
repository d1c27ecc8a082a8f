// reshape: a view over the same storage (no copy); its gradient is the same view back.

import { ArgumentError, ShapeError } from '../errors.js';
import { describeValue, expectTensor } from './args.js';
import { record } from './autograd.js';
import { formatShape, shapeSize, type Shape, type Tensor } from './tensor.js';

/** Reshapes x; one dimension may be -1 and is inferred. */
export function reshape(x: Tensor, shape: Shape): Tensor {
  expectTensor('reshape', 'input x', x);
  if (!Array.isArray(shape)) throw new ArgumentError(`reshape: shape must be an array of sizes, got ${describeValue(shape)}`);
  const inferred = shape.filter((d) => d === -1).length;
  if (inferred > 1) throw new ShapeError(`reshape: at most one -1 in ${formatShape(shape)}`);
  let target = [...shape];
  if (inferred) {
    const known = shapeSize(shape.filter((d) => d !== -1));
    if (known === 0 || x.size % known !== 0) throw new ShapeError(`reshape: cannot view ${x.describe()} as ${formatShape(shape)}`);
    target = shape.map((d) => (d === -1 ? x.size / known : d));
  }
  if (shapeSize(target) !== x.size) throw new ShapeError(`reshape: cannot view ${x.describe()} as ${formatShape(shape)}`);
  const out = x.share(target);
  return record('reshape', [x], out, (dy) => [dy.share(x.shape)]);
}
