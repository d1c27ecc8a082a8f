// Optimiser updates (src/kernels/optimizer.ts) with gradients from 1e-30 to 1e30, with the
// default eps and a tiny one, against the float64 formulas of their first step. Every parameter
// must stay finite over two steps, and no step may exceed the optimiser's bound (Adam's lr: its
// m̂/sqrt(v̂) is at most 1 in magnitude at step 1; RMSprop's lr/sqrt(1 - α); Adagrad's lr).
// Where g²(1 − β) is a normal float32 (1e-19 < |g| < 1e19) the step must be the float64 one.
// Outside it float32 cannot hold the second moment and the step is what PyTorch's float32 gives:
// at |g| = 1e30, v overflows to +inf and the step is 0 (the parameter stays put, no NaN); at
// |g| = 1e-30, v underflows to 0 and eps alone divides (with eps 1e-30 that is a step of lr, where
// float64's v̂ would give lr/2). SGD has no second moment: its step is lr·g at every magnitude.
//
// Tolerance: rtol 1e-5 on the step, atol 0: a handful of float32 roundings (the moments, a sqrt,
// a division, and p − step at p = 0, exact), each 6e-8 relative; lr·g/(|g| + eps) is 1e-3 or 1e-25
// at these gradients, so no absolute floor would be meaningful.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

// 8 values: a vec4 kernel (optimizer.ts takes four floats a thread where the size allows).
const GRADS = [1e-30, -1e-15, 1e18, -1e30, 1, -1e-30, 1e30, -3e-4].map(Math.fround);
const representable = (g: number): boolean => Math.abs(g) > 1e-19 && Math.abs(g) < 1e19;
const LR = 1e-3;

interface Config {
  name: string;
  make: (p: dn.Tensor[]) => dn.optim.Optimizer;
  /** The first step's change of a parameter at 0 with gradient g, in float64. */
  step: (g: number) => number;
  /** The largest |step| allowed. */
  bound: number;
}

const adamStep = (eps: number) => (g: number): number => -LR * g / (Math.abs(g) + eps);
const rmsStep = (alpha: number, eps: number) => (g: number): number => -LR * g / (Math.sqrt((1 - alpha) * g * g) + eps);

const CONFIGS: Config[] = [
  { name: 'Adam', make: (p) => new dn.optim.Adam(p, { lr: LR }), step: adamStep(1e-8), bound: LR },
  { name: 'Adam eps 1e-30', make: (p) => new dn.optim.Adam(p, { lr: LR, eps: 1e-30 }), step: adamStep(1e-30), bound: LR },
  { name: 'AdamW', make: (p) => new dn.optim.AdamW(p, { lr: LR, weightDecay: 0.01 }), step: adamStep(1e-8), bound: LR },
  {
    name: 'Adam.keras',
    make: (p) => dn.optim.Adam.keras(p, { learningRate: LR }),
    // lr·sqrt(1 − β2)/(1 − β1) · m / (sqrt(v) + eps) with m = 0.1 g, v = 0.001 g².
    step: (g) => ((-LR * Math.sqrt(0.001)) / 0.1) * (0.1 * g) / (Math.sqrt(0.001) * Math.abs(g) + 1e-7),
    bound: LR,
  },
  { name: 'RMSprop', make: (p) => new dn.optim.RMSprop(p, { lr: LR }), step: rmsStep(0.99, 1e-8), bound: LR / Math.sqrt(0.01) },
  { name: 'RMSprop eps 1e-30', make: (p) => new dn.optim.RMSprop(p, { lr: LR, eps: 1e-30 }), step: rmsStep(0.99, 1e-30), bound: LR / Math.sqrt(0.01) },
  { name: 'Adagrad', make: (p) => new dn.optim.Adagrad(p, { lr: LR }), step: (g) => -LR * g / (Math.abs(g) + 1e-10), bound: LR },
  { name: 'SGD', make: (p) => new dn.optim.SGD(p, { lr: LR }), step: (g) => -LR * g, bound: Infinity },
];

/** Two steps from p = 0 with the gradients GRADS each time; the parameter after each. */
async function twoSteps(config: Config): Promise<[Float32Array, Float32Array]> {
  const p = dn.zeros([GRADS.length], { requiresGrad: true });
  const g = dn.tensor(Float32Array.from(GRADS), [GRADS.length]);
  const opt = config.make([p]);
  const after: Float32Array[] = [];
  for (let k = 0; k < 2; k++) {
    opt.zeroGrad();
    const product = dn.mul(p, g);
    const loss = dn.sum(product);
    loss.backward();
    product.dispose();
    loss.dispose();
    opt.step();
    after.push(await p.toArray());
  }
  opt.dispose();
  p.dispose();
  g.dispose();
  return [after[0], after[1]];
}

describe('optimisers with gradients from 1e-30 to 1e30', () => {
  for (const config of CONFIGS) {
    it(`${config.name}: finite, within its bound, and float64's step where float32 holds g²`, async () => {
      const [first, second] = await twoSteps(config);
      const bad: string[] = [];
      GRADS.forEach((g, i) => {
        if (!Number.isFinite(first[i]) || !Number.isFinite(second[i])) bad.push(`g = ${g}: not finite (${first[i]}, ${second[i]})`);
        if (Math.abs(first[i]) > config.bound * (1 + 1e-5)) bad.push(`g = ${g}: step ${first[i]} past the bound ${config.bound}`);
        const want = config.step(g);
        if (representable(g) && !(Math.abs(first[i] - want) <= 1e-5 * Math.abs(want))) bad.push(`g = ${g}: step ${first[i]}, want ${want}`);
      });
      expect(bad).toEqual([]);
    });
  }
});
