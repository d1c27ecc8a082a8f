// The learning-rate range test on tiny models: the exponential schedule, the bias-corrected
// smoothing against a hand computation, the stop on divergence, and the model and optimiser put
// back bit for bit afterwards (also when the loss throws half-way).

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

const mse = (p: dn.Tensor, y: dn.Tensor) => dn.mean(dn.square(dn.sub(p, y)));

// The datasets make each batch when it is asked for: the test may stop before an epoch's end, and
// batches made ahead would be left to no one.

/** Fixed batches of rows [x] -> y each epoch, counting the epochs asked for. */
function rows(batches: [number[][], number[]][], seen: number[] = []): dn.train.Dataset {
  return {
    *batches(epoch) {
      seen.push(epoch);
      for (const [x, y] of batches) yield { x: dn.tensor(x), y: dn.tensor(y.map((v) => [v])) };
    },
  };
}

/** Conv, batch norm, dropout and a dense head: weights, buffers and scalar state all change in training. */
function convNet(): dn.Module {
  dn.setInitSeed(7);
  return new dn.nn.Sequential(
    new dn.nn.Conv2d(2, 3, { seed: 1 }),
    new dn.nn.BatchNorm2d(3),
    new dn.nn.ReLU(),
    new dn.nn.Dropout(0.25, 5),
    new dn.nn.GlobalAvgPool2d(),
    new dn.nn.Linear(3, 1, { seed: 2 }),
  );
}

function images(n: number): dn.train.Dataset {
  return {
    *batches(epoch) {
      for (let i = 0; i < n; i++) {
        yield {
          x: dn.tensor(Float32Array.from(uniform(3 * 4 * 4 * 2, 100 + 10 * epoch + i)), [3, 4, 4, 2]),
          y: dn.tensor(Float32Array.from(uniform(3, 200 + 10 * epoch + i)), [3, 1]),
        };
      }
    },
  };
}

/** Everything the test must put back, as host copies. */
async function stateOf(model: dn.Module, optimizer: dn.optim.Optimizer) {
  const bytes = async (m: Map<string, dn.Tensor>) => new Map(await Promise.all([...m].map(async ([k, t]) => [k, Buffer.from((await t.toArray()).buffer)] as const)));
  const { tensors, scalars } = optimizer.stateDict();
  const modes: boolean[] = [];
  const walk = (m: dn.Module) => (modes.push(m.training), m.namedChildren().forEach(([, c]) => walk(c)));
  walk(model);
  return {
    model: await bytes(model.stateDict()),
    scalarState: model.namedScalarState(),
    optimizer: await bytes(tensors),
    scalars: { ...scalars },
    lr: optimizer.lr,
    modes,
    grads: model.parameters().map((p) => p.grad === null),
  };
}

