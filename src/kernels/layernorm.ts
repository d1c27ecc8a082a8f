// Layer normalisation over the last axis (PyTorch's nn.LayerNorm(C), tf.keras LayerNormalization
// with its default axis -1): every row of x [..., C] is normalised by its own mean and biased
// variance, then scaled and shifted per channel,
//
//   y = (x - mean_row) / sqrt(var_row + eps) · gamma[c] + beta[c],   gamma, beta [C].
//
// That is group normalisation with one group over the [rows, C] view of x (groupnorm.ts: a
// "sample" per row, its one group holding the row's C channels), so on GPUs the layer norm runs on
// groupnorm's kernels and its backward (a 256-thread workgroup per row, coalesced), through two
// reshapes (which only relabel the shape). CPU adapters take layernorm-rows.ts's thread-per-row
// kernels instead. The per-sample layer norm of an image, over H, W and C, is groupNorm with
// groups: 1 itself.

import { ShapeError } from '../errors.js';
import { expectKnownOptions, expectOptionalNumber, expectOptions, expectTensor } from '../graph/args.js';
import { record } from '../graph/autograd.js';
import { reshape } from '../graph/reshape.js';
import { scope } from '../graph/scope.js';
import { emptyBatchResult, isEmptyBatch } from './empty-batch.js';
import { formatShape, type Tensor } from '../graph/tensor.js';
import { groupNorm } from './groupnorm.js';
import { layerNormRowsBackward, layerNormRowsForward } from './layernorm-rows.js';
import { rowsPerThread } from './softmax-rows.js';

/** The thread-per-row route over x [rows, c], with its backward recorded. */
function byRows(x: Tensor, gamma: Tensor, beta: Tensor, eps: number): Tensor {
  const { y, mean, invStd } = layerNormRowsForward(x, gamma, beta, eps);
  const out = record('layerNorm', [x, gamma, beta], y, (dy, needs, [sx, sg, sm, si]) => layerNormRowsBackward(dy, sx, sg, sm, si, needs), [x, gamma, mean, invStd]);
  mean.dispose();
  invStd.dispose();
  return out;
}

export interface LayerNormOptions {
  /** Added to the variance; PyTorch's default 1e-5 (Keras's is 1e-3). */
  eps?: number;
}

/** Differentiable layer norm over the last axis of x (rank >= 1): gradients to x, gamma and beta. */
export function layerNorm(x: Tensor, gamma: Tensor, beta: Tensor, options: LayerNormOptions = {}): Tensor {
  const op = 'layerNorm';
  expectTensor(op, 'input x', x);
  expectTensor(op, 'gamma', gamma);
  expectTensor(op, 'beta', beta);
  expectOptions(op, options, '{ eps: 1e-5 }');
  expectKnownOptions(op, options, ['eps'], {});
  expectOptionalNumber(op, 'options.eps', options.eps, { above: 0 });
  const empty = isEmptyBatch(x);
  if (x.rank < 1 || (x.size === 0 && !empty)) throw new ShapeError(`${op}: x ${formatShape(x.shape)} has no axis to normalise`);
  const c = x.shape[x.rank - 1];
  for (const [name, t] of [['gamma', gamma], ['beta', beta]] as const) {
    if (t.rank !== 1 || t.shape[0] !== c) throw new ShapeError(`${op}: ${name} ${formatShape(t.shape)} does not match the last axis (${c}) of x ${formatShape(x.shape)}`);
  }
  // An empty batch: an empty output (empty-batch.ts).
  if (empty) return emptyBatchResult(op, x, [gamma, beta], x.shape);
  const shape = [...x.shape];
  const eps = options.eps ?? 1e-5;
  return scope(() => {
    const rows = reshape(x, [x.size / c, c]);
    // The same choice as softmax's row kernels (softmax-rows.ts: overrideRowKernelChoice in tests).
    return reshape(rowsPerThread() ? byRows(rows, gamma, beta, eps) : groupNorm(rows, gamma, beta, { groups: 1, eps }), shape);
  });
}
