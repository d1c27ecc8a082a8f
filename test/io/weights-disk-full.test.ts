// Every atomic write (saveWeights here; predict's outputs, lr-find's and cv's files alike) names
// the file a full disk refused: Node's 'ENOSPC: no space left on device, write' names none, since
// write(2) takes a descriptor. The file already there is left as it was.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { injectWriteFaults } from '../cli/fault-fs.mjs';
import { useGpu } from '../helpers/gpu.js';

useGpu();

const dir = mkdtempSync(join(tmpdir(), 'dawnet-weights-disk-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('saveWeights on a full disk', () => {
  it('names the file and the cause, and keeps the file there before', async () => {
    const net = new dn.nn.Linear(3, 2);
    const path = join(dir, 'net.safetensors');
    writeFileSync(path, 'the previous weights');
    const undo = injectWriteFaults({ file: 'net.safetensors', mode: 'enospc' });
    let error: unknown;
    try {
      await dn.io.saveWeights(net, path);
    } catch (e) {
      error = e;
    } finally {
      undo();
    }
    expect((error as Error).message).toMatch(new RegExp(`saveWeights: cannot write ${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: the disk is full`));
    expect((error as NodeJS.ErrnoException).code).toBe('ENOSPC');
    expect(readFileSync(path, 'utf8')).toBe('the previous weights');
    // Control: with the disk taking writes again, the same call saves.
    await dn.io.saveWeights(net, path);
    expect(readFileSync(path).length).toBeGreaterThan(100);
    net.dispose();
  });
});
