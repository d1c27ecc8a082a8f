// slidingWindowDepth: whole volumes through a model of fixed-depth windows. A model that marks its
// output with the window's number shows where the windows fall and that each plane is the mean of
// its windows; a 3-D U-Net in eval mode gives its own forward where one window is the volume, and
// the forwards of the halves where two windows tile it; a thin volume is padded and cropped.
import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { disposeAfterEach, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();
const { track, fromNd } = disposeAfterEach();

const [H, W, C] = [4, 4, 2];
const PLANE = H * W * C;

describe('slidingWindowDepth', () => {
  it('windows at 0, stride, ..., D − window; each plane the mean of its windows', async () => {
    const depth = 11;
    const [window, stride] = [4, 3];
    expect(dn.train.windowStarts(depth, window, stride)).toEqual([0, 3, 6, 7]);
    const data = uniform(2 * depth * PLANE, 1);
    const x = fromNd(data, [2, depth, H, W, C]);
    const seen: number[][] = [];
    let k = 0;
    // Window k's output: its input plus 10^k, so a plane's value minus x tells which windows held it.
    const model = (p: dn.Tensor) => {
      seen.push([...p.shape]);
      return dn.addScalar(p, 10 ** k++);
    };
    const y = track(dn.train.slidingWindowDepth(model, x, { window, stride }));
    expect(seen).toEqual(Array(4).fill([2, window, H, W, C]));
    expect(y.shape).toEqual([2, depth, H, W, C]);
    const got = await y.toArray();
    const windowsOf = (z: number) => [0, 3, 6, 7].map((s, i) => (z >= s && z < s + window ? i : -1)).filter((i) => i >= 0);
    for (let i = 0; i < got.length; i++) {
      const z = Math.floor(i / PLANE) % depth;
      const ks = windowsOf(z);
      const want = data[i] + ks.reduce((a, j) => a + 10 ** j, 0) / ks.length;
      expect(Math.abs(got[i] - want), `voxel ${i} (plane ${z}, windows ${ks})`).toBeLessThanOrEqual(1e-5 * Math.abs(want));
    }
  });

  it("'gaussian': each plane the mean of its windows weighted by nnU-Net's Gaussian about each window's centre (σ = window / 8)", async () => {
    const depth = 14;
    const [window, stride] = [8, 4];
    const starts = dn.train.windowStarts(depth, window, stride);
    expect(starts).toEqual([0, 4, 6]);
    // The weights as nnU-Net builds them: 1 at the centre, symmetric, floored at the smallest.
    const g = Array.from({ length: window }, (_, z) => Math.exp(-((z - 3.5) ** 2) / (2 * 1 * 1)));
    const weights = dn.train.windowWeights(window, 'gaussian');
    weights.forEach((w, z) => expect(w).toBeCloseTo(Math.max(g[z], Math.min(...g)), 6));
    expect([...dn.train.windowWeights(3, 'uniform')]).toEqual([1, 1, 1]);
    const data = uniform(depth * PLANE, 3);
    const x = fromNd(data, [1, depth, H, W, C]);
    let k = 0;
    const y = track(dn.train.slidingWindowDepth((p: dn.Tensor) => dn.addScalar(p, 10 ** k++), x, { window, stride, weighting: 'gaussian' }));
    const got = await y.toArray();
    for (let i = 0; i < got.length; i++) {
      const z = Math.floor(i / PLANE);
      const held = starts.map((s, j) => [s, j]).filter(([s]) => z >= s && z < s + window);
      const weight = (s: number) => Math.max(g[z - s], Math.min(...g));
      const want = data[i] + held.reduce((a, [s, j]) => a + weight(s) * 10 ** j, 0) / held.reduce((a, [s]) => a + weight(s), 0);
      expect(Math.abs(got[i] - want), `voxel ${i} (plane ${z})`).toBeLessThanOrEqual(2e-5 * Math.abs(want));
    }
    // Uniform weighting would give plane 5 (in windows 0 and 1, marked 1 and 10) the plain mean
    // 5.5 over x; the Gaussian leans on window 0, whose centre it is nearer (1.5 planes, not 2.5).
    const plane5 = got[5 * PLANE] - data[5 * PLANE];
    expect(plane5).toBeLessThan(3);
    expect(() => dn.train.slidingWindowDepth((p: dn.Tensor) => p, x, { window, weighting: 'cosine' as never })).toThrow(/slidingWindowDepth: weighting must be 'uniform' or 'gaussian'/);
  });

  it('a volume thinner than the window is padded with zero planes after its last and cropped back', async () => {
    const data = uniform(3 * PLANE, 2);
    const x = fromNd(data, [1, 3, H, W, C]);
    const inputs: dn.Tensor[] = [];
    const model = (p: dn.Tensor) => {
      inputs.push(track(dn.keep(p.share())));
      return dn.mul(p, 2);
    };
    const y = track(dn.train.slidingWindowDepth(model, x, { window: 8 }));
    expect(y.shape).toEqual([1, 3, H, W, C]);
    const got = await y.toArray();
    got.forEach((v, i) => expect(v).toBeCloseTo(2 * data[i], 5));
    expect(inputs.map((t) => t.shape)).toEqual([[1, 8, H, W, C]]);
    const input = await inputs[0].toArray();
    expect([...input.subarray(0, 3 * PLANE)]).toEqual([...Float32Array.from(data)]);
    expect(input.subarray(3 * PLANE).every((v) => v === 0)).toBe(true);
  });

  it("a 3-D U-Net's own forward where one window is the volume, its halves' forwards where two windows tile it", async () => {
    dn.setInitSeed(3);
    const net = track(dn.models.unet3d({ features: 2, depth: 1, inChannels: C }));
    net.eval();
    const x = fromNd(uniform(8 * PLANE, 3), [1, 8, H, W, C]);
    const whole = track(net.forward(x));
    const one = track(dn.train.slidingWindowDepth(net, x, { window: 8 }));
    expect([...(await one.toArray())]).toEqual([...(await whole.toArray())]);
    const halves = track(dn.train.slidingWindowDepth(net, x, { window: 4, stride: 4 }));
    const first = track(net.forward(track(dn.slice(x, [0, 0, 0, 0, 0], [1, 4, H, W, C]))));
    const second = track(net.forward(track(dn.slice(x, [0, 4, 0, 0, 0], [1, 4, H, W, C]))));
    const want = [...(await first.toArray()), ...(await second.toArray())];
    const got = await halves.toArray();
    // Each plane held by one window: its output scaled by 1/1 and added to zeros, exact.
    expect([...got]).toEqual(want);
  });

  it('refuses a volume that is not [N, D, H, W, C], a stride past the window, and an output it cannot stitch', () => {
    const x = track(dn.zeros([1, 6, H, W, C]));
    const img = track(dn.zeros([6, H, W, C]));
    const id = (p: dn.Tensor) => dn.mul(p, 1);
    expect(() => dn.train.slidingWindowDepth(id, img, { window: 4 })).toThrow(/slidingWindowDepth: x must be volumes \[N, D, H, W, C\]/);
    expect(() => dn.train.slidingWindowDepth(id, x, { window: 4, stride: 5 })).toThrow(/slidingWindowDepth: stride/);
    expect(() => dn.train.slidingWindowDepth(id, x, { window: 0 })).toThrow(/slidingWindowDepth: window/);
    expect(() => dn.train.slidingWindowDepth((p) => dn.sum(p), x, { window: 4 })).toThrow(/slidingWindowDepth: the model's output for a \[1, 4, 4, 4, 2\] window must be \[1, 4, 4, 4, C\]/);
    expect(() => dn.train.slidingWindowDepth(42 as never, x, { window: 4 })).toThrow(/slidingWindowDepth: model must be a Module or a function/);
  });
});
