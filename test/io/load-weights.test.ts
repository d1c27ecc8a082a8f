// loadWeights into GPU tensors of test-only Modules named like dawnet's VGG16 and U-Net, from files
// written by PyTorch and h5py (test/fixtures/weights/make_fixtures.py); the expected values are the
// script's own numpy transposes into dawnet's layouts. Also: refusals that must leave the model
// untouched, the report of a non-strict load, and convertWeights / `dawnet convert`.

import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import * as dn from '../../src/index.js';
import { UsageError } from '../../src/cli/args.js';
import { runConvert } from '../../src/cli/convert.js';
import { convertWeights, detectFormat, inferModelKind, loadWeights, torchvisionVggName } from '../../src/io/load-weights.js';
import { decodeSafetensors, type HostTensor } from '../../src/io/safetensors.js';
import { Module } from '../../src/nn/module.js';
import { expectClose } from '../helpers/close.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

const DIR = join(import.meta.dirname, '../fixtures/weights');
const at = (name: string) => join(DIR, name);
const fixture = (name: string) => new Uint8Array(readFileSync(at(name)));
const expectedFile = (name: string) => decodeSafetensors(fixture(name), name).tensors;
const VGG = expectedFile('vgg16_tiny_expected.safetensors');
const UNET = expectedFile('unet_tiny_expected.safetensors');
const SENTINEL = 7.5;
const tmp = mkdtempSync(join(tmpdir(), 'dawnet-weights-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A Module with exactly the given names and shapes, every value SENTINEL; running_* as buffers. */
class Named extends Module {
  private subs = new Map<string, Named>();
  static of(spec: Map<string, HostTensor>): Named {
    const m = new Named();
    for (const [name, t] of spec) m.put(name.split('.'), dn.full(t.shape, SENTINEL), name.includes('running_'));
    return m;
  }
  private put(path: string[], t: dn.Tensor, buffer: boolean): void {
    if (path.length === 1) {
      if (buffer) this.addBuffer(path[0], t);
      else this.addParameter(path[0], t);
      return;
    }
    let sub = this.subs.get(path[0]);
    if (!sub) this.subs.set(path[0], (sub = this.addModule(path[0], new Named())));
    sub.put(path.slice(1), t, buffer);
  }
  forward(x: dn.Tensor): dn.Tensor {
    return x;
  }
}

async function expectModel(model: Module, want: Map<string, HostTensor>, tol = { atol: 0, rtol: 0 }): Promise<void> {
  const state = model.stateDict();
  expect([...state.keys()].sort()).toEqual([...want.keys()].sort());
  for (const [name, t] of state) expectClose(name, await t.toArray(), want.get(name)!.data, tol);
}

async function expectUntouched(model: Module): Promise<void> {
  for (const [name, t] of model.stateDict()) expect((await t.toArray()).every((v) => v === SENTINEL), name).toBe(true);
}

async function withModel(spec: Map<string, HostTensor>, fn: (m: Named) => Promise<void>): Promise<void> {
  const model = Named.of(spec);
  try {
    await fn(model);
  } finally {
    model.dispose();
  }
}

const subset = (names: string[]) => new Map(names.map((n) => [n, VGG.get(n)!]));
const KERAS_MINI = subset(['features.block1_conv1.weight', 'features.block1_conv1.bias', 'features.block1_conv2.weight', 'features.block1_conv2.bias', 'top.fc1.weight', 'top.fc1.bias']);

describe('loadWeights: every source format into the same values', () => {
  // F16 hub files round each weight to 11 significant bits: relative error up to 2^-11.
  const F16 = { atol: 1e-7, rtol: 2 ** -11 };
  const cases = [
    { file: 'vgg16_tiny.pt', spec: VGG, format: 'torch', note: 'torchvision names, conv/linear layouts, fc1 rows (c,h,w)->(h,w,c)' },
    { file: 'vgg16_tiny_checkpoint.pt', spec: VGG, format: 'torch', note: 'checkpoint dict, DataParallel module. prefix' },
    { file: 'vgg16_tiny_hf.safetensors', spec: VGG, format: 'safetensors', note: 'PyTorch names and layouts, F16, sorted names', tol: F16 },
    { file: 'vgg16_tiny_expected.safetensors', spec: VGG, format: 'safetensors', note: "dawnet's own names and layouts" },
    { file: 'unet_tiny_legacy.pt', spec: UNET, format: 'torch', note: 'Buda U-Net names as-is, legacy format, conv-transpose, BN buffers' },
    { file: 'vgg_mini_keras.h5', spec: KERAS_MINI, format: 'keras-h5', note: 'Keras 2 names' },
    { file: 'vgg_mini_keras_model.h5', spec: KERAS_MINI, format: 'keras-h5', note: 'full-model save, Keras 1 names' },
  ] as const;
  for (const c of cases) {
    it(`${c.file} (${c.note})`, async () => {
      await withModel(c.spec, async (model) => {
        const report = await loadWeights(model, at(c.file));
        expect(report.format).toBe(c.format);
        expect(report.source).toBe(at(c.file));
        expect(report.missing).toEqual([]);
        expect(report.unexpected).toEqual([]);
        expect(report.loaded.sort()).toEqual([...c.spec.keys()].sort());
        await expectModel(model, c.spec, 'tol' in c ? c.tol : undefined);
      });
    });
  }

  it('a safetensors without layout metadata: dawnet layout when only the unconverted shapes fit', async () => {
    const bytes = fixture('unet_tiny_expected.safetensors');
    const len = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + len)));
    delete header.__metadata__;
    const json = new TextEncoder().encode(JSON.stringify(header).padEnd(len, ' '));
    const stripped = bytes.slice();
    stripped.set(json, 8);
    await withModel(UNET, async (model) => {
      await loadWeights(model, stripped, { name: 'no-metadata.safetensors' });
      await expectModel(model, UNET);
    });
  });

  it('accepts bytes and an ArrayBuffer, named by opts.name', async () => {
    const bytes = fixture('vgg16_tiny.pt');
    await withModel(VGG, async (model) => {
      const report = await loadWeights(model, bytes.slice().buffer, { name: 'vgg.pth' });
      expect(report.source).toBe('vgg.pth');
      await expectModel(model, VGG);
    });
  });
});

