// The synthetic data set: kaggle_3m's layout and file formats, determinism per seed, tumours on
// about a third of the slices running through neighbouring slices, learnable but not by a threshold;
// and the `dawnet synth` command.

import { readdirSync, readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { runSynth } from '../../src/cli/synth.js';
import { DataError } from '../../src/data/errors.js';
import { parseCsv } from '../../src/data/lgg.js';
import { LGG_CSV_COLUMNS, synthesizePatient, writeSyntheticDataset, type SynthOptions } from '../../src/data/synth.js';
import { decodeTiff, readTiffInfo } from '../../src/data/tiff.js';

const temp = mkdtempSync(join(tmpdir(), 'dawnet-synth-'));
afterAll(() => rmSync(temp, { recursive: true, force: true }));

/** Every file under dir, by relative path. */
function filesOf(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) {
      const full = join(entry.parentPath, entry.name);
      out.set(full.slice(dir.length + 1), readFileSync(full));
    }
  }
  return out;
}

describe('writeSyntheticDataset', () => {
  const options: SynthOptions = { patients: 3, seed: 21, size: 24, slicesPerPatient: [5, 8] };

  it('writes the kaggle_3m layout: patient folders, numbered slices with masks, data.csv', async () => {
    const dir = join(temp, 'layout');
    const summary = await writeSyntheticDataset(dir, options);
    const folders = readdirSync(dir).filter((n) => n !== 'data.csv').sort();
    expect(folders).toEqual([...summary.folders].sort());
    expect(readdirSync(dir)).toContain('data.csv');
    let slices = 0;
    for (const folder of folders) {
      expect(folder).toMatch(/^TCGA_[A-Z]{2}_\d{4}_\d{8}$/);
      const names = readdirSync(join(dir, folder));
      const images = names.filter((n) => !n.endsWith('_mask.tif'));
      expect(images.length).toBeGreaterThanOrEqual(5);
      expect(images.length).toBeLessThanOrEqual(8);
      for (let k = 1; k <= images.length; k++) {
        const image = readTiffInfo(readFileSync(join(dir, folder, `${folder}_${k}.tif`)));
        expect(image).toMatchObject({ width: 24, height: 24, channels: 3, bitsPerSample: 8, compression: 1 });
        const mask = decodeTiff(readFileSync(join(dir, folder, `${folder}_${k}_mask.tif`)));
        expect([mask.width, mask.height, mask.channels]).toEqual([24, 24, 1]);
        expect(mask.data.every((v) => v === 0 || v === 255)).toBe(true);
        slices++;
      }
    }
    expect(summary.slices).toBe(slices);

    const csv = parseCsv(readFileSync(join(dir, 'data.csv'), 'utf8'));
    expect(csv[0]).toEqual([...LGG_CSV_COLUMNS]);
    expect(csv[0]).toHaveLength(18);
    expect(csv.slice(1).map((r) => r[0]).sort()).toEqual(folders.map((f) => f.replace(/_\d{8}$/, '')).sort());
  });

  it('writes the same bytes for the same seed, and others for another seed', async () => {
    const a = filesOf(await writeSyntheticDataset(join(temp, 'a'), options).then((s) => s.dir));
    const b = filesOf(await writeSyntheticDataset(join(temp, 'b'), options).then((s) => s.dir));
    const c = filesOf(await writeSyntheticDataset(join(temp, 'c'), { ...options, seed: 22 }).then((s) => s.dir));
    expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
    for (const [name, bytes] of a) expect(b.get(name)!.equals(bytes), name).toBe(true);
    expect([...c.keys()].sort()).not.toEqual([...a.keys()].sort());
  });

  it('rejects impossible options', async () => {
    await expect(writeSyntheticDataset(join(temp, 'bad'), { patients: 0, seed: 1 })).rejects.toThrow(DataError);
    await expect(writeSyntheticDataset(join(temp, 'bad'), { patients: 1, seed: 1, slicesPerPatient: [5, 2] })).rejects.toThrow(DataError);
  });
});

