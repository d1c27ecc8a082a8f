// The LGG brain-MRI segmentation data set as Kaggle ships it (`kaggle_3m/`): one folder per
// patient (`TCGA_CS_4941_19960909`), slices `<folder>_<n>.tif` (256x256, 8-bit, 3 channels:
// pre-contrast, FLAIR, post-contrast) each with a mask `<folder>_<n>_mask.tif` (8-bit, 1 channel,
// 0 or 255; a mask with more values is refused), and `data.csv` with one row of clinical data per patient (`Patient` = the folder
// name without its date). A slice's label is 1 when any pixel of its full-size mask is non-zero.
//
// scanLgg() lists and checks everything once; loadSlice() reads a scanned slice's two files and
// decodes them (slice-decode.ts); the file names are lgg-names.ts's. Node's fs is imported lazily
// so this file also bundles for the browser.

import { DataError } from './errors.js';
import { decodeTiff, readTiffInfo, type TiffImage } from './tiff.js';
import { byCodePoint, isHidden, SLICE_FILE, TIFF_NAME } from './lgg-names.js';
import { checkPair, decodeSlice, maskSamples, type DecodedSlice } from './slice-decode.js';
import { nodeFs, type NodeFs } from '../io/files.js';

export interface LggSlice {
  /** File name without extension, e.g. `TCGA_CS_4941_19960909_12`. */
  id: string;
  /** data.csv key, e.g. `TCGA_CS_4941`. */
  patient: string;
  /** Patient folder name, e.g. `TCGA_CS_4941_19960909`. */
  folder: string;
  /** The slice number in the file name. */
  index: number;
  imagePath: string;
  maskPath: string;
  /** Size as stored; decodeSlice resizes when it differs from the working size. */
  width: number;
  height: number;
  label: 0 | 1;
  /** Non-zero mask pixels at the stored size. */
  tumourPixels: number;
}

export interface LggPatient {
  patient: string;
  folder: string;
  slices: LggSlice[];
  tumourSlices: number;
  /** The patient's data.csv row, by column name; absent when data.csv has none. */
  clinical?: Record<string, string>;
}

export interface LggProblem {
  file: string;
  reason: string;
}

export interface LggSummary {
  patients: number;
  slices: number;
  tumourSlices: number;
  /** Slices whose stored size differs from the working size. */
  resized: number;
  /** Files or folders left out, each with why. */
  problems: LggProblem[];
  patientsWithoutCsvRow: string[];
  csvRowsWithoutFolder: string[];
}

export interface LggDataset {
  root: string;
  /** Working size S: decodeSlice gives [S, S, 3] images and [S, S] masks. */
  size: number;
  patients: LggPatient[];
  /** All slices, patients in folder order, slices in numeric order. */
  slices: LggSlice[];
  csvColumns: string[];
  summary: LggSummary;
}

export interface ScanLggOptions {
  /** Working size S (default 256, the stored size). */
  size?: number;
  /** Throw on the first bad file instead of skipping it and listing it in summary.problems. */
  strict?: boolean;
  /** Decode every image to catch corrupt pixel data (default); false checks image headers only. */
  verifyImages?: boolean;
  /** Files read at once (default 8). */
  concurrency?: number;
}

async function lggFs(): Promise<NodeFs> {
  try {
    return await nodeFs();
  } catch {
    throw new DataError('lgg: reading files and folders needs Node (node:fs); in a browser give a read function (fetch) where one is taken, or decode the bytes with decodeSlice');
  }
}

/** Reads a whole file (Node). */
export async function readFileBytes(path: string): Promise<Uint8Array> {
  const fs = await lggFs();
  try {
    return new Uint8Array(await fs.readFile(path));
  } catch (e) {
    throw new DataError(`${path}: cannot read (${(e as Error).message})`);
  }
}


/**
 * The slice images of one patient folder (`<folder>_<n>.tif`, masks and hidden files left out) in
 * numeric order of n, as paths; what `dawnet predict` runs on when given a folder. A DataError
 * names a folder that holds none.
 */
export async function patientSlices(folderPath: string): Promise<string[]> {
  const fs = await lggFs();
  let names: string[];
  try {
    names = await fs.readdir(folderPath);
  } catch (e) {
    throw new DataError(`${folderPath}: cannot read the folder (${(e as Error).message})`);
  }
  const slices = names.flatMap((name) => {
    const m = isHidden(name) ? null : SLICE_FILE.exec(name);
    return m && !m[3] ? [{ name, index: Number(m[2]) }] : [];
  });
  if (!slices.length) throw new DataError(`${folderPath}: no slice images (<folder>_<n>.tif) in this folder`);
  return slices.sort((a, b) => a.index - b.index || byCodePoint(a.name, b.name)).map((s) => `${folderPath.replace(/\/+$/, '')}/${s.name}`);
}
const DATED_FOLDER = /^(.+)_\d{8}$/;



