// patientSlices: a patient folder's slice images in numeric order, masks and strays left out.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DataError } from '../../src/data/errors.js';
import { patientSlices } from '../../src/data/lgg.js';

describe('patientSlices', () => {
  it('lists <folder>_<n>.tif by n (2 before 10), without masks or other files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dawnet-slices-'));
    const folder = join(dir, 'TCGA_CS_4941_19960909');
    mkdirSync(folder);
    for (const name of ['TCGA_CS_4941_19960909_10.tif', 'TCGA_CS_4941_19960909_2.tif', 'TCGA_CS_4941_19960909_2_mask.tif', 'TCGA_CS_4941_19960909_1.TIF', 'notes.txt']) writeFileSync(join(folder, name), '');
    try {
      expect(await patientSlices(`${folder}/`)).toEqual([1, 2, 10].map((n) => join(folder, `TCGA_CS_4941_19960909_${n}.${n === 1 ? 'TIF' : 'tif'}`)));
      const empty = join(dir, 'empty');
      mkdirSync(empty);
      await expect(patientSlices(empty)).rejects.toThrow(DataError);
      await expect(patientSlices(empty)).rejects.toThrow(`${empty}: no slice images (<folder>_<n>.tif) in this folder`);
      await expect(patientSlices(join(dir, 'missing'))).rejects.toThrow(/missing: cannot read the folder/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
