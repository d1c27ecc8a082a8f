// What a checkpoint's optimiser state means and which settings it was made with. RMSprop's two
// conventions keep momentum buffers that differ by a factor of lr, so state of one is refused by
// the other; the other settings (betas, eps, momentum...) stay the given optimiser's on resume, as
// in Keras, and a difference from the recorded ones is warned of once, naming the file and each.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import * as dn from '../../src/index.js';
import { decodeSafetensors, encodeSafetensors } from '../../src/io/safetensors.js';
import { Module } from '../../src/nn/module.js';
import type { Optimizer } from '../../src/optim/optimizer.js';
import { loadCheckpoint, saveCheckpoint } from '../../src/train/checkpoint.js';
import { expectClose } from '../helpers/close.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

class One extends Module {
  w: dn.Tensor;
  constructor(fill: number) {
    super();
    this.w = this.addParameter('weight', dn.full([2, 2], fill));
  }
  forward(x: dn.Tensor): dn.Tensor {
    return dn.mul(x, this.w);
  }
}

const dir = mkdtempSync(join(tmpdir(), 'dawnet-optim-resume-'));
const GRADS = [
  [0.5, -1, 2, 0.25],
  [-0.75, 0.5, 1, -2],
];

function stepWith(m: One, opt: Optimizer, g: number[]): void {
  m.w.grad = dn.tensor(g, [2, 2]);
  opt.step();
  m.w.zeroGrad();
}

/** A model after one step of `make`'s optimiser, saved as `file` (optionally with `edit` applied to the optimiser metadata). */
async function saved(file: string, make: (m: One) => Optimizer, edit?: (o: Record<string, unknown>) => void) {
  const m = new One(1);
  const opt = make(m);
  stepWith(m, opt, GRADS[0]);
  const path = join(dir, file);
  await saveCheckpoint(path, m, opt, {});
  if (edit) {
    const { tensors, metadata } = decodeSafetensors(readFileSync(path), path);
    const o = JSON.parse(metadata.optimizer) as Record<string, unknown>;
    edit(o);
    writeFileSync(path, encodeSafetensors(tensors, { ...metadata, optimizer: JSON.stringify(o) }));
  }
  return { m, opt, path };
}

const rmsKeras = (m: One) => dn.optim.RMSprop.keras(m.trainableParameters(), { learningRate: 0.1, momentum: 0.9 });
const rmsTorch = (m: One) => new dn.optim.RMSprop(m.trainableParameters(), { lr: 0.1, momentum: 0.9 });

afterEach(() => {
  vi.restoreAllMocks();
});

