// A run's split.json is its split (test/app/saved-split.test.ts): a damaged one is refused, naming
// the file and the field, rather than crashing far away or being ignored (splitting again could
// move patients the run trained on into its test set).

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { savedSplit } from '../../src/app/data.js';
import { FormatError } from '../../src/errors.js';

let run = '';
beforeAll(() => {
  run = mkdtempSync(join(tmpdir(), 'dawnet-split-file-'));
});
afterAll(() => rmSync(run, { recursive: true, force: true }));

const patients = { train: ['TCGA_A'], val: ['TCGA_B'], test: ['TCGA_C'] };
const CASES = [
  ['level only', { level: 'patient' }, `'patients' must be an object of train, val and test lists, got undefined`],
  ['no val', { level: 'patient', patients: { train: ['TCGA_A'], test: [] } }, `'patients.val' must be a list of patient ids, got undefined`],
  ['a list', [], 'not a JSON object'],
  ['no level', { patients }, `'level' must be 'patient' or 'slice', got undefined`],
  ['a number in test', { level: 'patient', patients: { ...patients, test: [3] } }, `'patients.test' must be a list of patient ids, got [3]`],
] as const;

describe('split.json, checked', () => {
  for (const [name, content, fault] of CASES) {
    it(`${name}: a FormatError naming the file and the field`, async () => {
      writeFileSync(join(run, 'split.json'), JSON.stringify(content));
      const err = await savedSplit(run).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FormatError);
      expect((err as Error).message).toBe(`${join(run, 'split.json')}: split: ${fault}`);
    });
  }

  it('a sound one is read as it is', async () => {
    writeFileSync(join(run, 'split.json'), JSON.stringify({ level: 'slice', patients, counts: {} }));
    expect((await savedSplit(run))?.split).toEqual({ level: 'slice', patients, counts: {} });
  });
});
