import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { bceDiceLoss, bceLoss, bceWithLogits, diceLoss, type Reduction } from '../../src/kernels/loss.js';
import { nd, type NdArray } from '../../src/reference/array.js';
import {
  bceBackwardRef,
  bceDiceBackwardRef,
  bceDiceForwardRef,
  bceForwardRef,
  bceWithLogitsBackwardRef,
  bceWithLogitsForwardRef,
  diceBackwardRef,
  diceForwardRef,
} from '../../src/reference/loss.js';
import { expectClose } from '../helpers/close.js';
import { checkGrad } from '../helpers/finite-diff.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { rng, uniform } from '../helpers/rng.js';

useGpu();

/** The values the GPU sees: references run on the float32-rounded inputs. */
const f32 = (x: ArrayLike<number>): Float64Array => Float64Array.from(Float32Array.from(x));

/** A binary mask with about `fill` of its pixels set. */
function mask(n: number, seed: number, fill = 0.4): Float64Array {
  const r = rng(seed);
  return Float64Array.from({ length: n }, () => (r() < fill ? 1 : 0));
}

const size = (shape: readonly number[]): number => shape.reduce((p, d) => p * d, 1);

interface GpuResult {
  lossShape: number[];
  loss: Float32Array;
  grad: Float32Array;
}

/** Runs a loss on the GPU, then its backward with upstream gradient dy (shaped like the loss). */
async function runGpu(
  fn: (p: dn.Tensor, y: dn.Tensor) => dn.Tensor,
  p: Float64Array,
  y: Float64Array,
  shape: readonly number[],
  dy: (lossSize: number) => Float64Array,
): Promise<GpuResult> {
  const pt = fromNd(p, [...shape], true);
  const yt = fromNd(y, [...shape]);
  const loss = fn(pt, yt);
  const lossShape = [...loss.shape];
  const values = await loss.toArray();
  const dyt = fromNd(dy(loss.size), lossShape);
  loss.backward(dyt);
  const grad = await pt.grad!.toArray();
  for (const t of [pt, yt, loss, dyt]) t.dispose();
  return { lossShape, loss: values, grad };
}

const scalar = (v: number): NdArray => nd([v], []);

// ---------------------------------------------------------------------------------------------

const BCE_CASES = [
  { shape: [2, 8, 8, 1], reduction: 'mean', soft: false },
  { shape: [3, 5, 7, 1], reduction: 'mean', soft: true },
  { shape: [1, 1, 1, 1], reduction: 'mean', soft: false },
  { shape: [3, 5, 7, 1], reduction: 'sum', soft: false },
  { shape: [2, 8, 8, 1], reduction: 'none', soft: true },
  { shape: [1, 1, 1, 1], reduction: 'none', soft: false },
] as const satisfies readonly { shape: number[]; reduction: Reduction; soft: boolean }[];

const BCE_KINDS = [
  {
    name: 'bceLoss',
    // Probabilities kept 0.02 away from 0 and 1: off the clamp, so finite differences see one smooth branch.
    input: (n: number, seed: number) => f32(uniform(n, seed, 0.02, 0.98)),
    gpu: (reduction: Reduction) => (p: dn.Tensor, y: dn.Tensor) => bceLoss(p, y, { reduction }),
    forward: (p: NdArray, y: NdArray, reduction: Reduction) => bceForwardRef(p, y, 1e-7, reduction),
    backward: (p: NdArray, y: NdArray, dy: NdArray, reduction: Reduction) => bceBackwardRef(p, y, dy, 1e-7, reduction),
  },
  {
    name: 'bceWithLogits',
    input: (n: number, seed: number) => f32(uniform(n, seed, -4, 4)),
    gpu: (reduction: Reduction) => (z: dn.Tensor, y: dn.Tensor) => bceWithLogits(z, y, { reduction }),
    forward: bceWithLogitsForwardRef,
    backward: bceWithLogitsBackwardRef,
  },
] as const;

