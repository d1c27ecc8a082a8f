// File access for Node, loaded lazily so the browser bundle never pulls in node:fs. Outside Node (a
// browser) every entry here throws an ArgumentError that says what to use there instead: a bare
// import('node:fs/promises') would fail with the platform's TypeError about a module it cannot fetch.
// writeFileAtomic: write to a temporary file in the same folder, flush it to disk, then rename over
// the target. A crash at any point leaves either the old file or the new one, never half of one.

import { ArgumentError } from '../errors.js';
import { nameWriteError } from '../util/write-error.js';

export type NodeFs = typeof import('node:fs/promises');
export type NodePath = typeof import('node:path');

const isNode = (): boolean => typeof process !== 'undefined' && !!process.versions?.node;

/** Whether Node's file system is at hand (false in a browser): for functions whose browser advice is their own. */
export const hasNodeFs = isNode;

const IN_BROWSER_READ = 'in a browser, fetch the file (or take it from an <input type=file>) and pass its bytes: dn.io.loadWeights(model, bytes), dn.train.applyCheckpoint(bytes, name, model)';
const IN_BROWSER_WRITE = 'in a browser, encode to bytes and offer them as a download: dn.io.encodeWeights(model), dn.train.encodeCheckpoint(model, optimizer, meta)';

/**
 * Imports a Node built-in lazily. The name is a variable, so bundlers for the browser leave the
 * import alone; every Node-only code path in the library loads node:* through here.
 */
export async function nodeModule<T>(name: string): Promise<T> {
  if (!isNode()) throw new ArgumentError(`${name}: this needs Node, and this is not Node (a browser?); the file and thread functions of dawnet run in Node only`);
  return (await import(/* @vite-ignore */ name)) as T;
}

export const nodeFs = (): Promise<NodeFs> => nodeModule<NodeFs>('node:fs/promises');
export const nodePath = (): Promise<NodePath> => nodeModule<NodePath>('node:path');

/**
 * `op` names the caller for the message outside Node ('saveWeights'); without it the message
 * speaks of writing the path.
 */
/** writeFileAtomic's temporary for `name` (a file's base name): `.<name>.<pid>.<ms>.tmp`. */
export const temporaryName = (name: string): string => `.${name}.${process.pid}.${Date.now()}.tmp`;

/** The file a temporaryName was for and the writing process's id; null for any other name. */
export function parseTemporaryName(entry: string): { name: string; pid: number } | null {
  const m = /^\.(.+)\.(\d+)\.\d+\.tmp$/.exec(entry);
  return m ? { name: m[1], pid: Number(m[2]) } : null;
}

export async function writeFileAtomic(path: string, bytes: Uint8Array | string, op?: string): Promise<void> {
  if (!isNode()) throw new ArgumentError(`${op ? `${op}: ` : ''}writing ${path} needs Node's file system, which this environment lacks; ${IN_BROWSER_WRITE}`);
  const fs = await nodeFs();
  const paths = await nodePath();
  const dir = paths.dirname(path);
  // A folder where the file goes would fail at the rename, naming the temporary file: said here instead.
  if (await fs.stat(path).then((st) => st.isDirectory(), () => false)) {
    throw new ArgumentError(`${op ? `${op}: ` : ''}${path} is a folder; give a file path in it, such as ${paths.join(path, 'model.safetensors')}`);
  }
  const tmp = paths.join(dir, temporaryName(paths.basename(path)));
  // A failure names the file asked for, not the temporary one, and leaves no temporary behind
  // (a full disk fails the write, not the rename).
  const failed = async (e: unknown): Promise<never> => {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    const err = e as NodeJS.ErrnoException;
    // rename's message names both paths: 'X' -> 'X' would say nothing, so only a lone temporary is swapped.
    if (typeof err?.message === 'string' && err.message.includes(tmp) && !err.message.includes(` -> '${path}'`)) err.message = err.message.split(tmp).join(path);
    if (typeof err?.path === 'string' && err.path === tmp) err.path = path;
    // write(2) and fsync(2) errors name no file (a full disk said only 'ENOSPC ..., write'): named here.
    throw nameWriteError(e, path, { op, atomic: true });
  };
  let handle: Awaited<ReturnType<typeof fs.open>>;
  try {
    handle = await fs.open(tmp, 'w');
  } catch (e) {
    return failed(e);
  }
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } catch (e) {
    await handle.close().catch(() => undefined);
    return failed(e);
  }
  // A failure reported at close (ENOSPC on some network file systems) is a failed write too.
  await handle.close().catch(failed);
  try {
    await fs.rename(tmp, path);
  } catch (e) {
    return failed(e);
  }
  // Make the rename itself durable where the platform allows opening a directory.
  try {
    const d = await fs.open(dir, 'r');
    await d.sync().catch(() => undefined);
    await d.close();
  } catch {
    /* not supported on this platform: the rename is still atomic */
  }
}

