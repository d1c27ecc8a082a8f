// Adam's, AdamW's and SGD's options: each one given takes effect, every other is an ArgumentError
// naming the optimiser (with the meant name where another library's was given), and an option
// given as undefined takes its default. Adam's bias correction: test/train/optim-param-steps.test.ts.
import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { Adam, AdamW } from '../../src/optim/adam.js';
import { SGD } from '../../src/optim/sgd.js';
import { expectClose } from '../helpers/close.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

type Make = (ps: dn.Tensor[]) => unknown;

// [what the caller wrote, the call, the message's start]
const REFUSED: [string, Make, string][] = [
  ['Adam with Keras\'s learningRate', (ps) => new Adam(ps, { learningRate: 0.1 } as never), "Adam: unknown option 'learningRate' (did you mean lr?)"],
  ['Adam with PyTorch\'s betas', (ps) => new Adam(ps, { betas: [0.5, 0.9] } as never), "Adam: unknown option 'betas' (did you mean beta1 and beta2?)"],
  ['Adam with PyTorch\'s weight_decay', (ps) => new Adam(ps, { weight_decay: 0.1 } as never), "Adam: unknown option 'weight_decay' (did you mean weightDecay?)"],
  ['Adam with Keras\'s epsilon', (ps) => new Adam(ps, { epsilon: 1e-3 } as never), "Adam: unknown option 'epsilon' (did you mean eps?)"],
  ['Adam with amsgrad (not implemented)', (ps) => new Adam(ps, { amsgrad: true } as never), "Adam: unknown option 'amsgrad'; the options are lr, beta1"],
  ['Adam with a string for options', (ps) => new Adam(ps, 'adam' as never), 'Adam: options'],
  ['AdamW with learningRate', (ps) => new AdamW(ps, { learningRate: 0.1 } as never), "AdamW: unknown option 'learningRate' (did you mean lr?)"],
  ['AdamW with a string for options', (ps) => new AdamW(ps, 'adamw' as never), 'AdamW: options'],
  ['Adam.keras with learning_rate', (ps) => Adam.keras(ps, { learning_rate: 0.1 } as never), "Adam.keras: unknown option 'learning_rate' (did you mean learningRate?)"],
  ['Adam.keras with both learningRate and lr', (ps) => Adam.keras(ps, { learningRate: 0.1, lr: 0.2 }), 'Adam.keras: give learningRate or lr, not both'],
  ['Adam.keras with both epsilon and eps', (ps) => Adam.keras(ps, { epsilon: 0.1, eps: 0.2 }), 'Adam.keras: give epsilon or eps, not both'],
  ['Adam.keras in PyTorch\'s epsilon mode', (ps) => Adam.keras(ps, { epsilonMode: 'pytorch' } as never), "Adam.keras: unknown option 'epsilonMode'"],
  ['Adam.keras with a string learning rate', (ps) => Adam.keras(ps, { learningRate: '0.1' as never }), 'Adam.keras: learningRate'],
  ['Adam.keras with beta1 of 1', (ps) => Adam.keras(ps, { beta1: 1 }), 'Adam.keras: beta1'],
  ['Adam.keras with a negative epsilon', (ps) => Adam.keras(ps, { epsilon: -1 }), 'Adam.keras: epsilon'],
  ['SGD with dampening (not implemented)', (ps) => new SGD(ps, { dampening: 0.1 } as never), "SGD: unknown option 'dampening'; the options are lr, momentum, nesterov, weightDecay"],
  ['SGD with learningRate', (ps) => new SGD(ps, { learningRate: 0.1 } as never), "SGD: unknown option 'learningRate' (did you mean lr?)"],
  ['SGD nesterov without momentum', (ps) => new SGD(ps, { nesterov: true }), 'SGD: nesterov needs a momentum > 0'],
  ['SGD nesterov with momentum 0', (ps) => new SGD(ps, { nesterov: true, momentum: 0 }), 'SGD: nesterov needs a momentum > 0'],
  ['SGD with momentum 1.5', (ps) => new SGD(ps, { momentum: 1.5 }), 'SGD: momentum must be a finite number >= 0 and < 1'],
  ['SGD with nesterov a string', (ps) => new SGD(ps, { momentum: 0.9, nesterov: 'yes' as never }), 'SGD: nesterov must be true or false'],
];

