// The segment loss a run's config selects (lossFor, which eval also uses to rebuild the test loss
// from a stored config.json) and the --loss choices that reach it, without training anything.

import { afterAll, describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { defaultConfig, OPTIMIZERS, type TrainConfig } from '../../src/app/config.js';
import { buildModel, lossFor, optimizerFor } from '../../src/app/model.js';
import type { Adam } from '../../src/optim/adam.js';
import type { RMSprop } from '../../src/optim/rmsprop.js';
import type { SGD } from '../../src/optim/sgd.js';
import { configFromFlags, trainSpec, validateTrainConfig } from '../../src/cli/train.js';
import { UsageError } from '../../src/cli/args.js';
import { bceDiceLoss, bceLoss, diceLoss } from '../../src/kernels/loss.js';
import { focalTverskyLoss, tverskyLoss } from '../../src/kernels/overlap-loss.js';
import { focalLoss } from '../../src/kernels/focal-loss.js';
import { useGpu } from '../helpers/gpu.js';
import { rng } from '../helpers/rng.js';

useGpu();

const LOSSES: Record<TrainConfig['loss'], (p: dn.Tensor, y: dn.Tensor) => dn.Tensor> = {
  dice: (p, y) => diceLoss(p, y),
  'bce+dice': (p, y) => bceDiceLoss(p, y),
  bce: (p, y) => bceLoss(p, y),
  tversky: (p, y) => tverskyLoss(p, y),
  'focal-tversky': (p, y) => focalTverskyLoss(p, y),
  focal: (p, y) => focalLoss(p, y),
};

describe('segment loss selection', () => {
  it('--loss offers every loss lossFor knows, and configFromFlags keeps the choice', () => {
    expect([...(trainSpec.flags.loss.choices ?? [])].sort()).toEqual(Object.keys(LOSSES).sort());
    for (const loss of Object.keys(LOSSES)) expect(configFromFlags('segment', { loss }).loss).toBe(loss);
    expect(configFromFlags('classify', {}).loss).toBe('bce');
    expect(configFromFlags('segment', {}).loss).toBe('dice');
    expect(configFromFlags('classify', { loss: 'focal' }).loss).toBe('focal');
    const classify = (loss: string) => () => validateTrainConfig(configFromFlags('classify', { data: 'd', loss }), false);
    expect(classify('tversky')).toThrow(/^--loss tversky is a segmentation loss; classify trains with 'bce' or 'focal'/);
    expect(classify('focal')).not.toThrow();
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
    // Six different functions, not one chosen six times.
    expect(new Set(Object.values(values)).size).toBe(6);
    p.dispose();
    y.dispose();
  });
});

describe('optimiser selection', () => {
  const made: dn.Tensor[] = [];
  const params = () => {
    made.push(dn.full([3], 1, { requiresGrad: true }));
    return [{ name: 'w', tensor: made[made.length - 1] }];
  };
  afterAll(() => {
    for (const t of made) t.dispose();
  });

  it('--optimizer offers every kind, and optimizerFor builds it at the run’s learning rate', () => {
    expect([...(trainSpec.flags.optimizer.choices ?? [])]).toEqual([...OPTIMIZERS]);
    const kinds: Record<string, string> = { adam: 'Adam', adamw: 'AdamW', sgd: 'SGD', rmsprop: 'RMSprop', adagrad: 'Adagrad' };
    for (const task of ['segment', 'classify'] as const) {
      for (const name of OPTIMIZERS) {
        const c = configFromFlags(task, { optimizer: name, lr: 0.003 });
        expect(c.optimizer).toBe(name);
        const opt = optimizerFor(JSON.parse(JSON.stringify(c)) as TrainConfig, params());
        expect([opt.kind, opt.lr]).toEqual([kinds[name], 0.003]);
        opt.dispose();
      }
    }
  });

  it("classify takes Keras's conventions, segment PyTorch's, and a run without the setting (older) Adam", () => {
    const build = (task: 'segment' | 'classify', optimizer: TrainConfig['optimizer']) => optimizerFor({ ...defaultConfig(task), optimizer }, params());
    expect((build('classify', 'adam') as Adam).epsilonMode).toBe('keras');
    expect((build('segment', 'adam') as Adam).epsilonMode).toBe('pytorch');
    // Bias correction: Keras's by the optimiser's steps, PyTorch's by each parameter's own.
    for (const kind of ['adam', 'adamw'] as const) {
      expect((build('classify', kind) as Adam).biasCorrection).toBe('optimizer-steps');
      expect((build('segment', kind) as Adam).biasCorrection).toBe('parameter-steps');
    }
    expect((build('classify', 'rmsprop') as RMSprop).convention).toBe('keras');
    expect((build('segment', 'rmsprop') as RMSprop).convention).toBe('pytorch');
    expect((build('segment', 'sgd') as SGD).momentum).toBe(0.9);
    const older = optimizerFor({ ...defaultConfig('segment'), optimizer: undefined }, params());
    expect(older.kind).toBe('Adam');
  });
});

describe('Attention U-Net from a run config', () => {
  it('--attention builds the gated U-Net and records it in the architecture; runs without it (older) are plain', () => {
    const c = configFromFlags('segment', { attention: true, features: 4, depth: 2 });
    expect(c.attention).toBe(true);
    expect(configFromFlags('classify', { attention: true }).attention).toBe(false);
    const gated = buildModel(JSON.parse(JSON.stringify(c)) as TrainConfig);
    const plain = buildModel({ ...c, attention: undefined });
    expect(gated.architecture).toMatchObject({ name: 'unet', attention: true });
    expect(plain.architecture).not.toHaveProperty('attention');
    const names = [...gated.model.stateDict().keys()];
    expect(names).toContain('attention1.W_g.0.weight');
    expect([...plain.model.stateDict().keys()].some((n) => n.startsWith('attention'))).toBe(false);
    expect(gated.model.parameterCount()).toBeGreaterThan(plain.model.parameterCount());
    gated.model.dispose();
    plain.model.dispose();
  });
});

describe('train flags checked together', () => {
  it('group norm needs the levels, and with --attention the gates, to split into 8 groups', () => {
    const check = (f: Record<string, unknown>) => () => validateTrainConfig(configFromFlags('segment', { data: 'd', size: 32, depth: 2, ...f }), false);
    expect(check({ norm: 'group', features: 12 })).toThrow(/^--norm group .*--features 12 must be a multiple of 8/);
    expect(check({ norm: 'group', features: 8, attention: true })).toThrow(UsageError);
    expect(check({ norm: 'group', features: 8, attention: true })).toThrow(/^--attention with --norm group: .*--features 8 must be a multiple of 16/);
    expect(check({ norm: 'group', features: 16, attention: true })).not.toThrow();
    expect(check({ norm: 'batch', features: 8, attention: true })).not.toThrow();
  });
});

describe('classify loss selection', () => {
  it("classify trains with BCE by default and with the focal loss when asked", async () => {
    const p = dn.tensor([0.9, 0.2, 0.6, 0.3], [4, 1]);
    const y = dn.tensor([1, 0, 0, 1], [4, 1]);
    const pick = (loss: TrainConfig['loss']) => lossFor({ ...defaultConfig('classify'), loss })(p, y);
    const [bce, focal, wantBce, wantFocal] = [pick('bce'), pick('focal'), bceLoss(p, y), focalLoss(p, y)];
    expect(await bce.item()).toBe(await wantBce.item());
    expect(await focal.item()).toBe(await wantFocal.item());
    expect(await focal.item()).not.toBe(await bce.item());
    for (const t of [p, y, bce, focal, wantBce, wantFocal]) t.dispose();
  });
});

describe('the classifier architecture a checkpoint records', () => {
  it("says whether ImageNet's preprocessing is inside the model, as buildModel builds it", () => {
    const cases = [
      { weights: 'vgg.h5', normalize: 'imagenet', preprocess: 'caffe' },
      { weights: null, normalize: 'imagenet', preprocess: 'none' },
      { weights: 'vgg.h5', normalize: 'zscore', preprocess: 'none' },
    ] as const;
    for (const { weights, normalize, preprocess } of cases) {
      const c: TrainConfig = { ...defaultConfig('classify'), size: 32, widthScale: 0.125, weights, normalize };
      const built = buildModel(c);
      expect(built.architecture, `${weights} ${normalize}`).toEqual({ name: 'vggClassifier', inputSize: 32, widthScale: 0.125, hidden: 256, dropout: 0.3, preprocess });
      expect((built.model as dn.models.VggClassifier).base.preprocess, `${weights} ${normalize}`).toBe(preprocess);
      built.model.dispose();
    }
  });
});
