// reshape: a view over the same storage (no copy); its gradient is the same view back.
// The target shape follows PyTorch's rule: whole sizes >= 0, and at most one -1, inferred from
// the others. Anything else (-2, 0.5, '2') is refused here, by name, rather than making a tensor
// whose shape misleads every later op.

import { ArgumentError, ShapeError } from '../errors.js';
import { describeValue, expectTensor } from './args.js';
import { record } from './autograd.js';
import { formatShape, shapeSize, type Shape, type Tensor } from './tensor.js';

/** Checks each requested size: a number, whole, >= 0 or the one -1. */
function checkSizes(shape: readonly unknown[]): void {
  shape.forEach((d, i) => {
    if (typeof d !== 'number') throw new ArgumentError(`reshape: size ${i} of the shape must be a number, got ${describeValue(d)}`);
    if (!Number.isInteger(d) || d < -1) {
      throw new ShapeError(`reshape: size ${i} of ${formatShape(shape as Shape)} is ${d}; sizes must be whole numbers >= 0, or -1 (once) to infer one`);
    }
  });
  if (shape.filter((d) => d === -1).length > 1) throw new ShapeError(`reshape: at most one -1 in ${formatShape(shape as Shape)}`);
}

/** Reshapes x; one dimension may be -1 and is inferred. */
export function reshape(x: Tensor, shape: Shape): Tensor {
  expectTensor('reshape', 'input x', x);
  if (!Array.isArray(shape)) throw new ArgumentError(`reshape: shape must be an array of sizes, got ${describeValue(shape)}`);
  checkSizes(shape);
  let target = [...shape];
  if (shape.includes(-1)) {
    const known = shapeSize(shape.filter((d) => d !== -1));
    if (known === 0 || x.size % known !== 0) throw new ShapeError(`reshape: cannot view ${x.describe()} as ${formatShape(shape)}`);
    target = shape.map((d) => (d === -1 ? x.size / known : d));
  }
  if (shapeSize(target) !== x.size) throw new ShapeError(`reshape: cannot view ${x.describe()} as ${formatShape(shape)}`);
  const out = x.share(target);
  return record('reshape', [x], out, (dy) => [dy.share(x.shape)]);
}
