// Normalisation in a U-Net under training: fit switches the whole model to train() each epoch, so a
// frozen encoder's batch norms keep their running statistics only because a frozen BatchNorm2d
// runs in inference mode; and an instance-norm bottleneck on 1x1 pixels is refused, not trained
// to carry nothing.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { bceDiceLoss } from '../../src/kernels/loss.js';
import { unet } from '../../src/models/unet.js';
import { Adam } from '../../src/optim/adam.js';
import { useGpu } from '../helpers/gpu.js';
import { rng } from '../helpers/rng.js';

useGpu();

/** The buffers whose names start with `prefix`, read back, by name. */
async function buffersUnder(model: dn.Module, prefix: string): Promise<Map<string, number[]>> {
  const named = model.namedBuffers().filter((b) => b.name.startsWith(prefix));
  return new Map(await Promise.all(named.map(async (b) => [b.name, Array.from(await b.tensor.toArray())] as [string, number[]])));
}

describe('a U-Net with a frozen encoder', () => {
  it("a fit epoch leaves the frozen encoder1's running statistics as they were and updates encoder2's; encoder1 runs as in eval()", async () => {
    dn.setInitSeed(11);
    const model = unet({ features: 4, depth: 2 });
    const r = rng(4);
    const images = Float32Array.from({ length: 2 * 16 * 16 * 3 }, () => r());
    const masks = Float32Array.from({ length: 2 * 16 * 16 }, () => (r() > 0.5 ? 1 : 0));
    // Running statistics away from their initial 0 and 1, so that an update could not hide.
    const x = dn.tensor(images, [2, 16, 16, 3]);
    dn.noGrad(() => dn.scope(() => void model.forward(x)));
    expect(model.freeze('encoder1')).toBe(6);
    const frozen = await buffersUnder(model, 'encoder1.');
    const trained = await buffersUnder(model, 'encoder2.');
    expect([...frozen.keys()]).toEqual(['encoder1.enc1norm1.running_mean', 'encoder1.enc1norm1.running_var', 'encoder1.enc1norm2.running_mean', 'encoder1.enc1norm2.running_var']);
    // The PyTorch idiom, which fit's train() undoes at the start of each epoch.
    model.module('encoder1').eval();
    const optimizer = new Adam(model.trainableParameters(), { lr: 0.01 });
    const data = { batches: () => [{ x: dn.tensor(images, [2, 16, 16, 3]), y: dn.tensor(masks, [2, 16, 16, 1]) }] };
    await dn.train.fit(model, data, null, { epochs: 1, optimizer, loss: bceDiceLoss });
    // fit hands the modes back as they came: the caller's eval() on encoder1 again. The epoch itself
    // ran the whole model in train(), which the unchanged statistics below survived.
    expect(model.module('encoder1').training).toBe(false);
    expect(model.module('encoder2').training).toBe(true);
    expect(await buffersUnder(model, 'encoder1.')).toEqual(frozen);
    for (const [name, values] of await buffersUnder(model, 'encoder2.')) {
      expect(values.some((v, i) => v !== trained.get(name)![i]), `${name} moved`).toBe(true);
    }
    // The frozen block's output in train mode is its eval-mode output, to the bit.
    const encoder = model.module('encoder1');
    const inTrain = dn.noGrad(() => encoder.train().forward(x));
    const inEval = dn.noGrad(() => encoder.eval().forward(x));
    expect(await inTrain.toArray()).toEqual(await inEval.toArray());
    for (const t of [x, inTrain, inEval]) t.dispose();
    optimizer.dispose();
    model.dispose();
  });
});

describe('an instance-norm U-Net too deep for its images', () => {
  it('refuses to train a 1x1 bottleneck, naming the layer and the shape, without leaking; at 2x2 it trains', () => {
    const model = unet({ features: 2, depth: 2, norm: 'instance' });
    const tiny = dn.full([1, 4, 4, 3], 0.5);
    const before = dn.memory().bytesInUse;
    expect(() => dn.scope(() => model.forward(tiny))).toThrow(dn.ShapeError);
    expect(() => dn.scope(() => model.forward(tiny))).toThrow(
      /^UNet bottleneck\.bottlenecknorm1 \(InstanceNorm2d 8\): InstanceNorm2d: training needs more than one pixel per sample with one channel per group, got tensor#\d+ \[1,1,1,8\]/,
    );
    expect(dn.memory().bytesInUse).toBe(before);
    const larger = dn.full([1, 8, 8, 3], 0.5);
    const y = dn.scope(() => model.forward(larger));
    expect(y.shape).toEqual([1, 8, 8, 1]);
    for (const t of [tiny, larger, y]) t.dispose();
    model.dispose();
  });
});
