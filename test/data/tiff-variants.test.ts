// TIFF layouts a real export produces beyond the LGG files' own: separate planes, strips of any
// size, libtiff's compressions with and without the horizontal predictor, big-endian; and strip
// tables that do not add up, which must be refused naming the file rather than decoded to zeros
// or shifted rows.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { DataError } from '../../src/data/errors.js';
import { decodeTiff, encodeTiff, readTiffInfo, type TiffCompression, type TiffImage } from '../../src/data/tiff.js';
import { rng } from '../helpers/rng.js';
import { hasPillow, PYTHON } from '../helpers/pillow.js';

function image(width: number, height: number, channels: number, bits: 8 | 16, seed: number): TiffImage {
  const r = rng(seed);
  const top = bits === 8 ? 256 : 65536;
  const values = Array.from({ length: width * height * channels }, () => Math.floor(r() * top));
  for (let i = 1; i < values.length; i++) if (r() < 0.5) values[i] = values[i - 1]!;
  return { width, height, channels, data: bits === 8 ? Uint8Array.from(values) : Uint16Array.from(values) };
}

function expectPixels(got: TiffImage, want: TiffImage, what: string): void {
  expect([got.width, got.height, got.channels], what).toEqual([want.width, want.height, want.channels]);
  expect(got.data.constructor, what).toBe(want.data.constructor);
  for (let i = 0; i < want.data.length; i++) {
    if (got.data[i] !== want.data[i]) expect.fail(`${what}: sample ${i} is ${got.data[i]}, expected ${want.data[i]}`);
  }
}

function expectRefused(bytes: Uint8Array, name: string): DataError {
  let caught: unknown;
  try {
    decodeTiff(bytes, name);
  } catch (e) {
    caught = e;
  }
  expect(caught, `${name} should be refused`).toBeInstanceOf(DataError);
  expect((caught as Error).message.startsWith(`${name}: `), (caught as Error).message).toBe(true);
  return caught as DataError;
}

/** The IFD entries of a little-endian file as encodeTiff writes it (values inline or at an offset). */
function entries(bytes: Uint8Array): { view: DataView; ifd: number; count: number; at: (tag: number) => number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const ifd = view.getUint32(4, true);
  const count = view.getUint16(ifd, true);
  const at = (tag: number) => {
    for (let e = 0; e < count; e++) if (view.getUint16(ifd + 2 + 12 * e, true) === tag) return ifd + 2 + 12 * e;
    throw new Error(`no tag ${tag}`);
  };
  return { view, ifd, count, at };
}

/** Sets value `index` of a SHORT or LONG tag (inline or out of line). */
function setTagValue(bytes: Uint8Array, tag: number, value: number, index = 0): void {
  const { view, at } = entries(bytes);
  const entry = at(tag);
  const short = view.getUint16(entry + 2, true) === 3;
  const n = view.getUint32(entry + 4, true);
  const values = n * (short ? 2 : 4) > 4 ? view.getUint32(entry + 8, true) : entry + 8;
  if (short) view.setUint16(values + 2 * index, value, true);
  else view.setUint32(values + 4 * index, value, true);
}

function tagValues(bytes: Uint8Array, tag: number): number[] {
  const { view, at } = entries(bytes);
  const entry = at(tag);
  const n = view.getUint32(entry + 4, true);
  const values = n * 4 > 4 ? view.getUint32(entry + 8, true) : entry + 8;
  return Array.from({ length: n }, (_, i) => view.getUint32(values + 4 * i, true));
}

/** Turns tag `from` (a SHORT holding one value) into tag `to` holding `value`, keeping the entries sorted. */
function retag(bytes: Uint8Array, from: number, to: number, value: number): void {
  const { view, ifd, count, at } = entries(bytes);
  const entry = at(from);
  view.setUint16(entry, to, true);
  view.setUint16(entry + 8, value, true);
  const list = Array.from({ length: count }, (_, e) => bytes.slice(ifd + 2 + 12 * e, ifd + 14 + 12 * e));
  list.sort((a, b) => a[0]! + 256 * a[1]! - (b[0]! + 256 * b[1]!));
  list.forEach((e, i) => bytes.set(e, ifd + 2 + 12 * i));
}

