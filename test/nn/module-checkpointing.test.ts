// Module.useCheckpointing(): a module's forward (and Sequential's fused forwardRelu path) runs under
// dn.checkpoint while gradients are recorded. Gradients, running statistics and dropout masks
// are the plain module's bit for bit, the parameters keep their names, and a forward without
// recording (summary, inference) runs plainly.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

function model(checkpointed: 'none' | 'block' | 'conv'): dn.nn.Sequential {
  dn.setInitSeed(31);
  // Conv2d then ReLU runs as the fused forwardRelu path: checkpointing the conv covers it too.
  const conv = new dn.nn.Conv2d(3, 4);
  const block = new dn.nn.Sequential(conv, new dn.nn.ReLU(), new dn.nn.BatchNorm2d(4), new dn.nn.Dropout(0.25, 3), new dn.nn.Conv2d(4, 4));
  if (checkpointed === 'block') block.useCheckpointing();
  if (checkpointed === 'conv') conv.useCheckpointing();
  return new dn.nn.Sequential(block, new dn.nn.Conv2d(4, 1));
}

async function trainStep(checkpointed: 'none' | 'block' | 'conv') {
  const net = model(checkpointed);
  const x = fromNd(uniform(2 * 8 * 8 * 3, 5), [2, 8, 8, 3]);
  dn.scope(() => dn.sum(dn.square(net.forward(x))).backward());
  const out = {
    names: net.namedParameters().map((p) => p.name),
    grads: await Promise.all(net.parameters().map((p) => p.grad!.toArray())),
    state: await Promise.all([...net.stateDict().values()].map((t) => t.toArray())),
  };
  x.dispose();
  net.dispose();
  return out;
}

describe('Module.useCheckpointing', () => {
  it('trains as the plain module does, bit for bit, under the same parameter names', async () => {
    const plain = await trainStep('none');
    for (const how of ['block', 'conv'] as const) {
      const checked = await trainStep(how);
      expect(checked.names, how).toEqual(plain.names);
      expect(checked.grads, how).toEqual(plain.grads);
      expect(checked.state, how).toEqual(plain.state);
    }
  });

  it('checkpoints while recording only: a forward under noGrad or summary() records nothing', () => {
    const block = new dn.nn.Sequential(new dn.nn.Conv2d(3, 4), new dn.nn.ReLU()).useCheckpointing();
    const x = dn.zeros([1, 8, 8, 3]);
    const y = dn.noGrad(() => block.forward(x));
    expect(y.node).toBeNull();
    expect(block.summary([1, 8, 8, 3])).toContain('parameters:');
    const recorded = block.forward(x); // the conv's weights want gradients
    expect(recorded.node?.op).toBe('checkpoint');
    for (const t of [x, y, recorded]) t.dispose();
    block.dispose();
  });

  it('takes a boolean', () => {
    const conv = new dn.nn.Conv2d(1, 1);
    expect(() => conv.useCheckpointing('yes' as never)).toThrow(dn.ArgumentError);
    expect(() => conv.useCheckpointing('yes' as never)).toThrow(/^useCheckpointing: on must be true or false, got the string 'yes'$/);
    expect(conv.useCheckpointing().checkpointing).toBe(true);
    expect(conv.useCheckpointing(false).checkpointing).toBe(false);
    conv.dispose();
  });
});