/** Lists, pairs, checks and labels every slice of a kaggle_3m-shaped folder. */
export async function scanLgg(root: string, options: ScanLggOptions = {}): Promise<LggDataset> {
  const size = options.size ?? 256;
  if (!Number.isInteger(size) || size < 1) throw new DataError(`${root}: working size must be a positive integer, got ${size}`);
  const fs = await lggFs();
  const problems: LggProblem[] = [];
  const problem = (file: string, reason: string) => {
    if (options.strict) throw new DataError(`${file}: ${reason}`);
    problems.push({ file, reason });
  };

  const dir = await findPatientRoot(fs, root);
  for (const { folder, reason } of dir.otherFolders) problem(`${dir.path}/${folder}`, reason);
  const found: { folder: string; pairs: SlicePair[] }[] = [];
  for (const folder of dir.patientFolders) {
    const names = await listFolder(fs, `${dir.path}/${folder}`);
    if (typeof names === 'string') problem(`${dir.path}/${folder}`, names);
    else found.push({ folder, pairs: pairSliceFiles(folder, `${dir.path}/${folder}`, names, problem) });
  }

  const verifyImages = options.verifyImages ?? true;
  const jobs = found.flatMap(({ folder, pairs }) => pairs.map((p) => ({ folder, ...p })));
  const results = await mapLimit(jobs, options.concurrency ?? 8, async (job) => {
    try {
      return await checkSlice(job, verifyImages);
    } catch (e) {
      if (!(e instanceof DataError) || options.strict) throw e;
      // The error names the file it is about (the slice or its mask): keep that one.
      const file = e.message.startsWith(`${job.mask}:`) ? job.mask : job.image;
      problems.push({ file, reason: e.message.startsWith(`${file}: `) ? e.message.slice(file.length + 2) : e.message });
      return undefined;
    }
  });

  const patients: LggPatient[] = [];
  for (const { folder } of found) {
    const slices = results.filter((s): s is LggSlice => s !== undefined && s.folder === folder);
    if (slices.length === 0) {
      problem(`${dir.path}/${folder}`, 'patient folder without a usable slice');
      continue;
    }
    const patient = slices[0]!.patient;
    patients.push({ patient, folder, slices, tumourSlices: slices.filter((s) => s.label === 1).length });
  }
  const slices = patients.flatMap((p) => p.slices);
  if (slices.length === 0) {
    const first = problems[0] ? ` First problem: ${problems[0].file}: ${problems[0].reason}` : '';
    throw new DataError(`${dir.path}: no usable slice among ${jobs.length} image/mask pairs.${first}`);
  }

  const csv = await joinCsv(fs, dir.path, patients, problem);
  return {
    root: dir.path,
    size,
    patients,
    slices,
    csvColumns: csv.columns,
    summary: {
      patients: patients.length,
      slices: slices.length,
      tumourSlices: slices.filter((s) => s.label === 1).length,
      resized: slices.filter((s) => s.width !== size || s.height !== size).length,
      problems,
      patientsWithoutCsvRow: csv.missing,
      csvRowsWithoutFolder: csv.unused,
    },
  };
}

interface SlicePair {
  index: number;
  image: string;
  mask: string;
}

/** Pairs `<folder>_<n>.tif` with `<folder>_<n>_mask.tif`, in numeric order of n; strays become problems. */
function pairSliceFiles(folder: string, folderPath: string, names: string[], problem: (file: string, reason: string) => void): SlicePair[] {
  const images = new Map<number, string>();
  const masks = new Map<number, string>();
  for (const name of names.sort(byCodePoint)) {
    if (isHidden(name)) continue;
    const m = SLICE_FILE.exec(name);
    const path = `${folderPath}/${name}`;
    if (!m) {
      // Other files (notes, a .csv) are no concern; a TIFF named otherwise is a slice left out.
      if (TIFF_NAME.test(name)) problem(path, `TIFF not named as a slice (<folder>_<n>.tif) or its mask (<folder>_<n>_mask.tif), left out`);
      continue;
    }
    if (m[1] !== folder) {
      problem(path, `file name does not start with its folder's name '${folder}'`);
      continue;
    }
    const index = Number(m[2]);
    const into = m[3] ? masks : images;
    const before = into.get(index);
    if (before !== undefined) problem(path, `slice number ${index} already taken by ${before}`);
    else into.set(index, path);
  }
  const pairs: SlicePair[] = [];
  for (const [index, image] of images) {
    const mask = masks.get(index);
    if (mask === undefined) problem(image, `slice without a mask (expected ${folder}_${index}_mask.tif)`);
    else pairs.push({ index, image, mask });
  }
  for (const [index, mask] of masks) {
    if (!images.has(index)) problem(mask, `mask without a slice (expected ${folder}_${index}.tif)`);
  }
  return pairs.sort((a, b) => a.index - b.index);
}

