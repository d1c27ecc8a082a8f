// focalLoss (probabilities) and sigmoidFocalLoss (logits) against their float64 references
// (forward and the gradient of p or z, for each reduction), the references' gradients against
// finite differences, the reductions to BCE at γ = 0 without α, stability at |z| = 50, exact
// predictions (1 − p_t = 0), and argument errors.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { focalLoss, sigmoidFocalLoss, type FocalLossOptions } from '../../src/kernels/focal-loss.js';
import { bceLoss, bceWithLogits, type Reduction } from '../../src/kernels/loss.js';
import { nd, type NdArray } from '../../src/reference/array.js';
import { focalBackwardRef, focalForwardRef, sigmoidFocalBackwardRef, sigmoidFocalForwardRef, type FocalRefOptions } from '../../src/reference/focal-loss.js';
import { expectClose } from '../helpers/close.js';
import { checkGrad } from '../helpers/finite-diff.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { expectMismatchedShapesRefused, f32, mask, runLossGpu, size } from '../helpers/loss-case.js';
import { uniform } from '../helpers/rng.js';

useGpu();

const KINDS = [
  {
    name: 'focalLoss',
    // Off the clamp (0.02 from 0 and 1), so finite differences see one smooth branch.
    input: (n: number, seed: number) => f32(uniform(n, seed, 0.02, 0.98)),
    gpu: (o: FocalLossOptions) => (p: dn.Tensor, y: dn.Tensor) => focalLoss(p, y, o),
    forward: focalForwardRef,
    backward: focalBackwardRef,
  },
  {
    name: 'sigmoidFocalLoss',
    input: (n: number, seed: number) => f32(uniform(n, seed, -4, 4)),
    gpu: (o: FocalLossOptions) => (z: dn.Tensor, y: dn.Tensor) => sigmoidFocalLoss(z, y, o),
    forward: sigmoidFocalForwardRef,
    backward: sigmoidFocalBackwardRef,
  },
] as const;

// Defaults, no α, α above ½, γ = 0 / 1 / non-integer (the exp-log power) and 2 (square), soft targets.
const CASES = [
  { shape: [2, 8, 8, 1], options: {}, soft: false },
  { shape: [3, 5, 7, 1], options: { alpha: null, gamma: 2, reduction: 'sum' }, soft: false },
  { shape: [2, 6, 6, 3], options: { alpha: 0.75, gamma: 1.5, reduction: 'none' }, soft: false },
  { shape: [4, 9], options: { alpha: 0.25, gamma: 0.5 }, soft: true },
  { shape: [1, 1, 1, 1], options: { alpha: 0.6, gamma: 1, reduction: 'none' }, soft: false },
  { shape: [2, 5, 5, 1], options: { alpha: 0.4, gamma: 0, reduction: 'mean' }, soft: true },
  { shape: [2, 40, 40, 1], options: { gamma: 3 }, soft: false },
] as const satisfies readonly { shape: number[]; options: FocalLossOptions; soft: boolean }[];

/** The reference's options: the op's documented defaults filled in. */
const refOptions = (o: FocalLossOptions): FocalRefOptions => ({
  alpha: o.alpha === undefined ? 0.25 : o.alpha,
  gamma: o.gamma ?? 2,
  reduction: o.reduction ?? 'mean',
  eps: o.eps ?? 1e-7,
});

