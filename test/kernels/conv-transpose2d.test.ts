import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { runtime } from '../../src/gpu/runtime.js';
import { backwardInputGemm } from '../../src/kernels/conv2d.js';
import type { ConvFamily } from '../../src/kernels/conv2d-gemm.js';
import { setConvAlgorithm } from '../../src/kernels/conv2d-winograd-run.js';
import {
  convTranspose2d,
  convTranspose2dForward,
  convTranspose2dGeometry,
  convTranspose2dOutputShape,
  type ConvTranspose2dOptions,
} from '../../src/kernels/conv-transpose2d.js';
import { nd } from '../../src/reference/array.js';
import { convTranspose2dBackwardRef, convTranspose2dForwardRef, convTranspose2dOutputShapeRef } from '../../src/reference/conv.js';
import { expectClose, winogradTolerance, winogradWeightGradTolerance } from '../helpers/close.js';
import { checkGrad } from '../helpers/finite-diff.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

// As for conv2d: float32 sums of at most a few hundred products of values in [-1, 1] (K = taps·Cin
// forward, the same for dx, N·H·W for dw), in another order than the float64 loops; the rounding
// error stays near 1e-5, so atol 1e-4 / rtol 1e-4 leaves margin while a missed tap fails by far.
const TOL = { atol: 1e-4, rtol: 1e-4 };

const CASES = [
  { name: "U-Net's 2x2 stride 2 up-convolution", x: [2, 4, 5, 3], k: [2, 2], cout: 4, opts: { stride: 2, padding: 'valid' } },
  { name: 'k3 s2 same', x: [1, 4, 4, 3], k: [3, 3], cout: 2, opts: { stride: 2, padding: 'same' } },
  { name: 'k3 s2 valid (overlapping taps)', x: [1, 4, 3, 5], k: [3, 3], cout: 4, opts: { stride: 2, padding: 'valid' } },
  { name: 'k3 s1 valid, batch 2', x: [2, 5, 4, 2], k: [3, 3], cout: 3, opts: { stride: 1, padding: 'valid' } },
  { name: 'k1 s2 valid (kernel smaller than stride)', x: [1, 3, 4, 2], k: [1, 1], cout: 3, opts: { stride: 2, padding: 'valid' } },
  { name: 'k4 s2 same', x: [2, 3, 5, 2], k: [4, 4], cout: 3, opts: { stride: 2, padding: 'same' } },
  { name: '3x2 kernel, stride [2, 1], explicit pads', x: [1, 3, 3, 2], k: [3, 2], cout: 2, opts: { stride: [2, 1], padding: [1, 0, 1, 0] } },
  { name: 'several tiles in every GEMM dimension', x: [1, 10, 10, 70], k: [2, 2], cout: 66, opts: { stride: 2, padding: 'valid' } },
] as const satisfies readonly { name: string; x: number[]; k: number[]; cout: number; opts: ConvTranspose2dOptions }[];

const FD_MAX_ELEMENTS = 300;

function families(): ConvFamily[] {
  return runtime().device.features.has('subgroups') ? ['tiled', 'subgroup'] : ['tiled'];
}

function caseData(cs: (typeof CASES)[number], seed: number) {
  const xShape: number[] = [...cs.x];
  const wShape: number[] = [cs.k[0], cs.k[1], cs.cout, cs.x[3]];
  const opts = cs.opts as ConvTranspose2dOptions;
  const x = nd(uniform(xShape.reduce((p, d) => p * d, 1), seed), xShape);
  const w = nd(uniform(wShape.reduce((p, d) => p * d, 1), seed + 1), wShape);
  const b = nd(uniform(cs.cout, seed + 2), [cs.cout]);
  const yShape = convTranspose2dOutputShapeRef(x, w, opts);
  const dy = nd(uniform(yShape.reduce((p, d) => p * d, 1), seed + 3), yShape);
  return { xShape, wShape, yShape, opts, x, w, b, dy };
}

