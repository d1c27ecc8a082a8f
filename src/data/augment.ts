// Data augmentation on the GPU, for images [N, H, W, C] and their masks [N, H, W, 1]:
//   flip(x, {p, seed, mask})             random horizontal flip per sample   -> {image, mask?}
//   flip(x, {horizontal, vertical})      explicit per-sample flags (TTA)     -> Tensor
//   affine(x, {rotation, widthShift, heightShift, zoom, seed, mask, ...})   -> {image, mask?}
//   elastic(x, {alpha, sigma, seed, noise, mask, ...})                      -> {image, mask?}
//   augmentBatch(images, masks, preset, seed)                               -> {images, masks}
// The random transforms take the mask in their options and return both, so one draw of the
// parameters always moves image and mask together (affinePair is the same with a required mask).
// Each refuses options it does not know (Keras' names, such as rotation_range, are named with ours).
//
// Random parameters are drawn on the CPU from a seeded generator (same seed, same output) and
// uploaded as small tensors: a 2x3 matrix per sample for affine, the noise planes and per-sample
// scales for elastic. Masks are sampled like the image, then thresholded at 0.5 (maskMode
// 'threshold', the default) or read with nearest-neighbour sampling (maskMode 'nearest'); outside
// the image a mask reads 0 under fillMode 'constant'.
//
// Conventions follow the originals: affine parameters as Keras' ImageDataGenerator (theta in
// degrees, tx a row shift, ty a column shift, zx/zy row/column zooms, input = M (row, col, 1) about
// the centre); elastic as the notebook's scipy elastic_transform: dx (rows) and dy (columns) are
// uniform noise in [-1, 1) smoothed by gaussian_filter(sigma, mode 'reflect') times alpha, and the
// image is read at (row + dx, col + dy) with map_coordinates(order=1, mode='reflect'), the
// half-sample symmetric extension. See src/reference/augment.ts for the exact specification.

import { ArgumentError, ShapeError } from '../errors.js';
import {
  describeValue,
  expectChoice,
  expectKnownOptions,
  expectNumber,
  expectOptionalNumber,
  expectOptionalTensor,
  expectOptions,
  expectTensor,
} from '../graph/args.js';
import { formatShape, tensor, type Tensor } from '../graph/tensor.js';
import {
  affineForward,
  displaceForward,
  flipForward,
  gaussianWeights,
  smoothField,
  type FillMode,
  type Interpolation,
  type Parametrisation,
  type SampleOptions,
} from '../kernels/augment.js';
import { splitmix32 } from '../util/random.js';
import { nextSeed } from '../nn/init.js';

export type { FillMode, Interpolation, Parametrisation };
export type MaskMode = 'threshold' | 'nearest';

/** A transformed image and, when one was given, its mask transformed by the same draw. */
export interface Augmented {
  image: Tensor;
  mask?: Tensor;
}

/** The data pipeline's seeded generator (src/util/random.ts). */
export const seededRandom = splitmix32;

function resolveSeed(op: string, seed: number | undefined): number {
  // Unseeded, from the library's seed counter (dn.setInitSeed), as a Dropout layer built without a
  // seed: one dn.setInitSeed makes a script's augmentation repeat too (Math.random never did).
  if (seed === undefined) return nextSeed();
  if (!Number.isFinite(seed)) throw new ShapeError(`${op}: seed must be a finite number, got ${seed}`);
  return seed;
}

/** The image batch, and the options where the op takes them (`example` shows their form). */
function checkImage(op: string, x: Tensor, options?: { value: unknown; example: string; required?: boolean }): void {
  expectTensor(op, 'image x', x);
  if (options) expectOptions(op, options.value, options.example, options.required);
  if (x.rank !== 4) throw new ShapeError(`${op}: expected an image batch [N, H, W, C], got ${x.describe()}`);
}

