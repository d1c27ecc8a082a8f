// Optimiser kernels against a float64 transcription of each update rule, over several steps.
import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { Adam, AdamW } from '../../src/optim/adam.js';
import { SGD } from '../../src/optim/sgd.js';
import type { Optimizer } from '../../src/optim/optimizer.js';
import { sgdUpdate } from '../../src/kernels/optimizer.js';
import { expectClose } from '../helpers/close.js';
import { useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

type Rule = (p: Float64Array, g: Float64Array, state: Record<string, Float64Array>, t: number) => void;

function adamRule(o: { lr: number; b1: number; b2: number; eps: number; wd: number; mode: 'pytorch' | 'keras'; decoupled: boolean }): Rule {
  return (p, g, s, t) => {
    s.m ??= new Float64Array(p.length);
    s.v ??= new Float64Array(p.length);
    for (let i = 0; i < p.length; i++) {
      let gi = g[i];
      if (o.decoupled) p[i] *= 1 - o.lr * o.wd;
      else gi += o.wd * p[i];
      s.m[i] = o.b1 * s.m[i] + (1 - o.b1) * gi;
      s.v[i] = o.b2 * s.v[i] + (1 - o.b2) * gi * gi;
      if (o.mode === 'pytorch') {
        const mhat = s.m[i] / (1 - o.b1 ** t);
        const vhat = s.v[i] / (1 - o.b2 ** t);
        p[i] -= (o.lr * mhat) / (Math.sqrt(vhat) + o.eps);
      } else {
        const lrT = (o.lr * Math.sqrt(1 - o.b2 ** t)) / (1 - o.b1 ** t);
        p[i] -= (lrT * s.m[i]) / (Math.sqrt(s.v[i]) + o.eps);
      }
    }
  };
}

function sgdRule(o: { lr: number; mu: number; nesterov: boolean; wd: number }): Rule {
  return (p, g, s, t) => {
    s.buf ??= new Float64Array(p.length);
    for (let i = 0; i < p.length; i++) {
      const gi = g[i] + o.wd * p[i];
      s.buf[i] = t === 1 ? gi : o.mu * s.buf[i] + gi;
      const d = o.nesterov ? gi + o.mu * s.buf[i] : s.buf[i];
      p[i] -= o.lr * d;
    }
  };
}

const CASES: { name: string; make: (ps: dn.Tensor[]) => Optimizer; rule: Rule }[] = [
  { name: 'Adam (PyTorch defaults)', make: (ps) => new Adam(ps, { lr: 0.01 }), rule: adamRule({ lr: 0.01, b1: 0.9, b2: 0.999, eps: 1e-8, wd: 0, mode: 'pytorch', decoupled: false }) },
  { name: 'Adam.keras', make: (ps) => Adam.keras(ps, { lr: 0.01 }), rule: adamRule({ lr: 0.01, b1: 0.9, b2: 0.999, eps: 1e-7, wd: 0, mode: 'keras', decoupled: false }) },
  { name: "Adam.keras, Keras's names", make: (ps) => Adam.keras(ps, { learningRate: 0.02, epsilon: 1e-3, beta1: 0.8 }), rule: adamRule({ lr: 0.02, b1: 0.8, b2: 0.999, eps: 1e-3, wd: 0, mode: 'keras', decoupled: false }) },
  { name: 'Adam with L2', make: (ps) => new Adam(ps, { lr: 0.005, beta1: 0.8, beta2: 0.99, weightDecay: 0.1 }), rule: adamRule({ lr: 0.005, b1: 0.8, b2: 0.99, eps: 1e-8, wd: 0.1, mode: 'pytorch', decoupled: false }) },
  { name: 'AdamW', make: (ps) => new AdamW(ps, { lr: 0.01, weightDecay: 0.05 }), rule: adamRule({ lr: 0.01, b1: 0.9, b2: 0.999, eps: 1e-8, wd: 0.05, mode: 'pytorch', decoupled: true }) },
  { name: 'SGD plain + L2 (no buffer)', make: (ps) => new SGD(ps, { lr: 0.1, weightDecay: 0.05 }), rule: sgdRule({ lr: 0.1, mu: 0, nesterov: false, wd: 0.05 }) },
  { name: 'SGD momentum', make: (ps) => new SGD(ps, { lr: 0.1, momentum: 0.9 }), rule: sgdRule({ lr: 0.1, mu: 0.9, nesterov: false, wd: 0 }) },
  { name: 'SGD nesterov + L2', make: (ps) => new SGD(ps, { lr: 0.05, momentum: 0.8, nesterov: true, weightDecay: 0.01 }), rule: sgdRule({ lr: 0.05, mu: 0.8, nesterov: true, wd: 0.01 }) },
];

describe('optimisers', () => {
  // 37 floats: one per thread; 40: four per thread (vec4), the kernels' two widths.
  for (const [k, c] of CASES.entries()) for (const n of [37, 40]) {
    it(`${c.name}, ${n} parameters: 5 steps match the update rule`, async () => {
      const init = uniform(n, 700 + k);
      const p = dn.tensor(Float32Array.from(init), [n], { requiresGrad: true, name: 'p' });
      const opt = c.make([p]);
      const ref = Float64Array.from(init);
      const state: Record<string, Float64Array> = {};
      for (let t = 1; t <= 5; t++) {
        const g = uniform(n, 800 + 10 * k + t);
        p.grad = dn.tensor(Float32Array.from(g), [n]);
        opt.step();
        opt.zeroGrad();
        c.rule(ref, g, state, t);
      }
      // float32 state over 5 steps: parameters within 1e-5 absolute of the float64 rule.
      expectClose(`${c.name} parameters`, await p.toArray(), ref, { atol: 2e-5, rtol: 1e-4 });
      expect(opt.stepCount).toBe(5);
      opt.dispose();
      p.dispose();
    });
  }

  it('the SGD kernel starts the momentum buffer with the first gradient (PyTorch)', async () => {
    const p = dn.tensor([1, 1], [2]);
    const g = dn.tensor([0.5, -1], [2]);
    const buf = dn.tensor([100, 100], [2]); // stale contents must be ignored on the first step
    sgdUpdate(p, g, buf, { lr: 0.1, momentum: 0.9, nesterov: false, l2: 0, first: true });
    expectClose('buffer', await buf.toArray(), [0.5, -1]);
    expectClose('param', await p.toArray(), [0.95, 1.1]);
    for (const t of [p, g, buf]) t.dispose();
  });

  it('skips frozen parameters and parameters without a gradient', async () => {
    const a = dn.tensor([1, 2], [2], { requiresGrad: true });
    const b = dn.tensor([3, 4], [2], { requiresGrad: false });
    const opt = new SGD([a, b], { lr: 1 });
    b.grad = dn.tensor([1, 1], [2]);
    opt.step();
    expectClose('unchanged a', await a.toArray(), [1, 2]);
    expectClose('unchanged b', await b.toArray(), [3, 4]);
    b.zeroGrad();
    for (const t of [a, b]) t.dispose();
    opt.dispose();
  });

  it("a model's parameters() keep a state each, though every layer's are named 'weight' and 'bias'", async () => {
    // Two Linear layers of different widths: each parameter's moments are its own, so the steps
    // equal those of the same optimiser over namedParameters() (unique names).
    const run = async (named: boolean) => {
      const net = new dn.nn.Sequential(new dn.nn.Linear(3, 4, { seed: 1 }), new dn.nn.Linear(4, 2, { seed: 2 }));
      const opt = new Adam(named ? net.namedParameters() : net.parameters(), { lr: 0.05 });
      const x = dn.tensor(uniform(6, 3), [2, 3]);
      for (let t = 0; t < 3; t++) {
        const loss = dn.scope(() => dn.sum(dn.square(net.forward(x))));
        loss.backward();
        loss.dispose();
        opt.step();
        opt.zeroGrad();
      }
      const values = await Promise.all(net.parameters().map((p) => p.toArray()));
      const keys = [...opt.stateDict().tensors.keys()];
      opt.dispose();
      net.dispose();
      x.dispose();
      return { values, keys };
    };
    const [plain, named] = [await run(false), await run(true)];
    expect(plain.keys).toHaveLength(8);
    expect(plain.keys.slice(0, 2)).toEqual(['param0.m', 'param0.v']);
    for (const [i, v] of plain.values.entries()) expect(Array.from(v)).toEqual(Array.from(named.values[i]));
    // A tensor with a name no other entry has keeps it; names given twice are refused.
    const w = dn.tensor([1, 2], [2], { requiresGrad: true, name: 'w' });
    const v = dn.tensor([3], [1], { requiresGrad: true, name: 'w' });
    expect((new SGD([w]) as unknown as { params: { name: string }[] }).params[0].name).toBe('w');
    expect((new SGD([w, v]) as unknown as { params: { name: string }[] }).params.map((p) => p.name)).toEqual(['param0', 'param1']);
    expect(() => new SGD([{ name: 'a', tensor: w }, { name: 'a', tensor: v }])).toThrow("SGD: params[1] and params[0] are both named 'a'");
    for (const t of [w, v]) t.dispose();
  });

  it('loading state replaces all of it: a moment the saved state lacks starts again', async () => {
    // SGD with momentum: state saved before any step holds no buffer. Two steps, load, two steps:
    // the same as two steps from scratch (PyTorch's load_state_dict), not a stale buffer carried on.
    const p = dn.tensor([1, -1], [2], { requiresGrad: true, name: 'p' });
    const opt = new SGD([p], { lr: 0.1, momentum: 0.9 });
    const saved = opt.stateDict();
    const steps = () => {
      for (let t = 0; t < 2; t++) {
        const loss = dn.scope(() => dn.sum(dn.square(p)));
        loss.backward();
        loss.dispose();
        opt.step();
        opt.zeroGrad();
      }
    };
    steps();
    const after = Array.from(await p.toArray());
    p.dispose();
    const q = dn.tensor([1, -1], [2], { requiresGrad: true, name: 'p' });
    (opt as unknown as { params: { name: string; tensor: dn.Tensor }[] }).params[0].tensor = q;
    opt.loadStateDict(saved.tensors, saved.scalars);
    expect(opt.stateDict().tensors.size).toBe(0);
    const stepsQ = () => {
      for (let t = 0; t < 2; t++) {
        const loss = dn.scope(() => dn.sum(dn.square(q)));
        loss.backward();
        loss.dispose();
        opt.step();
        opt.zeroGrad();
      }
    };
    stepsQ();
    expect(Array.from(await q.toArray())).toEqual(after);
    q.dispose();
    opt.dispose();
  });
});
