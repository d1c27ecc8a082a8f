// nn.ModuleList: PyTorch's container for modules a model runs itself. A plain array field is
// refused (nothing would train or save what it holds); a ModuleList names its modules by index.
// And a back-reference from a child to its parent, which would make the module tree a cycle, is
// refused by name instead of sending every walk of the tree round it forever.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { Linear, ReLU } from '../../src/nn/layers.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

class Tower extends dn.Module {
  blocks = new dn.nn.ModuleList([new Linear(2, 3), new Linear(3, 3)]);
  act = new ReLU();
  forward(x: dn.Tensor): dn.Tensor {
    let h = x;
    for (const b of this.blocks) h = this.act.forward(b.forward(h));
    return h;
  }
}

describe('nn.ModuleList', () => {
  it('registers its modules by index, as PyTorch names them, and they train and save', () => {
    const net = new Tower();
    net.blocks.append(new Linear(3, 1));
    expect(net.namedParameters().map((p) => p.name)).toEqual([
      'blocks.0.weight', 'blocks.0.bias', 'blocks.1.weight', 'blocks.1.bias', 'blocks.2.weight', 'blocks.2.bias',
    ]);
    expect([...net.stateDict().keys()]).toContain('blocks.2.weight');
    expect(net.blocks.length).toBe(3);
    expect(net.blocks.at(-1)).toBe(net.module('blocks.2'));
    expect(net.blocks.at(0)).toBe(net.module('blocks.0'));
    net.eval();
    expect([...net.blocks].every((b) => !b.training)).toBe(true);
    net.dispose();
  });

  it('runs in a forward and gets gradients', async () => {
    const net = new Tower();
    const x = dn.tensor([[1, -2], [0.5, 3]]);
    dn.scope(() => {
      const y = net.forward(x);
      expect(y.shape).toEqual([2, 3]);
      dn.sum(y).backward();
    });
    expect(net.parameters().every((p) => p.grad !== null)).toBe(true);
    net.zeroGrad();
    x.dispose();
    net.dispose();
  });

  it('refuses what is not a module, an index outside it, and a forward of its own', () => {
    expect(() => new dn.nn.ModuleList([new ReLU(), 3 as never])).toThrow(/^ModuleList: item 1 must be a Module, got the number 3/);
    expect(() => new dn.nn.ModuleList(new ReLU() as never)).toThrow(dn.ArgumentError);
    const list = new dn.nn.ModuleList([new ReLU()]);
    expect(() => list.at(1)).toThrow(/^ModuleList: index 1 is outside a list of 1/);
    expect(() => list.at(-2)).toThrow(dn.ArgumentError);
    expect(() => list.at(0.5)).toThrow(dn.ArgumentError);
    const x = dn.zeros([1]);
    expect(() => list.forward(x)).toThrow(/not a layer/);
    x.dispose();
  });

  it('is what the refusal of a plain array of modules points to', () => {
    class Plain extends dn.Module {
      blocks = [new ReLU(), new ReLU()];
      forward(x: dn.Tensor): dn.Tensor {
        return x;
      }
    }
    expect(() => new Plain().parameters()).toThrow(/field 'blocks' holds modules in an array.*nn\.ModuleList/);
  });
});

describe('a back-reference in a field', () => {
  it('is refused by name instead of making the tree a cycle', () => {
    class Child extends dn.Module {
      fc = new Linear(2, 2);
      owner: dn.Module | null = null;
      forward(x: dn.Tensor): dn.Tensor {
        return this.fc.forward(x);
      }
    }
    class Parent extends dn.Module {
      child = new Child();
      constructor() {
        super();
        this.child.owner = this;
      }
      forward(x: dn.Tensor): dn.Tensor {
        return this.child.forward(x);
      }
    }
    const net = new Parent();
    expect(() => net.parameters()).toThrow(/^Child: field 'owner' holds a Parent that contains this module \(a cycle\)/);
    // Kept out of the tree (a non-enumerable property), it is fine.
    Object.defineProperty(net.child, 'owner', { value: net, enumerable: false });
    expect(net.namedParameters().map((p) => p.name)).toEqual(['child.fc.weight', 'child.fc.bias']);
    net.dispose();
  });
});
