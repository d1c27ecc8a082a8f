// Node's errors from write(2), fsync(2) and close(2) name no file, since those take a descriptor:
// a checkpoint that met a full disk failed with 'ENOSPC: no space left on device, write' alone
// (and, having no path, was printed by the CLI as a bug, with its stack). Callers that know the
// file they were writing name it here, with what the code means on a disk.

/** The codes of a write the disk refused, and what each means to someone who has to fix it. */
const DISK_FAULTS: Record<string, string> = {
  ENOSPC: 'the disk is full',
  EDQUOT: 'the disk quota is used up',
  EIO: 'the disk reported an input/output error',
  EROFS: 'the file system is read-only',
  EFBIG: 'the file is larger than the file system allows',
};

type ErrnoError = Error & { code?: unknown; syscall?: unknown; path?: unknown };

/** Whether `e` is Node's error for a write that the disk refused (full, over quota, I/O error, read-only). */
export function isDiskWriteError(e: unknown): boolean {
  const err = e as ErrnoError;
  return e instanceof Error && typeof err.code === 'string' && Object.hasOwn(DISK_FAULTS, err.code);
}

/**
 * `e` (the same object, its code, errno and syscall kept) with `path` named in its message and set
 * as its `path`, when it is a file-system error that names no file; any other error as it came.
 * `op` goes first in the message ('saveCheckpoint: cannot write ...'), as dawnet's errors do;
 * `atomic`: the write was writeFileAtomic's, which leaves a file already there as it was.
 */
export function nameWriteError(e: unknown, path: string, opts: { op?: string; atomic?: boolean } = {}): unknown {
  const err = e as ErrnoError;
  if (!(e instanceof Error) || typeof err.code !== 'string' || typeof err.syscall !== 'string') return e;
  if (typeof err.path === 'string' || err.message.includes(path)) return e;
  const cause = DISK_FAULTS[err.code];
  const kept = opts.atomic ? '; the file there before is left as it was' : '';
  err.message = `${opts.op ? `${opts.op}: ` : ''}cannot write ${path}: ${cause ? `${cause} (${err.message})` : err.message}${kept}`;
  err.path = path;
  return err;
}
