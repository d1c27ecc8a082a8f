// Tuned conv algorithms (tuneConvs, src/kernels/conv2d-tuning.ts) as a JSON file, so that a later
// run on the same adapter starts with them instead of timing every conv again.

import { ArgumentError, FormatError } from '../errors.js';
import { describeValue } from '../graph/args.js';
import { applyConvTuning, convTuning } from '../kernels/conv2d-tuning.js';
import { hasNodeFs, nodeFs, writeFileAtomic } from './files.js';

/** A page keeps its tuning as text: what to use where there is no file system. */
const IN_BROWSER = 'in a browser, keep JSON.stringify(dn.convTuning()) (localStorage, a download) and give it back with dn.applyConvTuning(text)';

/** A tuning file's path: Node's own error for a number named no call. */
function checkPath(op: string, path: unknown): void {
  if (typeof path !== 'string' || path === '') throw new ArgumentError(`${op}: path must be a file path, got ${describeValue(path)}`);
}

/** Writes this device's tuned choices to `path`, atomically; returns how many were written. */
export async function saveConvTuning(path: string): Promise<number> {
  checkPath('saveConvTuning', path);
  if (!hasNodeFs()) throw new ArgumentError(`saveConvTuning: writing ${path} needs Node's file system; ${IN_BROWSER}`);
  const t = convTuning();
  await writeFileAtomic(path, `${JSON.stringify(t, null, 1)}\n`, 'saveConvTuning');
  return t.convs.length;
}

/**
 * Takes the tuned choices in `path` (written by saveConvTuning on this adapter); returns how many.
 * Errors name the file: a missing or unreadable one, bad JSON, a bad entry, another adapter's.
 */
export async function loadConvTuning(path: string): Promise<number> {
  return applyConvTuning(await readConvTuning(path), path);
}

/** A tuning file's text, unapplied (train --conv-tuning keeps a copy of it); errors name the file. */
export async function readConvTuning(path: string, op = 'loadConvTuning'): Promise<string> {
  checkPath(op, path);
  if (!hasNodeFs()) throw new ArgumentError(`${op}: reading ${path} needs Node's file system; ${IN_BROWSER}`);
  try {
    return await (await nodeFs()).readFile(path, 'utf8');
  } catch (e) {
    throw new FormatError(`${path}: cannot read the conv tuning (${(e as Error).message})`);
  }
}
