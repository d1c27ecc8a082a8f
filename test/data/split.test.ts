// Patient-level splits: no patient on two sides, the notebook's fractions, k-fold coverage,
// seeded determinism, class counts, and the slice-level split only with a leakage warning.

import { describe, expect, it, vi } from 'vitest';
import { DataError } from '../../src/data/errors.js';
import { ArgumentError } from '../../src/errors.js';
import { checkNoPatientLeak, classCounts, kFoldSplits, leakingPatients, splitDataset, type SliceLike } from '../../src/data/split.js';
import { rng } from '../helpers/rng.js';

interface FakeSlice extends SliceLike {
  id: string;
}

/** Patients with 20..88 slices, about a third with tumour, like the real data set. */
function fakeSlices(patients: number, seed: number): FakeSlice[] {
  const r = rng(seed);
  const out: FakeSlice[] = [];
  for (let p = 0; p < patients; p++) {
    const n = 20 + Math.floor(r() * 69);
    for (let k = 1; k <= n; k++) out.push({ id: `P${p}_${k}`, patient: `TCGA_XX_${1000 + p}`, label: r() < 0.35 ? 1 : 0 });
  }
  return out;
}

const DATA = fakeSlices(110, 1);

describe('splitDataset by patient', () => {
  it('keeps each patient on one side and loses no slice', () => {
    for (const seed of [0, 1, 2, 3]) {
      const split = splitDataset(DATA, { seed });
      expect(leakingPatients(split)).toEqual([]);
      expect(() => checkNoPatientLeak(split)).not.toThrow();
      const ids = [...split.train, ...split.val, ...split.test].map((s) => s.id).sort();
      expect(ids).toEqual(DATA.map((s) => s.id).sort());
    }
  });

  it("uses the notebook's fractions, in patients: 0.9/0.1 then 0.8/0.2", () => {
    const split = splitDataset(DATA, { seed: 5 });
    expect(split.level).toBe('patient');
    expect([split.patients.train.length, split.patients.val.length, split.patients.test.length]).toEqual([79, 20, 11]);
    const custom = splitDataset(DATA, { seed: 5, test: 0.2, val: 0.25 });
    expect([custom.patients.train.length, custom.patients.val.length, custom.patients.test.length]).toEqual([66, 22, 22]);
    const noTest = splitDataset(DATA, { seed: 5, test: 0 });
    expect(noTest.test).toEqual([]);
  });

  it('is the same for the same seed and different for another', () => {
    const a = splitDataset(DATA, { seed: 42 });
    const b = splitDataset(DATA, { seed: 42 });
    const c = splitDataset(DATA, { seed: 43 });
    expect(b.patients).toEqual(a.patients);
    expect(b.train.map((s) => s.id)).toEqual(a.train.map((s) => s.id));
    expect(c.patients.test).not.toEqual(a.patients.test);
  });

  it('counts classes per split', () => {
    const split = splitDataset(DATA, { seed: 7 });
    for (const part of ['train', 'val', 'test'] as const) {
      const slices = split[part];
      expect(split.counts[part]).toEqual({
        patients: split.patients[part].length,
        slices: slices.length,
        tumour: slices.filter((s) => s.label === 1).length,
        empty: slices.filter((s) => s.label === 0).length,
      });
    }
    expect(classCounts([])).toEqual({ patients: 0, slices: 0, tumour: 0, empty: 0 });
  });

  it('gives every non-empty part at least one patient on tiny data sets', () => {
    const split = splitDataset(fakeSlices(3, 2), { seed: 1 });
    expect([split.patients.train.length, split.patients.val.length, split.patients.test.length]).toEqual([1, 1, 1]);
  });

  it('rejects fractions outside [0, 1)', () => {
    expect(() => splitDataset(DATA, { seed: 0, test: 1 })).toThrow(ArgumentError);
    expect(() => splitDataset(DATA, { seed: 0, val: -0.1 })).toThrow(ArgumentError);
  });
});

describe('slice-level split (the notebook’s, leaky)', () => {
  it('only on request, and it warns about leakage', () => {
    const warn = vi.fn();
    const split = splitDataset(DATA, { seed: 1, level: 'slice', warn });
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]![0])).toMatch(/patient/);
    expect(split.level).toBe('slice');
    expect(split.train.length + split.val.length + split.test.length).toBe(DATA.length);
    expect(split.test.length).toBe(Math.round(0.1 * DATA.length));
    expect(leakingPatients(split).length).toBeGreaterThan(50);
    expect(() => checkNoPatientLeak(split)).toThrow(DataError);
  });

  it('warns through console.warn by default', () => {
    const spy = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      splitDataset(DATA, { seed: 1, level: 'slice' });
      expect(spy).toHaveBeenCalledTimes(1);
    } finally {
      spy.mockRestore();
    }
  });
});