describe('synthetic phantoms', () => {
  const size = 32;
  const options: SynthOptions = { patients: 10, seed: 5, size, slicesPerPatient: [20, 30] };
  const taken = new Set<string>();
  const patients = Array.from({ length: 10 }, (_, p) => synthesizePatient(p, options, taken));
  const hasTumour = (mask: Uint8Array) => mask.some((v) => v !== 0);

  it('puts tumour on about 35 % of slices, in one run of neighbouring slices that grows then shrinks', () => {
    const all = patients.flatMap((p) => p.slices);
    const fraction = all.filter((s) => hasTumour(s.mask)).length / all.length;
    expect(fraction).toBeGreaterThan(0.2);
    expect(fraction).toBeLessThan(0.5);
    for (const p of patients) {
      const area = p.slices.map((s) => s.mask.filter((v) => v !== 0).length);
      const first = area.findIndex((a) => a > 0);
      const last = area.length - 1 - [...area].reverse().findIndex((a) => a > 0);
      expect(area.slice(first, last + 1).every((a) => a > 0), p.folder).toBe(true);
      const peak = Math.max(...area);
      expect(area[first]).toBeLessThan(peak);
      expect(area[last]).toBeLessThan(peak);
    }
  });

  it('makes tumour FLAIR-bright, yet no FLAIR threshold segments it well', () => {
    const hist = { tumour: new Float64Array(256), other: new Float64Array(256) };
    for (const p of patients) {
      for (const s of p.slices) {
        for (let i = 0; i < size * size; i++) (s.mask[i] ? hist.tumour : hist.other)[s.image[3 * i + 1]!]!++;
      }
    }
    const mean = (h: Float64Array) => h.reduce((a, n, v) => a + n * v, 0) / h.reduce((a, n) => a + n, 0);
    const tumourTotal = hist.tumour.reduce((a, b) => a + b, 0);
    let bestDice = 0;
    for (let t = 0; t < 256; t++) {
      let tp = 0;
      let fp = 0;
      for (let v = t; v < 256; v++) {
        tp += hist.tumour[v]!;
        fp += hist.other[v]!;
      }
      bestDice = Math.max(bestDice, (2 * tp) / (2 * tp + fp + (tumourTotal - tp)));
    }
    expect(mean(hist.tumour)).toBeGreaterThan(mean(hist.other) + 40);
    expect(bestDice).toBeGreaterThan(0.3);
    expect(bestDice).toBeLessThan(0.85);
  });

  it('gives every patient a distinct name and an 18-field csv row', () => {
    expect(new Set(patients.map((p) => p.patient)).size).toBe(patients.length);
    for (const p of patients) {
      expect(p.csvRow).toHaveLength(18);
      expect(p.csvRow[0]).toBe(p.patient);
    }
  });
});

describe('dawnet synth', () => {
  it('writes a data set from flags and prints a summary', async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      const out = join(temp, 'cli');
      await runSynth(['--out', out, '--patients', '2', '--seed', '4', '--size', '16', '--slices', '3-4']);
      expect(readdirSync(out).filter((n) => n.startsWith('TCGA_'))).toHaveLength(2);
      expect(String(log.mock.calls.at(-1)![0])).toMatch(/2 patients/);
      await runSynth(['--help']);
      expect(String(log.mock.calls.at(-1)![0])).toMatch(/--patients/);
    } finally {
      log.mockRestore();
    }
  });

  it('rejects a missing --out and a bad --slices', async () => {
    await expect(runSynth(['--patients', '2'])).rejects.toThrow(/--out/);
    await expect(runSynth(['--out', join(temp, 'x'), '--slices', 'many'])).rejects.toThrow(/--slices/);
  });
});

// Node 20's recursive mkdir retries forever under /proc; the writers create folders one by one.
describe.runIf(process.platform === 'linux')('the writer into a folder that cannot be made', () => {
  it('writeSyntheticDataset fails at once, naming the folder', async () => {
    await expect(writeSyntheticDataset('/proc/dawnet-no-such/data', { patients: 1, size: 8, slicesPerPatient: [1, 1], seed: 1 })).rejects.toThrow(
      /cannot create folder \/proc\/dawnet-no-such\/data:/,
    );
  }, 10_000);
});
