// A checkpoint that meets a full or failing disk: the error names the file and says what the disk
// did (Node's own, 'ENOSPC: no space left on device, write', names neither, since write(2) takes a
// descriptor), the previous checkpoint is left whole and loadable, and no temporary stays behind.
// The fault is injected into node:fs/promises (test/cli/fault-fs.mjs); no code of dawnet's changes.

import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { Linear } from '../../src/nn/layers.js';
import { loadCheckpoint, saveCheckpoint } from '../../src/train/checkpoint.js';
import { isDiskWriteError, nameWriteError } from '../../src/util/write-error.js';
import { injectWriteFaults } from '../cli/fault-fs.mjs';
import { useGpu } from '../helpers/gpu.js';

useGpu();

const dir = mkdtempSync(join(tmpdir(), 'dawnet-ckpt-disk-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const cases = [
  { mode: 'enospc', code: 'ENOSPC', says: /the disk is full/ },
  { mode: 'eio', code: 'EIO', says: /input\/output error/ },
] as const;

describe('saveCheckpoint on a disk that refuses the write', () => {
  for (const k of cases) {
    it(`${k.code}: names the file and the cause, keeps the previous checkpoint, leaves no temporary`, async () => {
      const path = join(dir, `${k.mode}.safetensors`);
      const model = new Linear(3, 2);
      await saveCheckpoint(path, model, null, { epoch: 1 });
      const before = readFileSync(path);
      const restore = injectWriteFaults({ file: `${k.mode}.safetensors`, mode: k.mode });
      let err: unknown;
      try {
        err = await saveCheckpoint(path, model, null, { epoch: 2 }).then(() => null, (e: unknown) => e);
      } finally {
        restore();
      }
      expect(err).toBeInstanceOf(Error);
      const e = err as NodeJS.ErrnoException;
      // The code stays Node's, so callers can still tell a full disk by it; the path is the file's.
      expect([e.code, e.syscall, e.path]).toEqual([k.code, 'write', path]);
      expect(e.message).toContain(`saveCheckpoint: cannot write ${path}: `);
      expect(e.message).toMatch(k.says);
      expect(isDiskWriteError(e)).toBe(true);
      expect(readFileSync(path).equals(before)).toBe(true);
      expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
      const again = new Linear(3, 2);
      expect((await loadCheckpoint(path, again)).meta.epoch).toBe(1);
      again.dispose();
      model.dispose();
    });
  }

  it('control: with the fault undone the same save goes through', async () => {
    const path = join(dir, 'control.safetensors');
    const model = new Linear(3, 2);
    injectWriteFaults({ file: 'control.safetensors', mode: 'enospc' })();
    await saveCheckpoint(path, model, null, { epoch: 3 });
    const again = new Linear(3, 2);
    expect((await loadCheckpoint(path, again)).meta.epoch).toBe(3);
    again.dispose();
    model.dispose();
  });
});

describe('nameWriteError', () => {
  const enospc = () => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' });

  it('names the file in an error of the file system that names none, and leaves others as they came', () => {
    const e = nameWriteError(enospc(), '/run/metrics.jsonl') as NodeJS.ErrnoException;
    expect(e.message).toBe('cannot write /run/metrics.jsonl: the disk is full (ENOSPC: no space left on device, write)');
    expect(e.path).toBe('/run/metrics.jsonl');
    // Already naming its file (open's, rename's): untouched.
    const open = Object.assign(new Error("EACCES: permission denied, open '/run/x.json'"), { code: 'EACCES', syscall: 'open', path: '/run/x.json' });
    expect((nameWriteError(open, '/run/x.json') as Error).message).toBe("EACCES: permission denied, open '/run/x.json'");
    // Not the file system's: untouched.
    const other = new dn.DeviceLostError('GPU device lost');
    expect(nameWriteError(other, '/run/x.json')).toBe(other);
    expect(other.message).toBe('GPU device lost');
    expect(isDiskWriteError(other)).toBe(false);
  });
});
