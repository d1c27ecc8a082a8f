// augmentVolumes: augmentBatch's presets with one draw per volume. A volume of D copies of one
// image must come out as D copies of what augmentBatch makes of that image with the same seed (the
// draws are augmentBatch's streams, and a volume of one plane is a 2-D image); a second volume
// draws its own transform; masks move with their images.
import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { disposeAfterEach, useGpu } from '../helpers/gpu.js';
import { rng } from '../helpers/rng.js';

useGpu();
const { track } = disposeAfterEach();

const [H, W, D] = [12, 10, 3];
const PLANE = H * W;

/** B distinct images [B, H, W, 3] (smooth, so a warp moves values measurably) and masks [B, H, W, 1]. */
function images(b: number, seed: number): { x: Float32Array; m: Float32Array } {
  const r = rng(seed);
  const x = new Float32Array(b * PLANE * 3);
  const m = new Float32Array(b * PLANE);
  for (let k = 0; k < b; k++) {
    const [cr, cc, f] = [2 + r() * 8, 2 + r() * 6, 0.3 + r()];
    for (let i = 0; i < PLANE; i++) {
      const [row, col] = [Math.floor(i / W), i % W];
      const inside = (row - cr) ** 2 + (col - cc) ** 2 < 9 ? 1 : 0;
      m[k * PLANE + i] = inside;
      // Channel 0 is the mask, so a thresholded warp of it must equal the warped mask.
      x[(k * PLANE + i) * 3] = inside;
      x[(k * PLANE + i) * 3 + 1] = Math.sin(f * row) * Math.cos(0.7 * col);
      x[(k * PLANE + i) * 3 + 2] = (row * W + col) / PLANE;
    }
  }
  return { x, m };
}

/** Each image repeated D times along a new depth axis: volumes [B, D, H, W, C] as a flat array. */
function repeatPlanes(flat: Float32Array, b: number, per: number): Float32Array {
  const out = new Float32Array(b * D * per);
  for (let k = 0; k < b; k++) for (let z = 0; z < D; z++) out.set(flat.subarray(k * per, (k + 1) * per), (k * D + z) * per);
  return out;
}

const close = (got: Float32Array, want: Float32Array, tol: number) => {
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
  return worst <= tol ? true : `worst ${worst}`;
};

describe('augmentVolumes', () => {
  // The elastic field reaches augmentVolumes as noise·(alpha/6) under alpha 6, augmentBatch's as
  // noise under alpha: the same field but for float32 rounding of the scaled noise (a few ulp of
  // displacements up to ~6 px), so bilinear reads differ by ~1e-6 of the values' range of 1.
  const TOL = { hflip: 0, affine: 0, elastic: 2e-5, 'hflip+elastic': 2e-5 } as const;

  for (const preset of ['hflip', 'elastic', 'hflip+elastic', 'affine'] as const) {
    it(`${preset}: every plane of volume 0 is augmentBatch's image with the same seed; volume 1 draws its own`, async () => {
      const seed = 11;
      const { x, m } = images(2, 4);
      const vol = track(dn.tensor(repeatPlanes(x, 2, PLANE * 3), [2, D, H, W, 3]));
      const volMask = track(dn.tensor(repeatPlanes(m, 2, PLANE), [2, D, H, W, 1]));
      const out = dn.augment.augmentVolumes(vol, volMask, preset, seed);
      track(out.images);
      track(out.masks!);
      expect(out.images.shape).toEqual([2, D, H, W, 3]);
      expect(out.masks!.shape).toEqual([2, D, H, W, 1]);
      const got = await out.images.toArray();
      const gotMask = await out.masks!.toArray();

      // Volume 0 against augmentBatch of image 0 alone (a batch of one: the first draws of each stream).
      const one = track(dn.tensor(x.slice(0, PLANE * 3), [1, H, W, 3]));
      const oneMask = track(dn.tensor(m.slice(0, PLANE), [1, H, W, 1]));
      const ref = dn.augment.augmentBatch(one, oneMask, preset, seed);
      track(ref.images);
      track(ref.masks!);
      const want = await ref.images.toArray();
      const wantMask = await ref.masks!.toArray();
      for (let z = 0; z < D; z++) {
        expect(close(got.subarray(z * PLANE * 3, (z + 1) * PLANE * 3), want, TOL[preset]), `plane ${z}`).toBe(true);
        expect(close(gotMask.subarray(z * PLANE, (z + 1) * PLANE), wantMask, TOL[preset]), `mask plane ${z}`).toBe(true);
      }
      // Volume 1: its planes alike, and moved by a transform other than volume 0's (checked on
      // the position channel, which any flip or warp changes).
      const v1 = got.subarray(D * PLANE * 3);
      for (let z = 1; z < D; z++) expect(close(v1.subarray(z * PLANE * 3, (z + 1) * PLANE * 3), v1.subarray(0, PLANE * 3), 0), `volume 1 plane ${z}`).toBe(true);
      const positions = (a: Float32Array) => Array.from({ length: PLANE }, (_, i) => a[i * 3 + 2]);
      expect(positions(v1)).not.toEqual(positions(got));
      // Masks moved with their images: channel 0 held the mask, so its warp thresholded at 0.5 is the warped mask.
      for (let i = 0; i < 2 * D * PLANE; i++) {
        const g = got[i * 3];
        if (Math.abs(g - 0.5) > 1e-4) expect(gotMask[i], `voxel ${i}`).toBe(g > 0.5 ? 1 : 0);
      }
    });
  }

  it("'none' returns the volumes as they were; the same seed replays, another differs", async () => {
    const { x, m } = images(2, 9);
    const vol = track(dn.tensor(repeatPlanes(x, 2, PLANE * 3), [2, D, H, W, 3]));
    const mask = track(dn.tensor(repeatPlanes(m, 2, PLANE), [2, D, H, W, 1]));
    const none = dn.augment.augmentVolumes(vol, mask, 'none', 1);
    track(none.images);
    track(none.masks!);
    expect([...(await none.images.toArray())]).toEqual([...(await vol.toArray())]);
    const run = async (seed: number) => {
      const o = dn.augment.augmentVolumes(vol, null, 'hflip+elastic', seed);
      expect(o.masks).toBeNull();
      return [...(await track(o.images).toArray())];
    };
    const [a, b, c] = [await run(5), await run(5), await run(6)];
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
  });

  it('refuses what is not a batch of volumes, masks of another shape and unknown presets, by name', () => {
    const img = track(dn.zeros([2, H, W, 3]));
    const vol = track(dn.zeros([1, 2, H, W, 3]));
    const badMask = track(dn.zeros([1, 2, H, W, 3]));
    expect(() => dn.augment.augmentVolumes(img, null, 'hflip', 1)).toThrow(/augmentVolumes: images must be volumes \[B, D, H, W, C\]/);
    expect(() => dn.augment.augmentVolumes(vol, badMask, 'hflip', 1)).toThrow(/augmentVolumes: masks \[1,2,12,10,3\] do not match images .* expected \[1,2,12,10,1\]/);
    expect(() => dn.augment.augmentVolumes(vol, null, 'rotate' as never, 1)).toThrow(/augmentVolumes: unknown preset 'rotate'/);
  });
});
