// eval's --out, checked before anything is evaluated: a .json path, not a folder, not one of the
// evaluated runs' own files (`eval RUN --out RUN/best.safetensors` replaced the checkpoint with
// JSON before, and exited 0).

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkEvalOut } from '../../src/cli/eval.js';
import { UsageError } from '../../src/cli/args.js';

const dir = mkdtempSync(join(tmpdir(), 'dawnet-eval-out-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('eval --out', () => {
  it("refuses a path that is not .json, a folder, and the runs' own files; takes a new or earlier .json", async () => {
    const run = join(dir, 'run');
    const refused: [string, RegExp][] = [
      [join(run, 'best.safetensors'), /^--out takes a \.json path \(it writes the metrics as JSON\), got '.*best\.safetensors'$/],
      [join(dir, 'notes.txt'), /^--out takes a \.json path/],
      [dir, /^--out takes a \.json path/],
      [join(run, 'config.json'), /is one of the run's own files/],
      [join(run, 'eval.json'), /is one of the run's own files/],
      [`${run}/./split.json`, /is one of the run's own files/],
    ];
    for (const [out, message] of refused) {
      const error = await checkEvalOut(out, [run]).catch((e: unknown) => e);
      expect(error, out).toBeInstanceOf(UsageError);
      expect((error as Error).message, out).toMatch(message);
    }
    const folder = join(dir, 'a.json');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(folder);
    await expect(checkEvalOut(folder, [run])).rejects.toThrow(/is a folder; give a \.json path in it/);
    writeFileSync(join(dir, 'earlier.json'), '{}');
    await expect(checkEvalOut(join(dir, 'earlier.json'), [run])).resolves.toBeUndefined();
    await expect(checkEvalOut(join(dir, 'new', 'metrics.json'), [run, join(dir, 'other')])).resolves.toBeUndefined();
  });
});