function checkMask(op: string, x: Tensor, mask: Tensor | undefined | null): void {
  expectOptionalTensor(op, 'mask', mask);
  if (!mask) return;
  const [n, h, w] = x.shape;
  if (mask.rank !== 4 || mask.shape[0] !== n || mask.shape[1] !== h || mask.shape[2] !== w || mask.shape[3] !== 1) {
    throw new ShapeError(`${op}: mask ${formatShape(mask.shape)} does not match image ${formatShape(x.shape)}; expected ${formatShape([n, h, w, 1])}`);
  }
}

/** How the image and the mask are read at the transformed points. */
export interface SamplingOptions {
  /** Outside the image: 'reflect' (half-sample symmetric), 'nearest' (edge) or 'constant' (cval). */
  fillMode?: FillMode;
  /** Image interpolation; default 'bilinear'. */
  interpolation?: Interpolation;
  /** Image value outside for fillMode 'constant'; default 0 (masks always read 0). */
  cval?: number;
  /** Mask: bilinear then > 0.5 ('threshold', default), or nearest-neighbour ('nearest'). */
  maskMode?: MaskMode;
}

const SAMPLING = ['fillMode', 'interpolation', 'cval', 'maskMode'];
const AFFINE = ['rotation', 'widthShift', 'heightShift', 'zoom', 'seed', 'params', 'mask', ...SAMPLING];
const ELASTIC = ['alpha', 'sigma', 'noise', 'seed', 'mask', 'parametrisation', ...SAMPLING];
/** Keras ImageDataGenerator's and torchvision's names for ours. */
const OTHER_NAMES: Readonly<Record<string, readonly string[]>> = {
  rotation_range: ['rotation'],
  width_shift_range: ['widthShift'],
  height_shift_range: ['heightShift'],
  zoom_range: ['zoom'],
  fill_mode: ['fillMode'],
  parameterisation: ['parametrisation'],
  parametrization: ['parametrisation'],
  parameterization: ['parametrisation'],
};

/** Unknown options, and sampling options outside their choices, are ArgumentErrors naming `op`. */
function checkOptions(op: string, o: object, known: readonly string[]): void {
  expectKnownOptions(op, o, known, { spellings: OTHER_NAMES });
  const v = o as SamplingOptions & { parametrisation?: unknown };
  expectChoice(op, 'fillMode', v.fillMode, ['reflect', 'nearest', 'constant']);
  expectChoice(op, 'interpolation', v.interpolation, ['bilinear', 'nearest']);
  expectChoice(op, 'maskMode', v.maskMode, ['threshold', 'nearest']);
  expectChoice(op, 'parametrisation', v.parametrisation, ['scipy', 'torchvision']);
  expectOptionalNumber(op, 'cval', v.cval);
}

function imageSampling(o: SamplingOptions, defaultFill: FillMode): SampleOptions {
  return { fillMode: o.fillMode ?? defaultFill, interpolation: o.interpolation ?? 'bilinear', threshold: false, cval: o.cval ?? 0 };
}

function maskSampling(o: SamplingOptions, defaultFill: FillMode): SampleOptions {
  const nearest = o.maskMode === 'nearest';
  return { fillMode: o.fillMode ?? defaultFill, interpolation: nearest ? 'nearest' : 'bilinear', threshold: !nearest, cval: 0 };
}

// ---------------------------------------------------------------------------------------------
// Flip

/** Explicit flags (at least one of the two): flip returns the flipped tensor alone, as TTA uses it. */
export type FlipOptions =
  | { horizontal: boolean | readonly boolean[]; vertical?: boolean | readonly boolean[] }
  | { horizontal?: boolean | readonly boolean[]; vertical: boolean | readonly boolean[] };

/** The random form: a horizontal flip drawn per sample, applied to the image and its mask alike. */
export interface RandomFlipOptions {
  /** Probability that a sample is flipped; default 0.5 (the batch preset 'hflip'). */
  p?: number;
  seed?: number;
  mask?: Tensor;
}

const FLIP_FLAGS = ['horizontal', 'vertical'];
const RANDOM_FLIP = ['p', 'seed', 'mask'];

