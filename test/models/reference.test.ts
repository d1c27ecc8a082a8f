// Whole-model forward passes against the same network composed from the float64 CPU references,
// with the model's own (seeded, random) weights read back from the GPU.
import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { unet } from '../../src/models/unet.js';
import { vgg16 } from '../../src/models/vgg16.js';
import { nd, type NdArray } from '../../src/reference/array.js';
import { batchNormForwardRef } from '../../src/reference/batchnorm.js';
import { concatRef } from '../../src/reference/concat.js';
import { conv2dForwardRef, convTranspose2dForwardRef } from '../../src/reference/conv.js';
import { unaryForwardRef } from '../../src/reference/elementwise.js';
import { linearRef } from '../../src/reference/matmul.js';
import { maxPool2dRef } from '../../src/reference/pool.js';
import { expectClose } from '../helpers/close.js';
import { useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

async function hostState(m: dn.Module): Promise<Map<string, NdArray>> {
  const out = new Map<string, NdArray>();
  for (const [name, t] of m.stateDict()) out.set(name, nd(await t.toArray(), [...t.shape]));
  return out;
}

const relu = (x: NdArray) => unaryForwardRef('relu', x);

describe('VGG16 forward matches the CPU reference', () => {
  it('features and top at reduced width (224x224 is required by the top: width 1/32, batch 1)', async () => {
    dn.setInitSeed(21);
    const model = vgg16({ includeTop: true, widthScale: 1 / 32, classes: 5 });
    const W = await hostState(model);
    const input = uniform(224 * 224 * 3, 5, 0, 1);
    let h = nd(input, [1, 224, 224, 3]);
    const widths = [2, 4, 8, 16, 16];
    const convs = [2, 2, 3, 3, 3];
    widths.forEach((_, b) => {
      for (let i = 1; i <= convs[b]; i++) {
        const p = `features.block${b + 1}_conv${i}`;
        h = relu(conv2dForwardRef(h, W.get(`${p}.weight`)!, W.get(`${p}.bias`)!, { padding: 'same' }));
      }
      h = maxPool2dRef(h, { size: 2 });
    });
    let f = nd(h.data, [1, h.data.length]);
    f = relu(linearRef(f, W.get('top.fc1.weight')!, W.get('top.fc1.bias')!));
    f = relu(linearRef(f, W.get('top.fc2.weight')!, W.get('top.fc2.bias')!));
    const want = linearRef(f, W.get('top.predictions.weight')!, W.get('top.predictions.bias')!);
    const x = dn.tensor(Float32Array.from(input), [1, 224, 224, 3]);
    const y = dn.noGrad(() => model.forward(x));
    expect(y.shape).toEqual([1, 5]);
    // 13 convs and 3 dense layers in float32: errors compound to ~1e-5 relative.
    expectClose('vgg16 logits', await y.toArray(), want.data, { atol: 1e-4, rtol: 1e-3 });
    for (const t of [x, y]) t.dispose();
    model.dispose();
  }, 120_000);
});

describe('U-Net forward matches the CPU reference', () => {
  for (const training of [false, true]) {
    it(`features 3, depth 2, ${training ? 'training-mode' : 'inference-mode'} batch norm`, async () => {
      dn.setInitSeed(22);
      const model = unet({ features: 3, depth: 2 });
      if (!training) model.eval();
      const W = await hostState(model);
      const input = uniform(2 * 16 * 16 * 3, 6, 0, 1);
      const block = (x: NdArray, prefix: string, name: string): NdArray => {
        let h = x;
        for (const i of [1, 2]) {
          h = conv2dForwardRef(h, W.get(`${prefix}.${name}conv${i}.weight`)!, null, { padding: 'same' });
          const g = (k: string) => W.get(`${prefix}.${name}norm${i}.${k}`)!;
          h = relu(batchNormForwardRef(h, g('weight'), g('bias'), g('running_mean'), g('running_var'), { training }).y);
        }
        return h;
      };
      const e1 = block(nd(input, [2, 16, 16, 3]), 'encoder1', 'enc1');
      const e2 = block(maxPool2dRef(e1, { size: 2 }), 'encoder2', 'enc2');
      const bott = block(maxPool2dRef(e2, { size: 2 }), 'bottleneck', 'bottleneck');
      const up2 = convTranspose2dForwardRef(bott, W.get('upconv2.weight')!, W.get('upconv2.bias')!, { stride: 2, padding: 'valid' });
      const d2 = block(concatRef([up2, e2], 3), 'decoder2', 'dec2');
      const up1 = convTranspose2dForwardRef(d2, W.get('upconv1.weight')!, W.get('upconv1.bias')!, { stride: 2, padding: 'valid' });
      const d1 = block(concatRef([up1, e1], 3), 'decoder1', 'dec1');
      const want = unaryForwardRef('sigmoid', conv2dForwardRef(d1, W.get('conv.weight')!, W.get('conv.bias')!, { padding: 'valid' }));
      const x = dn.tensor(Float32Array.from(input), [2, 16, 16, 3]);
      const y = dn.noGrad(() => model.forward(x));
      expect(y.shape).toEqual([2, 16, 16, 1]);
      // Batch norm over few values per channel amplifies float32 rounding: atol 1e-4.
      expectClose(`unet ${training ? 'train' : 'eval'}`, await y.toArray(), want.data, { atol: 1e-4, rtol: 1e-3 });
      for (const t of [x, y]) t.dispose();
      model.dispose();
    }, 120_000);
  }
});
