// The bad-input sweep, part 8: dn.augment on tensors and dn.data's functions of host arrays and
// bytes (TIFF, slices, normalisation, splits). Each row is a DawnetError naming the function and
// the argument, with nothing allocated or dispatched; the controls run the same calls well formed.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { badTensors, expectAllRefused, filled, useSweep, type BadRow } from '../helpers/bad-input.js';

const f = useSweep(() => ({ img: filled([2, 4, 4, 3]), mask: filled([2, 4, 4, 1]), wide: filled([2, 5, 4, 1]) }));
const t = () => f.t;
const { ArgumentError: Arg, ShapeError: Shp } = dn;
type ErrorClass = new (...args: never[]) => Error;
const row = (op: string, what: string, names: string, call: () => unknown, cls: ErrorClass = dn.DawnetError): BadRow => ({ op, what, names, call, cls });

const gray = () => ({ width: 2, height: 2, channels: 1, data: new Uint8Array(4) });
const slices = [
  { patient: 'a', label: 1 },
  { patient: 'b', label: 0 },
  { patient: 'c', label: 1 },
];
const stats = { mean: [0.5], std: [0.1] };

const rows = (): BadRow[] => [
  ...badTensors(f).map(([what, v, cls]) => row('flip', `x: ${what}`, 'x', () => dn.augment.flip(v() as never, { horizontal: true }), cls)),
  ...badTensors(f, { nullable: true }).map(([what, v, cls]) => row('affine', `mask: ${what}`, 'mask', () => dn.augment.affine(t().img, { rotation: 10, mask: v() as never }), cls)),
  row('flip', 'p 2', 'p', () => dn.augment.flip(t().img, { p: 2, seed: 1 }), Arg),
  row('affine', 'a mask of another size', 'mask', () => dn.augment.affine(t().img, { mask: t().wide }), Shp),
  row('affine', "Keras's rotation_range", 'rotation_range', () => dn.augment.affine(t().img, { rotation_range: 10 } as never), Arg),
  row('affinePair', 'mask left out', 'mask', () => (dn.augment.affinePair as (x: dn.Tensor) => unknown)(t().img), Arg),
  row('elastic', 'options left out', 'options', () => (dn.augment.elastic as (x: dn.Tensor) => unknown)(t().img), Arg),
  row('elastic', 'sigma -1', 'sigma', () => dn.augment.elastic(t().img, { alpha: 2, sigma: -1 }), Arg),
  row('elastic', 'alpha a string', 'alpha', () => dn.augment.elastic(t().img, { alpha: '2' as never, sigma: 1 }), Arg),
  row('augmentBatch', "dn.augment.batch with preset 'rotate'", 'preset', () => dn.augment.batch(t().img, t().mask, 'rotate' as never, 1), Shp),
  row('augmentBatch', 'seed NaN', 'seed', () => dn.augment.augmentBatch(t().img, null, 'hflip', NaN), Shp),
  row('drawAffineParams', 'n -1', 'n', () => dn.augment.drawAffineParams(-1, 4, 4, { rotation: 10, seed: 1 }), Arg),
  row('drawAffineParams', 'height 2.5', 'height', () => dn.augment.drawAffineParams(2, 2.5, 4, { seed: 1 }), Arg),
  row('drawAffineParams', "rotation '10'", 'rotation', () => dn.augment.drawAffineParams(2, 4, 4, { rotation: '10' as never }), Arg),
  // TIFF.
  row('decodeTiff', 'bytes a number', 'bytes', () => dn.data.decodeTiff(3 as never), Arg),
  row('readTiffInfo', 'bytes a string', 'bytes', () => dn.data.readTiffInfo('II*\0' as never), Arg),
  row('encodeTiff', 'image left out', 'image', () => (dn.data.encodeTiff as () => unknown)(), Arg),
  row('encodeTiff', 'data of 3 samples for 2x2', 'samples', () => dn.data.encodeTiff({ ...gray(), data: new Uint8Array(3) })),
  row('encodeTiff', 'a fractional width', 'width', () => dn.data.encodeTiff({ ...gray(), width: 1.5, height: 4 / 1.5 }), Arg),
  row('encodeTiff', 'data a Float32Array', 'data', () => dn.data.encodeTiff({ ...gray(), data: new Float32Array(4) as never })),
  row('encodeTiff', 'an unknown option', 'compress', () => dn.data.encodeTiff(gray(), { compress: 'deflate' } as never), Arg),
  row('encodeTiff', "compression 'lzw'", 'compression', () => dn.data.encodeTiff(gray(), { compression: 'lzw' as never }), Arg),
  row('encodeTiff', 'rowsPerStrip 0.5', 'rowsPerStrip', () => dn.data.encodeTiff(gray(), { rowsPerStrip: 0.5 }), Arg),
  row('decodeSlice', 'image bytes a string', 'imageBytes', () => dn.data.decodeSlice('x' as never, new Uint8Array(8), 4), Arg),
  row('decodeSlice', 'size 0', 'size', () => dn.data.decodeSlice(dn.data.encodeTiff(gray()), dn.data.encodeTiff(gray()), 0), Arg),
  // Normalisation on the host.
  row('channelStats', 'images a Float32Array', 'images', () => dn.data.channelStats(new Float32Array(4) as never, 4, 1), Arg),
  row('channelStats', 'an image shorter than pixels x channels', 'images[0]', () => dn.data.channelStats([new Float32Array(3)], 4, 1), Shp),
  row('channelStats', 'pixels 1.5', 'pixels', () => dn.data.channelStats([new Float32Array(4)], 1.5, 1), Arg),
  row('channelStats', 'channels 0', 'channels', () => dn.data.channelStats([new Float32Array(4)], 4, 0), Arg),
  row('applyStats', 'stats with a zero std', 'stats', () => dn.data.applyStats(new Float32Array(4), 4, { mean: [0], std: [0] }), Arg),
  row('applyStats', 'stats left out', 'stats', () => (dn.data.applyStats as (a: Float32Array, p: number) => unknown)(new Float32Array(4), 4), Arg),
  row('applyStats', 'an image shorter than pixels x channels', 'image', () => dn.data.applyStats(new Float32Array(3), 4, stats), Shp),
  row('zscoreImages', 'count past the data', 'count', () => dn.data.zscoreImages(new Float32Array(4), 2, 4, 1), Shp),
  row('zscoreImages', 'images a plain array', 'images', () => dn.data.zscoreImages([1, 2] as never, 1, 2, 1), Arg),
  // Splits.
  row('splitDataset', 'slices a number', 'slices', () => dn.data.splitDataset(3 as never, { seed: 1 }), Arg),
  row('splitDataset', 'options left out', 'options', () => (dn.data.splitDataset as (s: unknown) => unknown)(slices), Arg),
  row('splitDataset', 'seed left out', 'seed', () => dn.data.splitDataset(slices, {} as never), Arg),
  row('splitDataset', 'test 1.5', 'test', () => dn.data.splitDataset(slices, { seed: 1, test: 1.5 })),
  row('splitDataset', 'an unknown option', 'validation', () => dn.data.splitDataset(slices, { seed: 1, validation: 0.3 } as never), Arg),
  row('splitDataset', "level 'volume'", 'level', () => dn.data.splitDataset(slices, { seed: 1, level: 'volume' as never }), Arg),
  row('splitDataset', 'a slice with no patient', 'slices[1]', () => dn.data.splitDataset([slices[0], { label: 1 } as never], { seed: 1 }), Arg),
  row('kFoldSplits', 'k 1', 'k', () => dn.data.kFoldSplits(slices, { k: 1, seed: 1 })),
  row('kFoldSplits', 'an unknown option', 'folds', () => dn.data.kFoldSplits(slices, { k: 2, seed: 1, folds: 3 } as never), Arg),
  row('kFoldSplits', 'seed a string', 'seed', () => dn.data.kFoldSplits(slices, { k: 2, seed: '1' as never }), Arg),
  row('classCounts', 'slices a string', 'slices', () => dn.data.classCounts('abc' as never), Arg),
  row('checkNoPatientLeak', 'split a list of slices', 'split', () => dn.data.checkNoPatientLeak(slices as never), Arg),
];