describe("RMSprop's convention in checkpoints", () => {
  it('is recorded with the state', async () => {
    const { m, opt, path } = await saved('rms-recorded.safetensors', rmsKeras);
    const o = JSON.parse(decodeSafetensors(readFileSync(path), path).metadata.optimizer) as Record<string, unknown>;
    expect(o.convention).toBe('keras');
    expect(o.hyperparameters).toEqual({ alpha: 0.9, eps: 1e-7, weightDecay: 0, momentum: 0.9, centered: false });
    m.dispose();
    opt.dispose();
  });

  for (const [from, to, make, hint] of [
    ['keras', 'pytorch', rmsTorch, /RMSprop\.keras\(params/],
    ['pytorch', 'keras', rmsKeras, /new RMSprop\(params/],
  ] as const) {
    it(`state saved under '${from}' is refused by a '${to}' RMSprop, naming the file and both, with model and optimiser untouched`, async () => {
      const a = await saved(`rms-${from}.safetensors`, from === 'keras' ? rmsKeras : rmsTorch);
      const b = new One(3);
      const opt = make(b);
      const err = await loadCheckpoint(a.path, b, opt).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(dn.FormatError);
      const message = (err as Error).message;
      expect(message).toMatch(new RegExp(`^${a.path.replace(/[.\\/]/g, '\\$&')}: optimizer state: the RMSprop state was saved with the '${from}' convention but this RMSprop uses '${to}'`));
      expect(message).toMatch(/differ by a factor of the learning rate/);
      expect(message).toMatch(hint);
      expectClose('weights untouched', await b.w.toArray(), new Array(4).fill(3));
      expect([opt.lr, opt.stepCount, opt.stateDict().tensors.size]).toEqual([0.1, 0, 0]);
      for (const x of [a.m, b]) x.dispose();
      for (const x of [a.opt, opt]) x.dispose();
    });
  }

  it('control: the same convention resumes, and the next step matches the uninterrupted run, with no warning', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const a = await saved('rms-same.safetensors', rmsKeras);
    const b = new One(3);
    const opt = rmsKeras(b);
    expect((await loadCheckpoint(a.path, b, opt)).optimizerRestored).toBe(true);
    stepWith(a.m, a.opt, GRADS[1]);
    stepWith(b, opt, GRADS[1]);
    expectClose('resumed step', await b.w.toArray(), await a.m.w.toArray());
    expect(warn).not.toHaveBeenCalled();
    for (const x of [a.m, b]) x.dispose();
    for (const x of [a.opt, opt]) x.dispose();
  });

  it('state saved before the convention was recorded loads into either, as before', async () => {
    const a = await saved('rms-old.safetensors', rmsKeras, (o) => {
      delete o.convention;
      delete o.hyperparameters;
    });
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    for (const make of [rmsTorch, rmsKeras]) {
      const b = new One(3);
      const opt = make(b);
      expect((await loadCheckpoint(a.path, b, opt)).optimizerRestored).toBe(true);
      expect(opt.stepCount).toBe(1);
      b.dispose();
      opt.dispose();
    }
    expect(warn).not.toHaveBeenCalled();
    a.m.dispose();
    a.opt.dispose();
  });

  it('loadStateDict refuses it too, and leaves its own state', () => {
    const w = dn.tensor([1, 2], [2], { requiresGrad: true, name: 'w' });
    const keras = dn.optim.RMSprop.keras([w], { momentum: 0.5 });
    w.grad = dn.tensor([1, 1], [2]);
    keras.step();
    const torch = new dn.optim.RMSprop([w], { momentum: 0.5 });
    const { tensors, scalars } = keras.stateDict();
    expect(() => torch.loadStateDict(new Map(tensors), scalars)).toThrow(dn.FormatError);
    expect([torch.stepCount, torch.stateDict().tensors.size]).toEqual([0, 0]);
    w.zeroGrad();
    for (const x of [keras, torch]) x.dispose();
    w.dispose();
  });
});

describe('settings on resume', () => {
  const adam = (opts: dn.optim.AdamOptions) => (m: One) => new dn.optim.Adam(m.trainableParameters(), { lr: 0.1, ...opts });

  it('other settings than the saved ones are warned of once, naming the file and each with both values; the given ones stay', async () => {
    const a = await saved('adam-settings.safetensors', adam({ beta2: 0.99, weightDecay: 0.01 }));
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const b = new One(3);
    const opt = new dn.optim.Adam(b.trainableParameters(), { lr: 0.5, beta2: 0.999, eps: 1e-6, weightDecay: 0.01 });
    expect((await loadCheckpoint(a.path, b, opt)).optimizerRestored).toBe(true);
    expect(warn).toHaveBeenCalledTimes(1);
    const message = String(warn.mock.calls[0][0]);
    expect(message.startsWith(`${a.path}: resuming Adam with other settings than it was saved with`), message).toBe(true);
    expect(message).toContain('beta2: 0.99 saved, 0.999 given');
    expect(message).toContain('eps: 1e-8 saved, 0.000001 given');
    expect(message).not.toContain('weightDecay');
    expect(message).not.toContain('beta1');
    expect(message).toMatch(/Only the learning rate and step counts come from the checkpoint/);
    // The learning rate and steps come from the file; the rest stay as built.
    expect([opt.lr, opt.stepCount, opt.beta2, opt.eps]).toEqual([0.1, 1, 0.999, 1e-6]);
    for (const x of [a.m, b]) x.dispose();
    for (const x of [a.opt, opt]) x.dispose();
  });

  it("Adam.keras's state resumed by a PyTorch-convention Adam names eps, epsilonMode and biasCorrection", async () => {
    const a = await saved('adam-keras.safetensors', (m) => dn.optim.Adam.keras(m.trainableParameters(), { learningRate: 0.1 }));
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const b = new One(3);
    const opt = adam({})(b);
    await loadCheckpoint(a.path, b, opt);
    expect(warn).toHaveBeenCalledTimes(1);
    const message = String(warn.mock.calls[0][0]);
    expect(message).toContain("epsilonMode: 'keras' saved, 'pytorch' given");
    expect(message).toContain("biasCorrection: 'optimizer-steps' saved, 'parameter-steps' given");
    expect(message).toContain('eps: 1e-7 saved, 1e-8 given');
    for (const x of [a.m, b]) x.dispose();
    for (const x of [a.opt, opt]) x.dispose();
  });

  it('control: the same settings (whatever the lr given) load with no warning', async () => {
    const cases: [string, (m: One) => Optimizer][] = [
      ['Adam', adam({ beta2: 0.99 })],
      ['AdamW', (m) => new dn.optim.AdamW(m.trainableParameters(), { weightDecay: 0.05 })],
      ['SGD', (m) => new dn.optim.SGD(m.trainableParameters(), { momentum: 0.9, nesterov: true })],
      ['RMSprop', (m) => new dn.optim.RMSprop(m.trainableParameters(), { centered: true, momentum: 0.5 })],
      ['Adagrad', (m) => new dn.optim.Adagrad(m.trainableParameters(), { lrDecay: 0.01, initialAccumulatorValue: 0.1 })],
    ];
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    for (const [kind, make] of cases) {
      const a = await saved(`same-${kind}.safetensors`, make);
      const b = new One(3);
      const opt = make(b);
      opt.lr = 0.25;
      expect((await loadCheckpoint(a.path, b, opt)).optimizerRestored, kind).toBe(true);
      for (const x of [a.m, b]) x.dispose();
      for (const x of [a.opt, opt]) x.dispose();
    }
    expect(warn).not.toHaveBeenCalled();
  });

  it('each optimiser records its settings, and a change of any is found', () => {
    const w = dn.tensor([1, 2], [2], { requiresGrad: true, name: 'w' });
    const pairs: [Optimizer, Optimizer, string[]][] = [
      [new dn.optim.SGD([w], { momentum: 0.9, nesterov: true }), new dn.optim.SGD([w], { momentum: 0.8 }), ['momentum', 'nesterov']],
      [new dn.optim.RMSprop([w], { centered: true }), new dn.optim.RMSprop([w], { alpha: 0.9 }), ['alpha', 'centered']],
      [new dn.optim.Adagrad([w], { initialAccumulatorValue: 0.1 }), new dn.optim.Adagrad([w], { eps: 1e-8 }), ['initialAccumulatorValue', 'eps']],
      [new dn.optim.AdamW([w]), new dn.optim.AdamW([w], { weightDecay: 0 }), ['weightDecay']],
    ];
    for (const [before, now, names] of pairs) {
      const recorded = before.stateDict().scalars.hyperparameters;
      expect(recorded, before.kind).toEqual(before.hyperparameters());
      expect(now.hyperparameterChanges(recorded).map((c) => c.slice(0, c.indexOf(':'))), before.kind).toEqual(names);
      expect(before.hyperparameterChanges(recorded), before.kind).toEqual([]);
      expect(now.hyperparameterChanges(undefined), before.kind).toEqual([]);
      before.dispose();
      now.dispose();
    }
    w.dispose();
  });

  it('damaged settings or convention in the file are a FormatError naming it, with the model untouched', async () => {
    for (const [key, value] of [['hyperparameters', [1, 2]], ['hyperparameters', { beta1: null }], ['convention', 3]] as const) {
      const a = await saved(`damaged-${key}.safetensors`, adam({}), (o) => {
        o[key] = value;
      });
      const b = new One(3);
      const opt = adam({})(b);
      const err = await loadCheckpoint(a.path, b, opt).catch((e: unknown) => e);
      expect(err, JSON.stringify(value)).toBeInstanceOf(dn.FormatError);
      expect((err as Error).message.startsWith(`${a.path}: the checkpoint's optimiser`), (err as Error).message).toBe(true);
      expectClose('weights untouched', await b.w.toArray(), new Array(4).fill(3));
      for (const x of [a.m, b]) x.dispose();
      for (const x of [a.opt, opt]) x.dispose();
    }
  });
});
