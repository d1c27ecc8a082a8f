import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import * as dn from '../../src/index.js';
import { runtime } from '../../src/gpu/runtime.js';
import { overrideRowKernelChoice, ROW_MIN_C, ROW_SPECS } from '../../src/kernels/softmax-rows.js';
import { logSoftmax, softmax, softmaxCrossEntropy, type CrossEntropyOptions } from '../../src/kernels/softmax.js';
import { nd, type NdArray } from '../../src/reference/array.js';
import {
  logSoftmaxBackwardRef,
  logSoftmaxRef,
  softmaxBackwardRef,
  softmaxCrossEntropyBackwardRef,
  softmaxCrossEntropyTargetBackwardRef,
  softmaxCrossEntropyRef,
  softmaxRef,
} from '../../src/reference/softmax.js';
import { expectClose, F32 } from '../helpers/close.js';
import { checkGrad } from '../helpers/finite-diff.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { withNarrowGrid } from '../helpers/narrow-grid.js';
import { rng, uniform } from '../helpers/rng.js';

useGpu();

// Tolerances: the house defaults (atol 1e-5, rtol 1e-4) throughout. Each output is a few exp/log
// of arguments up to ~200 (f32 exp and log are good to a few ulp) and row sums of at most 7 terms,
// or a reduction over up to 70000 rows in reduceMiddle's tree. Measured on lavapipe: worst errors
// of 0.35 x atol (the +-90 rows, values near 180) and under 0.1 x atol elsewhere; a 'sum' over
// 70000 rows is off by 8.6e-4 in 1.1e5, 1e-8 relative. The one change: a 'mean' gradient is
// 1/rows smaller (1.4e-5 at 70000 rows), so its atol is scaled by 1/rows too, else an all-zero
// gradient would pass; measured errors there are 4e-12, under 0.03 of the scaled atol.

/** The values the GPU sees: references run on the float32-rounded inputs. */
const f32 = (x: ArrayLike<number>): Float64Array => Float64Array.from(Float32Array.from(x));
const size = (shape: readonly number[]): number => shape.reduce((p, d) => p * d, 1);
/** Finite differences cost O(size^2): only for small cases. */
const SMALL = 1000;

type Targets = 'onehot' | 'soft' | 'unnormalised';

/** One row of C per pixel: a one-hot class, a random distribution, or weights that do not sum to 1. */
function targets(kind: Targets, rows: number, c: number, seed: number): Float64Array {
  const r = rng(seed);
  const out = new Float64Array(rows * c);
  for (let row = 0; row < rows; row++) {
    const w = Array.from({ length: c }, () => r());
    const total = w.reduce((a, b) => a + b, 0);
    const hot = Math.floor(r() * c);
    for (let k = 0; k < c; k++) out[row * c + k] = kind === 'onehot' ? Number(k === hot) : kind === 'soft' ? w[k] / total : w[k];
  }
  return f32(out);
}

const maybeNarrow = <T>(n: number, fn: () => Promise<T>): Promise<T> => (n > 65536 ? withNarrowGrid(fn) : fn());

/**
 * Runs fn with a spy on the runtime's dispatch; asserts that it dispatched every kernel in `ran`
 * and none in `notRan`. With `narrow`, on withNarrowGrid instead: every kernel in `ran`, 2-D.
 */
async function expectKernels<T>(ran: string[], notRan: string[], narrow: boolean, fn: () => Promise<T>): Promise<T> {
  if (narrow) return withNarrowGrid(fn, ran);
  const dispatch = vi.spyOn(runtime(), 'dispatch');
  try {
    const result = await fn();
    const names = dispatch.mock.calls.map(([spec]) => spec.name);
    for (const name of ran) expect(names, `${name} ran`).toContain(name);
    for (const name of notRan) expect(names, `${name} did not run`).not.toContain(name);
    return result;
  } finally {
    dispatch.mockRestore();
  }
}

// ---------------------------------------------------------------------------------------------

