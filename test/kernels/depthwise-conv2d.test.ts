import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import {
  depthwiseConv2d,
  depthwiseConv2dBackwardInput,
  depthwiseConv2dBackwardWeight,
  depthwiseConv2dForward,
  depthwiseGeometry,
  setDepthwiseColumns,
  type DepthwiseConv2dOptions,
} from '../../src/kernels/depthwise-conv2d.js';
import { COLUMNS, columnsFit, columnThreads } from '../../src/kernels/depthwise-conv2d-columns.js';
import { weightGradChunks, weightGradRun } from '../../src/kernels/depthwise-conv2d-weight-grad.js';
import { runtime } from '../../src/gpu/runtime.js';
import { nd, type NdArray } from '../../src/reference/array.js';
import { depthwiseConv2dBackwardRef, depthwiseConv2dForwardRef, depthwiseConv2dOutputShapeRef } from '../../src/reference/depthwise-conv.js';
import { expectClose, F32 } from '../helpers/close.js';
import { checkGrad } from '../helpers/finite-diff.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

// GPU results are float32 sums of values in [-1, 1], added in another order than the float64 loops.
// The forward sums kh·kw <= 25 products and dx at most M·kh·kw (outputs up to ~5): rounding near
// 2^-24 · 5 · sqrt(25) ≈ 1.5e-6, measured at most 6.7e-7 on lavapipe, so the house defaults
// (atol 1e-5, rtol 1e-4) hold with a margin of 15x. dw and db sum over all N·Ho·Wo pixels, up to
// 9216 here (dw by runs of 16 pixels or more a thread, then the sum over the runs; db by
// reduce.ts's column sums), with outputs up to ~68: rounding near 2^-24 · 68 · sqrt(50) ≈ 3e-5,
// measured at most 7.1e-6 (dw) and 1.3e-5 (db) on lavapipe. SUM_TOL widens atol to 1e-4 for them,
// 7x over the worst measured (and rtol adds 7e-3 on the largest outputs). A missed or doubled tap
// moves a forward or dx element by 0.1 to 1 and a dw element by about its own size, so an
// indexing bug still fails by orders of magnitude.
const TOL = F32;
const SUM_TOL = { atol: 1e-4, rtol: 1e-4 };

const CASES = [
  { name: '3x3 s1 same, vec4 channels, batch 2', x: [2, 7, 9, 8], k: [3, 3], m: 1, opts: { stride: 1, padding: 'same' } },
  { name: '3x3 s2 same, odd sizes, M 2', x: [2, 9, 7, 3], k: [3, 3], m: 2, opts: { stride: 2, padding: 'same' } },
  { name: '5x5 valid, vec4 channels', x: [1, 11, 10, 4], k: [5, 5], m: 1, opts: { padding: 'valid' } },
  { name: '3x3 explicit pads [1, 0, 2, 1], stride [2, 1], M 2', x: [2, 8, 7, 5], k: [3, 3], m: 2, opts: { stride: [2, 1], padding: [1, 0, 2, 1] } },
  { name: '1x1 M 3', x: [2, 5, 6, 3], k: [1, 1], m: 3, opts: {} },
  { name: '3x5 kernel s2 same, vec4 channels', x: [2, 6, 9, 8], k: [3, 5], m: 1, opts: { stride: 2, padding: 'same' } },
  // A kernel smaller than its stride: some input pixels no tap reaches (their dx is zero).
  { name: '2x2 s3 valid, pixels no tap reaches, M 2', x: [1, 8, 8, 2], k: [2, 2], m: 2, opts: { stride: 3, padding: 'valid' } },
  // Many pixels: the weight gradient sums hundreds of runs of pixels in its second pass.
  { name: 'weight gradient over 9216 pixels', x: [4, 48, 48, 2], k: [3, 3], m: 1, opts: { padding: 'same' } },
  { name: 'weight gradient over 4608 pixels, vec4 channels', x: [2, 48, 48, 4], k: [3, 3], m: 1, opts: { padding: 'same' } },
] as const satisfies readonly { name: string; x: number[]; k: number[]; m: number; opts: DepthwiseConv2dOptions }[];

