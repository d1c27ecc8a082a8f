// Dilated conv2d (space-to-batch around the ordinary conv) against the float64 reference, whose
// dilated taps are checked against finite differences: forward, both raw backwards and autograd,
// for odd sizes that leave the split grids ragged, both vec4 and scalar gathers, explicit and
// 'same' padding, and under a forced Winograd for the inner 3x3 conv.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { conv2dBackwardInput, conv2dBackwardWeight, conv2dForward, conv2dOutputShape, type Conv2dOptions } from '../../src/kernels/conv2d.js';
import { dilatedPlan } from '../../src/kernels/conv2d-dilated.js';
import { depthwiseConv2dBackwardInput, depthwiseConv2dBackwardWeight, depthwiseConv2dForward, type DepthwiseConv2dOptions } from '../../src/kernels/depthwise-conv2d.js';
import { depthwiseConv2dBackwardRef, depthwiseConv2dForwardRef, depthwiseConv2dOutputShapeRef } from '../../src/reference/depthwise-conv.js';
import { nd } from '../../src/reference/array.js';
import { conv2dBackwardRef, conv2dForwardRef } from '../../src/reference/conv.js';
import { expectClose, winogradTolerance } from '../helpers/close.js';
import { checkGrad } from '../helpers/finite-diff.js';
import { convCaseData, type ConvCase } from '../helpers/conv-case.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

// As conv2d.test.ts: float32 sums of at most k²·C products against float64 loops.
const TOL = { atol: 1e-4, rtol: 1e-4 };

const CASES = [
  // 7 rows padded by 2 + 2 to 11, split by 2 into 6 and 5: ragged residue grids.
  { name: 'k3 d2 same, odd sizes, scalar channels', x: [2, 7, 6, 3], k: [3, 3], cout: 5, opts: { dilation: 2, padding: 'same' } },
  { name: 'k3 d3 same, vec4 channels', x: [1, 10, 9, 8], k: [3, 3], cout: 4, opts: { dilation: 3, padding: 'same' } },
  { name: 'k3 dilation [2, 3] valid', x: [2, 9, 11, 4], k: [3, 3], cout: 6, opts: { dilation: [2, 3], padding: 'valid' } },
  { name: 'k2 d2 explicit padding [1, 2, 0, 3]', x: [1, 6, 5, 2], k: [2, 2], cout: 3, opts: { dilation: 2, padding: [1, 2, 0, 3] } },
  { name: 'k3x1 dilation [4, 1] same', x: [1, 9, 4, 4], k: [3, 1], cout: 4, opts: { dilation: [4, 1], padding: 'same' } },
  { name: 'k1 d2 (one tap: the plain 1x1)', x: [2, 5, 5, 4], k: [1, 1], cout: 2, opts: { dilation: 2 } },
] as const satisfies readonly { name: string; x: number[]; k: number[]; cout: number; opts: Conv2dOptions }[];

const caseData = (cs: (typeof CASES)[number], seed: number) => convCaseData(cs as ConvCase, seed);