describe('binary cross-entropy', () => {
  for (const kind of BCE_KINDS) {
    for (const [k, cs] of BCE_CASES.entries()) {
      const n = size(cs.shape);
      const shape = [...cs.shape];
      const x = kind.input(n, 10 + k);
      const y = cs.soft ? f32(uniform(n, 20 + k, 0, 1)) : mask(n, 20 + k);
      const dyFor = (m: number) => f32(uniform(m, 30 + k, 0.5, 1.5));
      const title = `${kind.name} ${JSON.stringify(cs.shape)} ${cs.reduction}${cs.soft ? ' soft targets' : ''}`;
      const dyRef = (m: number) => (cs.reduction === 'none' ? nd(dyFor(m), shape) : scalar(dyFor(1)[0]));

      it(`${title}: CPU backward matches finite differences`, () => {
        const dy = dyRef(n);
        const analytic = kind.backward(nd(x, shape), nd(y, shape), dy, cs.reduction);
        checkGrad(title, (v) => kind.forward(nd(v, shape), nd(y, shape), cs.reduction), x, dy.data, analytic.data);
      });

      it(`${title}: GPU forward and backward match CPU`, async () => {
        const got = await runGpu(kind.gpu(cs.reduction), x, y, shape, dyFor);
        const want = kind.forward(nd(x, shape), nd(y, shape), cs.reduction);
        expect(got.lossShape).toEqual(want.shape);
        expectClose(`${title} forward`, got.loss, want.data);
        const wantGrad = kind.backward(nd(x, shape), nd(y, shape), dyRef(n), cs.reduction);
        expectClose(`${title} backward`, got.grad, wantGrad.data);
      });
    }
  }

  it('bceLoss clamps probabilities at 0 and 1: finite loss, zero gradient where clamped', async () => {
    // 1 - 1e-9 rounds to 1 in float32; f32() gives the reference the same inputs.
    const p = f32([0, 1, 1e-9, 1 - 1e-9, 0.3, 0.7, 0, 1]);
    const y = f32([0, 1, 1, 0, 1, 0, 1, 0]);
    const shape = [2, 2, 2, 1];
    const got = await runGpu((a, b) => bceLoss(a, b, { reduction: 'none' }), p, y, shape, (m) => new Float64Array(m).fill(1));
    const want = bceForwardRef(nd(p, shape), nd(y, shape), 1e-7, 'none');
    expect(got.loss.every(Number.isFinite)).toBe(true);
    // -log(1e-7) = 16.1 where the clamp bites; float32's log and eps agree with float64 to 1e-6 relative.
    expectClose('bce clamp forward', got.loss, want.data, { atol: 1e-5, rtol: 1e-5 });
    const wantGrad = bceBackwardRef(nd(p, shape), nd(y, shape), nd(new Float64Array(8).fill(1), shape), 1e-7, 'none');
    expectClose('bce clamp backward', got.grad, wantGrad.data);
    expect([...got.grad].map((g, i) => (i === 4 || i === 5 ? g !== 0 : g === 0))).toEqual(new Array(8).fill(true));
  });

  it('bceWithLogits is stable for |z| = 40 and 100: no NaN or Inf, matches CPU', async () => {
    const z = f32([40, -40, 40, -40, 100, -100, 100, -100]);
    const y = f32([1, 0, 0, 1, 1, 0, 0, 1]);
    const shape = [2, 2, 2, 1];
    for (const reduction of ['none', 'mean'] as const) {
      const dyFor = (m: number) => new Float64Array(m).fill(1);
      const got = await runGpu((a, b) => bceWithLogits(a, b, { reduction }), z, y, shape, dyFor);
      expect([...got.loss, ...got.grad].every(Number.isFinite)).toBe(true);
      const want = bceWithLogitsForwardRef(nd(z, shape), nd(y, shape), reduction);
      expectClose(`bceWithLogits large |z| ${reduction} forward`, got.loss, want.data);
      const dy = reduction === 'none' ? nd(dyFor(8), shape) : scalar(1);
      const wantGrad = bceWithLogitsBackwardRef(nd(z, shape), nd(y, shape), dy, reduction);
      expectClose(`bceWithLogits large |z| ${reduction} backward`, got.grad, wantGrad.data);
    }
  });
});

// ---------------------------------------------------------------------------------------------

