// dn.train.gradCamWithOutput (src/train/grad-cam.ts): gradCam's map and the model's output from the
// same forwards. The output must be predictWithTta's to the bit (predict --explain prints it as
// p(tumour), and explaining must not change what is printed), the map gradCam's, and the model
// must run once per view instead of twice.

import { afterEach, describe, expect, it, vi } from 'vitest';
import * as dn from '../../src/index.js';
import { Conv2d } from '../../src/nn/layers.js';
import { disposeAfterEach, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

const { track, fromNd } = disposeAfterEach();

afterEach(() => {
  vi.restoreAllMocks();
});

/** A small tumour classifier: VGG16 at 1/16 of its widths on 32x32 inputs, dropout in its head. */
function classifier(seed: number): dn.models.VggClassifier {
  dn.setInitSeed(seed);
  const m = dn.models.vggClassifier({ inputSize: 32, widthScale: 1 / 16, hidden: 8 });
  track(m);
  return m;
}

async function values(t: dn.Tensor): Promise<Float32Array> {
  track(t);
  return t.toArray();
}

describe('gradCamWithOutput', () => {
  it("gives gradCam's map and predictWithTta's output, to the bit, with and without flip TTA", async () => {
    const model = classifier(21);
    const x = fromNd(uniform(2 * 32 * 32 * 3, 22, 0, 1), [2, 32, 32, 3]);
    for (const tta of ['none', 'flip'] as const) {
      model.train();
      const both = dn.train.gradCamWithOutput(model, x, { tta });
      // The model's mode comes back as it was (dropout in the head would otherwise stay off).
      expect((model.module('head.dropout1') as dn.nn.Dropout).training).toBe(true);
      expect(both.output.shape).toEqual([2, 1]);
      expect(both.output.requiresGrad).toBe(false);
      const map = await values(dn.train.gradCam(model, x, { tta }));
      const predicted = await values(dn.noGrad(() => dn.train.predictWithTta(model.eval(), x, tta)));
      expect(await values(both.map)).toEqual(map);
      const output = await values(both.output);
      expect(output).toEqual(predicted);
      // Not a constant: the two images get different probabilities, inside (0, 1).
      expect(output[0]).not.toBe(output[1]);
      for (const p of output) expect(p > 0 && p < 1).toBe(true);
    }
  });

  it("averages an ensemble's members and mirrors in predictWithTta's order", async () => {
    const ensemble = new dn.train.EnsembleModel([classifier(23), classifier(24)]);
    const x = fromNd(uniform(2 * 32 * 32 * 3, 25, 0, 1), [2, 32, 32, 3]);
    const both = dn.train.gradCamWithOutput(ensemble, x, { tta: 'flip' });
    const predicted = await values(dn.noGrad(() => dn.train.predictWithTta(ensemble.eval(), x, 'flip')));
    expect(await values(both.output)).toEqual(predicted);
    expect(await values(both.map)).toEqual(await values(dn.train.gradCam(ensemble, x, { tta: 'flip' })));
  });

  it('runs the model once per view, where gradCam and predictWithTta run it twice', () => {
    // VGG16's 13 convs each run fused with their ReLU: 13 calls a forward. (Spied before the model
    // is built: a module wraps its forwardRelu when constructed, to name itself in errors.)
    const convs = vi.spyOn(Conv2d.prototype, 'forwardRelu');
    const model = classifier(26).eval();
    const x = fromNd(uniform(32 * 32 * 3, 27, 0, 1), [1, 32, 32, 3]);
    const both = dn.train.gradCamWithOutput(model, x, { tta: 'flip' });
    track(both.map);
    track(both.output);
    expect(convs).toHaveBeenCalledTimes(2 * 13);
    convs.mockClear();
    track(dn.train.gradCam(model, x, { tta: 'flip' }));
    track(dn.noGrad(() => dn.train.predictWithTta(model, x, 'flip')));
    expect(convs).toHaveBeenCalledTimes(4 * 13);
  });

  it('gives the scores, or what `output` makes of them, for a model given as functions', async () => {
    const model = classifier(28).eval();
    const x = fromNd(uniform(32 * 32 * 3, 29, 0, 1), [1, 32, 32, 3]);
    const layers = model.base.features.layers.length;
    const cut = model.base.features.namedChildren().findIndex(([name]) => name === 'block5_relu3') + 1;
    const features = (t: dn.Tensor) => model.base.features.forwardRange(t, 0, cut);
    const score = (a: dn.Tensor) => model.head.forwardRange(model.base.features.forwardRange(a, cut, layers), 0, model.head.layers.length - 1);
    const logits = dn.noGrad(() => dn.scope(() => score(features(x))));
    const plain = dn.train.gradCamWithOutput({ features, score }, x);
    expect(plain.output.requiresGrad).toBe(false);
    expect(await values(plain.output)).toEqual(await values(logits));
    const sigmoid = dn.train.gradCamWithOutput({ features, score, output: (s) => dn.sigmoid(s) }, x);
    const p = await values(sigmoid.output);
    expect(p).toEqual(await values(dn.noGrad(() => model.forward(x))));
    expect(await values(plain.map)).toEqual(await values(sigmoid.map));
  });
});
