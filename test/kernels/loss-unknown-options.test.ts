// Every loss refuses options it does not read, naming the loss and the key (a misspelt
// { reductoin: 'sum' } used to average silently); Keras's from_logits given to a loss of
// probabilities says where logits go; perSample and perChannel must be booleans.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { useGpu } from '../helpers/gpu.js';
import { expectLossOptions, PROBABILITIES } from '../../src/kernels/loss-options.js';

useGpu();

type Loss = (p: dn.Tensor, y: dn.Tensor, o?: object) => dn.Tensor;
const LOSSES: readonly (readonly [string, Loss])[] = [
  ['bceLoss', dn.bceLoss as Loss],
  ['bceWithLogits', dn.bceWithLogits as Loss],
  ['diceLoss', dn.diceLoss as Loss],
  ['bceDiceLoss', dn.bceDiceLoss as Loss],
  ['tverskyLoss', dn.tverskyLoss as Loss],
  ['focalTverskyLoss', dn.focalTverskyLoss as Loss],
  ['focalLoss', dn.focalLoss as Loss],
  ['sigmoidFocalLoss', dn.sigmoidFocalLoss as Loss],
  ['softmaxCrossEntropy', dn.softmaxCrossEntropy as Loss],
  ['mseLoss', dn.mseLoss as Loss],
  ['l1Loss', dn.l1Loss as Loss],
  ['huberLoss', dn.huberLoss as Loss],
];

describe('loss options', () => {
  let p: dn.Tensor;
  let y: dn.Tensor;
  beforeEach(() => {
    p = dn.tensor([0.2, 0.7, 0.4, 0.9], [1, 2, 2, 1]);
    y = dn.tensor([0, 1, 0, 1], [1, 2, 2, 1]);
  });
  afterEach(() => {
    p.dispose();
    y.dispose();
  });

  for (const [name, fn] of LOSSES) {
    it(`${name} refuses a misspelt option, naming the loss and the key`, () => {
      expect(() => fn(p, y, { reductoin: 'sum' })).toThrow(dn.ArgumentError);
      expect(() => fn(p, y, { reductoin: 'sum' })).toThrow(new RegExp(`^${name}: unknown option 'reductoin'`));
    });
  }

  it('names snake_case and PyTorch spellings with ours', () => {
    expect(() => dn.diceLoss(p, y, { per_sample: true } as object)).toThrow(/did you mean perSample/);
    expect(() => dn.bceLoss(p, y, { reduce: 'sum' } as object)).toThrow(/did you mean reduction/);
  });

  it('says where logits go when a loss of probabilities is given from_logits', () => {
    expect(() => dn.bceLoss(p, y, { from_logits: true } as object)).toThrow(/bceWithLogits/);
    expect(() => dn.focalLoss(p, y, { fromLogits: true } as object)).toThrow(/sigmoidFocalLoss/);
    expect(() => dn.diceLoss(p, y, { from_logits: true } as object)).toThrow(dn.ArgumentError);
  });

  it('refuses a reduction where the loss has none (the overlap losses are scalars)', () => {
    expect(() => dn.diceLoss(p, y, { reduction: 'none' } as object)).toThrow(dn.ArgumentError);
    expect(() => dn.tverskyLoss(p, y, { reduction: 'sum' } as object)).toThrow(dn.ArgumentError);
    expect(() => dn.tverskyLoss(p, y, { gamma: 2 } as object)).toThrow(/focalTverskyLoss/);
  });

  it('refuses perSample and perChannel that are not booleans', () => {
    expect(() => dn.diceLoss(p, y, { perSample: 'false' } as object)).toThrow(dn.ArgumentError);
    expect(() => dn.bceDiceLoss(p, y, { perChannel: 1 } as object)).toThrow(dn.ArgumentError);
    expect(() => dn.tverskyLoss(p, y, { perSample: 1 } as object)).toThrow(dn.ArgumentError);
  });

  it('still takes every documented option', async () => {
    const out = [
      dn.bceLoss(p, y, { eps: 1e-6, reduction: 'sum' }),
      dn.diceLoss(p, y, { smooth: 0.5, perSample: true, perChannel: false }),
      dn.bceDiceLoss(p, y, { bceWeight: 0.5, diceWeight: 2, smooth: 1, eps: 1e-6, perSample: true, perChannel: true }),
      dn.focalTverskyLoss(p, y, { alpha: 0.3, beta: 0.7, gamma: 0.75, smooth: 1, perSample: true, perChannel: true }),
      dn.focalLoss(p, y, { alpha: null, gamma: 1, eps: 1e-6, reduction: 'none' }),
      dn.huberLoss(p, y, { delta: 0.5, reduction: 'sum' }),
    ];
    for (const t of out) expect((await t.toArray()).every(Number.isFinite)).toBe(true);
    for (const t of out) t.dispose();
  });
});

describe('expectLossOptions, for a loss of your own', () => {
  it('passes known keys, names an unknown one with its spelling here, refuses from_logits for probabilities and a non-boolean perSample', () => {
    expect(() => expectLossOptions('myLoss', { reduction: 'sum', perSample: true }, ['reduction', 'perSample'], '{}')).not.toThrow();
    expect(() => expectLossOptions('myLoss', { size_average: false }, ['reduction'], '{}')).toThrow(/myLoss: .*size_average.*reduction/);
    expect(() => expectLossOptions('myLoss', { from_logits: true }, ['reduction'], '{}', PROBABILITIES.bce)).toThrow(/myLoss: unknown option 'from_logits'; myLoss takes probabilities: give logits to bceWithLogits/);
    expect(() => expectLossOptions('myLoss', { perSample: 'false' }, ['perSample'], '{}')).toThrow(/myLoss: .*perSample/);
  });
});
