// Grouped conv2d against a float64 reference built from the plain conv reference on each group's
// channel slices (itself checked against finite differences here): forward, raw backwards and
// autograd, with strides and dilation, and groups = Cin, which runs as a depthwise conv.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { conv2dBackwardInput, conv2dBackwardWeight, conv2dForward, conv2dOutputShape, type Conv2dOptions } from '../../src/kernels/conv2d.js';
import { resolveGroups } from '../../src/kernels/conv2d-grouped.js';
import { nd, type NdArray } from '../../src/reference/array.js';
import { concatRef, splitRef } from '../../src/reference/concat.js';
import { conv2dBackwardRef, conv2dForwardRef } from '../../src/reference/conv.js';
import { roundBufferSize } from '../../src/gpu/buffer-pool.js';
import { expectClose } from '../helpers/close.js';
import { checkGrad } from '../helpers/finite-diff.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

// As conv2d.test.ts: float32 sums of k²·Cin/G products against float64 loops.
const TOL = { atol: 1e-4, rtol: 1e-4 };

const even = (total: number, parts: number) => new Array<number>(parts).fill(total / parts);

/** The grouped conv from its definition: the plain reference over each group's channels. */
function groupedRef(x: NdArray, w: NdArray, b: NdArray | null, g: number, opts: Conv2dOptions): NdArray {
  const xs = splitRef(x, even(x.shape[3], g), -1);
  const ws = splitRef(w, even(w.shape[3], g), -1);
  const bs = b ? splitRef(b, even(b.shape[0], g), 0) : null;
  return concatRef(xs.map((xg, k) => conv2dForwardRef(xg, ws[k], bs ? bs[k] : null, opts)), -1);
}

function groupedBackwardRef(x: NdArray, w: NdArray, dy: NdArray, g: number, opts: Conv2dOptions) {
  const [xs, ws, dys] = [splitRef(x, even(x.shape[3], g), -1), splitRef(w, even(w.shape[3], g), -1), splitRef(dy, even(dy.shape[3], g), -1)];
  const parts = xs.map((xg, k) => conv2dBackwardRef(xg, ws[k], dys[k], opts));
  return { dx: concatRef(parts.map((q) => q.dx), -1), dw: concatRef(parts.map((q) => q.dw), -1), db: concatRef(parts.map((q) => q.db), 0) };
}

const CASES: [string, number[], number, number, number, Conv2dOptions][] = [
  // name, x, k, cout, groups, options
  ['2 groups, 3x3 same', [2, 6, 5, 4], 3, 6, 2, { padding: 'same' }],
  ['4 groups, stride 2, vec4 slices', [1, 9, 8, 16], 3, 8, 4, { padding: 'same', stride: 2 }],
  ['3 groups, dilation 2', [1, 9, 9, 6], 3, 9, 3, { padding: 'same', dilation: 2 }],
  ['groups = Cin: a depthwise conv with 2 filters each', [2, 7, 6, 3], 3, 6, 3, { padding: 'same' }],
];

describe('grouped conv2d', () => {
  for (const [name, xShape, k, cout, g, base] of CASES) {
    const opts = { ...base, groups: g };
    const wShape = [k, k, xShape[3] / g, cout];
    const x = nd(uniform(xShape.reduce((a, v) => a * v, 1), 61), xShape);
    const w = nd(uniform(wShape.reduce((a, v) => a * v, 1), 62), wShape);
    const b = nd(uniform(cout, 63), [cout]);
    const yRef = groupedRef(x, w, b, g, base);
    const dy = nd(uniform(yRef.data.length, 64), yRef.shape);

    it(`${name}: the reference's backward matches finite differences`, () => {
      const want = groupedBackwardRef(x, w, dy, g, base);
      checkGrad(`${name} dx`, (v) => groupedRef(nd(v, xShape), w, b, g, base), x.data, dy.data, want.dx.data);
      checkGrad(`${name} dw`, (v) => groupedRef(x, nd(v, wShape), b, g, base), w.data, dy.data, want.dw.data);
    });

    it(`${name}: GPU forward, raw backwards and autograd match the reference`, async () => {
      const want = groupedBackwardRef(x, w, dy, g, base);
      expect(conv2dOutputShape(xShape, wShape, opts)).toEqual(yRef.shape);
      const [xt, wt, bt] = [fromNd(x.data, xShape, true), fromNd(w.data, wShape, true), fromNd(b.data, [cout], true)];
      const dyt = fromNd(dy.data, yRef.shape);
      const before = dn.memory().bytesInUse;
      const raw = [conv2dForward(xt, wt, bt, opts), conv2dBackwardInput(dyt, wt, xShape, opts), conv2dBackwardWeight(dyt, xt, wShape, opts)];
      // The raw entry points leave no tape behind: only their three outputs stay allocated.
      expect(raw.every((t) => t.node === null)).toBe(true);
      expect(dn.memory().bytesInUse - before).toBe(raw.reduce((n, t) => n + roundBufferSize(t.size * 4), 0));
      expectClose(`${name} forward`, await raw[0].toArray(), yRef.data, TOL);
      expectClose(`${name} raw dx`, await raw[1].toArray(), want.dx.data, TOL);
      expectClose(`${name} raw dw`, await raw[2].toArray(), want.dw.data, TOL);
      const y = dn.conv2d(xt, wt, bt, opts);
      y.backward(dyt);
      expectClose(`${name} autograd dx`, await xt.grad!.toArray(), want.dx.data, TOL);
      expectClose(`${name} autograd dw`, await wt.grad!.toArray(), want.dw.data, TOL);
      expectClose(`${name} autograd db`, await bt.grad!.toArray(), want.db.data, TOL);
      for (const t of [xt, wt, bt, dyt, y, ...raw]) t.dispose();
    });
  }

  it('groups = Cin runs the depthwise kernels, other groups the conv GEMMs', async () => {
    const x = dn.zeros([1, 8, 8, 4]);
    for (const [g, w, kernel] of [[4, dn.zeros([3, 3, 1, 8]), 'depthwiseConv2d'], [2, dn.zeros([3, 3, 2, 8]), 'conv2d.forward']] as const) {
      const p = await dn.profile(() => dn.scope(() => void dn.conv2d(x, w, null, { groups: g, padding: 'same' })));
      if (p) expect(p.kernels.map((k) => k.name).some((n) => n.startsWith(kernel)), `groups ${g}`).toBe(true);
      if (p && g === 4) expect(p.kernels.some((k) => k.name.startsWith('conv2d.forward'))).toBe(false);
      w.dispose();
    }
    x.dispose();
  });

  it('bad groups are ShapeErrors naming conv2d, before anything is allocated', () => {
    const x = dn.zeros([1, 6, 6, 6]);
    const w = dn.zeros([3, 3, 3, 4]);
    const w6 = dn.zeros([3, 3, 3, 6]);
    const before = dn.memory().bytesInUse;
    expect(() => dn.conv2d(x, w, null, { groups: 4 })).toThrow(/^conv2d: 6 input and 4 output channels do not split into 4/);
    expect(() => dn.conv2d(x, w6, null, { groups: 3 })).toThrow(/^conv2d: with 3 groups the weight must be \[kh, kw, 2, 6\]/);
    expect(() => dn.conv2d(x, w, null, { groups: 1.5 })).toThrow(dn.ShapeError);
    expect(resolveGroups('conv2d', undefined)).toBe(1);
    expect(dn.memory().bytesInUse).toBe(before);
    for (const t of [x, w, w6]) t.dispose();
  });
});
