// Palette TIFFs (PhotometricInterpretation 3, a ColorMap), as Pillow saves a mode 'P' label mask,
// tifffile writes one with a colormap, and a scan quantised to 256 colours: each decodes to the RGB
// its ColorMap gives, compared with libtiff's own reading (tiff2rgba) of the same file (fixtures in
// test/fixtures/tiff/palette, with the script that made them). A palette mask is then read as an
// RGB mask is: a pixel shown in a colour other than black is tumour, in decodeSlice and scanLgg.

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { DataError } from '../../src/data/errors.js';
import { scanLgg } from '../../src/data/lgg.js';
import { decodeSlice } from '../../src/data/slice-decode.js';
import { decodeTiff, encodeTiff, readTiffInfo, type TiffImage } from '../../src/data/tiff.js';

const DIR = fileURLToPath(new URL('../fixtures/tiff/palette/', import.meta.url));
const manifest = JSON.parse(readFileSync(join(DIR, 'manifest.json'), 'utf8')) as { files: Record<string, { twin: string; made: string }> };
const FILES = Object.keys(manifest.files);
const MASKS = FILES.filter((f) => f.startsWith('mask-'));
const read = (file: string) => new Uint8Array(readFileSync(join(DIR, file)));
const [W, H] = [37, 23];

/** libtiff's RGBA reading of a file, as RGB. */
function twinRgb(file: string): number[] {
  const twin = manifest.files[file]!.twin;
  const rgba = decodeTiff(read(twin), twin);
  expect(rgba.channels).toBe(4);
  return Array.from({ length: W * H * 3 }, (_, i) => rgba.data[Math.floor(i / 3) * 4 + (i % 3)]!);
}

function expectSameSamples(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) expect.fail(`${what}: sample ${i} is ${got[i]}, expected ${want[i]}`);
}

describe('decodeTiff on palette images', () => {
  it('the fixtures cover 8-, 4- and 2-bit indices, strips, compressions, the predictor and FillOrder 2', () => {
    const infos = FILES.map((f) => readTiffInfo(read(f), f));
    expect(infos.every((i) => i.channels === 1 && i.colorMap !== undefined)).toBe(true);
    expect(new Set(infos.map((i) => i.bitsPerSample))).toEqual(new Set([2, 4, 8]));
    expect(new Set(infos.map((i) => i.compression))).toEqual(new Set([1, 5, 8, 32773]));
    expect(infos.some((i) => i.fillOrder === 2)).toBe(true);
    expect(infos.some((i) => i.strips.length > 1)).toBe(true);
  });

  it.each(FILES)('%s decodes to the colours libtiff gives it', (file) => {
    const img = decodeTiff(read(file), file);
    expect([img.width, img.height, img.channels]).toEqual([W, H, 3]);
    expect(img.data).toBeInstanceOf(Uint8Array);
    expectSameSamples(img.data, twinRgb(file), file);
  });

  it('takes a ColorMap of 8-bit values as 8-bit, as libtiff does, not as near-black', () => {
    const img = decodeTiff(read('mask-8bit-colormap.tif'), 'mask-8bit-colormap.tif');
    expect(new Set(img.data)).toEqual(new Set([0, 255]));
  });
});