function perSample(name: string, value: unknown, n: number): readonly boolean[] {
  if (value === undefined || typeof value === 'boolean') return Array<boolean>(n).fill(value ?? false);
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'boolean')) {
    throw new ArgumentError(`flip: ${name} must be true, false or an array of one flag per sample, got ${describeValue(value)}`);
  }
  if (value.length !== n) throw new ShapeError(`flip: ${name} has ${value.length} flags for a batch of ${n}`);
  return value as boolean[];
}

/** The per-sample flags of a flip call: given (explicit), or drawn (sample i flipped when the i-th draw < p). */
function flipFlags(o: Record<string, unknown>, n: number): { explicit: boolean; horizontal: readonly boolean[]; vertical: readonly boolean[] } {
  const explicit = FLIP_FLAGS.some((k) => o[k] !== undefined);
  const mixed = explicit && RANDOM_FLIP.find((k) => o[k] !== undefined);
  if (mixed) {
    throw new ArgumentError(`flip: '${mixed}' goes with the random form flip(x, { p, seed, mask }) -> { image, mask }; explicit horizontal/vertical flags return the flipped tensor alone (flip a mask by calling again with the same flags)`);
  }
  expectKnownOptions('flip', o, [...RANDOM_FLIP, ...FLIP_FLAGS], { spellings: { probability: ['p'], prob: ['p'] } });
  if (explicit) return { explicit, horizontal: perSample('horizontal', o.horizontal, n), vertical: perSample('vertical', o.vertical, n) };
  expectOptionalNumber('flip', 'p', o.p, { min: 0, max: 1 });
  const rand = seededRandom(resolveSeed('flip', o.seed as number | undefined));
  const p = (o.p as number | undefined) ?? 0.5;
  return { explicit, horizontal: Array.from({ length: n }, () => rand() < p), vertical: Array<boolean>(n).fill(false) };
}

/**
 * Flips x [N, H, W, C] per sample. With horizontal/vertical flags it returns the flipped tensor;
 * otherwise it draws a horizontal flip per sample with probability p (seeded, one draw per sample)
 * and returns { image, mask? }, the mask [N, H, W, 1] flipped with the image, as affine and elastic.
 */
export function flip(x: Tensor, options: FlipOptions): Tensor;
export function flip(x: Tensor, options?: RandomFlipOptions): Augmented;
export function flip(x: Tensor, options: FlipOptions | RandomFlipOptions = {}): Tensor | Augmented {
  checkImage('flip', x, { value: options, example: '{ p: 0.5, seed: 1, mask } or { horizontal: true }' });
  const o = options as Record<string, unknown>;
  const n = x.shape[0];
  const { explicit, horizontal, vertical } = flipFlags(o, n);
  const mask = o.mask as Tensor | undefined;
  checkMask('flip', x, mask);
  const flags = tensor(Float32Array.from({ length: 2 * n }, (_, i) => ((i % 2 ? vertical : horizontal)[i >> 1] ? 1 : 0)), [n, 2]);
  const image = flipForward(x, flags);
  const flippedMask = mask ? flipForward(mask, flags) : undefined;
  flags.dispose();
  if (explicit) return image;
  return flippedMask ? { image, mask: flippedMask } : { image };
}

// ---------------------------------------------------------------------------------------------
// Affine (Keras ImageDataGenerator)

/** One sample's transform, as Keras: degrees, row/column shifts in pixels, row/column zooms. */
export interface AffineParams {
  theta: number;
  tx: number;
  ty: number;
  zx: number;
  zy: number;
}

export interface AffineOptions extends SamplingOptions {
  /** theta ~ U(-rotation, rotation) degrees. */
  rotation?: number;
  /** ty ~ U(-s, s), times W when s < 1 (a fraction), else pixels. */
  widthShift?: number;
  /** tx ~ U(-s, s), times H when s < 1. */
  heightShift?: number;
  /** zx, zy ~ U(lo, hi) independently; a number z means [1 - z, 1 + z]. */
  zoom?: number | readonly [number, number];
  seed?: number;
  /** Given parameters (one per sample) instead of a draw. */
  params?: readonly AffineParams[];
  mask?: Tensor;
}

