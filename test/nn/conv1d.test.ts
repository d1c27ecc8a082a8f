// nn.Conv1d (src/nn/conv1d.ts): its weight ([k, in, out], Glorot bounds, names), its forward and
// fused ReLU (dn.conv1d with its weight), and errors naming the layer.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

describe('nn.Conv1d', () => {
  it('holds a [k, in, out] Glorot weight and runs dn.conv1d with it, plain or with its ReLU', async () => {
    const conv = new dn.nn.Conv1d(3, 4, { kernelSize: 5, seed: 1 });
    expect(conv.namedParameters().map((p) => [p.name, p.tensor.shape])).toEqual([['weight', [5, 3, 4]], ['bias', [4]]]);
    const limit = Math.sqrt(6 / (5 * 3 + 5 * 4));
    expect((await conv.weight.toArray()).every((v) => Math.abs(v) <= limit)).toBe(true);
    const x = fromNd(uniform(2 * 9 * 3, 2), [2, 9, 3]);
    const y = conv.forward(x);
    const r = conv.forwardRelu(x);
    const want = dn.conv1d(x, conv.weight, conv.bias, { padding: 'same' });
    expect(y.shape).toEqual([2, 9, 4]);
    const [yv, rv, wv] = [await y.toArray(), await r.toArray(), await want.toArray()];
    expect(Array.from(yv)).toEqual(Array.from(wv));
    expect(Array.from(rv)).toEqual(Array.from(wv, (v) => Math.max(v, 0)));
    for (const t of [x, y, r, want]) t.dispose();
    conv.dispose();
  });

  it('names itself in its errors', () => {
    expect(() => new dn.nn.Conv1d(0, 4)).toThrow(/^Conv1d: inChannels must be/);
    expect(() => new dn.nn.Conv1d(2, 4, { kernel_size: 3 } as never)).toThrow(/^Conv1d: /);
    expect(() => new dn.nn.Conv1d(2, 4, { stride: 0 })).toThrow(/^Conv1d: stride must be/);
  });
});