/** A folder's entry names, or why it could not be listed. */
async function listFolder(fs: NodeFs, path: string): Promise<string[] | string> {
  try {
    return await fs.readdir(path);
  } catch (e) {
    return `cannot list the folder (${(e as Error).message})`;
  }
}

/** How many levels of folders wrapping kaggle_3m (as downloads and zips unpack) the scan looks through. */
const WRAPPER_DEPTH = 3;
const MAC_ZIP_FOLDER = '__MACOSX';

interface PatientRoot {
  path: string;
  patientFolders: string[];
  otherFolders: { folder: string; reason: string }[];
}

/**
 * The folder holding the patient folders: `root` itself, or the folder that wraps them as a
 * download unpacks: its `kaggle_3m/` (Kaggle's zip holds `kaggle_3m/` and
 * `lgg-mri-segmentation/kaggle_3m/`), or the one folder a level holds (`archive/`, a renamed
 * `kaggle_3m/`; macOS's `__MACOSX/` not counted), a few levels down. The folders beside the
 * patient folders that hold no slice (empty, or unreadable) come with their reasons, which the
 * scan reports: a patient folder emptied by a bad copy should not vanish silently. When no level
 * holds patient folders, the error is about `root` (or its `kaggle_3m/`), the folder the user gave.
 */
async function findPatientRoot(fs: NodeFs, root: string): Promise<PatientRoot> {
  const found = await lookForPatients(fs, root.replace(/(.)\/+$/, '$1'), WRAPPER_DEPTH);
  if (found instanceof DataError) throw found;
  return found;
}

async function lookForPatients(fs: NodeFs, root: string, depth: number): Promise<PatientRoot | DataError> {
  const listed = await listFolder(fs, root);
  if (typeof listed === 'string') return new DataError(`${root}: ${listed}`);
  const names = listed.filter((n) => !isHidden(n)).sort(byCodePoint);
  if (names.length === 0) return new DataError(`${root}: empty folder; expected kaggle_3m's patient folders (TCGA_..._<date>/)`);
  const folders = await foldersAmong(fs, root, names);
  const patientFolders: string[] = [];
  const otherFolders: { folder: string; reason: string }[] = [];
  for (const name of folders) {
    const inside = await listFolder(fs, `${root}/${name}`);
    if (typeof inside === 'string') otherFolders.push({ folder: name, reason: inside });
    else if (inside.some((n) => !isHidden(n) && SLICE_FILE.test(n))) patientFolders.push(name);
    else otherFolders.push({ folder: name, reason: 'folder without slices (<folder>_<n>.tif), left out' });
  }
  if (patientFolders.length > 0) return { path: root, patientFolders, otherFolders };

  const files = names.filter((n) => !folders.includes(n));
  let error: DataError;
  // One patient's folder given for the data set: its own slices are the tell.
  if (files.some((n) => SLICE_FILE.test(n))) {
    error = new DataError(`${root}: one patient's folder (it holds <folder>_<n>.tif slices itself); give the folder that holds the patient folders, such as kaggle_3m`);
  } else {
    const listedFiles = files.length ? ` (${files.length} files: ${files.slice(0, 3).join(', ')}${files.length > 3 ? ', ...' : ''})` : '';
    error = new DataError(`${root}: not an LGG data set folder: none of its ${folders.length} folders holds <folder>_<n>.tif slices${listedFiles}`);
  }
  if (depth === 0 || files.some((n) => SLICE_FILE.test(n))) return error;
  const wrappers = folders.filter((n) => n !== MAC_ZIP_FOLDER);
  const candidates = [...(wrappers.includes('kaggle_3m') ? ['kaggle_3m'] : []), ...(wrappers.length === 1 && wrappers[0] !== 'kaggle_3m' ? wrappers : [])];
  for (const name of candidates) {
    const inner = await lookForPatients(fs, `${root}/${name}`, depth - 1);
    if (!(inner instanceof DataError)) return inner;
    // kaggle_3m's own trouble (empty, unreadable) says more than "no patient folders here".
    if (name === 'kaggle_3m') error = inner;
  }
  return error;
}

/**
 * The entries of `root` that are folders, following symlinks: a data set whose patient folders
 * link elsewhere (to share one copy) is as much a data set. stat, not the dirent's type, which says
 * "symlink". A dangling link is not a folder.
 */
async function foldersAmong(fs: NodeFs, root: string, names: string[]): Promise<string[]> {
  const isFolder = await Promise.all(names.map((n) => fs.stat(`${root}/${n}`).then((st) => st.isDirectory(), () => false)));
  return names.filter((_, i) => isFolder[i]);
}