describe('palette masks are read as RGB masks are', () => {
  const slice = encodeTiff({ width: W, height: H, channels: 3, data: new Uint8Array(W * H * 3).fill(90) });

  it.each(MASKS)('%s: decodeSlice finds the tumour its RGB twin shows', (file) => {
    const twin = manifest.files[file]!.twin;
    const names = (mask: string) => ({ image: 's.tif', mask });
    const got = decodeSlice(slice, read(file), W, names(file));
    const want = decodeSlice(slice, read(twin), W, names(twin));
    expectSameSamples(got.mask, want.mask, file);
    expect(got.label).toBe(1);
  });

  it('by colour, not index: a map with white at index 0 is read as the image shows it', () => {
    const byColour = decodeTiff(read('mask-white-background.tif'), 'white');
    const byIndexOne = decodeTiff(read('mask-pillow.tif'), 'pillow');
    // Same indices (0 background, 1 label), colours swapped: what shows black is the background.
    for (let p = 0; p < W * H; p++) expect(byColour.data[3 * p] === 0).toBe(byIndexOne.data[3 * p] !== 0);
  });

  const temp = mkdtempSync(join(tmpdir(), 'dawnet-palette-'));
  afterAll(() => rmSync(temp, { recursive: true, force: true }));

  it('scanLgg counts the tumour pixels of a palette mask as of its RGB twin, and finds it binary', async () => {
    const folder = 'TCGA_AA_0001_20000101';
    const root = join(temp, 'kaggle_3m');
    mkdirSync(join(root, folder), { recursive: true });
    const files = ['mask-pillow-lzw-rows-5.tif', 'mask-tifffile-zlib-rows-4.tif'];
    files.forEach((file, i) => {
      writeFileSync(join(root, folder, `${folder}_${2 * i + 1}.tif`), slice);
      writeFileSync(join(root, folder, `${folder}_${2 * i + 1}_mask.tif`), read(file));
      writeFileSync(join(root, folder, `${folder}_${2 * i + 2}.tif`), slice);
      writeFileSync(join(root, folder, `${folder}_${2 * i + 2}_mask.tif`), read(manifest.files[file]!.twin));
    });
    const scanned = await scanLgg(root, { size: W, strict: true });
    const pixels = scanned.slices.map((s) => s.tumourPixels);
    expect(pixels[0]).toBeGreaterThan(0);
    expect(pixels).toEqual([pixels[0], pixels[0], pixels[0], pixels[0]]);
  });

  it('a palette scan is read as its RGB twin by decodeSlice', () => {
    const mask = encodeTiff({ width: W, height: H, channels: 1, data: new Uint8Array(W * H) });
    const got = decodeSlice(read('scan-lzw-predictor-rows-5.tif'), mask, W, { image: 'p.tif', mask: 'm.tif' });
    const want = decodeSlice(read('scan-lzw-predictor-rows-5.twin.tif'), mask, W, { image: 't.tif', mask: 'm.tif' });
    expectSameSamples(got.image, want.image, 'scan');
  });
});

/** Sets value `index` of a SHORT or LONG tag of a little-endian TIFF (our encodeTiff's), in place. */
function setTag(bytes: Uint8Array, tag: number, value: number): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const ifd = view.getUint32(4, true);
  for (let e = 0; e < view.getUint16(ifd, true); e++) {
    const at = ifd + 2 + 12 * e;
    if (view.getUint16(at, true) !== tag) continue;
    if (view.getUint16(at + 2, true) === 3) view.setUint16(at + 8, value, true);
    else view.setUint32(at + 8, value, true);
    return;
  }
  throw new Error(`no tag ${tag}`);
}

function refused(bytes: Uint8Array, name: string): string {
  try {
    decodeTiff(bytes, name);
  } catch (e) {
    expect(e).toBeInstanceOf(DataError);
    return (e as Error).message;
  }
  return expect.fail(`${name} was decoded`);
}

describe('palette images: what is refused', () => {
  const gray: TiffImage = { width: 4, height: 3, channels: 1, data: Uint8Array.from({ length: 12 }, (_, i) => i) };

  it('a palette image without a ColorMap, naming it', () => {
    const bytes = encodeTiff(gray);
    setTag(bytes, 262, 3);
    expect(refused(bytes, 'no-map.tif')).toMatch(/^no-map\.tif: corrupt or truncated TIFF \(palette image whose ColorMap holds 0 values/);
    // The control: the same file as gray.
    setTag(bytes, 262, 1);
    expect([...decodeTiff(bytes, 'gray.tif').data]).toEqual([...gray.data]);
  });

  it('CMYK and other photometric interpretations, naming the tag value', () => {
    const bytes = encodeTiff(gray);
    setTag(bytes, 262, 5);
    expect(refused(bytes, 'cmyk.tif')).toContain('photometric interpretation 5');
  });

  it('a 16-bit palette image', () => {
    const bytes = encodeTiff({ width: 4, height: 3, channels: 1, data: new Uint16Array(12) });
    setTag(bytes, 262, 3);
    expect(refused(bytes, 'pal16.tif')).toContain('bits per sample 16');
  });
});
