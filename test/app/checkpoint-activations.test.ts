// train segment --checkpoint-activations: the run's U-Net checkpoints its blocks (dn.checkpoint),
// which changes the memory a step holds and nothing it computes. Two runs of the same data, seed
// and flags, one with it, end with the same weights byte for byte; the flag is kept in the run's
// config, so --resume rebuilds the model the same way, and classify refuses it.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildModel } from '../../src/app/model.js';
import { runTraining } from '../../src/app/train-job.js';
import { checkTaskFlags, configFromFlags, givenFlags } from '../../src/cli/train.js';
import { UsageError } from '../../src/cli/args.js';
import { writeSyntheticDataset } from '../../src/data/synth.js';
import type { UNet } from '../../src/models/unet.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

let work = '';
let data = '';
const quiet = () => {};
const flagsFor = (out: string, more: Record<string, unknown> = {}) => ({ data, out, epochs: 1, size: 16, features: 4, depth: 2, batch: 4, augment: 'hflip', workers: 0, ...more });

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'dawnet-checkpoint-activations-'));
  data = join(work, 'kaggle_3m');
  await writeSyntheticDataset(data, { patients: 4, seed: 3, size: 16, slicesPerPatient: [3, 4] });
}, 120_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('train segment --checkpoint-activations', () => {
  it('trains the same weights byte for byte, and keeps the flag in the run config', async () => {
    const plain = join(work, 'plain');
    const checked = join(work, 'checked');
    await runTraining(configFromFlags('segment', flagsFor(plain)), { log: quiet });
    const config = configFromFlags('segment', flagsFor(checked, { 'checkpoint-activations': true }));
    const built = buildModel(config).model as UNet;
    expect(built.options.checkpoint).toBe(true);
    built.dispose();
    await runTraining(config, { log: quiet });
    const saved = JSON.parse(readFileSync(join(checked, 'config.json'), 'utf8'));
    expect(saved.checkpointActivations).toBe(true);
    expect(JSON.parse(readFileSync(join(plain, 'config.json'), 'utf8')).checkpointActivations).toBe(false);
    const weights = (run: string) => readFileSync(join(run, 'last.safetensors'));
    expect(weights(checked).equals(weights(plain))).toBe(true);
  }, 120_000);

  it('is refused for classify, whose frozen VGG16 base keeps nothing for backward', () => {
    expect(() => checkTaskFlags('classify', givenFlags(['--checkpoint-activations']))).toThrow(UsageError);
    expect(() => checkTaskFlags('classify', givenFlags(['--checkpoint-activations']))).toThrow(/^--checkpoint-activations is for segment/);
  });
});