describe('bad input to dn.augment and dn.data', () => {
  it('every row is refused by name, before any GPU work', async () => {
    await expectAllRefused(rows());
  });

  it('controls: the same calls, well formed, work', () => {
    const out = dn.scope(() => {
      const a = dn.augment.affine(t().img, { rotation: 10, seed: 1, mask: t().mask });
      const e = dn.augment.elastic(t().img, { alpha: 2, sigma: 1, seed: 1 });
      const b = dn.augment.batch(t().img, t().mask, 'hflip', 1);
      return [a.image.shape, a.mask!.shape, e.image.shape, b.images.shape, dn.augment.flip(t().img, { horizontal: true }).shape];
    });
    expect(out).toEqual([[2, 4, 4, 3], [2, 4, 4, 1], [2, 4, 4, 3], [2, 4, 4, 3], [2, 4, 4, 3]]);
    expect(dn.augment.drawAffineParams(2, 4, 4, { rotation: 10, seed: 1 })).toHaveLength(2);
    const bytes = dn.data.encodeTiff({ ...gray(), data: Uint8Array.from([0, 50, 100, 250]) }, { compression: 'none', rowsPerStrip: 1 });
    expect(dn.data.readTiffInfo(bytes, 'g.tif').width).toBe(2);
    expect(Array.from(dn.data.decodeTiff(bytes, 'g.tif').data)).toEqual([0, 50, 100, 250]);
    const s = dn.data.channelStats([Float32Array.from([1, 2, 3, 4])], 4, 1);
    expect(s.mean).toEqual([2.5]);
    const image = Float32Array.from([1, 2, 3, 4]);
    dn.data.applyStats(image, 4, s);
    expect(image[0]).toBeCloseTo(-1.5 / Math.sqrt(1.25), 6);
    const images = Float32Array.from([1, 2, 3, 4, 5, 5, 5, 5]);
    dn.data.zscoreImages(images, 2, 4, 1);
    expect(Array.from(images.slice(4))).toEqual([0, 0, 0, 0]);
    const split = dn.data.splitDataset(slices, { seed: 1, test: 0.3, val: 0.3, level: 'patient' });
    dn.data.checkNoPatientLeak(split);
    expect(split.train.length + split.val.length + split.test.length).toBe(3);
    expect(dn.data.kFoldSplits(slices, { k: 3, seed: 1 })).toHaveLength(3);
    expect(dn.data.classCounts(slices).tumour).toBe(2);
  });
});
