// dn.augment's functions without a seed take one from the library's seed counter (dn.setInitSeed),
// as a Dropout layer built without a seed does: before, they drew from Math.random, so a script that
// seeded everything still augmented differently on every run.
import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

async function draws(): Promise<{ flips: boolean[]; affine: number[]; elastic: number[] }> {
  const x = dn.tensor(Float32Array.from({ length: 4 * 8 * 8 * 1 }, (_, i) => (i * 37) % 11), [4, 8, 8, 1]);
  const flipped = dn.augment.flip(x).image;
  const flips = Array.from(await flipped.toArray()).map((v, i) => v !== (i * 37) % 11);
  const affine = dn.augment.drawAffineParams(4, 8, 8, { rotation: 20, zoom: 0.2 }).map((p) => Object.values(p).filter((v): v is number => typeof v === 'number')).flat();
  const warped = dn.augment.elastic(x, { alpha: 4, sigma: 2 }).image;
  const elastic = Array.from(await warped.toArray());
  for (const t of [x, flipped, warped]) t.dispose();
  return { flips, affine, elastic };
}

describe('dn.augment without a seed', () => {
  it('repeats after the same dn.setInitSeed, and differs after another', async () => {
    dn.setInitSeed(123);
    const a = await draws();
    dn.setInitSeed(123);
    const b = await draws();
    expect(b).toEqual(a);
    // Control: another seed draws otherwise (the draws are random, not constant).
    dn.setInitSeed(124);
    const c = await draws();
    expect(c.affine).not.toEqual(a.affine);
    expect(c.elastic).not.toEqual(a.elastic);
  });
});
