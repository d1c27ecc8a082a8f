// Tversky and focal Tversky against their float64 references (forward and dL/dp), the references'
// gradients against finite differences, Tversky at α = β = ½ against diceLoss, empty masks,
// grouping by sample and channel, and argument errors.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { diceLoss } from '../../src/kernels/loss.js';
import { focalTverskyLoss, tverskyLoss, type FocalTverskyOptions } from '../../src/kernels/overlap-loss.js';
import { nd } from '../../src/reference/array.js';
import { diceForwardRef } from '../../src/reference/loss.js';
import { tverskyBackwardRef, tverskyForwardRef, type TverskyRefOptions } from '../../src/reference/overlap-loss.js';
import { expectClose } from '../helpers/close.js';
import { checkGrad } from '../helpers/finite-diff.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { expectMismatchedShapesRefused, f32, mask, runLossGpu, size } from '../helpers/loss-case.js';
import { uniform } from '../helpers/rng.js';

useGpu();

type Kind = 'tversky' | 'focalTversky';

/** The GPU op with the options the reference sees: defaults filled in as each op documents them. */
function resolve(kind: Kind, o: FocalTverskyOptions): { gpu: (p: dn.Tensor, y: dn.Tensor) => dn.Tensor; ref: TverskyRefOptions } {
  const focal = kind === 'focalTversky';
  const ref = {
    alpha: o.alpha ?? (focal ? 0.3 : 0.5),
    beta: o.beta ?? (focal ? 0.7 : 0.5),
    smooth: o.smooth ?? 1,
    perSample: o.perSample,
    perChannel: o.perChannel,
    gamma: focal ? (o.gamma ?? 0.75) : undefined,
  };
  // tverskyLoss refuses gamma (focalTverskyLoss's), which the shared cases carry.
  const plain = Object.fromEntries(Object.entries(o).filter(([k]) => k !== 'gamma'));
  return { gpu: (p, y) => (focal ? focalTverskyLoss(p, y, o) : tverskyLoss(p, y, plain)), ref };
}

/** Loss and dL/dp on the GPU, for a scalar upstream dy. */
const runGpu = (fn: (p: dn.Tensor, y: dn.Tensor) => dn.Tensor, p: Float64Array, y: Float64Array, shape: number[], dy: number) =>
  runLossGpu(fn, p, y, shape, () => Float64Array.of(dy));

// α ≠ β everywhere but the defaults, and masks with FP ≠ FN, so a swap of α and β shows.
const CASES = [
  { shape: [2, 8, 8, 1], options: {} },
  { shape: [2, 8, 8, 1], options: { alpha: 0.7, beta: 0.3, perSample: true } },
  { shape: [3, 5, 7, 1], options: { alpha: 0.2, beta: 0.9, smooth: 0.5 } },
  { shape: [1, 1, 1, 1], options: { alpha: 0.6, beta: 0.1, perSample: true, smooth: 1e-3 } },
  { shape: [4, 6], options: { alpha: 0.25, beta: 0.75, perSample: true } },
  // Several classes: one index per channel of the last axis (and per sample), averaged.
  { shape: [2, 5, 5, 3], options: { alpha: 0.4, beta: 0.8, perChannel: true } },
  { shape: [2, 5, 5, 3], options: { alpha: 0.3, beta: 0.7, perSample: true, perChannel: true, gamma: 1.5 } },
  { shape: [3, 4], options: { alpha: 1, beta: 0, perChannel: true, gamma: 0.5 } },
  // Groups of 4096+ elements: the sums' reduction runs over many threads' partial sums.
  { shape: [2, 64, 66, 1], options: { alpha: 0.35, beta: 0.65, perSample: true, gamma: 2 } },
] as const satisfies readonly { shape: number[]; options: FocalTverskyOptions }[];

