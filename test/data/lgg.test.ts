// The kaggle_3m scanner on a small synthetic data set (4 patients, 32x32 slices, working size 16),
// and each kind of bad input: skipped and listed by default, thrown (DataError naming the file) when strict.

import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataError } from '../../src/data/errors.js';
import { loadSlice, parseCsv, scanLgg, type LggDataset } from '../../src/data/lgg.js';
import { decodeSlice, resizeBilinear, resizeNearest } from '../../src/data/slice-decode.js';
import { writeSyntheticDataset } from '../../src/data/synth.js';
import { decodeTiff, encodeTiff } from '../../src/data/tiff.js';

const temp = mkdtempSync(join(tmpdir(), 'dawnet-lgg-'));
const root = join(temp, 'kaggle_3m');
let dataset: LggDataset;

beforeAll(async () => {
  await writeSyntheticDataset(root, { patients: 4, seed: 3, size: 32, slicesPerPatient: [10, 13] });
  dataset = await scanLgg(root, { size: 16 });
});
afterAll(() => rmSync(temp, { recursive: true, force: true }));

/** A fresh copy of the data set to damage. */
function copyOfDataset(tag: string): string {
  const dir = join(temp, tag);
  cpSync(root, dir, { recursive: true });
  return dir;
}

function firstFolder(dir: string): string {
  return readdirSync(dir).filter((n) => n.startsWith('TCGA_')).sort()[0]!;
}

describe('scanLgg on a synthetic kaggle_3m folder', () => {
  it('finds every patient and slice, all usable', () => {
    const folders = readdirSync(root).filter((n) => n.startsWith('TCGA_'));
    const files = folders.flatMap((f) => readdirSync(join(root, f)));
    expect(dataset.patients.map((p) => p.folder)).toEqual(folders.sort());
    expect(dataset.slices).toHaveLength(files.length / 2);
    expect(dataset.summary).toMatchObject({ patients: 4, slices: files.length / 2, resized: files.length / 2, problems: [] });
    expect(dataset.summary.tumourSlices).toBe(dataset.slices.filter((s) => s.label === 1).length);
  });

  it('orders slices by number, not by name (_10 after _9)', () => {
    for (const p of dataset.patients) {
      expect(p.slices.length).toBeGreaterThanOrEqual(10);
      expect(p.slices.map((s) => s.index)).toEqual(p.slices.map((_, i) => i + 1));
      expect(p.slices[9]!.id).toBe(`${p.folder}_10`);
      expect(p.slices[9]!.imagePath.endsWith(`${p.folder}_10.tif`)).toBe(true);
      expect(p.slices[9]!.maskPath.endsWith(`${p.folder}_10_mask.tif`)).toBe(true);
    }
  });

  it('names the values of a mask that is not binary; 0/255 and 0/1 masks pass', async () => {
    const dir = copyOfDataset('grey-mask');
    const folder = firstFolder(dir);
    const mask = new Uint8Array(32 * 32);
    mask[3] = 255;
    mask[4] = 128; // an edge a resampling interpolated
    const path = join(dir, folder, `${folder}_2_mask.tif`);
    writeFileSync(path, encodeTiff({ width: 32, height: 32, channels: 1, data: mask }));
    const scanned = await scanLgg(dir, { size: 16 });
    expect(scanned.summary.problems).toEqual([{ file: path, reason: 'not a binary mask: non-zero values 128, 255; LGG masks hold 0 and one other value (255)' }]);
  });

  it('labels a slice 1 exactly when its mask has a non-zero pixel', () => {
    for (const s of dataset.slices) {
      const mask = decodeTiff(readFileSync(s.maskPath));
      const nonZero = mask.data.filter((v) => v !== 0).length;
      expect(s.tumourPixels).toBe(nonZero);
      expect(s.label).toBe(nonZero > 0 ? 1 : 0);
    }
    expect(dataset.summary.tumourSlices).toBeGreaterThan(0);
    expect(dataset.summary.tumourSlices).toBeLessThan(dataset.slices.length);
  });

  it('counts a single mask pixel of value 1 as tumour', async () => {
    const dir = copyOfDataset('one-pixel');
    const folder = firstFolder(dir);
    const mask = new Uint8Array(32 * 32);
    mask[5 * 32 + 7] = 1;
    writeFileSync(join(dir, folder, `${folder}_1_mask.tif`), encodeTiff({ width: 32, height: 32, channels: 1, data: mask }));
    writeFileSync(join(dir, folder, `${folder}_2_mask.tif`), encodeTiff({ width: 32, height: 32, channels: 1, data: new Uint8Array(32 * 32) }));
    const scanned = await scanLgg(dir, { size: 16 });
    const [first, second] = scanned.patients[0]!.slices;
    expect([first!.label, first!.tumourPixels, second!.label]).toEqual([1, 1, 0]);
  });

  it('joins data.csv rows by patient', () => {
    expect(dataset.csvColumns).toHaveLength(18);
    expect(dataset.csvColumns[0]).toBe('Patient');
    for (const p of dataset.patients) {
      expect(p.patient).toBe(p.folder.replace(/_\d{8}$/, ''));
      expect(p.clinical?.Patient).toBe(p.patient);
      expect(Object.keys(p.clinical!)).toHaveLength(18);
    }
    expect(dataset.summary.patientsWithoutCsvRow).toEqual([]);
  });

  it('reports patients without a csv row and rows without a folder; quoted fields parse', async () => {
    const dir = copyOfDataset('csv');
    const [a, b] = dataset.patients;
    writeFileSync(join(dir, 'data.csv'), `Patient,note\r\n${a!.patient},"grade 2, ""diffuse"""\r\nTCGA_XX_0000,"two\nlines"\r\n`);
    const scanned = await scanLgg(dir, { size: 16 });
    expect(scanned.patients[0]!.clinical).toEqual({ Patient: a!.patient, note: 'grade 2, "diffuse"' });
    expect(scanned.summary.patientsWithoutCsvRow).toContain(b!.patient);
    expect(scanned.summary.csvRowsWithoutFolder).toEqual(['TCGA_XX_0000']);
  });

  it('finds kaggle_3m/ inside the folder the zip unpacked to', async () => {
    const scanned = await scanLgg(temp, { size: 16, verifyImages: false });
    expect(scanned.root).toBe(root);
    expect(scanned.slices.map((s) => s.id)).toEqual(dataset.slices.map((s) => s.id));
  });
});