const NORMALISE_OPS = [
  { name: 'softmax', gpu: softmax, forward: softmaxRef, backward: softmaxBackwardRef },
  { name: 'logSoftmax', gpu: logSoftmax, forward: logSoftmaxRef, backward: logSoftmaxBackwardRef },
] as const;

const NORMALISE_CASES = [
  { shape: [5, 7], lo: -3, hi: 3 },
  { shape: [2, 4, 4, 3], lo: -3, hi: 3 },
  { shape: [6, 1], lo: -3, hi: 3 },
  { shape: [7], lo: -5, hi: 5 },
  { shape: [70000, 2], lo: -4, hi: 4 },
] as const;

/** The op on the GPU, then its backward for upstream dy (shape of x). */
async function runNormalise(op: (x: dn.Tensor) => dn.Tensor, x: Float64Array, shape: number[], dy: Float64Array) {
  const xt = fromNd(x, shape, true);
  const y = op(xt);
  const dyt = fromNd(dy, shape);
  y.backward(dyt);
  const out = await y.toArray();
  const grad = await xt.grad!.toArray();
  for (const t of [xt, y, dyt]) t.dispose();
  return { out, grad };
}

describe('softmax and logSoftmax', () => {
  for (const op of NORMALISE_OPS) {
    for (const [k, cs] of NORMALISE_CASES.entries()) {
      const shape = [...cs.shape];
      const n = size(shape);
      const x = f32(uniform(n, 100 + k, cs.lo, cs.hi));
      const dy = f32(uniform(n, 200 + k, -1, 1));
      const title = `${op.name} ${JSON.stringify(shape)}`;

      if (n < SMALL) {
        it(`${title}: CPU backward matches finite differences`, () => {
          checkGrad(title, (v) => op.forward(nd(v, shape)), x, dy, op.backward(nd(x, shape), nd(dy, shape)).data);
        });
      }

      it(`${title}: GPU forward and backward match CPU`, async () => {
        const got = await maybeNarrow(n, () => runNormalise(op.gpu, x, shape, dy));
        expectClose(`${title} forward`, got.out, op.forward(nd(x, shape)).data);
        expectClose(`${title} backward`, got.grad, op.backward(nd(x, shape), nd(dy, shape)).data);
      });
    }

    it(`${op.name} is stable for logits of +-90: finite, matches CPU`, async () => {
      const shape = [3, 4];
      const x = f32([90, -90, 0, 89.5, -90, -90, -89, -95, 90, 90, 90, 90]);
      const dy = f32(uniform(12, 300, -1, 1));
      const got = await runNormalise(op.gpu, x, shape, dy);
      expect([...got.out, ...got.grad].every(Number.isFinite)).toBe(true);
      expectClose(`${op.name} +-90 forward`, got.out, op.forward(nd(x, shape)).data);
      expectClose(`${op.name} +-90 backward`, got.grad, op.backward(nd(x, shape), nd(dy, shape)).data);
    });
  }
});

// ---------------------------------------------------------------------------------------------

const CE_CASES = [
  { shape: [5, 7], reduction: 'mean', targets: 'onehot', labelSmoothing: 0 },
  { shape: [5, 7], reduction: 'sum', targets: 'soft', labelSmoothing: 0 },
  { shape: [5, 7], reduction: 'none', targets: 'unnormalised', labelSmoothing: 0 },
  { shape: [2, 4, 4, 3], reduction: 'none', targets: 'onehot', labelSmoothing: 0 },
  { shape: [2, 4, 4, 3], reduction: 'mean', targets: 'onehot', labelSmoothing: 0.1 },
  { shape: [2, 4, 4, 3], reduction: 'sum', targets: 'soft', labelSmoothing: 0.1 },
  { shape: [4, 6], reduction: 'mean', targets: 'unnormalised', labelSmoothing: 0.1 },
  { shape: [6, 1], reduction: 'mean', targets: 'soft', labelSmoothing: 0 },
  { shape: [7], reduction: 'none', targets: 'soft', labelSmoothing: 1 },
  { shape: [70000, 2], reduction: 'mean', targets: 'onehot', labelSmoothing: 0.1 },
  { shape: [70000, 2], reduction: 'none', targets: 'soft', labelSmoothing: 0 },
] as const satisfies readonly { shape: number[]; reduction: CrossEntropyOptions['reduction']; targets: Targets; labelSmoothing: number }[];