describe('findLearningRate: schedule and smoothing', () => {
  it('raises the rate exponentially from minLr to maxLr exactly, cycling the epochs', async () => {
    const model = new dn.nn.Sequential(new dn.nn.Linear(2, 1, { seed: 3 }));
    const optimizer = new dn.optim.SGD(model.parameters(), { lr: 0.5 });
    const stepped: number[] = [];
    const step = optimizer.step.bind(optimizer);
    optimizer.step = () => (stepped.push(optimizer.lr), step());
    const epochs: number[] = [];
    const data = rows([[[[1, 2]], [0.5]], [[[2, -1]], [0.1]], [[[0, 1]], [1]]], epochs);
    const r = await dn.train.findLearningRate(model, data, { optimizer, loss: mse, minLr: 1e-4, maxLr: 1e-2, steps: 7, divergeFactor: 1e9 });
    expect(r.lrs).toHaveLength(7);
    expect(r.lrs[0]).toBe(1e-4);
    expect(r.lrs[6]).toBe(1e-2);
    for (let i = 0; i < 7; i++) expect(Math.abs(r.lrs[i] / (1e-4 * 100 ** (i / 6)) - 1)).toBeLessThan(1e-12);
    // A constant ratio between neighbours: exponential, not linear.
    for (let i = 1; i < 7; i++) expect(Math.abs(r.lrs[i] / r.lrs[i - 1] / 100 ** (1 / 6) - 1)).toBeLessThan(1e-12);
    expect(stepped).toEqual(r.lrs);
    expect(epochs).toEqual([0, 1, 2]);
    expect(r.stoppedEarly).toBe(false);
    expect(optimizer.lr).toBe(0.5);
    optimizer.dispose();
    model.dispose();
  });

  it('smooths the loss with a bias-corrected exponential average (hand computation)', async () => {
    // The loss is the batch's y exactly (p - p adds a zero with a gradient path).
    const ys = [4, 2, 3, 8, 1];
    const model = new dn.nn.Sequential(new dn.nn.Linear(1, 1, { seed: 4 }));
    const optimizer = new dn.optim.SGD(model.parameters(), { lr: 0.1 });
    const data = rows(ys.map((y) => [[[1]], [y]]));
    const loss = (p: dn.Tensor, y: dn.Tensor) => dn.mean(dn.add(y, dn.sub(p, p)));
    const r = await dn.train.findLearningRate(model, data, { optimizer, loss, steps: 5, smoothing: 0.5, divergeFactor: 1e9 });
    expect(r.losses).toEqual(ys);
    // avg_i = 0.5 avg_(i-1) + 0.5 y_i from avg = 0; smoothed_i = avg_i / (1 - 0.5^(i+1)).
    const avg = [2, 2, 2.5, 5.25, 3.125];
    const want = avg.map((a, i) => a / (1 - 0.5 ** (i + 1)));
    expect(want.slice(0, 3)).toEqual([4, 8 / 3, 20 / 7]);
    r.smoothed.forEach((s, i) => expect(s).toBeCloseTo(want[i], 12));
    optimizer.dispose();
    model.dispose();
  });

  it('stops once the smoothed loss passes divergeFactor x the best (SGD on w^2 diverges above lr 1)', async () => {
    // loss = (w x)^2 with x = 1: SGD multiplies w by (1 - 2 lr) each step, so it blows up once lr > 1.
    const model = new dn.nn.Sequential(new dn.nn.Linear(1, 1, { seed: 5, bias: false }));
    const optimizer = new dn.optim.SGD(model.parameters(), { lr: 0.01 });
    const before = await model.parameters()[0].toArray();
    const data = rows([[[[1]], [0]]]);
    const r = await dn.train.findLearningRate(model, data, { optimizer, loss: mse, minLr: 1e-3, maxLr: 1e3, steps: 60 });
    expect(r.stoppedEarly).toBe(true);
    expect(r.lrs.length).toBeLessThan(60);
    expect(r.lrs.at(-1)!).toBeGreaterThan(1);
    const best = (k: number) => Math.min(...r.smoothed.slice(0, k + 1));
    r.smoothed.slice(0, -1).forEach((s, k) => expect(s).toBeLessThanOrEqual(4 * best(k)));
    expect(r.smoothed.at(-1)!).toBeGreaterThan(4 * best(r.smoothed.length - 1));
    expect(await model.parameters()[0].toArray()).toEqual(before);
    optimizer.dispose();
    model.dispose();
  });

  it('a NaN loss ends the test at once', async () => {
    const model = new dn.nn.Sequential(new dn.nn.Linear(1, 1, { seed: 6 }));
    const optimizer = new dn.optim.SGD(model.parameters(), { lr: 0.1 });
    const loss = (p: dn.Tensor, y: dn.Tensor) => dn.mean(dn.add(y, dn.sub(p, p)));
    const r = await dn.train.findLearningRate(model, rows([[[[1]], [1]], [[[1]], [Number.NaN]], [[[1]], [1]]]), { optimizer, loss, steps: 10 });
    expect(r.losses).toHaveLength(2);
    expect(r.stoppedEarly).toBe(true);
    optimizer.dispose();
    model.dispose();
  });
});

describe('findLearningRate: restores the model and the optimiser', () => {
  for (const kind of ['Adam after two steps', 'fresh SGD with momentum'] as const) {
    for (const failing of [false, true]) {
      it(`${kind}${failing ? ', the loss throwing at the third batch' : ''}: weights, buffers, state, lr and mode bit for bit`, async () => {
        const model = convNet();
        const twin = convNet();
        const make = (m: dn.Module) =>
          kind === 'fresh SGD with momentum' ? new dn.optim.SGD(m.trainableParameters(), { lr: 0.05, momentum: 0.9 }) : new dn.optim.Adam(m.trainableParameters(), { lr: 0.01 });
        const optimizer = make(model);
        const twinOptimizer = make(twin);
        if (kind === 'Adam after two steps') {
          for (const [m, o] of [[model, optimizer], [twin, twinOptimizer]] as const) await dn.train.fit(m, images(2), null, { epochs: 1, optimizer: o, loss: mse });
        }
        model.eval();
        twin.eval();
        const before = await stateOf(model, optimizer);
        let calls = 0;
        const loss = (p: dn.Tensor, y: dn.Tensor) => {
          if (failing && ++calls === 3) throw new Error('loss failed');
          return mse(p, y);
        };
        const run = dn.train.findLearningRate(model, images(2), { optimizer, loss, minLr: 1e-3, maxLr: 10, steps: 5, divergeFactor: 1e9 });
        if (failing) await expect(run).rejects.toThrow('loss failed');
        else expect((await run).losses).toHaveLength(5);
        const after = await stateOf(model, optimizer);
        expect(after.model).toEqual(before.model);
        expect(after.scalarState).toEqual(before.scalarState);
        expect(after.optimizer).toEqual(before.optimizer);
        expect(after.scalars).toEqual(before.scalars);
        expect(after.lr).toBe(before.lr);
        expect(after.modes).toEqual(before.modes);
        expect(after.grads).toEqual(before.grads);
        if (kind === 'fresh SGD with momentum') expect(optimizer.stateDict().tensors.size).toBe(0);
        // The next real epoch trains exactly as the twin's, which never saw the test.
        for (const [m, o] of [[model, optimizer], [twin, twinOptimizer]] as const) await dn.train.fit(m, images(2), null, { epochs: 1, optimizer: o, loss: mse });
        expect((await stateOf(model, optimizer)).model).toEqual((await stateOf(twin, twinOptimizer)).model);
        for (const t of [optimizer, twinOptimizer, model, twin]) t.dispose();
      });
    }
  }
});