async function checkSlice(job: SlicePair & { folder: string }, verifyImages: boolean): Promise<LggSlice> {
  const [imageBytes, maskBytes] = await Promise.all([readFileBytes(job.image), readFileBytes(job.mask)]);
  const image = verifyImages ? decodeTiff(imageBytes, job.image) : readTiffInfo(imageBytes, job.image);
  const mask = decodeTiff(maskBytes, job.mask);
  checkPair(image, mask, job.image, job.mask);
  const tumourPixels = countTumourPixels(mask, job.mask);
  return {
    id: `${job.folder}_${job.index}`,
    patient: DATED_FOLDER.exec(job.folder)?.[1] ?? job.folder,
    folder: job.folder,
    index: job.index,
    imagePath: job.image,
    maskPath: job.mask,
    width: image.width,
    height: image.height,
    label: tumourPixels > 0 ? 1 : 0,
    tumourPixels,
  };
}


/**
 * The mask's non-zero pixels (any channel but an alpha channel). A mask holds 0 and one other value (255 in kaggle_3m,
 * 1 in some exports); more values than that mean a slice image saved under a mask's name or a
 * mask resampled with interpolation, whose non-zero pixels are not the tumour: a DataError.
 */
function countTumourPixels(mask: TiffImage, name: string): number {
  let count = 0;
  const values = new Set<number>();
  const c = mask.channels;
  const samples = maskSamples(c);
  for (let p = 0; p < mask.width * mask.height; p++) {
    let tumour = false;
    for (let k = 0; k < samples; k++) {
      const v = mask.data[p * c + k];
      if (v === 0) continue;
      tumour = true;
      if (values.size < 3) values.add(v);
    }
    if (tumour) count++;
  }
  if (values.size > 1) {
    throw new DataError(`${name}: not a binary mask: non-zero values ${[...values].sort((a, b) => a - b).join(', ')}${values.size > 2 ? ', ...' : ''}; LGG masks hold 0 and one other value (255)`);
  }
  return count;
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
  return out;
}

async function joinCsv(
  fs: NodeFs,
  dir: string,
  patients: LggPatient[],
  problem: (file: string, reason: string) => void,
): Promise<{ columns: string[]; missing: string[]; unused: string[] }> {
  const path = `${dir}/data.csv`;
  let text: string;
  try {
    text = await fs.readFile(path, 'utf8');
  } catch {
    return { columns: [], missing: patients.map((p) => p.patient), unused: [] };
  }
  let rows: string[][];
  try {
    rows = parseCsv(text, path);
  } catch (e) {
    problem(path, (e as Error).message);
    return { columns: [], missing: patients.map((p) => p.patient), unused: [] };
  }
  const [columns = [], ...body] = rows;
  const key = columns.indexOf('Patient');
  if (key < 0) {
    problem(path, `no 'Patient' column (columns: ${columns.slice(0, 5).join(', ')})`);
    return { columns, missing: patients.map((p) => p.patient), unused: [] };
  }
  const byPatient = new Map<string, Record<string, string>>();
  for (const row of body) byPatient.set(row[key]!, Object.fromEntries(columns.map((c, i) => [c, row[i] ?? ''])));
  const missing: string[] = [];
  for (const p of patients) {
    const row = byPatient.get(p.patient);
    if (row) p.clinical = row;
    else missing.push(p.patient);
  }
  const present = new Set(patients.map((p) => p.patient));
  return { columns, missing, unused: [...byPatient.keys()].filter((k) => !present.has(k)) };
}

/** RFC 4180 CSV: quoted fields may hold commas, newlines and doubled quotes; blank lines are dropped. */
export function parseCsv(text: string, name = 'CSV'): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  const endRow = () => {
    row.push(field);
    if (row.length > 1 || row[0] !== '') rows.push(row);
    row = [];
    field = '';
  };
  for (; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"' && field === '') quoted = true;
    else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\n') endRow();
    else if (ch !== '\r') field += ch;
  }
  if (quoted) throw new DataError(`${name}: a quoted field is never closed`);
  if (field !== '' || row.length > 0) endRow();
  const width = rows[0]?.length ?? 0;
  rows.forEach((r, n) => {
    if (r.length !== width) throw new DataError(`${name}: row ${n + 1} has ${r.length} fields, the header has ${width}`);
  });
  return rows;
}


/** Reads and decodes one scanned slice at the working size (Node, or any `read` you pass). */
export async function loadSlice(slice: Pick<LggSlice, 'imagePath' | 'maskPath'>, size: number, read: (path: string) => Promise<Uint8Array> = readFileBytes): Promise<DecodedSlice> {
  const [image, mask] = await Promise.all([read(slice.imagePath), read(slice.maskPath)]);
  return decodeSlice(image, mask, size, { image: slice.imagePath, mask: slice.maskPath });
}
