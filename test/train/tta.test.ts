// Test-time augmentation by horizontal flip: the result is the mean of the two passes worked out on
// the host, for a segmentation-like model (output [N, H, W, 1]) and a classifier (output [N, 1]),
// neither of them flip-equivariant.
import { describe, expect, it } from 'vitest';
import { flip } from '../../src/data/augment.js';
import { ArgumentError } from '../../src/errors.js';
import { noGrad } from '../../src/graph/autograd.js';
import { Conv2d, Flatten, Linear, Sequential, Sigmoid } from '../../src/nn/layers.js';
import type { Module } from '../../src/nn/module.js';
import { Conv3d } from '../../src/nn/volume-layers.js';
import { predictWithTta, TtaModel, type TtaMode } from '../../src/train/tta.js';
import { expectClose } from '../helpers/close.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

/** Reverses W of an [N, H, W, C] array on the host. */
function flipW(a: ArrayLike<number>, [n, h, w, c]: readonly number[]): Float32Array {
  const out = new Float32Array(a.length);
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        for (let k = 0; k < c; k++) out[((b * h + y) * w + x) * c + k] = a[((b * h + y) * w + (w - 1 - x)) * c + k];
      }
    }
  }
  return out;
}

async function forwardOn(model: Module, data: ArrayLike<number>, shape: number[], mode?: TtaMode): Promise<Float32Array> {
  const x = fromNd(data, shape);
  const y = noGrad(() => (mode ? predictWithTta(model, x, mode) : model.forward(x)));
  const out = await y.toArray();
  x.dispose();
  y.dispose();
  return out;
}

const SHAPE = [2, 5, 7, 3];
// Rounded to float32 once, so the exact comparisons below compare like with like.
const image = Float32Array.from(uniform(2 * 5 * 7 * 3, 11, 0, 1));

describe('flip', () => {
  it('reverses W, and twice is the identity', async () => {
    const x = fromNd(image, SHAPE);
    const once = flip(x, { horizontal: true });
    const twice = flip(once, { horizontal: true });
    expectClose('flip once', await once.toArray(), flipW(image, SHAPE), { atol: 0, rtol: 0 });
    expectClose('flip twice', await twice.toArray(), image, { atol: 0, rtol: 0 });
    for (const t of [x, once, twice]) t.dispose();
  });
});

describe('predictWithTta', () => {
  it("'flip' on a segmentation output is the mean of f(x) and the un-flipped f(flip(x))", async () => {
    // An asymmetric 3x3 convolution and a sigmoid: a probability map that is not flip-equivariant.
    const model = new Sequential(new Conv2d(3, 1, { seed: 5 }), new Sigmoid());
    model.eval();
    const direct = await forwardOn(model, image, SHAPE);
    const mirrored = flipW(await forwardOn(model, flipW(image, SHAPE), SHAPE), [2, 5, 7, 1]);
    let differs = 0;
    for (let i = 0; i < direct.length; i++) differs = Math.max(differs, Math.abs(direct[i] - mirrored[i]));
    expect(differs, 'the model must not be flip-equivariant, or the test proves nothing').toBeGreaterThan(1e-2);
    const want = direct.map((d, i) => (d + mirrored[i]) / 2);
    expectClose('tta flip segment', await forwardOn(model, image, SHAPE, 'flip'), want);
    expectClose('tta none', await forwardOn(model, image, SHAPE, 'none'), direct, { atol: 0, rtol: 0 });
    model.dispose();
  });

  it("'flip' on volumes [N, D, H, W, C] mirrors every plane and un-mirrors the output map's", async () => {
    // An asymmetric 3x3x3 convolution and a sigmoid: a 3-D probability map that is not flip-equivariant.
    const model = new Sequential(new Conv3d(3, 1, { seed: 6 }), new Sigmoid());
    model.eval();
    const shape = [1, 2, 5, 7, 3];
    const planes = [2, 5, 7, 3];
    const volume = Float32Array.from(uniform(2 * 5 * 7 * 3, 12, 0, 1));
    const direct = await forwardOn(model, volume, shape);
    const mirrored = flipW(await forwardOn(model, flipW(volume, planes), shape), [2, 5, 7, 1]);
    let differs = 0;
    for (let i = 0; i < direct.length; i++) differs = Math.max(differs, Math.abs(direct[i] - mirrored[i]));
    expect(differs, 'the model must not be flip-equivariant, or the test proves nothing').toBeGreaterThan(1e-2);
    expectClose('tta flip volume', await forwardOn(model, volume, shape, 'flip'), direct.map((d, i) => (d + mirrored[i]) / 2));
    model.dispose();
  });

  it("'flip' on a classifier's [N, 1] output averages p over the image and its mirror, no un-flip", async () => {
    const model = new Sequential(new Conv2d(3, 2, { seed: 8 }), new Flatten(), new Linear(5 * 7 * 2, 1, { seed: 9 }));
    model.eval();
    const direct = await forwardOn(model, image, SHAPE);
    const mirrored = await forwardOn(model, flipW(image, SHAPE), SHAPE);
    expect(Math.abs(direct[0] - mirrored[0])).toBeGreaterThan(1e-3);
    expectClose('tta flip classify', await forwardOn(model, image, SHAPE, 'flip'), direct.map((d, i) => (d + mirrored[i]) / 2));
    model.dispose();
  });

  it("without a mode it is 'flip': a call named for test-time augmentation augments", async () => {
    const model = new Sequential(new Conv2d(3, 1, { seed: 5 }), new Sigmoid());
    model.eval();
    const x = fromNd(image, SHAPE);
    const plain = noGrad(() => predictWithTta(model, x));
    expectClose('tta default vs flip', await plain.toArray(), await forwardOn(model, image, SHAPE, 'flip'), { atol: 0, rtol: 0 });
    for (const t of [x, plain]) t.dispose();
    model.dispose();
  });

  it('TtaModel runs predictWithTta as its forward, and eval() reaches the wrapped model', async () => {
    const inner = new Conv2d(3, 1, { seed: 12 });
    const wrapped = new TtaModel(inner, 'flip');
    wrapped.eval();
    expect(inner.training).toBe(false);
    expectClose('TtaModel', await forwardOn(wrapped, image, SHAPE), await forwardOn(inner, image, SHAPE, 'flip'), { atol: 0, rtol: 0 });
    inner.dispose();
  });

  it('rejects an unknown mode', () => {
    const model = new Conv2d(3, 1, { seed: 1 });
    const x = fromNd(image, SHAPE);
    expect(() => predictWithTta(model, x, 'rotate' as TtaMode)).toThrow(ArgumentError);
    expect(() => new TtaModel(model, 'vflip' as TtaMode)).toThrow(ArgumentError);
    x.dispose();
    model.dispose();
  });
});
