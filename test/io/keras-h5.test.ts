// Keras HDF5 weights written by h5py in Keras 2's layout (test/fixtures/weights/make_fixtures.py):
// a save_weights file and a full-model file (model_weights group, Keras 1 weight names, chunked
// layer_names), read with h5wasm and compared with the values the script derived.

import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import h5wasm from 'h5wasm/node';
import { describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import { kerasWeightKey, readKerasH5 } from '../../src/io/keras-h5.js';
import { decodeSafetensors } from '../../src/io/safetensors.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

const DIR = join(import.meta.dirname, '../fixtures/weights');
const fixture = (name: string) => new Uint8Array(readFileSync(join(DIR, name)));
const expected = decodeSafetensors(fixture('vgg16_tiny_expected.safetensors'), 'expected').tensors;

const KEYS = {
  'block1_conv1/kernel': 'features.block1_conv1.weight',
  'block1_conv1/bias': 'features.block1_conv1.bias',
  'block1_conv2/kernel': 'features.block1_conv2.weight',
  'block1_conv2/bias': 'features.block1_conv2.bias',
  'fc1/kernel': 'top.fc1.weight',
  'fc1/bias': 'top.fc1.bias',
} as const;

describe('readKerasH5', () => {
  const files = [
    { file: 'vgg_mini_keras.h5', note: 'save_weights, Keras 2 names' },
    { file: 'vgg_mini_keras_model.h5', note: 'full model, Keras 1 names, chunked layer_names' },
  ] as const;
  for (const f of files) {
    it(`${f.file} (${f.note}): keys 'layer/variable' with Keras's values and shapes`, async () => {
      const got = await readKerasH5(fixture(f.file), f.file);
      expect([...got.keys()]).toEqual(Object.keys(KEYS));
      for (const [key, dawnetName] of Object.entries(KEYS)) {
        const want = expected.get(dawnetName)!;
        expect(got.get(key)!.shape, key).toEqual(want.shape);
        expect(got.get(key)!.data, key).toEqual(want.data);
        expect(got.get(key)!.dtype).toBe('F32');
      }
    });
  }

  it('names weights like Keras 2 and Keras 1 files do', () => {
    const cases = [
      ['block1_conv1', 'block1_conv1/kernel:0', 'block1_conv1/kernel'],
      ['block1_conv1', 'block1_conv1_W_1:0', 'block1_conv1/kernel'],
      ['block1_conv1', 'block1_conv1_b_1:0', 'block1_conv1/bias'],
      ['fc1', 'fc1_W:0', 'fc1/kernel'],
      ['bn', 'bn/moving_variance:0', 'bn/moving_variance'],
      ['vgg16', 'block5_conv3/bias:0', 'block5_conv3/bias'],
      ['model', 'model/dense/kernel:0', 'dense/kernel'],
    ] as const;
    for (const [layer, weight, key] of cases) expect(kerasWeightKey(layer, weight), `${layer} ${weight}`).toBe(key);
  });

  it('a truncated HDF5 file: FormatError', async () => {
    const bytes = fixture('vgg_mini_keras.h5');
    await expect(readKerasH5(bytes.subarray(0, bytes.length >> 1), 'cut.h5')).rejects.toBeInstanceOf(FormatError);
  });

  it('an HDF5 file that is not Keras weights (no layer_names): FormatError', async () => {
    const { FS } = await h5wasm.ready;
    // h5wasm's Node build writes the real file system: a file of this process in the temporary folder.
    const path = join(tmpdir(), `dawnet-plain-test-${process.pid}.h5`);
    const f = new h5wasm.File(path, 'w');
    f.create_dataset({ name: 'x', data: Float32Array.of(1, 2, 3) });
    f.close();
    const bytes = FS!.readFile(path) as Uint8Array;
    FS!.unlink(path);
    await expect(readKerasH5(bytes, 'plain.h5')).rejects.toBeInstanceOf(FormatError);
  });

  it('a weight declaring 256 MB in an 8 KB file (chunks never written): FormatError before h5wasm allocates it', async () => {
    const { FS } = await h5wasm.ready;
    const path = join(tmpdir(), `dawnet-sparse-test-${process.pid}.h5`);
    const f = new h5wasm.File(path, 'w');
    f.create_attribute('layer_names', ['d']);
    const layer = f.create_group('d');
    layer.create_attribute('weight_names', ['d/kernel:0']);
    const ds = layer.create_group('d').create_dataset({ name: 'kernel:0', data: Float32Array.of(1, 2, 3, 4), shape: [4], maxshape: [null], chunks: [4] });
    ds.resize([2 ** 26]);
    f.close();
    const bytes = FS!.readFile(path) as Uint8Array;
    FS!.unlink(path);
    const error = await readKerasH5(bytes, 'sparse.h5').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FormatError);
    const message = (error as Error).message;
    expect(message, message).toContain("sparse.h5: dataset 'd/kernel' declares shape [67108864]");
  });

  it('a file on which h5wasm stalls is refused when its time is up, and the read stops', async () => {
    // One flipped byte in the heap of the chunked 'layer_names0' attribute: h5wasm, reading it,
    // loops inside WebAssembly for good (measured: over 80 s, the event loop blocked). The read
    // runs in a worker, which is terminated when the limit passes.
    const bytes = Uint8Array.from(fixture('vgg_mini_keras_model.h5'));
    bytes[2552] ^= 0xff;
    const started = Date.now();
    const error = await readKerasH5(bytes, 'stalls.h5', { timeoutMs: 2000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FormatError);
    expect((error as Error).message).toBe('stalls.h5: reading the HDF5 file did not finish in 2 s; h5wasm stalls on some damaged files, so this one is likely damaged');
    expect(Date.now() - started).toBeLessThan(15_000);
    // The intact file still reads, through the same path.
    expect((await readKerasH5(fixture('vgg_mini_keras_model.h5'), 'intact.h5')).size).toBeGreaterThan(0);
  }, 30_000);
});