/**
 * Draws per-sample parameters: five values per sample in the order theta, tx, ty, zx, zy, whatever
 * the ranges, so changing one range does not shift the others' draws.
 */
export function drawAffineParams(n: number, height: number, width: number, options: AffineOptions = {}): AffineParams[] {
  // A negative n threw from Array.from; a fractional size scaled the shifts silently.
  for (const [role, v] of [['n', n], ['height', height], ['width', width]] as const) expectNumber('drawAffineParams', role, v, { integer: true, min: 0 });
  return drawParams('drawAffineParams', n, height, width, options);
}

/** drawAffineParams's draw, its errors naming `op` (affine, when it draws for itself). */
function drawParams(op: string, n: number, height: number, width: number, options: AffineOptions): AffineParams[] {
  expectOptions(op, options, '{ rotation: 10, zoom: 0.1, seed: 1 }');
  checkOptions(op, options, AFFINE);
  for (const key of ['rotation', 'widthShift', 'heightShift'] as const) expectOptionalNumber(op, key, options[key]);
  const zoom = options.zoom ?? 0;
  if (typeof zoom !== 'number' && !(Array.isArray(zoom) && zoom.length === 2)) {
    throw new ArgumentError(`${op}: zoom must be a number or a range [low, high], got ${describeValue(zoom)}`);
  }
  for (const z of typeof zoom === 'number' ? [zoom] : zoom) expectOptionalNumber(op, 'zoom', z);
  const rand = seededRandom(resolveSeed(op, options.seed));
  const [zlo, zhi] = typeof zoom === 'number' ? [1 - zoom, 1 + zoom] : zoom;
  if (!(zlo > 0 && zhi >= zlo)) throw new ShapeError(`${op}: zoom range [${zlo}, ${zhi}] must be positive and ordered`);
  const symmetric = (range: number): number => range * (2 * rand() - 1);
  const pixels = (range: number, size: number): number => (range < 1 ? range * size : range);
  return Array.from({ length: n }, () => ({
    theta: symmetric(options.rotation ?? 0),
    tx: symmetric(pixels(options.heightShift ?? 0, height)),
    ty: symmetric(pixels(options.widthShift ?? 0, width)),
    zx: zlo + (zhi - zlo) * rand(),
    zy: zlo + (zhi - zlo) * rand(),
  }));
}

/**
 * The 2x3 matrix [a, b, c, d, e, f]: output (row, col) reads input (a row + b col + c, d row + e col
 * + f). Keras' R(theta) T(tx, ty) Z(zx, zy) about the centre o = ((h-1)/2, (w-1)/2):
 * input = A (out - o) + t' + o with A = R Z and t' = R t.
 */
export function affineMatrix(p: AffineParams, height: number, width: number): number[] {
  const t = (p.theta * Math.PI) / 180;
  const [cos, sin] = [Math.cos(t), Math.sin(t)];
  const a = [cos * p.zx, -sin * p.zy, sin * p.zx, cos * p.zy];
  const shift = [cos * p.tx - sin * p.ty, sin * p.tx + cos * p.ty];
  const [oy, ox] = [height / 2 - 0.5, width / 2 - 0.5];
  return [
    a[0], a[1], shift[0] + oy - a[0] * oy - a[1] * ox,
    a[2], a[3], shift[1] + ox - a[2] * oy - a[3] * ox,
  ];
}

const AFFINE_PARAMS = ['theta', 'tx', 'ty', 'zx', 'zy'] as const;

/** A given parameter set: the five numbers, finite (a missing one would make the sample NaN). */
function checkAffineParams(p: AffineParams, i: number): void {
  expectOptions('affine', p, '{ theta: 0, tx: 0, ty: 0, zx: 1, zy: 1 }', true);
  expectKnownOptions('affine', p, AFFINE_PARAMS);
  for (const key of AFFINE_PARAMS) expectNumber('affine', `params[${i}].${key}`, p[key]);
}