/** The loss on the GPU, then its backward for upstream dy (shape of the loss); y requires a gradient too, and gets one. */
async function runCrossEntropy(z: Float64Array, y: Float64Array, shape: number[], options: CrossEntropyOptions, dy: (n: number) => Float64Array) {
  const zt = fromNd(z, shape, true);
  const yt = fromNd(y, shape, true);
  const loss = softmaxCrossEntropy(zt, yt, options);
  const lossShape = [...loss.shape];
  const values = await loss.toArray();
  const dyt = fromNd(dy(loss.size), lossShape);
  loss.backward(dyt);
  const grad = await zt.grad!.toArray();
  const targetGrad = await yt.grad!.toArray();
  for (const t of [zt, yt, loss, dyt]) t.dispose();
  return { lossShape, values, grad, targetGrad };
}

describe('softmaxCrossEntropy', () => {
  for (const [k, cs] of CE_CASES.entries()) {
    const shape = [...cs.shape];
    const n = size(shape);
    const c = shape[shape.length - 1];
    const rows = n / c;
    const z = f32(uniform(n, 400 + k, -4, 4));
    const y = targets(cs.targets, rows, c, 500 + k);
    const options = { reduction: cs.reduction, labelSmoothing: cs.labelSmoothing };
    const dyFor = (m: number) => f32(uniform(m, 600 + k, 0.5, 1.5));
    const dyRef = nd(dyFor(cs.reduction === 'none' ? rows : 1), cs.reduction === 'none' ? shape.slice(0, -1) : []);
    const title = `softmaxCrossEntropy ${JSON.stringify(shape)} ${cs.reduction} ${cs.targets} smoothing ${cs.labelSmoothing}`;
    const wantGrad = (): NdArray => softmaxCrossEntropyBackwardRef(nd(z, shape), nd(y, shape), dyRef, options);

    if (n < SMALL) {
      it(`${title}: CPU backward matches finite differences`, () => {
        checkGrad(title, (v) => softmaxCrossEntropyRef(nd(v, shape), nd(y, shape), options), z, dyRef.data, wantGrad().data);
      });
    }

    it(`${title}: GPU forward and backward match CPU`, async () => {
      const got = await maybeNarrow(n, () => runCrossEntropy(z, y, shape, options, dyFor));
      const want = softmaxCrossEntropyRef(nd(z, shape), nd(y, shape), options);
      expect(got.lossShape).toEqual(want.shape);
      expectClose(`${title} forward`, got.values, want.data);
      const gradScale = cs.reduction === 'mean' ? 1 / rows : 1;
      expectClose(`${title} backward`, got.grad, wantGrad().data, { atol: F32.atol * gradScale });
      // dL/dy = (1 - e) (lse - z) times the row's upstream: values up to about 10 (logits in
      // [-4, 4], 7 classes), scaled by 1/rows for a mean, as the logits' gradient is.
      const wantTarget = softmaxCrossEntropyTargetBackwardRef(nd(z, shape), nd(y, shape), dyRef, options);
      expectClose(`${title} target backward`, got.targetGrad, wantTarget.data, { atol: F32.atol * gradScale });
    });
  }

  it('is stable for logits of +-90, with the target on either end', async () => {
    const shape = [3, 4];
    const z = f32([90, -90, 0, 89.5, -90, -90, -89, -95, 90, -90, 90, -90]);
    const y = f32([0, 1, 0, 0, 0, 0, 0, 1, 0.5, 0, 0.5, 0]);
    for (const reduction of ['none', 'sum'] as const) {
      const options = { reduction, labelSmoothing: 0.1 };
      const dy = (m: number) => new Float64Array(m).fill(1);
      const got = await runCrossEntropy(z, y, shape, options, dy);
      expect([...got.values, ...got.grad].every(Number.isFinite)).toBe(true);
      expectClose(`+-90 ${reduction} forward`, got.values, softmaxCrossEntropyRef(nd(z, shape), nd(y, shape), options).data);
      const dyRef = nd(dy(reduction === 'none' ? 3 : 1), reduction === 'none' ? [3] : []);
      expectClose(`+-90 ${reduction} backward`, got.grad, softmaxCrossEntropyBackwardRef(nd(z, shape), nd(y, shape), dyRef, options).data);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// The workgroup-per-row kernels (softmax-rows.ts), which run from ROW_MIN_C classes on a GPU: the
// suites below choose kernels as on one, whatever the adapter (CPU adapters keep one thread per
// row). Tolerances: the house defaults. Row sums now take up to 1000 terms, in a tree of partial
// sums, and the losses reach ~7 (log 1000) and ~180 (+-90). Measured on lavapipe: worst errors of
// 0.17 x the allowed (logSoftmax's gradient at +-90) and under 0.04 x elsewhere; one thread per
// row, on the same cases, reached 0.19 and 0.08.

/** Within the calling describe: the row kernels chosen as on a GPU, or as on a CPU adapter. */
function chooseAs(kind: 'cpu' | 'gpu'): void {
  beforeAll(() => overrideRowKernelChoice(kind));
  afterAll(() => overrideRowKernelChoice(null));
}

const threadNames = (op: 'softmax' | 'logSoftmax' | 'softmaxCrossEntropy') => [`${op}.forward`, `${op}.backward`];
const rowNames = (op: keyof typeof ROW_SPECS) => [ROW_SPECS[op].forward.name, ROW_SPECS[op].backward.name];

/**
 * Four rows of c logits at +-90: uniform over [-90, 90]; -90 but one 90; all 90 (ties, so the
 * max is shared); 90 and -90 alternating. Any exp without the max subtracted overflows float32.
 */
function largeLogits(c: number, seed: number): Float64Array {
  const spread = uniform(c, seed, -90, 90);
  const rows = [spread, Array.from({ length: c }, (_, k) => (k === 7 ? 90 : -90)), new Array<number>(c).fill(90), Array.from({ length: c }, (_, k) => (k % 2 ? -90 : 90))];
  return f32(rows.flatMap((r) => Array.from(r)));
}

/**
 * Shapes of C >= ROW_MIN_C: few long rows, C not a multiple of the workgroup, +-90, and 130 rows
 * on withNarrowGrid (64 x 3 workgroups, the last 62 past the end).
 */
const ROW_CASES = [
  { shape: [3, 1000], large: false, narrow: false },
  { shape: [2, 2, 257], large: false, narrow: false },
  { shape: [4, 300], large: true, narrow: false },
  { shape: [130, 200], large: false, narrow: true },
] as const;

describe('softmax and logSoftmax, a workgroup per row', () => {
  chooseAs('gpu');
  for (const op of NORMALISE_OPS) {
    for (const [k, cs] of ROW_CASES.entries()) {
      const shape = [...cs.shape];
      const n = size(shape);
      const x = cs.large ? largeLogits(shape[shape.length - 1], 700 + k) : f32(uniform(n, 700 + k, -4, 4));
      const dy = f32(uniform(n, 800 + k, -1, 1));
      const title = `${op.name} ${JSON.stringify(shape)}${cs.large ? ' at +-90' : ''}${cs.narrow ? ' on the 2-D grid' : ''}`;

      it(`${title}: the workgroup kernels match CPU`, async () => {
        const got = await expectKernels(rowNames(op.name), threadNames(op.name), cs.narrow, () => runNormalise(op.gpu, x, shape, dy));
        expect([...got.out, ...got.grad].every(Number.isFinite)).toBe(true);
        expectClose(`${title} forward`, got.out, op.forward(nd(x, shape)).data);
        expectClose(`${title} backward`, got.grad, op.backward(nd(x, shape), nd(dy, shape)).data);
      });
    }
  }
});

const ROW_CE_CASES = [
  { shape: [3, 1000], reduction: 'mean', targets: 'onehot', labelSmoothing: 0.1, large: false, narrow: false },
  { shape: [3, 1000], reduction: 'sum', targets: 'soft', labelSmoothing: 0.1, large: false, narrow: false },
  { shape: [3, 1000], reduction: 'none', targets: 'unnormalised', labelSmoothing: 0.1, large: false, narrow: false },
  { shape: [2, 2, 257], reduction: 'none', targets: 'onehot', labelSmoothing: 0, large: false, narrow: false },
  { shape: [4, 300], reduction: 'none', targets: 'onehot', labelSmoothing: 0.1, large: true, narrow: false },
  { shape: [4, 300], reduction: 'sum', targets: 'soft', labelSmoothing: 0, large: true, narrow: false },
  { shape: [130, 200], reduction: 'mean', targets: 'onehot', labelSmoothing: 0.1, large: false, narrow: true },
  { shape: [130, 200], reduction: 'none', targets: 'soft', labelSmoothing: 0, large: false, narrow: true },
] as const satisfies readonly { shape: number[]; reduction: CrossEntropyOptions['reduction']; targets: Targets; labelSmoothing: number; large: boolean; narrow: boolean }[];

describe('softmaxCrossEntropy, a workgroup per row', () => {
  chooseAs('gpu');
  for (const [k, cs] of ROW_CE_CASES.entries()) {
    const shape = [...cs.shape];
    const n = size(shape);
    const c = shape[shape.length - 1];
    const rows = n / c;
    const z = cs.large ? largeLogits(c, 900 + k) : f32(uniform(n, 900 + k, -4, 4));
    const y = targets(cs.targets, rows, c, 1000 + k);
    const options = { reduction: cs.reduction, labelSmoothing: cs.labelSmoothing };
    const dyFor = (m: number) => f32(uniform(m, 1100 + k, 0.5, 1.5));
    const dyRef = nd(dyFor(cs.reduction === 'none' ? rows : 1), cs.reduction === 'none' ? shape.slice(0, -1) : []);
    const title = `softmaxCrossEntropy ${JSON.stringify(shape)} ${cs.reduction} ${cs.targets} smoothing ${cs.labelSmoothing}${cs.large ? ' at +-90' : ''}`;

    it(`${title}: the workgroup kernels match CPU`, async () => {
      const op = 'softmaxCrossEntropy';
      const got = await expectKernels(rowNames(op), threadNames(op), cs.narrow, () => runCrossEntropy(z, y, shape, options, dyFor));
      expect([...got.values, ...got.grad].every(Number.isFinite)).toBe(true);
      const want = softmaxCrossEntropyRef(nd(z, shape), nd(y, shape), options);
      expect(got.lossShape).toEqual(want.shape);
      expectClose(`${title} forward`, got.values, want.data);
      const gradScale = cs.reduction === 'mean' ? 1 / rows : 1;
      const wantGrad = softmaxCrossEntropyBackwardRef(nd(z, shape), nd(y, shape), dyRef, options);
      expectClose(`${title} backward`, got.grad, wantGrad.data, { atol: F32.atol * gradScale });
    });
  }
});

/** Softmax and cross-entropy (forward and backward) on [5, c]; asserts which kernels ran, and the values. */
async function expectVariant(c: number, rowed: boolean): Promise<void> {
  const shape = [5, c];
  const n = size(shape);
  const x = f32(uniform(n, 1200 + c, -4, 4));
  const dy = f32(uniform(n, 1300 + c, -1, 1));
  const y = targets('soft', 5, c, 1400 + c);
  const pick = (op: 'softmax' | 'softmaxCrossEntropy') => (rowed ? [rowNames(op), threadNames(op)] : [threadNames(op), rowNames(op)]);
  const [ran, notRan] = pick('softmax');
  const got = await expectKernels(ran, notRan, false, () => runNormalise(softmax, x, shape, dy));
  expectClose(`softmax C = ${c}`, got.out, softmaxRef(nd(x, shape)).data);
  const [ceRan, ceNotRan] = pick('softmaxCrossEntropy');
  const ce = await expectKernels(ceRan, ceNotRan, false, () => runCrossEntropy(x, y, shape, { reduction: 'sum' }, (m) => new Float64Array(m).fill(1)));
  expectClose(`softmaxCrossEntropy C = ${c}`, ce.values, softmaxCrossEntropyRef(nd(x, shape), nd(y, shape), { reduction: 'sum' }).data);
}

describe('the variant follows C on a GPU', () => {
  chooseAs('gpu');
  // 16 is segmentation's largest C: it must stay one thread per row.
  for (const c of [16, ROW_MIN_C - 1, ROW_MIN_C]) {
    const rowed = c >= ROW_MIN_C;
    it(`C = ${c}: ${rowed ? 'a workgroup' : 'one thread'} per row`, () => expectVariant(c, rowed));
  }
});

describe('CPU adapters keep one thread per row', () => {
  chooseAs('cpu');
  it('C = 1000: one thread per row', () => expectVariant(1000, false));
});

// ---------------------------------------------------------------------------------------------
// logSoftmax at large logits. It was x - (m + log s): m + log s rounds at m's magnitude (half an
// ulp of m: 3e-5 at 1e3, 4e-3 at 1e5, 0.03 at 1e6, where [m, m, m-1, m-2] gave -0.9375 for
// -0.91758). As (x - m) - log s, x - m is exact (Sterbenz: x within a factor 2 of m), s sums
// exp of arguments in [-25, 0] (WGSL's exp: 3 + 2|arg| ulp, 3e-6 relative at worst, on terms
// that are then tiny; 4e-7 on those near 1), and log s, s in [1, 100], is within 2^-21 absolute
// (WGSL's bound near 1) or 3 ulp: about 1e-6 absolute in all, then the subtraction's half ulp of
// |y| <= 26. Tolerance: atol 2e-6 and rtol 1e-6 (a few float32 ulps of y itself), 15x below the
// old error at m = 1e3 and 10^4 below it at 1e6. The backward reads exp(y): the house defaults.

/** Rows [m, m, m-1, m-2] and 100 values m - k/4, each at m: every value exact in float32 up to 2^22. */
function largeRows(maxima: readonly number[], c: number): Float64Array {
  return f32(maxima.flatMap((m) => (c === 4 ? [m, m, m - 1, m - 2] : Array.from({ length: c }, (_, k) => m - ((k * 37) % c) / 4))));
}
const MAXIMA = [1e3, 1e5, 1e6, -1e6];
const LARGE_TOL = { atol: 2e-6, rtol: 1e-6 };

for (const kind of ['cpu', 'gpu'] as const) {
  describe(`logSoftmax at row maxima up to 1e6, the row kernels as on a ${kind === 'cpu' ? 'CPU adapter' : 'GPU'}`, () => {
    chooseAs(kind);
    for (const c of [4, 100]) {
      const rowed = kind === 'gpu' && c >= ROW_MIN_C;
      it(`C = ${c} (${rowed ? 'a workgroup' : 'one thread'} per row): within a few ulps of the float64 reference`, async () => {
        const shape = [MAXIMA.length, c];
        const x = largeRows(MAXIMA, c);
        const dy = f32(uniform(x.length, 1500 + c, -1, 1));
        const [ran, notRan] = rowed ? [rowNames('logSoftmax'), threadNames('logSoftmax')] : [threadNames('logSoftmax'), rowNames('logSoftmax')];
        const got = await expectKernels(ran, notRan, false, () => runNormalise(logSoftmax, x, shape, dy));
        const want = logSoftmaxRef(nd(x, shape));
        if (c === 4) expect(want.data[0]).toBeCloseTo(-0.91758, 5);
        expectClose(`logSoftmax at large maxima, C = ${c}`, got.out, want.data, LARGE_TOL);
        expectClose(`logSoftmax backward at large maxima, C = ${c}`, got.grad, logSoftmaxBackwardRef(nd(x, shape), nd(dy, shape)).data);
      });
    }
  });
}

