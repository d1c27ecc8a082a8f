// sum and mean under each of reduce-rows.ts's rules: 'cpu' (a thread per output, rows in parts of
// 4096), 'gpu' (a thread per output up to 64 rows, the workgroup tree beyond) and 'tree' (the
// workgroup kernel only), whatever this adapter is, against float64 sums. Shapes cross each
// rule's bounds: rows of 4 and 64 (threads), 65 (the GPU rule's tree), 5000 (two CPU parts) and
// 9000 (few outputs: chunks of rows, reduceInChunks), in the middle of [A, R, B] and the last axis.

import { afterEach, describe, expect, it } from 'vitest';
import { runtime } from '../../src/gpu/runtime.js';
import { CPU_ROWS, setSumRowsRule, SHORT_ROWS, type SumRowsRule } from '../../src/kernels/reduce-rows.js';
import { isCpuAdapterReport } from '../../src/gpu/adapter-kind.js';
import { mean, sum } from '../../src/kernels/reduce.js';
import { nd } from '../../src/reference/array.js';
import { sumRef } from '../../src/reference/elementwise.js';
import { expectClose } from '../helpers/close.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';
import { dispatched } from '../helpers/dispatched.js';

useGpu();
afterEach(() => setSumRowsRule(null));

const RULES: SumRowsRule[] = ['cpu', 'gpu', 'tree'];

const CASES = [
  { shape: [1000, 4], axes: [1] },
  { shape: [37, 5, 3], axes: [1] },
  { shape: [40, 64], axes: [1] },
  { shape: [5, 65, 3], axes: [1] },
  { shape: [3, 5000, 2], axes: [1] },
  { shape: [2, 9000], axes: [-1] },
  { shape: [6, 7], axes: undefined },
  { shape: [4, 3, 5, 2], axes: [0, 2] },
  { shape: [300, 8], axes: [0] },
] as const;

/**
 * Sums of up to 1000 values in [-1, 1] in another order than float64's stay within 1e-4 (as in
 * reduce.test.ts); sums of 5000-9000 reach ~100 and float32 keeps them to ~1e-5: 1e-3 still fails
 * on a single term of 0.01 or more dropped or doubled.
 */
const sumTolerance = (terms: number): number => (terms > 1000 ? 1e-3 : 1e-4);