describe('decodeTiff: strips whose stored size happens to equal the image size', () => {
  it('decodes a PackBits strip as PackBits even when it is exactly as long as the pixels', () => {
    // utif copied such a strip as if uncompressed: the compressed bytes became the pixels.
    const r = rng(11);
    const [width, height] = [24, 8];
    let found: { img: TiffImage; bytes: Uint8Array } | undefined;
    for (let trial = 0; trial < 5000 && !found; trial++) {
      const data = new Uint8Array(width * height);
      const repeat = 0.9 * r();
      for (let i = 0; i < data.length; i++) data[i] = i > 0 && r() < repeat ? data[i - 1]! : Math.floor(r() * 256);
      const img = { width, height, channels: 1, data };
      const bytes = encodeTiff(img, { compression: 'packbits' });
      if (readTiffInfo(bytes).strips[0]!.length === data.length) found = { img, bytes };
    }
    expect(found, 'a PackBits image whose one strip is as long as its pixels').toBeDefined();
    expectPixels(decodeTiff(found!.bytes, 'same-size.tif'), found!.img, 'same-size.tif');
  });
});

describe('decodeTiff: strip tables that do not add up', () => {
  const img = image(13, 11, 1, 8, 5);

  it.each(['none', 'packbits', 'deflate'] as const)('%s: fewer or more strips than RowsPerStrip makes are refused', (compression) => {
    // 3 strips of 4 rows: RowsPerStrip 8 would make 2 (rows 8.. read from the wrong strip), 2 would make 6.
    for (const rows of [8, 2]) {
      const bytes = encodeTiff(img, { compression, deflate: deflateSync, rowsPerStrip: 4 });
      setTagValue(bytes, 278, rows);
      expectRefused(bytes, `rps-${rows}-${compression}.tif`);
    }
  });

  it('an uncompressed strip shorter than its rows is refused even when a later one makes up the total', () => {
    const bytes = encodeTiff(img, { rowsPerStrip: 4 });
    const counts = tagValues(bytes, 279);
    setTagValue(bytes, 279, counts[0]! - 13, 0);
    setTagValue(bytes, 279, counts[2]! + 13, 2);
    expectRefused(bytes, 'short-strip.tif');
  });

  it('an uncompressed strip longer than its rows (padding) still decodes', () => {
    const bytes = encodeTiff(img, { rowsPerStrip: 4 });
    const counts = tagValues(bytes, 279);
    setTagValue(bytes, 279, counts[0]! + 1, 0); // the word-alignment pad byte after strip 0 lies in the file
    expectPixels(decodeTiff(bytes, 'padded.tif'), img, 'padded.tif');
  });
});

describe('decodeTiff: fill order', () => {
  it('refuses FillOrder 2 (bits reversed in each byte) instead of decoding the bytes as they are', () => {
    const bytes = encodeTiff(image(5, 4, 1, 8, 6));
    retag(bytes, 296, 266, 2); // ResolutionUnit's entry becomes FillOrder = 2
    expectRefused(bytes, 'fill-order-2.tif');
    const normal = encodeTiff(image(5, 4, 1, 8, 6));
    retag(normal, 296, 266, 1);
    expectPixels(decodeTiff(normal, 'fill-order-1.tif'), image(5, 4, 1, 8, 6), 'fill-order-1.tif');
  });
});

/**
 * A planar (PlanarConfiguration 2) file: the planes of `img` stored as one tall single-channel
 * image (rowsPerStrip dividing the height, so no strip crosses a plane), then retagged.
 */
function planarTiff(img: TiffImage, compression: TiffCompression, rowsPerStrip: number): Uint8Array {
  const { width, height, channels, data } = img;
  const planes = data.slice();
  for (let c = 0; c < channels; c++) for (let p = 0; p < width * height; p++) planes[c * width * height + p] = data[p * channels + c]!;
  const bytes = encodeTiff({ width, height: height * channels, channels: 1, data: planes }, { compression, deflate: deflateSync, rowsPerStrip });
  setTagValue(bytes, 257, height);
  setTagValue(bytes, 277, channels);
  setTagValue(bytes, 284, 2);
  return bytes;
}

