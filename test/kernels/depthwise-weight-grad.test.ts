// depthwiseConv2d's weight gradient (depthwise-conv2d-weight-grad.ts): a thread per output channel
// (a vec4 of them where M = 1 and C % 4 == 0), block of taps and run of pixels, then the sum over
// the runs. Against the float64 reference (itself checked against finite differences in
// depthwise-conv2d.test.ts) for C = 1, 3, 4, 5, 32, M > 1, strides, explicit and 'same' padding,
// dilation, odd sizes and kernels of one to four tap blocks; under the run rule and under forced
// runs of 1 and 7 pixels, so that runs start and end inside rows and straddle samples.

import { afterEach, describe, expect, it } from 'vitest';
import { depthwiseConv2dBackwardWeight, depthwiseGeometry, type DepthwiseConv2dOptions } from '../../src/kernels/depthwise-conv2d.js';
import { MAX_TAPS, setWeightGradRun, tapBlocks, weightGradChunks } from '../../src/kernels/depthwise-conv2d-weight-grad.js';
import { nd } from '../../src/reference/array.js';
import { depthwiseConv2dBackwardRef, depthwiseConv2dOutputShapeRef } from '../../src/reference/depthwise-conv.js';
import { expectClose } from '../helpers/close.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';
import { dispatched } from '../helpers/dispatched.js';

useGpu();
afterEach(() => setWeightGradRun(null));

const CASES = [
  { x: [2, 9, 7, 1], k: [3, 3], m: 1, opts: { padding: 'same' } },
  { x: [3, 11, 10, 3], k: [3, 3], m: 1, opts: { stride: 2, padding: 'same' } },
  { x: [2, 8, 9, 4], k: [3, 3], m: 1, opts: { padding: 'same' } },
  { x: [2, 7, 6, 5], k: [3, 3], m: 1, opts: { stride: [2, 1], padding: [1, 0, 2, 1] } },
  { x: [1, 13, 9, 32], k: [3, 3], m: 1, opts: { stride: 2, padding: 'same' } },
  { x: [2, 9, 8, 3], k: [3, 3], m: 2, opts: { padding: 'same' } },
  { x: [1, 10, 7, 4], k: [3, 3], m: 3, opts: { stride: 2, padding: 'valid' } },
  // Two, four and three tap blocks (MAX_TAPS = 16): 5x5, 7x7, a 1x33 line.
  { x: [2, 11, 9, 8], k: [5, 5], m: 1, opts: { padding: 'same' } },
  { x: [1, 12, 11, 5], k: [7, 7], m: 1, opts: { padding: 'same' } },
  { x: [2, 3, 40, 2], k: [1, 33], m: 1, opts: { padding: 'valid' } },
  { x: [2, 12, 11, 4], k: [3, 3], m: 1, opts: { dilation: 2, padding: 'same' } },
  // Enough pixels for several runs under the rule (64 or more pixels each).
  { x: [4, 33, 31, 4], k: [3, 3], m: 1, opts: { padding: 'same' } },
] as const satisfies readonly { x: number[]; k: number[]; m: number; opts: DepthwiseConv2dOptions }[];

/**
 * dw sums up to 4092 products of values in [-1, 1] (outputs up to ~60) in another order than the
 * float64 loops: float32 rounding near 2^-24 · 60 · sqrt(4092) ≈ 2.3e-4 at the very worst, far less
 * in practice (the terms cancel); atol 1e-4 with rtol 1e-4 as depthwise-conv2d.test.ts's SUM_TOL, and
 * the largest case gets 1e-4 + 60e-4. A missed or doubled tap or pixel moves a dw element by ~1.
 */
const SUM_TOL = { atol: 1e-4, rtol: 1e-4 };

describe('depthwiseConv2d weight gradient by channels and runs of pixels', () => {
  for (const [k, cs] of CASES.entries()) {
    const wShape: number[] = [cs.k[0], cs.k[1], cs.x[3], cs.m];
    const opts = cs.opts as DepthwiseConv2dOptions;
    it(`x ${JSON.stringify(cs.x)} k ${cs.k.join('x')} M ${cs.m} ${JSON.stringify(opts)}: matches float64 under the rule and runs of 1 and 7`, async () => {
      const xs: number[] = [...cs.x];
      const x = nd(uniform(xs.reduce((p, d) => p * d, 1), 500 + k), xs);
      const w = nd(uniform(wShape.reduce((p, d) => p * d, 1), 520 + k), wShape);
      const yShape = depthwiseConv2dOutputShapeRef(x, w, opts);
      const dy = nd(uniform(yShape.reduce((p, d) => p * d, 1), 540 + k), yShape);
      const want = depthwiseConv2dBackwardRef(x, w, dy, opts).dw.data;
      const [xt, dyt] = [fromNd(x.data, xs), fromNd(dy.data, yShape)];
      for (const run of [null, 1, 7]) {
        setWeightGradRun(run);
        let dw: ReturnType<typeof depthwiseConv2dBackwardWeight> | undefined;
        const names = dispatched(() => (dw = depthwiseConv2dBackwardWeight(dyt, xt, wShape, opts)));
        expect(names.filter((s) => s.startsWith('depthwiseConv2d.backwardWeight'))).toEqual(['depthwiseConv2d.backwardWeightChannels']);
        expectClose(`dw ${k} run ${run}`, await dw!.toArray(), want, SUM_TOL);
        dw!.dispose();
      }
      xt.dispose();
      dyt.dispose();
    });
  }

  it('the cases take one to four tap blocks, and one run to hundreds', () => {
    const shapes = CASES.filter((cs) => !('dilation' in cs.opts)).map((cs) => depthwiseGeometry([...cs.x], [cs.k[0], cs.k[1], cs.x[3], cs.m], cs.opts as DepthwiseConv2dOptions));
    expect(shapes.map((g) => tapBlocks(g).blocks).sort()).toContain(4);
    expect(new Set(shapes.map((g) => tapBlocks(g).blocks))).toEqual(new Set([1, 2, 3, 4]));
    expect(shapes.every((g) => tapBlocks(g).taps <= MAX_TAPS)).toBe(true);
    const chunks = shapes.map((g) => weightGradChunks(g));
    expect(Math.min(...chunks)).toBe(1);
    expect(Math.max(...chunks)).toBeGreaterThan(50);
    setWeightGradRun(1);
    expect(weightGradChunks(shapes[0])).toBe(2 * 9 * 7);
  });
});
