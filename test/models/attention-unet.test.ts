// Attention U-Net (unet({ attention: true }), models/attention-gate.ts): parameter counts worked
// out by hand from the layer shapes; the gate against a float64 reference composed here from the
// project's conv and norm references, its gradients (x, g and every weight) against central
// differences of that reference, under each norm; with ψ forced to 1 the model is the plain U-Net
// to the bit, forward and gradients; the whole model learns a tiny task; summary() and errors.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { runtime } from '../../src/gpu/runtime.js';
import { bceDiceLoss } from '../../src/kernels/loss.js';
import { AttentionGate } from '../../src/models/attention-gate.js';
import { unet } from '../../src/models/unet.js';
import { Adam } from '../../src/optim/adam.js';
import { nd, ndZeros, type NdArray } from '../../src/reference/array.js';
import { batchNormForwardRef } from '../../src/reference/batchnorm.js';
import { conv2dForwardRef } from '../../src/reference/conv.js';
import { groupNormForwardRef } from '../../src/reference/groupnorm.js';
import { restoreState, snapshotState } from '../../src/train/checkpoint.js';
import { expectClose } from '../helpers/close.js';
import { numericGrad, weightedSum } from '../helpers/finite-diff.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { rng, uniform } from '../helpers/rng.js';

useGpu();

type Norm = 'batch' | 'instance' | 'group' | 'none';

/** Writes host values into a module's parameter or buffer, by its state_dict name. */
function setState(m: dn.Module, name: string, values: ArrayLike<number>): void {
  const t = m.stateDict().get(name);
  if (!t) throw new Error(`no state named ${name}`);
  runtime().write(t.buffer, Float32Array.from(values));
}

describe('parameter counts', () => {
  // Gate at a level of F_l channels, F_int = F_l / 2, with a norm: W_g and W_x are 1x1 convs
  // F_l -> F_int with bias plus a norm's weight and bias per channel, ψ a 1x1 conv F_int -> 1 with
  // bias plus its norm's two: 2·(F_l·F_int + F_int + 2·F_int) + F_int + 1 + 2 = F_l² + 3.5 F_l + 3.
  // Without a norm: 2·(F_l·F_int + F_int) + F_int + 1 = F_l² + 1.5 F_l + 1.
  it('features 4, depth 2: the plain U-Net by hand plus 33 + 95 in the gates', () => {
    const plain =
      (3 * 3 * 3 * 4 + 8 + 3 * 3 * 4 * 4 + 8) + // encoder1: two 3x3 convs (no bias) and BN
      (3 * 3 * 4 * 8 + 16 + 3 * 3 * 8 * 8 + 16) + // encoder2
      (3 * 3 * 8 * 16 + 32 + 3 * 3 * 16 * 16 + 32) + // bottleneck
      (2 * 2 * 16 * 8 + 8) + (3 * 3 * 16 * 8 + 16 + 3 * 3 * 8 * 8 + 16) + // upconv2, decoder2
      (2 * 2 * 8 * 4 + 4) + (3 * 3 * 8 * 4 + 8 + 3 * 3 * 4 * 4 + 8) + // upconv1, decoder1
      (4 * 1 + 1); // head
    const gate2 = (8 * 4 + 4 + 4 * 2) * 2 + (4 * 1 + 1) + 2; // F_l 8, F_int 4
    const gate1 = (4 * 2 + 2 + 2 * 2) * 2 + (2 * 1 + 1) + 2; // F_l 4, F_int 2
    expect([plain, gate2, gate1]).toEqual([7549, 95, 33]);
    const m = unet({ features: 4, depth: 2, attention: true });
    expect(m.parameterCount()).toBe(plain + gate2 + gate1);
    expect(m.module('attention2').parameterCount()).toBe(gate2);
    const names = m.namedParameters().map((p) => p.name);
    for (const n of ['W_g.0.weight', 'W_g.0.bias', 'W_g.1.weight', 'W_g.1.bias', 'W_x.0.weight', 'W_x.1.bias', 'psi.0.weight', 'psi.0.bias', 'psi.1.weight', 'psi.1.bias']) {
      expect(names).toContain(`attention1.${n}`);
    }
    expect(m.stateDict().get('attention2.W_g.0.weight')!.shape).toEqual([1, 1, 8, 4]);
    expect(m.namedBuffers().map((b) => b.name)).toContain('attention2.psi.1.running_var');
    const none = unet({ features: 4, depth: 2, attention: true, norm: 'none' });
    const plainNone = unet({ features: 4, depth: 2, norm: 'none' });
    expect(none.parameterCount() - plainNone.parameterCount()).toBe(8 * 8 + 1.5 * 8 + 1 + (4 * 4 + 1.5 * 4 + 1));
    for (const x of [m, none, plainNone]) x.dispose();
  });

  it("the defaults: Buda's 7,763,041 plus the four gates' 88,732", () => {
    const gates = [256, 128, 64, 32].reduce((n, f) => n + f * f + 3.5 * f + 3, 0);
    expect(gates).toBe(88_732);
    const m = unet({ attention: true });
    expect(m.parameterCount()).toBe(7_763_041 + gates);
    m.dispose();
  });
});

