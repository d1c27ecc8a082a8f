// The run's data: scan the kaggle_3m folder, split by patient (the split saved in the run folder),
// and serve batches to fit() as GPU tensors by the run's settings (data/lgg-dataset.ts: decoding
// ahead on worker threads, normalisation on the host, augmentation on the GPU for training only).

import { lggDataset } from '../data/lgg-dataset.js';
import { lggVolumeDataset, type VolumeNormalization } from '../data/lgg-volumes.js';
import { scanLgg, type LggDataset, type LggSlice } from '../data/lgg.js';
import { kFoldSplits, splitByPatients, splitDataset, type DataSplit } from '../data/split.js';
import { FormatError } from '../errors.js';
import { makeFolder, nodeFs, nodePath, writeFileAtomic } from '../io/files.js';
import type { Dataset } from '../train/fit.js';
import type { TrainConfig } from './config.js';
import { fileExists, readJson, runFiles } from './run-dir.js';

export interface PreparedData {
  dataset: LggDataset;
  split: DataSplit<LggSlice>;
  /**
   * Writes the list of skipped files to the problems file the log named (or removes an older list
   * when nothing was skipped). Left to the caller: a new run over an old one (train --overwrite)
   * writes it only once the old run's files are cleared, so a failed overwrite leaves the old run's
   * list as it was.
   */
  writeProblems(): Promise<void>;
}

/** What a run folder's split.json holds: the split's level and its patients per part. */
export interface SavedSplit {
  level: 'patient' | 'slice';
  patients: DataSplit<LggSlice>['patients'];
}

/**
 * Scans the data and splits it: by `saved` (a run's split.json, `source` its path) where the run
 * recorded one by patient, so that resuming and evaluating a run use the patients it was trained
 * on even if the data folder gained patients or the split's algorithm changed since; else as the
 * config says (a slice-level split is recomputed from its seed, its slices not being recorded).
 * The skipped files are named in the log as listed in `problemsFile` (by default the run folder's),
 * which writeProblems() writes.
 */
export async function prepareData(c: TrainConfig, log: (m: string) => void, saved?: { split: SavedSplit; source: string }, problemsFile: string | null = dataProblemsFile(c.out)): Promise<PreparedData> {
  const dataset = await scanData(c, log, problemsFile);
  const lines = problemLines(dataset);
  const writeProblems = async () => {
    if (problemsFile) await writeProblemsFile(problemsFile, lines);
  };
  const bySaved = saved?.split.level === 'patient';
  const split = bySaved
    ? splitByPatients(dataset.slices, saved!.split.patients, saved!.source)
    : c.folds
      ? foldSplit(dataset.slices, c, log)
      : splitDataset(dataset.slices, { seed: c.seed, test: c.testFraction, val: c.valFraction, level: c.split, warn: log });
  if (bySaved) log(`split: the run's own, from ${saved!.source}`);
  if (c.limit > 0) {
    split.train = split.train.slice(0, c.limit);
    split.val = split.val.slice(0, Math.max(1, Math.ceil(c.limit / 4)));
    split.test = split.test.slice(0, Math.max(1, Math.ceil(c.limit / 4)));
  }
  for (const part of ['train', 'val', 'test'] as const) {
    const k = split.counts[part];
    log(`split ${part.padEnd(5)}: ${k.patients} patients, ${split[part].length} slices used (${k.tumour} tumour / ${k.empty} empty in full split)`);
  }
  return { dataset, split, writeProblems };
}

/** Where a run folder lists the data files its scan skipped. */
export const dataProblemsFile = (dir: string): string => runFiles(dir).dataProblems;

/** Skipped files named on the terminal; the rest are in the problems file. */
const PROBLEMS_SHOWN = 10;

/**
 * The kaggle_3m folder of c.data scanned and its summary logged, with every skipped file and its
 * reason. A broken download can skip thousands: `problemsFile` (where given, written by the caller:
 * PreparedData.writeProblems) lists them all, one a line, and the log names the first
 * PROBLEMS_SHOWN and the file; with none, the log names them all.
 */
async function scanData(c: TrainConfig, log: (m: string) => void, problemsFile: string | null = null): Promise<LggDataset> {
  // Every slice is decoded once here, not only its header: a file whose pixels are damaged is
  // skipped now (or stops a --strict run), not found at its first batch or, for a test patient,
  // after the whole training. The files are read whole either way; decoding them costs little.
  const dataset = await scanLgg(c.data, { size: c.size, strict: c.strict });
  const s = dataset.summary;
  log(`data: ${s.patients} patients, ${s.slices} slices (${s.tumourSlices} with tumour) in ${dataset.root}`);
  const lines = problemLines(dataset);
  if (!lines.length) return dataset;
  const shown = problemsFile ? lines.slice(0, PROBLEMS_SHOWN) : lines;
  log(`data: skipped ${lines.length} problem file(s)${problemsFile ? `, all listed in ${problemsFile}` : ''}:`);
  for (const line of shown) log(`  ${line}`);
  if (shown.length < lines.length) log(`  ... and ${lines.length - shown.length} more in ${problemsFile}`);
  return dataset;
}

