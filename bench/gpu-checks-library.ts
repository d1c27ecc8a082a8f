// bench --checks' general-purpose ops (gpu-checks.ts runs them with the rest): reductions over
// space and classes, a histogram, the gathers (strided slices, tiles, ids), segment sums, cumsum, topk, sort, the element-wise
// selections and layer norm, each against the CPU reference forward and backward.

import * as dn from '../src/index.js';
import { nd } from '../src/reference/array.js';
import { cumsumRef } from '../src/reference/cumsum.js';
import { binaryMoreForwardRef, maximumBackwardRef, whereBackwardRef, whereRef } from '../src/reference/elementwise-more.js';
import { unaryBackwardRef, unaryForwardRef } from '../src/reference/elementwise.js';
import { argExtremumRef, extremumBackwardRef, extremumRef } from '../src/reference/extrema.js';
import { groupNormBackwardRef, groupNormForwardRef } from '../src/reference/groupnorm.js';
import { histogramRef } from '../src/reference/histogram.js';
import { gatherBackwardRef, gatherRef, indexGatherIndices, stridedSliceIndices, tileIndices } from '../src/reference/slice.js';
import { unsortedSegmentSumBackwardRef, unsortedSegmentSumRef } from '../src/reference/segment-sum.js';
import { sortBackwardRef, sortRef } from '../src/reference/sort.js';
import { topkRef } from '../src/reference/topk.js';
import type { GpuCheck } from './gpu-checks.js';

const FORTY_IDS = Array.from({ length: 40 }, (_, i) => (i * 7) % 3);