/** The gate's weights by name, as float64 arrays with their shapes. */
type Weights = Map<string, NdArray>;

function normRef(y: NdArray, w: Weights, prefix: string, norm: Norm, groups: number): NdArray {
  if (norm === 'none') return y;
  const [gamma, beta] = [w.get(`${prefix}.weight`)!, w.get(`${prefix}.bias`)!];
  const c = gamma.data.length;
  if (norm === 'batch') return batchNormForwardRef(y, gamma, beta, ndZeros([c]), nd(new Float64Array(c).fill(1), [c]), { training: true }).y;
  return groupNormForwardRef(y, gamma, beta, norm === 'instance' || c === 1 ? c : groups).y;
}

const map = (a: NdArray, f: (v: number) => number): NdArray => ({ shape: a.shape, data: a.data.map(f) });

/** The gate in float64: ψ = σ(norm(conv_ψ(relu(norm(conv_g g) + norm(conv_x x))))), out = x·ψ. */
function gateRef(x: NdArray, g: NdArray, w: Weights, norm: Norm, groups: number): NdArray {
  const project = (inp: NdArray, name: string) =>
    normRef(conv2dForwardRef(inp, w.get(`${name}.0.weight`)!, w.get(`${name}.0.bias`)!), w, `${name}.1`, norm, groups);
  const [pg, px] = [project(g, 'W_g'), project(x, 'W_x')];
  const hidden: NdArray = { shape: pg.shape, data: pg.data.map((v, i) => Math.max(0, v + px.data[i])) };
  const psi = map(project(hidden, 'psi'), (v) => 1 / (1 + Math.exp(-v)));
  const c = x.shape[3];
  return { shape: x.shape, data: x.data.map((v, i) => v * psi.data[Math.floor(i / c)]) };
}