describe('convTranspose2d', () => {
  for (const [k, cs] of CASES.entries()) {
    const d = caseData(cs, 2000 + 10 * k);

    if (d.x.data.length + d.w.data.length <= FD_MAX_ELEMENTS) {
      it(`${cs.name}: CPU backward matches finite differences`, () => {
        const { dx, dw, db } = convTranspose2dBackwardRef(d.x, d.w, d.dy, d.opts);
        const r = d.dy.data;
        checkGrad(`${cs.name} dx`, (v) => convTranspose2dForwardRef(nd(v, d.xShape), d.w, d.b, d.opts), d.x.data, r, dx.data);
        checkGrad(`${cs.name} dw`, (v) => convTranspose2dForwardRef(d.x, nd(v, d.wShape), d.b, d.opts), d.w.data, r, dw.data);
        checkGrad(`${cs.name} db`, (v) => convTranspose2dForwardRef(d.x, d.w, nd(v, [cs.cout]), d.opts), d.b.data, r, db.data);
      });
    }

    it(`${cs.name}: GPU forward (both kernel families) matches CPU`, async () => {
      expect(convTranspose2dOutputShape(d.xShape, d.wShape, d.opts)).toEqual(d.yShape);
      const want = convTranspose2dForwardRef(d.x, d.w, d.b, d.opts);
      const { g } = convTranspose2dGeometry(d.xShape, d.wShape, d.opts);
      const [x, w, b] = [fromNd(d.x.data, d.xShape), fromNd(d.w.data, d.wShape), fromNd(d.b.data, [cs.cout])];
      const outs: [string, dn.Tensor][] = dn.scope(() => [
        ['default', convTranspose2dForward(x, w, b, d.opts)],
        ...families().map((f): [string, dn.Tensor] => [f, backwardInputGemm(g, x, w, b, f, 'direct')]),
      ]);
      for (const [what, y] of outs) {
        expect(y.shape).toEqual(d.yShape);
        expectClose(`${cs.name} forward (${what})`, await y.toArray(), want.data, TOL);
      }
      for (const t of [x, w, b, ...outs.map((o) => o[1])]) t.dispose();
    });

    it(`${cs.name}: GPU backward through autograd matches CPU`, async () => {
      const want = convTranspose2dBackwardRef(d.x, d.w, d.dy, d.opts);
      const x = fromNd(d.x.data, d.xShape, true);
      const w = fromNd(d.w.data, d.wShape, true);
      const b = fromNd(d.b.data, [cs.cout], true);
      const dy = fromNd(d.dy.data, d.yShape);
      const y = convTranspose2d(x, w, b, d.opts);
      y.backward(dy);
      expectClose(`${cs.name} x.grad`, await x.grad!.toArray(), want.dx.data, TOL);
      expectClose(`${cs.name} w.grad`, await w.grad!.toArray(), want.dw.data, TOL);
      expectClose(`${cs.name} b.grad`, await b.grad!.toArray(), want.db.data, TOL);
      for (const t of [x, w, b, dy, y]) t.dispose();
    });
  }

  it('k3 s1 under setConvAlgorithm(winograd): forward and both gradients by Winograd match CPU', async () => {
    // Its forward is conv2d's backward input, its dx a conv2d forward and its dw a conv2d weight
    // gradient with the roles of input and output gradient swapped: all three 3x3 stride 1.
    const d = caseData(CASES[3], 2500);
    const want = convTranspose2dBackwardRef(d.x, d.w, d.dy, d.opts);
    const x = fromNd(d.x.data, d.xShape, true);
    const w = fromNd(d.w.data, d.wShape, true);
    const dy = fromNd(d.dy.data, d.yShape);
    const ran = () => ['conv2d.winogradInput|', 'conv2d.winogradWeightGradOutput|'].filter((name) => runtime().compiledKernels().some((k) => k.startsWith(name))).length;
    expect(ran(), 'no Winograd kernel compiled before').toBe(0);
    setConvAlgorithm('winograd');
    let y: dn.Tensor;
    try {
      y = convTranspose2d(x, w, null, d.opts);
      y.backward(dy);
    } finally {
      setConvAlgorithm('auto');
    }
    expect(ran(), 'Winograd ran the convs and the weight gradient').toBe(2);
    const [cin, cout] = [d.xShape[3], d.wShape[2]];
    expectClose('forward', await y.toArray(), convTranspose2dForwardRef(d.x, d.w, null, d.opts).data, winogradTolerance(cin));
    expectClose('x.grad', await x.grad!.toArray(), want.dx.data, winogradTolerance(cout));
    expectClose('w.grad', await w.grad!.toArray(), want.dw.data, winogradWeightGradTolerance(d.yShape[0] * d.xShape[1] * d.xShape[2]));
    for (const t of [x, w, dy, y]) t.dispose();
  });

  it('computes only the gradients that are needed', async () => {
    const d = caseData(CASES[0], 99);
    const want = convTranspose2dBackwardRef(d.x, d.w, d.dy, d.opts);
    const x = fromNd(d.x.data, d.xShape, true);
    const w = fromNd(d.w.data, d.wShape);
    const dy = fromNd(d.dy.data, d.yShape);
    const y = convTranspose2d(x, w, null, d.opts);
    y.backward(dy);
    expect(w.grad).toBeNull();
    expectClose('x.grad with a frozen weight', await x.grad!.toArray(), want.dx.data, TOL);
    for (const t of [x, w, dy, y]) t.dispose();
  });

  it('sizes its output as Keras Conv2DTranspose', () => {
    expect(convTranspose2dOutputShape([1, 4, 4, 3], [2, 2, 8, 3], { stride: 2 })).toEqual([1, 8, 8, 8]);
    expect(convTranspose2dOutputShape([1, 4, 4, 3], [3, 3, 8, 3], { stride: 2, padding: 'valid' })).toEqual([1, 9, 9, 8]);
    expect(convTranspose2dOutputShape([1, 4, 4, 3], [3, 3, 8, 3], { stride: 2, padding: 'same' })).toEqual([1, 8, 8, 8]);
    expect(convTranspose2dOutputShape([1, 4, 4, 3], [1, 1, 8, 3], { stride: 2, padding: 'valid' })).toEqual([1, 8, 8, 8]);
    expect(convTranspose2dOutputShape([1, 4, 4, 3], [3, 3, 8, 3], { stride: 2, padding: 1 })).toEqual([1, 7, 7, 8]);
  });

  it('rejects bad shapes and options with ShapeError', () => {
    dn.scope(() => {
      const x = dn.zeros([1, 4, 4, 3]);
      const w = dn.zeros([2, 2, 8, 3]);
      expect(() => convTranspose2d(x, dn.zeros([2, 2, 3, 8]), null, { stride: 2 })).toThrow(dn.ShapeError);
      expect(() => convTranspose2d(dn.zeros([4, 4, 3]), w, null, { stride: 2 })).toThrow(dn.ShapeError);
      expect(() => convTranspose2d(x, dn.zeros([2, 2, 8]), null, { stride: 2 })).toThrow(dn.ShapeError);
      expect(() => convTranspose2d(x, w, null, { stride: 0 })).toThrow(dn.ShapeError);
      expect(() => convTranspose2d(x, w, null, { stride: 2, padding: -1 })).toThrow(dn.ShapeError);
      expect(() => convTranspose2d(dn.zeros([1, 1, 1, 3]), w, null, { stride: 1, padding: [1, 1, 0, 0] })).toThrow(dn.ShapeError);
      expect(() => convTranspose2d(x, w, dn.zeros([3]), { stride: 2 })).toThrow(dn.ShapeError);
    });
  });
});