describe('decodeTiff: separate planes (PlanarConfiguration 2)', () => {
  const CASES = [
    { channels: 3, bits: 8, compression: 'none', rowsPerStrip: 6 },
    { channels: 3, bits: 8, compression: 'packbits', rowsPerStrip: 2 },
    { channels: 4, bits: 8, compression: 'deflate', rowsPerStrip: 3 },
    { channels: 3, bits: 16, compression: 'deflate', rowsPerStrip: 1 },
    { channels: 1, bits: 8, compression: 'none', rowsPerStrip: 6 },
  ] as const;

  it.each(CASES)('$channels channels, $bits-bit, $compression, $rowsPerStrip rows per strip', (c) => {
    const img = image(7, 6, c.channels, c.bits, 20 + c.rowsPerStrip);
    const name = `planar-${c.channels}-${c.bits}-${c.compression}.tif`;
    expectPixels(decodeTiff(planarTiff(img, c.compression, c.rowsPerStrip), name), img, name);
  });

  it('refuses a planar file missing a plane', () => {
    const img = image(7, 6, 3, 8, 3);
    const bytes = planarTiff(img, 'none', 6);
    setTagValue(bytes, 277, 4); // 4 samples per pixel, but only 3 planes of strips
    expectRefused(bytes, 'three-planes-of-four.tif');
  });
});

// Files libtiff's tiffcp wrote: every compression it writes, with and without the horizontal
// predictor, big-endian, one row per strip, and separate planes, of four small images. They are
// committed with the script that made them (test/fixtures/tiff/tiffcp/make_fixtures.mjs), so that
// the test runs where libtiff-tools is not installed; the script checks that libtiff reads each
// back to its source's samples, and records the layout tiffinfo reports.
const TIFFCP_DIR = fileURLToPath(new URL('../fixtures/tiff/tiffcp/', import.meta.url));

interface TiffcpManifest {
  sources: Record<string, { width: number; height: number; channels: number; bits: 8 | 16; pixels: string }>;
  files: Record<string, { source: string; tiffcp: string[]; layout: { compression: number; predictor: number; littleEndian: boolean; rowsPerStrip: number; planarConfig: 1 | 2 } }>;
}

describe('decodeTiff on files rewritten by libtiff tiffcp', () => {
  const manifest = JSON.parse(readFileSync(join(TIFFCP_DIR, 'manifest.json'), 'utf8')) as TiffcpManifest;
  const SOURCES = ['gray8', 'gray16', 'rgb8', 'rgba8'];
  const OPTIONS = ['lzw', 'lzw-predictor', 'zip', 'zip-predictor', 'packbits', 'rows-1', 'lzw-rows-1', 'be-none', 'be-lzw-predictor', 'be-zip-predictor-rows-7', 'planar', 'planar-lzw-predictor'];
  const cases = SOURCES.flatMap((source) => OPTIONS.map((option) => ({ source, option, file: `${source}-${option}.tif` })))
    // tiffcp cannot split 16-bit samples into planes.
    .filter((c) => !(c.source === 'gray16' && c.option.startsWith('planar')));

  /** A source's samples, from its .bin (16-bit little-endian). */
  function sourceImage(name: string): TiffImage {
    const { width, height, channels, bits, pixels } = manifest.sources[name]!;
    const raw = readFileSync(join(TIFFCP_DIR, pixels));
    const data = bits === 8 ? Uint8Array.from(raw) : Uint16Array.from({ length: raw.length / 2 }, (_, i) => raw.readUInt16LE(2 * i));
    return { width, height, channels, data };
  }

  it('has every case, and its layouts cover what they are named for', () => {
    expect(Object.keys(manifest.files).sort()).toEqual(cases.map((c) => c.file).sort());
    const layouts = Object.values(manifest.files).map((f) => f.layout);
    expect(new Set(layouts.map((l) => l.compression))).toEqual(new Set([1, 5, 8, 32773]));
    for (const want of [{ predictor: 2 }, { littleEndian: false }, { planarConfig: 2 }, { rowsPerStrip: 1 }, { rowsPerStrip: 7 }]) {
      expect(layouts.some((l) => Object.entries(want).every(([k, v]) => l[k as keyof typeof l] === v)), JSON.stringify(want)).toBe(true);
    }
  });

  it.each(cases)('$source, $option', ({ source, file }) => {
    const bytes = readFileSync(join(TIFFCP_DIR, file));
    const { layout } = manifest.files[file]!;
    expect(readTiffInfo(bytes, file)).toMatchObject({ compression: layout.compression, littleEndian: layout.littleEndian, rowsPerStrip: layout.rowsPerStrip, planarConfig: layout.planarConfig });
    expectPixels(decodeTiff(bytes, file), sourceImage(source), file);
  });
});

