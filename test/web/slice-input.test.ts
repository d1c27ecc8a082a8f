// The Segment panel's slice input in Node, no browser: how 'zscore-volume' groups the files given
// into patients (folder and kaggle_3m prefix where the browser gives paths, the prefix alone where
// it gives none), that readSlices decodes each file once and normalises as the page did when it
// decoded twice (bit for bit), and how a drop's entries and picked files are listed (hidden files
// left out, slice order). decodeTiff is watched to count decodes.

import { describe, expect, it, vi } from 'vitest';
import { sliceToRgb } from '../../src/app/predict-job.js';
import { applyStats, channelStats } from '../../src/data/normalize.js';
import { decodeTiff, encodeTiff } from '../../src/data/tiff.js';
import { filesOfEntries, droppedFiles, type DropEntry } from '../../web/dropped-files.js';
import { givenFile, pickedFiles, readSlices, volumeOf, type GivenFile, type InputSpec, type SliceInput } from '../../web/slice-input.js';

vi.mock('../../src/data/tiff.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/data/tiff.js')>();
  return { ...real, decodeTiff: vi.fn(real.decodeTiff) };
});

const SIDE = 8;
const DEPTH = 2;
const VOLUME: InputSpec = { size: SIDE, normalize: 'zscore-volume' };

/** A TIFF slice whose values depend on `seed`: slices of one name in two folders differ. */
function tiff(seed: number): Uint8Array {
  const data = Uint8Array.from({ length: SIDE * SIDE * 3 }, (_, i) => (i * 7 + seed * 31 + ((i * seed) % 13)) % 256);
  return encodeTiff({ width: SIDE, height: SIDE, channels: 3, data });
}

const given = (name: string, path: string, seed: number): GivenFile => ({ file: new File([new Uint8Array(tiff(seed))], name), path });

async function all(files: GivenFile[], spec: InputSpec = VOLUME): Promise<SliceInput[]> {
  const out: SliceInput[] = [];
  for await (const s of readSlices(files, spec, DEPTH)) out.push(s);
  return out;
}

/** What the page fed before: each group's slices decoded for their statistics, each slice again, applyStats on a copy. */
async function twoPasses(files: GivenFile[], groups: number[][]): Promise<Float32Array[]> {
  const rgb = async (f: GivenFile) => sliceToRgb(new Uint8Array(await f.file.arrayBuffer()), f.file.name, SIDE);
  const want: Float32Array[] = [];
  for (const group of groups) {
    const images = await Promise.all(group.map((i) => rgb(files[i]!)));
    const joined = new Float32Array(images.length * SIDE * SIDE * 3);
    images.forEach((im, k) => joined.set(im, k * im.length));
    const stats = channelStats([joined], joined.length / 3, 3);
    for (const i of group) {
      want[i] = await rgb(files[i]!);
      applyStats(want[i]!, SIDE * SIDE, stats);
    }
  }
  return want;
}

const bits = (xs: Float32Array[]) => xs.map((x) => new Uint32Array(x.buffer, x.byteOffset, x.length));

describe('volumeOf: the patient a slice counts in', () => {
  it('groups by folder and prefix where a path is given, by the prefix alone where none is', () => {
    const of = (name: string, path: string) => volumeOf({ file: new File([], name), path });
    const a = of('TCGA_A_1.tif', 'kaggle_3m/TCGA_A/TCGA_A_1.tif');
    expect(a).toMatchObject({ patient: 'TCGA_A', folder: 'kaggle_3m/TCGA_A' });
    expect(of('TCGA_A_2.tif', 'kaggle_3m/TCGA_A/TCGA_A_2.tif').key).toBe(a.key);
    // DataTransfer entries' fullPath starts with '/'.
    expect(of('TCGA_A_3.tif', '/kaggle_3m/TCGA_A/TCGA_A_3.tif').key).toBe(a.key);
    // Same prefix, another folder: another volume.
    expect(of('TCGA_A_1.tif', 'copy/TCGA_A/TCGA_A_1.tif').key).not.toBe(a.key);
    // No folder in the path (none given, or a file dropped on its own): the prefix alone.
    const bare = of('TCGA_A_1.tif', '');
    expect(bare).toMatchObject({ patient: 'TCGA_A', folder: null });
    expect(of('TCGA_A_7.TIFF', '/TCGA_A_7.TIFF').key).toBe(bare.key);
    expect(of('TCGA_B_1.tif', '').key).not.toBe(bare.key);
    // A name that is not kaggle_3m's is a patient of its own.
    expect(of('scan.tif', '')).toMatchObject({ patient: 'scan.tif', folder: null });
  });

  it('takes a picked folder file\'s webkitRelativePath as its path', () => {
    const file = new File([], 'TCGA_A_1.tif');
    expect(givenFile(file).path).toBe('');
    Object.defineProperty(file, 'webkitRelativePath', { value: 'TCGA_A/TCGA_A_1.tif' });
    expect(givenFile(file).path).toBe('TCGA_A/TCGA_A_1.tif');
  });
});

