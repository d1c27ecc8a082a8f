// runPredict's handling of its inputs: slices that share a file name get their own outputs, a
// ground-truth mask is refused, and a zscore-volume run normalises a patient folder with the
// folder's statistics (as eval does) while a lone slice uses its own.
// predictWithTta is replaced by "channel 0 of the normalised input", so the tumour pixel count
// reports exactly what the model was given; decodeTiff is watched, to count the decodes.

import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import * as dn from '../../src/index.js';
import { defaultConfig, type TrainConfig } from '../../src/app/config.js';
import { buildModel } from '../../src/app/model.js';
import { outputNames, runPredict, sliceToRgb } from '../../src/app/predict-job.js';
import { runFiles } from '../../src/app/run-dir.js';
import { patientSlices, scanLgg } from '../../src/data/lgg.js';
import { byCodePoint } from '../../src/data/lgg-names.js';
import { volumeStats, applyStats, channelStats, zscoreImages } from '../../src/data/normalize.js';
import { writeSyntheticDataset } from '../../src/data/synth.js';
import { loadSlice } from '../../src/data/lgg.js';
import { decodeTiff, encodeTiff } from '../../src/data/tiff.js';
import { ArgumentError } from '../../src/errors.js';
import { saveCheckpoint } from '../../src/train/checkpoint.js';
import { predictWithTta } from '../../src/train/tta.js';
import { useGpu } from '../helpers/gpu.js';
import { tempDir } from './helpers.js';

vi.mock('../../src/train/tta.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/train/tta.js')>();
  return { ...real, predictWithTta: vi.fn(real.predictWithTta) };
});
vi.mock('../../src/data/tiff.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/data/tiff.js')>();
  return { ...real, decodeTiff: vi.fn(real.decodeTiff) };
});

useGpu();

const S = 16;
let work = '';
let config: TrainConfig;
let folder = '';

