// What a real-world copy of kaggle_3m holds beside its slices, and what the scan says of it:
// hidden entries (macOS's .DS_Store and ._X_1.tif AppleDouble files, a .git folder) are passed
// over without a word; a TIFF not named as a slice, a folder without slices and a folder that
// cannot be listed are each reported by path, never dropped silently; folder order is code-point
// order, the same in every locale.

import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataError } from '../../src/data/errors.js';
import { scanLgg } from '../../src/data/lgg.js';
import { writeSyntheticDataset } from '../../src/data/synth.js';

const temp = mkdtempSync(join(tmpdir(), 'dawnet-lgg-strays-'));
const root = join(temp, 'kaggle_3m');

beforeAll(async () => {
  await writeSyntheticDataset(root, { patients: 3, seed: 5, size: 16, slicesPerPatient: [3, 4] });
});
afterAll(() => rmSync(temp, { recursive: true, force: true }));

function copy(tag: string): { dir: string; folder: string } {
  const dir = join(temp, tag);
  cpSync(root, dir, { recursive: true });
  return { dir, folder: readdirSync(dir).filter((n) => n.startsWith('TCGA_')).sort()[0]! };
}

const reasons = (problems: { file: string; reason: string }[], dir: string) => problems.map((p) => [p.file.slice(dir.length + 1), p.reason]);

describe('scanLgg given the wrong folder', () => {
  it("names one patient's folder as such, and lists no files where there are none", async () => {
    const patient = join(root, readdirSync(root).filter((n) => n.startsWith('TCGA_')).sort()[0]!);
    await expect(scanLgg(patient)).rejects.toThrow(`${patient}: one patient's folder (it holds <folder>_<n>.tif slices itself); give the folder that holds the patient folders, such as kaggle_3m`);
    const bare = join(temp, 'bare');
    mkdirSync(join(bare, 'sub'), { recursive: true });
    writeFileSync(join(bare, 'sub', 'x.txt'), 'x');
    await expect(scanLgg(bare)).rejects.toThrow(new RegExp(`^${bare}: not an LGG data set folder: none of its 1 folders holds <folder>_<n>\\.tif slices$`));
  });
});

describe('scanLgg beside the slices', () => {
  it('passes over hidden files and folders (a folder copied from a Mac) without a problem', async () => {
    const { dir, folder } = copy('mac');
    writeFileSync(join(dir, '.DS_Store'), 'x');
    writeFileSync(join(dir, folder, '.DS_Store'), 'x');
    writeFileSync(join(dir, folder, `._${folder}_1.tif`), 'AppleDouble');
    writeFileSync(join(dir, folder, `._${folder}_1_mask.tif`), 'AppleDouble');
    mkdirSync(join(dir, '.git'));
    writeFileSync(join(dir, '.git', `${folder}_1.tif`), 'not a slice');
    const scanned = await scanLgg(dir, { size: 16 });
    expect(scanned.summary.problems).toEqual([]);
    expect(scanned.patients).toHaveLength(3);
  });

  it('reports a TIFF not named as a slice, and leaves other files alone', async () => {
    const { dir, folder } = copy('misnamed');
    writeFileSync(join(dir, folder, `${folder}_6a.tif`), 'x');
    writeFileSync(join(dir, folder, `${folder}_2 (copy).TIF`), 'x');
    writeFileSync(join(dir, folder, 'notes.txt'), 'x');
    const scanned = await scanLgg(dir, { size: 16 });
    expect(reasons(scanned.summary.problems, dir)).toEqual([
      [`${folder}/${folder}_2 (copy).TIF`, 'TIFF not named as a slice (<folder>_<n>.tif) or its mask (<folder>_<n>_mask.tif), left out'],
      [`${folder}/${folder}_6a.tif`, 'TIFF not named as a slice (<folder>_<n>.tif) or its mask (<folder>_<n>_mask.tif), left out'],
    ]);
    await expect(scanLgg(dir, { size: 16, strict: true })).rejects.toThrow(DataError);
  });

  it('reports an empty folder among the patients, and one it cannot list', async () => {
    const { dir } = copy('empty');
    mkdirSync(join(dir, 'TCGA_XX_0000_20000101'));
    const scanned = await scanLgg(dir, { size: 16 });
    expect(reasons(scanned.summary.problems, dir)).toEqual([['TCGA_XX_0000_20000101', 'folder without slices (<folder>_<n>.tif), left out']]);
    expect(scanned.patients).toHaveLength(3);
    // A folder without read permission: root reads anything, so this part only runs as a user.
    if (process.getuid?.() !== 0) {
      const locked = join(dir, 'TCGA_XX_0001_20000101');
      mkdirSync(locked);
      chmodSync(locked, 0o000);
      try {
        const again = await scanLgg(dir, { size: 16 });
        expect(again.summary.problems.map((p) => p.file)).toContain(locked);
        expect(again.summary.problems.find((p) => p.file === locked)!.reason).toMatch(/^cannot list the folder/);
      } finally {
        chmodSync(locked, 0o755);
      }
    }
  });

  it('orders patient folders by code point, whatever the locale', async () => {
    // ICU's Lithuanian collation puts Y with I, before P; code points put P before Y.
    const dir = join(temp, 'order');
    await writeSyntheticDataset(dir, { patients: 2, seed: 6, size: 16, slicesPerPatient: [2, 2] });
    const made = readdirSync(dir).filter((n) => n.startsWith('TCGA_')).sort();
    const renamed = ['TCGA_DU_A5TY_19990101', 'TCGA_DU_A5TP_19990101'];
    for (const [i, from] of made.entries()) {
      cpSync(join(dir, from), join(dir, renamed[i]!), { recursive: true });
      for (const f of readdirSync(join(dir, renamed[i]!))) {
        cpSync(join(dir, renamed[i]!, f), join(dir, renamed[i]!, f.replace(from, renamed[i]!)));
        rmSync(join(dir, renamed[i]!, f));
      }
      rmSync(join(dir, from), { recursive: true });
    }
    expect('A5TY'.localeCompare('A5TP', 'lt')).toBeLessThan(0);
    const want = ['TCGA_DU_A5TP_19990101', 'TCGA_DU_A5TY_19990101'];
    expect((await scanLgg(dir, { size: 16 })).patients.map((p) => p.folder)).toEqual(want);
    // The scan in a process whose locale is Lithuanian (Node takes its default locale from LANG).
    const bundle = join(temp, 'scan.mjs');
    await build({ entryPoints: ['src/data/lgg.ts'], bundle: true, platform: 'node', format: 'esm', outfile: bundle, logLevel: 'silent' });
    const script = join(temp, 'order.mjs');
    writeFileSync(script, `import { scanLgg } from ${JSON.stringify(bundle)};\nconsole.log(Intl.DateTimeFormat().resolvedOptions().locale, JSON.stringify((await scanLgg(${JSON.stringify(dir)}, { size: 16 })).patients.map((p) => p.folder)));\n`);
    const out = execFileSync(process.execPath, [script], { env: { ...process.env, LANG: 'lt_LT.UTF-8', LC_ALL: 'lt_LT.UTF-8' }, encoding: 'utf8' }).trim();
    const [locale, order] = out.split(' ');
    expect(locale).toBe('lt-LT');
    expect(JSON.parse(order!)).toEqual(want);
  });
});