/** Random affine warp of x (and options.mask by the same draw); fillMode defaults to Keras' 'nearest'. */
export function affine(x: Tensor, options: AffineOptions = {}): Augmented {
  checkImage('affine', x, { value: options, example: '{ rotation: 10, zoom: 0.1 }' });
  checkOptions('affine', options, AFFINE);
  checkMask('affine', x, options.mask);
  const [n, h, w] = x.shape;
  const params = options.params ?? drawParams('affine', n, h, w, options);
  if (params.length !== n) throw new ShapeError(`affine: ${params.length} parameter sets for a batch of ${n}`);
  params.forEach(checkAffineParams);
  const matrices = tensor(Float32Array.from(params.flatMap((p) => affineMatrix(p, h, w))), [n, 6]);
  const image = affineForward(x, matrices, imageSampling(options, 'nearest'));
  const mask = options.mask ? affineForward(options.mask, matrices, maskSampling(options, 'nearest')) : undefined;
  matrices.dispose();
  return mask ? { image, mask } : { image };
}

/** affine() with a required mask: one draw applied to both. */
export function affinePair(image: Tensor, mask: Tensor, options: Omit<AffineOptions, 'mask'> = {}): { image: Tensor; mask: Tensor } {
  checkImage('affinePair', image, { value: options, example: '{ rotation: 10, zoom: 0.1 }' });
  checkOptions('affinePair', options, AFFINE.filter((k) => k !== 'mask'));
  expectTensor('affinePair', 'mask', mask);
  checkMask('affinePair', image, mask);
  return affine(image, { ...options, mask }) as { image: Tensor; mask: Tensor };
}

// ---------------------------------------------------------------------------------------------
// Elastic deformation

export interface ElasticOptions extends SamplingOptions {
  /** Displacement scale, or a range [low, high] drawn once per image. */
  alpha: number | readonly [number, number];
  /** Gaussian standard deviation in pixels; 0 leaves the noise unsmoothed. */
  sigma: number;
  /** Noise planes [N, H, W] each, in [-1, 1]: dx along rows, dy along columns. Drawn from seed if absent. */
  noise?: { dx: Float32Array; dy: Float32Array };
  seed?: number;
  mask?: Tensor;
  /** 'scipy' (the notebook, default) or 'torchvision' (kernel int(8 sigma + 1), alpha relative to size). */
  parametrisation?: Parametrisation;
}

/**
 * Elastic deformation of x (and options.mask with the same field); fillMode defaults to 'reflect'
 * as the notebook's map_coordinates. Draw order from the seed: the N alphas (when a range), then
 * per image H*W values of dx, then H*W of dy, each 2u - 1.
 */
