// dn.augment: the augmentation entry points under the names the README documents.
export { flip, affine, affinePair, elastic, augmentBatch, augmentBatch as batch, drawAffineParams, AUGMENT_PRESETS } from './augment.js';
export type { FlipOptions, RandomFlipOptions, AffineOptions, ElasticOptions, AugmentPreset, Augmented, AffineParams, SamplingOptions, MaskMode } from './augment.js';
export type { FillMode, Interpolation, Parametrisation } from '../kernels/augment.js';
export { augmentVolumes } from './augment-volumes.js';
