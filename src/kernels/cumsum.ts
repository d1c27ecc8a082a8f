// cumsum(x, axis, { exclusive, reverse }) as tf.cumsum (PyTorch's torch.cumsum is the plain one):
// running sums along an axis, x viewed as [outer, n, inner] around it,
//   y[o, i, k] = Σ x[o, i', k] over i' <= i   (exclusive: i' < i; reverse: i' >= i, or i' > i).
// One thread per (o, k) column walks the axis, adding in order; inner a multiple of 4 runs four
// columns a thread in vec4s. The sum is float32 and sequential, as PyTorch's CPU cumsum: its error
// grows with the axis's length (about n·2^-24 of the column's sum of |x|).
//
// Backward: dx = cumsum(dy) with the direction reversed (exclusive kept): x[i] reaches every y[i']
// that sums it. Nothing is saved. Past the binding limit it splits along outer.

import { ShapeError } from '../errors.js';
import { packParams, u32 } from '../gpu/params.js';
import type { KernelSpec } from '../gpu/runtime.js';
import { expectKnownOptions, expectNumber, expectOptionalBoolean, expectOptions, expectTensor } from '../graph/args.js';
import { record } from '../graph/autograd.js';
import { emptyTensor, shapeSize, type Tensor } from '../graph/tensor.js';
import { chunkItems, dispatchChunk, forEachChunk, part, planned, range } from './chunking.js';
import { LINEAR_MAIN_ARGS, linearGrid, linearIndex, vecType, vecWidth, type VecWidth } from './wgsl.js';

export interface CumsumOptions {
  /** Leave each element out of its own sum (y[0] = 0), as tf.cumsum's exclusive. */
  exclusive?: boolean;
  /** Sum from the end of the axis, as tf.cumsum's reverse. */
  reverse?: boolean;
}

const specs = new Map<string, KernelSpec>();

function spec(width: VecWidth, exclusive: boolean, reverse: boolean): KernelSpec {
  const key = `v${width}${exclusive ? '.excl' : ''}${reverse ? '.rev' : ''}`;
  let s = specs.get(key);
  if (s) return s;
  const T = vecType(width);
  const at = reverse ? 'params.n - 1u - step' : 'step';
  const body = exclusive ? `y[i] = acc;\n    acc += x[i];` : `acc += x[i];\n    y[i] = acc;`;
  s = {
    name: 'cumsum',
    key,
    inputs: 1,
    outputs: 1,
    wgsl: () => /* wgsl */ `
struct Params { columns: u32, n: u32, inner: u32 }
@group(0) @binding(0) var<storage, read> x: array<${T}>;
@group(0) @binding(1) var<storage, read_write> y: array<${T}>;
@group(0) @binding(2) var<uniform> params: Params;
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let column = ${linearIndex()};
  if (column >= params.columns) { return; }
  let o = column / params.inner;
  let k = column % params.inner;
  var acc = ${T}();
  for (var step = 0u; step < params.n; step++) {
    let i = (o * params.n + ${at}) * params.inner + k;
    ${body}
  }
}`,
  };
  specs.set(key, s);
  return s;
}

function run(x: Tensor, axis: number, exclusive: boolean, reverse: boolean): Tensor {
  const [outer, n, inner] = [shapeSize(x.shape.slice(0, axis)), x.shape[axis], shapeSize(x.shape.slice(axis + 1))];
  const per = n * inner;
  // Planned before the output exists, so a binding too small for one row leaks nothing.
  const rows = chunkItems('cumsum', outer, [part(x, per), part(planned('cumsum.out', x.shape), per)]);
  const y = emptyTensor(x.shape, 'cumsum.out');
  if (y.size === 0) return y;
  const width = vecWidth(inner);
  forEachChunk(outer, rows, (first, count) => {
    const columns = (count * inner) / width;
    const params = packParams([u32(columns), u32(n), u32(inner / width)]);
    dispatchChunk(spec(width, exclusive, reverse), [range(x, first * per, count * per)], [range(y, first * per, count * per)], params, linearGrid(columns));
  });
  return y;
}

/**
 * Differentiable tf.cumsum: running sums of x along `axis` (default the last; negative counts from
 * the end), `exclusive` leaving each element out of its own sum, `reverse` summing from the end.
 */
export function cumsum(x: Tensor, axis = -1, options: CumsumOptions = {}): Tensor {
  const op = 'cumsum';
  expectTensor(op, 'input x', x);
  expectNumber(op, 'axis', axis, { integer: true });
  expectOptions(op, options, '{ exclusive: true, reverse: true }');
  expectKnownOptions(op, options, ['exclusive', 'reverse']);
  expectOptionalBoolean(op, 'exclusive', options.exclusive);
  expectOptionalBoolean(op, 'reverse', options.reverse);
  if (x.rank === 0) throw new ShapeError(`${op}: x ${x.describe()} has no axis to sum along`);
  const ax = axis < 0 ? axis + x.rank : axis;
  if (ax < 0 || ax >= x.rank) throw new ShapeError(`${op}: axis ${axis} is out of range for ${x.describe()}`);
  const exclusive = options.exclusive ?? false;
  const reverse = options.reverse ?? false;
  const y = run(x, ax, exclusive, reverse);
  return record(op, [x], y, (dy) => [run(dy, ax, exclusive, !reverse)]);
}
