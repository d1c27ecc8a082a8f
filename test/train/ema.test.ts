// WeightEma on its own: several updates against a float64 simulation (with and without warmup),
// which tensors it averages, swapIn/swapOut/apply restoring the live weights bit for bit (also when
// the function throws or its promise rejects), and its argument errors.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { runtime } from '../../src/gpu/runtime.js';
import { expectClose } from '../helpers/close.js';
import { emaDecayRef, emaUpdateRef } from '../helpers/ema-ref.js';
import { useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

/** A parameter of odd size, one of a vec4 size, a frozen one and a buffer (as batch norm's running mean). */
class Net extends dn.Module {
  w = this.addParameter('w', dn.tensor(Float32Array.from(uniform(6, 1)), [2, 3]));
  b = this.addParameter('b', dn.tensor(Float32Array.from(uniform(8, 2)), [8]));
  frozen = this.addParameter('frozen', dn.tensor([1, 2, 3], [3]));
  rm = this.addBuffer('running_mean', dn.tensor(Float32Array.from(uniform(5, 3)), [5]));
  constructor() {
    super();
    this.freeze('frozen');
  }
  forward(x: dn.Tensor): dn.Tensor {
    return x;
  }
}

const AVERAGED = ['w', 'b', 'running_mean'] as const;
const tensorOf = (m: Net, name: string): dn.Tensor => m.stateDict().get(name)!;

describe('WeightEma', () => {
  for (const warmup of [true, false]) {
    it(`20 updates match a float64 simulation (warmup ${warmup})`, async () => {
      const model = new Net();
      // decay 0.6: the warmup's (1 + t) / (10 + t) passes it at t = 12.5, so both regimes are run.
      const ema = new dn.train.WeightEma(model, { decay: 0.6, warmup });
      expect(ema.names).toEqual([...AVERAGED]);
      const sim = new Map<string, Float64Array>();
      for (const n of AVERAGED) sim.set(n, Float64Array.from(await tensorOf(model, n).toArray()));
      for (let t = 0; t < 20; t++) {
        expect(ema.nextDecay()).toBe(emaDecayRef(0.6, t, warmup));
        for (const [k, n] of AVERAGED.entries()) {
          const live = tensorOf(model, n);
          const values = Float32Array.from(uniform(live.size, 100 * t + k, -2, 2));
          runtime().write(live.buffer, values);
          sim.set(n, emaUpdateRef(sim.get(n)!, values, emaDecayRef(0.6, t, warmup)));
        }
        ema.update();
      }
      expect(ema.updates).toBe(20);
      const shadows = ema.shadows();
      for (const n of AVERAGED) expectClose(`shadow ${n} after 20 updates`, await shadows.get(n)!.toArray(), sim.get(n)!);
      ema.dispose();
      model.dispose();
    });
  }

  it('the warmup follows min(decay, (1 + t) / (10 + t))', () => {
    const model = new Net();
    const ema = new dn.train.WeightEma(model);
    const decays: number[] = [];
    for (let t = 0; t < 3; t++) {
      decays.push(ema.nextDecay());
      ema.update();
    }
    expect(decays).toEqual([0.1, 2 / 11, 3 / 12]);
    ema.updates = 10_000;
    expect(ema.nextDecay()).toBe(0.999);
    ema.dispose();
    model.dispose();
  });

  it('swapIn puts the averages in, swapOut the live weights back exactly; frozen parameters are left alone', async () => {
    const model = new Net();
    const ema = new dn.train.WeightEma(model, { decay: 0.5, warmup: false });
    for (const n of AVERAGED) runtime().write(tensorOf(model, n).buffer, Float32Array.from(uniform(tensorOf(model, n).size, 7, 5, 6)));
    ema.update();
    const live = new Map<string, Float32Array>();
    for (const [n, t] of model.stateDict()) live.set(n, await t.toArray());
    ema.swapIn();
    expect(ema.swapped).toBe(true);
    for (const [n, s] of ema.shadows()) expect(await tensorOf(model, n).toArray(), `${n} swapped in`).toEqual(await s.toArray());
    expect(await tensorOf(model, 'frozen').toArray()).toEqual(Float32Array.from([1, 2, 3]));
    expect(() => ema.swapIn()).toThrow(dn.ArgumentError);
    expect(() => ema.update()).toThrow(dn.ArgumentError);
    ema.swapOut();
    for (const [n, t] of model.stateDict()) expect(await t.toArray(), `${n} after swapOut`).toEqual(live.get(n));
    expect(() => ema.swapOut()).toThrow(dn.ArgumentError);
    ema.dispose();
    model.dispose();
  });

  it('apply restores the live weights when fn returns, throws, or its promise rejects', async () => {
    const model = new Net();
    const ema = new dn.train.WeightEma(model, { decay: 0.5, warmup: false });
    runtime().write(model.w.buffer, Float32Array.from([9, 9, 9, 9, 9, 9]));
    ema.update();
    const live = await model.w.toArray();
    const averaged = await ema.shadows().get('w')!.toArray();
    expect(averaged).not.toEqual(live);
    expect(await ema.apply(() => model.w.toArray())).toEqual(averaged);
    expect(await model.w.toArray()).toEqual(live);
    expect(() => ema.apply(() => {
      throw new RangeError('boom');
    })).toThrow(RangeError);
    expect(ema.swapped).toBe(false);
    expect(await model.w.toArray()).toEqual(live);
    await expect(ema.apply(async () => {
      await model.w.toArray();
      throw new RangeError('later');
    })).rejects.toThrow(RangeError);
    expect(ema.swapped).toBe(false);
    expect(await model.w.toArray()).toEqual(live);
    ema.dispose();
    model.dispose();
  });

  it('reset copies the live weights; dispose while swapped in puts them back first', async () => {
    const model = new Net();
    const ema = new dn.train.WeightEma(model, { decay: 0.5 });
    runtime().write(model.b.buffer, new Float32Array(8).fill(4));
    ema.update();
    ema.reset();
    expect(ema.updates).toBe(0);
    expect(await ema.shadows().get('b')!.toArray()).toEqual(new Float32Array(8).fill(4));
    runtime().write(model.b.buffer, new Float32Array(8).fill(6));
    ema.swapIn();
    ema.dispose();
    expect(await model.b.toArray()).toEqual(new Float32Array(8).fill(6));
    expect(() => ema.update()).toThrow(dn.DisposedError);
    model.dispose();
  });

  it('checks its arguments', () => {
    const model = new Net();
    expect(() => new dn.train.WeightEma(model, { decay: 1 })).toThrow(dn.ArgumentError);
    expect(() => new dn.train.WeightEma(model, { decay: -0.1 })).toThrow(dn.ArgumentError);
    expect(() => new dn.train.WeightEma(model, { warmup: 'yes' as unknown as boolean })).toThrow(dn.ArgumentError);
    expect(() => new dn.train.WeightEma({} as dn.Module)).toThrow(dn.ArgumentError);
    model.dispose();
  });
});
