// matmul over leading batch axes, as torch.matmul and np.matmul do for operands of rank 3 or more:
// a [...batchA, M, K] and b [...batchB, K, N] (after the transpose flags, which act on the last
// two axes), the batch axes broadcast NumPy's way (a 2-D operand is one matrix shared by every
// batch), giving [...batch, M, N].
//
// Composed, so it brings no kernel and its gradient comes from the parts: each operand is expanded
// to the batch shape where it broadcasts (broadcast.ts), viewed as [B, rows, cols] and unstacked;
// each batch is one 2-D matmul; stack joins them. That is B dispatches of the 2-D tiles, meant for
// attention-sized batches; the convs keep their own GEMMs. 1-D operands (torch's vector cases)
// are refused by name: reshape a vector to [1, K] or [K, 1].

import { ShapeError } from '../errors.js';
import { reshape } from '../graph/reshape.js';
import { scope } from '../graph/scope.js';
import { formatShape, shapeSize, zeros, type Tensor } from '../graph/tensor.js';
import { broadcastShapes, expandTo } from './broadcast.js';
import { stack, unstack } from './stack.js';

interface Flags {
  transposeA: boolean;
  transposeB: boolean;
}

/** [M, K] of op(x)'s last two axes. */
const rowsCols = (x: Tensor, transposed: boolean): [number, number] => {
  const [r, c] = x.shape.slice(-2);
  return transposed ? [c, r] : [r, c];
};

/** a·b batched over the axes before the last two; `product` is the differentiable 2-D matmul. */
export function batchedMatmul(a: Tensor, b: Tensor, flags: Flags, product: (a: Tensor, b: Tensor, flags: Flags) => Tensor): Tensor {
  const op = 'matmul';
  if (a.rank < 2 || b.rank < 2) {
    throw new ShapeError(`${op}: operands need at least 2 axes, got a ${formatShape(a.shape)} and b ${formatShape(b.shape)} (reshape a vector to [1, K] or [K, 1])`);
  }
  const [m, ka] = rowsCols(a, flags.transposeA);
  const [kb, n] = rowsCols(b, flags.transposeB);
  if (ka !== kb) {
    throw new ShapeError(`${op}: inner dimensions differ: a ${formatShape(a.shape)} gives K = ${ka}, b ${formatShape(b.shape)} gives K = ${kb}`);
  }
  const batch = broadcastShapes(`${op} (batch axes)`, [a.shape.slice(0, -2), b.shape.slice(0, -2)]);
  const count = shapeSize(batch);
  if (count === 0) return zeros([...batch, m, n]);
  return scope(() => {
    // One matrix per batch, or the operand itself where it is 2-D and shared by all of them.
    const matrices = (x: Tensor): Tensor[] | null => {
      if (x.rank === 2) return null;
      const mat = x.shape.slice(-2);
      const full = shapeSize(x.shape.slice(0, -2)) === count && x.rank - 2 === batch.length ? x : expandTo(x, [...batch, ...mat]);
      return unstack(reshape(full, [count, ...mat]), 0);
    };
    const [as, bs] = [matrices(a), matrices(b)];
    const products = Array.from({ length: count }, (_, i) => product(as?.[i] ?? a, bs?.[i] ?? b, flags));
    return reshape(stack(products, 0), [...batch, m, n]);
  });
}
