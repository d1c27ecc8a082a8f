// unsortedSegmentSum(x, segmentIds, numSegments) as tf.unsortedSegmentSum (PyTorch's index_add
// into zeros along axis 0, a scatter-add): y[j, ...] = Σ x[c, ...] over every c whose id is j. The
// ids cover x's leading axes (a tensor of float32 ids of x's first axes' shape, or an array of
// integers over its first axis); y is [numSegments, ...the axes after them]. An id outside
// [0, numSegments), a negative one as TensorFlow documents it, adds nowhere.
//
// It is gather's gradient (index-gather-backward.ts) run forward: the ids' positions sorted by id,
// each output row summing its own run in the ids' order, with no atomics, so every run gives the
// same bits. Its own gradient is a gather of dy by the same ids, zero where an id adds nowhere.

import { ArgumentError, ShapeError } from '../errors.js';
import { describeValue, expectNumber, expectTensor } from '../graph/args.js';
import { record } from '../graph/autograd.js';
import { emptyTensor, formatShape, shapeSize, tensor, Tensor, zeros } from '../graph/tensor.js';
import { gatherSlices } from './index-gather.js';
import { gatherBackward, type GatherLayout } from './index-gather-backward.js';

/** Float32 ids name rows exactly below 2^24 (gather's limit too). */
const MAX_SEGMENTS = 2 ** 24;

/** The ids as a tensor: a Tensor as given, or integers checked here (negative ones dropped, as tf's). */
function segmentIdTensor(op: string, ids: unknown, x: Tensor, numSegments: number): { ids: Tensor; made: boolean } {
  if (ids instanceof Tensor) {
    expectTensor(op, 'segmentIds', ids);
    if (ids.rank > x.rank || formatShape(x.shape.slice(0, ids.rank)) !== formatShape(ids.shape)) {
      throw new ShapeError(`${op}: segmentIds ${ids.describe()} must have the shape of x's first axes, x ${x.describe()}`);
    }
    return { ids, made: false };
  }
  const list = Array.isArray(ids) || ArrayBuffer.isView(ids) ? Array.from(ids as ArrayLike<number>) : null;
  if (!list) throw new ArgumentError(`${op}: segmentIds must be a Tensor of ids or an array of integers, got ${describeValue(ids)}`);
  if (x.rank === 0 || list.length !== x.shape[0]) throw new ShapeError(`${op}: ${list.length} segmentIds for x ${x.describe()}, whose first axis they must cover`);
  const bad = list.findIndex((v) => typeof v !== 'number' || !Number.isInteger(v) || v >= numSegments);
  if (bad >= 0) throw new ArgumentError(`${op}: segmentIds[${bad}] is ${describeValue(list[bad])}, not an integer below numSegments (${numSegments}); negative ids are dropped`);
  return { ids: tensor(Float32Array.from(list), [list.length]), made: true };
}

/**
 * Differentiable tf.unsortedSegmentSum: the slices of x summed by segment id, into
 * [numSegments, ...x's axes after the ids'] (zeros where no id points).
 */
export function unsortedSegmentSum(x: Tensor, segmentIds: Tensor | readonly number[] | ArrayLike<number>, numSegments: number): Tensor {
  const op = 'unsortedSegmentSum';
  expectTensor(op, 'input x', x);
  expectNumber(op, 'numSegments', numSegments, { integer: true, min: 0, max: MAX_SEGMENTS });
  const { ids, made } = segmentIdTensor(op, segmentIds, x, numSegments);
  try {
    const l = ids.size;
    const rest = x.shape.slice(ids.rank);
    const outShape = [numSegments, ...rest];
    const g: GatherLayout = { outer: 1, n: numSegments, inner: shapeSize(rest) };
    const y = l === 0 ? zeros(outShape) : gatherBackward(x, ids, outShape, g, l);
    const xShape = x.shape;
    return record(op, [x], y, (dy, _needs, [saved]) => {
      if (numSegments === 0 || l === 0) return [zeros(xShape)];
      const dx = emptyTensor(xShape, 'unsortedSegmentSum.dx');
      gatherSlices(dy, saved, dx, g, l, 0);
      return [dx];
    }, [ids]);
  } finally {
    if (made) ids.dispose();
  }
}
