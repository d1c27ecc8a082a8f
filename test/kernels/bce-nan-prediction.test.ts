// bceLoss of a NaN prediction is NaN, as PyTorch's and Keras's: the clamp to [eps, 1 - eps] used
// to turn NaN into a bound (lavapipe's clamp returns one), a finite loss that hid a diverged
// network from fit's NaN check. The gradients of p and of the target are NaN there too; other
// elements keep their finite values.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

describe('bceLoss with a NaN prediction', () => {
  it('gives NaN per element, reduced, and in both gradients', async () => {
    const p = dn.tensor([Number.NaN, 0.3, 0.8, 0], [4], { requiresGrad: true });
    const y = dn.tensor([1, 0, 1, 0], [4], { requiresGrad: true });
    const perElement = dn.bceLoss(p, y, { reduction: 'none' });
    const none = await perElement.toArray();
    perElement.dispose();
    expect(Number.isNaN(none[0])).toBe(true);
    expect(none[1]).toBeCloseTo(-Math.log(0.7), 5);
    expect(none[3]).toBeCloseTo(-Math.log1p(-1e-7), 9);
    const loss = dn.bceLoss(p, y);
    expect(Number.isNaN(await loss.item())).toBe(true);
    loss.backward();
    const dp = await p.grad!.toArray();
    const dy = await y.grad!.toArray();
    expect(Number.isNaN(dp[0]) && Number.isNaN(dy[0])).toBe(true);
    expect([dp[1], dp[2], dy[1], dy[2]].every(Number.isFinite)).toBe(true);
    for (const t of [p, y, loss]) t.dispose();
  });

  it('stays NaN in bceDiceLoss and focalLoss, which build on it', async () => {
    const p = dn.tensor([Number.NaN, 0.3, 0.8, 0.5], [1, 2, 2, 1]);
    const y = dn.tensor([1, 0, 1, 0], [1, 2, 2, 1]);
    const losses = [dn.bceLoss(p, y, { reduction: 'sum' }), dn.bceDiceLoss(p, y, { diceWeight: 0 }), dn.focalLoss(p, y, { gamma: 0 })];
    for (const l of losses) expect(Number.isNaN(await l.item())).toBe(true);
    for (const t of [p, y, ...losses]) t.dispose();
  });
});
