// Names in a module tree are state-dict keys: a name registered twice in one module (the second
// would hide the first from training and saving) and a name with the '.' that joins paths are
// refused; parameterCount() counts a shared module's tensors once.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { Linear, ReLU, Sequential } from '../../src/nn/layers.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

/** The error `fn` throws (null when it throws none). */
function thrown(fn: () => unknown): Error | null {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  return null;
}

/** A module registering a parameter, a buffer and a child, each under the name it is given. */
class Registers extends dn.Module {
  constructor(names: { parameter: string; buffer: string; child: string }) {
    super();
    this.addParameter(names.parameter, dn.zeros([2]));
    this.addBuffer(names.buffer, dn.zeros([3]));
    this.addModule(names.child, new ReLU());
  }
  forward(x: dn.Tensor): dn.Tensor {
    return x;
  }
}

describe('names registered in a module', () => {
  it('a Sequential entry name used twice is an ArgumentError naming Sequential and the name; distinct names keep both layers', () => {
    const [first, second] = [new Linear(2, 2), new Linear(2, 3)];
    const error = thrown(() => new Sequential(['a', first], ['a', second]));
    expect(error).toBeInstanceOf(dn.ArgumentError);
    expect(error!.message).toBe("Sequential: name 'a' is taken already (by a child Linear); give each child a name of its own");
    // A numbered entry collides with an explicit name the same way.
    expect(() => new Sequential(new ReLU(), ['0', first])).toThrow(/^Sequential: name '0' is taken already/);
    const net = new Sequential(['a', first], ['b', second]);
    expect(net.namedParameters().map((p) => p.name)).toEqual(['a.weight', 'a.bias', 'b.weight', 'b.bias']);
    expect([...net.stateDict().keys()]).toEqual(['a.weight', 'a.bias', 'b.weight', 'b.bias']);
    expect(net.parameterCount()).toBe(2 * 2 + 2 + 2 * 3 + 3);
    net.dispose();
  });

  it('a parameter, buffer or child name already taken in the module, of any kind, is refused', () => {
    const cases: [{ parameter: string; buffer: string; child: string }, string][] = [
      [{ parameter: 'w', buffer: 'w', child: 'c' }, "Registers: name 'w' is taken already (by a parameter); give each buffer a name of its own"],
      [{ parameter: 'w', buffer: 'b', child: 'b' }, "Registers: name 'b' is taken already (by a buffer); give each child a name of its own"],
    ];
    for (const [names, message] of cases) {
      const error = thrown(() => dn.scope(() => new Registers(names)));
      expect(error).toBeInstanceOf(dn.ArgumentError);
      expect(error!.message).toBe(message);
    }
    class TwoWeights extends dn.Module {
      constructor() {
        super();
        dn.scope(() => {
          this.addParameter('weight', dn.zeros([1]));
          this.addParameter('weight', dn.zeros([1]));
        });
      }
      forward(x: dn.Tensor): dn.Tensor {
        return x;
      }
    }
    expect(() => new TwoWeights()).toThrow("TwoWeights: name 'weight' is taken already (by a parameter); give each parameter a name of its own");
    const ok = new Registers({ parameter: 'w', buffer: 'rm', child: 'act' });
    expect([...ok.stateDict().keys()]).toEqual(['w', 'rm']);
    expect(ok.namedChildren().map(([n]) => n)).toEqual(['act']);
    ok.dispose();
  });

  it("a name with a '.' (or empty) is refused: module() and freeze() split paths at the dots", () => {
    const layer = new Linear(2, 2);
    const error = thrown(() => new Sequential(['a.b', layer]));
    expect(error).toBeInstanceOf(dn.ArgumentError);
    expect(error!.message).toBe("Sequential: child name 'a.b' must be a non-empty string without '.' (state-dict paths join names with '.')");
    expect(() => new Sequential(['', layer])).toThrow(/^Sequential: child name '' must be/);
    for (const names of [
      { parameter: 'w.x', buffer: 'b', child: 'c' },
      { parameter: 'w', buffer: 'running.mean', child: 'c' },
    ]) {
      expect(() => dn.scope(() => new Registers(names))).toThrow(/^Registers: (parameter|buffer) name '[a-z]+\.[a-z]+' must be/);
    }
    // What it protects: a nested name is reached by its path.
    const net = new Sequential(['a', new Sequential(['b', layer])]);
    expect(net.module('a.b')).toBe(layer);
    net.dispose();
  });
});

describe('parameterCount', () => {
  it('counts a module shared by two parents once, as Keras and PyTorch count unique parameters', () => {
    const shared = new Linear(3, 3);
    const net = new Sequential(['left', new Sequential(['fc', shared])], ['right', new Sequential(['fc', shared])]);
    // Both paths name the same tensors (the state dict keeps both, as PyTorch's does)...
    expect(net.namedParameters().map((p) => p.name)).toEqual(['left.fc.weight', 'left.fc.bias', 'right.fc.weight', 'right.fc.bias']);
    // ...but the model has 12 values, not 24.
    expect(net.parameterCount()).toBe(12);
    const twice = new Sequential(shared, new ReLU(), shared);
    expect(twice.parameterCount()).toBe(12);
    // summary's totals agree (its rows list the shared layer under each parent).
    expect(net.summary()).toContain('parameters: 12 (trainable 12, frozen 0)');
    // Tied weights are one parameter to an optimiser, under their first name (PyTorch's parameters()).
    expect(net.trainableParameters().map((p) => p.name)).toEqual(['left.fc.weight', 'left.fc.bias']);
    expect(net.parameters()).toEqual([shared.weight, shared.bias]);
    const adam = new dn.optim.Adam(net.trainableParameters());
    adam.dispose();
    shared.dispose();
  });
});
