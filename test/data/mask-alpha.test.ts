// A mask saved with an alpha channel (RGBA, as image editors export one): its alpha is 255 on
// every pixel of an opaque mask, and is not tumour. The scan's label and pixel count and
// decodeSlice's mask read the colour samples alone.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { scanLgg } from '../../src/data/lgg.js';
import { decodeSlice } from '../../src/data/slice-decode.js';
import { encodeTiff } from '../../src/data/tiff.js';

const temp = mkdtempSync(join(tmpdir(), 'dawnet-mask-alpha-'));
afterAll(() => rmSync(temp, { recursive: true, force: true }));

const W = 8;
const H = 8;
const TUMOUR = [2 * W + 3, 2 * W + 4, 3 * W + 3];

/** An opaque RGBA mask: gray 255 on the tumour pixels, 0 elsewhere, alpha 255 everywhere. */
function rgbaMask(tumour: number[]): Uint8Array {
  const data = new Uint8Array(W * H * 4);
  for (let p = 0; p < W * H; p++) {
    const v = tumour.includes(p) ? 255 : 0;
    data.set([v, v, v, 255], 4 * p);
  }
  return encodeTiff({ width: W, height: H, channels: 4, data });
}

const slice = encodeTiff({ width: W, height: H, channels: 3, data: new Uint8Array(W * H * 3).fill(90) });

describe('masks with an alpha channel', () => {
  it('decodeSlice marks the tumour pixels alone', () => {
    const decoded = decodeSlice(slice, rgbaMask(TUMOUR), W, { image: 's.tif', mask: 's_mask.tif' });
    expect([...decoded.mask].flatMap((v, p) => (v ? [p] : []))).toEqual(TUMOUR);
    expect(decodeSlice(slice, rgbaMask([]), W, { image: 's.tif', mask: 's_mask.tif' }).label).toBe(0);
  });

  it('the scan counts the tumour pixels alone, and labels an empty opaque mask 0', async () => {
    const folder = 'TCGA_AB_0001_20000101';
    const dir = join(temp, 'kaggle_3m', folder);
    mkdirSync(dir, { recursive: true });
    for (const [n, tumour] of [[1, TUMOUR], [2, []]] as const) {
      writeFileSync(join(dir, `${folder}_${n}.tif`), slice);
      writeFileSync(join(dir, `${folder}_${n}_mask.tif`), rgbaMask([...tumour]));
    }
    const scanned = await scanLgg(join(temp, 'kaggle_3m'), { size: W });
    expect(scanned.summary.problems).toEqual([]);
    expect(scanned.slices.map((s) => [s.index, s.label, s.tumourPixels])).toEqual([[1, 1, 3], [2, 0, 0]]);
  });
});
