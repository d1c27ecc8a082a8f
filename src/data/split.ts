// Train / validation / test splits of the LGG slices by patient. Neighbouring slices of one
// patient are nearly the same picture, so a split that puts them on both sides measures memory,
// not generalisation: every split here keeps each patient whole, and the notebook's random
// slice-level split is only there behind `level: 'slice'`, with a warning.
//
// The notebook splits 0.9 / 0.1 into (train + val) / test, then 0.8 / 0.2 into train / val:
// train 72 %, val 18 %, test 10 %, here counted in patients. Seeded: the same seed and the
// same patients give the same split on every machine, whatever order their slices come in. Also the seeded RNG the data pipeline shares.

import { splitmix32 } from '../util/random.js';
import { ArgumentError } from '../errors.js';
import { describeValue, expectChoice, expectFunction, expectKnownOptions, expectNumber, expectOptions } from '../graph/args.js';
import { DataError } from './errors.js';
import { byCodePoint } from './lgg-names.js';

/** Seeded uniform numbers in [0, 1): the shared SplitMix32-style generator. */
export const seededRandom = splitmix32;

/** Murmur3's 32-bit finaliser: every input bit flips about half the output bits. */
function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** A seed for a sub-stream (an epoch, a patient): hash-combined, so (seed, salt) pairs do not collide by symmetry. */
export function deriveSeed(seed: number, ...salts: number[]): number {
  let h = mix32((seed >>> 0) ^ 0x2545f491);
  for (const s of salts) h = mix32((Math.imul(h, 31) + (s >>> 0) + 0x9e3779b9) >>> 0);
  return h;
}

/** A shuffled copy (Fisher-Yates). */
export function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** What a split needs to know about a slice (LggSlice has it). */
export interface SliceLike {
  patient: string;
  label: number;
}

export interface ClassCounts {
  patients: number;
  slices: number;
  /** Slices with tumour (label 1). */
  tumour: number;
  empty: number;
}

export interface DataSplit<T extends SliceLike> {
  level: 'patient' | 'slice';
  train: T[];
  val: T[];
  test: T[];
  patients: { train: string[]; val: string[]; test: string[] };
  counts: { train: ClassCounts; val: ClassCounts; test: ClassCounts };
}

export interface SplitOptions {
  seed: number;
  /** Fraction held out for test (default 0.1, the notebook's). */
  test?: number;
  /** Fraction of what remains that goes to validation (default 0.2, the notebook's). */
  val?: number;
  /** 'slice' reproduces the notebook's random slice-level split, which leaks patients: it warns. */
  level?: 'patient' | 'slice';
  /** Where the leakage warning goes (default console.warn). */
  warn?: (message: string) => void;
}

export function classCounts(slices: readonly SliceLike[]): ClassCounts {
  checkSlices('classCounts', slices);
  const tumour = slices.filter((s) => s.label === 1).length;
  return { patients: new Set(slices.map((s) => s.patient)).size, slices: slices.length, tumour, empty: slices.length - tumour };
}

function checkFraction(op: string, name: string, f: unknown): void {
  expectNumber(op, name, f, { min: 0, below: 1 });
}

/**
 * Slices of { patient, label }: a slice without a patient would be grouped under 'undefined' with
 * every other such slice, and a number for the list failed inside as "slices.map is not a function".
 */
function checkSlices(op: string, slices: unknown): asserts slices is SliceLike[] {
  if (!Array.isArray(slices)) throw new ArgumentError(`${op}: slices must be an array of { patient, label }, got ${describeValue(slices)}`);
  const bad = slices.findIndex((s: Partial<SliceLike> | null) => typeof s?.patient !== 'string' || typeof s.label !== 'number');
  if (bad >= 0) throw new ArgumentError(`${op}: slices[${bad}] must have a patient (a string) and a label (a number), got ${describeValue(slices[bad])}`);
}

/** The options of a split, by key and type, before anything is drawn: an unknown key kept its default silently. */
function checkSplitOptions(op: string, slices: unknown, options: unknown, known: readonly string[]): asserts options is SplitOptions & KFoldOptions {
  checkSlices(op, slices);
  expectOptions(op, options, '{ seed: 1 }', true);
  const o = options as Record<string, unknown>;
  expectKnownOptions(op, o, known, {});
  expectNumber(op, 'seed', o.seed, { integer: true });
  for (const key of ['test', 'val'] as const) if (known.includes(key) && o[key] !== undefined) checkFraction(op, key, o[key]);
  if (known.includes('level')) expectChoice(op, 'level', o.level, ['patient', 'slice']);
  if (o.warn !== undefined) expectFunction(op, 'warn', o.warn);
}

