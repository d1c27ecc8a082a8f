// softmax, logSoftmax and softmaxCrossEntropy at extreme but legitimate logits, against the
// float64 references: magnitudes of 1e3 to 1e4, rows of equal logits, rows with -inf masks (a
// masked class has probability 0 and gradient 0, and a target of 0 there adds nothing to the loss,
// as PyTorch's class-index cross-entropy), and a row of only -inf, which is NaN in every output of
// that row, as PyTorch's (README, multi-class). Each case runs on both row kernels: a thread per
// row and a workgroup per row (softmax-rows.ts), forced on this adapter, on rows of 5 and of 70
// classes.
//
// Tolerances: the house defaults (atol 1e-5, rtol 1e-4). x - m is exact at these magnitudes (both
// are float32 values within a factor of 2, or m - x is a float32 sum of two such), so each output
// is an exp or log of an exact argument plus one rounding of (x - m) - log s at |y| up to 2e4, where
// float32's ulp is 2e-3, 1e-7 relative: far inside rtol 1e-4. Non-finite values (-inf, +inf, NaN)
// must match the reference exactly.

import { afterAll, describe, expect, it } from 'vitest';
import { overrideRowKernelChoice } from '../../src/kernels/softmax-rows.js';
import { logSoftmax, softmax, softmaxCrossEntropy } from '../../src/kernels/softmax.js';
import { nd } from '../../src/reference/array.js';
import {
  logSoftmaxBackwardRef,
  logSoftmaxRef,
  softmaxBackwardRef,
  softmaxCrossEntropyBackwardRef,
  softmaxCrossEntropyRef,
  softmaxRef,
} from '../../src/reference/softmax.js';
import { expectClose } from '../helpers/close.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();
afterAll(() => overrideRowKernelChoice(null));

const f32 = (x: ArrayLike<number>): Float64Array => Float64Array.from(Float32Array.from(x));
const INF = Infinity;

/** Finite entries by expectClose; where the reference is not finite, the same value exactly (NaN included). */
function expectCloseOrSame(what: string, got: ArrayLike<number>, want: ArrayLike<number>): void {
  const finite = Array.from(want, (w) => Number.isFinite(w));
  for (let i = 0; i < want.length; i++) {
    if (!finite[i]) expect(Object.is(got[i], want[i]) || (Number.isNaN(got[i]) && Number.isNaN(want[i])), `${what}[${i}]: got ${got[i]}, want ${want[i]}`).toBe(true);
  }
  expectClose(what, Array.from(got).filter((_, i) => finite[i]), Array.from(want).filter((_, i) => finite[i]));
}

/**
 * Rows of c logits: huge and spread, huge and tied, all equal, masked (-inf at every third class),
 * masked and huge, and, last, the fully masked row. c >= 5.
 */
function extremeRows(c: number): { x: Float64Array; rows: number } {
  const noise = uniform(c, 7 + c, -3, 3);
  const rows = [
    Array.from({ length: c }, (_, k) => (k % 2 ? 1e4 : -1e4) + noise[k]),
    Array.from({ length: c }, (_, k) => (k < 2 ? 1e4 : 1e3 + noise[k])),
    Array.from({ length: c }, () => 1e3),
    Array.from({ length: c }, (_, k) => (k % 3 === 0 ? -INF : noise[k])),
    Array.from({ length: c }, (_, k) => (k % 3 === 1 ? -INF : 5e3 + noise[k])),
    Array.from({ length: c }, () => -INF),
  ];
  return { x: f32(rows.flat()), rows: rows.length };
}

/** A one-hot target per row on a class no mask covers (k = 2 mod 3). */
function targets(rows: number, c: number): Float64Array {
  const y = new Float64Array(rows * c);
  const choices = Math.floor((c - 3) / 3) + 1;
  for (let r = 0; r < rows; r++) y[r * c + 2 + 3 * (r % choices)] = 1;
  return y;
}

const KERNELS = ['cpu', 'gpu'] as const;
const CLASSES = [5, 70] as const;

