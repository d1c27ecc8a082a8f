// models.unet3d (src/models/unet3d.ts): its parameters (count worked out here from the layers'
// shapes, and the names unet.ts's scheme gives), output shapes for each output, learning on a tiny
// volume task, and errors.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { ballVolumes, diceSteps } from '../helpers/dice-steps.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

/** Parameters of a U-Net of `depth` levels from f features: two 3x3x3 conv + BN blocks, 2x2x2 up-convs, a 1x1x1 head. */
function expectedCount(f: number, depth: number, inCh: number, outCh: number): number {
  const block = (i: number, o: number) => 27 * i * o + 27 * o * o + 4 * o;
  let total = 0;
  let ch = inCh;
  for (let l = 0; l <= depth; l++) {
    total += block(ch, f * 2 ** l);
    ch = f * 2 ** l;
  }
  for (let l = depth - 1; l >= 0; l--) {
    const w = f * 2 ** l;
    total += 8 * ch * w + w + block(2 * w, w);
    ch = w;
  }
  return total + f * outCh + outCh;
}

describe('unet3d', () => {
  it('has the parameters its layers make, named as unet.ts names them', () => {
    const net = dn.models.unet3d();
    const params = net.namedParameters();
    expect(params.reduce((s, p) => s + p.tensor.size, 0)).toBe(expectedCount(16, 3, 1, 1));
    expect(expectedCount(16, 3, 1, 1)).toBe(1401265);
    const names = params.map((p) => p.name);
    expect(names.slice(0, 4)).toEqual(['encoder1.enc1conv1.weight', 'encoder1.enc1norm1.weight', 'encoder1.enc1norm1.bias', 'encoder1.enc1conv2.weight']);
    expect(names).toContain('upconv3.weight');
    expect(names).toContain('decoder1.dec1conv2.weight');
    expect(names.slice(-2)).toEqual(['conv.weight', 'conv.bias']);
    net.dispose();
  });

  it('maps [N, D, H, W, in] to [N, D, H, W, out]: sigmoid, softmax over the classes, or logits', async () => {
    const x = fromNd(uniform(2 * 4 * 8 * 4 * 2, 1), [2, 4, 8, 4, 2]);
    for (const output of ['sigmoid', 'softmax', 'logits'] as const) {
      const net = dn.models.unet3d({ features: 2, depth: 2, inChannels: 2, outChannels: 3, output });
      const y = net.forward(x);
      expect(y.shape).toEqual([2, 4, 8, 4, 3]);
      const v = await y.toArray();
      if (output === 'sigmoid') expect(v.every((p) => p > 0 && p < 1)).toBe(true);
      if (output === 'softmax') expect(Math.abs(v[0] + v[1] + v[2] - 1)).toBeLessThan(1e-5);
      y.dispose();
      net.dispose();
    }
    x.dispose();
  });

  it('learns to segment a ball in noise (Dice loss falls by more than half in 40 Adam steps)', async () => {
    const shape = [2, 8, 8, 8, 1];
    const { x: data, mask } = ballVolumes([8, 8, 8], [[3, 3, 4], [4, 5, 3]], 5, uniform(2 * 512, 2));
    const x = fromNd(data, shape);
    const target = fromNd(mask, shape);
    const net = dn.models.unet3d({ features: 4, depth: 2 });
    const losses = await diceSteps(net, x, target, 40, 0.01);
    expect(losses[39]).toBeLessThan(losses[0] / 2);
    for (const t of [x, target]) t.dispose();
    net.dispose();
  });

  it('refuses a slice, sides that do not halve depth times, and unknown options', () => {
    const net = dn.models.unet3d({ features: 2, depth: 2 });
    const slice = dn.zeros([1, 8, 8, 1]);
    const odd = dn.zeros([1, 6, 8, 8, 1]);
    expect(() => net.forward(slice)).toThrow(/^UNet3d: expects \[N, D, H, W, 1\] input/);
    expect(() => net.forward(odd)).toThrow(/^UNet3d: depth, height and width must be multiples of 4/);
    expect(() => dn.models.unet3d({ up: 'bilinear' } as never)).toThrow(dn.ArgumentError);
    expect(() => dn.models.unet3d({ norm: 'group' } as never)).toThrow(/^UNet3d: norm must be/);
    for (const t of [slice, odd]) t.dispose();
    net.dispose();
  });
});
