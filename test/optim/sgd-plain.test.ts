// Plain SGD (momentum 0) keeps no momentum buffer, as PyTorch keeps no momentum_buffer: before, it
// allocated one per parameter (a model's size again), wrote the gradient to it every step, and a
// checkpoint carried it, so a resume with momentum took that stale gradient up where PyTorch
// starts the buffer afresh from the next gradient.
import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { applyCheckpoint, encodeCheckpoint } from '../../src/train/checkpoint.js';
import { expectClose } from '../helpers/close.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

const model = (): dn.nn.Linear => new dn.nn.Linear(3, 2);

async function stepWith(net: dn.nn.Linear, opt: dn.optim.SGD, x: number[], seed: number): Promise<void> {
  dn.scope(() => {
    opt.zeroGrad();
    const input = dn.tensor(x.map((v) => v * seed), [1, 3]);
    dn.sum(dn.square(net.forward(input))).backward();
    opt.step();
  });
  await dn.sync();
}

describe('plain SGD', () => {
  it('keeps no state tensors and allocates nothing a step, where momentum keeps one buffer per parameter', async () => {
    const net = model();
    const plain = new dn.optim.SGD(net.namedParameters(), { lr: 0.1 });
    await stepWith(net, plain, [1, 2, 3], 1);
    expect(plain.stateDict().tensors.size).toBe(0);
    const before = dn.memory().bytesInUse;
    await stepWith(net, plain, [1, 2, 3], 2);
    expect(dn.memory().bytesInUse).toBe(before);
    // Control: with momentum, one buffer per parameter (weight and bias).
    const heavy = new dn.optim.SGD(net.namedParameters(), { lr: 0.1, momentum: 0.9 });
    await stepWith(net, heavy, [1, 2, 3], 3);
    expect([...heavy.stateDict().tensors.keys()].sort()).toEqual(['bias.momentum', 'weight.momentum']);
    heavy.dispose();
    plain.dispose();
    net.dispose();
  });

  it("resumed with momentum, starts the buffer from the next gradient (PyTorch), not from the last run's", async () => {
    // Run A: two plain steps, checkpoint, then resume with momentum 0.9 for one step.
    const a = model();
    const init = await encodeCheckpoint(a, null, {});
    const plain = new dn.optim.SGD(a.namedParameters(), { lr: 0.1 });
    await stepWith(a, plain, [1, -2, 0.5], 1);
    await stepWith(a, plain, [1, -2, 0.5], 2);
    const bytes = await encodeCheckpoint(a, plain, {});
    const withMomentum = new dn.optim.SGD(a.namedParameters(), { lr: 0.1, momentum: 0.9 });
    applyCheckpoint(bytes, 'plain.ckpt', a, withMomentum);
    await stepWith(a, withMomentum, [1, -2, 0.5], 3);

    // Run B: the same two plain steps, then a fresh momentum optimiser (no buffer yet) for one step.
    const b = model();
    applyCheckpoint(init, 'init.ckpt', b);
    const plainB = new dn.optim.SGD(b.namedParameters(), { lr: 0.1 });
    await stepWith(b, plainB, [1, -2, 0.5], 1);
    await stepWith(b, plainB, [1, -2, 0.5], 2);
    const fresh = new dn.optim.SGD(b.namedParameters(), { lr: 0.1, momentum: 0.9 });
    await stepWith(b, fresh, [1, -2, 0.5], 3);

    for (const [name, t] of a.stateDict()) {
      expectClose(`resumed ${name}`, await t.toArray(), await b.stateDict().get(name)!.toArray(), { atol: 1e-6, rtol: 1e-6 });
    }
    for (const o of [plain, withMomentum, plainB, fresh]) o.dispose();
    a.dispose();
    b.dispose();
  });
});