beforeAll(async () => {
  work = tempDir('dawnet-predict-inputs-');
  await writeSyntheticDataset(join(work, 'data'), { patients: 1, seed: 4, size: S, slicesPerPatient: [6, 6] });
  const first = (await scanLgg(join(work, 'data'), { size: S })).slices[0]!.imagePath;
  folder = first.replace(/\/[^/]+$/, '');
  // A darker first slice: its own statistics then differ from the volume's, as real slices do.
  const img = decodeTiff(readFileSync(first), first);
  writeFileSync(first, encodeTiff({ ...img, data: img.data.map((v) => v >> 2) }));
  config = { ...defaultConfig('segment'), data: join(work, 'data'), out: join(work, 'run'), size: S, features: 4, depth: 2, batch: 4, workers: 0, normalize: 'zscore-volume' };
  mkdirSync(config.out, { recursive: true });
  const { model } = buildModel(config);
  await saveCheckpoint(runFiles(config.out).last, model, null, {});
  model.dispose();
  writeFileSync(join(config.out, 'config.json'), JSON.stringify(config));
  vi.mocked(predictWithTta).mockImplementation(channel0);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const quiet = () => undefined;
const channel0 = (_model: unknown, x: dn.Tensor) => dn.slice(x, [0, 0, 0, 0], [1, S, S, 1]);

describe('runPredict inputs', () => {
  it('gives slices with the same file name their own outputs, and predictions.json points at each', async () => {
    const [a, b] = (await patientSlices(folder)).slice(2, 4);
    for (const [dir, src] of [['x', a], ['y', b]] as const) {
      mkdirSync(join(work, dir), { recursive: true });
      copyFileSync(src!, join(work, dir, 's.tif'));
    }
    const out = join(work, 'same-name');
    const results = await runPredict(config.out, [join(work, 'x/s.tif'), join(work, 'y/s.tif')], out, quiet);
    expect(results[0]!.outputs).toEqual(['prob', 'mask', 'overlay'].map((k) => `${out}/s_${k}.png`));
    expect(results[1]!.outputs).toEqual(['prob', 'mask', 'overlay'].map((k) => `${out}/s-2_${k}.png`));
    for (const r of results) for (const f of r.outputs) expect(existsSync(f), f).toBe(true);
    const json = JSON.parse(readFileSync(join(out, 'predictions.json'), 'utf8'));
    expect(json.predictions.map((p: { file: string; outputs: string[] }) => [p.file, p.outputs[0]])).toEqual([
      [join(work, 'x/s.tif'), `${out}/s_prob.png`],
      [join(work, 'y/s.tif'), `${out}/s-2_prob.png`],
    ]);
  });

  it('outputNames skips a suffix that a later file already owns', () => {
    expect(outputNames(['a/s.tif', 'b/s.tif', 'c/s-2.tif', 'd/s.tif'])).toEqual(['s', 's-2', 's-2-2', 's-3']);
  });

  it('refuses a ground-truth mask given as an image, naming it', async () => {
    const [slice] = await patientSlices(folder);
    const mask = slice!.replace(/\.tif$/, '_mask.tif');
    const error = await runPredict(config.out, [slice!, mask], join(work, 'masks'), quiet).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ArgumentError);
    expect((error as Error).message.startsWith(`predict: ${mask} is a ground-truth mask`)).toBe(true);
  });

  it('keeps the earlier predictions of an --out made alike, and refuses one made otherwise', async () => {
    const [a, b] = await patientSlices(folder);
    const out = join(work, 'again');
    await runPredict(config.out, [a!], out, quiet);
    await runPredict(config.out, [b!], out, quiet);
    const listed = () => JSON.parse(readFileSync(join(out, 'predictions.json'), 'utf8')).predictions.map((p: { file: string }) => p.file);
    expect(listed()).toEqual([a, b]);
    // The same slice again replaces its own entry.
    await runPredict(config.out, [a!], out, quiet);
    expect(listed()).toEqual([b, a]);
    const error = await runPredict(config.out, [a!], out, quiet, { tta: 'flip' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ArgumentError);
    expect((error as Error).message).toBe(`predict: ${out} holds predictions made with another tta (${join(out, 'predictions.json')}: "none", now "flip"); choose another --out, or remove ${join(out, 'predictions.json')}`);
    expect(listed()).toEqual([b, a]);
  });

  it('refuses a missing path and a file that is not a TIFF before writing anything', async () => {
    const [slice] = await patientSlices(folder);
    const out = join(work, 'checked-first');
    const fake = join(work, 'fake.tif');
    writeFileSync(fake, 'not an image');
    for (const [bad, message] of [
      [join(work, 'missing.tif'), `predict: ${join(work, 'missing.tif')}: no such file or folder`],
      [fake, `predict: ${fake} is not a TIFF slice (kaggle_3m's .tif); nothing was predicted`],
    ] as const) {
      const error = await runPredict(config.out, [slice!, bad], out, quiet).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ArgumentError);
      expect((error as Error).message).toBe(message);
    }
    // The good slice before the bad one was not predicted either.
    expect(existsSync(out)).toBe(false);
  });

  it('normalises a folder with its volume statistics as eval does, a lone slice with its own', async () => {
    const slices = (await scanLgg(join(work, 'data'), { size: S })).slices;
    const stats = (await volumeStats(slices, S)).get(slices[0]!.patient)!;
    const expected = await Promise.all(
      slices.map(async (s) => {
        const image = (await loadSlice(s, S)).image;
        applyStats(image, S * S, stats);
        let n = 0;
        for (let p = 0; p < S * S; p++) if (image[3 * p]! >= 0.5) n++;
        return n;
      }),
    );
    const results = await runPredict(config.out, [folder], join(work, 'volume'), quiet);
    expect(results.map((r) => r.tumourPixels)).toEqual(expected);
    // The same slice alone is z-scored on its own statistics: a different count for at least one.
    const alone = await Promise.all(slices.map(async (s, i) => (await runPredict(config.out, [s.imagePath], join(work, `alone-${i}`), quiet))[0]!.tumourPixels));
    expect(alone).not.toEqual(expected);
  });

  it("passes over a folder's hidden files (macOS's ._X_n.tif AppleDouble copies), as the data scan does", async () => {
    const slices = await patientSlices(folder);
    const copy = join(work, 'from-a-mac', folder.split('/').pop()!);
    mkdirSync(copy, { recursive: true });
    for (const s of slices) copyFileSync(s, join(copy, s.split('/').pop()!));
    // An AppleDouble header and some resource data: SLICE_FILE reads it as slice 1 of patient '._<folder>'.
    const appleDouble = new Uint8Array(4096);
    appleDouble.set([0x00, 0x05, 0x16, 0x07, 0x00, 0x02, 0x00, 0x00]);
    writeFileSync(join(copy, `._${slices[0]!.split('/').pop()!}`), appleDouble);
    writeFileSync(join(copy, '.DS_Store'), appleDouble);
    const results = await runPredict(config.out, [copy], join(work, 'hidden'), quiet);
    expect(results.map((r) => r.file)).toEqual(slices.map((s) => join(copy, s.split('/').pop()!)));
    const direct = await runPredict(config.out, [folder], join(work, 'hidden-want'), quiet);
    expect(results.map((r) => r.tumourPixels)).toEqual(direct.map((r) => r.tumourPixels));
  });

  it('decodes each slice once, a zscore-volume folder too, and feeds the model what decoding twice did, bit for bit', async () => {
    const slices = await patientSlices(folder);
    mkdirSync(join(work, 'lone'), { recursive: true });
    const lone = join(work, 'lone/other_1.tif');
    copyFileSync(slices[3]!, lone);
    // The folder, a slice from elsewhere, and one of the folder's slices given on its own again.
    const given = [...slices, lone, slices[0]!];
    const inputs: dn.Tensor[] = [];
    vi.mocked(predictWithTta).mockImplementation((model, x) => (inputs.push(dn.slice(x, [0, 0, 0, 0], [1, S, S, 3])), channel0(model, x)));
    vi.mocked(decodeTiff).mockClear();
    try {
      await runPredict(config.out, [folder, lone, slices[0]!], join(work, 'decode-once'), quiet);
    } finally {
      vi.mocked(predictWithTta).mockImplementation(channel0);
    }
    // Once each (a folder's slices are read concurrently, so in no fixed order).
    expect(vi.mocked(decodeTiff).mock.calls.map(([, name]) => name as string).sort(byCodePoint)).toEqual([...given].sort(byCodePoint));
    // What predict fed before: the folder decoded once for its statistics, each slice again to predict.
    const rgb = (path: string) => sliceToRgb(readFileSync(path), path, S);
    const stats = channelStats(slices.map(rgb), S * S, 3);
    const want = given.map((path, i) => {
      const input = rgb(path);
      if (i < slices.length) applyStats(input, S * S, stats);
      // A slice given on its own has no volume, even when its folder is given too: its own statistics.
      else zscoreImages(input, 1, S * S, 3);
      return input;
    });
    const got = await Promise.all(inputs.map((t) => t.toArray()));
    for (const t of inputs) t.dispose();
    expect(got.map((g) => new Uint32Array(g.buffer))).toEqual(want.map((w) => new Uint32Array(w.buffer)));
  });
});
