// makeFolder: the output folders of the CLI. Made one level at a time, so a file system that refuses
// a new folder (/proc, where Node's recursive mkdir retries forever) fails at once, naming the folder.

import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeFolder } from '../../src/io/files.js';

const work = mkdtempSync(join(tmpdir(), 'dawnet-folder-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const failure = async (dir: string) => (await makeFolder(dir).then(() => null, (e: unknown) => e)) as NodeJS.ErrnoException | null;

describe('makeFolder', () => {
  it('takes an existing folder as it is', async () => {
    mkdirSync(join(work, 'there'));
    writeFileSync(join(work, 'there', 'kept.txt'), 'kept');
    await makeFolder(join(work, 'there'));
    await makeFolder(`${join(work, 'there')}/`);
    expect(statSync(join(work, 'there', 'kept.txt')).isFile()).toBe(true);
  });

  it('creates nested new folders, relative paths included', async () => {
    const dir = join(work, 'a', 'b', 'c');
    await makeFolder(dir);
    expect(statSync(dir).isDirectory()).toBe(true);
    const cwd = process.cwd();
    process.chdir(work);
    try {
      await makeFolder('rel/x/y');
    } finally {
      process.chdir(cwd);
    }
    expect(statSync(join(work, 'rel', 'x', 'y')).isDirectory()).toBe(true);
  });

  it('a file in the way, as the folder or above it: an error naming the folder and the file', async () => {
    const file = join(work, 'file.txt');
    writeFileSync(file, 'x');
    const itself = await failure(file);
    expect(itself?.code).toBe('EEXIST');
    expect(itself?.message).toContain(`cannot create folder ${file}: ${file} is in the way`);
    const below = join(file, 'sub', 'deeper');
    const above = await failure(below);
    expect(above?.code).toBe('ENOTDIR');
    expect(above?.message).toContain(`cannot create folder ${below}: ${file} is in the way`);
  });

  it('concurrent calls creating the same parents all succeed', async () => {
    const base = join(work, 'race', 'p', 'q');
    await Promise.all(['1', '2', '3', '4'].map((n) => makeFolder(join(base, n))));
    for (const n of ['1', '2', '3', '4']) expect(statSync(join(base, n)).isDirectory()).toBe(true);
  });

  it.runIf(process.platform === 'linux')('a folder under /proc fails at once, naming it (Node 20 recursive mkdir spins there)', async () => {
    for (const dir of ['/proc/dawnet-no-such', '/proc/dawnet-no-such/a/b', '/proc/self/dawnet-no-such']) {
      const e = await failure(dir);
      expect(e?.code, dir).toBeTypeOf('string');
      expect(e?.message, dir).toContain(`cannot create folder ${dir}:`);
    }
  }, 5_000);
});