/** How many of n go to a part of fraction f: rounded, but at least one when f > 0 and some remain. */
function partSize(n: number, f: number): number {
  if (f === 0 || n < 2) return 0;
  return Math.min(n - 1, Math.max(1, Math.round(f * n)));
}

function patientsInOrder(slices: readonly SliceLike[]): string[] {
  return [...new Set(slices.map((s) => s.patient))];
}

/**
 * The patients sorted by code point, what the seeded shuffles start from: so the split depends on
 * the seed and the set of patients alone, not on the order the slices came in (a folder listing
 * sorted by the machine's locale puts `A5TY` before `A5TP` in Lithuanian, Z before T in Estonian).
 */
function patientsSorted(slices: readonly SliceLike[]): string[] {
  return patientsInOrder(slices).sort(byCodePoint);
}

function assemble<T extends SliceLike>(slices: readonly T[], level: DataSplit<T>['level'], sets: { train: Set<string>; val: Set<string>; test: Set<string> }, patients: DataSplit<T>['patients']): DataSplit<T> {
  const pick = (set: Set<string>) => slices.filter((s) => set.has(s.patient));
  const train = pick(sets.train);
  const val = pick(sets.val);
  const test = pick(sets.test);
  return { level, train, val, test, patients, counts: { train: classCounts(train), val: classCounts(val), test: classCounts(test) } };
}

/** Splits by patient (default) into train, val and test. Slices keep their input order within a set. */
export function splitDataset<T extends SliceLike>(slices: readonly T[], options: SplitOptions): DataSplit<T> {
  checkSplitOptions('splitDataset', slices, options, ['seed', 'test', 'val', 'level', 'warn']);
  const testFraction = options.test ?? 0.1;
  const valFraction = options.val ?? 0.2;
  if (options.level === 'slice') return splitSlices(slices, options.seed, testFraction, valFraction, options.warn ?? console.warn);

  const order = shuffled(patientsSorted(slices), seededRandom(options.seed));
  const nTest = partSize(order.length, testFraction);
  const nVal = partSize(order.length - nTest, valFraction);
  const test = order.slice(0, nTest);
  const val = order.slice(nTest, nTest + nVal);
  const train = order.slice(nTest + nVal);
  return assemble(slices, 'patient', { train: new Set(train), val: new Set(val), test: new Set(test) }, { train, val, test });
}

/** The notebook's split: slices shuffled one by one. Kept for comparison only; it warns. */
function splitSlices<T extends SliceLike>(slices: readonly T[], seed: number, testFraction: number, valFraction: number, warn: (m: string) => void): DataSplit<T> {
  const order = shuffled(slices, seededRandom(seed));
  const nTest = partSize(order.length, testFraction);
  const nVal = partSize(order.length - nTest, valFraction);
  const test = order.slice(0, nTest);
  const val = order.slice(nTest, nTest + nVal);
  const train = order.slice(nTest + nVal);
  const names = (part: T[]) => patientsInOrder(part);
  const split: DataSplit<T> = {
    level: 'slice',
    train,
    val,
    test,
    patients: { train: names(train), val: names(val), test: names(test) },
    counts: { train: classCounts(train), val: classCounts(val), test: classCounts(test) },
  };
  const leaking = leakingPatients(split).length;
  warn(
    `split: slice-level split (level: 'slice'): ${leaking} of ${patientsInOrder(slices).length} patients have slices in more than one split. ` +
      'Neighbouring slices of a patient are nearly identical, so validation and test scores measure recall of ' +
      "patients already seen in training and overstate accuracy on new patients. Use the default level: 'patient' for honest numbers.",
  );
  return split;
}

export interface KFoldOptions {
  k: number;
  seed: number;
  /** Fraction of patients held out as a test set shared by all folds (default 0: no test set). */
  test?: number;
}

/**
 * k folds by patient: fold i validates on the i-th group of patients and trains on the rest.
 * The groups are stratified by tumour burden, as scikit-learn's StratifiedGroupKFold aims to be:
 * the patients outside the test set, in seeded random order, are sorted (stably) by their share of
 * tumour slices and dealt out k at a time, one to each fold: within a round the heaviest patient
 * goes to the fold with the least tumour share so far, and so on (ties in a seeded random order).
 * So every fold gets its share of tumour-heavy and tumour-free patients (a fold of only
 * tumour-free patients would score Dice on empty masks alone), and fold sizes differ by at most one.
 */
