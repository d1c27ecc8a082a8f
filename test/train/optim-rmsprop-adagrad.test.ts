// RMSprop (PyTorch's and Keras's conventions) and Adagrad against float64 transcriptions of the
// published update rules (torch.optim.RMSprop / Adagrad's documented algorithms, Keras 3's
// rmsprop.py update_step), over several steps with the learning rate changed midway as a schedule
// would; Keras's own docstring example; and the argument checks.
import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { Adagrad, RMSprop, type Optimizer } from '../../src/optim/index.js';
import { adagradUpdate, rmspropUpdate } from '../../src/kernels/optimizer.js';
import { expectClose } from '../helpers/close.js';
import { useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

type Rule = (p: Float64Array, g: Float64Array, state: Record<string, Float64Array>, t: number, lr: number) => void;

/** torch.optim.RMSprop, or (keras) Keras 3: epsilon under the sqrt, lr inside the momentum buffer. */
function rmspropRule(o: { alpha: number; eps: number; wd: number; mu: number; centered: boolean; keras: boolean }): Rule {
  return (p, g, s, _t, lr) => {
    s.v ??= new Float64Array(p.length);
    s.ga ??= new Float64Array(p.length);
    s.b ??= new Float64Array(p.length);
    for (let i = 0; i < p.length; i++) {
      const gi = g[i] + o.wd * p[i];
      s.v[i] = o.alpha * s.v[i] + (1 - o.alpha) * gi * gi;
      let vt = s.v[i];
      if (o.centered) {
        s.ga[i] = o.alpha * s.ga[i] + (1 - o.alpha) * gi;
        vt -= s.ga[i] * s.ga[i];
      }
      if (o.keras) {
        const increment = (lr * gi) / Math.sqrt(vt + o.eps);
        if (o.mu > 0) {
          s.b[i] = o.mu * s.b[i] + increment;
          p[i] -= s.b[i];
        } else p[i] -= increment;
      } else {
        const scaled = gi / (Math.sqrt(vt) + o.eps);
        if (o.mu > 0) {
          s.b[i] = o.mu * s.b[i] + scaled;
          p[i] -= lr * s.b[i];
        } else p[i] -= lr * scaled;
      }
    }
  };
}

/** torch.optim.Adagrad. */
function adagradRule(o: { lrDecay: number; wd: number; init: number; eps: number }): Rule {
  return (p, g, s, t, lr) => {
    s.sum ??= new Float64Array(p.length).fill(o.init);
    const clr = lr / (1 + (t - 1) * o.lrDecay);
    for (let i = 0; i < p.length; i++) {
      const gi = g[i] + o.wd * p[i];
      s.sum[i] += gi * gi;
      p[i] -= (clr * gi) / (Math.sqrt(s.sum[i]) + o.eps);
    }
  };
}

const torchRms = { alpha: 0.99, eps: 1e-8, wd: 0, mu: 0, centered: false, keras: false };
const kerasRms = { alpha: 0.9, eps: 1e-7, wd: 0, mu: 0, centered: false, keras: true };
const torchAdagrad = { lrDecay: 0, wd: 0, init: 0, eps: 1e-10 };

// `lr` is the reference's starting rate (each case's default or the one it sets). At the default
// eps, where eps goes (under or after the sqrt) shows only on elements with small gradients; the
// eps 0.05 cases make it change every element's step.
const CASES: { name: string; lr: number; make: (ps: dn.Tensor[]) => Optimizer; rule: Rule }[] = [
  { name: 'RMSprop (PyTorch defaults)', lr: 0.01, make: (ps) => new RMSprop(ps), rule: rmspropRule(torchRms) },
  { name: 'RMSprop momentum', lr: 0.01, make: (ps) => new RMSprop(ps, { momentum: 0.9 }), rule: rmspropRule({ ...torchRms, mu: 0.9 }) },
  { name: 'RMSprop centered', lr: 0.01, make: (ps) => new RMSprop(ps, { centered: true, alpha: 0.9 }), rule: rmspropRule({ ...torchRms, alpha: 0.9, centered: true }) },
  {
    name: 'RMSprop centered + momentum + L2 + eps 0.05',
    lr: 0.02,
    make: (ps) => new RMSprop(ps, { lr: 0.02, centered: true, momentum: 0.8, weightDecay: 0.1, eps: 0.05 }),
    rule: rmspropRule({ ...torchRms, centered: true, mu: 0.8, wd: 0.1, eps: 0.05 }),
  },
  { name: 'RMSprop eps 0.05', lr: 0.01, make: (ps) => new RMSprop(ps, { eps: 0.05 }), rule: rmspropRule({ ...torchRms, eps: 0.05 }) },
  { name: 'RMSprop.keras (defaults)', lr: 0.001, make: (ps) => RMSprop.keras(ps), rule: rmspropRule(kerasRms) },
  { name: 'RMSprop.keras epsilon 0.05', lr: 0.01, make: (ps) => RMSprop.keras(ps, { learningRate: 0.01, epsilon: 0.05 }), rule: rmspropRule({ ...kerasRms, eps: 0.05 }) },
  {
    name: 'RMSprop.keras centered + momentum',
    lr: 0.01,
    make: (ps) => RMSprop.keras(ps, { learningRate: 0.01, rho: 0.8, momentum: 0.9, centered: true }),
    rule: rmspropRule({ ...kerasRms, alpha: 0.8, mu: 0.9, centered: true }),
  },
  { name: 'Adagrad (PyTorch defaults)', lr: 0.01, make: (ps) => new Adagrad(ps), rule: adagradRule(torchAdagrad) },
  {
    name: 'Adagrad lrDecay + L2 + initial accumulator',
    lr: 0.1,
    make: (ps) => new Adagrad(ps, { lr: 0.1, lrDecay: 0.3, weightDecay: 0.05, initialAccumulatorValue: 0.1, eps: 1e-3 }),
    rule: adagradRule({ lrDecay: 0.3, wd: 0.05, init: 0.1, eps: 1e-3 }),
  },
];

describe('RMSprop and Adagrad', () => {
  // 37 floats: one per thread; 40: four per thread (vec4), the kernels' two widths. Before step 4
  // the rate is halved, as a schedule or ReduceLROnPlateau does between steps: PyTorch's RMSprop
  // rescales its whole buffer, Keras's keeps the increments taken at the old rate.
  for (const [k, c] of CASES.entries()) for (const n of [37, 40]) {
    it(`${c.name}, ${n} parameters: 6 steps with an lr change match the update rule`, async () => {
      const init = uniform(n, 900 + k);
      const p = dn.tensor(Float32Array.from(init), [n], { requiresGrad: true, name: 'p' });
      const opt = c.make([p]);
      expect(opt.lr).toBe(c.lr);
      const ref = Float64Array.from(init);
      const state: Record<string, Float64Array> = {};
      let lr = c.lr;
      for (let t = 1; t <= 6; t++) {
        if (t === 4) opt.lr = lr = lr / 2;
        const g = uniform(n, 1000 + 10 * k + t);
        p.grad = dn.tensor(Float32Array.from(g), [n]);
        opt.step();
        opt.zeroGrad();
        c.rule(ref, g, state, t, lr);
      }
      // Parameters start in [-1, 1) and move by up to 0.9 over the 6 steps, in float32 (ulp 1.2e-7
      // at 1). Measured on lavapipe, the worst difference from the float64 rule was 4.9e-7 (RMSprop
      // momentum), 1e-7 to 3e-7 elsewhere. atol 2e-6 + rtol 1e-6 allows 3e-6 at |p| = 1, 6x that,
      // and still fails each mutation tried (eps moved across the sqrt, centring, momentum, weight
      // decay or lr decay dropped, lr moved into or out of the buffer, Keras's rho or epsilon lost).
      expectClose(`${c.name} parameters`, await p.toArray(), ref, { atol: 2e-6, rtol: 1e-6 });
      opt.dispose();
      p.dispose();
    });
  }

  it("reproduces Keras's docstring example: var 10, loss var²/2, lr 0.1 -> 9.683772", async () => {
    const v = dn.tensor([10], [1], { requiresGrad: true });
    const opt = RMSprop.keras([v], { learningRate: 0.1 });
    v.grad = dn.tensor([10], [1]); // d(var²/2)/d(var) = var
    opt.step();
    opt.zeroGrad();
    expectClose('var', await v.toArray(), [9.683772], { atol: 1e-6, rtol: 0 });
    opt.dispose();
    v.dispose();
  });

  it("state: plain RMSprop keeps only squareAvg, Adagrad's sum starts at initialAccumulatorValue", async () => {
    const p = dn.tensor([1, 2, 3], [3], { requiresGrad: true, name: 'w' });
    const rms = new RMSprop([p], { lr: 0.1 });
    const ada = new Adagrad([p], { initialAccumulatorValue: 0.5 });
    p.grad = dn.tensor([0.5, -1, 2], [3]);
    rms.step();
    ada.step();
    p.zeroGrad();
    expect([...rms.stateDict().tensors.keys()]).toEqual(['w.squareAvg']);
    expectClose('square avg', await rms.stateDict().tensors.get('w.squareAvg')!.toArray(), [0.0025, 0.01, 0.04]);
    expectClose('adagrad sum', await ada.stateDict().tensors.get('w.sum')!.toArray(), [0.75, 1.5, 4.5]);
    for (const o of [rms, ada]) o.dispose();
    p.dispose();
  });

  it('bad arguments are ArgumentErrors naming the optimiser', () => {
    const p = dn.tensor([1, 2], [2], { requiresGrad: true });
    const bad: [() => unknown, RegExp][] = [
      [() => new RMSprop(3 as never), /^RMSprop: params/],
      [() => new RMSprop([p], { lr: -1 }), /^RMSprop: lr/],
      [() => new RMSprop([p], { alpha: 1.5 }), /^RMSprop: alpha/],
      [() => new RMSprop([p], { eps: -1e-8 }), /^RMSprop: eps/],
      [() => new RMSprop([p], { momentum: Number.NaN }), /^RMSprop: momentum/],
      [() => new RMSprop([p], { weightDecay: -0.1 }), /^RMSprop: weightDecay/],
      [() => new RMSprop([p], { centered: 'yes' as never }), /^RMSprop: centered/],
      [() => new RMSprop([p], { convention: 'tf' as never }), /^RMSprop: convention/],
      [() => new RMSprop([p], { learningRate: 0.1 } as never), /^RMSprop: unknown option 'learningRate'/],
      [() => new RMSprop([p], 0.1 as never), /^RMSprop: options/],
      [() => RMSprop.keras([p], { lr: 0.1 } as never), /^RMSprop\.keras: unknown option 'lr'/],
      [() => RMSprop.keras([p], { rho: -0.1 }), /^RMSprop\.keras: rho/],
      [() => RMSprop.keras([p], { epsilon: '1e-7' as never }), /^RMSprop\.keras: epsilon/],
      [() => RMSprop.keras([p], { learningRate: Infinity }), /^RMSprop\.keras: learningRate/],
      [() => new Adagrad([p], { lrDecay: -1 }), /^Adagrad: lrDecay/],
      [() => new Adagrad([p], { initialAccumulatorValue: -0.1 }), /^Adagrad: initialAccumulatorValue/],
      [() => new Adagrad([p], { eps: Number.POSITIVE_INFINITY }), /^Adagrad: eps/],
      [() => new Adagrad([p], { momentum: 0.9 } as never), /^Adagrad: unknown option 'momentum'/],
      [() => new Adagrad([{ name: 'w' }] as never), /^Adagrad: params\[0\]/],
    ];
    for (const [call, message] of bad) {
      expect(call).toThrow(dn.ArgumentError);
      expect(call).toThrow(message);
    }
    p.dispose();
  });

  it('the kernels are reachable on their own (rmspropUpdate, adagradUpdate)', async () => {
    const p = dn.tensor([1, -1], [2]);
    const g = dn.tensor([0.5, 0.5], [2]);
    const sq = dn.tensor([0, 0], [2]);
    rmspropUpdate(p, g, { squareAvg: sq, gradAvg: null, buf: null }, { lr: 0.1, alpha: 0.75, eps: 0, l2: 0, momentum: 0, convention: 'pytorch' });
    // v = 0.25 · 0.25 = 0.0625, g / sqrt(v) = 2: each parameter moves by lr · 2.
    expectClose('rmsprop', await p.toArray(), [0.8, -1.2]);
    const sum = dn.tensor([3.75, 0], [2]);
    adagradUpdate(p, g, sum, { clr: 0.1, l2: 0, eps: 0 });
    // sum = 4 and 0.25: steps 0.1 · 0.5 / 2 and 0.1 · 0.5 / 0.5.
    expectClose('adagrad', await p.toArray(), [0.775, -1.3]);
    for (const t of [p, g, sq, sum]) t.dispose();
  });
});