describe('dilated conv2d', () => {
  it('the reference: dilation 2 same is the 5x5 conv whose taps between are zero', () => {
    const d = caseData(CASES[0], 5);
    const w5 = nd(new Float64Array(5 * 5 * 3 * 5), [5, 5, 3, 5]);
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) for (let c = 0; c < 15; c++) w5.data[((2 * i * 5 + 2 * j) * 15) + c] = d.w.data[(i * 3 + j) * 15 + c];
    expectClose('dilated = sparse 5x5', conv2dForwardRef(d.x, d.w, d.b, d.opts).data, conv2dForwardRef(d.x, w5, d.b, { padding: 'same' }).data, { atol: 1e-12, rtol: 1e-12 });
  });

  for (const [k, cs] of CASES.entries()) {
    const d = caseData(cs, 3000 + 10 * k);

    if (d.x.data.length + d.w.data.length <= 400) {
      it(`${cs.name}: CPU backward matches finite differences`, () => {
        const { dx, dw, db } = conv2dBackwardRef(d.x, d.w, d.dy, d.opts);
        checkGrad(`${cs.name} dx`, (v) => conv2dForwardRef(nd(v, d.xShape), d.w, d.b, d.opts), d.x.data, d.dy.data, dx.data);
        checkGrad(`${cs.name} dw`, (v) => conv2dForwardRef(d.x, nd(v, d.wShape), d.b, d.opts), d.w.data, d.dy.data, dw.data);
        checkGrad(`${cs.name} db`, (v) => conv2dForwardRef(d.x, d.w, nd(v, [cs.cout]), d.opts), d.b.data, d.dy.data, db.data);
      });
    }

    it(`${cs.name}: GPU forward, raw backwards and autograd match CPU`, async () => {
      const want = conv2dBackwardRef(d.x, d.w, d.dy, d.opts);
      expect(conv2dOutputShape(d.xShape, d.wShape, d.opts)).toEqual(d.yShape);
      const x = fromNd(d.x.data, d.xShape, true);
      const w = fromNd(d.w.data, d.wShape, true);
      const b = fromNd(d.b.data, [cs.cout], true);
      const dy = fromNd(d.dy.data, d.yShape);
      const raw = dn.scope(() => [conv2dForward(x, w, b, d.opts), conv2dBackwardInput(dy, w, d.xShape, d.opts), conv2dBackwardWeight(dy, x, d.wShape, d.opts)]);
      expectClose(`${cs.name} forward`, await raw[0].toArray(), conv2dForwardRef(d.x, d.w, d.b, d.opts).data, TOL);
      expectClose(`${cs.name} raw dx`, await raw[1].toArray(), want.dx.data, TOL);
      expectClose(`${cs.name} raw dw`, await raw[2].toArray(), want.dw.data, TOL);
      const y = dn.conv2d(x, w, b, d.opts);
      expect(y.shape).toEqual(d.yShape);
      y.backward(dy);
      expectClose(`${cs.name} autograd dx`, await x.grad!.toArray(), want.dx.data, TOL);
      expectClose(`${cs.name} autograd dw`, await w.grad!.toArray(), want.dw.data, TOL);
      expectClose(`${cs.name} autograd db`, await b.grad!.toArray(), want.db.data, TOL);
      for (const t of [x, w, b, dy, y, ...raw]) t.dispose();
    });
  }

  it('under a forced Winograd the inner 3x3 conv runs by Winograd, still matching', async () => {
    const cs = { name: 'winograd', x: [2, 12, 10, 16], k: [3, 3], cout: 16, opts: { dilation: 2, padding: 'same' } } as const;
    const d = caseData(cs as never, 77);
    const before = dn.setConvAlgorithm('winograd');
    try {
      const x = fromNd(d.x.data, d.xShape, true);
      const w = fromNd(d.w.data, d.wShape, true);
      const dy = fromNd(d.dy.data, d.yShape);
      const profile = await dn.profile(() => dn.scope(() => void dn.conv2d(x, w, null, d.opts)));
      if (profile) expect(profile.kernels.some((kt) => kt.name.startsWith('conv2d.winograd'))).toBe(true);
      const y = dn.conv2d(x, w, null, d.opts);
      y.backward(dy);
      const want = conv2dBackwardRef(d.x, d.w, d.dy, d.opts);
      const tol = winogradTolerance(16);
      expectClose('winograd forward', await y.toArray(), conv2dForwardRef(d.x, d.w, null, d.opts).data, tol);
      expectClose('winograd dx', await x.grad!.toArray(), want.dx.data, tol);
      expectClose('winograd dw', await w.grad!.toArray(), want.dw.data, { atol: 1e-4 * Math.sqrt(2 * 12 * 10), rtol: 1e-4 });
      for (const t of [x, w, dy, y]) t.dispose();
    } finally {
      dn.setConvAlgorithm(before);
    }
  });

  // Depthwise convs take the same split and merge around their own 'valid' kernel.
  for (const [name, xShape, m, opts] of [
    ['depthwise 3x3 d2 same, multiplier 2', [2, 9, 8, 3], 2, { dilation: 2, padding: 'same' }],
    ['depthwise 3x3 dilation [3, 2] valid, vec4 channels', [1, 11, 9, 8], 1, { dilation: [3, 2], padding: 'valid' }],
  ] as [string, number[], number, DepthwiseConv2dOptions][]) {
    const wShape = [3, 3, xShape[3], m];
    const x = nd(uniform(xShape.reduce((a, b) => a * b, 1), 41), xShape);
    const w = nd(uniform(wShape.reduce((a, b) => a * b, 1), 42), wShape);
    const b = nd(uniform(xShape[3] * m, 43), [xShape[3] * m]);
    const yShape = depthwiseConv2dOutputShapeRef(x, w, opts);
    const dy = nd(uniform(yShape.reduce((a, v) => a * v, 1), 44), yShape);

    it(`${name}: CPU backward matches finite differences`, () => {
      const g = depthwiseConv2dBackwardRef(x, w, dy, opts);
      checkGrad(`${name} dx`, (v) => depthwiseConv2dForwardRef(nd(v, xShape), w, b, opts), x.data, dy.data, g.dx.data);
      checkGrad(`${name} dw`, (v) => depthwiseConv2dForwardRef(x, nd(v, wShape), b, opts), w.data, dy.data, g.dw.data);
    });

    it(`${name}: GPU forward, raw backwards and autograd match CPU`, async () => {
      const want = depthwiseConv2dBackwardRef(x, w, dy, opts);
      const [xt, wt, bt] = [fromNd(x.data, xShape, true), fromNd(w.data, wShape, true), fromNd(b.data, [xShape[3] * m], true)];
      const dyt = fromNd(dy.data, yShape);
      const raw = dn.scope(() => [depthwiseConv2dForward(xt, wt, bt, opts), depthwiseConv2dBackwardInput(dyt, wt, xShape, opts), depthwiseConv2dBackwardWeight(dyt, xt, wShape, opts)]);
      expectClose(`${name} forward`, await raw[0].toArray(), depthwiseConv2dForwardRef(x, w, b, opts).data, TOL);
      expectClose(`${name} raw dx`, await raw[1].toArray(), want.dx.data, TOL);
      expectClose(`${name} raw dw`, await raw[2].toArray(), want.dw.data, TOL);
      const y = dn.depthwiseConv2d(xt, wt, bt, opts);
      y.backward(dyt);
      expectClose(`${name} autograd dx`, await xt.grad!.toArray(), want.dx.data, TOL);
      expectClose(`${name} autograd dw`, await wt.grad!.toArray(), want.dw.data, TOL);
      expectClose(`${name} autograd db`, await bt.grad!.toArray(), want.db.data, TOL);
      for (const t of [xt, wt, bt, dyt, y, ...raw]) t.dispose();
    });
  }

  it('split sizes: the residue grids cover the padded input, the inner outputs cover y', () => {
    const p = dilatedPlan([2, 7, 6, 3], [3, 3, 3, 5], { dilation: 2, padding: 'same' });
    expect(p.pads).toEqual([2, 2, 2, 2]);
    expect([p.ho, p.wo, p.hq, p.wq, p.hz, p.wz]).toEqual([7, 6, 6, 5, 4, 3]);
  });

  it('bad options are ShapeErrors naming conv2d, before anything is allocated', () => {
    const x = dn.zeros([1, 6, 6, 2]);
    const w = dn.zeros([3, 3, 2, 2]);
    const wDepthwise = dn.zeros([3, 3, 2, 1]);
    const before = dn.memory().bytesInUse;
    expect(() => dn.conv2d(x, w, null, { dilation: 2, stride: 2 })).toThrow(/^conv2d: a dilated conv takes stride 1/);
    expect(() => dn.conv2d(x, w, null, { dilation: 0 })).toThrow(dn.ShapeError);
    expect(() => dn.conv2d(x, w, null, { dilation: [2, 1.5] as never })).toThrow(/^conv2d: dilation/);
    expect(() => dn.conv2d(x, w, null, { dilation: 4 })).toThrow(/^conv2d: a 3x3 kernel dilated by 4x4 reaches 9x9/);
    expect(() => dn.depthwiseConv2d(x, wDepthwise, null, { dilation: 2, stride: 2 })).toThrow(/^depthwiseConv2d: a dilated conv takes stride 1/);
    expect(dn.memory().bytesInUse).toBe(before);
    for (const t of [x, w, wDepthwise]) t.dispose();
  });
});
