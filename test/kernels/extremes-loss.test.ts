// Losses at extreme but legitimate inputs, against their float64 references: logits of ±88, ±100
// and ±1e4 (bceWithLogits, sigmoidFocalLoss: finite, gradients σ(z) − t); probabilities of exactly
// 0 and 1 (bceLoss, focalLoss: Keras's clipping to [eps, 1 − eps], so -log(1e-7) = 16.1 where
// PyTorch's BCELoss clamps the log at -100, as the README's losses row says); and the overlap
// losses (dice, bce+dice, Tversky, focal Tversky) on empty masks with empty or faint predictions,
// where only the smoothing term keeps them finite, up to a batch of 8x128x128 zeros.
//
// Tolerances: the house defaults (atol 1e-5, rtol 1e-4). Per-element losses are one log1p/exp of
// an exact argument (a few ulp); the overlap losses are quotients of sums of up to 131072 values in
// [0, 1e-6], float32 tree sums good to ~1e-6 relative. Values up to 1e4 (the ±1e4 logits) are
// inside rtol's 1 at that size.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { nd, type NdArray } from '../../src/reference/array.js';
import { focalBackwardRef, focalForwardRef, sigmoidFocalBackwardRef, sigmoidFocalForwardRef } from '../../src/reference/focal-loss.js';
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
import { tverskyBackwardRef, tverskyForwardRef } from '../../src/reference/overlap-loss.js';
import { expectClose } from '../helpers/close.js';
import { fromNd, useGpu } from '../helpers/gpu.js';

useGpu();

const f32 = (x: ArrayLike<number>): Float64Array => Float64Array.from(Float32Array.from(x));

/** The loss on the GPU and the gradient of its values' sum (or of dy for 'none'), for the prediction. */
async function run(loss: (p: dn.Tensor, y: dn.Tensor) => dn.Tensor, p: Float64Array, y: Float64Array, shape: number[], dy?: Float64Array) {
  const pt = fromNd(p, shape, true);
  const yt = fromNd(y, shape);
  const l = loss(pt, yt);
  const values = await l.toArray();
  const dyt = dy ? fromNd(dy, [...l.shape]) : undefined;
  l.backward(dyt);
  const grad = await pt.grad!.toArray();
  for (const t of [pt, yt, l, dyt]) t?.dispose();
  return { values, grad };
}

function expectFinite(what: string, values: ArrayLike<number>): void {
  const bad = Array.from(values).findIndex((v) => !Number.isFinite(v));
  expect(bad, `${what}: first non-finite at ${bad} (${values[bad]})`).toBe(-1);
}

// z at and past float32's exp range, each against targets 0, 1 and 0.5.
const Z = [88, -88, 100, -100, 1e4, -1e4];
const LOGITS = f32(Z.flatMap((z) => [z, z, z]));
const LOGIT_TARGETS = f32(Z.flatMap(() => [0, 1, 0.5]));
const LOGIT_DY = f32(LOGITS.map((_, i) => 0.5 + (i % 5) / 4));

describe('losses on logits at ±88, ±100 and ±1e4', () => {
  it('bceWithLogits: finite, matches float64, gradient sigmoid(z) - t', async () => {
    const shape = [LOGITS.length];
    const got = await run((z, y) => dn.bceWithLogits(z, y, { reduction: 'none' }), LOGITS, LOGIT_TARGETS, shape, LOGIT_DY);
    expectFinite('bceWithLogits', [...got.values, ...got.grad]);
    const [zs, ys, dys] = [nd(LOGITS, shape), nd(LOGIT_TARGETS, shape), nd(LOGIT_DY, shape)];
    expectClose('bceWithLogits forward', got.values, bceWithLogitsForwardRef(zs, ys, 'none').data);
    expectClose('bceWithLogits backward', got.grad, bceWithLogitsBackwardRef(zs, ys, dys, 'none').data);
  });

  for (const [name, options] of [
    ['alpha 0.25, gamma 2', { alpha: 0.25, gamma: 2 }],
    ['no alpha, gamma 0.5', { alpha: null, gamma: 0.5 }],
  ] as const) {
    it(`sigmoidFocalLoss (${name}): finite, matches float64`, async () => {
      const shape = [LOGITS.length];
      const got = await run((z, y) => dn.sigmoidFocalLoss(z, y, { ...options, reduction: 'none' }), LOGITS, LOGIT_TARGETS, shape, LOGIT_DY);
      expectFinite('sigmoidFocalLoss', [...got.values, ...got.grad]);
      const o = { ...options, reduction: 'none' as const };
      const [zs, ys] = [nd(LOGITS, shape), nd(LOGIT_TARGETS, shape)];
      expectClose(`sigmoidFocalLoss ${name} forward`, got.values, sigmoidFocalForwardRef(zs, ys, o).data);
      expectClose(`sigmoidFocalLoss ${name} backward`, got.grad, sigmoidFocalBackwardRef(zs, ys, nd(LOGIT_DY, shape), o).data);
    });
  }
});

