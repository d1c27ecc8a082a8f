// dn.train.gradCam (src/train/grad-cam.ts) against the formula worked on the host from the same
// feature map and gradient (read back): channel weights = the gradient's spatial mean, the map =
// ReLU(Σ weight · A) scaled to [0, 1] per image, bilinear to the input's size. Then what it must
// mean: it points at the channel the score reads, averages mirrors and ensembles as predict does,
// works where the sigmoid saturates, and leaves the model's mode and every .grad as they were.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { nd } from '../../src/reference/array.js';
import { upsample2dRef } from '../../src/reference/upsample.js';
import { expectClose } from '../helpers/close.js';
import { disposeAfterEach, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

const { track, fromNd } = disposeAfterEach();

/** A small tumour classifier: VGG16 at 1/16 of its widths (4..32 channels) on 32x32 inputs. */
function classifier(seed: number): dn.models.VggClassifier {
  dn.setInitSeed(seed);
  const m = dn.models.vggClassifier({ inputSize: 32, widthScale: 1 / 16, hidden: 8 });
  track(m);
  return m;
}

/** The Grad-CAM formula on the host, from the map A [N, h, w, K] and the score's gradient over it. */
function camOnHost(a: Float32Array, g: Float32Array, [n, h, w, k]: readonly number[], size: number): Float64Array {
  const out: number[] = [];
  for (let b = 0; b < n; b++) {
    const weights = new Float64Array(k);
    for (let p = 0; p < h * w; p++) for (let c = 0; c < k; c++) weights[c] += g[(b * h * w + p) * k + c] / (h * w);
    const cam = new Float64Array(h * w);
    for (let p = 0; p < h * w; p++) {
      let s = 0;
      for (let c = 0; c < k; c++) s += weights[c] * a[(b * h * w + p) * k + c];
      cam[p] = Math.max(0, s);
    }
    const peak = Math.max(...cam);
    const scaled = cam.map((v) => v / (peak + 1e-30));
    out.push(...upsample2dRef(nd(scaled, [1, h, w, 1]), size, size, 'bilinear').data);
  }
  return Float64Array.from(out);
}

describe('gradCam', () => {
  it("is the formula worked on the host from the classifier's last ReLU and its logit's gradient", async () => {
    const model = classifier(3);
    const x = fromNd(uniform(2 * 32 * 32 * 3, 4, 0, 1), [2, 32, 32, 3]);
    const cam = dn.train.gradCam(model, x);
    track(cam);
    expect(cam.shape).toEqual([2, 32, 32]);
    // The same cut by hand, in eval mode as gradCam runs it (no dropout): features to block5_relu3,
    // then the rest and the head but its sigmoid.
    model.eval();
    const features = model.base.features;
    const cut = features.namedChildren().findIndex(([name]) => name === 'block5_relu3') + 1;
    const a = dn.noGrad(() => features.forwardRange(x, 0, cut));
    const leaf = a.share();
    leaf.requiresGrad = true;
    const g = dn.scope(() => {
      const logit = dn.sum(model.head.forwardRange(features.forwardRange(leaf, cut, features.layers.length), 0, model.head.layers.length - 1));
      return dn.gradients(logit, leaf)!;
    });
    const want = camOnHost(await a.toArray(), await g.toArray(), a.shape, 32);
    for (const t of [a, leaf, g]) t.dispose();
    // float32 sums of a few hundred terms scaled to [0, 1]: F32's defaults.
    expectClose('gradCam', await cam.toArray(), want);
    const values = await cam.toArray();
    expect(Math.max(...values)).toBeGreaterThan(0.5);
    expect(model.parameters().every((p) => p.grad === null)).toBe(true);
  });

  it('points at the channel the score reads, and gives zeros where nothing speaks for it', async () => {
    // Channel 0 lit in the top-left corner, channel 1 in the bottom-right; the score reads channel 0 only.
    const img = new Float32Array(8 * 8 * 2);
    for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) {
      if (y < 3 && x < 3) img[(y * 8 + x) * 2] = 1;
      if (y > 4 && x > 4) img[(y * 8 + x) * 2 + 1] = 1;
    }
    const x = fromNd(img, [1, 8, 8, 2]);
    const parts = { features: (t: dn.Tensor) => dn.scale(t, 1), score: (a: dn.Tensor) => dn.reshape(dn.sum(dn.slice(a, [0, 0, 0, 0], [1, 8, 8, 1])), [1, 1]) };
    const cam = dn.train.gradCam(parts, x);
    track(cam);
    const v = await cam.toArray();
    expect(v[0]).toBeCloseTo(1, 6);
    expect(v[63]).toBe(0);
    // A score that reads nothing but a constant: no evidence anywhere.
    const flat = dn.train.gradCam({ features: parts.features, score: (a: dn.Tensor) => dn.reshape(dn.sum(dn.scale(a, -1)), [1, 1]) }, x);
    track(flat);
    expect(Math.max(...(await flat.toArray()))).toBe(0);
  });

  it("averages a mirror's map mirrored back (tta) and an ensemble's maps, as predict averages them", async () => {
    const [m1, m2] = [classifier(5), classifier(6)];
    const x = fromNd(uniform(32 * 32 * 3, 7, 0, 1), [1, 32, 32, 3]);
    const mirrored = dn.augment.flip(x, { horizontal: true });
    track(mirrored);
    const maps = [dn.train.gradCam(m1, x), dn.train.gradCam(m1, mirrored), dn.train.gradCam(m2, x), dn.train.gradCam(m1, x, { tta: 'flip' })];
    maps.forEach(track);
    const back = dn.scope(() => dn.augment.flip(dn.reshape(maps[1], [1, 32, 32, 1]), { horizontal: true }));
    track(back);
    const [direct, flipped, other, tta] = await Promise.all([maps[0], back, maps[2], maps[3]].map((t) => t.toArray()));
    expectClose('tta', tta, direct.map((v, i) => (v + flipped[i]) / 2));
    const ensemble = new dn.train.EnsembleModel([m1, m2]);
    const both = dn.train.gradCam(ensemble, x);
    track(both);
    expectClose('ensemble', await both.toArray(), direct.map((v, i) => (v + other[i]) / 2));
  });

  it("reads the logit, so a saturated p(tumour) still has a map; the model's mode is restored", async () => {
    const model = classifier(8);
    const out = model.module('head.out') as dn.nn.Linear;
    // A bias of 100: sigmoid gives exactly 1 in float32, and its gradient 0.
    dn.noGrad(() => dn.runKernel({ name: 'setBias', code: '@compute @workgroup_size(1) fn main() { b[0] = 100.0; }', outputs: { b: { tensor: out.bias! } }, workgroups: 1 }));
    const x = fromNd(uniform(32 * 32 * 3, 9, 0, 1), [1, 32, 32, 3]);
    const p = dn.noGrad(() => model.eval().forward(x));
    track(p);
    expect(await p.item()).toBe(1);
    model.train();
    const cam = dn.train.gradCam(model, x);
    track(cam);
    expect(Math.max(...(await cam.toArray()))).toBeCloseTo(1, 5);
    expect((model.module('head.dropout1') as dn.nn.Dropout).training).toBe(true);
  });

  it('names what it cannot use: a layer VGG16 lacks, a VGG16 without its top, another model, a score column too far', () => {
    const model = classifier(10);
    const x = fromNd(uniform(32 * 32 * 3, 11, 0, 1), [1, 32, 32, 3]);
    expect(() => dn.train.gradCam(model, x, { layer: 'block6_relu1' })).toThrow(/^gradCam: VGG16 has no layer 'block6_relu1'; its features are block1_conv1, block1_relu1,/);
    const base = dn.models.vgg16({ widthScale: 1 / 16 });
    track(base);
    expect(() => dn.train.gradCam(base, x)).toThrow('gradCam: VGG16 without its top gives no scores');
    const unet = dn.models.unet({ features: 2, depth: 1 });
    track(unet);
    expect(() => dn.train.gradCam(unet, x)).toThrow(/^gradCam: cannot cut UNet into features and scores/);
    expect(() => dn.train.gradCam(model, x, { output: 1 })).toThrow('gradCam: output 1 is not one of the 1 score column(s)');
  });
});