describe('kFoldSplits', () => {
  it('validates each patient exactly once and never trains on it in that fold', () => {
    const k = 5;
    const folds = kFoldSplits(DATA, { k, seed: 3 });
    expect(folds).toHaveLength(k);
    const validated = folds.flatMap((f) => f.patients.val).sort();
    expect(validated).toEqual([...new Set(DATA.map((s) => s.patient))].sort());
    const sizes = folds.map((f) => f.patients.val.length);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    for (const f of folds) {
      expect(leakingPatients(f)).toEqual([]);
      expect(f.train.length + f.val.length).toBe(DATA.length);
    }
  });

  it('can hold out one test set shared by all folds', () => {
    const folds = kFoldSplits(DATA, { k: 4, seed: 3, test: 0.1 });
    const test = folds[0]!.patients.test;
    expect(test).toHaveLength(11);
    for (const f of folds) {
      expect(f.patients.test).toEqual(test);
      expect(leakingPatients(f)).toEqual([]);
      expect(f.train.length + f.val.length + f.test.length).toBe(DATA.length);
    }
  });

  it('stratifies the folds by tumour burden: each gets its share of tumour-free and tumour-heavy patients', () => {
    // 40 patients: 20 with no tumour slice and 20 with tumour in every slice, in an order that a
    // plain cut into groups could deal unevenly for some seeds.
    const slices: SliceLike[] = [];
    for (let p = 0; p < 40; p++) for (let s = 0; s < 5; s++) slices.push({ patient: `P${p}`, label: p % 2 });
    for (const seed of [0, 1, 2, 3, 4, 5]) {
      for (const k of [4, 5, 3]) {
        const folds = kFoldSplits(slices, { k, seed });
        const heavy = folds.map((f) => f.patients.val.filter((p) => Number(p.slice(1)) % 2 === 1).length);
        const sizes = folds.map((f) => f.patients.val.length);
        expect(Math.max(...heavy) - Math.min(...heavy), `seed ${seed}, k ${k}: tumour patients per fold ${heavy}`).toBeLessThanOrEqual(1);
        expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
      }
    }
    // Within a stratum the deal is seeded: other seeds, other folds.
    expect(kFoldSplits(slices, { k: 4, seed: 1 })[0].patients.val).not.toEqual(kFoldSplits(slices, { k: 4, seed: 2 })[0].patients.val);
  });

  it('is seeded and rejects impossible k', () => {
    expect(kFoldSplits(DATA, { k: 3, seed: 9 }).map((f) => f.patients.val)).toEqual(kFoldSplits(DATA, { k: 3, seed: 9 }).map((f) => f.patients.val));
    expect(() => kFoldSplits(DATA, { k: 1, seed: 0 })).toThrow(ArgumentError);
    expect(() => kFoldSplits(fakeSlices(3, 1), { k: 4, seed: 0 })).toThrow(DataError);
    expect(() => kFoldSplits(fakeSlices(3, 1), { k: 4, seed: 0 })).toThrow('split: 4 folds need 4 patients outside the test set, and 3 of 3 are');
    expect(() => kFoldSplits(fakeSlices(5, 1), { k: 4, seed: 0, test: 0.4 })).toThrow('split: 4 folds need 4 patients outside the test set, and 3 of 5 are; the test fraction 0.4 holds out 2 of them');
    expect(() => kFoldSplits(DATA, { k: 2.5, seed: 0 })).toThrow('kFoldSplits: k must be an integer >= 2, got the number 2.5');
  });
});

describe('splits do not depend on the order the slices come in', () => {
  // A folder listing sorted by the machine's locale (lgg.ts sorted with localeCompare before a058a35) orders
  // kaggle_3m's TCGA_DU_A5TY before TCGA_DU_A5TP under Lithuanian collation: the same patients
  // in another order must give the same split for a seed.
  function reordered(slices: readonly FakeSlice[], seed: number): FakeSlice[] {
    const byPatient = new Map<string, FakeSlice[]>();
    for (const s of slices) byPatient.set(s.patient, [...(byPatient.get(s.patient) ?? []), s]);
    const groups = [...byPatient.values()];
    const r = rng(seed);
    for (let i = groups.length - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      [groups[i], groups[j]] = [groups[j]!, groups[i]!];
    }
    return groups.flat();
  }

  it('splitDataset gives each patient the same part', () => {
    for (const seed of [0, 1, 2]) {
      const a = splitDataset(DATA, { seed });
      const b = splitDataset(reordered(DATA, 100 + seed), { seed });
      for (const part of ['train', 'val', 'test'] as const) expect([...b.patients[part]].sort(), `seed ${seed}, ${part}`).toEqual([...a.patients[part]].sort());
    }
  });

  it('kFoldSplits gives each patient the same fold and the same test set', () => {
    for (const seed of [0, 1]) {
      const a = kFoldSplits(DATA, { k: 5, seed, test: 0.1 });
      const b = kFoldSplits(reordered(DATA, 200 + seed), { k: 5, seed, test: 0.1 });
      a.forEach((fold, i) => {
        expect([...b[i]!.patients.val].sort(), `seed ${seed}, fold ${i}`).toEqual([...fold.patients.val].sort());
        expect([...b[i]!.patients.test].sort()).toEqual([...fold.patients.test].sort());
      });
    }
  });
});