/** Finite differences cost two forwards per element: only the small cases. */
const FD_MAX_ELEMENTS = 700;

function caseData(cs: (typeof CASES)[number], seed: number) {
  const xShape: number[] = [...cs.x];
  const wShape: number[] = [cs.k[0], cs.k[1], cs.x[3], cs.m];
  const cm = cs.x[3] * cs.m;
  const opts = cs.opts as DepthwiseConv2dOptions;
  const x = nd(uniform(xShape.reduce((p, d) => p * d, 1), seed), xShape);
  const w = nd(uniform(wShape.reduce((p, d) => p * d, 1), seed + 1), wShape);
  const b = nd(uniform(cm, seed + 2), [cm]);
  const yShape = depthwiseConv2dOutputShapeRef(x, w, opts);
  const dy = nd(uniform(yShape.reduce((p, d) => p * d, 1), seed + 3), yShape);
  return { xShape, wShape, yShape, cm, opts, x, w, b, dy };
}

describe('depthwiseConv2d', () => {
  for (const [k, cs] of CASES.entries()) {
    const d = caseData(cs, 2000 + 10 * k);

    if (d.x.data.length + d.w.data.length <= FD_MAX_ELEMENTS) {
      it(`${cs.name}: CPU backward matches finite differences`, () => {
        const { dx, dw, db } = depthwiseConv2dBackwardRef(d.x, d.w, d.dy, d.opts);
        const r = d.dy.data;
        checkGrad(`${cs.name} dx`, (v) => depthwiseConv2dForwardRef(nd(v, d.xShape), d.w, d.b, d.opts), d.x.data, r, dx.data);
        checkGrad(`${cs.name} dw`, (v) => depthwiseConv2dForwardRef(d.x, nd(v, d.wShape), d.b, d.opts), d.w.data, r, dw.data);
        checkGrad(`${cs.name} db`, (v) => depthwiseConv2dForwardRef(d.x, d.w, nd(v, [d.cm]), d.opts), d.b.data, r, db.data);
      });
    }

    it(`${cs.name}: GPU forward, with and without bias, matches CPU`, async () => {
      const g = depthwiseGeometry(d.xShape, d.wShape, d.opts);
      expect(g.width).toBe(cs.m === 1 && cs.x[3] % 4 === 0 ? 4 : 1);
      const [x, w, b] = [fromNd(d.x.data, d.xShape), fromNd(d.w.data, d.wShape), fromNd(d.b.data, [d.cm])];
      const outs: [string, dn.Tensor, NdArray][] = [
        ['with bias', depthwiseConv2dForward(x, w, b, d.opts), depthwiseConv2dForwardRef(d.x, d.w, d.b, d.opts)],
        ['without bias', depthwiseConv2dForward(x, w, null, d.opts), depthwiseConv2dForwardRef(d.x, d.w, null, d.opts)],
      ];
      for (const [what, y, ref] of outs) {
        expect(y.shape).toEqual(d.yShape);
        expectClose(`${cs.name} forward ${what}`, await y.toArray(), ref.data, TOL);
      }
      for (const t of [x, w, b, ...outs.map((o) => o[1])]) t.dispose();
    });

    it(`${cs.name}: GPU raw backwards and autograd match CPU`, async () => {
      const want = depthwiseConv2dBackwardRef(d.x, d.w, d.dy, d.opts);
      const x = fromNd(d.x.data, d.xShape, true);
      const w = fromNd(d.w.data, d.wShape, true);
      const b = fromNd(d.b.data, [d.cm], true);
      const dy = fromNd(d.dy.data, d.yShape);
      const dx = depthwiseConv2dBackwardInput(dy, w, d.xShape, d.opts);
      const dw = depthwiseConv2dBackwardWeight(dy, x, d.wShape, d.opts);
      expectClose(`${cs.name} dx (raw)`, await dx.toArray(), want.dx.data, TOL);
      expectClose(`${cs.name} dw (raw)`, await dw.toArray(), want.dw.data, SUM_TOL);
      const y = depthwiseConv2d(x, w, b, d.opts);
      expectClose(`${cs.name} forward (autograd)`, await y.toArray(), depthwiseConv2dForwardRef(d.x, d.w, d.b, d.opts).data, TOL);
      y.backward(dy);
      expectClose(`${cs.name} x.grad`, await x.grad!.toArray(), want.dx.data, TOL);
      expectClose(`${cs.name} w.grad`, await w.grad!.toArray(), want.dw.data, SUM_TOL);
      expectClose(`${cs.name} b.grad`, await b.grad!.toArray(), want.db.data, SUM_TOL);
      for (const t of [x, w, b, dy, dx, dw, y]) t.dispose();
    });
  }

  it('the four-column kernel takes 3-wide kernels at column stride 1 or 2, a thread per four columns', () => {
    expect([columnsFit(3, 1), columnsFit(3, 2), columnsFit(3, 3), columnsFit(5, 1), columnsFit(1, 1)]).toEqual([true, true, false, false, false]);
    // 9 output columns: blocks of 4, 4 and 1.
    expect(columnThreads(14, 9, 2)).toBe(14 * Math.ceil(9 / COLUMNS) * 2);
  });

  it('3-wide kernels: the four-column kernel and the per-element kernel both match the reference', async () => {
    const shapes: [number[], number, 1 | 2, number][] = [[[2, 7, 9, 8], 1, 1, 1], [[1, 9, 13, 3], 2, 2, 2], [[2, 6, 11, 4], 1, 2, 1], [[1, 5, 7, 5], 3, 1, 1]];
    for (const [xShape, m, sw, kh] of shapes) {
      const wShape = [kh, 3, xShape[3], m];
      const opts = { stride: [1, sw] as [number, number], padding: 'same' as const };
      const xd = nd(uniform(xShape.reduce((a, b) => a * b, 1), 11), xShape);
      const wd = nd(uniform(wShape.reduce((a, b) => a * b, 1), 12), wShape);
      const bd = nd(uniform(xShape[3] * m, 13), [xShape[3] * m]);
      const want = depthwiseConv2dForwardRef(xd, wd, bd, opts).data;
      const [x, w, b] = [fromNd(xd.data, xShape), fromNd(wd.data, wShape), fromNd(bd.data, [xShape[3] * m])];
      for (const columns of [true, false]) {
        setDepthwiseColumns(columns);
        const p = await dn.profile(() => dn.scope(() => void depthwiseConv2dForward(x, w, b, opts)));
        if (p) expect(p.kernels.map((k) => k.name)).toContain(columns ? 'depthwiseConv2d.forwardColumns' : 'depthwiseConv2d.forward');
        const y = depthwiseConv2dForward(x, w, b, opts);
        expectClose(`${JSON.stringify(xShape)} M ${m} sw ${sw} (${columns ? 'columns' : 'per element'})`, await y.toArray(), want);
        y.dispose();
      }
      setDepthwiseColumns(null);
      for (const t of [x, w, b]) t.dispose();
    }
  });

  it('stride 1, one filter a channel, 3-wide kernels: the input gradient by the turned-kernel column kernel matches too', async () => {
    const cases: [number[], number, DepthwiseConv2dOptions][] = [
      [[2, 7, 9, 8], 3, { padding: 'same' }],
      [[1, 9, 13, 3], 5, { padding: 'same' }],
      [[2, 8, 6, 4], 3, { padding: [0, 2, 1, 1] }],
      [[1, 6, 7, 5], 3, { padding: 'valid' }],
    ];
    for (const [xShape, kh, opts] of cases) {
      const wShape = [kh, 3, xShape[3], 1];
      const xd = nd(uniform(xShape.reduce((a, b) => a * b, 1), 21), xShape);
      const wd = nd(uniform(wShape.reduce((a, b) => a * b, 1), 22), wShape);
      const yShape = depthwiseConv2dOutputShapeRef(xd, wd, opts);
      const dyd = nd(uniform(yShape.reduce((a, b) => a * b, 1), 23), yShape);
      const want = depthwiseConv2dBackwardRef(xd, wd, dyd, opts).dx.data;
      const [w, dy] = [fromNd(wd.data, wShape), fromNd(dyd.data, yShape)];
      for (const columns of [true, false]) {
        setDepthwiseColumns(columns);
        const p = await dn.profile(() => dn.scope(() => void depthwiseConv2dBackwardInput(dy, w, xShape, opts)));
        if (p) expect(p.kernels.map((k) => k.name)).toContain(columns ? 'depthwiseConv2d.backwardInputColumns' : 'depthwiseConv2d.backwardInput');
        const dx = depthwiseConv2dBackwardInput(dy, w, xShape, opts);
        expectClose(`dx ${JSON.stringify(xShape)} kh ${kh} ${JSON.stringify(opts)} (${columns ? 'columns' : 'per element'})`, await dx.toArray(), want);
        dx.dispose();
      }
      setDepthwiseColumns(null);
      for (const t of [w, dy]) t.dispose();
    }
  });

  it('the weight gradient splits the pixels into runs: one run for the smallest case, several for the others', () => {
    const chunks = CASES.map((cs) => {
      const g = depthwiseGeometry([...cs.x], [cs.k[0], cs.k[1], cs.x[3], cs.m], cs.opts as DepthwiseConv2dOptions);
      expect(weightGradChunks(g), cs.name).toBe(Math.max(1, Math.ceil((g.n * g.ho * g.wo) / weightGradRun(g))));
      return weightGradChunks(g);
    });
    expect(Math.min(...chunks)).toBe(1);
    expect(Math.max(...chunks)).toBeGreaterThan(100);
  });

  it('output channel c·M + m holds input channel c through filter m (tfjs and Keras layout)', async () => {
    // x [1, 1, 1, 2] = [1, 10]; w [1, 1, 2, 2] = w[0, 0, c, m] = 1 + 2c + m (flat [1, 2, 3, 4]).
    const x = dn.tensor([1, 10], [1, 1, 1, 2]);
    const w = dn.tensor([1, 2, 3, 4], [1, 1, 2, 2]);
    const y = depthwiseConv2dForward(x, w, null);
    expect(Array.from(await y.toArray())).toEqual([1, 2, 30, 40]);
    for (const t of [x, w, y]) t.dispose();
  });

  it('computes and keeps only the gradients that are needed', async () => {
    const cs = CASES[1];
    const d = caseData(cs, 99);
    const want = depthwiseConv2dBackwardRef(d.x, d.w, d.dy, d.opts);
    const dy = fromNd(d.dy.data, d.yShape);
    // [x needs a gradient, w does, the kernel that runs, the one that must not, what the tape keeps]
    for (const [xGrad, wGrad, ran, skipped, keptShape] of [
      [false, true, 'depthwiseConv2d.backwardWeightChannels', 'depthwiseConv2d.backwardInput', d.xShape],
      [true, false, 'depthwiseConv2d.backwardInput', 'depthwiseConv2d.backwardWeightChannels', d.wShape],
    ] as const) {
      const before = dn.memory().bytesInUse;
      const x = fromNd(d.x.data, d.xShape, xGrad);
      const w = fromNd(d.w.data, d.wShape, wGrad);
      const b = fromNd(d.b.data, [d.cm], true);
      const y = depthwiseConv2d(x, w, b, d.opts);
      expect(y.node!.saved.map((t) => t.shape)).toEqual([keptShape]);
      const profile = await dn.profile(() => y.backward(dy));
      // Where the adapter has timestamps, it can say which kernels ran.
      if (profile) {
        const names = profile.kernels.map((kt) => kt.name);
        expect(names).toContain(ran);
        expect(names).not.toContain(skipped);
      }
      expect(x.grad === null).toBe(!xGrad);
      expect(w.grad === null).toBe(!wGrad);
      if (xGrad) expectClose('x.grad alone', await x.grad!.toArray(), want.dx.data, TOL);
      if (wGrad) expectClose('w.grad alone', await w.grad!.toArray(), want.dw.data, SUM_TOL);
      expectClose('b.grad', await b.grad!.toArray(), want.db.data, SUM_TOL);
      for (const t of [x, w, b, y]) t.dispose();
      await dn.sync();
      expect(dn.memory().bytesInUse, 'bytes in use after disposing everything').toBe(before);
    }
    dy.dispose();
  });

  it('rejects bad shapes, options and arguments, naming the op', () => {
    const expectError = (fn: () => unknown, type: typeof dn.DawnetError): void => {
      expect(fn).toThrow(type);
      expect(fn).toThrow(/^depthwiseConv2d: /);
    };
    dn.scope(() => {
      const x = dn.zeros([1, 8, 8, 4]);
      const w = dn.zeros([3, 3, 4, 2]);
      const dy = dn.zeros([1, 8, 8, 8]);
      const same = { padding: 'same' } as const;
      expectError(() => depthwiseConv2d(x, dn.zeros([3, 3, 4])), dn.ShapeError);
      expectError(() => depthwiseConv2d(dn.zeros([8, 8, 4]), w), dn.ShapeError);
      expectError(() => depthwiseConv2d(x, dn.zeros([3, 3, 5, 2])), dn.ShapeError);
      expectError(() => depthwiseConv2d(x, w, dn.zeros([4])), dn.ShapeError);
      expectError(() => depthwiseConv2d(x, w, dn.zeros([8, 1])), dn.ShapeError);
      expectError(() => depthwiseConv2d(x, w, null, { stride: 0 }), dn.ShapeError);
      expectError(() => depthwiseConv2d(x, w, null, { padding: [1, 1] as unknown as [number, number, number, number] }), dn.ShapeError);
      expectError(() => depthwiseConv2d(x, dn.zeros([9, 9, 4, 1])), dn.ShapeError);
      expectError(() => depthwiseConv2d(5 as never, w), dn.ArgumentError);
      expectError(() => depthwiseConv2d(x, [1, 2, 3] as never), dn.ArgumentError);
      expectError(() => depthwiseConv2d(x, w, same as never), dn.ArgumentError);
      expectError(() => depthwiseConv2d(x, w, null, 'same' as never), dn.ArgumentError);
      expectError(() => depthwiseConv2dForward(x, w, 2 as never), dn.ArgumentError);
      expectError(() => depthwiseConv2dBackwardInput(dn.zeros([1, 8, 8, 4]), w, [1, 8, 8, 4], same), dn.ShapeError);
      expectError(() => depthwiseConv2dBackwardInput(dy, w, 'x' as never, same), dn.ArgumentError);
      expectError(() => depthwiseConv2dBackwardWeight(dy, x, [3, 3, 4, 1], same), dn.ShapeError);
      expectError(() => depthwiseConv2dBackwardWeight(dy, 'x' as never, [3, 3, 4, 2], same), dn.ArgumentError);
    });
  });

  it('a tensor past the binding limit is a LimitError before anything is allocated', () => {
    const rt = runtime();
    dn.scope(() => {
      const x = dn.zeros([1, 16, 16, 4]); // 4096 bytes
      const w = dn.zeros([3, 3, 4, 1]);
      const dy = dn.zeros([1, 16, 16, 4]);
      const before = dn.memory().bytesInUse;
      rt.setBindingLimit(2048);
      try {
        for (const fn of [
          () => depthwiseConv2d(x, w, null, { padding: 'same' }),
          () => depthwiseConv2dBackwardInput(dy, w, x.shape, { padding: 'same' }),
          () => depthwiseConv2dBackwardWeight(dy, x, w.shape, { padding: 'same' }),
        ]) {
          expect(fn).toThrow(dn.LimitError);
          expect(fn).toThrow(/^depthwiseConv2d: .*binding limit/);
        }
      } finally {
        rt.setBindingLimit(null);
      }
      expect(dn.memory().bytesInUse).toBe(before);
    });
  });
});
