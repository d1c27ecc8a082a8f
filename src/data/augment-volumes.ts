// augmentBatch's presets for volumes [B, D, H, W, C] and their masks [B, D, H, W, 1]: every plane
// of a volume moves with one draw (the same flip, the same elastic field, the same affine warp), so
// the planes stay registered to each other, as a 3-D U-Net needs; volumes draw independently.
//
// The planes go through the 2-D ops as one batch of B·D images ([B·D, H, W, C] is the same
// memory), each volume's draw repeated D times:
// - flip: explicit per-image flags, a volume's flag on each of its planes;
// - elastic: the noise planes given, a volume's pair on each of its planes. The field is linear in
//   the noise (a Gaussian smoothing, then a scale), so the volume's alpha ~ U(2, 6) is carried by
//   the noise scaled by alpha / 6 under one alpha of 6: a single elastic call for the batch;
// - affine: drawAffineParams once per volume, each set on the volume's planes.
// The draws use augmentBatch's streams (a flip seed, then a warp seed, from `seed`), so the
// same seed gives the same volumes.

import { ShapeError } from '../errors.js';
import { expectTensor } from '../graph/args.js';
import { reshape } from '../graph/reshape.js';
import { scope } from '../graph/scope.js';
import { formatShape, type Tensor } from '../graph/tensor.js';
import { affine, AUGMENT_PRESETS, drawAffineParams, elastic, flip, seededRandom, type AugmentPreset, type Augmented } from './augment.js';

const ALPHA_RANGE = [2, 6] as const;

function checkVolumes(images: Tensor, masks: Tensor | null): void {
  const op = 'augmentVolumes';
  expectTensor(op, 'images', images);
  if (images.rank !== 5) throw new ShapeError(`${op}: images must be volumes [B, D, H, W, C] (rank 5) but are ${images.describe()}`);
  if (masks === null) return;
  expectTensor(op, 'masks', masks);
  const [b, d, h, w] = images.shape;
  const want = [b, d, h, w, 1];
  if (masks.rank !== 5 || !want.every((v, i) => masks.shape[i] === v)) {
    throw new ShapeError(`${op}: masks ${formatShape(masks.shape)} do not match images ${formatShape(images.shape)}; expected ${formatShape(want)}`);
  }
}

/** Each of `perVolume`'s entries repeated `depth` times, in volume order. */
function onEachPlane<T>(perVolume: readonly T[], depth: number): T[] {
  return perVolume.flatMap((v) => Array<T>(depth).fill(v));
}

/**
 * Augments volumes (and their masks by the same draws) with one of augmentBatch's presets, every
 * plane of a volume moved alike. Same seed, same output. Returns new tensors.
 */
export function augmentVolumes(images: Tensor, masks: Tensor | null, preset: AugmentPreset, seed: number): { images: Tensor; masks: Tensor | null } {
  checkVolumes(images, masks);
  if (!AUGMENT_PRESETS.includes(preset)) throw new ShapeError(`augmentVolumes: unknown preset '${preset}' (${AUGMENT_PRESETS.join(', ')})`);
  if (!Number.isFinite(seed)) throw new ShapeError(`augmentVolumes: seed must be a finite number, got ${seed}`);
  const [b, d, h, w, c] = images.shape;
  const rand = seededRandom(seed);
  // augmentBatch's two streams: adding the flip leaves the warp's draw alone.
  const flipSeed = Math.floor(rand() * 4294967296);
  const warpSeed = Math.floor(rand() * 4294967296);
  return scope(() => {
    let image = reshape(images, [b * d, h, w, c]);
    let mask = masks ? reshape(masks, [b * d, h, w, 1]) : undefined;
    const take = (next: Augmented): void => {
      image = next.image;
      mask = next.mask;
    };
    if (preset === 'hflip' || preset === 'hflip+elastic') {
      const draw = seededRandom(flipSeed);
      const horizontal = onEachPlane(Array.from({ length: b }, () => draw() < 0.5), d);
      take({ image: flip(image, { horizontal }), mask: mask && flip(mask, { horizontal }) });
    }
    if (preset === 'elastic' || preset === 'hflip+elastic') {
      const draw = seededRandom(warpSeed);
      const [lo, hi] = ALPHA_RANGE;
      const plane = h * w;
      const dx = new Float32Array(b * d * plane);
      const dy = new Float32Array(b * d * plane);
      for (let v = 0; v < b; v++) {
        const share = (lo + (hi - lo) * draw()) / hi;
        const fx = Float32Array.from({ length: plane }, () => share * (2 * draw() - 1));
        const fy = Float32Array.from({ length: plane }, () => share * (2 * draw() - 1));
        for (let z = 0; z < d; z++) {
          dx.set(fx, (v * d + z) * plane);
          dy.set(fy, (v * d + z) * plane);
        }
      }
      take(elastic(image, { alpha: hi, sigma: 2.5, noise: { dx, dy }, mask }));
    }
    if (preset === 'affine') {
      const params = onEachPlane(drawAffineParams(b, h, w, { rotation: 20, widthShift: 0.1, heightShift: 0.1, zoom: 0.1, seed: warpSeed }), d);
      take(affine(image, { params, fillMode: 'nearest', mask }));
    }
    return { images: reshape(image, [b, d, h, w, c]), masks: mask ? reshape(mask, [b, d, h, w, 1]) : null };
  });
}
