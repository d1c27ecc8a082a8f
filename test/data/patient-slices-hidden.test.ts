// patientSlices (what `dawnet predict FOLDER` runs on) passes over hidden entries as the data scan
// does: macOS's AppleDouble `._<folder>_<n>.tif` copies match the slice pattern (patient `._<folder>`)
// but are no TIFFs, and taking them failed the decode (under zscore-volume, the whole folder).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DataError } from '../../src/data/errors.js';
import { patientSlices } from '../../src/data/lgg.js';
import { isHidden } from '../../src/data/lgg-names.js';

describe('patientSlices and hidden files', () => {
  it('leaves out ._X_n.tif, .X_n.tif and .DS_Store; a folder of hidden files alone holds no slices', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dawnet-hidden-'));
    const folder = join(dir, 'TCGA_X');
    mkdirSync(folder);
    const hidden = ['._TCGA_X_1.tif', '._TCGA_X_2.tif', '.TCGA_X_3.tif', '.DS_Store'];
    for (const name of ['TCGA_X_2.tif', 'TCGA_X_1.tif', ...hidden]) writeFileSync(join(folder, name), '');
    try {
      expect(await patientSlices(folder)).toEqual([join(folder, 'TCGA_X_1.tif'), join(folder, 'TCGA_X_2.tif')]);
      const onlyHidden = join(dir, 'only-hidden');
      mkdirSync(onlyHidden);
      for (const name of hidden) writeFileSync(join(onlyHidden, name), '');
      await expect(patientSlices(onlyHidden)).rejects.toThrow(DataError);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('isHidden: a name starting with a dot', () => {
    expect(['._TCGA_X_1.tif', '.DS_Store', '.git'].map(isHidden)).toEqual([true, true, true]);
    expect(['TCGA_X_1.tif', 'a.tif', 'x._1.tif'].map(isHidden)).toEqual([false, false, false]);
  });
});
