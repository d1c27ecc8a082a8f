// A subclass that assigns its layers to fields, as PyTorch's `self.conv = nn.Conv2d(...)` and
// Keras's attribute tracking do, has them registered under the fields' names: before, such a model
// had no parameters, so an optimiser given model.parameters() trained nothing, silently. And
// PyTorch's model.zero_grad() as zeroGrad().

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { BatchNorm2d, Conv2d, Flatten, Linear, ReLU } from '../../src/nn/layers.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

class FieldNet extends dn.Module {
  conv: Conv2d;
  bn: BatchNorm2d;
  relu = new ReLU();
  flatten = new Flatten();
  fc: Linear;
  scale: dn.Tensor;
  constructor() {
    super();
    this.conv = new Conv2d(1, 2);
    this.bn = new BatchNorm2d(2);
    this.fc = new Linear(2 * 4 * 4, 1);
    this.scale = dn.tensor([1], [1], { requiresGrad: true });
  }
  forward(x: dn.Tensor): dn.Tensor {
    return dn.mul(this.fc.forward(this.flatten.forward(this.relu.forward(this.bn.forward(this.conv.forward(x))))), this.scale);
  }
}

describe('modules and parameters assigned to fields', () => {
  it('are registered under the field names, in the order declared, for parameters, state dict and train/eval', () => {
    const net = new FieldNet();
    expect(net.namedParameters().map((p) => p.name)).toEqual(['scale', 'conv.weight', 'conv.bias', 'bn.weight', 'bn.bias', 'fc.weight', 'fc.bias']);
    expect([...net.stateDict().keys()]).toContain('bn.running_mean');
    expect(net.namedChildren().map(([n]) => n)).toEqual(['conv', 'bn', 'relu', 'flatten', 'fc']);
    net.eval();
    expect(net.bn.training).toBe(false);
    expect(net.module('fc')).toBe(net.fc);
    net.dispose();
  });

  it('a field reassigned replaces what it held; a computed tensor in a field is no parameter', () => {
    const net = new FieldNet();
    expect(net.parameterCount()).toBe(1 + 20 + 4 + 33);
    const old = net.fc;
    net.fc = new Linear(2 * 4 * 4, 3);
    expect(net.parameterCount()).toBe(1 + 20 + 4 + 99);
    old.dispose();
    (net as unknown as { cached: dn.Tensor }).cached = dn.mul(net.scale, 2);
    expect(net.namedParameters().map((p) => p.name)).not.toContain('cached');
    (net as unknown as { cached: dn.Tensor }).cached.dispose();
    net.dispose();
  });

  it('trains: the optimiser given parameters() moves every layer', async () => {
    const net = new FieldNet();
    const before = await net.conv.weight.toArray();
    const opt = new dn.optim.SGD(net.parameters(), { lr: 0.1 });
    dn.scope(() => {
      dn.mean(dn.square(net.forward(dn.full([2, 4, 4, 1], 0.5)))).backward();
      opt.step();
    });
    const after = await net.conv.weight.toArray();
    expect(after.some((v, i) => v !== before[i])).toBe(true);
    opt.dispose();
    net.dispose();
  });

  it('an error in a field child names it by the field', () => {
    const net = new FieldNet();
    const x = dn.zeros([1, 4, 4, 3]);
    expect(() => net.forward(x)).toThrow(/^FieldNet conv \(Conv2d 1→2, 3x3\): conv2d:/);
    x.dispose();
    net.dispose();
  });

  it('modules in an array field are an ArgumentError naming the field', () => {
    class Listed extends dn.Module {
      blocks = [new Linear(2, 2), new Linear(2, 2)];
      forward(x: dn.Tensor): dn.Tensor {
        return x;
      }
    }
    const m = new Listed();
    expect(() => m.parameters()).toThrow(dn.ArgumentError);
    for (const b of m.blocks) b.dispose();
  });
});

describe('Module.zeroGrad', () => {
  it("drops every parameter's gradient, children's included (PyTorch's model.zero_grad())", () => {
    const net = new FieldNet();
    dn.scope(() => dn.mean(dn.square(net.forward(dn.full([2, 4, 4, 1], 0.5)))).backward());
    expect(net.parameters().every((t) => t.grad !== null)).toBe(true);
    net.zeroGrad();
    expect(net.parameters().every((t) => t.grad === null)).toBe(true);
    net.dispose();
  });
});