describe('suggestLearningRate', () => {
  // A synthetic range test: flat, a fall centred at 1e-3, a floor, then a blow-up past 1e-1; and
  // artefacts the rule must ignore: a steep first few points and a cliff at the very end.
  const lrs = Array.from({ length: 100 }, (_, i) => dn.train.lrAtStep(i, 100, 1e-6, 1));
  const curve = lrs.map((lr) => {
    const u = Math.log10(lr);
    return 1 - 0.4 * Math.tanh(2 * (u + 3)) + 0.2 * Math.exp(3 * (u + 1));
  });
  curve[0] = 5;
  curve[1] = 3;
  curve[99] = -10;

  it('picks the steepest descent in log-lr, not the lowest loss, ignoring the first and last points', () => {
    const pick = dn.train.suggestLearningRate(lrs, curve)!;
    expect(Math.abs(Math.log10(pick.lr) + 3)).toBeLessThan(0.1);
    expect(pick.slope).toBeLessThan(0);
    const lowest = curve.slice(0, 99).indexOf(Math.min(...curve.slice(0, 99)));
    expect(Math.abs(pick.index - lowest)).toBeGreaterThan(10);
  });

  it('keeps only the leading finite points; too few points give null', () => {
    const cut = curve.slice(0, 60).concat(Number.NaN, Number.POSITIVE_INFINITY);
    const pick = dn.train.suggestLearningRate(lrs.slice(0, 62), cut)!;
    expect(Math.abs(Math.log10(pick.lr) + 3)).toBeLessThan(0.1);
    expect(dn.train.suggestLearningRate([1e-3], [1])).toBeNull();
    expect(dn.train.suggestLearningRate([1e-3, 1e-2, 1e-1], [1, Number.NaN, 0])).toBeNull();
    expect(dn.train.suggestLearningRate([1e-3, 1e-2, 1e-1], [1, 0.5, 0.4])!.index).toBe(0);
    expect(() => dn.train.suggestLearningRate([1, 2], [1])).toThrow(dn.ArgumentError);
  });

  it('a short test (under 20 steps) still leaves out its last step: it never suggests maxLr', () => {
    // The loss falls ever faster up to the last step, where the steepest slope would be maxLr's.
    for (const n of [4, 10, 19]) {
      const short = Array.from({ length: n }, (_, i) => dn.train.lrAtStep(i, n, 1e-7, 1));
      const falling = short.map((_, i) => 1 - (i / (n - 1)) ** 3);
      const pick = dn.train.suggestLearningRate(short, falling)!;
      expect(pick.index, `${n} steps`).toBe(n - 2);
      expect(pick.lr).toBeLessThan(1);
      expect(dn.train.suggestLearningRate(short, falling, { skipEnd: 0 })!.index, 'skipEnd 0 asked for').toBe(n - 1);
    }
    expect(dn.train.suggestLearningRate([1e-3, 1], [1, 0.5]), 'two steps: one left, no slope').toBeNull();
  });
});

describe('findLearningRate: arguments', () => {
  it('bad arguments are ArgumentErrors naming findLearningRate', async () => {
    const model = new dn.nn.Sequential(new dn.nn.Linear(1, 1, { seed: 8 }));
    const optimizer = new dn.optim.SGD(model.parameters());
    const data = rows([[[[1]], [1]]]);
    const ok = { optimizer, loss: mse };
    const bad: [unknown, unknown, unknown][] = [
      [{}, data, ok],
      [model, [], ok],
      [model, data, { ...ok, optimizer: {} }],
      [model, data, { ...ok, loss: 3 }],
      [model, data, { ...ok, minLr: 0 }],
      [model, data, { ...ok, minLr: 1e-2, maxLr: 1e-2 }],
      [model, data, { ...ok, steps: 1 }],
      [model, data, { ...ok, steps: 2.5 }],
      [model, data, { ...ok, smoothing: 1 }],
      [model, data, { ...ok, divergeFactor: 1 }],
      [model, data, undefined],
    ];
    for (const [m, d, o] of bad) {
      await expect(dn.train.findLearningRate(m as dn.Module, d as dn.train.Dataset, o as dn.train.LrFinderOptions)).rejects.toThrow(dn.ArgumentError);
      await expect(dn.train.findLearningRate(m as dn.Module, d as dn.train.Dataset, o as dn.train.LrFinderOptions)).rejects.toThrow(/^findLearningRate: /);
    }
    await expect(dn.train.findLearningRate(model, { batches: () => [] }, ok)).rejects.toThrow(/^findLearningRate: the dataset gave no batches/);
    optimizer.dispose();
    model.dispose();
  });
});