const problemLines = (dataset: LggDataset): string[] => dataset.summary.problems.map((p) => `${p.file}: ${p.reason}`);

/** The list of skipped files, one a line; a scan that skipped nothing removes an older list, so a folder never keeps another scan's. */
async function writeProblemsFile(path: string, lines: string[]): Promise<void> {
  const fs = await nodeFs();
  if (!lines.length) {
    await fs.rm(path, { force: true });
    return;
  }
  await makeFolder((await nodePath()).dirname(path));
  await writeFileAtomic(path, lines.map((l) => `${l}\n`).join(''));
}

/**
 * The slices a run (or an ensemble, `runDir` its first member) is scored on: its test patients,
 * by its split.json; or with `allPatients` every patient of the data folder, an external test
 * set, with a warning naming how many of them the run trained or validated on.
 */
export async function evaluationSlices(c: TrainConfig, runDir: string, log: (m: string) => void, allPatients = false): Promise<LggSlice[]> {
  const saved = await savedSplit(runDir);
  // Scoring writes no list into the run folder (it holds the training's): the log names every file.
  if (!allPatients) return (await prepareData(c, log, saved, null)).split.test;
  const dataset = await scanData(c, log);
  const seen = new Set([...(saved?.split.patients.train ?? []), ...(saved?.split.patients.val ?? [])]);
  const overlap = [...new Set(dataset.slices.map((s) => s.patient))].filter((p) => seen.has(p));
  if (overlap.length) log(`warning: ${overlap.length} of these patients were in ${runDir}'s training or validation split (${overlap.slice(0, 3).join(', ')}${overlap.length > 3 ? ', ...' : ''}): the score is not external for them`);
  log(`split: every patient of ${c.data} (an external test set)`);
  return dataset.slices;
}

/** Fold c.fold of c.folds (kFoldSplits): the same seed gives every fold the same groups and test set. */
function foldSplit(slices: LggSlice[], c: TrainConfig, log: (m: string) => void): DataSplit<LggSlice> {
  const fold = c.fold ?? 0;
  const folds = kFoldSplits(slices, { k: c.folds!, seed: c.seed, test: c.testFraction });
  log(`split: fold ${fold + 1} of ${c.folds} (validation: patient group ${fold + 1}; test: ${folds[fold].patients.test.length} patients held out of every fold)`);
  return folds[fold];
}

export interface RunDataset extends Dataset {
  close(): Promise<void>;
}

export function makeDataset(slices: LggSlice[], c: TrainConfig, opts: { train: boolean }): RunDataset {
  if ((c.volumeDepth ?? 0) > 0) {
    return lggVolumeDataset(slices, {
      batchSize: c.batch,
      size: c.size,
      depth: c.volumeDepth!,
      train: opts.train,
      augment: c.augment,
      normalize: c.normalize as VolumeNormalization,
      seed: c.seed,
      patchesPerVolume: c.patchesPerVolume ?? 1,
      workers: c.workers >= 0 ? c.workers : undefined,
    });
  }
  return lggDataset(slices, {
    batchSize: c.batch,
    size: c.size,
    task: c.task,
    train: opts.train,
    augment: c.augment,
    normalize: c.normalize,
    seed: c.seed,
    workers: c.workers >= 0 ? c.workers : undefined,
  });
}

/**
 * A run folder's split.json, for prepareData; undefined where the run has none yet. A damaged one
 * is a FormatError naming the file and the field (savedSplitFault): ignoring it would split again
 * and could move patients the run trained on into its test set.
 */
export async function savedSplit(runDir: string): Promise<{ split: SavedSplit; source: string } | undefined> {
  const source = runFiles(runDir).split;
  if (!(await fileExists(source))) return undefined;
  const split = await readJson<unknown>(source, 'split');
  const fault = savedSplitFault(split);
  if (fault) throw new FormatError(`${source}: split: ${fault}`);
  return { split: split as SavedSplit, source };
}

/** The first thing wrong with a split.json's content, as a message; null when it is sound. */
export function savedSplitFault(s: unknown): string | null {
  if (typeof s !== 'object' || s === null || Array.isArray(s)) return 'not a JSON object';
  const { level, patients } = s as Record<string, unknown>;
  if (level !== 'patient' && level !== 'slice') return `'level' must be 'patient' or 'slice', got ${JSON.stringify(level)}`;
  if (typeof patients !== 'object' || patients === null || Array.isArray(patients)) return `'patients' must be an object of train, val and test lists, got ${JSON.stringify(patients)}`;
  for (const part of ['train', 'val', 'test'] as const) {
    const list = (patients as Record<string, unknown>)[part];
    if (!Array.isArray(list) || !list.every((p) => typeof p === 'string')) return `'patients.${part}' must be a list of patient ids, got ${JSON.stringify(list)}`;
  }
  return null;
}