/** A bilevel (1-bit) file of `mask` (0 or 1 per pixel): its rows packed MSB first, each ending on a byte. */
function bilevelTiff(mask: Uint8Array, width: number, height: number, compression: TiffCompression, photometric = 1): Uint8Array {
  const rowBytes = Math.ceil(width / 8);
  const packed = new Uint8Array(rowBytes * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) if (mask[y * width + x]) packed[y * rowBytes + (x >> 3)]! |= 0x80 >> (x & 7);
  const bytes = encodeTiff({ width: rowBytes, height, channels: 1, data: packed }, { compression, deflate: deflateSync, rowsPerStrip: 2 });
  setTagValue(bytes, 256, width);
  setTagValue(bytes, 258, 1);
  setTagValue(bytes, 262, photometric);
  return bytes;
}

describe('decodeTiff: bilevel (1-bit) masks', () => {
  const [width, height] = [13, 5];
  const r = rng(31);
  const mask = Uint8Array.from({ length: width * height }, () => (r() < 0.4 ? 1 : 0));

  it.each(['none', 'packbits', 'deflate'] as const)('%s: reads each bit as a pixel, 0 or 255', (compression) => {
    const want = { width, height, channels: 1, data: mask.map((v) => v * 255) };
    expectPixels(decodeTiff(bilevelTiff(mask, width, height, compression), `bits-${compression}.tif`), want, compression);
  });

  it('WhiteIsZero inverts them', () => {
    const want = { width, height, channels: 1, data: mask.map((v) => 255 - v * 255) };
    expectPixels(decodeTiff(bilevelTiff(mask, width, height, 'none', 0), 'white-is-zero.tif'), want, 'white-is-zero.tif');
  });

  it('refuses 1-bit RGB and a predictor on 1-bit samples', () => {
    const rgb = encodeTiff(image(4, 4, 3, 8, 1));
    [0, 1, 2].forEach((i) => setTagValue(rgb, 258, 1, i));
    expectRefused(rgb, 'rgb-1-bit.tif');
    const predicted = bilevelTiff(mask, width, height, 'none');
    retag(predicted, 296, 317, 2);
    expectRefused(predicted, 'bilevel-predictor.tif');
  });


  it.skipIf(!hasPillow)("reads a boolean mask as Pillow saves it (mode '1')", () => {
    const dir = mkdtempSync(join(tmpdir(), 'dawnet-bilevel-'));
    try {
      const path = join(dir, 'mask.tif');
      const script = [
        'import sys, numpy as np',
        'from PIL import Image',
        `m = np.frombuffer(bytes.fromhex(sys.argv[2]), dtype=np.uint8).reshape(${height}, ${width}) > 0`,
        'Image.fromarray(m).save(sys.argv[1])',
      ].join('\n');
      execFileSync(PYTHON, ['-c', script, path, Buffer.from(mask).toString('hex')]);
      const want = { width, height, channels: 1, data: mask.map((v) => v * 255) };
      expectPixels(decodeTiff(readFileSync(path), path), want, path);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