export function kFoldSplits<T extends SliceLike>(slices: readonly T[], options: KFoldOptions): DataSplit<T>[] {
  checkSplitOptions('kFoldSplits', slices, options, ['k', 'seed', 'test']);
  const { k, seed } = options;
  const testFraction = options.test ?? 0;
  expectNumber('kFoldSplits', 'k', k, { integer: true, min: 2 });
  const random = seededRandom(seed);
  const order = shuffled(patientsSorted(slices), random);
  const nTest = partSize(order.length, testFraction);
  const test = order.slice(0, nTest);
  const rest = order.slice(nTest);
  if (k > rest.length) {
    // Each fold validates on a group of one patient or more: say what leaves too few.
    const held = nTest ? `; the test fraction ${testFraction} holds out ${nTest} of them` : '';
    throw new DataError(`split: ${k} folds need ${k} patients outside the test set, and ${rest.length} of ${order.length} are${held}`);
  }
  const burden = tumourShare(slices);
  const ranked = [...rest].sort((a, b) => burden.get(a)! - burden.get(b)!);
  const folds: string[][] = Array.from({ length: k }, () => []);
  const load = new Array<number>(k).fill(0);
  for (let i = 0; i < ranked.length; i += k) {
    // Every fold has i / k patients here, so the last, partial round keeps sizes within one.
    const targets = shuffled([...Array(k).keys()], random).sort((a, b) => load[a] - load[b]);
    const round = ranked.slice(i, i + k).reverse();
    round.forEach((patient, j) => {
      folds[targets[j]].push(patient);
      load[targets[j]] += burden.get(patient)!;
    });
  }
  return folds.map((val, i) => {
    const train = folds.filter((_, j) => j !== i).flat();
    return assemble(slices, 'patient', { train: new Set(train), val: new Set(val), test: new Set(test) }, { train, val, test: test.slice() });
  });
}

/**
 * The split a run recorded (its split.json's patients) over `slices`: each part the slices of its
 * patients, in input order. A DataError names `source` and the first patients missing from the
 * slices (a data folder that lost them since) or recorded twice.
 */
export function splitByPatients<T extends SliceLike>(slices: readonly T[], patients: DataSplit<T>['patients'], source: string): DataSplit<T> {
  const present = new Set(slices.map((s) => s.patient));
  const all = [...patients.train, ...patients.val, ...patients.test];
  const missing = all.filter((p) => !present.has(p));
  if (missing.length) {
    throw new DataError(`${source}: ${missing.length} of the run's ${all.length} patients are not in the data (${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', ...' : ''}); give the data folder the run was trained on`);
  }
  if (new Set(all).size !== all.length) throw new DataError(`${source}: a patient is recorded in two parts of the split`);
  return assemble(slices, 'patient', { train: new Set(patients.train), val: new Set(patients.val), test: new Set(patients.test) }, { train: [...patients.train], val: [...patients.val], test: [...patients.test] });
}

/** Each patient's share of slices with tumour (label 1). */
function tumourShare(slices: readonly SliceLike[]): Map<string, number> {
  const counts = new Map<string, [number, number]>();
  for (const s of slices) {
    const c = counts.get(s.patient) ?? [0, 0];
    c[0] += s.label === 1 ? 1 : 0;
    c[1] += 1;
    counts.set(s.patient, c);
  }
  return new Map([...counts].map(([p, [tumour, all]]) => [p, tumour / all]));
}

/** Patients whose slices sit in more than one part of a split. */
export function leakingPatients(split: DataSplit<SliceLike>): string[] {
  const seen = new Map<string, Set<string>>();
  for (const part of ['train', 'val', 'test'] as const) {
    for (const s of split[part]) {
      const parts = seen.get(s.patient) ?? new Set<string>();
      parts.add(part);
      seen.set(s.patient, parts);
    }
  }
  return [...seen].filter(([, parts]) => parts.size > 1).map(([p]) => p);
}

/** Throws a DataError when any patient appears in two parts of the split. */
export function checkNoPatientLeak(split: DataSplit<SliceLike>): void {
  const parts = ['train', 'val', 'test'] as const;
  if (typeof split !== 'object' || split === null || !parts.every((p) => Array.isArray(split[p]))) {
    throw new ArgumentError(`checkNoPatientLeak: split must be a split's { train, val, test } (splitDataset's), got ${describeValue(split)}`);
  }
  const leaking = leakingPatients(split);
  if (leaking.length > 0) {
    throw new DataError(`split: ${leaking.length} patients appear in more than one of train/val/test (${leaking.slice(0, 3).join(', ')}${leaking.length > 3 ? ', ...' : ''})`);
  }
}
