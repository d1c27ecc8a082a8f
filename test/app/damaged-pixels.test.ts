// A slice whose header reads but whose compressed pixels are damaged is found by the run's data
// scan, which decodes every slice once: skipped with its file in the log (or refused with
// --strict), rather than failing the first batch that holds it or, in a test patient, the test
// evaluation after the whole training.

import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareData } from '../../src/app/data.js';
import { configFromFlags } from '../../src/cli/train.js';
import { DataError } from '../../src/data/errors.js';
import { writeSyntheticDataset } from '../../src/data/synth.js';
import { encodeTiff, readTiffInfo } from '../../src/data/tiff.js';

let work = '';
let data = '';
let damaged = '';

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'dawnet-damaged-pixels-'));
  data = join(work, 'kaggle_3m');
  await writeSyntheticDataset(data, { patients: 3, seed: 4, size: 16, slicesPerPatient: [3, 4] });
  const folder = readdirSync(data).filter((f) => f.startsWith('TCGA_')).sort()[0];
  damaged = join(data, folder, `${folder}_2.tif`);
  // A Deflate slice of the right size whose strip is cut short: the header is sound, the pixels not.
  const bytes = encodeTiff({ width: 16, height: 16, channels: 3, data: new Uint8Array(16 * 16 * 3).fill(90) }, { compression: 'deflate', deflate: deflateSync });
  const [strip] = readTiffInfo(bytes).strips;
  const cut = Uint8Array.from(bytes);
  cut.fill(0, strip.offset + Math.floor(strip.length / 2), strip.offset + strip.length); // the strip's back half only
  expect(() => readTiffInfo(cut)).not.toThrow(); // the header still reads
  writeFileSync(damaged, cut);
}, 60_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

const config = (extra: Record<string, unknown> = {}) => configFromFlags('segment', { data, out: join(work, 'run'), size: 16, features: 4, depth: 2, ...extra });

describe("the run's data scan", () => {
  it('skips a slice whose compressed pixels are damaged, naming it', async () => {
    const logs: string[] = [];
    const { dataset } = await prepareData(config(), (m) => logs.push(m));
    expect(dataset.summary.problems.map((p) => p.file)).toEqual([damaged]);
    expect(dataset.slices.map((s) => s.imagePath)).not.toContain(damaged);
    const at = logs.findIndex((l) => l.startsWith('data: skipped 1 problem file(s)'));
    expect(at).toBeGreaterThan(-1);
    expect(logs[at + 1].startsWith(`  ${damaged}: `), logs[at + 1]).toBe(true);
  });

  it('--strict stops at it', async () => {
    await expect(prepareData(config({ strict: true }), () => {})).rejects.toThrow(DataError);
    await expect(prepareData(config({ strict: true }), () => {})).rejects.toThrow(damaged);
  });
});
