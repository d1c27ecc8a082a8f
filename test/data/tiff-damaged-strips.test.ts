// Damaged Deflate and PackBits strips must fail with a DataError naming the file and the strip,
// never decode to an image whose back half is zeros (utif fills a zeroed buffer and does not count).

import { deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { DataError } from '../../src/data/errors.js';
import { decodeTiff, encodeTiff, readTiffInfo, type TiffCompression, type TiffImage } from '../../src/data/tiff.js';
import { rng } from '../helpers/rng.js';

function noisyImage(width: number, height: number, seed: number): TiffImage {
  const r = rng(seed);
  const data = new Uint8Array(width * height);
  for (let i = 0; i < data.length; i++) data[i] = r() < 0.5 && i > 0 ? data[i - 1]! : Math.floor(r() * 256);
  return { width, height, channels: 1, data };
}

function encoded(compression: TiffCompression, rowsPerStrip?: number): Uint8Array {
  return encodeTiff(noisyImage(40, 30, 3), { compression, deflate: (b) => deflateSync(b), rowsPerStrip });
}

function expectStripError(bytes: Uint8Array, name: string, strip: number): void {
  let caught: unknown;
  try {
    decodeTiff(bytes, name);
  } catch (e) {
    caught = e;
  }
  expect(caught, `${name} should not decode`).toBeInstanceOf(DataError);
  expect((caught as Error).message.startsWith(`${name}: strip ${strip}`), (caught as Error).message).toBe(true);
}

/** Rewrites the byte count of strip `index` (tag 279 is written as LONGs by encodeTiff). */
function setStripByteCount(bytes: Uint8Array, index: number, count: number): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const ifd = view.getUint32(4, true);
  const entries = view.getUint16(ifd, true);
  for (let e = 0; e < entries; e++) {
    const entry = ifd + 2 + 12 * e;
    if (view.getUint16(entry, true) !== 279) continue;
    const n = view.getUint32(entry + 4, true);
    const at = n > 1 ? view.getUint32(entry + 8, true) : entry + 8;
    view.setUint32(at + 4 * index, count, true);
    return;
  }
  throw new Error('no StripByteCounts tag');
}

describe('decodeTiff on damaged compressed strips', () => {
  it('still decodes intact Deflate and PackBits files, several strips each', () => {
    for (const compression of ['deflate', 'packbits'] as const) {
      const img = decodeTiff(encoded(compression, 7), compression);
      expect(Array.from(img.data)).toEqual(Array.from(noisyImage(40, 30, 3).data));
    }
  });

  it('rejects a Deflate strip whose back half is zeroed', () => {
    const bytes = encoded('deflate');
    const [strip] = readTiffInfo(bytes).strips;
    bytes.fill(0, strip!.offset + (strip!.length >> 1), strip!.offset + strip!.length);
    expectStripError(bytes, 'zeroed.tif', 0);
  });

  it('rejects a Deflate strip whose byte count is halved', () => {
    const bytes = encoded('deflate', 10);
    const strips = readTiffInfo(bytes).strips;
    setStripByteCount(bytes, 1, strips[1]!.length >> 1);
    expectStripError(bytes, 'halved.tif', 1);
  });

  it('rejects PackBits strips with garbage in them', () => {
    const clean = encoded('packbits', 10);
    const strips = readTiffInfo(clean).strips;
    const r = rng(11);
    for (let trial = 0; trial < 20; trial++) {
      const bytes = clean.slice();
      const s = strips[2]!;
      for (let i = s.offset + (s.length >> 2); i < s.offset + s.length; i++) bytes[i] = Math.floor(r() * 256);
      expectStripError(bytes, `garbage-${trial}.tif`, 2);
    }
  });

  it('rejects a PackBits strip whose byte count is halved', () => {
    const bytes = encoded('packbits');
    setStripByteCount(bytes, 0, readTiffInfo(bytes).strips[0]!.length >> 1);
    expectStripError(bytes, 'short-packbits.tif', 0);
  });
});