describe('decodeSlice and resizing', () => {
  it('decodes to [S, S, 3] in 0..1 and a {0, 1} mask, resized from 32 to 16', async () => {
    const s = dataset.slices.find((x) => x.label === 1)!;
    const d = await loadSlice(s, 16);
    expect(d.image).toHaveLength(16 * 16 * 3);
    expect(d.mask).toHaveLength(16 * 16);
    expect(d.image.every((v) => v >= 0 && v <= 1)).toBe(true);
    expect(d.mask.every((v) => v === 0 || v === 1)).toBe(true);
    expect(d.label).toBe(1);
    // Halving with centred bilinear sampling averages each 2x2 block.
    const full = decodeTiff(readFileSync(s.imagePath));
    const at = (x: number, y: number, c: number) => full.data[(y * 32 + x) * 3 + c]! / 255;
    const want = (at(6, 8, 1) + at(7, 8, 1) + at(6, 9, 1) + at(7, 9, 1)) / 4;
    expect(d.image[(4 * 16 + 3) * 3 + 1]).toBeCloseTo(want, 6);
    // At the working size itself nothing is resampled.
    const same = decodeSlice(readFileSync(s.imagePath), readFileSync(s.maskPath), 32, { image: 'i', mask: 'm' });
    expect(Array.from(same.image.subarray(0, 30))).toEqual(Array.from(full.data.subarray(0, 30), (v) => Math.fround(v / 255)));
  });

  it('resizeNearest takes the source pixel under each centre; resizeBilinear keeps constants', () => {
    const src = Float32Array.from({ length: 4 * 4 }, (_, i) => i);
    expect(Array.from(resizeNearest(src, 4, 4, 1, 2, 2))).toEqual([5, 7, 13, 15]);
    expect(Array.from(resizeNearest(src, 4, 4, 1, 8, 8).subarray(0, 8))).toEqual([0, 0, 1, 1, 2, 2, 3, 3]);
    const flat = new Float32Array(5 * 3 * 2).fill(0.25);
    expect(resizeBilinear(flat, 5, 3, 2, 7, 4).every((v) => Math.abs(v - 0.25) < 1e-7)).toBe(true);
  });

  it('rejects a mask whose size differs from its slice', () => {
    const image = encodeTiff({ width: 8, height: 8, channels: 3, data: new Uint8Array(192) });
    const mask = encodeTiff({ width: 4, height: 4, channels: 1, data: new Uint8Array(16) });
    expect(() => decodeSlice(image, mask, 8, { image: 'a.tif', mask: 'a_mask.tif' })).toThrow(DataError);
  });
});

