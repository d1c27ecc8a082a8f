import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { BatchNorm2d, Conv2d, ConvTranspose2d, Dropout, Flatten, Linear, MaxPool2d, ReLU, Sequential, Sigmoid, Upsample } from '../../src/nn/layers.js';
import { fans, initValues } from '../../src/nn/init.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

describe('layers', () => {
  it('name parameters by path and count them', () => {
    const net = new Sequential(
      ['conv', new Conv2d(3, 4, { kernelSize: 3 })],
      ['bn', new BatchNorm2d(4)],
      ['relu', new ReLU()],
      ['pool', new MaxPool2d(2)],
      ['flat', new Flatten()],
      ['fc', new Linear(4 * 4 * 4, 2)],
    );
    expect(net.namedParameters().map((p) => p.name)).toEqual(['conv.weight', 'conv.bias', 'bn.weight', 'bn.bias', 'fc.weight', 'fc.bias']);
    expect(net.namedBuffers().map((p) => p.name)).toEqual(['bn.running_mean', 'bn.running_var']);
    expect(net.parameterCount()).toBe(3 * 3 * 3 * 4 + 4 + 4 + 4 + 64 * 2 + 2);
    net.dispose();
  });

  it('activation and pooling layers give what their ops give', async () => {
    const x = dn.tensor(new Float32Array(2 * 4 * 4 * 3).map((_, i) => 2 * Math.sin(i)), [2, 4, 4, 3]);
    const pairs: [dn.Module, (t: dn.Tensor) => dn.Tensor][] = [
      [new dn.nn.Tanh(), dn.tanh],
      [new dn.nn.LeakyReLU(0.2), (t) => dn.leakyRelu(t, 0.2)],
      [new dn.nn.ELU(0.5), (t) => dn.elu(t, 0.5)],
      [new dn.nn.SiLU(), dn.silu],
      [new dn.nn.Softmax(), dn.softmax],
      [new dn.nn.AvgPool2d(2), (t) => dn.avgPool2d(t, { size: 2 })],
      [new dn.nn.GlobalAvgPool2d(), dn.globalAvgPool2d],
    ];
    for (const [layer, op] of pairs) {
      const [a, b] = [layer.forward(x), op(x)];
      expect(a.shape, layer.constructor.name).toEqual(b.shape);
      expect(Array.from(await a.toArray()), layer.constructor.name).toEqual(Array.from(await b.toArray()));
      a.dispose();
      b.dispose();
    }
    expect(() => new dn.nn.AvgPool2d(0)).toThrow(dn.ArgumentError);
    const atrous = new dn.nn.Conv2d(3, 2, { dilation: 2, seed: 3 });
    const [a, b] = [atrous.forward(x), dn.conv2d(x, atrous.weight, atrous.bias, { padding: 'same', dilation: 2 })];
    expect(a.shape).toEqual([2, 4, 4, 2]);
    expect(Array.from(await a.toArray())).toEqual(Array.from(await b.toArray()));
    expect(() => new dn.nn.ConvTranspose2d(3, 2, { dilation: 2 })).toThrow(/^ConvTranspose2d: dilation/);
    const grouped = new dn.nn.Conv2d(3, 6, { groups: 3, seed: 5 });
    expect(grouped.weight.shape).toEqual([3, 3, 1, 6]);
    const [g1, g2] = [grouped.forward(x), dn.conv2d(x, grouped.weight, grouped.bias, { padding: 'same', groups: 3 })];
    expect(Array.from(await g1.toArray())).toEqual(Array.from(await g2.toArray()));
    for (const t of [g1, g2]) t.dispose();
    grouped.dispose();
    expect(() => new dn.nn.Conv2d(3, 4, { groups: 3 })).toThrow(/^Conv2d: 3 input and 4 output/);
    const dw = new dn.nn.DepthwiseConv2d(3, 2, { seed: 4 });
    const [d1, d2] = [dw.forward(x), dn.depthwiseConv2d(x, dw.weight, dw.bias, { padding: 'same' })];
    expect(d1.shape).toEqual([2, 4, 4, 6]);
    expect(Array.from(await d1.toArray())).toEqual(Array.from(await d2.toArray()));
    for (const t of [d1, d2]) t.dispose();
    dw.dispose();
    // Group and instance norm: the op with the layer's parameters, the same in train() and eval().
    const gn = new dn.nn.GroupNorm(1, 3);
    const inorm = new dn.nn.InstanceNorm2d(3);
    for (const [layer, groups] of [[gn, 1], [inorm, 3]] as const) {
      const want = dn.groupNorm(x, layer.weight, layer.bias, { groups });
      const train = layer.forward(x);
      const evaluated = layer.eval().forward(x);
      expect(Array.from(await train.toArray())).toEqual(Array.from(await want.toArray()));
      expect(Array.from(await evaluated.toArray())).toEqual(Array.from(await want.toArray()));
      for (const t of [want, train, evaluated]) t.dispose();
      layer.dispose();
    }
    for (const t of [a, b]) t.dispose();
    atrous.dispose();
    x.dispose();
  });

  it('run forward through every layer with the expected shapes', async () => {
    const x = dn.tensor(new Float32Array(2 * 8 * 8 * 3).map((_, i) => Math.sin(i)), [2, 8, 8, 3]);
    const net = new Sequential(
      new Conv2d(3, 4),
      new BatchNorm2d(4),
      new ReLU(),
      new MaxPool2d(2),
      new ConvTranspose2d(4, 2, { kernelSize: 2, stride: 2 }),
      new Upsample(2, 'bilinear'),
      new Dropout(0.5),
      new Sigmoid(),
      new Flatten(),
    );
    const y = net.forward(x);
    expect(y.shape).toEqual([2, 16 * 16 * 2]);
    const values = await y.toArray();
    expect(values.every((v) => v >= 0 && v <= 1)).toBe(true);
    net.eval();
    expect(net.layers.every((l) => !l.training)).toBe(true);
    for (const t of [x, y]) t.dispose();
    net.dispose();
  });

  it('Sequential fuses a BatchNorm2d followed by a ReLU: same outputs, gradients and running stats as the two apart', async () => {
    const data = new Float32Array(2 * 5 * 6 * 8).map((_, i) => Math.sin(i * 0.37) * 2 + 0.3);
    const run = async (fused: boolean) => {
      const bn = new BatchNorm2d(8);
      const x = dn.tensor(data, [2, 5, 6, 8], { requiresGrad: true });
      // The scope disposes the unfused pair's intermediate tensor and the loss.
      const y = dn.scope(() => {
        const out = fused ? new Sequential(bn, new ReLU()).forward(x) : dn.relu(bn.forward(x));
        dn.sum(dn.mul(out, out)).backward();
        return dn.keep(out);
      });
      const result = await Promise.all([y.toArray(), x.grad!.toArray(), bn.weight.grad!.toArray(), bn.bias.grad!.toArray(), bn.runningVar.toArray()]);
      for (const t of [x.grad!, bn.weight.grad!, bn.bias.grad!, x, y]) t.dispose();
      bn.dispose();
      return result;
    };
    const [apart, fused] = [await run(false), await run(true)];
    // It is fused: no ReLU kernel runs (where the adapter can say which kernels ran).
    const bn = new BatchNorm2d(8);
    const x = dn.tensor(data, [2, 5, 6, 8]);
    const p = await dn.profile(() => dn.scope(() => void new Sequential(bn, new ReLU()).forward(x)));
    if (p) expect(p.kernels.map((k) => k.name)).toEqual(expect.arrayContaining(['batchnorm.forward']));
    if (p) expect(p.kernels.map((k) => k.name)).not.toContain('relu.forward');
    x.dispose();
    bn.dispose();
    for (const [i, what] of ['y', 'dx', 'dgamma', 'dbeta', 'running_var'].entries()) {
      // Same arithmetic in another order (the mask is applied inside the sums): float32 rounding only.
      const worst = Math.max(...apart[i].map((v, j) => Math.abs(v - fused[i][j]) / Math.max(1, Math.abs(v))));
      expect(worst, what).toBeLessThan(1e-5);
    }
  });

  it('freeze by name prefix turns gradients off, and errors on an unknown name', () => {
    const net = new Sequential(['a', new Linear(2, 2)], ['b', new Linear(2, 1)]);
    expect(net.freeze('a')).toBe(2);
    expect(net.trainableParameters().map((p) => p.name)).toEqual(['b.weight', 'b.bias']);
    expect(() => net.freeze('nope')).toThrow(dn.ShapeError);
    net.unfreeze();
    expect(net.trainableParameters()).toHaveLength(4);
    net.dispose();
  });

  it('initialisers: Glorot limits, He standard deviation, seeded', () => {
    expect(fans([3, 3, 16, 32])).toEqual({ fanIn: 144, fanOut: 288 });
    const g = initValues('glorotUniform', [3, 3, 16, 32], 1);
    const limit = Math.sqrt(6 / (144 + 288));
    expect(Math.max(...g.map(Math.abs))).toBeLessThanOrEqual(limit);
    expect(Math.max(...g.map(Math.abs))).toBeGreaterThan(0.95 * limit);
    const h = initValues('heNormal', [3, 3, 64, 64], 2);
    const std = Math.sqrt(h.reduce((s, v) => s + v * v, 0) / h.length);
    // 36864 samples: the sample std is within 2% of sqrt(2/576) with overwhelming probability.
    expect(Math.abs(std / Math.sqrt(2 / 576) - 1)).toBeLessThan(0.02);
    expect(initValues('glorotUniform', [4, 4], 5)).toEqual(initValues('glorotUniform', [4, 4], 5));
  });
});