const DICE_CASES = [
  { shape: [2, 8, 8, 1], perSample: false, smooth: 1 },
  { shape: [2, 8, 8, 1], perSample: true, smooth: 1 },
  { shape: [3, 5, 7, 1], perSample: false, smooth: 0.5 },
  { shape: [3, 5, 7, 1], perSample: true, smooth: 1 },
  { shape: [1, 1, 1, 1], perSample: false, smooth: 1 },
  { shape: [1, 1, 1, 1], perSample: true, smooth: 1e-3 },
  { shape: [4, 6], perSample: true, smooth: 1 },
  // Multi-class: one Dice per channel of the last axis (and per sample), averaged.
  { shape: [2, 5, 5, 3], perSample: false, perChannel: true, smooth: 1 },
  { shape: [2, 5, 5, 3], perSample: true, perChannel: true, smooth: 0.5 },
  { shape: [3, 4], perSample: false, perChannel: true, smooth: 1 },
] as const;

/** Groups larger than one workgroup's chunk (4096): the sums go through the second reduction. */
const DICE_LARGE_CASES = [
  { shape: [2, 70, 70, 1], perSample: true, smooth: 1 },
  { shape: [2, 70, 70, 1], perSample: false, smooth: 1 },
  // 6400 elements per channel, 3 apart: two chunks of strided reads per group.
  { shape: [1, 80, 80, 3], perSample: true, perChannel: true, smooth: 1 },
] as const;

describe('soft Dice', () => {
  for (const [k, cs] of [...DICE_CASES, ...DICE_LARGE_CASES].entries()) {
    const n = size(cs.shape);
    const shape = [...cs.shape];
    const p = f32(uniform(n, 40 + k, 0, 1));
    const y = mask(n, 50 + k);
    const dy = 0.75;
    const perChannel = 'perChannel' in cs && cs.perChannel;
    const title = `diceLoss ${JSON.stringify(cs.shape)} ${cs.perSample ? 'per sample' : 'batch'}${perChannel ? ' per channel' : ''} smooth ${cs.smooth}`;
    const options = { smooth: cs.smooth, perSample: cs.perSample, perChannel };

    if (n < 1000) {
      it(`${title}: CPU backward matches finite differences`, () => {
        const analytic = diceBackwardRef(nd(p, shape), nd(y, shape), dy, cs.smooth, cs.perSample, perChannel);
        const forward = (v: Float64Array) => scalar(diceForwardRef(nd(v, shape), nd(y, shape), cs.smooth, cs.perSample, perChannel));
        checkGrad(title, forward, p, Float64Array.of(dy), analytic.data);
      });
    }

    it(`${title}: GPU forward and backward match CPU`, async () => {
      const got = await runGpu((a, b) => diceLoss(a, b, options), p, y, shape, () => Float64Array.of(dy));
      expect(got.lossShape).toEqual([]);
      // Sums of up to 9800 float32 terms in tree order against a float64 loop: about 1e-6 relative.
      expectClose(`${title} forward`, got.loss, [diceForwardRef(nd(p, shape), nd(y, shape), cs.smooth, cs.perSample, perChannel)]);
      const wantGrad = diceBackwardRef(nd(p, shape), nd(y, shape), dy, cs.smooth, cs.perSample, perChannel);
      expectClose(`${title} backward`, got.grad, wantGrad.data);
    });
  }

  for (const perSample of [false, true]) {
    it(`all-zero masks stay finite with smooth (${perSample ? 'per sample' : 'batch'})`, async () => {
      const shape = [2, 3, 3, 1];
      const zeros = new Float64Array(18);
      const p = f32(uniform(18, 60, 0, 1));
      for (const pred of [zeros, p]) {
        const got = await runGpu((a, b) => diceLoss(a, b, { perSample }), pred, zeros, shape, () => Float64Array.of(1));
        expect([...got.loss, ...got.grad].every(Number.isFinite)).toBe(true);
        expectClose('dice empty forward', got.loss, [diceForwardRef(nd(pred, shape), nd(zeros, shape), 1, perSample)]);
        expectClose('dice empty backward', got.grad, diceBackwardRef(nd(pred, shape), nd(zeros, shape), 1, 1, perSample).data);
      }
    });
  }
});

// ---------------------------------------------------------------------------------------------

