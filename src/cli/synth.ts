// `dawnet synth`: writes a synthetic LGG data set in kaggle_3m's layout, so training and the
// data pipeline can be tried without the Kaggle download.

import { readdir, stat } from 'node:fs/promises';
import { writeSyntheticDataset } from '../data/synth.js';
import { makeFolder } from '../io/files.js';
import { checkSeed, parseArgs, UsageError, type CommandSpec } from './args.js';

export const synthSpec: CommandSpec = {
  name: 'synth',
  summary:
    'Writes a synthetic brain-MRI data set in the layout of Kaggle\'s lgg-mri-segmentation (kaggle_3m/):\n' +
    'one folder per patient of <folder>_<n>.tif slices (3-channel 8-bit) and <folder>_<n>_mask.tif masks (0/255),\n' +
    'plus data.csv. The same seed writes the same bytes.',
  flags: {
    out: { type: 'string', help: 'folder to write: a new or empty one (created if missing)' },
    patients: { type: 'number', help: 'number of patients', default: 110 },
    seed: { type: 'number', help: 'random seed, a whole number from 0 to 4294967295', default: 0 },
    size: { type: 'number', help: 'slice size in pixels', default: 256 },
    slices: { type: 'string', help: 'slices per patient, MIN-MAX', default: '20-88' },
  },
  examples: ['dawnet synth --out data/synth --patients 20 --seed 1', 'dawnet synth --out /tmp/tiny --patients 4 --size 64 --slices 8-12'],
};

export async function runSynth(args: string[]): Promise<void> {
  const parsed = parseArgs(synthSpec, args);
  if (!parsed) return;
  const out = parsed.flags.out as string | undefined;
  if (!out) throw new UsageError("synth needs --out DIR (see 'dawnet synth --help')");
  const range = /^(\d+)-(\d+)$/.exec(String(parsed.flags.slices));
  if (!range) throw new UsageError(`--slices expects MIN-MAX, e.g. 20-88, got '${parsed.flags.slices}'`);
  checkSynthBounds(parsed.flags.size as number, parsed.flags.patients as number);
  checkSeed(parsed.flags.seed as number);
  await checkEmptyOut(out);
  // Made here, one level at a time: the writer's recursive mkdir would spin on a folder /proc refuses.
  await makeFolder(out);
  const started = performance.now();
  const summary = await writeSyntheticDataset(out, {
    patients: parsed.flags.patients as number,
    seed: parsed.flags.seed as number,
    size: parsed.flags.size as number,
    slicesPerPatient: [Number(range[1]), Number(range[2])],
  });
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `wrote ${summary.folders.length} patients, ${summary.slices} slices (${summary.tumourSlices} with tumour) ` +
      `and data.csv to ${summary.dir} in ${seconds.toFixed(1)} s`,
  );
}

/** 4096 px is 16x the LGG slices; larger sizes would overflow typed arrays (size^2 x 3 bytes per slice). */
const MAX_SIZE = 4096;
const MAX_PATIENTS = 10_000;

/** Bounds --size and --patients before any file is written, instead of a RangeError from deep inside. */
export function checkSynthBounds(size: number, patients: number): void {
  if (!Number.isInteger(size) || size < 8 || size > MAX_SIZE) throw new UsageError(`--size must be a whole number from 8 to ${MAX_SIZE}, got ${size}`);
  if (!Number.isInteger(patients) || patients < 1 || patients > MAX_PATIENTS) {
    throw new UsageError(`--patients must be a whole number from 1 to ${MAX_PATIENTS}, got ${patients}`);
  }
}

/**
 * A folder that holds anything is refused: synth would overwrite its data.csv and mix its patients
 * with what is there (a real kaggle_3m folder, or an earlier synth whose same-named patients kept
 * their higher-numbered slices). A folder not there yet passes, and so does a file above it, which
 * makeFolder's error names.
 */
export async function checkEmptyOut(out: string): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(out);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR' && (await stat(out).then((s) => !s.isDirectory(), () => false))) throw new UsageError(`--out ${out} is a file, not a folder`);
    if (code === 'ENOENT' || code === 'ENOTDIR') return;
    throw e;
  }
  if (entries.length) {
    const shown = entries.sort().slice(0, 3).join(', ');
    throw new UsageError(`--out ${out} is not empty (${shown}${entries.length > 3 ? ', ...' : ''}): synth writes a new data set; choose a new folder or remove this one`);
  }
}
