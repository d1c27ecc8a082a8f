// The segment loss a run's config selects (lossFor, which eval also uses to rebuild the test loss
// from a stored config.json) and the --loss choices that reach it, without training anything.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { defaultConfig, type TrainConfig } from '../../src/app/config.js';
import { lossFor } from '../../src/app/model.js';
import { configFromFlags, trainSpec } from '../../src/cli/train.js';
import { bceDiceLoss, bceLoss, diceLoss } from '../../src/kernels/loss.js';
import { focalTverskyLoss, tverskyLoss } from '../../src/kernels/overlap-loss.js';
import { useGpu } from '../helpers/gpu.js';
import { rng } from '../helpers/rng.js';

useGpu();

const LOSSES: Record<TrainConfig['loss'], (p: dn.Tensor, y: dn.Tensor) => dn.Tensor> = {
  dice: (p, y) => diceLoss(p, y),
  'bce+dice': (p, y) => bceDiceLoss(p, y),
  bce: (p, y) => bceLoss(p, y),
  tversky: (p, y) => tverskyLoss(p, y),
  'focal-tversky': (p, y) => focalTverskyLoss(p, y),
};

describe('segment loss selection', () => {
  it('--loss offers every loss lossFor knows, and configFromFlags keeps the choice', () => {
    expect([...(trainSpec.flags.loss.choices ?? [])].sort()).toEqual(Object.keys(LOSSES).sort());
    for (const loss of Object.keys(LOSSES)) expect(configFromFlags('segment', { loss }).loss).toBe(loss);
    expect(configFromFlags('classify', { loss: 'tversky' }).loss).toBe('bce');
  });

  it('lossFor gives the named loss with its defaults, also from a config read back from JSON', async () => {
    const r = rng(900);
    const shape = [2, 4, 4, 1];
    const p = dn.tensor(Float32Array.from({ length: 32 }, () => 0.05 + 0.9 * r()), shape);
    const y = dn.tensor(Float32Array.from({ length: 32 }, () => (r() < 0.3 ? 1 : 0)), shape);
    const values: Record<string, number> = {};
    for (const [name, direct] of Object.entries(LOSSES)) {
      const stored = JSON.parse(JSON.stringify({ ...defaultConfig('segment'), loss: name })) as TrainConfig;
      const got = lossFor(stored)(p, y);
      const want = direct(p, y);
      values[name] = await got.item();
      expect(values[name], name).toBe(await want.item());
      got.dispose();
      want.dispose();
    }
    // Five different functions, not one chosen five times.
    expect(new Set(Object.values(values)).size).toBe(5);
    p.dispose();
    y.dispose();
  });
});
