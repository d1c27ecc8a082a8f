// What README.md's examples assume exists before their first line, made as small as an honest
// run allows: a tiny U-Net and batch to profile, a train step to tune, a VGG16 weights file in
// Keras's HDF5 layout, small datasets for fit, a synthetic kaggle_3m folder, a weights file for
// the page. Each returns the free variables of its example.

import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import h5wasm from 'h5wasm/node';
import * as dn from '../../src/index.js';

/** Deterministic numbers in [-1, 1): examples' inputs must not depend on the run. */
export function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 31 - 1;
  };
}

const filled = (n: number, f: (i: number) => number) => Float32Array.from({ length: n }, (_, i) => f(i));

/** A 16x16 slice with a square lesion, for the profiling example's `net.forward(x)` and Dice loss. */
export function profileContext(): Record<string, unknown> {
  const r = seeded(1);
  const S = 16;
  const inside = (p: number) => p % S >= 4 && p % S < 10 && Math.floor(p / S) >= 5 && Math.floor(p / S) < 11;
  return {
    net: dn.models.unet({ features: 4, depth: 2 }),
    x: dn.tensor(filled(S * S * 3, (i) => (inside(Math.floor(i / 3)) ? 1 : 0) + 0.1 * r()), [1, S, S, 3]),
    y: dn.tensor(filled(S * S, (p) => (inside(p) ? 1 : 0)), [1, S, S, 1]),
  };
}

/**
 * The tuning example's `trainStep(firstBatch)`: one Adam step of two 16-channel 3x3 convs, which
 * have a choice of algorithm (direct or Winograd) in all three directions. Counts its calls,
 * since the example promises the step runs once.
 */
export function tuneContext(): Record<string, unknown> & { calls: () => number } {
  const r = seeded(2);
  const net = new dn.nn.Sequential(new dn.nn.Conv2d(16, 16), new dn.nn.ReLU(), new dn.nn.Conv2d(16, 16));
  const opt = new dn.optim.Adam(net.parameters(), { lr: 1e-3 });
  let calls = 0;
  const trainStep = async (batch: { x: dn.Tensor }) => {
    calls++;
    opt.zeroGrad();
    const loss = dn.scope(() => {
      const l = dn.mean(dn.square(net.forward(batch.x)));
      l.backward();
      return l;
    });
    opt.step();
    const value = await loss.item();
    loss.dispose();
    return value;
  };
  return { trainStep, firstBatch: { x: dn.tensor(filled(2 * 8 * 8 * 16, () => r()), [2, 8, 8, 16]) }, calls: () => calls };
}

/** VGG16's 13 convs: Keras's layer names and [cin, cout]; pools after blocks 1-5. */
export const VGG16_CONVS = [
  ['block1_conv1', 3, 64], ['block1_conv2', 64, 64],
  ['block2_conv1', 64, 128], ['block2_conv2', 128, 128],
  ['block3_conv1', 128, 256], ['block3_conv2', 256, 256], ['block3_conv3', 256, 256],
  ['block4_conv1', 256, 512], ['block4_conv2', 512, 512], ['block4_conv3', 512, 512],
  ['block5_conv1', 512, 512], ['block5_conv2', 512, 512], ['block5_conv3', 512, 512],
] as const;

/**
 * A file laid out as Keras 2's `save_weights` writes VGG16 without its top (layer_names, a group
 * per layer, `<layer>/kernel:0` [3, 3, cin, cout] and `bias:0`), with He-scaled seeded values, so
 * the features stay finite through 13 ReLU convs. Returns the values written, by layer.
 */
export async function writeVggNotopH5(path: string): Promise<Map<string, { kernel: Float32Array; bias: Float32Array }>> {
  await h5wasm.ready;
  const r = seeded(3);
  const written = new Map<string, { kernel: Float32Array; bias: Float32Array }>();
  const f = new h5wasm.File(path, 'w');
  try {
    const layers: string[] = ['input_1'];
    for (const [name] of VGG16_CONVS) {
      layers.push(name);
      if (name.endsWith('conv2') && (name.startsWith('block1') || name.startsWith('block2'))) layers.push(name.replace('conv2', 'pool'));
      if (name.endsWith('conv3')) layers.push(name.replace('conv3', 'pool'));
    }
    f.create_attribute('layer_names', layers);
    f.create_attribute('backend', 'tensorflow');
    f.create_attribute('keras_version', '2.11.0');
    for (const layer of layers) {
      const g = f.create_group(layer);
      const conv = VGG16_CONVS.find(([n]) => n === layer);
      g.create_attribute('weight_names', conv ? [`${layer}/kernel:0`, `${layer}/bias:0`] : []);
      if (!conv) continue;
      const [, cin, cout] = conv;
      const a = Math.sqrt(6 / (9 * cin));
      const kernel = filled(9 * cin * cout, () => a * r());
      const bias = filled(cout, () => 0.01 * r());
      const w = g.create_group(layer);
      w.create_dataset({ name: 'kernel:0', data: kernel, shape: [3, 3, cin, cout] });
      w.create_dataset({ name: 'bias:0', data: bias, shape: [cout] });
      written.set(layer, { kernel, bias });
    }
  } finally {
    f.close();
  }
  return written;
}

