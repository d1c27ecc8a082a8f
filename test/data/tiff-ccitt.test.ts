// 1-bit masks in CCITT fax coding, as ImageJ, `tiffcp -c g4` and Pillow's save(compression='group4')
// write them: T.6 (Group 4), T.4 (Group 3) one- and two-dimensional, with and without fill before
// each EOL, Modified Huffman; several rows per strip, tiles, FillOrder 2, BlackIsZero and
// WhiteIsZero, and tifffile's bool masks (read as tifffile reads them: True where the bit is 1).
// Each fixture (test/fixtures/tiff/ccitt, with the script that made them) is compared with its
// twin, the same file that libtiff rewrote uncompressed; damaged streams must be refused naming
// the strip and the row.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DataError } from '../../src/data/errors.js';
import { decodeSlice } from '../../src/data/slice-decode.js';
import { decodeTiff, encodeTiff, readTiffInfo, type TiffImage } from '../../src/data/tiff.js';

const DIR = fileURLToPath(new URL('../fixtures/tiff/ccitt/', import.meta.url));

interface Layout {
  compression: number;
  fillOrder: 1 | 2;
  faxOptions: number;
  rowsPerStrip: number | null;
  tile: [number, number] | null;
  photometric: 0 | 1;
}
interface Manifest {
  files: Record<string, { source: string; twin: string; made: string; layout: Layout }>;
}
const manifest = JSON.parse(readFileSync(join(DIR, 'manifest.json'), 'utf8')) as Manifest;
const FILES = Object.keys(manifest.files);
const read = (file: string) => new Uint8Array(readFileSync(join(DIR, file)));

function expectSame(got: TiffImage, want: TiffImage, what: string): void {
  expect([got.width, got.height, got.channels], what).toEqual([want.width, want.height, want.channels]);
  const bad = want.data.findIndex((v, i) => got.data[i] !== v);
  if (bad >= 0) expect.fail(`${what}: pixel ${bad} (x ${bad % want.width}, y ${Math.floor(bad / want.width)}) is ${got.data[bad]}, its twin's ${want.data[bad]}`);
}

function refusal(bytes: Uint8Array, name: string): DataError {
  try {
    decodeTiff(bytes, name);
  } catch (e) {
    expect(e, name).toBeInstanceOf(DataError);
    return e as DataError;
  }
  return expect.fail(`${name} was decoded, not refused`);
}

describe('decodeTiff on fax-coded 1-bit files', () => {
  it('the fixtures cover what they are named for', () => {
    const layouts = FILES.map((f) => manifest.files[f]!.layout);
    const has = (want: Partial<Layout>) => layouts.some((l) => Object.entries(want).every(([k, v]) => JSON.stringify(l[k as keyof Layout]) === JSON.stringify(v)));
    for (const want of [
      { compression: 2 }, { compression: 3, faxOptions: 0 }, { compression: 3, faxOptions: 1 }, { compression: 3, faxOptions: 4 }, { compression: 3, faxOptions: 5, fillOrder: 2 },
      { compression: 4, fillOrder: 2 }, { compression: 4, tile: [16, 16] }, { compression: 4, photometric: 0 }, { compression: 2, rowsPerStrip: 5 }, { compression: 1, fillOrder: 2 },
    ] as Partial<Layout>[]) {
      expect(has(want), JSON.stringify(want)).toBe(true);
    }
  });

  it.each(FILES)('%s decodes as its uncompressed twin', (file) => {
    const { twin, layout } = manifest.files[file]!;
    const info = readTiffInfo(read(file), file);
    expect(info).toMatchObject({ compression: layout.compression, fillOrder: layout.fillOrder, faxOptions: layout.faxOptions, bitsPerSample: 1 });
    expect(info.tile ? [info.tile.width, info.tile.height] : info.rowsPerStrip).toEqual(layout.tile ?? layout.rowsPerStrip);
    const want = decodeTiff(read(twin), twin);
    const twinInfo = readTiffInfo(read(twin), twin);
    expect([1, 8]).toContain(twinInfo.compression);
    expect(twinInfo.fillOrder).toBe(1);
    expectSame(decodeTiff(read(file), file), want, file);
  });

  it('a mask saved by Pillow in Group 4 has its tumour where the uncompressed mask has it', () => {
    const file = 'blobs-pillow-group4.tif';
    const mask = decodeTiff(read(file), file);
    const set = Array.from(mask.data).filter((v) => v === 255).length;
    expect(set).toBeGreaterThan(100);
    // Row 11 of the source is set across, row 12 clear (make_fixtures.py).
    expect([...mask.data.subarray(11 * 37, 12 * 37)].every((v) => v === 255)).toBe(true);
    expect([...mask.data.subarray(12 * 37, 13 * 37)].every((v) => v === 0)).toBe(true);
    const slice = encodeTiff({ width: 37, height: 23, channels: 3, data: new Uint8Array(37 * 23 * 3) });
    expect(decodeSlice(slice, read(file), 37, { image: 's.tif', mask: file }).label).toBe(1);
  });

  it("tifffile's bool mask in Group 4 reads True as 255, WhiteIsZero written by others inverted, as uncompressed", () => {
    const bool = decodeTiff(read('blobs-tifffile-bool-g4.tif'), 'bool');
    const whiteIsZero = decodeTiff(read('blobs-white-is-zero-g4-rows-8.tif'), 'wz');
    const blackIsZero = decodeTiff(read('blobs-g4-rows-5.tif'), 'bz');
    expect([...bool.data]).toEqual([...blackIsZero.data]);
    expect([...whiteIsZero.data]).toEqual([...blackIsZero.data].map((v) => 255 - v));
  });
});

