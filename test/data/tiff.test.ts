// TIFF decoding against fixtures written by Pillow and libtiff's tiffcp (test/fixtures/tiff/
// make_fixtures.py), every pixel compared; the encoder checked by our decoder and by Pillow.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { DataError } from '../../src/data/errors.js';
import { decodeTiff, encodeTiff, readTiffInfo, type TiffCompression, type TiffImage } from '../../src/data/tiff.js';
import { rng } from '../helpers/rng.js';
import { hasPillow, PYTHON } from '../helpers/pillow.js';

const FIXTURES = join(import.meta.dirname, '../fixtures/tiff');
interface Expected {
  width: number;
  height: number;
  channels: number;
  bits: 8 | 16;
  pixels: string;
  sha256: string;
}
const expected = JSON.parse(readFileSync(join(FIXTURES, 'expected.json'), 'utf8')) as Record<string, Expected>;

function pixelsOf(e: Expected): number[] {
  const raw = readFileSync(join(FIXTURES, e.pixels));
  if (e.bits === 8) return Array.from(raw);
  return Array.from({ length: raw.length / 2 }, (_, i) => raw.readUInt16LE(2 * i));
}

function expectSamePixels(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  expect(got.length, `${what}: sample count`).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (got[i] !== want[i]) expect.fail(`${what}: sample ${i} is ${got[i]}, expected ${want[i]}`);
  }
}

describe('decodeTiff on fixtures from Pillow and tiffcp', () => {
  it('covers the formats the task names', () => {
    const names = Object.keys(expected);
    for (const needed of ['rgb8-none', 'rgb8-lzw', 'gray8-deflate', 'gray8-packbits', 'gray16-none', 'rgba8-none']) {
      expect(names).toContain(`${needed}.tif`);
    }
  });

  it.each(Object.keys(expected))('%s decodes to the expected pixels', (name) => {
    const e = expected[name]!;
    const raw = readFileSync(join(FIXTURES, e.pixels));
    expect(createHash('sha256').update(raw).digest('hex'), 'pixel file matches its checksum').toBe(e.sha256);
    const img = decodeTiff(readFileSync(join(FIXTURES, name)), name);
    expect([img.width, img.height, img.channels]).toEqual([e.width, e.height, e.channels]);
    expect(img.data).toBeInstanceOf(e.bits === 8 ? Uint8Array : Uint16Array);
    expectSamePixels(img.data, pixelsOf(e), name);
  });

  it('readTiffInfo reports size, depth and compression without decoding', () => {
    const info = readTiffInfo(readFileSync(join(FIXTURES, 'gray16-deflate-be.tif')));
    expect(info).toMatchObject({ width: 13, height: 11, channels: 1, bitsPerSample: 16, compression: 8, littleEndian: false });
    expect(readTiffInfo(readFileSync(join(FIXTURES, 'rgb8-lzw-predictor.tif'))).strips).toHaveLength(3);
  });
});

function randomImage(width: number, height: number, channels: number, bits: 8 | 16, seed: number): TiffImage {
  const r = rng(seed);
  const n = width * height * channels;
  const top = bits === 8 ? 256 : 65536;
  // Half the samples repeat their neighbour, so PackBits sees both runs and literals.
  const values = Array.from({ length: n }, () => Math.floor(r() * top));
  for (let i = 1; i < n; i++) if (r() < 0.5) values[i] = values[i - 1]!;
  const data = bits === 8 ? Uint8Array.from(values) : Uint16Array.from(values);
  return { width, height, channels, data };
}

const ENCODE_CASES = [
  { width: 7, height: 5, channels: 1, bits: 8, compression: 'none', rowsPerStrip: undefined },
  { width: 9, height: 6, channels: 3, bits: 8, compression: 'none', rowsPerStrip: 4 },
  { width: 5, height: 7, channels: 4, bits: 8, compression: 'packbits', rowsPerStrip: 2 },
  { width: 300, height: 3, channels: 1, bits: 8, compression: 'packbits', rowsPerStrip: undefined },
  { width: 6, height: 6, channels: 1, bits: 16, compression: 'none', rowsPerStrip: undefined },
  { width: 11, height: 4, channels: 3, bits: 16, compression: 'deflate', rowsPerStrip: 3 },
  { width: 8, height: 9, channels: 3, bits: 8, compression: 'deflate', rowsPerStrip: undefined },
] as const;

