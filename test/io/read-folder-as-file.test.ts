// A folder given where a weight file goes (the unzipped download's folder, a SavedModel folder):
// Node's EISDIR says 'illegal operation on a directory, read' and names no path, so the user
// could not tell which argument was wrong, and the CLI printed a stack. The error names the path.

import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { convertWeights, readWeightFile } from '../../src/io/load-weights.js';

const tmp = mkdtempSync(join(tmpdir(), 'dawnet-folder-as-file-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('a folder where a weight file goes', () => {
  it('readWeightFile: EISDIR naming the folder and the call', async () => {
    const folder = join(tmp, 'vgg16.h5');
    mkdirSync(folder);
    const error = (await readWeightFile(folder).catch((e: unknown) => e)) as NodeJS.ErrnoException;
    expect(error.code).toBe('EISDIR');
    expect(error.path).toBe(folder);
    expect(error.message).toBe(`readWeightFile: ${folder} is a folder, not a file (EISDIR)`);
  });

  it('convertWeights names itself', async () => {
    const error = (await convertWeights(tmp, join(tmp, 'out.safetensors')).catch((e: unknown) => e)) as NodeJS.ErrnoException;
    expect(error.code).toBe('EISDIR');
    expect(error.message).toBe(`convertWeights: ${tmp} is a folder, not a file (EISDIR)`);
  });
});
