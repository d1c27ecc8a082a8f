// dn.gradients(output, inputs): the gradient of `output` with respect to each input, handed back
// rather than added to `.grad` (PyTorch's torch.autograd.grad, TensorFlow 1's tf.gradients). The
// inputs may be leaves or results of recorded ops: a feature map's gradient is what Grad-CAM
// weighs its channels by, a saliency map is the input's.

import { ArgumentError, ShapeError } from '../errors.js';
import { describeValue, expectKnownOptions, expectOptionalBoolean, expectOptions, expectTensor } from './args.js';
import { gradientsOf } from './autograd.js';
import { formatShape, Tensor } from './tensor.js';

export interface GradientsOptions {
  /** The gradient flowing into `output` (default 1 for a one-element output, required otherwise). */
  dy?: Tensor;
  /** Keep the graph for another backward pass through it. */
  retainGraph?: boolean;
}

/**
 * d output / d input for each input: a new tensor of the input's shape, or null where `output`
 * does not depend on it. No tensor's `.grad` changes. The caller disposes the results.
 */
export function gradients(output: Tensor, inputs: Tensor, options?: GradientsOptions): Tensor | null;
export function gradients(output: Tensor, inputs: readonly Tensor[], options?: GradientsOptions): (Tensor | null)[];
export function gradients(output: Tensor, inputs: Tensor | readonly Tensor[], options: GradientsOptions = {}): Tensor | null | (Tensor | null)[] {
  const op = 'gradients';
  expectTensor(op, 'output', output);
  const list = inputs instanceof Tensor ? [inputs] : inputs;
  if (!Array.isArray(list) || list.length === 0) throw new ArgumentError(`${op}: inputs must be a Tensor or a non-empty array of Tensors, got ${describeValue(inputs)}`);
  list.forEach((t: unknown, i) => {
    expectTensor(op, `inputs[${i}]`, t);
    if (!t.requiresGrad) throw new ArgumentError(`${op}: inputs[${i}] (${t.describe()}) does not require a gradient, so none flows to it; make it with { requiresGrad: true }`);
  });
  expectOptions(op, options, '{ dy, retainGraph: true }');
  expectKnownOptions(op, options, ['dy', 'retainGraph']);
  expectOptionalBoolean(op, 'retainGraph', options.retainGraph);
  const dy = options.dy ?? null;
  if (dy !== null) {
    expectTensor(op, 'dy', dy);
    if (formatShape(dy.shape) !== formatShape(output.shape)) throw new ShapeError(`${op}: dy ${dy.describe()} must have the shape of output ${output.describe()}`);
  }
  if (!output.requiresGrad) throw new ShapeError(`${op}: output ${output.describe()} does not require a gradient: no recorded op led to it from a tensor that does`);
  if (!dy && output.size !== 1) throw new ShapeError(`${op}: output ${output.describe()} is not a scalar; pass { dy } of its shape`);
  const found = gradientsOf(output, dy, list, options.retainGraph ?? false);
  return inputs instanceof Tensor ? found[0] : found;
}
