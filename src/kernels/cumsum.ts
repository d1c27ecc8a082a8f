// cumsum(x, axis, { exclusive, reverse }) as tf.cumsum (PyTorch's torch.cumsum is the plain one):
// running sums along an axis, x viewed as [outer, n, inner] around it,
//   y[o, i, k] = Σ x[o, i', k] over i' <= i   (exclusive: i' < i; reverse: i' >= i, or i' > i).
// One thread per (o, k) column walks the axis ('walk', the scan pass below with one block and no
// offsets), adding in order; inner a multiple of 4 runs four columns a thread in vec4s. The sum is float32 and sequential, as PyTorch's CPU cumsum: its error
// grows with the axis's length (about n·2^-24 of the column's sum of |x|).
//
// Few columns along a long axis (a 1-D cumsum of a million values) would leave the GPU one thread
// walking a million dependent loads. There the axis is cut into blocks, in three passes: each
// block's total (a thread per block), each column's running sum of its block totals (a thread per
// column, over the blocks), then each block's running sums from its offset (a thread per block).
// The same additions, grouped by block: deterministic, and no less accurate.
//
// Backward: dx = cumsum(dy) with the direction reversed (exclusive kept): x[i] reaches every y[i']
// that sums it. Nothing is saved. Past the binding limit it splits along outer.

import { ShapeError } from '../errors.js';
import { packParams, u32 } from '../gpu/params.js';
import type { KernelSpec } from '../gpu/runtime.js';
import { expectKnownOptions, expectNumber, expectOptionalBoolean, expectOptions, expectTensor, normaliseAxis } from '../graph/args.js';
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

/** Threads the plain walk should have at least; below it a long axis runs in blocks. */
const WANT_THREADS = 8192;
/** The shortest block worth a thread of its own. */
const MIN_BLOCK = 64;

/** Blocks per column for `columns` threads along an axis of n: 1 where every column has its own thread enough. */
export function cumsumBlocks(columns: number, n: number): number {
  if (columns >= WANT_THREADS || n < 2 * MIN_BLOCK) return 1;
  return Math.max(1, Math.min(Math.floor(n / MIN_BLOCK), Math.ceil(WANT_THREADS / columns)));
}

/**
 * 'totals': a thread per column block, its sum. 'offsets': a thread per column, the exclusive
 * running sum of its block totals, in place. 'scan': a thread per column block, its running sums
 * from its offset. 'walk': the scan from 0 with one block a column, the plain walk. Positions
 * are counted along the scan's direction, s, at (o·n + (reverse ? n − 1 − s : s))·inner + k.
 */
type Pass = 'totals' | 'offsets' | 'scan' | 'walk';

const specs = new Map<string, KernelSpec>();

function spec(pass: Pass, width: VecWidth, exclusive: boolean, reverse: boolean): KernelSpec {
  const key = `${pass}.v${width}${exclusive ? '.excl' : ''}${reverse ? '.rev' : ''}`;
  let s = specs.get(key);
  if (s) return s;
  const T = vecType(width);
  const address = `(o * params.n + ${reverse ? '(params.n - 1u - s)' : 's'}) * params.inner + k`;
  const buffers: [string, 'read' | 'read_write'][] = {
    totals: [['x', 'read'], ['sums', 'read_write']],
    offsets: [['sums', 'read_write']],
    scan: [['x', 'read'], ['sums', 'read'], ['y', 'read_write']],
    walk: [['x', 'read'], ['y', 'read_write']],
  }[pass] as [string, 'read' | 'read_write'][];
  const bindings = [...buffers.map(([name, access], i) => `@group(0) @binding(${i}) var<storage, ${access}> ${name}: array<${T}>;`), `@group(0) @binding(${buffers.length}) var<uniform> params: Params;`].join('\n');
  const step = exclusive ? `y[${address}] = acc;\n    acc += x[${address}];` : `acc += x[${address}];\n    y[${address}] = acc;`;
  const body =
    pass === 'offsets'
      ? `let column = ${linearIndex()};
  if (column >= params.columns) { return; }
  var acc = ${T}();
  for (var b = 0u; b < params.blocks; b++) {
    let total = sums[column * params.blocks + b];
    sums[column * params.blocks + b] = acc;
    acc += total;
  }`
      : `let t = ${linearIndex()};
  if (t >= params.columns * params.blocks) { return; }
  let column = t / params.blocks;
  let b = t % params.blocks;
  let o = column / params.inner;
  let k = column % params.inner;
  let first = b * params.block;
  let last = min(first + params.block, params.n);
  var acc = ${pass === 'scan' ? 'sums[t]' : `${T}()`};
  for (var s = first; s < last; s++) {
    ${pass === 'totals' ? `acc += x[${address}];` : step}
  }${pass === 'totals' ? '\n  sums[t] = acc;' : ''}`;
  s = {
    name: pass === 'walk' ? 'cumsum' : `cumsum.${pass}`,
    key,
    inputs: buffers.length - 1,
    outputs: 1,
    wgsl: () => /* wgsl */ `
struct Params { columns: u32, n: u32, inner: u32, blocks: u32, block: u32 }
${bindings}
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  ${body}
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
    const [xs, ys] = [range(x, first * per, count * per), range(y, first * per, count * per)];
    const blocks = cumsumBlocks(columns, n);
    const params = packParams([u32(columns), u32(n), u32(inner / width), u32(blocks), u32(Math.ceil(n / blocks))]);
    if (blocks === 1) {
      dispatchChunk(spec('walk', width, exclusive, reverse), [xs], [ys], params, linearGrid(columns));
      return;
    }
    const sums = emptyTensor([columns * blocks * width], 'cumsum.blockSums');
    // The totals read along the scan's direction only; the offsets read neither flag.
    dispatchChunk(spec('totals', width, false, reverse), [xs], [sums], params, linearGrid(columns * blocks));
    dispatchChunk(spec('offsets', width, false, false), [], [sums], params, linearGrid(columns));
    dispatchChunk(spec('scan', width, exclusive, reverse), [xs, sums], [ys], params, linearGrid(columns * blocks));
    sums.dispose();
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
  const ax = normaliseAxis(op, axis, x.rank, x.describe());
  const exclusive = options.exclusive ?? false;
  const reverse = options.reverse ?? false;
  const y = run(x, ax, exclusive, reverse);
  return record(op, [x], y, (dy) => [run(dy, ax, exclusive, !reverse)]);
}
