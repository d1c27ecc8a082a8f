// clipGradNorm(params, maxNorm): PyTorch's clip_grad_norm_, on the GPU (kernels/clip.ts). Call it
// between backward() and the optimiser's step(); fit does when given clipGradNorm.

import { ArgumentError } from '../errors.js';
import { describeValue, expectNumber } from '../graph/args.js';
import { Tensor } from '../graph/tensor.js';
import { clipByGlobalNorm } from '../kernels/clip.js';

/**
 * Scales the gradients of `params` (those that have one) so that their global L2 norm is at most
 * maxNorm: each g becomes g · min(1, maxNorm / (norm + 1e-6)). Returns the norm before clipping
 * as a [] tensor, which the caller disposes (read it with item() only when logging: that syncs).
 */
export function clipGradNorm(params: readonly Tensor[], maxNorm: number): Tensor {
  if (!Array.isArray(params) || params.some((p) => !(p instanceof Tensor))) {
    throw new ArgumentError(`clipGradNorm: params must be an array of Tensors (model.parameters()), got ${describeValue(params)}`);
  }
  expectNumber('clipGradNorm', 'maxNorm', maxNorm, { above: 0 });
  const withGrad = params.filter((p) => p.grad);
  const { clipped, norm } = clipByGlobalNorm(
    withGrad.map((p) => p.grad!),
    maxNorm,
  );
  withGrad.forEach((p, i) => {
    p.grad!.dispose();
    p.grad = clipped[i];
  });
  return norm;
}
