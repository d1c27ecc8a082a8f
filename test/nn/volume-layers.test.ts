// The volume layers (src/nn/volume-layers.ts): Conv3d's weight (shape, Glorot bounds, names) and
// forward (dn.conv3d with them); ConvTranspose3d's likewise; BatchNorm3d's training statistics over N, D, H and W against a
// float64 computation; the pools' and Upsample3d's shapes; the pools' and ConvTranspose3d's padding
// options passed to their ops; a small 3-D encoder-decoder of them
// learning to segment a ball in noise with Dice loss and Adam; errors naming the layer.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { expectClose } from '../helpers/close.js';
import { ballVolumes, diceSteps } from '../helpers/dice-steps.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

describe('volume layers', () => {
  it('Conv3d holds a [k, k, k, in, out] Glorot weight and a zero bias, and runs dn.conv3d with them', async () => {
    const conv = new dn.nn.Conv3d(2, 3, { seed: 1 });
    expect(conv.namedParameters().map((p) => [p.name, p.tensor.shape])).toEqual([['weight', [3, 3, 3, 2, 3]], ['bias', [3]]]);
    const limit = Math.sqrt(6 / (27 * 2 + 27 * 3));
    const w = await conv.weight.toArray();
    expect(w.every((v) => Math.abs(v) <= limit)).toBe(true);
    expect(Math.max(...w.map(Math.abs))).toBeGreaterThan(limit / 2);
    const x = fromNd(uniform(2 * 4 * 5 * 3 * 2, 1), [2, 4, 5, 3, 2]);
    const y = conv.forward(x);
    const want = dn.conv3d(x, conv.weight, conv.bias, { padding: 'same' });
    expect(y.shape).toEqual([2, 4, 5, 3, 3]);
    expect(Array.from(await y.toArray())).toEqual(Array.from(await want.toArray()));
    for (const t of [x, y, want]) t.dispose();
    conv.dispose();
  });

  it('ConvTranspose3d holds a [k, k, k, out, in] weight and doubles each side by default, as dn.convTranspose3d', async () => {
    const up = new dn.nn.ConvTranspose3d(4, 2, { seed: 5 });
    expect(up.namedParameters().map((p) => [p.name, p.tensor.shape])).toEqual([['weight', [2, 2, 2, 2, 4]], ['bias', [2]]]);
    const x = fromNd(uniform(2 * 3 * 2 * 3 * 4, 6), [2, 3, 2, 3, 4]);
    const y = up.forward(x);
    const want = dn.convTranspose3d(x, up.weight, up.bias, { stride: 2 });
    expect(y.shape).toEqual([2, 6, 4, 6, 2]);
    expect(Array.from(await y.toArray())).toEqual(Array.from(await want.toArray()));
    for (const t of [x, y, want]) t.dispose();
    up.dispose();
  });

  it('BatchNorm3d normalises each channel over N, D, H and W while training', async () => {
    const shape = [2, 3, 4, 2, 3];
    const data = uniform(2 * 3 * 4 * 2 * 3, 2);
    const bn = new dn.nn.BatchNorm3d(3);
    const x = fromNd(data, shape);
    const y = bn.train().forward(x);
    expect(y.shape).toEqual(shape);
    const want = new Float64Array(data.length);
    for (let c = 0; c < 3; c++) {
      const vals = Array.from(data).filter((_, i) => i % 3 === c);
      const mean = vals.reduce((s, v) => s + v, 0) / vals.length;
      const variance = vals.reduce((s, v) => s + (v - mean) ** 2, 0) / vals.length;
      for (let i = c; i < data.length; i += 3) want[i] = (data[i] - mean) / Math.sqrt(variance + 1e-5);
    }
    expectClose('BatchNorm3d', await y.toArray(), want, { atol: 1e-5, rtol: 1e-4 });
    for (const t of [x, y]) t.dispose();
    bn.dispose();
  });

  it('a 3-D encoder-decoder of them segments a ball (Dice loss falls by more than half in 40 Adam steps; 0.72 to 0.21 here)', async () => {
    const net = new dn.nn.Sequential(
      new dn.nn.Conv3d(1, 6, { seed: 2 }), new dn.nn.BatchNorm3d(6), new dn.nn.ReLU(), new dn.nn.MaxPool3d(2),
      new dn.nn.Conv3d(6, 6, { seed: 3 }), new dn.nn.ReLU(), new dn.nn.Upsample3d(2),
      new dn.nn.Conv3d(6, 1, { kernelSize: 1, seed: 4 }), new dn.nn.Sigmoid(),
    );
    // A bright ball in each noisy volume (centred apart in the two), to be segmented.
    const shape = [2, 4, 8, 8, 1];
    const { x: data, mask } = ballVolumes([4, 8, 8], [[1.5, 3, 3], [2, 5, 4]], 6, uniform(2 * 4 * 8 * 8, 3));
    const x = fromNd(data, shape);
    const target = fromNd(mask, shape);
    const losses = await diceSteps(net, x, target, 40, 0.01);
    expect(losses[39]).toBeLessThan(losses[0] / 2);
    for (const t of [x, target]) t.dispose();
    net.dispose();
  });

  it("the pools and ConvTranspose3d pass their padding (and AvgPool3d's countIncludePad) to their ops", async () => {
    const x = fromNd(uniform(1 * 3 * 5 * 4 * 2, 7), [1, 3, 5, 4, 2]);
    const up = new dn.nn.ConvTranspose3d(2, 3, { kernelSize: 3, padding: 'same', seed: 8 });
    const pairs: [dn.nn.Module, (x: dn.Tensor) => dn.Tensor][] = [
      [new dn.nn.MaxPool3d(3, 2, { padding: 'same' }), (t) => dn.maxPool3d(t, { size: 3, stride: 2, padding: 'same' })],
      [new dn.nn.AvgPool3d(3, 1, { padding: 1, countIncludePad: false }), (t) => dn.avgPool3d(t, { size: 3, stride: 1, padding: 1, countIncludePad: false })],
      [up, (t) => dn.convTranspose3d(t, up.weight, up.bias, { stride: 2, padding: 'same' })],
    ];
    const shapes = [];
    for (const [layer, op] of pairs) {
      const [y, want] = [layer.forward(x), op(x)];
      shapes.push(y.shape);
      expect(Array.from(await y.toArray())).toEqual(Array.from(await want.toArray()));
      for (const t of [y, want]) t.dispose();
    }
    expect(shapes).toEqual([[1, 2, 3, 2, 2], [1, 3, 5, 4, 2], [1, 6, 10, 8, 3]]);
    expect(up.extraRepr()).toContain('padding "same"');
    x.dispose();
    up.dispose();
  });

  it('the pools and Upsample3d give the shapes PyTorch does, and every layer names itself in errors', () => {
    const x = dn.zeros([1, 4, 6, 6, 2]);
    const shapes = [new dn.nn.MaxPool3d(2), new dn.nn.AvgPool3d(3, 1), new dn.nn.Upsample3d(2), new dn.nn.Upsample3d(2, 'trilinear')].map((m) => {
      const y = m.forward(x);
      const s = y.shape;
      y.dispose();
      return s;
    });
    expect(shapes).toEqual([[1, 2, 3, 3, 2], [1, 2, 4, 4, 2], [1, 8, 12, 12, 2], [1, 8, 12, 12, 2]]);
    expect(() => new dn.nn.Conv3d(0, 4)).toThrow(/^Conv3d: inChannels must be/);
    expect(() => new dn.nn.Conv3d(2, 4, { kernel_size: 3 } as never)).toThrow(dn.ArgumentError);
    expect(() => new dn.nn.MaxPool3d(0)).toThrow(/^MaxPool3d: size must be/);
    expect(() => new dn.nn.ConvTranspose3d(2, 2, { output_padding: 1 } as never)).toThrow(/^ConvTranspose3d: /);
    expect(() => new dn.nn.ConvTranspose3d(2, 2, { padding: 'full' } as never)).toThrow(/^ConvTranspose3d: padding must be/);
    expect(() => new dn.nn.MaxPool3d(2, { padding: 1 } as never)).toThrow(/^MaxPool3d: options go third/);
    expect(() => new dn.nn.MaxPool3d(2, 2, { countIncludePad: false } as never)).toThrow(dn.ArgumentError);
    expect(() => new dn.nn.MaxPool3d(2, 2, { padding: 2 })).toThrow(/^MaxPool3d: padding 2x2x2 is more than half/);
    expect(() => new dn.nn.AvgPool3d(2, 2, { count_include_pad: false } as never)).toThrow(/^AvgPool3d: unknown option 'count_include_pad'.*count_include_pad is countIncludePad in dawnet/);
    expect(() => new dn.nn.AvgPool3d(3, 1, { padding: 'same', countIncludePad: true })).toThrow(/^AvgPool3d: countIncludePad needs explicit padding/);
    expect(() => new dn.nn.Upsample3d(1.5)).toThrow(/^Upsample3d: scale must be/);
    expect(() => new dn.nn.Upsample3d(2, 'bilinear' as never)).toThrow(/^Upsample3d: mode must be/);
    const bn = new dn.nn.BatchNorm3d(2);
    const flat = dn.zeros([1, 4, 4, 2]);
    expect(() => bn.forward(flat)).toThrow(/^BatchNorm3d: expects \[N, D, H, W, C\]/);
    for (const t of [x, flat]) t.dispose();
    bn.dispose();
  });
});
