// File access for Node, loaded lazily so the browser bundle never pulls in node:fs.
// writeFileAtomic: write to a temporary file in the same folder, flush it to disk, then rename over
// the target. A crash at any point leaves either the old file or the new one, never half of one.

// Module names in variables: bundlers for the browser then leave these imports alone.
const FS = 'node:fs/promises';
const PATH = 'node:path';
type Fs = typeof import('node:fs/promises');
type NodePath = typeof import('node:path');

export async function writeFileAtomic(path: string, bytes: Uint8Array | string): Promise<void> {
  const fs = (await import(/* @vite-ignore */ FS)) as Fs;
  const nodePath = (await import(/* @vite-ignore */ PATH)) as NodePath;
  const dir = nodePath.dirname(path);
  const tmp = nodePath.join(dir, `.${nodePath.basename(path)}.${process.pid}.${Date.now()}.tmp`);
  const handle = await fs.open(tmp, 'w');
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await fs.rename(tmp, path);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
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

export async function readFileBytes(path: string): Promise<Uint8Array> {
  const fs = (await import(/* @vite-ignore */ FS)) as Fs;
  const buf = await fs.readFile(path);
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}
