// kaggle_3m's file names as src/data/lgg-names.ts spells them, once, for the scanner, `dawnet predict`
// and the browser page: what SLICE_FILE, MASK_FILE and slicePatient read, and that no other source
// file spells the pattern again (a second spelling drifts: the page's patients, predict's masks).

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MASK_FILE, SLICE_FILE, slicePatient } from '../../src/data/lgg-names.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

const NAMES = [
  // name, SLICE_FILE's groups (patient, n, mask) or null, MASK_FILE, slicePatient
  ['TCGA_CS_4941_19960909_12.tif', ['TCGA_CS_4941_19960909', '12', undefined], false, 'TCGA_CS_4941_19960909'],
  ['TCGA_CS_4941_19960909_12_mask.tif', ['TCGA_CS_4941_19960909', '12', '_mask'], true, null],
  ['P_3.TIFF', ['P', '3', undefined], false, 'P'],
  ['P_3_MASK.Tiff', ['P', '3', '_MASK'], true, null],
  ['P_mask_3.tif', ['P_mask', '3', undefined], false, 'P_mask'],
  ['brain_mask.tif', null, true, null],
  ['scan.tif', null, false, null],
  ['P_3.png', null, false, null],
  ['P_3.tif.bak', null, false, null],
] as const;

describe('kaggle_3m file names', () => {
  it.each(NAMES)('%s', (name, groups, mask, patient) => {
    const m = SLICE_FILE.exec(name);
    expect(m ? [m[1], m[2], m[3]] : null).toEqual(groups);
    expect(MASK_FILE.test(name)).toBe(mask);
    expect(slicePatient(name)).toBe(patient);
  });

  it('no source file besides src/data/lgg-names.ts spells the pattern (a slice number or a mask suffix before .tif)', () => {
    // A slice number, then .tif on the same line; or the mask suffix with .tif.
    const spelled = /_\(?\\d\+\)?.*\\\.tif|_mask\\\.tif/i;
    const sources = (dir: string): string[] =>
      readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })
        .filter((e) => e.isFile() && e.name.endsWith('.ts'))
        .map((e) => join(e.parentPath, e.name).slice(ROOT.length));
    const offenders = [...sources('src'), ...sources('web')].filter((f) => f !== 'src/data/lgg-names.ts' && spelled.test(readFileSync(join(ROOT, f), 'utf8')));
    expect(offenders).toEqual([]);
    // The guard sees the spellings the page and predict had before they shared lgg-names.ts's.
    expect(spelled.test(String(/^(.+)_\d+\.tiff?$/i))).toBe(true);
    expect(spelled.test(String(/_mask\.tiff?$/i))).toBe(true);
    expect(spelled.test(String(/^(.+)_(\d+)(_mask)?\.tiff?$/i))).toBe(true);
  });
});
