// Per-parameter step counts: Adam's bias correction (PyTorch's rule by default, Keras's by the
// optimiser's steps under Adam.keras) and Adagrad's learning-rate decay count each parameter's own
// updates, a step without a gradient leaves a parameter's count alone, and checkpoints keep the
// counts (state saved before them resumes under the rule it was trained with).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { Module } from '../../src/nn/module.js';
import { Adagrad } from '../../src/optim/adagrad.js';
import { Adam } from '../../src/optim/adam.js';
import type { Optimizer } from '../../src/optim/optimizer.js';
import { loadCheckpoint, saveCheckpoint } from '../../src/train/checkpoint.js';
import { expectClose } from '../helpers/close.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

/** Adam in float64: PyTorch's update of one parameter at its own step t (eps after the correction). */
function adamRef(p: Float64Array, g: readonly number[], s: { m: Float64Array; v: Float64Array }, t: number, lr: number): void {
  for (let i = 0; i < p.length; i++) {
    s.m[i] = 0.9 * s.m[i] + 0.1 * g[i];
    s.v[i] = 0.999 * s.v[i] + 0.001 * g[i] * g[i];
    p[i] -= (lr * (s.m[i] / (1 - 0.9 ** t))) / (Math.sqrt(s.v[i] / (1 - 0.999 ** t)) + 1e-8);
  }
}

const grad = (step: number, n: number) => Array.from({ length: n }, (_, i) => Math.sin(1.3 * step + 0.7 * i) * (1 + 0.2 * i));

/**
 * Two parameters through `steps` optimiser steps; 'late' has a gradient only from step `from` on
 * (a base unfrozen after the head has trained). Returns both after the last step.
 */
async function trainLate(opt: (ps: dn.Tensor[]) => Optimizer, steps: number, from: number) {
  const early = dn.tensor([0.5, -0.25, 1], [3], { requiresGrad: true, name: 'early' });
  const late = dn.tensor([1, 2], [2], { requiresGrad: true, name: 'late' });
  const o = opt([early, late]);
  for (let s = 1; s <= steps; s++) {
    early.grad = dn.tensor(grad(s, 3), [3]);
    if (s >= from) late.grad = dn.tensor(grad(s + 10, 2), [2]);
    o.step();
    o.zeroGrad();
  }
  const out = { early: await early.toArray(), late: await late.toArray(), opt: o };
  early.dispose();
  late.dispose();
  return out;
}

// Parameters of size 1-2 move by up to lr = 0.01 a step over 6 steps, in float32 (ulp 1.2e-7 at 1,
// 2.4e-7 at 2): 1e-6 is a few ulps, and every mutation below moves a parameter by 1e-3 or more.
const TOL = { atol: 1e-6, rtol: 0 };

describe('per-parameter step counts', () => {
  it("Adam's bias correction counts each parameter's own updates, as PyTorch's step state does", async () => {
    const { early, late, opt } = await trainLate((ps) => new Adam(ps, { lr: 0.01 }), 6, 4);
    const e = Float64Array.from([0.5, -0.25, 1]);
    const l = Float64Array.from([1, 2]);
    const se = { m: new Float64Array(3), v: new Float64Array(3) };
    const sl = { m: new Float64Array(2), v: new Float64Array(2) };
    for (let s = 1; s <= 6; s++) {
      adamRef(e, grad(s, 3), se, s, 0.01);
      if (s >= 4) adamRef(l, grad(s + 10, 2), sl, s - 3, 0.01);
    }
    expectClose('early', early, e, TOL);
    expectClose('late', late, l, TOL);
    // At its first update a parameter moves by lr (m̂ / sqrt(v̂) = g / |g|), not 2.5 lr as a
    // correction by the optimiser's step would give it.
    expect([opt.stepCount, opt.parameterSteps('early'), opt.parameterSteps('late')]).toEqual([6, 6, 3]);
    opt.dispose();
  });

  it("Adam.keras counts the optimiser's steps, as Keras's iterations: a parameter first stepped at step 1001 moves about 2.5 lr", async () => {
    // One gradient of 0.5 into fresh moments at optimiser step t = 1001 (lr 0.01, PyTorch's eps
    // placement to keep the arithmetic plain): m = 0.05, v = 0.00025;
    // step = lr (m / (1 - 0.9^t)) / (sqrt(v / (1 - 0.999^t)) + eps) = 0.02515.
    const p = dn.tensor([1], [1], { requiresGrad: true, name: 'late' });
    const adam = new Adam([p], { lr: 0.01, biasCorrection: 'optimizer-steps' });
    adam.stepCount = 1000;
    p.grad = dn.tensor([0.5], [1]);
    adam.step();
    const [m, v, t] = [0.05, 0.00025, 1001];
    const step = (0.01 * (m / (1 - 0.9 ** t))) / (Math.sqrt(v / (1 - 0.999 ** t)) + 1e-8);
    expect(step).toBeCloseTo(0.02515, 5);
    expectClose('late parameter', await p.toArray(), [1 - step], TOL);
    expect(Adam.keras([p]).biasCorrection).toBe('optimizer-steps');
    adam.dispose();
    p.dispose();
  });

  it("Adagrad's learning-rate decay counts each parameter's own updates, as PyTorch's", async () => {
    const lrDecay = 0.5;
    const { late, opt } = await trainLate((ps) => new Adagrad(ps, { lr: 0.01, lrDecay }), 6, 4);
    const l = Float64Array.from([1, 2]);
    const sum = new Float64Array(2);
    for (let t = 1; t <= 3; t++) {
      const g = grad(t + 3 + 10, 2);
      const clr = 0.01 / (1 + (t - 1) * lrDecay);
      for (let i = 0; i < 2; i++) {
        sum[i] += g[i] * g[i];
        l[i] -= (clr * g[i]) / (Math.sqrt(sum[i]) + 1e-10);
      }
    }
    expectClose('late', late, l, TOL);
    opt.dispose();
  });
});