describe('the attention gate against its float64 reference', () => {
  const [n, h, wd, fl, inter, groups] = [2, 3, 5, 4, 4, 2];
  // F_g = 6 catches g and x trading places by shape; F_g = F_l (the U-Net's case) by value.
  const cases = [['batch', 6], ['instance', 6], ['group', 6], ['none', 6], ['batch', fl]] as const;
  for (const [norm, fg] of cases) {
    it(`${norm} norm, F_g ${fg}, F_l ${fl}: forward, and the gradients of x, g and every weight against finite differences`, async () => {
      dn.setInitSeed(11);
      const gate = new AttentionGate(fg, fl, { interChannels: inter, norm, normGroups: groups });
      const r = rng(40);
      const weights: Weights = new Map();
      for (const { name, tensor } of gate.namedParameters()) {
        // Norm scales near 1 and shifts near 0, conv weights and biases in [-1, 1): float32 values.
        const isNormScale = /\.1\.weight$/.test(name) && norm !== 'none';
        const values = Float32Array.from({ length: tensor.size }, () => (isNormScale ? 0.5 + r() : 2 * r() - 1));
        setState(gate, name, values);
        weights.set(name, nd(values, [...tensor.shape]));
      }
      const x = nd(Float32Array.from(uniform(n * h * wd * fl, 41)), [n, h, wd, fl]);
      const g = nd(Float32Array.from(uniform(n * h * wd * fg, 42)), [n, h, wd, fg]);
      const dy = nd(Float32Array.from(uniform(n * h * wd * fl, 43)), [n, h, wd, fl]);
      const want = gateRef(x, g, weights, norm, groups);

      const [xt, gt, dyt] = [fromNd(x.data, x.shape, true), fromNd(g.data, g.shape, true), fromNd(dy.data, dy.shape)];
      const y = gate.gate(xt, gt);
      expect(y.shape).toEqual([n, h, wd, fl]);
      expectClose(`gate ${norm} forward`, await y.toArray(), want.data);
      y.backward(dyt);

      // The float32 defaults hold: measured on lavapipe the worst gradient error was 3e-7, with
      // gradients up to 1.8 (the conv biases before a batch norm have none: a shift it removes).
      const loss = (xv: NdArray, gv: NdArray, wv: Weights) => weightedSum(gateRef(xv, gv, wv, norm, groups), dy.data);
      expectClose(`gate ${norm} dx`, await xt.grad!.toArray(), numericGrad((v) => loss(nd(v, x.shape), g, weights), x.data));
      expectClose(`gate ${norm} dg`, await gt.grad!.toArray(), numericGrad((v) => loss(x, nd(v, g.shape), weights), g.data));
      for (const { name, tensor } of gate.namedParameters()) {
        const base = weights.get(name)!;
        const numeric = numericGrad((v) => loss(x, g, new Map(weights).set(name, nd(v, base.shape))), base.data);
        expectClose(`gate ${norm} d ${name}`, await tensor.grad!.toArray(), numeric);
      }
      for (const t of [xt, gt, dyt, y]) t.dispose();
      gate.dispose();
    });
  }

  it('is called as gate(x, g); forward(x) and mismatched shapes are errors naming it', () => {
    const gate = new AttentionGate(6, 4);
    expect(gate.interChannels).toBe(2);
    const x = dn.zeros([1, 4, 4, 4]);
    const g = dn.zeros([1, 2, 2, 6]);
    const same = dn.tensor(Float32Array.from(uniform(16 * 6, 44)), [1, 4, 4, 6]);
    const psi = dn.noGrad(() => gate.attention(x, same));
    expect(psi.shape).toEqual([1, 4, 4, 1]);
    same.dispose();
    psi.dispose();
    expect(() => gate.forward(x)).toThrow(dn.ArgumentError);
    expect(() => gate.gate(x, g)).toThrow(dn.ShapeError);
    expect(() => gate.gate(g, x)).toThrow(/^AttentionGate: /);
    expect(() => new AttentionGate(8, 8, { norm: 'group', normGroups: 8 })).toThrow(dn.ArgumentError);
    for (const t of [x, g]) t.dispose();
    gate.dispose();
  });
});

/** Synthetic "lesions": a bright disc in channel 1 whose mask is the target. */
function discs(n: number, size: number, seed: number): { x: dn.Tensor; y: dn.Tensor } {
  const r = rng(seed);
  const x = new Float32Array(n * size * size * 3);
  const y = new Float32Array(n * size * size);
  for (let b = 0; b < n; b++) {
    const [cy, cx, rad] = [3 + r() * (size - 6), 3 + r() * (size - 6), 2 + r() * 2];
    for (let p = 0; p < size * size; p++) {
      const inside = (Math.floor(p / size) - cy) ** 2 + ((p % size) - cx) ** 2 < rad * rad ? 1 : 0;
      const at = b * size * size + p;
      y[at] = inside;
      [x[at * 3], x[at * 3 + 1], x[at * 3 + 2]] = [0.3 + 0.1 * r(), 0.2 + 0.6 * inside + 0.1 * r(), 0.5 * r()];
    }
  }
  return { x: dn.tensor(x, [n, size, size, 3]), y: dn.tensor(y, [n, size, size, 1]) };
}

