// Batch norm's channel sums combined both ways (src/kernels/batchnorm-sums.ts): 'tree' (workgroup
// memory) and 'lanes' (a partial per row lane), each forced, through a training forward, its
// running statistics and backward, plain and with the fused ReLU, against the float64 reference:
// scalar and vec4 channels, fewer rows than row lanes, several row chunks, and a GPU's many
// chunks (whose 8x more partials under 'lanes' the finish gets collapsed first). The rule: 'lanes'
// on SwiftShader only. Tolerances: expectClose's defaults, as batchnorm.test.ts (sums over at most
// 33,800 rows of values near 3 in float32).

import { describe, expect, it } from 'vitest';
import { runtime } from '../../src/gpu/runtime.js';
import { isSwiftShaderReport } from '../../src/gpu/adapter-kind.js';
import { batchNorm2d } from '../../src/kernels/batchnorm.js';
import { batchnormSumsWay, partialsPerChunk, ROW_LANES, withBatchnormSumsWay, type BatchnormSumsWay } from '../../src/kernels/batchnorm-sums.js';
import { overrideRowChunkSizing } from '../../src/kernels/row-chunks.js';
import { nd } from '../../src/reference/array.js';
import { batchNormBackwardRef, batchNormForwardRef } from '../../src/reference/batchnorm.js';
import { unaryBackwardRef, unaryForwardRef } from '../../src/reference/elementwise.js';
import { expectClose } from '../helpers/close.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

const O = { training: true, momentum: 0.1, eps: 1e-5 };

/** A training step's forward and backward under `way`, against the reference. */
async function checkStep(way: BatchnormSumsWay, shape: number[], seed: number, relu: boolean): Promise<void> {
  const n = shape.reduce((p, d) => p * d, 1);
  const c = shape[3];
  const x = Float64Array.from(Float32Array.from(uniform(n, seed, 2, 4)));
  const [gamma, beta, rm0, rv0, dy] = [uniform(c, seed + 1, 0.5, 1.5), uniform(c, seed + 2), uniform(c, seed + 3), uniform(c, seed + 4, 0.5, 2), uniform(n, seed + 5)];
  const [xt, gt, bt, rmt, rvt, dyt] = [fromNd(x, shape, true), fromNd(gamma, [c], true), fromNd(beta, [c], true), fromNd(rm0, [c]), fromNd(rv0, [c]), fromNd(dy, shape)];
  const y = withBatchnormSumsWay(way, () => {
    const out = batchNorm2d(xt, gt, bt, rmt, rvt, { ...O, relu });
    out.backward(dyt);
    return out;
  });
  const r = { x: nd(x, shape), g: nd(gamma, [c]), b: nd(beta, [c]), rm: nd(rm0, [c]), rv: nd(rv0, [c]), dy: nd(dy, shape) };
  const bn = batchNormForwardRef(r.x, r.g, r.b, r.rm, r.rv, O);
  const name = `${way} ${JSON.stringify(shape)}${relu ? ' relu' : ''}`;
  expectClose(`${name} y`, await y.toArray(), relu ? unaryForwardRef('relu', bn.y).data : bn.y.data);
  expectClose(`${name} runningMean`, await rmt.toArray(), bn.runningMean.data);
  expectClose(`${name} runningVar`, await rvt.toArray(), bn.runningVar.data);
  const g = batchNormBackwardRef(r.x, r.g, relu ? unaryBackwardRef('relu', bn.y, r.dy) : r.dy, r.rm, r.rv, O);
  expectClose(`${name} dx`, await xt.grad!.toArray(), g.dx.data);
  expectClose(`${name} dgamma`, await gt.grad!.toArray(), g.dgamma.data);
  expectClose(`${name} dbeta`, await bt.grad!.toArray(), g.dbeta.data);
  for (const t of [xt, gt, bt, rmt, rvt, dyt, y]) t.dispose();
}

describe('batch norm sums', () => {
  for (const way of ['tree', 'lanes'] as const) {
    describe(way, () => {
      // 3 and 37 channels: scalar kernels (37: two channel blocks); 44 and 8: vec4. [1, 1, 2, 4]: 2
      // rows, fewer than the 8 row lanes; [2, 16, 35, 8]: 1120 rows, several chunks.
      it.each([
        [[2, 5, 7, 3]],
        [[2, 3, 5, 37]],
        [[2, 4, 5, 44]],
        [[1, 1, 2, 4]],
        [[2, 16, 35, 8]],
      ])('a training step over %j matches the reference, plain and with the fused ReLU', async (shape) => {
        await checkStep(way, shape, shape[3] * 7, false);
        await checkStep(way, shape, shape[3] * 7, true);
      });

      it("with a GPU's row chunks (collapsed by reduce.ts before the finish) matches the reference", async () => {
        overrideRowChunkSizing('gpu');
        try {
          await checkStep(way, [2, 130, 130, 8], 98, false);
          await checkStep(way, [2, 130, 130, 5], 95, false);
        } finally {
          overrideRowChunkSizing(null);
        }
      });
    });
  }

  it("takes 'lanes' on SwiftShader only, each row lane's partial its own", () => {
    expect(batchnormSumsWay()).toBe(isSwiftShaderReport(runtime().ctx.report) ? 'lanes' : 'tree');
    expect(withBatchnormSumsWay('lanes', () => batchnormSumsWay())).toBe('lanes');
    expect([partialsPerChunk('tree'), partialsPerChunk('lanes')]).toEqual([1, ROW_LANES]);
  });
});
