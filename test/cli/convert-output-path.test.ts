// Where `dawnet convert` writes: into a folder it makes if missing (the command's own example is
// '--out weights/vgg16.safetensors', which failed with ENOENT on a fresh checkout), never over its
// own input (the original weights were replaced by the converted file), and never under another
// format's extension (a safetensors named .pth, which torch.load cannot read).

import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/cli/args.js';
import { parseConvertArgs } from '../../src/cli/convert.js';
import { ArgumentError } from '../../src/errors.js';
import { convertWeights } from '../../src/io/load-weights.js';
import { decodeSafetensors } from '../../src/io/safetensors.js';

const FIXTURE = join(import.meta.dirname, '../fixtures/weights/vgg16_tiny.pt');
const tmp = mkdtempSync(join(tmpdir(), 'dawnet-convert-out-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('convert: the output path', () => {
  it('makes the missing folders of --out', async () => {
    const out = join(tmp, 'weights', 'vgg', 'vgg16.safetensors');
    const report = await convertWeights(FIXTURE, out);
    const { tensors } = decodeSafetensors(new Uint8Array(readFileSync(out)), out);
    expect([...tensors.keys()].sort()).toEqual([...report.written].sort());
  });

  it('refuses to write over its input, which stays as it was', async () => {
    const input = join(tmp, 'vgg16.pth');
    copyFileSync(FIXTURE, input);
    const before = readFileSync(input);
    for (const out of [input, join(tmp, '.', 'vgg16.pth')]) {
      await expect(convertWeights(input, out)).rejects.toThrow(ArgumentError);
      await expect(convertWeights(input, out)).rejects.toThrow(`is the input file ${input}`);
    }
    expect(readFileSync(input).equals(before)).toBe(true);
  });

  it('refuses an --out named for another weight format', () => {
    for (const out of ['vgg16.pth', 'vgg16.pt', 'w.h5', 'W.HDF5', 'model.keras', 'pytorch_model.bin', 'last.ckpt']) {
      expect(() => parseConvertArgs(['in.pt', '--out', out]), out).toThrow(UsageError);
      expect(() => parseConvertArgs(['in.pt', '--out', out]), out).toThrow(/\.safetensors/);
    }
    expect(parseConvertArgs(['in.pt', '--out', 'vgg16.safetensors'])!.out).toBe('vgg16.safetensors');
    expect(existsSync(join(tmp, 'vgg16.safetensors'))).toBe(false);
  });
});
