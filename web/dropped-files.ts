// The files of a drop on the Segment panel, each with its path inside what was dropped. A dropped
// folder reaches the page as one entry of the File and Directory Entries API (DataTransfer's
// `files` would hold the bare folder, which is no file to read): its files are listed here, in
// its sub-folders too, each with the entry's fullPath ('/kaggle_3m/TCGA_CS_4941_19960909/
// TCGA_CS_4941_19960909_1.tif'), so that 'zscore-volume' can group the slices by folder.
// A browser without entries gives the files alone, with no path. Hidden entries (macOS's `._X_1.tif`
// AppleDouble copies, `.DS_Store`, `.git/`) are left out, as the data scan leaves them.

import { isHidden } from '../src/data/lgg-names.js';
import { byGivenPath, pickedFiles, type GivenFile } from './slice-input.js';

/** The parts of FileSystemEntry that listing uses: tests build these by hand. */
export interface DropEntry {
  isFile: boolean;
  isDirectory: boolean;
  fullPath: string;
  name: string;
}

const isFileEntry = (e: DropEntry): e is DropEntry & Pick<FileSystemFileEntry, 'file'> => e.isFile;
const isDirectoryEntry = (e: DropEntry): e is DropEntry & Pick<FileSystemDirectoryEntry, 'createReader'> => e.isDirectory;

const fileOf = (entry: DropEntry & Pick<FileSystemFileEntry, 'file'>): Promise<File> => new Promise((ok, fail) => entry.file(ok, fail));

/** A folder's entries: readEntries gives them a batch at a time (Chromium: 100) until an empty batch. */
async function entriesOf(folder: DropEntry & Pick<FileSystemDirectoryEntry, 'createReader'>): Promise<DropEntry[]> {
  const reader = folder.createReader();
  const all: DropEntry[] = [];
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((ok, fail) => reader.readEntries(ok, fail));
    if (!batch.length) return all;
    all.push(...batch);
  }
}

/**
 * Every file under `entries`, folders listed to the bottom, with its fullPath, hidden entries and
 * what lies in them left out; sorted by path with the numbers in names compared as numbers, so a
 * folder's slices come in slice order (_2 before _10), as picked files are.
 */
export async function filesOfEntries(entries: readonly DropEntry[]): Promise<GivenFile[]> {
  const files: GivenFile[] = [];
  const visit = async (entry: DropEntry): Promise<void> => {
    if (isHidden(entry.name)) return;
    if (isFileEntry(entry)) files.push({ file: await fileOf(entry), path: entry.fullPath });
    else if (isDirectoryEntry(entry)) for (const inner of await entriesOf(entry)) await visit(inner);
  };
  for (const entry of entries) await visit(entry);
  return files.sort(byGivenPath);
}

/**
 * The files of a drop. The entries must be taken while the drop event runs (the DataTransfer is
 * emptied after it), so this is called from the handler; the listing itself goes on after.
 */
export function droppedFiles(data: DataTransfer): Promise<GivenFile[]> {
  const items = [...(data.items ?? [])].filter((i) => i.kind === 'file');
  const entries = items.map((i) => (typeof i.webkitGetAsEntry === 'function' ? i.webkitGetAsEntry() : null));
  if (!items.length || entries.some((e) => e === null)) return Promise.resolve(pickedFiles(data.files));
  return filesOfEntries(entries as FileSystemEntry[]);
}
