// Tiled TIFFs, as `tiffcp -t`, tifffile's `tile=` and libvips write them: the image in 16x16
// tiles, left to right and top to bottom (plane by plane when the planes are separate), each tile
// whole even where it overhangs the image's right or bottom edge, and the horizontal predictor
// starting afresh at each row of each tile. Fixtures from tifffile and libtiff, with the script
// that made them (test/fixtures/tiff/tiled/make_fixtures.py), every sample compared.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DataError } from '../../src/data/errors.js';
import { decodeTiff, readTiffInfo } from '../../src/data/tiff.js';

const DIR = fileURLToPath(new URL('../fixtures/tiff/tiled/', import.meta.url));
interface Manifest {
  sources: Record<string, { width: number; height: number; channels: number; bits: 8 | 16 }>;
  files: Record<string, { source: string }>;
}
const manifest = JSON.parse(readFileSync(join(DIR, 'manifest.json'), 'utf8')) as Manifest;

function sourceSamples(name: string): number[] {
  const raw = readFileSync(join(DIR, `${name}.bin`));
  return manifest.sources[name]!.bits === 8 ? Array.from(raw) : Array.from({ length: raw.length / 2 }, (_, i) => raw.readUInt16LE(2 * i));
}

describe('decodeTiff on tiled files', () => {
  it('has the layouts it is named for', () => {
    const infos = Object.keys(manifest.files).map((f) => readTiffInfo(readFileSync(join(DIR, f)), f));
    expect(infos.every((i) => i.tile?.width === 16 && i.tile.height === 16)).toBe(true);
    expect(new Set(infos.map((i) => i.compression))).toEqual(new Set([1, 5, 8, 32773]));
    expect(infos.some((i) => i.planarConfig === 2)).toBe(true);
    expect(infos.some((i) => !i.littleEndian && i.bitsPerSample === 16)).toBe(true);
    expect(infos.some((i) => i.bitsPerSample === 1)).toBe(true);
  });

  it.each(Object.keys(manifest.files))('%s', (file) => {
    const { source } = manifest.files[file]!;
    const { width, height, channels } = manifest.sources[source]!;
    const img = decodeTiff(readFileSync(join(DIR, file)), file);
    expect([img.width, img.height, img.channels]).toEqual([width, height, channels]);
    const want = sourceSamples(source);
    const bad = want.findIndex((v, i) => img.data[i] !== v);
    if (bad >= 0) expect.fail(`${file}: sample ${bad} is ${img.data[bad]}, expected ${want[bad]}`);
    expect(img.data.length).toBe(want.length);
  });
});

describe('decodeTiff on damaged tiled files', () => {
  const file = 'tifffile-rgb8.tif';
  const bytes = readFileSync(join(DIR, file));
  const info = readTiffInfo(bytes, file);

  it('names the tile that runs past the end of a truncated file', () => {
    const last = info.strips.length - 1;
    const cut = bytes.subarray(0, info.strips[last]!.offset + 10);
    expect(() => decodeTiff(cut, file)).toThrow(DataError);
    expect(() => decodeTiff(cut, file)).toThrow(`${file}: corrupt or truncated TIFF (tile ${last} spans bytes`);
  });

  it('names a compressed tile that does not decode', () => {
    const lzw = 'tiffcp-rgb8-lzw-predictor.tif';
    const damaged = Uint8Array.from(readFileSync(join(DIR, lzw)));
    const tile = readTiffInfo(damaged, lzw).strips[2]!;
    damaged.fill(0xff, tile.offset, tile.offset + tile.length);
    expect(() => decodeTiff(damaged, lzw)).toThrow(`${lzw}: tile 2 (LZW) is corrupt`);
  });
});