describe('Attention U-Net', () => {
  const structural = [
    { name: 'batch norm, transposed convs', opts: {}, psi: 'psi.1' },
    { name: 'no norm, bilinear up-sampling', opts: { norm: 'none', up: 'bilinear' }, psi: 'psi.0' },
  ] as const;
  for (const { name, opts, psi } of structural) {
    it(`${name}: with every ψ forced to 1 it is the plain U-Net, output and gradients to the bit`, async () => {
      dn.setInitSeed(7);
      const plain = unet({ features: 4, depth: 2, ...opts });
      const gated = unet({ features: 4, depth: 2, attention: true, ...opts });
      const weights = snapshotState(plain);
      restoreState(gated, weights);
      for (const t of weights.values()) t.dispose();
      // ψ's pre-activation becomes 40 everywhere (the norm's scale 0 and shift 40, or without a
      // norm the conv's weight 0 and bias 40), and sigmoid(40) is 1 in float32.
      for (const level of [1, 2]) {
        setState(gated, `attention${level}.${psi}.weight`, new Float32Array(gated.stateDict().get(`attention${level}.${psi}.weight`)!.size));
        setState(gated, `attention${level}.${psi}.bias`, [40]);
      }
      const { x, y: mask } = discs(2, 16, 8);
      mask.dispose();
      const r = dn.tensor(Float32Array.from(uniform(2 * 16 * 16, 9)), [2, 16, 16, 1]);
      const run = async (m: dn.Module): Promise<number[]> => {
        const y = dn.scope(() => {
          const out = m.forward(x);
          dn.sum(dn.mul(out, r)).backward();
          return out;
        });
        const values = Array.from(await y.toArray());
        y.dispose();
        return values;
      };
      expect(await run(gated)).toEqual(await run(plain));
      const gatedParams = new Map(gated.namedParameters().map((p) => [p.name, p.tensor]));
      for (const { name: p, tensor } of plain.namedParameters()) {
        expect(Array.from(await gatedParams.get(p)!.grad!.toArray()), p).toEqual(Array.from(await tensor.grad!.toArray()));
      }
      for (const t of [x, r]) t.dispose();
      plain.dispose();
      gated.dispose();
    });
  }

  it('learns the synthetic discs (loss falls tenfold in 60 steps; about 100x measured) without leaking, every gate weight trained', async () => {
    dn.setInitSeed(3);
    const model = unet({ features: 4, depth: 2, attention: true });
    const opt = new Adam(model.trainableParameters(), { lr: 0.02 });
    const { x, y } = discs(4, 16, 5);
    const losses: number[] = [];
    let bytesAt5 = 0;
    for (let step = 1; step <= 60; step++) {
      const loss = dn.scope(() => {
        const l = bceDiceLoss(model.forward(x), y);
        l.backward();
        return l;
      });
      if (step === 1) {
        for (const p of model.namedParameters().filter((q) => q.name.startsWith('attention'))) expect(p.tensor.grad, p.name).not.toBeNull();
      }
      opt.step();
      opt.zeroGrad();
      losses.push(await loss.item());
      loss.dispose();
      if (step === 5) bytesAt5 = dn.memory().bytesInUse;
    }
    expect(dn.memory().bytesInUse).toBe(bytesAt5);
    expect(losses[losses.length - 1]).toBeLessThan(losses[0] / 10);
    for (const t of [x, y]) t.dispose();
    opt.dispose();
    model.dispose();
  });

  it("gives the input's size, its attention maps one channel; summary() lists the gates", () => {
    const model = unet({ features: 4, depth: 2, attention: true, norm: 'instance', activation: 'leakyRelu', outChannels: 2, output: 'softmax' });
    const { x, y } = discs(1, 16, 6);
    const out = dn.noGrad(() => model.forward(x));
    expect(out.shape).toEqual([1, 16, 16, 2]);
    const table = model.summary([1, 16, 16, 3]);
    const row = (path: string) => (table.split('\n').find((l) => l.startsWith(`${path} `)) ?? '').split(/\s{2,}/);
    // The gate takes two inputs, so it runs as gate(x, g), not the one-input forward() that
    // summary() records: its own row has no shape, its layers' rows do.
    expect(row('attention2')).toEqual(['attention2', 'AttentionGate', '-']);
    expect(row('attention2.W_g.0')).toEqual(['attention2.W_g.0', 'Conv2d', '[1,8,8,4]', '36']);
    expect(row('attention2.psi')).toEqual(['attention2.psi', 'Sequential', '[1,8,8,1]']);
    expect(row('attention1.psi.1')).toEqual(['attention1.psi.1', 'InstanceNorm2d', '[1,16,16,1]', '2']);
    expect(table).toContain(`parameters: ${model.parameterCount().toLocaleString('en-US')} `);
    for (const t of [x, y, out]) t.dispose();
    model.dispose();
  });

  it('rejects a non-boolean attention, and gate widths that do not split into the norm groups', () => {
    expect(() => unet({ attention: 'yes' as unknown as boolean })).toThrow(dn.ArgumentError);
    expect(() => unet({ features: 8, norm: 'group', normGroups: 8, attention: true })).toThrow(/^UNet: /);
    const ok = unet({ features: 8, depth: 1, norm: 'group', normGroups: 4, attention: true });
    expect((ok.module('attention1.W_g.1') as dn.nn.GroupNorm).groups).toBe(4);
    expect((ok.module('attention1.psi.1') as dn.nn.GroupNorm).groups).toBe(1);
    ok.dispose();
  });
});
