// NumPy's (and PyTorch's) broadcasting for the element-wise ops: shapes align at their last axes,
// the shorter padded with 1s in front, and on each axis the sizes agree or one of them is 1; the
// output takes the larger size on each axis, and the larger rank.
//
// The kernels (elementwise.ts, where.ts) read a smaller operand at i modulo its size. That is
// exact when the operand, its leading 1s dropped, is a trailing part of the output's shape: a
// scalar, a bias over NHWC, a [1, C] mean kept over axis 0. Any other operand ([N, 1] against
// [N, C], as x − mean(x, -1, true) makes) is first expanded to the output's shape by reshape and
// tile, whose backward sums the gradient back over the repeated axes. That costs one copy of the
// output's size where a strided kernel would cost none, but keeps every kernel one flat index, and
// the gradient comes from composition (STYLE.md: compose the rest).

import { ShapeError } from '../errors.js';
import { reshape } from '../graph/reshape.js';
import { scope } from '../graph/scope.js';
import { formatShape, shapeSize, type Shape, type Tensor } from '../graph/tensor.js';
import { tile } from './tile.js';

/** The broadcast shape of `shapes`, or a ShapeError naming the op, the shapes and the axis at fault. */
export function broadcastShapes(op: string, shapes: readonly Shape[]): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out: number[] = [];
  for (let k = 1; k <= rank; k++) {
    const sizes = shapes.map((s) => (k <= s.length ? s[s.length - k] : 1));
    const big = sizes.find((d) => d !== 1) ?? 1;
    if (sizes.some((d) => d !== 1 && d !== big)) {
      throw new ShapeError(
        `${op}: shapes ${shapes.map(formatShape).join(' and ')} do not broadcast: axis ${-k} has sizes ${sizes.join(' and ')} ` +
          `(sizes must match or be 1, as in NumPy)`,
      );
    }
    out.unshift(big);
  }
  return out;
}

/** Whether the kernels can read `shape` at i modulo its size in an output of shape `out`. */
export function readsByPeriod(shape: Shape, out: Shape): boolean {
  if (shapeSize(shape) === 1) return true;
  const lead = shape.findIndex((d) => d !== 1);
  const core = shape.slice(lead);
  const off = out.length - core.length;
  return off >= 0 && core.every((d, i) => d === out[off + i]);
}

/** t repeated to `out` (a shape t broadcasts to): differentiable, its gradient summed back by tile. */
export function expandTo(t: Tensor, out: Shape): Tensor {
  const padded = [...new Array<number>(out.length - t.rank).fill(1), ...t.shape];
  const view = t.rank === out.length ? t : reshape(t, padded);
  return tile(view, out.map((d, i) => (padded[i] === d ? 1 : d)));
}

/**
 * Runs `fn` on the operands, each tensor among them broadcast NumPy's way: one the kernels cannot
 * read by period is first expanded to the output's shape, its gradient flowing back through the
 * expansion. Numbers pass through untouched.
 */
export function withBroadcast<T extends Tensor | number>(op: string, operands: readonly T[], fn: (operands: T[]) => Tensor): Tensor {
  const isTensor = (v: T): v is T & Tensor => typeof v !== 'number';
  const shape = broadcastShapes(op, operands.filter(isTensor).map((t) => t.shape));
  if (operands.every((v) => !isTensor(v) || readsByPeriod(v.shape, shape))) return fn([...operands]);
  // The expanded copies are temporaries; the tape keeps what the backward needs of them.
  return scope(() => fn(operands.map((v) => (isTensor(v) && !readsByPeriod(v.shape, shape) ? (expandTo(v, shape) as T) : v))));
}