describe('encodeTiff', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dawnet-tiff-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each(ENCODE_CASES.map((c, i) => ({ ...c, i })))('round-trips $width x $height x $channels, $bits-bit, $compression', (c) => {
    const img = randomImage(c.width, c.height, c.channels, c.bits, 100 + c.i);
    const bytes = encodeTiff(img, { compression: c.compression as TiffCompression, deflate: deflateSync, rowsPerStrip: c.rowsPerStrip });
    const back = decodeTiff(bytes, `case ${c.i}`);
    expect([back.width, back.height, back.channels]).toEqual([c.width, c.height, c.channels]);
    expectSamePixels(back.data, img.data, `case ${c.i}`);
  });

  it('writes a 256x256 RGB slice the size of the real data set files', () => {
    const bytes = encodeTiff(randomImage(256, 256, 3, 8, 7));
    // 196608 bytes of pixels plus header and IFD: the real slices are about 197 kB.
    expect(bytes.length).toBeGreaterThan(196608);
    expect(bytes.length).toBeLessThan(196608 + 400);
  });


  it.skipIf(!hasPillow)('writes files that Pillow reads back to the same pixels', () => {
    const files: { path: string; img: TiffImage }[] = [];
    ENCODE_CASES.forEach((c, i) => {
      // Pillow has no 16-bit RGB mode: it narrows such files to 8 bits, so those are left out.
      if (c.bits === 16 && c.channels > 1) return;
      const img = randomImage(c.width, c.height, c.channels, c.bits, 200 + i);
      const path = join(dir, `case-${i}.tif`);
      writeFileSync(path, encodeTiff(img, { compression: c.compression as TiffCompression, deflate: deflateSync, rowsPerStrip: c.rowsPerStrip }));
      files.push({ path, img });
    });
    const script = [
      'import sys, hashlib, numpy as np',
      'from PIL import Image',
      'for p in sys.argv[1:]:',
      '    a = np.array(Image.open(p))',
      "    a = a.astype('<u2') if a.dtype.itemsize == 2 else a.astype(np.uint8)",
      '    print(hashlib.sha256(a.tobytes()).hexdigest())',
    ].join('\n');
    const lines = execFileSync(PYTHON, ['-c', script, ...files.map((f) => f.path)], { encoding: 'utf8' }).trim().split('\n');
    expect(lines).toHaveLength(files.length);
    files.forEach(({ img, path }, i) => {
      const le = img.data instanceof Uint16Array ? Buffer.from(new Uint16Array(img.data).buffer) : Buffer.from(img.data);
      expect(lines[i], path).toBe(createHash('sha256').update(le).digest('hex'));
    });
  });

  it('rejects data that does not match the size, and deflate without a compressor', () => {
    expect(() => encodeTiff({ width: 4, height: 4, channels: 3, data: new Uint8Array(47) })).toThrow(DataError);
    expect(() => encodeTiff({ width: 2, height: 2, channels: 2, data: new Uint8Array(8) })).toThrow(DataError);
    expect(() => encodeTiff({ width: 2, height: 2, channels: 1, data: new Uint8Array(4) }, { compression: 'deflate' })).toThrow(DataError);
  });
});

describe('decodeTiff on bad input', () => {
  const good = readFileSync(join(FIXTURES, 'rgb8-none.tif'));

  function expectDataError(bytes: Uint8Array, name: string): void {
    let caught: unknown;
    try {
      decodeTiff(bytes, name);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(DataError);
    expect((caught as Error).message).toContain(name);
  }

  it('names the file when it is truncated', () => {
    expectDataError(good.subarray(0, 300), 'cut.tif');
    expectDataError(good.subarray(0, 6), 'tiny.tif');
    const lzw = readFileSync(join(FIXTURES, 'rgb8-lzw.tif'));
    expectDataError(lzw.subarray(0, lzw.length - 40), 'cut-lzw.tif');
  });

  it('names the file when it is not a TIFF at all', () => {
    expectDataError(new TextEncoder().encode('Patient,RNASeqCluster\nTCGA_CS_4941,2\n'), 'data.csv');
    expectDataError(Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]), 'image.png');
  });

  it('stops with a DataError on a corrupt LZW stream instead of looping', () => {
    const lzw = new Uint8Array(readFileSync(join(FIXTURES, 'rgb8-lzw-noise.tif')));
    const [strip] = readTiffInfo(lzw).strips;
    const r = rng(9);
    for (let trial = 0; trial < 20; trial++) {
      const bad = lzw.slice();
      for (let i = strip!.offset + 20; i < strip!.offset + strip!.length; i++) bad[i] = Math.floor(r() * 256);
      expectDataError(bad, `noise-${trial}.tif`);
    }
  });

  it('names the file for a corrupt Deflate stream and for a BigTIFF', () => {
    const deflated = new Uint8Array(readFileSync(join(FIXTURES, 'gray8-deflate.tif')));
    const [strip] = readTiffInfo(deflated).strips;
    deflated.fill(0xff, strip!.offset, strip!.offset + strip!.length);
    expectDataError(deflated, 'bad-deflate.tif');
    const big = new Uint8Array(good);
    big[2] = 43;
    expectDataError(big, 'big.tif');
  });
});