export function libraryOpChecks(): GpuCheck[] {
  const sliced = { begin: [1, -2, 0, 1], end: [4, 0, 11, 6], strides: [2, -3, 4, 2] };
  return [
    {
      // Two axes over a workgroup's rows per output (1320 values each).
      name: 'max over H, W [3,40,33,8]',
      inputs: [{ shape: [3, 40, 33, 8], grad: true }],
      gpu: ([x]) => dn.max(x, [1, 2]),
      cpu: ([x], dy) => ({ y: extremumRef('max', x, [1, 2]).value, grads: [extremumBackwardRef('max', x, dy, [1, 2])] }),
    },
    {
      // Whole values, so that the kernel's float32 bin arithmetic (v + 128)·256 / 256 is exact and
      // the counts must equal the reference's: 256 bins of the adapter's way (workgroup counts, or
      // atomic adds straight into the output on SwiftShader).
      name: 'histogram of [2,24,24,3] as whole values in [-128, 128), 256 bins',
      inputs: [{ shape: [2, 24, 24, 3] }],
      gpu: ([x]) => dn.histogram(dn.floor(dn.scale(x, 128)), { bins: 256, min: -128, max: 128 }),
      cpu: ([x]) => ({ y: histogramRef(Array.from(x.data, (v) => Math.floor(v * 128)), 256, -128, 128), grads: [] }),
    },
    {
      name: 'argmax over 1000 classes [37,1000]',
      inputs: [{ shape: [37, 1000] }],
      gpu: ([x]) => dn.argmax(x, -1),
      cpu: ([x]) => ({ y: argExtremumRef('max', x, 1), grads: [] }),
    },
    {
      name: `stridedSlice [4,9,11,6] ${JSON.stringify(sliced)}`,
      inputs: [{ shape: [4, 9, 11, 6], grad: true }],
      gpu: ([x]) => dn.stridedSlice(x, sliced.begin, sliced.end, sliced.strides),
      cpu: ([x], dy) => {
        const index = stridedSliceIndices(x.shape, sliced.begin, sliced.end, sliced.strides);
        return { y: gatherRef(x, index), grads: [gatherBackwardRef(dy, x.shape, index)] };
      },
    },
    {
      name: 'tile [3,5,7] by [2,1,3]',
      inputs: [{ shape: [3, 5, 7], grad: true }],
      gpu: ([x]) => dn.tile(x, [2, 1, 3]),
      cpu: ([x], dy) => {
        const index = tileIndices(x.shape, [2, 1, 3]);
        return { y: gatherRef(x, index), grads: [gatherBackwardRef(dy, x.shape, index)] };
      },
    },
    {
      // Repeated and unordered ids on a middle axis, in vec4s (8 channels).
      name: 'gather [3,10,5,8] axis 1 ids [7,0,7,3,9,7]',
      inputs: [{ shape: [3, 10, 5, 8], grad: true }],
      gpu: ([x]) => dn.gather(x, [7, 0, 7, 3, 9, 7], 1),
      cpu: ([x], dy) => {
        const index = indexGatherIndices(x.shape, [7, 0, 7, 3, 9, 7], 1);
        return { y: gatherRef(x, index), grads: [gatherBackwardRef(dy, x.shape, index)] };
      },
    },
    {
      // 40 ids into 3 rows: its gradient scans the ids (the case above sorts them).
      name: 'gather [2,3,2] axis 1, 40 ids',
      inputs: [{ shape: [2, 3, 2], grad: true }],
      gpu: ([x]) => dn.gather(x, FORTY_IDS, 1),
      cpu: ([x], dy) => {
        const index = indexGatherIndices(x.shape, FORTY_IDS, 1);
        return { y: gatherRef(x, index), grads: [gatherBackwardRef(dy, x.shape, index)] };
      },
    },
    {
      name: 'cumsum [3,40,8] axis 1 reverse',
      inputs: [{ shape: [3, 40, 8], grad: true }],
      gpu: ([x]) => dn.cumsum(x, 1, { reverse: true }),
      cpu: ([x], dy) => ({ y: cumsumRef(x, 1, false, true), grads: [cumsumRef(dy, 1, false, false)] }),
    },
    {
      // VGG16's top-5 over its 1000 classes.
      name: 'topk 5 of [6,1000]',
      inputs: [{ shape: [6, 1000], grad: true }],
      gpu: ([x]) => {
        const { values, indices } = dn.topk(x, 5);
        indices.dispose();
        return values;
      },
      cpu: ([x], dy) => {
        const { values, indices } = topkRef(x, 5);
        const dx = nd(new Float64Array(x.data.length), x.shape);
        indices.data.forEach((i, p) => (dx.data[Math.floor(p / 5) * 1000 + i] = dy.data[p]));
        return { y: values, grads: [dx] };
      },
    },
    {
      // 40 rows into 3 segments and one dropped id (-1), by sorted ids (the cost model's way here).
      name: 'unsortedSegmentSum [40,6,4] into 3',
      inputs: [{ shape: [40, 6, 4], grad: true }],
      gpu: ([x]) => dn.unsortedSegmentSum(x, [...FORTY_IDS.slice(0, 39), -1], 3),
      cpu: ([x], dy) => {
        const ids = [...FORTY_IDS.slice(0, 39), -1];
        return { y: unsortedSegmentSumRef(x, ids, 1, 3), grads: [unsortedSegmentSumBackwardRef(dy, ids, x.shape)] };
      },
    },
    {
      // Rows of 700 (merge passes ending in a short run), along the middle axis, largest first.
      name: 'sort [3,700,4] axis 1 descending',
      inputs: [{ shape: [3, 700, 4], grad: true }],
      gpu: ([x]) => {
        const { values, indices } = dn.sort(x, 1, { descending: true });
        indices.dispose();
        return values;
      },
      cpu: ([x], dy) => {
        const { values, indices } = sortRef(x, 1, true);
        return { y: values, grads: [sortBackwardRef(dy, indices, 1)] };
      },
    },
    {
      name: 'maximum [2,9,11,8] with [8]',
      inputs: [{ shape: [2, 9, 11, 8], grad: true }, { shape: [8], grad: true }],
      gpu: ([a, b]) => dn.maximum(a, b),
      cpu: ([a, b], dy) => ({ y: binaryMoreForwardRef('maximum', a, b), grads: maximumBackwardRef('maximum', a, b, dy) }),
    },
    {
      name: 'where [2,9,11,8]',
      inputs: [{ shape: [2, 9, 11, 8], data: 'mask' }, { shape: [2, 9, 11, 8], grad: true }, { shape: [2, 9, 11, 8], grad: true }],
      gpu: ([c, a, b]) => dn.where(c, a, b),
      cpu: ([c, a, b], dy) => ({ y: whereRef(c, a, b), grads: whereBackwardRef(c, a.shape, b.shape, dy) }),
    },
    {
      name: 'gelu (exact and tanh) [3,17,19]',
      inputs: [{ shape: [3, 17, 19], grad: true }],
      gpu: ([x]) => dn.add(dn.gelu(x), dn.gelu(x, { approximate: 'tanh' })),
      cpu: ([x], dy) => {
        // Each reference once, then summed: not once per element.
        const [tanhY, tanhDx] = [unaryForwardRef('geluTanh', x).data, unaryBackwardRef('geluTanh', x, dy).data];
        return {
          y: nd(unaryForwardRef('gelu', x).data.map((v, i) => v + tanhY[i]), x.shape),
          grads: [nd(unaryBackwardRef('gelu', x, dy).data.map((v, i) => v + tanhDx[i]), x.shape)],
        };
      },
    },
    {
      name: 'layerNorm [37,96]',
      inputs: [{ shape: [37, 96], grad: true }, { shape: [96], data: 'positive', grad: true }, { shape: [96], grad: true }],
      gpu: ([x, g, b]) => dn.layerNorm(x, g, b),
      cpu: ([x, g, b], dy) => {
        const back = groupNormBackwardRef(x, g, dy, 1);
        return { y: groupNormForwardRef(x, g, b, 1).y, grads: [back.dx, back.dgamma, back.dbeta] };
      },
    },
  ];
}
