// The loss of an evaluation batch whose samples are made of parts (a 3-D patch's planes, Batch's
// `counted`): taken over the parts the flags count, as the metrics score them, so that planes two
// overlapping tiles share count once and a thin volume's blank padding planes not at all.

import { ArgumentError } from '../errors.js';
import { reshape } from '../graph/reshape.js';
import type { Tensor } from '../graph/tensor.js';
import { gather } from '../kernels/index-gather.js';

/**
 * pred and target [N, D, ...] cut to the planes `counted` (N·D flags, sample by sample) keeps,
 * as one sample [1, P, ...], with P and what they weigh in samples (P / D); null where every
 * plane counts (the batch as it is, N samples).
 */
export function countedPlanes(pred: Tensor, target: Tensor, counted: readonly boolean[] | undefined): { pred: Tensor; target: Tensor; planes: number; samples: number } | null {
  if (!counted || counted.every(Boolean)) return null;
  const [n, d] = pred.shape;
  if (pred.rank < 3 || counted.length !== n * d) {
    throw new ArgumentError(`evaluate: the batch's counted has ${counted.length} flags but its prediction ${pred.describe()} holds ${n}·${d ?? 1} planes`);
  }
  const kept = counted.flatMap((keep, i) => (keep ? [i] : []));
  const cut = (t: Tensor) => reshape(gather(reshape(t, [n * d, ...t.shape.slice(2)]), kept, 0), [1, kept.length, ...t.shape.slice(2)]);
  return { pred: kept.length ? cut(pred) : pred, target: kept.length ? cut(target) : target, planes: kept.length, samples: kept.length / d };
}
