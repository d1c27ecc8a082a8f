// kaggle_3m folders whose patient folders (or slice files) are symlinks to a shared copy are read
// like real ones: scanLgg follows the links instead of silently training on the real folders only.

import { mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scanLgg, type LggDataset } from '../../src/data/lgg.js';
import { writeSyntheticDataset } from '../../src/data/synth.js';

const temp = mkdtempSync(join(tmpdir(), 'dawnet-lgg-links-'));
const real = join(temp, 'real');
let direct: LggDataset;

beforeAll(async () => {
  await writeSyntheticDataset(real, { patients: 3, seed: 5, size: 16, slicesPerPatient: [4, 6] });
  direct = await scanLgg(real, { size: 16 });
});
afterAll(() => rmSync(temp, { recursive: true, force: true }));

const patientFolders = (dir: string) => readdirSync(dir).filter((n) => n.startsWith('TCGA_')).sort();
const ids = (d: LggDataset) => d.slices.map((s) => s.id).sort();

describe('scanLgg through symlinks', () => {
  it('reads a data set whose patient folders are all symlinks', async () => {
    const linked = join(temp, 'all-links');
    mkdirSync(linked);
    for (const f of patientFolders(real)) symlinkSync(join(real, f), join(linked, f), 'dir');
    const scanned = await scanLgg(linked, { size: 16 });
    expect(ids(scanned)).toEqual(ids(direct));
  });

  it('reads symlinked patient folders beside real ones', async () => {
    const mixed = join(temp, 'mixed');
    mkdirSync(mixed);
    const [first, ...rest] = patientFolders(real);
    const moved = join(temp, 'elsewhere');
    mkdirSync(moved);
    await writeSyntheticDataset(join(temp, 'copy'), { patients: 3, seed: 5, size: 16, slicesPerPatient: [4, 6] });
    renameSync(join(temp, 'copy', first!), join(mixed, first!));
    for (const f of rest) symlinkSync(join(real, f), join(mixed, f), 'dir');
    const scanned = await scanLgg(mixed, { size: 16 });
    expect(ids(scanned)).toEqual(ids(direct));
  });

  it('reads a patient folder whose slice files are symlinks', async () => {
    const files = join(temp, 'file-links');
    for (const f of patientFolders(real)) {
      mkdirSync(join(files, f), { recursive: true });
      for (const n of readdirSync(join(real, f))) symlinkSync(join(real, f, n), join(files, f, n), 'file');
    }
    const scanned = await scanLgg(files, { size: 16 });
    expect(ids(scanned)).toEqual(ids(direct));
  });
});
