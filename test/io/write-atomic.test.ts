// writeFileAtomic: a failure names the file asked for and leaves no temporary file behind, whether
// the temporary cannot be created, written or renamed; success replaces the old content whole.

import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../../src/io/files.js';

const work = mkdtempSync(join(tmpdir(), 'dawnet-atomic-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('writeFileAtomic', () => {
  it('replaces a file whole', async () => {
    const path = join(work, 'a.json');
    writeFileSync(path, 'old content, longer than the new');
    await writeFileAtomic(path, 'new');
    expect(readFileSync(path, 'utf8')).toBe('new');
    expect(readdirSync(work).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('a missing folder: the error names the file asked for, not the temporary', async () => {
    const path = join(work, 'no-such-folder', 'x.json');
    const error = (await writeFileAtomic(path, '{}').catch((e: unknown) => e)) as NodeJS.ErrnoException;
    expect(error.code).toBe('ENOENT');
    expect(error.message).toContain(path);
    expect(error.message).not.toContain('.tmp');
  });

  it('a failed write leaves the old file and no temporary', async () => {
    const dir = join(work, 'failing');
    mkdirSync(dir);
    const path = join(dir, 'b.json');
    writeFileSync(path, 'kept');
    // Not bytes: writeFile fails after the temporary was opened (as a full disk would).
    await expect(writeFileAtomic(path, 42 as never)).rejects.toThrow();
    expect(readFileSync(path, 'utf8')).toBe('kept');
    expect(readdirSync(dir)).toEqual(['b.json']);
  });
});
