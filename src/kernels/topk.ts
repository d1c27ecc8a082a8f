// topk(x, k) as tf.topk (PyTorch's torch.topk on the last axis, sorted): the k largest values of
// each row of the last axis, largest first, and their indices (float32, as argmax gives them).
// Ties go to the lower index first (tf.topk's rule); NaN counts as larger than every number
// (PyTorch's), -0 and +0 as equal. Values are compared through their bits (extrema.ts's key), since
// WGSL lets a compiler assume no NaN.
//
// One thread per row picks its k in k passes over the row: pass j takes the largest element that
// comes after pick j - 1 in the order (value descending, index ascending). k·C reads a row and
// nothing held in a private array, for any k: top-5 of VGG16's 1000 classes is 5000 reads.
//
// Backward (to x; indices have none): each x element gets the dy of the pick that took it, else 0,
// by a thread per element over its row's k indices. Saves the indices.

import { ArgumentError, ShapeError } from '../errors.js';
import { packParams, u32 } from '../gpu/params.js';
import type { KernelSpec } from '../gpu/runtime.js';
import { expectNumber, expectTensor } from '../graph/args.js';
import { recordMulti } from '../graph/autograd.js';
import { emptyTensor, shapeSize, type Tensor, zeros } from '../graph/tensor.js';
import { chunkItems, dispatchChunk, forEachChunk, part, planned, range } from './chunking.js';
import { forcedWay } from './forced-way.js';
import { mergePasses } from './sort-merge.js';
import { RANK_WGSL, scatterPicks, sortedPrefix, VALUE_KEYS } from './sort.js';
import { LINEAR_MAIN_ARGS, linearGrid, linearIndex } from './wgsl.js';

const forwardSpec: KernelSpec = {
  name: 'topk.forward',
  key: '',
  inputs: 1,
  outputs: 2,
  wgsl: () => /* wgsl */ `
struct Params { rows: u32, c: u32, k: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> values: array<f32>;
@group(0) @binding(2) var<storage, read_write> indices: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
${RANK_WGSL}
@compute @workgroup_size(64)
fn main(${LINEAR_MAIN_ARGS}) {
  let row = ${linearIndex(64)};
  if (row >= params.rows) { return; }
  let base = row * params.c;
  // The previous pick (its rank and index); before the first, a place above everything.
  var prevRank = 0xffffffffu;
  var prevIndex = -1;
  var first = true;
  for (var j = 0u; j < params.k; j++) {
    var bestRank = 0u;
    var best = -1;
    for (var i = 0u; i < params.c; i++) {
      let r = rank(x[base + i]);
      let after = first || r < prevRank || (r == prevRank && i32(i) > prevIndex);
      if (after && (best < 0 || r > bestRank)) {
        bestRank = r;
        best = i32(i);
      }
    }
    values[row * params.k + j] = x[base + u32(best)];
    indices[row * params.k + j] = f32(best);
    prevRank = bestRank;
    prevIndex = best;
    first = false;
  }
}`,
};

export type TopkWay = 'passes' | 'sort';

/** 'sort' where the passes would read more than the sort's merges (c·log²c/2 a row), times SORT_MARGIN. */
export function topkWay(c: number, k: number): TopkWay {
  return k * c > SORT_MARGIN * ((c * mergePasses(c) ** 2) / 2) ? 'sort' : 'passes';
}

/**
 * How many times the sort's reads the passes may read. On lavapipe (wall clock, best of 5, the two
 * ways interleaved; the rule's picks marked *): rows of 1000, k 5: 0.8* against 2.6 ms; k 100:
 * 1.3* against 1.8-2.1; k 1000: 10.5 against 1.8-2.8*; [1, 65536] k 10: 5.5* against 22-35;
 * [8, 4096] k 50: 2.7* against 8-12. Not yet timed on a GPU, where one thread a row reading k·C
 * values in turn may lose sooner (bench: topk-5/vgg-classes times the other way beside).
 */
const SORT_MARGIN = 4;

const forced = forcedWay<TopkWay>();

/** Runs fn with every topk taking `way` (tests and the bench compare the two). */
export const withTopkWay = <T>(way: TopkWay, fn: () => T): T => forced.with(way, fn);

/**
 * The k largest values along the last axis of x, largest first, and their indices: { values,
 * indices }, each x.shape with the last axis k. Differentiable in x through values.
 */
export function topk(x: Tensor, k = 1): { values: Tensor; indices: Tensor } {
  const op = 'topk';
  expectTensor(op, 'input x', x);
  if (x.rank === 0) throw new ShapeError(`${op}: x ${x.describe()} has no last axis to pick from`);
  expectNumber(op, 'k', k, { integer: true, min: 0 });
  const c = x.shape[x.rank - 1];
  if (k > c) throw new ArgumentError(`${op}: k is ${k}, more than the ${c} values of the last axis of ${x.describe()}`);
  if (c > 2 ** 24) throw new ShapeError(`${op}: the last axis of ${x.describe()} is longer than 2^24, which float32 indices cannot all name`);
  const rows = shapeSize(x.shape.slice(0, -1));
  const way = forced.current ?? topkWay(c, k);
  const { values, indices } = way === 'sort' ? sortedPrefix(op, x, k, VALUE_KEYS.descending) : byPasses(x, k, rows, c);
  const xShape = x.shape;
  recordMulti(op, [x], [values], ([dy], _needs, [saved]) => [backward(dy!, saved, xShape, rows, c, k)], [indices]);
  return { values, indices };
}

function byPasses(x: Tensor, k: number, rows: number, c: number): { values: Tensor; indices: Tensor } {
  const outShape = [...x.shape.slice(0, -1), k];
  // Planned before the outputs exist, so a binding too small for one row leaks nothing.
  const per = chunkItems('topk.forward', rows, [part(x, c), part(planned('topk.values', outShape), k), part(planned('topk.indices', outShape), k)]);
  const values = emptyTensor(outShape, 'topk.values', 'topk');
  const indices = emptyTensor(outShape, 'topk.indices', 'topk');
  if (rows * k === 0) return { values, indices };
  forEachChunk(rows, per, (first, count) => {
    const outs = [range(values, first * k, count * k), range(indices, first * k, count * k)];
    dispatchChunk(forwardSpec, [range(x, first * c, count * c)], outs, packParams([u32(count), u32(c), u32(k)]), linearGrid(count, 64));
  });
  return { values, indices };
}

/** Each pick's dy put back at its index in zeros (nothing for k = 0). */
function backward(dy: Tensor, indices: Tensor, xShape: readonly number[], rows: number, c: number, k: number): Tensor {
  const dx = zeros(xShape);
  if (rows * k > 0) scatterPicks(dy, indices, dx, rows, c, k);
  return dx;
}