describe('loadWeights: refusals leave the model untouched', () => {
  const refusals = [
    { what: 'a wrong-shape layer', file: 'unet_wrong_shape.pt', spec: UNET, error: dn.ShapeError, mentions: ["'conv.weight'", '[1, 1, 3, 1]', '[1, 1, 1, 1]'] },
    { what: 'missing and unexpected names (strict)', file: 'vgg16_tiny.pt', spec: UNET, error: dn.FormatError, mentions: ['encoder1.enc1conv1.weight', 'features.0.weight'] },
    { what: 'a pickle that calls os.system', file: 'evil_os_system.pt', spec: UNET, error: dn.FormatError, mentions: ['posix.system'] },
    { what: 'a truncated zip', file: 'truncated.pt', spec: UNET, error: dn.FormatError, mentions: ['truncated.pt'] },
    { what: 'not a weight file', file: 'not_weights.txt', spec: UNET, error: dn.FormatError, mentions: ['not a weight file'] },
  ] as const;
  for (const r of refusals) {
    it(`${r.what}: ${r.error.name}`, async () => {
      const marker = JSON.parse(readFileSync(at('expected.json'), 'utf8')).pwned_marker as string;
      rmSync(marker, { force: true });
      await withModel(r.spec, async (model) => {
        const error = await loadWeights(model, at(r.file)).then(() => null, (e: Error) => e);
        expect(error).toBeInstanceOf(r.error);
        for (const m of r.mentions) expect(error!.message).toContain(m);
        await expectUntouched(model);
      });
      expect(existsSync(marker)).toBe(false);
    });
  }

  it('a wrong shape throws even when not strict', async () => {
    await withModel(UNET, async (model) => {
      await expect(loadWeights(model, at('unet_wrong_shape.pt'), { strict: false })).rejects.toBeInstanceOf(dn.ShapeError);
      await expectUntouched(model);
    });
  });

  it('a disposed parameter: nothing written', async () => {
    await withModel(VGG, async (model) => {
      model.stateDict().get('top.fc2.bias')!.dispose();
      await expect(loadWeights(model, at('vgg16_tiny.pt'))).rejects.toBeInstanceOf(dn.DisposedError);
      expect(await model.stateDict().get('top.fc1.bias')!.toArray()).toEqual(new Float32Array(4).fill(SENTINEL));
    });
  });
});

describe('loadWeights: strict false reports', () => {
  it('loads what matches, lists the rest', async () => {
    const spec = new Map([...KERAS_MINI, ['features.block9_conv1.weight', VGG.get('features.block1_conv1.weight')!]]);
    await withModel(spec, async (model) => {
      const report = await loadWeights(model, at('vgg16_tiny.pt'), { strict: false });
      expect(report.missing).toEqual(['features.block9_conv1.weight']);
      expect(report.unexpected).toContain('features.5.weight');
      expect(report.unexpected).toContain('classifier.3.weight');
      expect(report.unexpected).not.toContain('features.0.weight');
      expect(report.loaded.sort()).toEqual([...KERAS_MINI.keys()].sort());
      for (const name of KERAS_MINI.keys()) expect(await model.stateDict().get(name)!.toArray()).toEqual(VGG.get(name)!.data);
    });
  });

  it('ignores num_batches_tracked', async () => {
    await withModel(UNET, async (model) => {
      const report = await loadWeights(model, at('unet_tiny_legacy.pt'), { strict: false });
      expect(report.unexpected).toEqual([]);
    });
  });
});

