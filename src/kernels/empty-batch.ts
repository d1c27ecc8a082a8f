// An op on an empty batch (N = 0), as PyTorch's convolutions and normalisations take one: an empty
// output, and for backward an empty dx and zero gradients for the op's parameters (sums over no
// samples). No kernel runs. Each op works out the output's shape and checks its arguments first,
// as it would for a sample.

import { record } from '../graph/autograd.js';
import { emptyTensor, zeros, type Shape, type Tensor } from '../graph/tensor.js';

/** y of `yShape` (empty) for `op` on x, differentiable in x and each of `params` (weights, biases; null where absent). */
export function emptyBatchResult(op: string, x: Tensor, params: readonly (Tensor | null)[], yShape: Shape): Tensor {
  const present = params.filter((p): p is Tensor => p !== null);
  const [xShape, shapes] = [x.shape, present.map((p) => p.shape)];
  return record(op, [x, ...present], emptyTensor(yShape, `${op}.y`), (_dy, needs) => [
    needs[0] ? emptyTensor(xShape, `${op}.dx`) : null,
    ...shapes.map((s, i) => (needs[i + 1] ? zeros(s) : null)),
  ]);
}

/** Whether x is an empty batch of otherwise non-empty samples: N = 0, every other axis > 0. */
export const isEmptyBatch = (x: Tensor): boolean => x.rank >= 2 && x.shape[0] === 0 && x.shape.slice(1).every((d) => d > 0);
