// addShiftedPlanes (src/kernels/shifted-planes.ts) against its float64 reference
// (src/reference/shifted-planes.ts), whose backward is checked against finite differences: shifts
// negative, zero and positive, ones that leave no overlap, fewer and more planes out than in, a
// first term (no sum), scalar and vec4 planes, batch > 1, samples split past the binding limit;
// then the argument errors.

import { afterEach, describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { runtime } from '../../src/gpu/runtime.js';
import { addShiftedPlanes } from '../../src/kernels/shifted-planes.js';
import { nd } from '../../src/reference/array.js';
import { addShiftedPlanesBackwardRef, addShiftedPlanesRef } from '../../src/reference/shifted-planes.js';
import { expectClose } from '../helpers/close.js';
import { checkGrad } from '../helpers/finite-diff.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();
afterEach(() => runtime().setBindingLimit(null));

const size = (shape: number[]) => shape.reduce((p, d) => p * d, 1);

// [name, y's shape [N, Din, H, W, C], shift, Dout, with a sum]
const CASES: [string, number[], number, number, boolean][] = [
  ['shift 0, as many planes out as in', [2, 3, 2, 3, 2], 0, 3, true],
  ['shift −1 (a zero plane at the front)', [2, 4, 2, 2, 3], -1, 4, true],
  ['shift +2 (zero planes at the back)', [1, 5, 3, 1, 2], 2, 5, true],
  ['shift +1 into fewer planes out (valid depth)', [2, 5, 2, 2, 4], 1, 3, true],
  ['shift −2 into more planes out', [1, 2, 2, 2, 4], -2, 5, true],
  ['shift past the end: no overlap', [2, 3, 2, 2, 1], 3, 3, true],
  ['shift before the start: no overlap', [1, 3, 1, 2, 2], -4, 4, true],
  ['first term, shift −1', [2, 3, 2, 3, 2], -1, 3, false],
  ['first term, shift +1, vec4 planes', [2, 4, 2, 2, 4], 1, 2, false],
  ['first term, no overlap', [1, 2, 2, 2, 1], -2, 2, false],
  ['first term, shift 0 (its gradient a share of dOut)', [1, 2, 2, 2, 3], 0, 2, false],
];

describe('addShiftedPlanes', () => {
  for (const [name, yShape, shift, depth, withSum] of CASES) {
    const outShape = [yShape[0], depth, ...yShape.slice(2)];
    const y = nd(uniform(size(yShape), 11), yShape);
    const sum = withSum ? nd(uniform(size(outShape), 12), outShape) : null;
    const dOut = nd(uniform(size(outShape), 13), outShape);
    const want = addShiftedPlanesBackwardRef(dOut, shift, yShape[1]);

    it(`${name}: the reference's backward matches finite differences`, () => {
      checkGrad(`${name} dY`, (v) => addShiftedPlanesRef(sum, nd(v, yShape), shift, depth), y.data, dOut.data, want.dY.data);
      if (sum) checkGrad(`${name} dSum`, (v) => addShiftedPlanesRef(nd(v, outShape), y, shift, depth), sum.data, dOut.data, want.dSum.data);
    });

    it(`${name}: GPU forward and backward match the reference`, async () => {
      const yt = fromNd(y.data, yShape, true);
      const st = sum ? fromNd(sum.data, outShape, true) : null;
      const out = addShiftedPlanes(st, yt, shift, withSum ? undefined : depth);
      expect(out.shape).toEqual(outShape);
      // Copies and one add per element: float32 rounding only.
      expectClose(`${name} forward`, await out.toArray(), addShiftedPlanesRef(sum, y, shift, depth).data);
      const dOutT = fromNd(dOut.data, outShape);
      out.backward(dOutT);
      expectClose(`${name} dY`, await yt.grad!.toArray(), want.dY.data);
      if (st) expectClose(`${name} dSum`, await st.grad!.toArray(), want.dSum.data);
      for (const t of [yt, st, out, dOutT]) t?.dispose();
    });
  }

  it('past the binding limit runs in chunks of samples, forward and backward', async () => {
    // 5 samples of y [3, 2, 2, 4] (192 bytes) into 4 planes (256 bytes): a 512-byte limit takes two
    // samples a chunk, their 192-byte offsets staged under the 256-byte alignment.
    const [yShape, outShape, shift] = [[5, 3, 2, 2, 4], [5, 4, 2, 2, 4], -1];
    const y = nd(uniform(size(yShape), 14), yShape);
    const sum = nd(uniform(size(outShape), 15), outShape);
    const dOut = nd(uniform(size(outShape), 16), outShape);
    const [yt, st, dOutT] = [fromNd(y.data, yShape, true), fromNd(sum.data, outShape, true), fromNd(dOut.data, outShape)];
    runtime().setBindingLimit(512, { offsetAlignment: 256 });
    const out = addShiftedPlanes(st, yt, shift);
    expectClose('chunked forward', await out.toArray(), addShiftedPlanesRef(sum, y, shift, 4).data);
    out.backward(dOutT);
    expectClose('chunked dY', await yt.grad!.toArray(), addShiftedPlanesBackwardRef(dOut, shift, 3).dY.data);
    for (const t of [yt, st, out, dOutT]) t.dispose();
  });

  it('an empty batch gives an empty result', () => {
    const y = dn.zeros([0, 3, 2, 2, 1]);
    const out = addShiftedPlanes(null, y, 1, 3);
    expect(out.shape).toEqual([0, 3, 2, 2, 1]);
    for (const t of [y, out]) t.dispose();
  });

  it('refuses a missing depth, a sum of another shape, a fractional shift and a rank other than 5', () => {
    const y = dn.zeros([1, 3, 2, 2, 2]);
    const [sumWide, sum4, y4] = [[1, 3, 2, 2, 3], [1, 4, 2, 2, 2], [1, 3, 2, 2]].map((s) => dn.zeros(s));
    const before = dn.memory().bytesInUse;
    expect(() => addShiftedPlanes(null, y, 0)).toThrow(dn.ArgumentError);
    expect(() => addShiftedPlanes(sumWide, y, 0)).toThrow(/^addShiftedPlanes: sum must be \[1,3,2,2,2\]/);
    expect(() => addShiftedPlanes(sum4, y, 0, 3)).toThrow(dn.ShapeError);
    expect(() => addShiftedPlanes(sum4, y, 0.5)).toThrow(dn.ArgumentError);
    expect(() => addShiftedPlanes(null, y4, 0, 3)).toThrow(dn.ShapeError);
    expect(() => addShiftedPlanes(null, y, 0, -1)).toThrow(dn.ArgumentError);
    expect(dn.memory().bytesInUse).toBe(before);
    for (const t of [y, sumWide, sum4, y4]) t.dispose();
  });
});