/** Sets value `index` of a SHORT or LONG tag of a little-endian TIFF, in place. */
function setTag(bytes: Uint8Array, tag: number, value: number, index = 0): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const ifd = view.getUint32(4, true);
  for (let e = 0; e < view.getUint16(ifd, true); e++) {
    const at = ifd + 2 + 12 * e;
    if (view.getUint16(at, true) !== tag) continue;
    const size = view.getUint16(at + 2, true) === 3 ? 2 : 4;
    const where = size * view.getUint32(at + 4, true) > 4 ? view.getUint32(at + 8, true) : at + 8;
    if (size === 2) view.setUint16(where + 2 * index, value, true);
    else view.setUint32(where + 4 * index, value, true);
    return;
  }
  throw new Error(`no tag ${tag}`);
}

/** A copy of `file` with one strip's bytes changed by `edit` (same length). */
function damaged(file: string, strip: number, edit: (bytes: Uint8Array) => void): Uint8Array {
  const bytes = read(file).slice();
  const s = readTiffInfo(bytes, file).strips[strip]!;
  edit(bytes.subarray(s.offset, s.offset + s.length));
  return bytes;
}

describe('decodeTiff on damaged fax-coded strips', () => {
  it.each(['blobs-g4-rows-5.tif', 'blobs-g3-2d-rows-5.tif', 'blobs-g3-rows-5.tif', 'blobs-pillow-modified-huffman-rows-5.tif'])('%s: a strip cut short or overwritten is refused, naming it', (file) => {
    const cut = damaged(file, 1, (s) => s.fill(0, Math.floor(s.length / 2)));
    expect(refusal(cut, file).message).toMatch(new RegExp(`^${file}: strip 1 \\(CCITT [^)]+\\) is corrupt \\(row \\d+ of 5: `));
    const ones = damaged(file, 2, (s) => s.fill(0xff));
    expect(refusal(ones, file).message).toContain(`${file}: strip 2 (CCITT`);
    // The control: the same file, undamaged, decodes.
    expect(decodeTiff(read(file), file).data.length).toBe(37 * 23);
  });

  it('refuses bits after the last row that are not EOLs or fill', () => {
    const file = 'blobs-pillow-modified-huffman-rows-5.tif';
    const bytes = read(file).slice();
    const [first, second] = readTiffInfo(bytes, file).strips;
    expect(second!.offset).toBe(first!.offset + first!.length);
    // Strip 0 made to run on into strip 1's code: after its 5 rows come bytes that are rows too.
    setTag(bytes, 279, first!.length + second!.length, 0);
    expect(refusal(bytes, file).message).toMatch(/strip 0 \(CCITT Modified Huffman\) is corrupt \(after its 5 rows: \d+ bits left/);
  });
});

describe('fax coding: what is refused', () => {
  /** An 8x2 Group 4 BlackIsZero file whose one strip is `stream` (2 bytes). */
  function group4(stream: number[]): Uint8Array {
    const bytes = encodeTiff({ width: 1, height: 2, channels: 1, data: Uint8Array.from(stream) });
    setTag(bytes, 256, 8);
    setTag(bytes, 258, 1);
    setTag(bytes, 259, 4);
    return bytes;
  }

  it("T.6's uncompressed mode, as unsupported, naming how to convert", () => {
    // 0000001 111: the extension code that enters uncompressed mode.
    const { message } = refusal(group4([0b00000011, 0b11000000]), 'uncompressed-mode.tif');
    expect(message).toMatch(/^uncompressed-mode\.tif: strip 0 \(CCITT Group 4\) is unsupported \(row 0 of 2: uncompressed mode/);
    expect(message).toContain('tiffcp -c none in.tif out.tif');
    // The control: V0 V0 (each row as the white row above it) is two white rows.
    expect([...decodeTiff(group4([0b11000000, 0]), 'white.tif').data]).toEqual(new Array(16).fill(0));
  });

  it('CCITT compression of 8-bit samples, and CCITT RLEW, naming how to convert', () => {
    const gray = encodeTiff({ width: 4, height: 4, channels: 1, data: new Uint8Array(16) });
    const retagged = (code: number) => {
      const bytes = gray.slice();
      setTag(bytes, 259, code);
      return bytes;
    };
    expect(refusal(retagged(4), 'gray-g4.tif').message).toContain('1-bit');
    expect(refusal(retagged(32771), 'rlew.tif').message).toContain('tiffcp -c none in.tif out.tif');
    expect(decodeTiff(retagged(1), 'control.tif').data.length).toBe(16);
  });
});
