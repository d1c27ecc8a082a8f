// One rule for a slice's channels wherever a slice is read: `dawnet predict` (and the browser page,
// through sliceToRgb) gave a gray slice's one channel as all three while scanLgg, and so training
// and eval, refused a gray slice. Now both read gray (8- or 16-bit), RGB, RGBA (alpha dropped)
// and palette slices alike, to the same floats, and both refuse anything else with the same error.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sliceToRgb } from '../../src/app/predict-job.js';
import { DataError } from '../../src/data/errors.js';
import { loadSlice, scanLgg } from '../../src/data/lgg.js';
import { checkPair, decodeSlice, sliceRgb } from '../../src/data/slice-decode.js';
import { encodeTiff, type TiffImage } from '../../src/data/tiff.js';
import { rng } from '../helpers/rng.js';

const [W, H] = [9, 7];

function slice(channels: number, bits: 8 | 16, seed: number): TiffImage {
  const r = rng(seed);
  const n = W * H * channels;
  const top = bits === 8 ? 256 : 65536;
  const values = Array.from({ length: n }, () => Math.floor(r() * top));
  return { width: W, height: H, channels, data: bits === 8 ? Uint8Array.from(values) : Uint16Array.from(values) };
}

const mask = encodeTiff({ width: W, height: H, channels: 1, data: Uint8Array.from({ length: W * H }, (_, i) => (i % 5 === 0 ? 255 : 0)) });

describe('a slice reads the same in predict and in the scan', () => {
  const CASES = [
    { name: 'gray 8-bit', channels: 1, bits: 8 },
    { name: 'gray 16-bit', channels: 1, bits: 16 },
    { name: 'RGB 8-bit', channels: 3, bits: 8 },
    { name: 'RGBA 8-bit', channels: 4, bits: 8 },
    { name: 'RGB 16-bit', channels: 3, bits: 16 },
  ] as const;

  it.each(CASES)('$name: sliceToRgb (predict) gives what decodeSlice (training, eval) gives', ({ channels, bits }) => {
    const img = slice(channels, bits, channels * 10 + bits);
    const bytes = encodeTiff(img);
    for (const size of [W, 12]) {
      const trained = decodeSlice(bytes, mask, size, { image: 's.tif', mask: 's_mask.tif' }).image;
      const predicted = sliceToRgb(bytes, 's.tif', size);
      expect(predicted.length).toBe(size * size * 3);
      expect([...predicted]).toEqual([...trained]);
    }
  });

  it('a gray slice is its one channel given as all three, scaled to 0..1', () => {
    const img = slice(1, 16, 5);
    const rgb = sliceRgb(img, 'gray.tif');
    for (let p = 0; p < W * H; p++) {
      const want = img.data[p]! / 65535;
      expect([rgb[3 * p], rgb[3 * p + 1], rgb[3 * p + 2]]).toEqual([Math.fround(want), Math.fround(want), Math.fround(want)]);
    }
  });

  it('both refuse a 2-channel slice with the same DataError', () => {
    const two = { width: W, height: H, channels: 2, data: new Uint8Array(W * H * 2) };
    const message = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        expect(e).toBeInstanceOf(DataError);
        return (e as Error).message;
      }
      return expect.fail('not refused');
    };
    const fromScan = message(() => checkPair(two, { width: W, height: H }, 'two.tif', 'two_mask.tif'));
    expect(message(() => sliceRgb(two, 'two.tif'))).toBe(fromScan);
    expect(fromScan).toMatch(/^two\.tif: 2-channel image/);
  });
});

describe('scanLgg on gray slices', () => {
  const temp = mkdtempSync(join(tmpdir(), 'dawnet-gray-slices-'));
  afterAll(() => rmSync(temp, { recursive: true, force: true }));

  it('accepts them (it refused them while predict took them), and loadSlice replicates the channel', async () => {
    const folder = 'TCGA_AA_0002_20000101';
    const root = join(temp, 'kaggle_3m');
    mkdirSync(join(root, folder), { recursive: true });
    const gray = slice(1, 8, 1);
    writeFileSync(join(root, folder, `${folder}_1.tif`), encodeTiff(gray));
    writeFileSync(join(root, folder, `${folder}_1_mask.tif`), mask);
    // The control: an RGB slice beside it, as kaggle_3m's.
    writeFileSync(join(root, folder, `${folder}_2.tif`), encodeTiff(slice(3, 8, 2)));
    writeFileSync(join(root, folder, `${folder}_2_mask.tif`), mask);
    const scanned = await scanLgg(root, { size: W, strict: true });
    expect(scanned.slices.map((s) => [s.index, s.label, s.tumourPixels])).toEqual([[1, 1, 13], [2, 1, 13]]);
    const loaded = await loadSlice(scanned.slices[0]!, W);
    expect([...loaded.image]).toEqual([...sliceToRgb(encodeTiff(gray), 'g.tif', W)]);
    expect(loaded.image[3 * 4]).toBe(loaded.image[3 * 4 + 2]);
  });
});