export function elastic(x: Tensor, options: ElasticOptions): Augmented {
  checkImage('elastic', x, { value: options, example: '{ alpha: 34, sigma: 4 }', required: true });
  checkOptions('elastic', options, ELASTIC);
  checkMask('elastic', x, options.mask);
  const [n, h, w] = x.shape;
  const plane = h * w;
  const { alpha, sigma } = options;
  expectNumber('elastic', 'sigma', sigma, { min: 0 });
  if (typeof alpha !== 'number' && !(Array.isArray(alpha) && alpha.length === 2)) {
    throw new ArgumentError(`elastic: alpha must be a number or a range [low, high], got ${describeValue(alpha)}`);
  }
  const [lo, hi] = typeof alpha === 'number' ? [alpha, alpha] : alpha;
  if (!(Number.isFinite(lo) && Number.isFinite(hi) && lo <= hi)) throw new ShapeError(`elastic: bad alpha ${JSON.stringify(alpha)}`);
  if (options.noise && (options.noise.dx.length !== n * plane || options.noise.dy.length !== n * plane)) {
    throw new ShapeError(`elastic: noise planes have ${options.noise.dx.length} and ${options.noise.dy.length} values, expected ${n * plane} (N*H*W of ${formatShape(x.shape)})`);
  }
  const rand = seededRandom(resolveSeed('elastic', options.seed));
  const alphas = Array.from({ length: n }, () => (lo === hi ? lo : lo + (hi - lo) * rand()));
  const noise = new Float32Array(2 * n * plane);
  for (let b = 0; b < n; b++) {
    for (const k of [0, 1]) {
      const given = options.noise && (k === 0 ? options.noise.dx : options.noise.dy);
      for (let i = 0; i < plane; i++) noise[2 * (b * plane + i) + k] = given ? given[b * plane + i] : 2 * rand() - 1;
    }
  }
  const parametrisation = options.parametrisation ?? 'scipy';
  const torch = parametrisation === 'torchvision';
  const scales = alphas.flatMap((a) => (torch ? [(a * h) / (2 * w), (a * w) / (2 * h)] : [a, a]));

  const noiseT = tensor(noise, [n, h, w, 2]);
  const weightsT = tensor(Float32Array.from(gaussianWeights(sigma, parametrisation)));
  const scalesT = tensor(Float32Array.from(scales), [n, 2]);
  const field = smoothField(noiseT, weightsT, scalesT, parametrisation);
  const image = displaceForward(x, field, imageSampling(options, 'reflect'));
  const mask = options.mask ? displaceForward(options.mask, field, maskSampling(options, 'reflect')) : undefined;
  for (const t of [noiseT, weightsT, scalesT, field]) t.dispose();
  return mask ? { image, mask } : { image };
}

// ---------------------------------------------------------------------------------------------
// Presets

/**
 * 'hflip': horizontal flip with p 0.5 per sample. 'elastic': alpha ~ U(2, 6) per image, sigma 2.5
 * (the notebook's best, also after the flip in 'hflip+elastic'). 'affine': Keras-like rotation 20
 * degrees, width and height shifts 0.1, zoom 0.1, fillMode 'nearest'. Masks are thresholded at 0.5.
 */
export type AugmentPreset = 'none' | 'hflip' | 'elastic' | 'hflip+elastic' | 'affine';

export const AUGMENT_PRESETS: readonly AugmentPreset[] = ['none', 'hflip', 'elastic', 'hflip+elastic', 'affine'];

/** Augments a batch (and its masks by the same draws). Same seed, same output. Returns new tensors. */
export function augmentBatch(images: Tensor, masks: Tensor | null, preset: AugmentPreset, seed: number): { images: Tensor; masks: Tensor | null } {
  checkImage('augmentBatch', images);
  checkMask('augmentBatch', images, masks);
  if (!AUGMENT_PRESETS.includes(preset)) throw new ShapeError(`augmentBatch: unknown preset '${preset}' (${AUGMENT_PRESETS.join(', ')})`);
  const rand = seededRandom(resolveSeed('augmentBatch', seed));
  // Separate streams per stage, so adding the flip does not change the elastic draw.
  const flipSeed = Math.floor(rand() * 4294967296);
  const warpSeed = Math.floor(rand() * 4294967296);
  let image = images.share();
  let mask = masks ? masks.share() : null;
  const replace = (next: Augmented): void => {
    image.dispose();
    mask?.dispose();
    image = next.image;
    mask = next.mask ?? null;
  };
  if (preset === 'hflip' || preset === 'hflip+elastic') replace(flip(image, { p: 0.5, seed: flipSeed, mask: mask ?? undefined }));
  if (preset === 'elastic' || preset === 'hflip+elastic') {
    replace(elastic(image, { alpha: [2, 6], sigma: 2.5, seed: warpSeed, mask: mask ?? undefined }));
  }
  if (preset === 'affine') {
    replace(affine(image, { rotation: 20, widthShift: 0.1, heightShift: 0.1, zoom: 0.1, fillMode: 'nearest', seed: warpSeed, mask: mask ?? undefined }));
  }
  return { images: image, masks: mask };
}