for (const kind of KINDS) {
  describe(kind.name, () => {
    for (const [k, cs] of CASES.entries()) {
      const shape = [...cs.shape];
      const n = size(shape);
      const x = kind.input(n, 500 + k);
      const y = cs.soft ? f32(uniform(n, 600 + k, 0, 1)) : mask(n, 600 + k, 0.3);
      const ref = refOptions(cs.options);
      const dyFor = (m: number) => f32(uniform(m, 700 + k, 0.5, 1.5));
      const dyRef = (): NdArray => (ref.reduction === 'none' ? nd(dyFor(n), shape) : nd(dyFor(1), []));
      const title = `${kind.name} ${JSON.stringify(cs.shape)} ${JSON.stringify(cs.options)}${cs.soft ? ' soft targets' : ''}`;

      if (n < 1000) {
        it(`${title}: CPU backward matches finite differences`, () => {
          const dy = dyRef();
          const analytic = kind.backward(nd(x, shape), nd(y, shape), dy, ref);
          checkGrad(title, (v) => kind.forward(nd(v, shape), nd(y, shape), ref), x, dy.data, analytic.data);
        });
      }

      it(`${title}: GPU forward and backward match CPU`, async () => {
        const got = await runLossGpu(kind.gpu(cs.options), x, y, shape, dyFor);
        const want = kind.forward(nd(x, shape), nd(y, shape), ref);
        expect(got.lossShape).toEqual(want.shape);
        // Per element a few float32 ops (log, exp of γ·log q, products): ~1e-6 relative; the
        // means and sums of up to 3200 terms add about as much. The f32 defaults hold.
        expectClose(`${title} forward`, got.value, want.data);
        expectClose(`${title} backward`, got.grad, kind.backward(nd(x, shape), nd(y, shape), dyRef(), ref).data);
      });
    }
  });
}

describe('focal losses, special values', () => {
  const shape = [2, 3, 4, 1];
  const n = size(shape);
  const one = () => Float64Array.of(1);
  const ones = (m: number) => new Float64Array(m).fill(1);

  it('γ = 0 without α is BCE (probabilities and logits), for soft targets too', async () => {
    const p = f32(uniform(n, 800, 0.02, 0.98));
    const z = f32(uniform(n, 801, -5, 5));
    const y = f32(uniform(n, 802, 0, 1));
    const plain = { alpha: null, gamma: 0 } as const;
    const pairs = [
      [(a: dn.Tensor, b: dn.Tensor) => focalLoss(a, b, plain), (a: dn.Tensor, b: dn.Tensor) => bceLoss(a, b), p],
      [(a: dn.Tensor, b: dn.Tensor) => sigmoidFocalLoss(a, b, plain), (a: dn.Tensor, b: dn.Tensor) => bceWithLogits(a, b), z],
    ] as const;
    for (const [focal, bce, x] of pairs) {
      const got = await runLossGpu(focal, x, y, shape, one);
      const want = await runLossGpu(bce, x, y, shape, one);
      // The same BCE kernel under both; only the mean's order could differ.
      expectClose('focal γ=0 vs bce forward', got.value, want.value);
      expectClose('focal γ=0 vs bce backward', got.grad, want.grad);
    }
  });

  it('sigmoidFocalLoss(z) equals focalLoss(σ(z)) away from the clamp', async () => {
    const z = f32(uniform(n, 810, -3, 3));
    const y = mask(n, 811, 0.3);
    const p = f32(Array.from(z, (v) => 1 / (1 + Math.exp(-v))));
    const fromLogits = await runLossGpu((a, b) => sigmoidFocalLoss(a, b, { reduction: 'none' }), z, y, shape, ones);
    const fromProbs = await runLossGpu((a, b) => focalLoss(a, b, { reduction: 'none' }), p, y, shape, ones);
    // σ(z) rounded to float32 before the log: relative 1e-7 per element, times |log p| ≤ 3.
    expectClose('logits vs probabilities', fromLogits.value, fromProbs.value, { atol: 1e-6, rtol: 1e-5 });
  });

  it('sigmoidFocalLoss is finite and right at |z| = 50 (and 100)', async () => {
    const z = f32([50, -50, 50, -50, 100, -100, 100, -100]);
    const y = f32([1, 0, 0, 1, 1, 0, 0, 1]);
    const s = [2, 2, 2, 1];
    for (const reduction of ['none', 'mean'] as const) {
      const o = { reduction, gamma: 2, alpha: 0.25 };
      const got = await runLossGpu((a, b) => sigmoidFocalLoss(a, b, o), z, y, s, ones);
      expect([...got.value, ...got.grad].every(Number.isFinite)).toBe(true);
      const want = sigmoidFocalForwardRef(nd(z, s), nd(y, s), { ...o, alpha: 0.25 });
      expectClose(`|z| = 50 ${reduction} forward`, got.value, want.data);
      const dyNd = reduction === 'none' ? nd(ones(8), s) : nd([1], []);
      expectClose(`|z| = 50 ${reduction} backward`, got.grad, sigmoidFocalBackwardRef(nd(z, s), nd(y, s), dyNd, o).data);
      if (reduction === 'none') {
        // Confidently wrong: (1 − α)·1²·50 for a negative at z = 50, α·1²·50 for a positive at −50;
        // confidently right: about e^−150, 0 in float32.
        expectClose('|z| = 50 by hand', got.value.subarray(0, 4), [0, 0, 37.5, 12.5]);
      }
    }
  });

  it('exact predictions (1 − p_t = 0) give finite losses and gradients for γ < 1', async () => {
    const p = f32([0, 1, 1, 0, 0.5, 0.25]);
    const y = f32([0, 1, 0, 1, 1, 0]);
    const s = [1, 6];
    const o = { gamma: 0.5, alpha: 0.25, reduction: 'none' } as const;
    const got = await runLossGpu((a, b) => focalLoss(a, b, o), p, y, s, ones);
    expect([...got.value, ...got.grad].every(Number.isFinite)).toBe(true);
    // -log(1e-7) = 16.1 where the clamp bites: float32's log agrees to 1e-6 relative.
    expectClose('exact forward', got.value, focalForwardRef(nd(p, s), nd(y, s), o).data, { atol: 1e-5, rtol: 1e-5 });
    expectClose('exact backward', got.grad, focalBackwardRef(nd(p, s), nd(y, s), nd(ones(6), s), o).data);
  });

  it("gives the target its gradient without changing the prediction's (loss-target-grad.test.ts checks its values)", async () => {
    const z = uniform(8, 820, -2, 2);
    const y = mask(8, 821, 0.3);
    const grads: Float32Array[] = [];
    for (const targetGrad of [false, true]) {
      const zt = fromNd(z, [2, 4], true);
      const yt = fromNd(y, [2, 4], targetGrad);
      const loss = sigmoidFocalLoss(zt, yt);
      loss.backward();
      grads.push(await zt.grad!.toArray());
      expect(yt.grad === null).toBe(!targetGrad);
      for (const t of [zt, yt, loss]) t.dispose();
    }
    expect(grads[1]).toEqual(grads[0]);
  });
});