describe('optimiser options', () => {
  for (const [what, make, start] of REFUSED) {
    it(`${what}: ArgumentError '${start}...'`, () => {
      const p = dn.tensor([1, 2], [2], { requiresGrad: true });
      let error: unknown;
      try {
        make([p]);
      } catch (e) {
        error = e;
      }
      p.dispose();
      expect(error).toBeInstanceOf(dn.ArgumentError);
      expect((error as Error).message.startsWith(start), (error as Error).message).toBe(true);
    });
  }

  it('every option given is the one used (none falls back to its default)', () => {
    const p = dn.tensor([1, 2], [2], { requiresGrad: true });
    const adam = new Adam([p], { lr: 0.1, beta1: 0.5, beta2: 0.9, eps: 1e-3, weightDecay: 0.2, epsilonMode: 'keras' });
    expect([adam.lr, adam.beta1, adam.beta2, adam.eps, adam.weightDecay, adam.epsilonMode]).toEqual([0.1, 0.5, 0.9, 1e-3, 0.2, 'keras']);
    const adamw = new AdamW([p], { lr: 0.2, weightDecay: 0.3 });
    expect([adamw.lr, adamw.weightDecay, adamw.kind]).toEqual([0.2, 0.3, 'AdamW']);
    const sgd = new SGD([p], { lr: 0.3, momentum: 0.8, nesterov: true, weightDecay: 0.01 });
    expect([sgd.lr, sgd.momentum, sgd.nesterov, sgd.weightDecay]).toEqual([0.3, 0.8, true, 0.01]);
    p.dispose();
  });

  it("Adam.keras takes Keras's names and dawnet's, and stays an Adam in checkpoints", () => {
    const p = dn.tensor([1, 2], [2], { requiresGrad: true });
    const keras = Adam.keras([p], { learningRate: 0.1, epsilon: 1e-3, beta1: 0.8, beta2: 0.99 });
    expect([keras.lr, keras.eps, keras.beta1, keras.beta2, keras.epsilonMode, keras.kind]).toEqual([0.1, 1e-3, 0.8, 0.99, 'keras', 'Adam']);
    const ours = Adam.keras([p], { lr: 0.2, eps: 1e-4 });
    expect([ours.lr, ours.eps, ours.epsilonMode]).toEqual([0.2, 1e-4, 'keras']);
    const defaults = Adam.keras([p]);
    expect([defaults.lr, defaults.eps, defaults.beta1, defaults.beta2]).toEqual([1e-3, 1e-7, 0.9, 0.999]);
    p.dispose();
  });

  it('an option given as undefined takes its default (AdamW decays by 0.01, Adam.keras counts the optimiser\'s steps)', () => {
    const p = dn.tensor([1, 2], [2], { requiresGrad: true });
    const adamw = new AdamW([p], { lr: 0.1, weightDecay: undefined });
    expect(adamw.weightDecay).toBe(0.01);
    const keras = Adam.keras([p], { learningRate: 0.1, biasCorrection: undefined });
    expect(keras.biasCorrection).toBe('optimizer-steps');
    expect(new Adam([p], { biasCorrection: undefined }).biasCorrection).toBe('parameter-steps');
    expect(Adam.keras([p], { biasCorrection: 'parameter-steps' }).biasCorrection).toBe('parameter-steps');
    expect(() => new Adam([p], { biasCorrection: 'per-step' as never })).toThrow(/Adam: biasCorrection/);
    p.dispose();
  });
});
