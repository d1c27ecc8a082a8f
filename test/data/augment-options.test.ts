// dn.augment as the README describes it: flip, affine and elastic move the image and its mask by one
// draw, and every augment function refuses options it does not know (audit14 finding 3).

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { seededRandom } from '../../src/data/augment.js';
import { nd } from '../../src/reference/array.js';
import { flipRef } from '../../src/reference/augment.js';
import { expectThrows } from '../helpers/errors.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

const shape = [6, 5, 7, 3];
const n = shape[0];
const x = uniform(6 * 5 * 7 * 3, 21, 0, 1);
/** The mask is channel 0 thresholded, so an aligned flip keeps it equal to the flipped image's. */
const mask = Float64Array.from({ length: x.length / 3 }, (_, p) => (x[3 * p] > 0.5 ? 1 : 0));

/** The specification of the random form: sample i is flipped when the i-th draw of the seed is < p. */
function drawnFlags(seed: number, p: number): boolean[] {
  const rand = seededRandom(seed);
  return Array.from({ length: n }, () => rand() < p);
}

async function take(t: dn.Tensor | undefined): Promise<number[]> {
  if (!t) throw new Error('missing tensor');
  const v = Array.from(await t.toArray());
  t.dispose();
  return v;
}

describe('augment.flip, random form', () => {
  it('flips image and mask by the same per-sample draw, as the CPU reference', async () => {
    const xt = fromNd(x, shape);
    const mt = fromNd(mask, [n, 5, 7, 1]);
    for (const [seed, p] of [[7, 0.5], [8, 0.5], [3, 0.3], [4, 0], [5, 1]] as const) {
      const horizontal = drawnFlags(seed, p);
      const none = Array<boolean>(n).fill(false);
      const out = dn.augment.flip(xt, { p, seed, mask: mt });
      const [image, gotMask] = [await take(out.image), await take(out.mask)];
      expect(image, `seed ${seed} p ${p} image`).toEqual(Array.from(flipRef(nd(x, shape), horizontal, none).data, Math.fround));
      expect(gotMask, `seed ${seed} p ${p} mask`).toEqual(Array.from(flipRef(nd(mask, [n, 5, 7, 1]), horizontal, none).data));
      expect(gotMask, `seed ${seed} p ${p} mask follows the image`).toEqual(Array.from({ length: gotMask.length }, (_, i) => (image[3 * i] > 0.5 ? 1 : 0)));
    }
    // The draws above include flipped and unflipped samples in one batch.
    expect(new Set(drawnFlags(7, 0.5)).size).toBe(2);
    xt.dispose();
    mt.dispose();
  });

  it('is reproducible by seed, differs across seeds, and defaults to p 0.5', async () => {
    const xt = fromNd(x, shape);
    const run = async (seed: number, p?: number) => take(dn.augment.flip(xt, p === undefined ? { seed } : { seed, p }).image);
    expect(await run(7)).toEqual(await run(7));
    expect(await run(7)).toEqual(await run(7, 0.5));
    expect(drawnFlags(7, 0.5)).not.toEqual(drawnFlags(8, 0.5));
    expect(await run(7)).not.toEqual(await run(8));
    const out = dn.augment.flip(xt, { seed: 1 });
    expect(Object.keys(out)).toEqual(['image']);
    out.image.dispose();
    xt.dispose();
  });

  it('the batch preset hflip draws as flip({ p: 0.5 }) and moves the mask with it', async () => {
    const xt = fromNd(x, shape);
    const mt = fromNd(mask, [n, 5, 7, 1]);
    const b = dn.augment.batch(xt, mt, 'hflip', 11);
    const [image, gotMask] = [await take(b.images), await take(b.masks ?? undefined)];
    expect(gotMask).toEqual(Array.from({ length: gotMask.length }, (_, i) => (image[3 * i] > 0.5 ? 1 : 0)));
    xt.dispose();
    mt.dispose();
  });

  it('keeps the explicit form: flags in, the flipped tensor out', async () => {
    const xt = fromNd(x, shape);
    const horizontal = [true, false, true, false, false, true];
    const vertical = [false, true, true, false, true, false];
    const got = dn.augment.flip(xt, { horizontal, vertical });
    expect(got).toBeInstanceOf(dn.Tensor);
    expect(await take(got)).toEqual(Array.from(flipRef(nd(x, shape), horizontal, vertical).data, Math.fround));
    xt.dispose();
  });
});

describe('augment options', () => {
  it('unknown or misplaced options are ArgumentErrors naming the function and the option', () => {
    const xt = fromNd(x, shape);
    const mt = fromNd(mask, [n, 5, 7, 1]);
    const cases: [string, () => unknown, string][] = [
      ['flip bogus', () => dn.augment.flip(xt, { bogus: 1 } as never), "flip: unknown option 'bogus'"],
      ['flip probability', () => dn.augment.flip(xt, { probability: 0.3 } as never), "flip: unknown option 'probability' (did you mean p?)"],
      ['flip mask with flags', () => dn.augment.flip(xt, { horizontal: true, mask: mt } as never), "flip: 'mask' goes with the random form"],
      ['flip seed with flags', () => dn.augment.flip(xt, { vertical: true, seed: 1 } as never), "flip: 'seed' goes with the random form"],
      ['flip horizontal a string', () => dn.augment.flip(xt, { horizontal: 'yes' } as never), "flip: horizontal must be true, false or an array"],
      ['flip p above 1', () => dn.augment.flip(xt, { p: 2 }), 'flip: p must be a finite number >= 0 and <= 1'],
      ['flip options a number', () => dn.augment.flip(xt, 1 as never), 'flip: options must be an object'],
      ['affine bogus', () => dn.augment.affine(xt, { bogus: 1 } as never), "affine: unknown option 'bogus'"],
      ['affine Keras name', () => dn.augment.affine(xt, { rotation_range: 10 } as never), "affine: unknown option 'rotation_range' (did you mean rotation?)"],
      ['affine fillMode', () => dn.augment.affine(xt, { fillMode: 'wrap' } as never), "affine: fillMode must be 'reflect' or 'nearest' or 'constant'"],
      ['affinePair mask option', () => dn.augment.affinePair(xt, mt, { mask: mt } as never), "affinePair: unknown option 'mask'"],
      ['drawAffineParams bogus', () => dn.augment.drawAffineParams(2, 5, 7, { bogus: 1 } as never), "drawAffineParams: unknown option 'bogus'"],
      ['elastic bogus', () => dn.augment.elastic(xt, { alpha: 1, sigma: 1, bogus: 1 } as never), "elastic: unknown option 'bogus'"],
      ['elastic American spelling', () => dn.augment.elastic(xt, { alpha: 1, sigma: 1, parametrization: 'torchvision' } as never), "elastic: unknown option 'parametrization' (did you mean parametrisation?)"],
      ['elastic maskMode', () => dn.augment.elastic(xt, { alpha: 1, sigma: 1, maskMode: 'round' } as never), "elastic: maskMode must be 'threshold' or 'nearest'"],
    ];
    const before = dn.memory().bytesInUse;
    for (const [name, run, start] of cases) expectThrows(run, dn.ArgumentError, start, name);
    expect(dn.memory().bytesInUse).toBe(before);
    xt.dispose();
    mt.dispose();
  });
});
