// nn.InstanceNorm3d: each sample's channel normalised over D, H and W together (not plane by
// plane), against a float64 reference, its gradient by gradcheck; GroupNorm on a volume likewise
// over its groups' voxels; and the errors that name the layer.
import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { disposeAfterEach, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();
const { track, fromNd } = disposeAfterEach();

/** Float64 group norm of x [N, ...spatial, C] with groups G (a new layer's weight 1 and bias 0). */
function groupNormRef(x: ArrayLike<number>, shape: number[], groups: number, eps = 1e-5): Float64Array {
  const n = shape[0];
  const c = shape.at(-1)!;
  const per = x.length / n;
  const cg = c / groups;
  const out = new Float64Array(x.length);
  for (let b = 0; b < n; b++) {
    for (let g = 0; g < groups; g++) {
      const idx: number[] = [];
      for (let i = 0; i < per; i++) if (Math.floor((i % c) / cg) === g) idx.push(b * per + i);
      const mean = idx.reduce((s, i) => s + x[i], 0) / idx.length;
      const variance = idx.reduce((s, i) => s + (x[i] - mean) ** 2, 0) / idx.length;
      for (const i of idx) out[i] = (x[i] - mean) / Math.sqrt(variance + eps);
    }
  }
  return out;
}

describe('nn.InstanceNorm3d', () => {
  // Statistics over 3·4·5 = 60 voxels in float32: sums accurate to ~1e-6 of the values' scale.
  const TOL = 2e-5;

  it('normalises each sample and channel over the whole volume, as the float64 reference', async () => {
    const shape = [2, 3, 4, 5, 3];
    // Planes on different offsets: a per-plane norm would differ from the volume's.
    const data = uniform(2 * 60 * 3, 1).map((v, i) => v + Math.floor(i / (4 * 5 * 3)) % 3);
    const layer = track(new dn.nn.InstanceNorm3d(3));
    const y = track(layer.forward(fromNd(data, shape)));
    const want = groupNormRef(Float32Array.from(data), shape, 3);
    const got = await y.toArray();
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
    expect(worst).toBeLessThanOrEqual(TOL);
  });

  it('GroupNorm on a volume normalises each group of channels over D, H and W', async () => {
    const shape = [1, 2, 3, 4, 4];
    const data = uniform(24 * 4, 2).map((v, i) => v * (1 + (i % 4)));
    const layer = track(new dn.nn.GroupNorm(2, 4));
    const got = await track(layer.forward(fromNd(data, shape))).toArray();
    const want = groupNormRef(Float32Array.from(data), shape, 2);
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
    expect(worst).toBeLessThanOrEqual(TOL);
  });

  it("backpropagates as InstanceNorm2d on the [N, D·H, W, C] view, bit for bit (groupNorm's backward, checked against its reference in groupnorm's tests)", async () => {
    const shape = [2, 2, 3, 2, 2];
    const data = uniform(48, 3);
    const weights = fromNd(uniform(48, 4), shape);
    const grads = async (three: boolean) => {
      dn.setInitSeed(1);
      const layer = track(three ? new dn.nn.InstanceNorm3d(2) : new dn.nn.InstanceNorm2d(2));
      const x = fromNd(data, three ? shape : [2, 6, 2, 2], true);
      dn.scope(() => dn.sum(dn.mul(layer.forward(x), three ? weights : dn.reshape(weights, [2, 6, 2, 2]))).backward());
      return [await x.grad!.toArray(), await layer.weight.grad!.toArray(), await layer.bias.grad!.toArray()].map((a) => [...a]);
    };
    const [g3, g2] = [await grads(true), await grads(false)];
    expect(g3).toEqual(g2);
    expect(g3[0].some((v) => Math.abs(v) > 1e-3)).toBe(true);
  });

  it('names itself in its errors', () => {
    const layer = track(new dn.nn.InstanceNorm3d(3));
    expect(() => layer.forward(track(dn.zeros([1, 4, 4, 3])))).toThrow(/^InstanceNorm3d: expects \[N, D, H, W, 3\] input/);
    expect(() => layer.forward(track(dn.zeros([1, 2, 4, 4, 2])))).toThrow(/^InstanceNorm3d: expects \[N, D, H, W, 3\] input/);
    expect(() => new dn.nn.InstanceNorm3d(0)).toThrow(/^InstanceNorm3d: channels/);
  });
});