class Two extends Module {
  a = this.addParameter('a', dn.tensor([1, 2, 3], [3]));
  b = this.addParameter('b', dn.tensor([4, 5], [2]));
  forward(x: dn.Tensor): dn.Tensor {
    return x;
  }
}

describe('saved step counts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dawnet-steps-'));

  /** A model whose 'b' was updated at the last 2 of 5 steps. */
  function trained(): { model: Two; adam: Adam } {
    const model = new Two();
    const adam = new Adam(model.namedParameters(), { lr: 0.01 });
    for (let s = 1; s <= 5; s++) {
      model.a.grad = dn.tensor(grad(s, 3), [3]);
      if (s >= 4) model.b.grad = dn.tensor(grad(s, 2), [2]);
      adam.step();
      adam.zeroGrad();
    }
    return { model, adam };
  }

  it('a checkpoint keeps each parameter\'s count, and the resumed run steps as the uninterrupted one', async () => {
    const { model, adam } = trained();
    const path = join(dir, 'steps.safetensors');
    await saveCheckpoint(path, model, adam, {});
    const resumed = new Two();
    const adam2 = new Adam(resumed.namedParameters(), { lr: 0.01 });
    await loadCheckpoint(path, resumed, adam2);
    expect([adam2.stepCount, adam2.parameterSteps('a'), adam2.parameterSteps('b')]).toEqual([5, 5, 2]);
    for (const [m, o] of [[model, adam], [resumed, adam2]] as const) {
      m.a.grad = dn.tensor(grad(6, 3), [3]);
      m.b.grad = dn.tensor(grad(6, 2), [2]);
      o.step();
    }
    expect(await resumed.b.toArray()).toEqual(await model.b.toArray());
    expect(await resumed.a.toArray()).toEqual(await model.a.toArray());
    for (const o of [adam, adam2]) o.dispose();
    for (const m of [model, resumed]) m.dispose();
  });

  it('state saved without counts (before 2026-11-27) gives every parameter with state the optimiser\'s count, its old rule', async () => {
    const { model, adam } = trained();
    const { tensors, scalars } = adam.stateDict();
    expect(scalars.paramSteps).toEqual({ a: 5, b: 2 });
    const copy = () => new Map([...tensors].map(([k, t]) => [k, dn.add(t, 0)]));
    const other = new Two();
    const fresh = new Adam(other.namedParameters(), { lr: 0.01 });
    fresh.loadStateDict(copy(), { lr: scalars.lr, step: scalars.step });
    expect([fresh.parameterSteps('a'), fresh.parameterSteps('b')]).toEqual([5, 5]);
    // The next step is the old rule's: the same as an Adam that counts the optimiser's steps.
    const old = new Two();
    const byOptimizer = new Adam(old.namedParameters(), { lr: 0.01, biasCorrection: 'optimizer-steps' });
    byOptimizer.loadStateDict(copy(), { lr: scalars.lr, step: scalars.step });
    for (const [m, o] of [[other, fresh], [old, byOptimizer]] as const) {
      m.a.grad = dn.tensor(grad(6, 3), [3]);
      m.b.grad = dn.tensor(grad(6, 2), [2]);
      o.step();
    }
    expect(await other.b.toArray()).toEqual(await old.b.toArray());
    expect(await other.a.toArray()).toEqual(await old.a.toArray());
    for (const o of [adam, fresh, byOptimizer]) o.dispose();
    for (const m of [model, other, old]) m.dispose();
  });

  it('refuses counts it cannot use, naming the parameter, and keeps its own state', () => {
    const { model, adam } = trained();
    const { tensors, scalars } = adam.stateDict();
    const bad: [Record<string, number> | unknown, RegExp][] = [
      [{ a: 5, c: 1 }, /'c' belongs to no parameter/],
      [{ a: 6 }, /step count of 'a' must be a whole number from 0 to the optimiser's 5 steps, got the number 6/],
      [{ a: 1.5 }, /step count of 'a'/],
      [{ a: -1 }, /step count of 'a'/],
      [[5, 2], /paramSteps must map parameter names/],
    ];
    for (const [paramSteps, message] of bad) {
      expect(() => adam.loadStateDict(new Map(tensors), { ...scalars, paramSteps } as never)).toThrow(message);
      expect([adam.parameterSteps('a'), adam.parameterSteps('b'), adam.stepCount]).toEqual([5, 2, 5]);
    }
    // The optimiser's own numbers: a direct caller's state without them would train at lr undefined.
    const badScalars: [object, RegExp][] = [
      [{ step: 5 }, /lr must be a finite number >= 0, got undefined/],
      [{ lr: -1, step: 5 }, /lr must be/],
      [{ lr: Number.NaN, step: 5 }, /lr must be/],
      [{ lr: 0.01 }, /step must be a whole number >= 0, got undefined/],
      [{ lr: 0.01, step: 2.5 }, /step must be/],
    ];
    for (const [numbers, message] of badScalars) {
      expect(() => adam.loadStateDict(new Map(tensors), numbers as never)).toThrow(message);
      expect([adam.lr, adam.stepCount]).toEqual([0.01, 5]);
    }
    adam.dispose();
    model.dispose();
  });
});