/** `op` as for writeFileAtomic. */
export async function readFileBytes(path: string, op?: string): Promise<Uint8Array> {
  if (!isNode()) throw new ArgumentError(`${op ? `${op}: ` : ''}reading ${path} needs Node's file system, which this environment lacks; ${IN_BROWSER_READ}`);
  const fs = await nodeFs();
  const buf = await fs.readFile(path).catch((e: NodeJS.ErrnoException) => {
    // Node's EISDIR names no path ('illegal operation on a directory, read'): said here, the code kept.
    if (e?.code === 'EISDIR') {
      e.message = `${op ? `${op}: ` : ''}${path} is a folder, not a file (EISDIR)`;
      e.path = path;
    }
    throw e;
  });
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/**
 * Creates the folder `dir` and any missing folders above it; an existing folder is fine. Node's
 * mkdir({ recursive: true }) is not used: where a parent exists but refuses a new folder with
 * ENOENT (/proc) it retries forever. Here each missing folder is made with one plain mkdir, from
 * the first existing one down, so a refusal fails at once. A failure is Node's error (its code and
 * the path mkdir was given) with a message that names `dir`, what was in the way and the code.
 */
export async function makeFolder(dir: string): Promise<void> {
  const fs = await nodeFs();
  const paths = await nodePath();
  const missing: string[] = [];
  let at = paths.resolve(dir);
  for (;;) {
    const found = await fs.stat(at).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT' || e.code === 'ENOTDIR') return null;
      throw folderError(dir, e, e.message);
    });
    if (found) {
      // A file where the folder goes: its mkdir below fails with EEXIST, as one above it fails with ENOTDIR.
      if (!found.isDirectory() && !missing.length) missing.push(at);
      break;
    }
    const up = paths.dirname(at);
    if (up === at) break;
    missing.push(at);
    at = up;
  }
  for (const path of missing.reverse()) {
    try {
      await fs.mkdir(path);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      const parent = paths.dirname(path);
      // Made meanwhile by another process (two runs creating one parent): that is what was wanted.
      if (err.code === 'EEXIST' && (await fs.stat(path).then((s) => s.isDirectory(), () => false))) continue;
      const why =
        err.code === 'EEXIST' ? `${path} is in the way: it exists and is not a folder (EEXIST)`
        : err.code === 'ENOTDIR' ? `${parent} is in the way: it is a file, not a folder (ENOTDIR)`
        : err.code === 'ENOENT' ? `${parent} will not hold a new folder (ENOENT from mkdir ${path}; a virtual file system such as /proc?)`
        : err.message;
      throw folderError(dir, err, why);
    }
  }
}

function folderError(dir: string, err: NodeJS.ErrnoException, why: string): NodeJS.ErrnoException {
  err.message = `cannot create folder ${dir}: ${why}`;
  return err;
}

/**
 * Makes the folder a file is to be written in, as Keras's ModelCheckpoint does for its file path
 * ('run/best-{epoch}.safetensors'). Outside Node it does nothing: the write itself then says what
 * to use instead.
 */
export async function makeParentFolder(path: string): Promise<void> {
  if (!isNode()) return;
  await makeFolder((await nodePath()).dirname(path));
}

/** True when both paths name one existing file (by device and inode, so links and `./x` count). */
export async function sameFile(a: string, b: string): Promise<boolean> {
  const fs = await nodeFs();
  const [sa, sb] = await Promise.all([fs.stat(a).catch(() => null), fs.stat(b).catch(() => null)]);
  return !!sa && !!sb && sa.dev === sb.dev && sa.ino === sb.ino;
}