describe('names and formats', () => {
  it('torchvision VGG16 indices', () => {
    expect(torchvisionVggName('features.0.weight')).toBe('features.block1_conv1.weight');
    expect(torchvisionVggName('features.28.bias')).toBe('features.block5_conv3.bias');
    expect(torchvisionVggName('features.17.weight')).toBe('features.block4_conv1.weight');
    expect(torchvisionVggName('classifier.6.weight')).toBe('top.predictions.weight');
    expect(torchvisionVggName('features.1.weight')).toBeNull();
    expect(torchvisionVggName('encoder1.enc1conv1.weight')).toBeNull();
  });

  it('detects formats by magic bytes', () => {
    expect(detectFormat(fixture('vgg16_tiny.pt'), 'a')).toBe('torch');
    expect(detectFormat(fixture('unet_tiny_legacy.pt'), 'a')).toBe('torch');
    expect(detectFormat(fixture('vgg_mini_keras.h5'), 'a')).toBe('keras-h5');
    expect(detectFormat(fixture('vgg16_tiny_hf.safetensors'), 'a')).toBe('safetensors');
    expect(() => detectFormat(fixture('not_weights.txt'), 'a')).toThrow(dn.FormatError);
    expect(() => detectFormat(new Uint8Array(3), 'a')).toThrow(dn.FormatError);
  });

  it('a truncated safetensors: FormatError that says so', async () => {
    const bytes = fixture('vgg16_tiny_hf.safetensors');
    await withModel(VGG, async (model) => {
      const error = await loadWeights(model, bytes.subarray(0, bytes.length - 10), { name: 'cut.safetensors' }).then(() => null, (e: Error) => e);
      expect(error).toBeInstanceOf(dn.FormatError);
      expect(error!.message).toContain('truncated');
      await expectUntouched(model);
    });
  });

  it('infers the model from names', () => {
    expect(inferModelKind(['features.0.weight'])).toBe('vgg16');
    expect(inferModelKind(['block1_conv1/kernel'])).toBe('vgg16');
    expect(inferModelKind(['encoder1.enc1conv1.weight'])).toBe('unet');
    expect(inferModelKind(['dense.weight'])).toBe('generic');
  });
});

describe('convertWeights and dawnet convert', () => {
  const cases = [
    { file: 'vgg16_tiny.pt', want: VGG, model: 'vgg16' },
    { file: 'unet_tiny_legacy.pt', want: UNET, model: 'unet' },
    { file: 'vgg_mini_keras_model.h5', want: KERAS_MINI, model: 'vgg16' },
  ] as const;
  for (const c of cases) {
    it(`${c.file} -> dawnet safetensors (model inferred: ${c.model})`, async () => {
      const out = join(tmp, `${c.file}.safetensors`);
      const report = await convertWeights(at(c.file), out);
      expect(report.model).toBe(c.model);
      const { tensors, metadata } = decodeSafetensors(new Uint8Array(readFileSync(out)), out);
      expect(metadata.format).toBe('dawnet-weights-1');
      expect([...tensors.keys()].sort()).toEqual([...c.want.keys()].sort());
      for (const [name, t] of tensors) {
        expect(t.shape, name).toEqual(c.want.get(name)!.shape);
        expect(t.data, name).toEqual(c.want.get(name)!.data);
      }
      // And it loads back as dawnet's own layout.
      await withModel(c.want, async (model) => {
        await loadWeights(model, out);
        await expectModel(model, c.want);
      });
    });
  }

  it('runConvert: --help, a conversion, bad options', async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      await runConvert(['--help']);
      expect(log.mock.calls[0][0]).toContain('usage: dawnet convert');
      const out = join(tmp, 'cli.safetensors');
      await runConvert([at('vgg16_tiny_hf.safetensors'), '--out', out, '--model', 'vgg16']);
      const { tensors } = decodeSafetensors(new Uint8Array(readFileSync(out)), out);
      expectClose('top.fc1.weight', tensors.get('top.fc1.weight')!.data, VGG.get('top.fc1.weight')!.data, { atol: 1e-7, rtol: 2 ** -11 });
    } finally {
      log.mockRestore();
    }
    // Mistakes on the command line are UsageErrors naming the option, as for every command.
    await expect(runConvert([at('vgg16_tiny.pt')])).rejects.toThrow(UsageError);
    await expect(runConvert([at('vgg16_tiny.pt')])).rejects.toThrow(/--out/);
    await expect(runConvert([at('vgg16_tiny.pt'), '--out', join(tmp, 'x'), '--model', 'resnet'])).rejects.toThrow(UsageError);
    await expect(runConvert([at('vgg16_tiny.pt'), '--out', join(tmp, 'x'), '--bogus', '1'])).rejects.toThrow(/--bogus/);
    // A --model the file's names contradict is refused, not written under it with the names unchanged.
    await expect(convertWeights(at('vgg16_tiny.pt'), join(tmp, 'as-unet.safetensors'), { model: 'unet' })).rejects.toThrow(/vgg16_tiny\.pt: its tensor names are vgg16's \(.*, \.\.\.\), not unet's; convert it with --model vgg16/);
    await expect(convertWeights(at('unet_tiny_legacy.pt'), join(tmp, 'as-vgg.safetensors'), { model: 'vgg16' })).rejects.toThrow(/its tensor names are unet's/);
    expect(existsSync(join(tmp, 'as-unet.safetensors'))).toBe(false);
  });
});