describe('softmax and logSoftmax at extreme logits', () => {
  for (const kernels of KERNELS) {
    for (const c of CLASSES) {
      it(`${kernels} row kernels, C = ${c}: forward and backward match float64; masks get 0, a fully masked row NaN`, async () => {
        overrideRowKernelChoice(kernels);
        const { x, rows } = extremeRows(c);
        const shape = [rows, c];
        const dy = f32(uniform(rows * c, 11, -1, 1));
        for (const [name, op, forward, backward] of [
          ['softmax', softmax, softmaxRef, softmaxBackwardRef],
          ['logSoftmax', logSoftmax, logSoftmaxRef, logSoftmaxBackwardRef],
        ] as const) {
          const xt = fromNd(x, shape, true);
          const y = op(xt);
          const dyt = fromNd(dy, shape);
          y.backward(dyt);
          const got = await y.toArray();
          const grad = await xt.grad!.toArray();
          for (const t of [xt, y, dyt]) t.dispose();
          const title = `${name} ${kernels} C=${c}`;
          expectCloseOrSame(`${title} forward`, got, forward(nd(x, shape)).data);
          expectCloseOrSame(`${title} backward`, grad, backward(nd(x, shape), nd(dy, shape)).data);
          const last = (rows - 1) * c;
          for (let i = 0; i < last; i++) {
            expect(Number.isFinite(grad[i]), `${title}: gradient ${i} finite`).toBe(true);
            if (x[i] === -INF && name === 'softmax') expect(Object.is(got[i], 0) && grad[i] === 0, `${title}: masked ${i} gets 0`).toBe(true);
          }
          expect(Array.from(got.slice(last)).every(Number.isNaN), `${title}: the fully masked row is NaN`).toBe(true);
        }
      });
    }
  }
});

describe('softmaxCrossEntropy at extreme logits', () => {
  for (const kernels of KERNELS) {
    for (const c of CLASSES) {
      it(`${kernels} row kernels, C = ${c}: finite loss beside -inf masks, gradient 0 there; a fully masked row NaN`, async () => {
        overrideRowKernelChoice(kernels);
        const { x, rows } = extremeRows(c);
        const shape = [rows, c];
        const y = targets(rows, c);
        for (let r = 0; r < rows - 1; r++) expect(x[r * c + y.subarray(r * c, (r + 1) * c).indexOf(1)], `row ${r}'s target class is not masked`).not.toBe(-INF);
        const dy = f32(uniform(rows, 12, 0.5, 1.5));
        const zt = fromNd(x, shape, true);
        const yt = fromNd(y, shape);
        const loss = softmaxCrossEntropy(zt, yt, { reduction: 'none' });
        const dyt = fromNd(dy, [rows]);
        loss.backward(dyt);
        const got = await loss.toArray();
        const grad = await zt.grad!.toArray();
        for (const t of [zt, yt, loss, dyt]) t.dispose();
        const title = `softmaxCrossEntropy ${kernels} C=${c}`;
        const want = softmaxCrossEntropyRef(nd(x, shape), nd(y, shape), { reduction: 'none' }).data;
        // The reference's own check: a masked row's loss is finite (before the fix, 0 * inf gave NaN here too).
        expect(Number.isFinite(want[3]) && Number.isFinite(want[4]), 'reference: masked rows finite').toBe(true);
        expectCloseOrSame(`${title} forward`, got, want);
        expectCloseOrSame(`${title} backward`, grad, softmaxCrossEntropyBackwardRef(nd(x, shape), nd(y, shape), nd(dy, [rows]), { reduction: 'none' }).data);
        for (let i = 0; i < (rows - 1) * c; i++) if (x[i] === -INF) expect(grad[i], `${title}: masked ${i}`).toBe(0);
        expect(Number.isNaN(got[rows - 1]), `${title}: the fully masked row's loss is NaN`).toBe(true);
      });
    }
  }

  it('with label smoothing a masked class is a target too: the loss is +inf, as the math (and PyTorch) says', async () => {
    overrideRowKernelChoice(null);
    const z = f32([1, -INF, 2, 0]);
    const zt = fromNd(z, [1, 4]);
    const yt = fromNd([1, 0, 0, 0], [1, 4]);
    const loss = softmaxCrossEntropy(zt, yt, { reduction: 'none', labelSmoothing: 0.1 });
    const [got] = await loss.toArray();
    for (const t of [zt, yt, loss]) t.dispose();
    expect(got).toBe(INF);
    expect(softmaxCrossEntropyRef(nd(z, [1, 4]), nd(f32([1, 0, 0, 0]), [1, 4]), { reduction: 'none', labelSmoothing: 0.1 }).data[0]).toBe(INF);
  });
});