for (const kind of ['tversky', 'focalTversky'] as const) {
  describe(kind, () => {
    for (const [k, cs] of CASES.entries()) {
      const shape = [...cs.shape];
      const n = size(shape);
      const p = f32(uniform(n, 100 + k, 0.02, 0.98));
      const y = mask(n, 200 + k, 0.4);
      const dy = 0.8;
      const { gpu, ref } = resolve(kind, cs.options);
      const title = `${kind} ${JSON.stringify(cs.shape)} ${JSON.stringify(cs.options)}`;

      if (n < 1000) {
        it(`${title}: CPU backward matches finite differences`, () => {
          const analytic = tverskyBackwardRef(nd(p, shape), nd(y, shape), dy, ref);
          const forward = (v: Float64Array) => nd([tverskyForwardRef(nd(v, shape), nd(y, shape), ref)], []);
          checkGrad(title, forward, p, Float64Array.of(dy), analytic.data);
        });
      }

      it(`${title}: GPU forward and backward match CPU`, async () => {
        const got = await runGpu(gpu, p, y, shape, dy);
        expect(got.lossShape).toEqual([]);
        // float32 sums of up to 4224 terms against float64 loops, then a division and (focal) a
        // power by exp(γ log u): about 1e-6 relative, inside the f32 defaults.
        expectClose(`${title} forward`, got.value, [tverskyForwardRef(nd(p, shape), nd(y, shape), ref)]);
        expectClose(`${title} backward`, got.grad, tverskyBackwardRef(nd(p, shape), nd(y, shape), dy, ref).data);
      });
    }

    for (const perSample of [false, true]) {
      it(`empty masks stay finite (${perSample ? 'per sample' : 'batch'})`, async () => {
        const shape = [2, 3, 3, 1];
        const zeros = new Float64Array(18);
        const { gpu, ref } = resolve(kind, { perSample });
        for (const pred of [zeros, f32(uniform(18, 300, 0, 1))]) {
          const got = await runGpu(gpu, pred, zeros, shape, 1);
          expect([...got.value, ...got.grad].every(Number.isFinite)).toBe(true);
          expectClose(`${kind} empty forward`, got.value, [tverskyForwardRef(nd(pred, shape), nd(zeros, shape), ref)]);
          expectClose(`${kind} empty backward`, got.grad, tverskyBackwardRef(nd(pred, shape), nd(zeros, shape), 1, ref).data);
        }
        // Nothing predicted where nothing is: a perfect score, loss 0.
        const perfect = await runGpu(gpu, zeros, zeros, shape, 1);
        expect(perfect.value[0]).toBeCloseTo(0, 6);
      });
    }

    it('a perfect binary prediction scores 0 with a finite gradient', async () => {
      const shape = [2, 4, 4, 2];
      const y = mask(size(shape), 310, 0.4);
      const { gpu, ref } = resolve(kind, { perSample: true, perChannel: true });
      const got = await runGpu(gpu, y, y, shape, 1);
      expect(got.grad.every(Number.isFinite)).toBe(true);
      // The focal power's floor (1e-30)^0.75 = 3e-23 stands in for 0.
      expectClose(`${kind} perfect forward`, got.value, [0]);
      expectClose(`${kind} perfect backward`, got.grad, tverskyBackwardRef(nd(y, shape), nd(y, shape), 1, ref).data);
    });

    it("gives the target its gradient without changing the prediction's (loss-target-grad.test.ts checks its values)", async () => {
      const p = uniform(16, 320, 0.1, 0.9);
      const y = mask(16, 321, 0.4);
      const grads: Float32Array[] = [];
      for (const targetGrad of [false, true]) {
        const pt = fromNd(p, [2, 2, 2, 2], true);
        const yt = fromNd(y, [2, 2, 2, 2], targetGrad);
        const loss = resolve(kind, { perChannel: true }).gpu(pt, yt);
        loss.backward();
        grads.push(await pt.grad!.toArray());
        expect(yt.grad === null).toBe(!targetGrad);
        for (const t of [pt, yt, loss]) t.dispose();
      }
      expect(grads[1]).toEqual(grads[0]);
    });
  });
}

describe('tversky at alpha = beta = 1/2 is Dice', () => {
  const shape = [3, 6, 5, 2];
  const n = size(shape);
  const p = f32(uniform(n, 400, 0, 1));
  const y = mask(n, 401, 0.4);
  for (const perSample of [false, true]) {
    for (const perChannel of [false, true]) {
      it(`perSample ${perSample}, perChannel ${perChannel}: tversky smooth s = dice smooth 2s; equal at s = 0`, async () => {
        for (const s of [0, 0.5, 1]) {
          const half = { alpha: 0.5, beta: 0.5, smooth: s, perSample, perChannel };
          const want = diceForwardRef(nd(p, shape), nd(y, shape), 2 * s, perSample, perChannel);
          // The references first: exact in float64.
          expect(Math.abs(tverskyForwardRef(nd(p, shape), nd(y, shape), half) - want)).toBeLessThan(1e-12);
          const tv = await runGpu((a, b) => tverskyLoss(a, b, half), p, y, shape, 1);
          const dice = await runGpu((a, b) => diceLoss(a, b, { smooth: 2 * s, perSample, perChannel }), p, y, shape, 1);
          // Two float32 paths (composed sums vs the fused Dice kernel) over 90-element groups.
          expectClose(`tversky vs dice s=${s} forward`, tv.value, dice.value);
          expectClose(`tversky vs dice s=${s} backward`, tv.grad, dice.grad);
        }
      });
    }
  }
});

describe('overlap loss argument checks', () => {
  const LOSSES = {
    tverskyLoss: (p: dn.Tensor, y: dn.Tensor, o?: FocalTverskyOptions) => tverskyLoss(p, y, o),
    focalTverskyLoss: (p: dn.Tensor, y: dn.Tensor, o?: FocalTverskyOptions) => focalTverskyLoss(p, y, o),
  };
  for (const [name, fn] of Object.entries(LOSSES)) {
    it(`${name}: mismatched shapes, bad options and operands are errors naming it, before allocating`, () => {
      const p = dn.zeros([2, 4, 4, 1]);
      const flat = dn.zeros([6]);
      const scalar = dn.tensor([0.5], []);
      const inUse = dn.memory().bytesInUse;
      const starts = new RegExp(`^${name}: `);
      expectMismatchedShapesRefused(name, fn, p);
      for (const bad of [{ alpha: -0.1 }, { beta: -1 }, { alpha: Number.NaN }, { smooth: -1 }, { beta: '0.5' as unknown as number }]) {
        expect(() => fn(p, p, bad)).toThrow(dn.ArgumentError);
        expect(() => fn(p, p, bad)).toThrow(starts);
      }
      expect(() => fn(p, 1 as unknown as dn.Tensor)).toThrow(dn.ArgumentError);
      expect(() => fn(p, p, 3 as unknown as FocalTverskyOptions)).toThrow(dn.ArgumentError);
      expect(() => fn(flat, flat, { perChannel: true })).toThrow(dn.ShapeError);
      expect(() => fn(scalar, scalar)).toThrow(starts);
      expect(dn.memory().bytesInUse).toBe(inUse);
      for (const t of [p, flat, scalar]) t.dispose();
    });
  }

  it('focalTverskyLoss rejects a gamma that is not positive', () => {
    const p = dn.zeros([1, 2, 2, 1]);
    for (const gamma of [0, -0.5, Number.POSITIVE_INFINITY]) expect(() => focalTverskyLoss(p, p, { gamma })).toThrow(/^focalTverskyLoss: gamma/);
    expect(() => focalTverskyLoss(p, p, { gamma: -1 })).toThrow(dn.ArgumentError);
    p.dispose();
  });
});