describe('parseCsv', () => {
  it('handles quotes, doubled quotes, CRLF, a BOM and a missing final newline', () => {
    expect(parseCsv('\ufeffa,b\r\n"x,1","say ""hi"""\n2,')).toEqual([['a', 'b'], ['x,1', 'say "hi"'], ['2', '']]);
  });
  it('rejects ragged rows and unclosed quotes', () => {
    expect(() => parseCsv('a,b\n1,2,3\n')).toThrow(DataError);
    expect(() => parseCsv('a,b\n"1,2\n')).toThrow(DataError);
  });
});

type Damage = (dir: string, folder: string) => string;

const BAD_FILES: { name: string; damage: Damage }[] = [
  {
    name: 'truncated TIFF',
    damage: (dir, f) => {
      const path = join(dir, f, `${f}_3.tif`);
      truncateSync(path, 1500);
      return path;
    },
  },
  {
    name: 'corrupt TIFF (not a TIFF at all)',
    damage: (dir, f) => {
      const path = join(dir, f, `${f}_4_mask.tif`);
      writeFileSync(path, 'this is not an image\n');
      return path;
    },
  },
  {
    name: 'slice without mask',
    damage: (dir, f) => {
      unlinkSync(join(dir, f, `${f}_5_mask.tif`));
      return join(dir, f, `${f}_5.tif`);
    },
  },
  {
    name: 'mask of another size',
    damage: (dir, f) => {
      const path = join(dir, f, `${f}_6_mask.tif`);
      writeFileSync(path, encodeTiff({ width: 16, height: 16, channels: 1, data: new Uint8Array(256) }));
      return path;
    },
  },
  {
    name: 'mask that is not binary (a slice saved under a mask name)',
    damage: (dir, f) => {
      const path = join(dir, f, `${f}_7_mask.tif`);
      writeFileSync(path, readFileSync(join(dir, f, `${f}_7.tif`)));
      return path;
    },
  },
];

describe('scanLgg on bad input', () => {
  it.each(BAD_FILES)('$name: skipped and listed by default, thrown when strict', async ({ name, damage }) => {
    const dir = copyOfDataset(name.replace(/\W+/g, '-'));
    const folder = firstFolder(dir);
    const file = damage(dir, folder);

    const scanned = await scanLgg(dir, { size: 16 });
    expect(scanned.summary.problems.map((p) => p.file)).toEqual([file]);
    expect(scanned.summary.problems[0]!.reason.length).toBeGreaterThan(0);
    expect(scanned.slices).toHaveLength(dataset.slices.length - 1);

    const error = await scanLgg(dir, { size: 16, strict: true }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DataError);
    expect((error as Error).message).toContain(file);
  });

  it('an empty folder is a DataError naming it', async () => {
    const dir = join(temp, 'empty');
    mkdirSync(dir);
    const error = await scanLgg(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DataError);
    expect((error as Error).message).toContain(dir);
  });

  it('a folder of something else is a DataError naming it', async () => {
    const dir = join(temp, 'photos');
    mkdirSync(join(dir, 'holiday'), { recursive: true });
    writeFileSync(join(dir, 'notes.txt'), 'hello');
    writeFileSync(join(dir, 'holiday', 'beach_1.png'), 'png');
    const error = await scanLgg(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DataError);
    expect((error as Error).message).toContain(dir);
    await expect(scanLgg(join(temp, 'does-not-exist'))).rejects.toThrow(DataError);
  });
});
