// dn.train.gradCam used as a user would: a batch whose images must not speak for each other, cuts at
// earlier layers (a conv whose ReLU forwardRange would fuse, a pool), an ensemble whose members
// were left in train mode, calls inside noGrad and scope, and repeated calls that must not grow
// the pool; wrong inputs named as the model's forward names them; the heat map over a slice.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { heatmapOverlay } from '../../src/report/heatmap.js';
import { expectClose } from '../helpers/close.js';
import { disposeAfterEach, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

const { track, fromNd } = disposeAfterEach();

const PIXELS = 32 * 32;

/** The tiny tumour classifier (VGG16 at 1/16 width, 32x32 inputs); trainable base, so weights have grads to leak. */
function classifier(seed: number, preprocess: 'none' | 'caffe' = 'none'): dn.models.VggClassifier {
  dn.setInitSeed(seed);
  return track(dn.models.vggClassifier({ inputSize: 32, widthScale: 1 / 16, hidden: 8, freezeBase: false, preprocess }));
}

/**
 * The model cut at `layer` by hand, one layer at a time (nothing fused), as { features, score }:
 * what gradCam's own cut must agree with, wherever the cut falls.
 */
function handCut(model: dn.models.VggClassifier, layer: string) {
  const layers = model.base.features.namedChildren();
  const cut = layers.findIndex(([name]) => name === layer) + 1;
  const head = model.head.namedChildren().filter(([name]) => name !== 'sigmoid');
  const run = (x: dn.Tensor, list: [string, dn.nn.Module][]) => dn.scope(() => list.reduce((h, [, m]) => m.forward(h) as dn.Tensor, x));
  return {
    features: (x: dn.Tensor) => run(dn.imagenetPreprocess(x, 'caffe'), layers.slice(0, cut)),
    score: (a: dn.Tensor) => run(a, [...layers.slice(cut), ...head]),
  };
}

describe('gradCam on a batch', () => {
  it("gives each image a map of its own image only, at the last ReLU and at an earlier block", async () => {
    const model = classifier(3);
    const a = uniform(3 * PIXELS * 3, 4, 0, 1);
    const b = a.slice();
    // Image 1 only is changed (inverted).
    for (let i = PIXELS * 3; i < 2 * PIXELS * 3; i++) b[i] = 1 - b[i];
    const [xa, xb] = [fromNd(a, [3, 32, 32, 3]), fromNd(b, [3, 32, 32, 3])];
    const alone = fromNd(a.subarray(2 * PIXELS * 3), [1, 32, 32, 3]);
    for (const layer of [undefined, 'block3_relu3']) {
      const [ma, mb, m2] = await Promise.all([xa, xb, alone].map((x) => track(dn.train.gradCam(model, x, { layer })).toArray()));
      const image = (m: Float32Array, k: number) => Array.from(m.subarray(k * PIXELS, (k + 1) * PIXELS));
      expect(image(mb, 0), `${layer}: image 0`).toEqual(image(ma, 0));
      expect(image(mb, 2), `${layer}: image 2`).toEqual(image(ma, 2));
      expect(image(mb, 1), `${layer}: image 1`).not.toEqual(image(ma, 1));
      // Image 2 in a batch of one: the same map (the same kernels over fewer images).
      expectClose(`${layer}: image 2 alone`, m2, image(ma, 2));
      // Scaled to 1 before the bilinear resize, whose samples fall between the coarse map's centres.
      for (let k = 0; k < 3; k++) expect(Math.max(...image(ma, k))).toBeGreaterThan(0.5);
      expect(Math.max(...ma)).toBeLessThanOrEqual(1);
    }
  });

  it('cuts the model where a hand-made cut does: at a conv whose ReLU forwardRange fuses, a pool, a ReLU; with its preprocessing', async () => {
    const model = classifier(5, 'caffe');
    const x = fromNd(uniform(2 * PIXELS * 3, 6, 0, 1), [2, 32, 32, 3]);
    model.eval();
    for (const layer of ['block4_conv1', 'block3_pool', 'block2_relu2']) {
      const [got, want] = await Promise.all([dn.train.gradCam(model, x, { layer }), dn.train.gradCam(handCut(model, layer), x)].map((t) => track(t).toArray()));
      expectClose(layer, got, want);
    }
  });
});

describe('gradCam and the model around it', () => {
  it("runs an ensemble's members in eval mode whatever their modes, restores them, and touches no .grad", async () => {
    const [m1, m2] = [classifier(7), classifier(8)];
    const x = fromNd(uniform(PIXELS * 3, 9, 0, 1), [1, 32, 32, 3]);
    const [e1, e2] = await Promise.all([m1, m2].map((m) => track(dn.train.gradCam(m.eval(), x)).toArray()));
    m1.train();
    const ensemble = new dn.train.EnsembleModel([m1, m2]);
    // Twice: dropout left on would draw two different maps.
    const [first, second] = await Promise.all([0, 1].map(() => track(dn.train.gradCam(ensemble, x, { layer: 'block4_relu3' })).toArray()));
    expect(Array.from(second)).toEqual(Array.from(first));
    const [f1, f2] = await Promise.all([m1, m2].map((m) => track(dn.train.gradCam(m, x, { layer: 'block4_relu3' })).toArray()));
    expectClose('ensemble', first, f1.map((v, i) => (v + f2[i]) / 2));
    expect([m1.training, (m1.module('head.dropout1') as dn.nn.Dropout).training, m2.training]).toEqual([true, true, false]);
    const mean = track(dn.train.gradCam(ensemble, x));
    expectClose('ensemble at the last ReLU', await mean.toArray(), e1.map((v, i) => (v + e2[i]) / 2));
    expect([...m1.parameters(), ...m2.parameters()].every((p) => p.grad === null)).toBe(true);
  });

  it('gives the same map inside noGrad, inside a scope (which frees all but what it returns), and does not grow the pool over calls', async () => {
    const model = classifier(10);
    const x = fromNd(uniform(2 * PIXELS * 3, 11, 0, 1), [2, 32, 32, 3]);
    const plain = await track(dn.train.gradCam(model, x, { tta: 'flip' })).toArray();
    const before = dn.memory().bytesInUse;
    const inNoGrad = track(dn.noGrad(() => dn.train.gradCam(model, x, { tta: 'flip' })));
    const inScope = track(dn.scope(() => dn.train.gradCam(model, x, { tta: 'flip' })));
    dn.scope(() => {
      dn.train.gradCam(model, x);
    });
    for (const m of [inNoGrad, inScope]) expect(Array.from(await m.toArray())).toEqual(Array.from(plain));
    const held = dn.memory().bytesInUse;
    // Two maps of [2, 32, 32] kept, nothing else.
    expect(held - before).toBe(2 * 2 * PIXELS * 4);
    for (let i = 0; i < 3; i++) dn.train.gradCam(model, x).dispose();
    expect(dn.memory().bytesInUse).toBe(held);
  });

  it("names a wrong input as the classifier's forward does, not as a dense layer's mismatch, with nothing allocated", () => {
    const model = classifier(12);
    const before = dn.memory().bytesInUse;
    const big = fromNd(new Float32Array(64 * 64 * 3), [1, 64, 64, 3]);
    const nchw = fromNd(new Float32Array(3 * PIXELS), [1, 3, 32, 32]);
    const afterInputs = dn.memory().bytesInUse;
    expect(() => dn.train.gradCam(model, big)).toThrow(/^gradCam: the classifier takes \[N, 32, 32, 3\] images \(inputSize\), got x tensor#\d+ \[1,64,64,3\]$/);
    expect(() => dn.train.gradCam(model, nchw)).toThrow(/got x tensor#\d+ \[1,3,32,32\]; activations are NHWC/);
    expect(() => dn.train.gradCam(new dn.train.EnsembleModel([model]), big)).toThrow(dn.ShapeError);
    // Found only once the scores exist: what the run had made is freed all the same.
    const fits = fromNd(new Float32Array(PIXELS * 3), [1, 32, 32, 3]);
    expect(() => dn.train.gradCam(model, fits, { output: 1 })).toThrow('gradCam: output 1 is not one of the 1 score column(s)');
    fits.dispose();
    expect(dn.memory().bytesInUse).toBe(afterInputs);
    expect(afterInputs).toBeGreaterThan(before);
    expect(model.training).toBe(true);
  });
});

describe('the Grad-CAM overlay', () => {
  it('leaves a pixel whose map is NaN as it was, as one whose map is 0, rather than blacking it out', () => {
    const rgb = { width: 3, height: 1, channels: 3 as const, data: Uint8Array.from([200, 100, 50, 200, 100, 50, 200, 100, 50]) };
    const out = heatmapOverlay(rgb, Float32Array.from([NaN, 0, -1]));
    expect(Array.from(out.data)).toEqual(Array.from(rgb.data));
  });
});
