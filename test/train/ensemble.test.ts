// EnsembleModel: its forward is the mean of its members' forwards worked out on the host, with
// TTA on top as for one model; one member passes through; eval() and dispose() reach every member.
import { describe, expect, it } from 'vitest';
import { ArgumentError } from '../../src/errors.js';
import { noGrad } from '../../src/graph/autograd.js';
import { runtime } from '../../src/gpu/runtime.js';
import { Conv2d, Sequential, Sigmoid } from '../../src/nn/layers.js';
import type { Module } from '../../src/nn/module.js';
import { EnsembleModel } from '../../src/train/ensemble.js';
import { predictWithTta } from '../../src/train/tta.js';
import { expectClose } from '../helpers/close.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

const SHAPE = [2, 5, 7, 3];
const DATA = Float32Array.from(uniform(2 * 5 * 7 * 3, 91));

const member = (seed: number): Module => new Sequential(new Conv2d(3, 2, { seed }), new Sigmoid());

async function run(model: Module, tta = false): Promise<Float32Array> {
  const x = fromNd(DATA, SHAPE);
  const y = noGrad(() => (tta ? predictWithTta(model, x, 'flip') : model.forward(x)));
  const out = await y.toArray();
  x.dispose();
  y.dispose();
  return out;
}

describe('EnsembleModel', () => {
  it("is the mean of its members' outputs, and takes TTA as one model does", async () => {
    const members = [member(1), member(2), member(3)];
    const outs = await Promise.all(members.map((m) => run(m)));
    const ttaOuts = await Promise.all(members.map((m) => run(m, true)));
    const ensemble = new EnsembleModel(members).eval();
    const mean = (parts: Float32Array[]) => parts[0].map((_, i) => parts.reduce((s, p) => s + p[i], 0) / parts.length);
    // float32 sums of three values in (0, 1) and a scale by 1/3: a few ulp.
    expectClose('mean', await run(ensemble), mean(outs), { atol: 1e-6, rtol: 1e-6 });
    expectClose('mean with flip TTA', await run(ensemble, true), mean(ttaOuts), { atol: 1e-6, rtol: 1e-6 });
    expect(outs[0].some((v, i) => v !== outs[1][i]), 'the members differ').toBe(true);
    ensemble.dispose();
  });

  it('passes one member through, and frees its members with it', async () => {
    const inUse = runtime().pool.getStats().bytesInUse;
    const one = member(4);
    const alone = await run(one);
    await runtime().sync();
    const ensemble = new EnsembleModel([one]);
    expect([...(await run(ensemble))]).toEqual([...alone]);
    expect(ensemble.namedParameters().map((p) => p.name)).toEqual(['member0.0.weight', 'member0.0.bias']);
    ensemble.dispose();
    expect(runtime().pool.getStats().bytesInUse).toBe(inUse);
  });

  it('refuses a recorded forward (inference only) and members of other output shapes, by member', () => {
    const x = fromNd(uniform(48, 5), [1, 4, 4, 3]);
    const ensemble = new EnsembleModel([member(5), new Sequential(new Conv2d(3, 1, { seed: 6 }), new Sigmoid())]).eval();
    expect(() => ensemble.forward(x)).toThrow(/^EnsembleModel: inference only; run its forward under dn.noGrad/);
    expect(() => noGrad(() => ensemble.forward(x))).toThrow('EnsembleModel: member1 gives [1,4,4,1] where member0 gives [1,4,4,2]; the members must give outputs of one shape to be averaged');
    // Frozen members record nothing to train: a forward on the tape is then allowed.
    ensemble.freeze();
    expect(() => ensemble.forward(x)).toThrow(/member1 gives/);
    ensemble.dispose();
    x.dispose();
  });

  it('refuses no members or a non-Module', () => {
    expect(() => new EnsembleModel([])).toThrow(ArgumentError);
    expect(() => new EnsembleModel([{} as Module])).toThrow(/EnsembleModel: members must be a non-empty array of Modules/);
  });
});
