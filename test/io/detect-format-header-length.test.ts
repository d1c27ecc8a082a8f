// A safetensors file opens with its header's length, eight little-endian bytes, which can spell
// another format's magic: a 640-byte header is 80 02 00 .. (a protocol-2 pickle's PROTO 2) and a
// 19280-byte one 50 4b 00 .. ('PK', a zip's first two bytes). Such files were read as torch
// files and refused ('bad pickle', 'damaged zip'); detection must look at the '{' after the length.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { detectFormat, readWeightFile } from '../../src/io/load-weights.js';
import { encodeSafetensors } from '../../src/io/safetensors.js';

const DIR = join(import.meta.dirname, '../fixtures/weights');
const fixture = (name: string) => new Uint8Array(readFileSync(join(DIR, name)));

/** A dawnet safetensors of one tensor whose name is padded until the header is `headerLength` bytes. */
function withHeaderLength(headerLength: number): Uint8Array {
  const encode = (n: number) => encodeSafetensors(new Map([[`w${'x'.repeat(n)}`, { shape: [2], data: Float32Array.of(1.5, -2) }]]), { format: 'dawnet-weights-1' });
  const lengthOf = (bytes: Uint8Array) => Number(new DataView(bytes.buffer).getBigUint64(0, true));
  // Each name character adds one header byte, before the padding to a multiple of 8.
  const guess = headerLength - lengthOf(encode(1));
  for (let n = Math.max(1, guess - 8); n <= guess + 8; n++) if (lengthOf(encode(n)) === headerLength) return encode(n);
  throw new Error(`no name gives a ${headerLength}-byte header`);
}

describe('detectFormat: header lengths that look like other formats', () => {
  const cases = [
    { length: 0x280, looksLike: 'a protocol-2 pickle (80 02)' },
    { length: 0x580, looksLike: 'a protocol-5 pickle (80 05)' },
    { length: 0x4b50, looksLike: "a zip ('PK')" },
  ] as const;
  for (const c of cases) {
    it(`a ${c.length}-byte header, which starts like ${c.looksLike}, is safetensors`, async () => {
      const bytes = withHeaderLength(c.length);
      expect(detectFormat(bytes, 'w.safetensors')).toBe('safetensors');
      const file = await readWeightFile(bytes, { name: 'w.safetensors' });
      expect(file.format).toBe('safetensors');
      expect([...file.tensors.values()][0].data).toEqual(Float32Array.of(1.5, -2));
    });
  }

  it('torch zips, legacy pickles and HDF5 files are still told apart', () => {
    expect(detectFormat(fixture('vgg16_tiny.pt'), 'a')).toBe('torch');
    expect(detectFormat(fixture('unet_tiny_legacy.pt'), 'a')).toBe('torch');
    expect(detectFormat(fixture('vgg_mini_keras.h5'), 'a')).toBe('keras-h5');
  });
});