describe("readSlices for a 'zscore-volume' checkpoint", () => {
  it('decodes each file once and normalises as decoding twice did, bit for bit, keeping same-named folders apart', async () => {
    const files = [
      given('TCGA_A_1.tif', 'x/TCGA_A/TCGA_A_1.tif', 1),
      given('TCGA_A_1.tif', 'y/TCGA_A/TCGA_A_1.tif', 2),
      given('TCGA_A_2.tif', 'x/TCGA_A/TCGA_A_2.tif', 3),
      given('TCGA_A_2.tif', 'y/TCGA_A/TCGA_A_2.tif', 4),
      given('TCGA_B_1.tif', 'x/TCGA_B/TCGA_B_1.tif', 5),
    ];
    vi.mocked(decodeTiff).mockClear();
    const got = await all(files);
    expect(vi.mocked(decodeTiff).mock.calls.map(([, name]) => name)).toEqual(files.map((f) => f.file.name));
    expect(bits(got.map((s) => s.input))).toEqual(bits(await twoPasses(files, [[0, 2], [1, 3], [4]])));
    expect(got.map((s) => s.normalised)).toEqual([
      'z-scored with the statistics of the 2 slices of TCGA_A in x/TCGA_A/ given together',
      'z-scored with the statistics of the 2 slices of TCGA_A in y/TCGA_A/ given together',
      'z-scored with the statistics of the 2 slices of TCGA_A in x/TCGA_A/ given together',
      'z-scored with the statistics of the 2 slices of TCGA_A in y/TCGA_A/ given together',
      'z-scored by its own statistics (no other slice of its patient given)',
    ]);
  });

  it('without paths groups by the prefix alone, and the card says so', async () => {
    const files = [given('TCGA_A_1.tif', '', 1), given('TCGA_A_1.tif', '', 2), given('TCGA_A_2.tif', '', 3)];
    vi.mocked(decodeTiff).mockClear();
    const got = await all(files);
    expect(vi.mocked(decodeTiff)).toHaveBeenCalledTimes(files.length);
    expect(bits(got.map((s) => s.input))).toEqual(bits(await twoPasses(files, [[0, 1, 2]])));
    for (const s of got) expect(s.normalised).toMatch(/^z-scored with the statistics of the 3 slices of TCGA_A given together, grouped by file name only \(the browser gave no folders/);
  });

  it("decodes each file once for 'zscore' too, each slice by its own statistics", async () => {
    const files = [given('TCGA_A_1.tif', '', 1), given('TCGA_A_2.tif', '', 2)];
    vi.mocked(decodeTiff).mockClear();
    const got = await all(files, { size: SIDE, normalize: 'zscore' });
    expect(vi.mocked(decodeTiff)).toHaveBeenCalledTimes(files.length);
    expect(bits(got.map((s) => s.input))).toEqual(bits(await twoPasses(files, [[0], [1]])));
  });
});

/** A fake FileSystemEntry tree: a folder lists its entries `batch` at a time, as readEntries does. */
function fakeFile(fullPath: string): DropEntry & { file: (ok: (f: File) => void) => void } {
  const name = fullPath.split('/').pop()!;
  return { isFile: true, isDirectory: false, fullPath, name, file: (ok) => ok(new File([], name)) };
}
function fakeFolder(fullPath: string, children: DropEntry[], batch = 2): DropEntry {
  return {
    isFile: false,
    isDirectory: true,
    fullPath,
    name: fullPath.split('/').pop()!,
    createReader: () => {
      let at = 0;
      return { readEntries: (ok: (es: DropEntry[]) => void) => ok(children.slice(at, (at += batch))) };
    },
  } as DropEntry;
}

describe('the files of a drop', () => {
  it('lists dropped folders to the bottom, across readEntries batches, with paths, in slice order', async () => {
    const a = ['/k/TCGA_A/TCGA_A_10.tif', '/k/TCGA_A/TCGA_A_2.tif', '/k/TCGA_A/TCGA_A_1.tif', '/k/TCGA_A/TCGA_A_1_mask.tif'];
    const tree = fakeFolder('/k', [fakeFolder('/k/TCGA_A', a.map(fakeFile)), fakeFile('/k/TCGA_B_1.tif')]);
    const files = await filesOfEntries([tree, fakeFile('/loose_3.tif')]);
    expect(files.map((f) => f.path)).toEqual([
      '/k/TCGA_A/TCGA_A_1_mask.tif',
      '/k/TCGA_A/TCGA_A_1.tif',
      '/k/TCGA_A/TCGA_A_2.tif',
      '/k/TCGA_A/TCGA_A_10.tif',
      '/k/TCGA_B_1.tif',
      '/loose_3.tif',
    ]);
    expect(files.map((f) => f.file.name)).toEqual(files.map((f) => f.path.split('/').pop()));
  });

  it('falls back to the bare files, with no paths, where the browser gives no entries', async () => {
    const file = new File([], 'TCGA_A_1.tif');
    const data = { items: [{ kind: 'file' }], files: [file] } as unknown as DataTransfer;
    expect(await droppedFiles(data)).toEqual([{ file, path: '' }]);
  });

  it("leaves out hidden entries (macOS's ._X_n.tif, .DS_Store) and hidden folders, as the data scan does", async () => {
    const a = ['/k/TCGA_A/TCGA_A_2.tif', '/k/TCGA_A/._TCGA_A_2.tif', '/k/TCGA_A/TCGA_A_1.tif', '/k/TCGA_A/._TCGA_A_1.tif', '/k/TCGA_A/.DS_Store'];
    const tree = fakeFolder('/k', [fakeFolder('/k/TCGA_A', a.map(fakeFile)), fakeFolder('/k/.git', [fakeFile('/k/.git/TCGA_B_1.tif')])]);
    const files = await filesOfEntries([tree, fakeFile('/._loose_3.tif')]);
    expect(files.map((f) => f.path)).toEqual(['/k/TCGA_A/TCGA_A_1.tif', '/k/TCGA_A/TCGA_A_2.tif']);
    const bare = [new File([], '._TCGA_A_1.tif'), new File([], 'TCGA_A_1.tif')];
    expect(await droppedFiles({ items: [{ kind: 'file' }, { kind: 'file' }], files: bare } as unknown as DataTransfer)).toEqual([{ file: bare[1], path: '' }]);
  });
});

describe('picked files', () => {
  const picked = (name: string, path = ''): File => {
    const file = new File([], name);
    if (path) Object.defineProperty(file, 'webkitRelativePath', { value: path });
    return file;
  };

  it("come in slice order as dropped ones do (_2 before _10), not the browser's (_1, _10, _2)", () => {
    const files = ['TCGA_A_1.tif', 'TCGA_A_10.tif', 'TCGA_A_2.tif', 'TCGA_A_1_mask.tif'].map((n) => picked(n));
    expect(pickedFiles(files).map((f) => f.file.name)).toEqual(['TCGA_A_1_mask.tif', 'TCGA_A_1.tif', 'TCGA_A_2.tif', 'TCGA_A_10.tif']);
  });

  it("from a folder keep its paths, grouped by folder, hidden files and folders left out", () => {
    const files = [
      picked('TCGA_B_1.tif', 'k/TCGA_B/TCGA_B_1.tif'),
      picked('TCGA_A_10.tif', 'k/TCGA_A/TCGA_A_10.tif'),
      picked('._TCGA_A_2.tif', 'k/TCGA_A/._TCGA_A_2.tif'),
      picked('TCGA_A_2.tif', 'k/TCGA_A/TCGA_A_2.tif'),
      picked('.DS_Store', 'k/.DS_Store'),
      picked('TCGA_C_1.tif', 'k/.Trashes/TCGA_C_1.tif'),
    ];
    const got = pickedFiles(files);
    expect(got.map((f) => f.path)).toEqual(['k/TCGA_A/TCGA_A_2.tif', 'k/TCGA_A/TCGA_A_10.tif', 'k/TCGA_B/TCGA_B_1.tif']);
    expect(got.map((f) => volumeOf(f).folder)).toEqual(['k/TCGA_A', 'k/TCGA_A', 'k/TCGA_B']);
  });
});