const BCE_DICE_CASES = [
  { shape: [2, 8, 8, 1], options: {} },
  { shape: [3, 5, 7, 1], options: { bceWeight: 0.5, diceWeight: 2, perSample: true } },
  { shape: [2, 4, 4, 3], options: { bceWeight: 1, diceWeight: 1, perChannel: true } },
  { shape: [1, 1, 1, 1], options: { bceWeight: 2, diceWeight: 0.25, smooth: 0.1 } },
] as const;

describe('bceDiceLoss', () => {
  for (const [k, cs] of BCE_DICE_CASES.entries()) {
    const n = size(cs.shape);
    const shape = [...cs.shape];
    const p = f32(uniform(n, 70 + k, 0.02, 0.98));
    const y = mask(n, 80 + k);
    const dy = 1.25;
    const title = `bceDiceLoss ${JSON.stringify(cs.shape)} ${JSON.stringify(cs.options)}`;

    it(`${title}: CPU backward matches finite differences`, () => {
      const analytic = bceDiceBackwardRef(nd(p, shape), nd(y, shape), dy, cs.options);
      const forward = (v: Float64Array) => scalar(bceDiceForwardRef(nd(v, shape), nd(y, shape), cs.options));
      checkGrad(title, forward, p, Float64Array.of(dy), analytic.data);
    });

    it(`${title}: GPU forward and backward match CPU`, async () => {
      const got = await runGpu((a, b) => bceDiceLoss(a, b, cs.options), p, y, shape, () => Float64Array.of(dy));
      expectClose(`${title} forward`, got.loss, [bceDiceForwardRef(nd(p, shape), nd(y, shape), cs.options)]);
      expectClose(`${title} backward`, got.grad, bceDiceBackwardRef(nd(p, shape), nd(y, shape), dy, cs.options).data);
    });
  }
});

describe('loss argument checks', () => {
  const LOSSES = {
    bceLoss: (p: dn.Tensor, y: dn.Tensor) => bceLoss(p, y),
    bceWithLogits: (p: dn.Tensor, y: dn.Tensor) => bceWithLogits(p, y),
    diceLoss: (p: dn.Tensor, y: dn.Tensor) => diceLoss(p, y),
    bceDiceLoss: (p: dn.Tensor, y: dn.Tensor) => bceDiceLoss(p, y),
  };
  for (const [name, fn] of Object.entries(LOSSES)) {
    it(`${name} rejects mismatched shapes with ShapeError`, () => {
      const before = dn.memory().bytesInUse;
      const p = dn.zeros([2, 4, 4, 1]);
      for (const shape of [[2, 4, 4, 2], [1, 4, 4, 1], [2, 16]]) {
        const y = dn.zeros(shape);
        expect(() => fn(p, y)).toThrow(dn.ShapeError);
        y.dispose();
      }
      p.dispose();
      expect(dn.memory().bytesInUse).toBe(before);
    });
  }

  it('rejects bad options with ShapeError', () => {
    const p = dn.zeros([1, 2, 2, 1]);
    const y = dn.zeros([1, 2, 2, 1]);
    expect(() => bceLoss(p, y, { eps: 0 })).toThrow(dn.ShapeError);
    expect(() => bceLoss(p, y, { reduction: 'max' as Reduction })).toThrow(dn.ShapeError);
    expect(() => bceWithLogits(p, y, { reduction: 'avg' as Reduction })).toThrow(dn.ShapeError);
    expect(() => diceLoss(p, y, { smooth: -1 })).toThrow(dn.ShapeError);
    expect(() => bceDiceLoss(p, y, { bceWeight: Number.NaN })).toThrow(dn.ShapeError);
    p.dispose();
    y.dispose();
  });

  it('Dice rejects a tensor without a batch dimension, before allocating', () => {
    const before = dn.memory().bytesInUse;
    const p = dn.tensor([0.5], []);
    const y = dn.tensor([1], []);
    const inUse = dn.memory().bytesInUse;
    expect(() => diceLoss(p, y)).toThrow(dn.ShapeError);
    expect(() => bceDiceLoss(p, y)).toThrow(dn.ShapeError);
    expect(dn.memory().bytesInUse).toBe(inUse);
    p.dispose();
    y.dispose();
    expect(dn.memory().bytesInUse).toBe(before);
  });
});