describe('Sequential and layer names in errors', () => {
  it("takes Keras's list form as PyTorch's argument form; a malformed entry is refused by position", async () => {
    const layers = () => [new Linear(4, 3, { seed: 1 }), new ReLU(), new Linear(3, 2, { seed: 2 })];
    const listed = new Sequential(layers());
    const spread = new Sequential(...layers());
    expect(listed.layers).toHaveLength(3);
    expect(listed.namedParameters().map((p) => p.name)).toEqual(['0.weight', '0.bias', '2.weight', '2.bias']);
    const x = dn.tensor(new Float32Array(8).map((_, i) => i - 3), [2, 4]);
    const [a, b] = [listed.forward(x), spread.forward(x)];
    expect(await a.toArray()).toEqual(await b.toArray());
    for (const t of [x, a, b, listed, spread]) t.dispose();
    // A pair in the list form keeps its name.
    const named = new Sequential([['fc', new Linear(4, 2)]]);
    expect(named.namedParameters().map((p) => p.name)).toEqual(['fc.weight', 'fc.bias']);
    named.dispose();
    const stray = new Linear(4, 2);
    expect(() => new Sequential([stray, [new ReLU()]] as never)).toThrow('Sequential: entry 1 must be a Module or a [name, Module] pair');
    expect(() => new Sequential([stray, 'relu'] as never)).toThrow("Sequential: layer 1 must be a Module, got the string 'relu'");
    stray.dispose();
  });

  it('a shape error inside a model names the layer by its path from the root, its class and configuration', () => {
    dn.scope(() => {
      const net = new Sequential(['features', new Sequential(new Conv2d(3, 8, { kernelSize: 3 }), new ReLU(), new Conv2d(4, 8, { kernelSize: 3 }))], ['head', new Linear(8, 1)]);
      const error = (() => {
        try {
          net.forward(dn.zeros([1, 8, 8, 3]));
        } catch (e) {
          return e as Error;
        }
        return null;
      })();
      expect(error).toBeInstanceOf(dn.ShapeError);
      expect(error!.message).toBe('Sequential features.2 (Conv2d 4→8, 3x3): conv2d: input has 8 channels but the weight expects 4 (input [1,8,8,8], weight [3,3,4,8])');
      // The fused path (a Conv2d then a ReLU runs forwardRelu) is named the same way, once.
      const fused = new Sequential(new Conv2d(4, 8, { kernelSize: 3 }), new ReLU());
      expect(() => fused.forward(dn.zeros([1, 8, 8, 3]))).toThrow(/^Sequential 0 \(Conv2d 4→8, 3x3\): conv2d: input has 3 channels but the weight expects 4/);
      // A layer whose forwardRelu calls its own forward is named once, not twice.
      class Twice extends dn.Module {
        forward(x: dn.Tensor): dn.Tensor {
          return dn.linear(x, dn.zeros([4, 2]));
        }
        forwardRelu(x: dn.Tensor): dn.Tensor {
          return dn.relu(this.forward(x));
        }
      }
      class Holder extends dn.Module {
        readonly inner = this.addModuleForTest('twice', new Twice());
        addModuleForTest(name: string, m: Twice): Twice {
          return this.addModule(name, m);
        }
        forward(x: dn.Tensor): dn.Tensor {
          return this.inner.forwardRelu(x);
        }
      }
      const holder = new Holder();
      expect(() => holder.forward(dn.zeros([3, 5]))).toThrow(/^Holder twice \(Twice\): linear: expects x/);
      // Used alone, the same layer's error carries no path, its class only: it is named by the path it ran on.
      expect(() => holder.inner.forward(dn.zeros([3, 5]))).toThrow(/^Twice: linear: expects x/);
      // A module held by two parents is named by the one the error came through.
      const shared = new dn.nn.Linear(4, 2);
      const left = new Sequential(['head', shared]);
      const right = new Sequential(['backbone', shared]);
      expect(() => left.forward(dn.zeros([3, 5]))).toThrow(/^Sequential head \(Linear 4→2\): linear/);
      expect(() => right.forward(dn.zeros([3, 5]))).toThrow(/^Sequential backbone \(Linear 4→2\): linear/);
      // A forward set as a class field (it replaces the constructor's wrapper) is wrapped when
      // registered, and a level the error skipped is still named: the path is the whole one.
      class FieldForward extends dn.Module {
        readonly leaf = this.addModuleForTest('leaf', new dn.nn.Linear(4, 2));
        addModuleForTest<M extends dn.Module>(name: string, m: M): M {
          return this.addModule(name, m);
        }
        forward = (x: dn.Tensor): dn.Tensor => this.leaf.forward(x);
      }
      const top = new Sequential(['mid', new FieldForward()]);
      const root = new Sequential(['top', top]);
      expect(() => root.forward(dn.zeros([3, 5]))).toThrow(/^Sequential top\.mid\.leaf \(Linear 4→2\): linear/);
      // An error from a module the parent does not hold stops the path rather than name it wrongly:
      // the layer is named as if called alone.
      class Borrower extends dn.Module {
        forward(x: dn.Tensor): dn.Tensor {
          return shared.forward(x);
        }
      }
      expect(() => new Sequential(['block', new Borrower()]).forward(dn.zeros([3, 5]))).toThrow(/^Linear 4→2: linear: expects x/);
      // A layer called alone is named by its class and configuration.
      expect(() => new dn.nn.Linear(4, 2).forward(dn.zeros([3, 5]))).toThrow(/^Linear 4→2: linear: expects x/);
    });
  });
});