/** 32x32 RGB in 0..1 (VGG16's five pools leave 1x1): the `images` of the models example. */
export function vggContext(): Record<string, unknown> {
  const r = seeded(4);
  return { images: dn.tensor(filled(32 * 32 * 3, () => 0.5 + 0.5 * r()), [1, 32, 32, 3]) };
}

/**
 * `train` and `val` for the multi-class example: one 32x32 sample whose class is its quadrant
 * (0-3), the image saying which in its first channel, with new tensors on every call as the
 * example asks (fit disposes them). 32 keeps the depth-4 bottleneck at 2x2: instance norm over a
 * single pixel would have nothing to normalise.
 */
export function multiClassContext(): Record<string, unknown> {
  const S = 32;
  const r = seeded(5);
  const label = (p: number) => (Math.floor(p / S) < S / 2 ? 0 : 2) + (p % S < S / 2 ? 0 : 1);
  const image = filled(S * S * 3, (i) => (i % 3 === 0 ? label(Math.floor(i / 3)) / 3 : 0) + 0.05 * r());
  const labels = filled(S * S, label);
  const dataset = () => ({
    batches() {
      const ids = dn.tensor(labels, [1, S, S, 1]);
      const y = dn.oneHot(ids, 4);
      ids.dispose();
      return [{ x: dn.tensor(image, [1, S, S, 3]), y }];
    },
  });
  return { train: dataset(), val: dataset() };
}

/**
 * A kaggle_3m folder in `dir` (the example scans it by that relative name): three synthetic
 * patients, so that a patient split leaves one each for train, val and test, of one 32x32 slice
 * each (the example resizes it to its 128).
 */
export async function lggContext(dir: string): Promise<Record<string, unknown>> {
  await dn.data.writeSyntheticDataset(join(dir, 'kaggle_3m'), { patients: 3, seed: 1, size: 32, slicesPerPatient: [1, 1] });
  return {};
}

/** The 3-D example's data: synthetic patients of 10-12 slices, so that 8-plane patches fit and a test patient is a volume. */
export async function lggVolumeContext(dir: string): Promise<Record<string, unknown>> {
  await dn.data.writeSyntheticDataset(join(dir, 'kaggle_3m'), { patients: 4, seed: 2, size: 32, slicesPerPatient: [10, 12] });
  return {};
}

/** A U-Net of `features` saved as `unet.safetensors`, its biases set to 0.25 so that a load is visible: a fresh model's are 0. */
export async function writeUnetWeights(path: string, features: number): Promise<Map<string, number>> {
  dn.setInitSeed(12345);
  const net = dn.models.unet({ features });
  try {
    const { tensors, metadata } = dn.io.decodeSafetensors(await dn.io.encodeWeights(net), 'unet');
    for (const [name, t] of tensors) if (name.endsWith('.bias')) t.data.fill(0.25);
    await writeFile(path, dn.io.encodeSafetensors(tensors, metadata));
    return new Map([...tensors].map(([name, t]) => [name, checksum(t.data)]));
  } finally {
    net.dispose();
  }
}

/** A tensor's fingerprint the page computes the same way: the sum of value x (index mod 7 + 1), in float64. */
export function checksum(data: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < data.length; i++) s += data[i]! * ((i % 7) + 1);
  return s;
}

/** The README's squareScale (y = x² · a + b by a kernel of its own, with its backward), for the gradcheck example. */
export function squareScaleOp(): (x: dn.Tensor, a: dn.Tensor, b: number) => dn.Tensor {
  return dn.customOp({
    name: 'squareScale',
    forward(ctx, x: dn.Tensor, a: dn.Tensor, b: number) {
      ctx.save(x, a);
      const code = '@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) { if (g.x < params.n) { y[g.x] = x[g.x] * x[g.x] * a[g.x] + params.b; } }';
      return dn.runKernel({ name: 'squareScale', code, inputs: { x, a }, outputs: { y: x.shape }, params: { n: ['u32', x.size], b: ['f32', b] }, workgroups: Math.ceil(x.size / 64) }).y;
    },
    backward(ctx, dy) {
      const [x, a] = ctx.saved;
      return [dn.mul(dy, dn.scale(dn.mul(x!, a!), 2)), dn.mul(dy, dn.square(x!)), null];
    },
  });
}
