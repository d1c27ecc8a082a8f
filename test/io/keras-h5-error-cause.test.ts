// A damaged HDF5 file's FormatError gives HDF5's cause, the innermost frame of its error stack
// ('truncated file: eof = ..., stored_eof = ...'), not the outermost one, which named only the
// build machine's source path and 'H5Fopen(): unable to synchronously open file'.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import { readKerasH5 } from '../../src/io/keras-h5.js';

const bytes = new Uint8Array(readFileSync(join(import.meta.dirname, '../fixtures/weights/vgg_mini_keras.h5')));

describe('readKerasH5: why a damaged file cannot be read', () => {
  it('a truncated file: says truncated, with the lengths, and no source paths', async () => {
    const cut = bytes.subarray(0, bytes.length >> 1);
    const error = await readKerasH5(cut, 'cut.h5').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FormatError);
    const message = (error as Error).message;
    expect(message, message).toMatch(new RegExp(`^cut\\.h5: not a readable HDF5 file \\(truncated or damaged\\): truncated file: eof = ${cut.length}, .*stored_eof = ${bytes.length}$`));
    expect(message).not.toContain('/__w/');
  });
});
