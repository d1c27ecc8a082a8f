// Where a download leaves kaggle_3m: Kaggle's zip holds `kaggle_3m/` and
// `lgg-mri-segmentation/kaggle_3m/`, an unzip tool puts it all in `archive/`, a Mac adds
// `__MACOSX/`, and a path typed with a trailing slash. The scan finds the patient folders through
// such wrapping folders, and still names the folder given when none holds them.

import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataError } from '../../src/data/errors.js';
import { scanLgg } from '../../src/data/lgg.js';
import { writeSyntheticDataset } from '../../src/data/synth.js';

const temp = mkdtempSync(join(tmpdir(), 'dawnet-lgg-wrappers-'));
const source = join(temp, 'source');

beforeAll(async () => {
  await writeSyntheticDataset(source, { patients: 2, seed: 4, size: 16, slicesPerPatient: [2, 3] });
});
afterAll(() => rmSync(temp, { recursive: true, force: true }));

/** A copy of the data set at `inner` below a new folder `tag`; returns that folder. */
function wrapped(tag: string, inner: string): string {
  const dir = join(temp, tag);
  cpSync(source, join(dir, inner), { recursive: true });
  return dir;
}

describe('scanLgg through the folders a download wraps kaggle_3m in', () => {
  it.each([
    ['lgg-mri-segmentation/kaggle_3m', 'lgg-mri-segmentation/kaggle_3m'],
    ['archive/kaggle_3m, renamed', 'archive/data'],
    ['kaggle_3m/kaggle_3m', 'kaggle_3m/kaggle_3m'],
  ])('%s', async (tag, inner) => {
    const dir = wrapped(tag.replace(/[/, ]+/g, '-'), inner);
    const scanned = await scanLgg(dir, { verifyImages: false });
    expect(scanned.root).toBe(join(dir, inner));
    expect(scanned.summary).toMatchObject({ patients: 2, problems: [] });
  });

  it("passes over macOS's __MACOSX beside the one wrapping folder", async () => {
    const dir = wrapped('macosx', 'lgg-mri-segmentation/kaggle_3m');
    mkdirSync(join(dir, '__MACOSX', 'lgg-mri-segmentation'), { recursive: true });
    expect((await scanLgg(dir, { verifyImages: false })).root).toBe(join(dir, 'lgg-mri-segmentation/kaggle_3m'));
  });

  it('reads a path given with a trailing slash, and its files without a doubled one', async () => {
    const scanned = await scanLgg(`${source}/`, { verifyImages: false });
    expect(scanned.root).toBe(source);
    expect(scanned.slices.every((s) => !s.imagePath.includes('//'))).toBe(true);
  });

  it('names the folder given when no wrapping folder leads to patient folders', async () => {
    const dir = join(temp, 'two-wrappers');
    cpSync(source, join(dir, 'a', 'b', 'c', 'd'), { recursive: true });
    mkdirSync(join(dir, 'other'));
    await expect(scanLgg(dir)).rejects.toThrow(DataError);
    await expect(scanLgg(dir)).rejects.toThrow(`${dir}: not an LGG data set folder: none of its 2 folders holds <folder>_<n>.tif slices`);
  });
});