describe('losses on probabilities of exactly 0 and 1', () => {
  const p = f32([0, 1, 0, 1, 0, 1]);
  const y = f32([0, 1, 1, 0, 0.5, 0.5]);
  const shape = [p.length];

  it("bceLoss: Keras's clipping, finite: -log(1e-7) = 16.1 for a confident miss, gradient 0 where clipped", async () => {
    const got = await run((a, b) => dn.bceLoss(a, b, { reduction: 'none' }), p, y, shape, f32([1, 1, 1, 1, 1, 1]));
    expectFinite('bceLoss', [...got.values, ...got.grad]);
    expectClose('bceLoss forward', got.values, bceForwardRef(nd(p, shape), nd(y, shape), 1e-7, 'none').data);
    expectClose('bceLoss backward', got.grad, bceBackwardRef(nd(p, shape), nd(y, shape), nd(f32([1, 1, 1, 1, 1, 1]), shape), 1e-7, 'none').data);
    expect(got.values[2]).toBeCloseTo(-Math.log(1e-7), 4);
  });

  it('focalLoss: finite, matches float64', async () => {
    const o = { alpha: 0.25, gamma: 2, reduction: 'none' as const, eps: 1e-7 };
    const dy = f32([1, 1, 1, 1, 1, 1]);
    const got = await run((a, b) => dn.focalLoss(a, b, o), p, y, shape, dy);
    expectFinite('focalLoss', [...got.values, ...got.grad]);
    expectClose('focalLoss forward', got.values, focalForwardRef(nd(p, shape), nd(y, shape), o).data);
    expectClose('focalLoss backward', got.grad, focalBackwardRef(nd(p, shape), nd(y, shape), nd(dy, shape), o).data);
  });
});

// The overlap losses on empty masks: smoothing alone keeps 0/0 away.
interface OverlapOp {
  name: string;
  gpu: (p: dn.Tensor, y: dn.Tensor) => dn.Tensor;
  forward: (p: NdArray, y: NdArray) => number;
  backward: (p: NdArray, y: NdArray) => NdArray;
}

const OVERLAP_OPS: OverlapOp[] = [
  { name: 'dice', gpu: (p, y) => dn.diceLoss(p, y), forward: (p, y) => diceForwardRef(p, y), backward: (p, y) => diceBackwardRef(p, y, 1) },
  {
    name: 'dice per sample',
    gpu: (p, y) => dn.diceLoss(p, y, { perSample: true }),
    forward: (p, y) => diceForwardRef(p, y, 1, true),
    backward: (p, y) => diceBackwardRef(p, y, 1, 1, true),
  },
  { name: 'bce+dice', gpu: (p, y) => dn.bceDiceLoss(p, y), forward: (p, y) => bceDiceForwardRef(p, y), backward: (p, y) => bceDiceBackwardRef(p, y, 1) },
  {
    name: 'tversky',
    gpu: (p, y) => dn.tverskyLoss(p, y),
    forward: (p, y) => tverskyForwardRef(p, y, { alpha: 0.5, beta: 0.5, smooth: 1 }),
    backward: (p, y) => tverskyBackwardRef(p, y, 1, { alpha: 0.5, beta: 0.5, smooth: 1 }),
  },
  {
    name: 'focal tversky',
    gpu: (p, y) => dn.focalTverskyLoss(p, y),
    forward: (p, y) => tverskyForwardRef(p, y, { alpha: 0.3, beta: 0.7, smooth: 1, gamma: 0.75 }),
    backward: (p, y) => tverskyBackwardRef(p, y, 1, { alpha: 0.3, beta: 0.7, smooth: 1, gamma: 0.75 }),
  },
];

const EMPTY_CASES = [
  { name: 'empty mask, empty prediction', shape: [2, 3, 3, 1], p: 0 },
  { name: 'empty mask, faint prediction', shape: [2, 3, 3, 1], p: 1e-6 },
  { name: '8x128x128 zeros', shape: [8, 128, 128, 1], p: 0 },
  { name: '8x128x128 empty mask, faint prediction', shape: [8, 128, 128, 1], p: 1e-6 },
] as const;

describe('overlap losses on empty masks', () => {
  for (const cs of EMPTY_CASES) {
    it(`${cs.name}: finite, and every loss matches float64`, async () => {
      const shape: number[] = [...cs.shape];
      const n = shape.reduce((a, b) => a * b, 1);
      const p = f32(new Float64Array(n).fill(cs.p));
      const y = new Float64Array(n);
      for (const op of OVERLAP_OPS) {
        const got = await run(op.gpu, p, y, shape);
        expectFinite(`${op.name} ${cs.name}`, [...got.values, ...got.grad]);
        expectClose(`${op.name} ${cs.name} forward`, got.values, [op.forward(nd(p, shape), nd(y, shape))]);
        expectClose(`${op.name} ${cs.name} backward`, got.grad, op.backward(nd(p, shape), nd(y, shape)).data);
      }
    });
  }
});
