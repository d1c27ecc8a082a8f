// torch.save files written by PyTorch itself (test/fixtures/weights/make_fixtures.py): zip, legacy
// and re-zipped with deflate; views, offsets, strides and every dtype; checkpoints; damaged files.

import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import { isLegacyTorch, readTorch } from '../../src/io/torch.js';
import { expectClose } from '../helpers/close.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

const DIR = join(import.meta.dirname, '../fixtures/weights');
const fixture = (name: string) => new Uint8Array(readFileSync(join(DIR, name)));
const expected = JSON.parse(readFileSync(join(DIR, 'expected.json'), 'utf8')) as {
  views: Record<string, { shape: number[]; values: number[] }>;
  pwned_marker: string;
};

async function rejects(bytes: Uint8Array, name: string): Promise<Error> {
  try {
    await readTorch(bytes, name);
  } catch (e) {
    return e as Error;
  }
  throw new Error(`${name}: expected readTorch to throw`);
}

describe('readTorch: tensors as PyTorch saved them', () => {
  const files = [
    { file: 'views.pt', note: 'zip, stored entries' },
    { file: 'views_legacy.pt', note: 'legacy (pre-1.6) format' },
    { file: 'views_deflated.pt', note: 'zip re-packed with deflate' },
  ] as const;
  for (const f of files) {
    it(`${f.file} (${f.note}): every view and dtype matches torch's values`, async () => {
      const got = await readTorch(fixture(f.file), f.file);
      expect([...got.keys()]).toEqual(Object.keys(expected.views));
      for (const [name, want] of Object.entries(expected.views)) {
        const t = got.get(name)!;
        expect(t.shape, name).toEqual(want.shape);
        // torch wrote the float32 values' exact doubles; f64 and the 2**40 int64 round to float32.
        expectClose(`${f.file} ${name}`, t.data, Float32Array.from(want.values), { atol: 0, rtol: 0 });
      }
    });
  }

  it('reports each storage dtype', async () => {
    const got = await readTorch(fixture('views.pt'), 'views.pt');
    const dtypes = Object.fromEntries([...got].map(([n, t]) => [n, t.dtype]));
    expect(dtypes).toMatchObject({ base: 'F32', half: 'F16', bf16: 'BF16', double: 'F64', long: 'I64', int: 'I32', byte: 'U8' });
  });

  it('tells the legacy format by its magic number', () => {
    expect(isLegacyTorch(fixture('views_legacy.pt'))).toBe(true);
    expect(isLegacyTorch(fixture('unet_tiny_legacy.pt'))).toBe(true);
    expect(isLegacyTorch(fixture('views.pt'))).toBe(false);
    expect(isLegacyTorch(fixture('plain_p2.pkl'))).toBe(false);
  });
});

describe('readTorch: state dicts and checkpoints', () => {
  it('a checkpoint dict: takes state_dict, strips DataParallel module., skips the optimizer', async () => {
    const plain = await readTorch(fixture('vgg16_tiny.pt'), 'vgg16_tiny.pt');
    const ckpt = await readTorch(fixture('vgg16_tiny_checkpoint.pt'), 'vgg16_tiny_checkpoint.pt');
    expect([...ckpt.keys()]).toEqual([...plain.keys()]);
    expect(plain.has('features.0.weight')).toBe(true);
    for (const [name, t] of plain) expect(ckpt.get(name)!.data, name).toEqual(t.data);
  });

  it('a legacy state dict with batch-norm buffers (Buda-style U-Net)', async () => {
    const sd = await readTorch(fixture('unet_tiny_legacy.pt'), 'unet_tiny_legacy.pt');
    expect(sd.get('encoder1.enc1conv1.weight')!.shape).toEqual([1, 3, 3, 3]);
    expect(sd.get('upconv2.weight')!.shape).toEqual([4, 2, 2, 2]);
    expect(sd.get('encoder1.enc1norm1.num_batches_tracked')!.dtype).toBe('I64');
  });
});

describe('readTorch: files it must refuse', () => {
  it('a pickle that calls os.system: FormatError naming the global, nothing run', async () => {
    rmSync(expected.pwned_marker, { force: true });
    const e = await rejects(fixture('evil_os_system.pt'), 'evil_os_system.pt');
    expect(e).toBeInstanceOf(FormatError);
    expect(e.message).toContain('posix.system');
    expect(e.message).toContain('evil_os_system.pt');
    expect(existsSync(expected.pwned_marker)).toBe(false);
  });

  it('a raw pickle calling builtins.eval (legacy path): FormatError naming the global', async () => {
    const e = await rejects(fixture('evil_eval.pkl'), 'evil_eval.pkl');
    expect(e).toBeInstanceOf(FormatError);
    expect(e.message).toContain('builtins.eval');
  });

  const damaged = [
    { what: 'truncated zip', bytes: () => fixture('truncated.pt') },
    { what: 'legacy file cut inside a storage', bytes: () => fixture('views_legacy.pt').subarray(0, fixture('views_legacy.pt').length - 10) },
    { what: 'legacy file cut inside the pickle', bytes: () => fixture('views_legacy.pt').subarray(0, 300) },
    {
      what: 'a flipped byte in a stored storage (CRC)',
      bytes: () => {
        const b = fixture('views.pt').slice();
        const first = new Uint8Array(Float32Array.of(expected.views.base.values[0]).buffer);
        b[Buffer.from(b).indexOf(first) + 1] ^= 0xff;
        return b;
      },
    },
    { what: 'a plain pickle without the torch magic', bytes: () => fixture('plain_p2.pkl') },
    { what: 'a text file', bytes: () => fixture('not_weights.txt') },
  ] as const;
  for (const c of damaged) {
    it(`${c.what}: FormatError`, async () => {
      expect(await rejects(c.bytes(), c.what)).toBeInstanceOf(FormatError);
    });
  }
});