describe('focal loss argument checks', () => {
  const LOSSES = {
    focalLoss: (p: dn.Tensor, y: dn.Tensor, o?: FocalLossOptions) => focalLoss(p, y, o),
    sigmoidFocalLoss: (p: dn.Tensor, y: dn.Tensor, o?: FocalLossOptions) => sigmoidFocalLoss(p, y, o),
  };
  for (const [name, fn] of Object.entries(LOSSES)) {
    it(`${name}: mismatched shapes, bad options and operands are errors naming it, before allocating`, () => {
      const p = dn.zeros([2, 4, 4, 1]);
      const inUse = dn.memory().bytesInUse;
      const starts = new RegExp(`^${name}: `);
      expectMismatchedShapesRefused(name, fn, p);
      const bad: FocalLossOptions[] = [{ alpha: 1.5 }, { alpha: -0.25 }, { gamma: -1 }, { gamma: Number.NaN }, { reduction: 'max' as Reduction }];
      for (const o of bad) {
        expect(() => fn(p, p, o)).toThrow(dn.ArgumentError);
        expect(() => fn(p, p, o)).toThrow(starts);
      }
      expect(() => fn(p, p, { alpha: -1 })).toThrow(/alpha/);
      expect(() => fn(1 as unknown as dn.Tensor, p)).toThrow(dn.ArgumentError);
      expect(() => fn(p, p, 'mean' as unknown as FocalLossOptions)).toThrow(dn.ArgumentError);
      expect(dn.memory().bytesInUse).toBe(inUse);
      p.dispose();
    });
  }

  it('focalLoss checks eps', () => {
    const p = dn.zeros([2, 2]);
    for (const eps of [0, 0.5, -1e-7]) expect(() => focalLoss(p, p, { eps })).toThrow(/^focalLoss: eps/);
    p.dispose();
  });
});
