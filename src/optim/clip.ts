// clipGradNorm(params, maxNorm): PyTorch's clip_grad_norm_, on the GPU (kernels/clip.ts). Call it
// between backward() and the optimiser's step(); fit does when given clipGradNorm.

import { ArgumentError } from '../errors.js';
import { describeValue, expectNumber, expectTensor } from '../graph/args.js';
import { Tensor } from '../graph/tensor.js';
import { clipByGlobalNorm } from '../kernels/clip.js';
import type { NamedParameter } from './optimizer.js';

/**
 * Scales the gradients of `params` (those that have one) so that their global L2 norm is at most
 * maxNorm: each g becomes g · min(1, maxNorm / (norm + 1e-6)). Returns the norm before clipping
 * as a [] tensor, which the caller disposes (read it with item() only when logging: that syncs).
 */
export function clipGradNorm(params: readonly (Tensor | NamedParameter)[], maxNorm: number, ...rest: never[]): Tensor {
  // PyTorch's third argument is norm_type, its fourth error_if_nonfinite: either, ignored, would
  // clip by another norm than the one asked for, or not raise, silently.
  if (rest.length) {
    throw new ArgumentError(`clipGradNorm: takes (params, maxNorm) only: the L2 norm (PyTorch's norm_type 2), non-finite norms passed through (error_if_nonfinite=False); got ${2 + rest.length} arguments`);
  }
  // model.namedParameters() is taken as the optimisers take it.
  if (!Array.isArray(params)) throw new ArgumentError(`clipGradNorm: params must be an array of Tensors or { name, tensor } (model.parameters()), got ${describeValue(params)}`);
  const tensors = params.map((p: unknown) => (p instanceof Tensor ? p : (p as Partial<NamedParameter> | null)?.tensor));
  // Each named: a disposed or stale parameter (or its gradient) would otherwise fail in the kernel's binding.
  tensors.forEach((p, i) => {
    if (!(p instanceof Tensor)) throw new ArgumentError(`clipGradNorm: params[${i}] must be a Tensor or { name, tensor }, got ${describeValue(params[i])}`);
    expectTensor('clipGradNorm', `params[${i}]`, p);
    if (p.grad) expectTensor('clipGradNorm', `params[${i}].grad`, p.grad);
  });
  expectNumber('clipGradNorm', 'maxNorm', maxNorm, { above: 0 });
  const withGrad = (tensors as Tensor[]).filter((p) => p.grad);
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