describe('sum and mean under each rule', () => {
  for (const rule of RULES) {
    for (const [k, cs] of CASES.entries()) {
      it(`${rule}: ${JSON.stringify(cs.shape)} over ${JSON.stringify(cs.axes)}: sum, mean and mean's gradient match float64`, async () => {
        setSumRowsRule(rule);
        const n = cs.shape.reduce((p: number, d: number) => p * d, 1);
        const x = uniform(n, 900 + k);
        const axes = cs.axes?.map((a: number) => (a < 0 ? a + cs.shape.length : a));
        const want = sumRef(nd(x, [...cs.shape]), axes);
        const terms = n / want.data.length;
        const xt = fromNd(x, [...cs.shape], true);
        const s = sum(xt, cs.axes ? [...cs.axes] : undefined);
        const m = mean(xt, cs.axes ? [...cs.axes] : undefined);
        expect([s.shape, m.shape]).toEqual([want.shape, want.shape]);
        expectClose(`${rule} sum`, await s.toArray(), want.data, { atol: sumTolerance(terms) });
        // The mean is the sum over terms: its error too (atol 1e-5 covers 1e-3 / 5000 and 1e-4 / 4).
        expectClose(`${rule} mean`, await m.toArray(), want.data.map((v) => v / terms), { atol: 1e-5 });
        const dy = fromNd(uniform(want.data.length, 950 + k), want.shape);
        m.backward(dy);
        const gx = await xt.grad!.toArray();
        const dyv = await dy.toArray();
        // dx = dy / terms at each x's output: its flat index with the reduced axes dropped.
        const reduced = axes ?? cs.shape.map((_: number, i: number) => i);
        const wantGrad = Array.from({ length: n }, (_, i) => {
          let o = 0;
          let rest = i;
          const idx = [...cs.shape].reverse().map((d) => {
            const v = rest % d;
            rest = Math.floor(rest / d);
            return v;
          }).reverse();
          cs.shape.forEach((d: number, ax: number) => {
            if (!reduced.includes(ax)) o = o * d + idx[ax];
          });
          return dyv[o] / terms;
        });
        expectClose(`${rule} mean gradient`, gx, wantGrad);
        for (const t of [xt, s, m, dy]) t.dispose();
      });
    }

    it(`${rule}: rows of 4096 positive values keep float32's accuracy`, async () => {
      // All terms in [0, 1], so rounding errors do not cancel: in float32 emulation over 50 such
      // rows a plain loop erred by up to 1.7e-6 relative, 64-value blocks by 3e-7 (the tree less).
      // rtol 1e-6 holds for the blocked and tree sums and fails a plain loop.
      setSumRowsRule(rule);
      const x = uniform(16 * 4096, 990, 0, 1);
      const xt = fromNd(x, [16, 4096]);
      const s = sum(xt, 1);
      expectClose(`${rule} sum of positives`, await s.toArray(), sumRef(nd(x, [16, 4096]), [1]).data, { atol: 0, rtol: 1e-6 });
      for (const t of [xt, s]) t.dispose();
    });

    it(`${rule}: empty rows sum to 0 and average to NaN; no outputs give an empty tensor`, async () => {
      setSumRowsRule(rule);
      const [x, y] = [fromNd([], [3, 0]), fromNd([], [0, 4])];
      const [s, m, e] = [sum(x, 1), mean(x, 1), sum(y, 1)];
      expect(Array.from(await s.toArray())).toEqual([0, 0, 0]);
      expect(Array.from(await m.toArray()).every(Number.isNaN)).toBe(true);
      expect(e.shape).toEqual([0]);
      for (const t of [x, y, s, m, e]) t.dispose();
    });

    it(`${rule}: rows past the binding limit (split along R, and row by row) match float64`, async () => {
      // A 256-byte limit against rows of 37 floats: reduce.ts's reduceRowByRow (its copy of the
      // first row takes this rule's kernel) and, for [40, 9] (rows of 36 bytes), reduceSplitR.
      setSumRowsRule(rule);
      for (const shape of [[3, 7, 37], [2, 40, 9]]) {
        const n = shape.reduce((p, d) => p * d, 1);
        const x = uniform(n, 77);
        const xt = fromNd(x, shape);
        runtime().setBindingLimit(256);
        try {
          const m = mean(xt, 1);
          expectClose(`${rule} split mean ${JSON.stringify(shape)}`, await m.toArray(), sumRef(nd(x, shape), [1]).data.map((v) => v / shape[1]));
          m.dispose();
        } finally {
          runtime().setBindingLimit(null);
        }
        xt.dispose();
      }
    });
  }
});

describe('which kernel sums', () => {
  const run = (shape: number[], axis: number, op = sum) => () => {
    const x = fromNd(new Float64Array(shape.reduce((p, d) => p * d, 1)), shape);
    op(x, axis).dispose();
    x.dispose();
  };

  it('a thread per output for short rows on every rule but the tree; a mean is one pass', () => {
    // The thread kernel is what makes sum(x, 1) of [1048576, 4] take 29 ms instead of 26.6 s on
    // lavapipe (reduce-rows.ts); a mean scales its sums in the same pass (it used to take two).
    for (const rule of ['cpu', 'gpu'] as const) {
      setSumRowsRule(rule);
      expect(dispatched(run([1000, 4], 1))).toEqual(['reduce.sumRows']);
      expect(dispatched(run([1000, 4], 1, mean))).toEqual(['reduce.sumRows']);
      expect(dispatched(run([37, SHORT_ROWS, 3], 1))).toEqual(['reduce.sumRows']);
    }
    setSumRowsRule('tree');
    expect(dispatched(run([1000, 4], 1, mean))).toEqual(['reduce.sum']);
  });

  it('longer rows: the tree on GPUs, parts of CPU_ROWS rows on CPU adapters', () => {
    setSumRowsRule('gpu');
    expect(dispatched(run([5, SHORT_ROWS + 1, 3], 1))).toEqual(['reduce.sum']);
    setSumRowsRule('cpu');
    expect(dispatched(run([5, SHORT_ROWS + 1, 3], 1))).toEqual(['reduce.sumRows']);
    expect(dispatched(run([3, CPU_ROWS + 1, 2], 1))).toEqual(['reduce.sumRows', 'reduce.sumRows']);
  });

  it('this adapter takes its own rule', () => {
    const cpu = isCpuAdapterReport(runtime().ctx.report);
    expect(dispatched(run([5, SHORT_ROWS + 1, 3], 1))).toEqual([cpu ? 'reduce.sumRows' : 'reduce.sum']);
  });
});
