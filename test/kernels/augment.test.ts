import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import {
  AUGMENT_PRESETS,
  affine,
  affineMatrix,
  affinePair,
  augmentBatch,
  drawAffineParams,
  elastic,
  flip,
  seededRandom,
  type AffineParams,
  type FillMode,
} from '../../src/data/augment.js';
import { gaussianWeights, smoothField, type Parametrisation } from '../../src/kernels/augment.js';
import { nd } from '../../src/reference/array.js';
import {
  affineRef,
  elasticRef,
  flipRef,
  gaussianFilter1dRef,
  kerasMatrixRef,
  mirrorIndex,
  reflectIndex,
  sampleRef,
  smoothPlanesRef,
  type SampleRefOptions,
} from '../../src/reference/augment.js';
import { expectClose } from '../helpers/close.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

/** Reads a tensor back and disposes it. */
async function take(t: dn.Tensor | undefined): Promise<Float32Array> {
  if (!t) throw new Error('missing tensor');
  const values = await t.toArray();
  t.dispose();
  return values;
}

const size = (shape: readonly number[]): number => shape.reduce((p, d) => p * d, 1);

/** Channel 0 of an NHWC array, thresholded at 0.5: a mask that must stay aligned with the image. */
function maskOfChannel0(x: ArrayLike<number>, c: number): Float64Array {
  return Float64Array.from({ length: x.length / c }, (_, p) => (x[p * c] > 0.5 ? 1 : 0));
}

/** Mask comparison that skips pixels whose pre-threshold value is within 1e-3 of 0.5: float32
 * coordinates may put those on either side, which is rounding, not misalignment. */
function expectMaskMatches(what: string, got: ArrayLike<number>, soft: Float64Array): void {
  let compared = 0;
  for (let i = 0; i < soft.length; i++) {
    if (Math.abs(soft[i] - 0.5) < 1e-3) continue;
    compared++;
    if (got[i] !== (soft[i] > 0.5 ? 1 : 0)) expect.fail(`${what}: mask pixel ${i} is ${got[i]}, reference ${soft[i]}`);
  }
  expect(compared).toBeGreaterThan(soft.length * 0.9);
}

const BILINEAR = (fillMode: FillMode): SampleRefOptions => ({ fillMode, interpolation: 'bilinear', threshold: false, cval: 0 });

describe('augment references', () => {
  it('extend lines half-sample (reflect) and whole-sample (mirror) symmetrically', () => {
    // n = 4, indices -5..8: reflect gives d | d c b a | a b c d | d c b a | a, mirror b c d c b | a b c d | c b a b c
    const idx = Array.from({ length: 14 }, (_, k) => k - 5);
    expect(idx.map((i) => reflectIndex(i, 4))).toEqual([3, 3, 2, 1, 0, 0, 1, 2, 3, 3, 2, 1, 0, 0]);
    expect(idx.map((i) => mirrorIndex(i, 4))).toEqual([1, 2, 3, 2, 1, 0, 1, 2, 3, 2, 1, 0, 1, 2]);
    expect(idx.map((i) => mirrorIndex(i, 1))).toEqual(Array(14).fill(0));
  });

  it('gaussian_filter1d(sigma 1) on [1, 0, 0, 0, 0] matches values derived by hand', () => {
    // Radius int(4*1 + 0.5) = 4, weights w_k = exp(-k^2/2) / Z with Z = 1 + 2(e^-0.5 + e^-2 + e^-4.5
    // + e^-8) = 2.5066208042: w0 .3989434694, w1 .2419714457, w2 .0539911274, w3 .0044318616,
    // w4 .0001338306. scipy 'reflect' extends [1,0,0,0,0] as ... 0 1 | 1 0 0 0 0 | 0 0 ..., so the
    // 1 sits at positions 0 and -1 and y_i = w_i + w_(i+1):
    const scipy = [0.640914915, 0.2959625731, 0.058422989, 0.0045656922, 0.0001338306];
    expectClose('scipy reflect', gaussianFilter1dRef([1, 0, 0, 0, 0], 1, 'scipy'), scipy, { atol: 1e-9, rtol: 0 });
    // torchvision: size int(8 + 1) = 9, the same weights; torch 'reflect' (... 0 | 1 0 0 0 0 | 0 0 0 1)
    // puts the 1 at 0 and 8, so y_i = w_i except y_4 = 2 w_4.
    const torch = [0.3989434694, 0.2419714457, 0.0539911274, 0.0044318616, 0.0002676612];
    expectClose('torch reflect', gaussianFilter1dRef([1, 0, 0, 0, 0], 1, 'torchvision'), torch, { atol: 1e-9, rtol: 0 });
    expectClose('weights', gaussianWeights(1, 'scipy').subarray(4), torch.slice(0, 4).concat([0.0001338306]), { atol: 1e-9, rtol: 0 });
    expect(gaussianWeights(2.5, 'scipy').length).toBe(21);
    expect(gaussianWeights(0.7, 'torchvision').length).toBe(7); // int(6.6) = 6, made odd
  });

  it('match scipy.ndimage 1.17.1 on a fixed case (values made by the script below)', () => {
    // import numpy as np; from scipy import ndimage
    // h, w = 4, 5; i = np.arange(h * w); x = ((i * 7) % 11 / 10).reshape(h, w)
    // dr = ((i * 37) % 17 - 8) * 0.61; dc = ((i * 23) % 13 - 6) * 0.73
    // r, c = np.meshgrid(np.arange(h), np.arange(w), indexing='ij')
    // ndimage.map_coordinates(x, [r.ravel() + dr, c.ravel() + dc], order=1, mode='reflect')
    // ndimage.gaussian_filter(x, 1.3, mode='reflect').ravel()
    // Displacements reach 4.9 rows and 4.4 columns, so most points are reflected, some twice.
    const i = Array.from({ length: 20 }, (_, k) => k);
    const x = nd(i.map((k) => ((k * 7) % 11) / 10), [1, 4, 5, 1]);
    const warp = [0.348, 0.9034, 0.67834, 0.606, 0.348, 0.701, 0.57, 0.68, 0.134, 0.196, 0.614, 0.724, 0.132, 0.3, 0.668, 0.142, 0.068, 0.631, 0.545, 0.634];
    const got = i.map((k) => sampleRef(x, 0, Math.floor(k / 5) + (((k * 37) % 17) - 8) * 0.61, (k % 5) + (((k * 23) % 13) - 6) * 0.73, BILINEAR('reflect'))[0]);
    expectClose('map_coordinates', got, warp, { atol: 1e-9, rtol: 0 });
    const blur = [
      0.3500733708, 0.4343507426, 0.5232070055, 0.5916449688, 0.6372853062, 0.3724933227, 0.4368997407, 0.5069858485, 0.5635432454, 0.6058213897,
      0.4024136499, 0.4440684453, 0.4946054717, 0.527315761, 0.5458531251, 0.4277098586, 0.456224426, 0.4941945282, 0.5000382886, 0.4852715047,
    ];
    expectClose('gaussian_filter', smoothPlanesRef(x.data, 1, 4, 5, 1.3, 'scipy'), blur, { atol: 1e-9, rtol: 0 });
  });

  it('affineMatrix equals the Keras composition O (R T Z) O^-1', () => {
    const p: AffineParams = { theta: 23, tx: 1.7, ty: -2.4, zx: 0.91, zy: 1.07 };
    const m = kerasMatrixRef(p, 9, 14);
    expectClose('matrix', affineMatrix(p, 9, 14), [m[0][0], m[0][1], m[0][2], m[1][0], m[1][1], m[1][2]], { atol: 1e-12, rtol: 1e-12 });
  });
});

const FLIP_CASES = [
  { shape: [2, 5, 7, 3], horizontal: [true, false], vertical: [false, true] },
  { shape: [3, 4, 6, 1], horizontal: [true, true, true], vertical: [true, true, true] },
  { shape: [1, 1, 1, 2], horizontal: [true], vertical: [false] },
] as const;

describe('flip', () => {
  for (const [k, cs] of FLIP_CASES.entries()) {
    it(`${JSON.stringify(cs.shape)}: GPU matches CPU`, async () => {
      const x = uniform(size(cs.shape), 40 + k);
      const xt = fromNd(x, [...cs.shape]);
      const got = await take(flip(xt, { horizontal: cs.horizontal, vertical: cs.vertical }));
      expect(Array.from(got)).toEqual(Array.from(flipRef(nd(x, [...cs.shape]), [...cs.horizontal], [...cs.vertical]).data, Math.fround));
      xt.dispose();
    });
  }
});

const AFFINE_PARAMS: AffineParams[] = [
  { theta: 17, tx: 1.3, ty: -2.1, zx: 0.93, zy: 1.08 },
  { theta: -31, tx: -0.6, ty: 2.7, zx: 1.12, zy: 0.87 },
];

describe('affine', () => {
  const shape = [2, 9, 11, 3];
  const x = uniform(size(shape), 50, 0, 1);
  const soft = uniform(size([2, 9, 11, 1]), 51, 0, 1).map((v) => (v > 0.5 ? 1 : 0));

  for (const fillMode of ['reflect', 'nearest', 'constant'] as const) {
    it(`given parameters, bilinear, fillMode ${fillMode}: GPU matches CPU (image and mask)`, async () => {
      const xt = fromNd(x, shape);
      const mt = fromNd(soft, [2, 9, 11, 1]);
      const out = affine(xt, { params: AFFINE_PARAMS, fillMode, cval: 0.25, mask: mt });
      const matrices = AFFINE_PARAMS.map((p) => kerasMatrixRef(p, 9, 11));
      const want = affineRef(nd(x, shape), matrices, { ...BILINEAR(fillMode), cval: 0.25 });
      expectClose(`affine ${fillMode}`, await take(out.image), want.data);
      const wantMask = affineRef(nd(soft, [2, 9, 11, 1]), matrices, BILINEAR(fillMode));
      expectMaskMatches(`affine mask ${fillMode}`, await take(out.mask), wantMask.data);
      xt.dispose();
      mt.dispose();
    });
  }

  it('a Keras row shift tx = 2 reads two rows down, edge repeated (hand check)', async () => {
    const rows = [0, 1, 2, 3, 4].map((r) => r * 10);
    const xt = fromNd(rows, [1, 5, 1, 1]);
    const out = affine(xt, { params: [{ theta: 0, tx: 2, ty: 0, zx: 1, zy: 1 }], fillMode: 'nearest' });
    expect(Array.from(await take(out.image))).toEqual([20, 30, 40, 40, 40]);
    xt.dispose();
  });

  it('drawn parameters stay in their Keras ranges', () => {
    const params = drawAffineParams(64, 20, 30, { rotation: 20, widthShift: 0.1, heightShift: 0.2, zoom: 0.1, seed: 3 });
    for (const p of params) {
      expect(Math.abs(p.theta)).toBeLessThanOrEqual(20);
      expect(Math.abs(p.tx)).toBeLessThanOrEqual(4);
      expect(Math.abs(p.ty)).toBeLessThanOrEqual(3);
      for (const z of [p.zx, p.zy]) expect(z >= 0.9 && z <= 1.1).toBe(true);
    }
    expect(new Set(params.map((p) => p.theta)).size).toBe(64);
  });
});

const SMOOTH_CASES = [
  { shape: [2, 13, 17, 2], sigma: 2.5, parametrisation: 'scipy' },
  { shape: [2, 13, 17, 2], sigma: 2.5, parametrisation: 'torchvision' },
  { shape: [1, 6, 9, 2], sigma: 0.7, parametrisation: 'scipy' },
  // Radius 12 on lines of 5 and 3: the extension wraps around several times.
  { shape: [1, 5, 3, 2], sigma: 3, parametrisation: 'scipy' },
  { shape: [1, 5, 3, 2], sigma: 3, parametrisation: 'torchvision' },
] as const satisfies readonly { shape: number[]; sigma: number; parametrisation: Parametrisation }[];

describe('Gaussian smoothing of displacement fields', () => {
  for (const [k, cs] of SMOOTH_CASES.entries()) {
    it(`${JSON.stringify(cs.shape)} sigma ${cs.sigma} ${cs.parametrisation}: GPU matches CPU`, async () => {
      const [n, h, w] = cs.shape;
      const noise = uniform(size(cs.shape), 60 + k);
      const scales = uniform(2 * n, 70 + k, 0.5, 3);
      const noiseT = fromNd(noise, [...cs.shape]);
      const weightsT = fromNd(gaussianWeights(cs.sigma, cs.parametrisation), [gaussianWeights(cs.sigma, cs.parametrisation).length]);
      const scalesT = fromNd(scales, [n, 2]);
      const got = await take(smoothField(noiseT, weightsT, scalesT, cs.parametrisation));
      const want = new Float64Array(noise.length);
      for (const comp of [0, 1]) {
        const planes = Float64Array.from({ length: n * h * w }, (_, p) => noise[2 * p + comp]);
        smoothPlanesRef(planes, n, h, w, cs.sigma, cs.parametrisation).forEach((v, p) => {
          want[2 * p + comp] = v * scales[Math.floor(p / (h * w)) * 2 + comp];
        });
      }
      expectClose(`smooth ${JSON.stringify(cs)}`, got, want);
      for (const t of [noiseT, weightsT, scalesT]) t.dispose();
    });
  }
});

const ELASTIC_CASES = [
  { shape: [2, 13, 17, 3], alpha: 4, sigma: 2.5, parametrisation: 'scipy', fillMode: 'reflect' },
  { shape: [2, 13, 17, 3], alpha: 30, sigma: 2.5, parametrisation: 'torchvision', fillMode: 'reflect' },
  { shape: [1, 10, 7, 2], alpha: 6, sigma: 1.5, parametrisation: 'scipy', fillMode: 'constant' },
  { shape: [3, 8, 5, 1], alpha: [2, 6], sigma: 2.5, parametrisation: 'scipy', fillMode: 'nearest' },
] as const;

describe('elastic', () => {
  for (const [k, cs] of ELASTIC_CASES.entries()) {
    it(`${JSON.stringify(cs)} with given noise: GPU matches CPU (image and mask)`, async () => {
      const [n, h, w] = cs.shape;
      const x = uniform(size(cs.shape), 80 + k, 0, 1);
      const soft = uniform(n * h * w, 90 + k, 0, 1).map((v) => (v > 0.5 ? 1 : 0));
      const dx = Float32Array.from(uniform(n * h * w, 100 + k));
      const dy = Float32Array.from(uniform(n * h * w, 110 + k));
      const xt = fromNd(x, [...cs.shape]);
      const mt = fromNd(soft, [n, h, w, 1]);
      const seed = 5 + k;
      const out = elastic(xt, { alpha: cs.alpha, sigma: cs.sigma, noise: { dx, dy }, seed, mask: mt, parametrisation: cs.parametrisation, fillMode: cs.fillMode });
      // A range draws one alpha per image, first from the seeded stream.
      const rand = seededRandom(seed);
      const alphas = Array.from({ length: n }, () => (typeof cs.alpha === 'number' ? cs.alpha : cs.alpha[0] + (cs.alpha[1] - cs.alpha[0]) * rand()));
      const o = { ...BILINEAR(cs.fillMode), sigma: cs.sigma, alphas, parametrisation: cs.parametrisation };
      expectClose(`elastic ${k}`, await take(out.image), elasticRef(nd(x, [...cs.shape]), dx, dy, o).data);
      expectMaskMatches(`elastic mask ${k}`, await take(out.mask), elasticRef(nd(soft, [n, h, w, 1]), dx, dy, o).data);
      xt.dispose();
      mt.dispose();
    });
  }

  it('alpha 0 is the identity for image and mask', async () => {
    const shape = [2, 13, 17, 3];
    const x = uniform(size(shape), 120, 0, 1);
    const mask = maskOfChannel0(x, 3);
    const xt = fromNd(x, shape);
    const mt = fromNd(mask, [2, 13, 17, 1]);
    const out = elastic(xt, { alpha: 0, sigma: 2.5, seed: 1, mask: mt });
    expect(Array.from(await take(out.image))).toEqual(Array.from(x, Math.fround));
    expect(Array.from(await take(out.mask))).toEqual(Array.from(mask));
    xt.dispose();
    mt.dispose();
  });
});

describe('determinism and alignment', () => {
  const shape = [4, 11, 14, 3];
  const x = uniform(size(shape), 130, 0, 1);
  const mask = maskOfChannel0(x, 3);

  it('the same seed gives the same output; another seed a different one', async () => {
    const xt = fromNd(x, shape);
    const mt = fromNd(mask, [4, 11, 14, 1]);
    let seedNow = 0;
    const runs: Record<string, () => dn.Tensor> = {
      elastic: () => elastic(xt, { alpha: [2, 6], sigma: 2.5, seed: seedNow }).image,
      affine: () => affine(xt, { rotation: 20, widthShift: 0.1, heightShift: 0.1, zoom: 0.1, seed: seedNow }).image,
    };
    for (const preset of AUGMENT_PRESETS) {
      runs[`batch ${preset}`] = () => {
        const out = augmentBatch(xt, mt, preset, seedNow);
        out.masks?.dispose();
        return out.images;
      };
    }
    for (const [name, run] of Object.entries(runs)) {
      seedNow = 11;
      const a = await take(run());
      const b = await take(run());
      seedNow = 12;
      const c = await take(run());
      expect(Array.from(b), `${name}: same seed`).toEqual(Array.from(a));
      if (name === 'batch none') expect(Array.from(a)).toEqual(Array.from(x, Math.fround));
      else expect(Array.from(c), `${name}: different seeds`).not.toEqual(Array.from(a));
    }
    xt.dispose();
    mt.dispose();
  });

  it('a mask equal to thresholded channel 0 stays equal under every nearest-sampled augmentation', async () => {
    const xt = fromNd(x, shape);
    const mt = fromNd(mask, [4, 11, 14, 1]);
    const horizontal = [true, false, true, false];
    const vertical = [false, false, true, true];
    const pairs: [string, () => { image: dn.Tensor; mask?: dn.Tensor }][] = [
      ['flip', () => ({ image: flip(xt, { horizontal, vertical }), mask: flip(mt, { horizontal, vertical }) })],
      ['batch hflip', () => { const o = augmentBatch(xt, mt, 'hflip', 4); return { image: o.images, mask: o.masks ?? undefined }; }],
    ];
    for (const fillMode of ['reflect', 'nearest', 'constant'] as const) {
      const sampling = { fillMode, interpolation: 'nearest', maskMode: 'nearest' } as const;
      pairs.push([`affine ${fillMode}`, () => affinePair(xt, mt, { rotation: 25, widthShift: 0.2, heightShift: 0.2, zoom: 0.2, seed: 8, ...sampling })]);
      pairs.push([`elastic ${fillMode}`, () => elastic(xt, { alpha: 6, sigma: 2, seed: 9, mask: mt, ...sampling })]);
    }
    for (const [name, run] of pairs) {
      const out = run();
      const image = await take(out.image);
      const gotMask = await take(out.mask);
      expect(Array.from(gotMask), name).toEqual(Array.from(maskOfChannel0(image, 3)));
      expect(Array.from(gotMask), `${name} moved something`).not.toEqual(Array.from(mask));
    }
    xt.dispose();
    mt.dispose();
  });
});

describe('bad inputs', () => {
  it('throw ShapeError before dispatch', () => {
    const xt = fromNd(uniform(2 * 13 * 17 * 3, 140), [2, 13, 17, 3]);
    const narrow = fromNd(new Float64Array(2 * 13 * 16), [2, 13, 16, 1]);
    const twoChannels = fromNd(new Float64Array(2 * 13 * 17 * 2), [2, 13, 17, 2]);
    const flat = fromNd(new Float64Array(13 * 17), [13, 17]);
    const noise = { dx: new Float32Array(2 * 13 * 17), dy: new Float32Array(13 * 17) };
    const cases: [string, () => unknown][] = [
      ['elastic mask width', () => elastic(xt, { alpha: 4, sigma: 2.5, mask: narrow })],
      ['affinePair mask channels', () => affinePair(xt, twoChannels)],
      ['augmentBatch mask width', () => augmentBatch(xt, narrow, 'hflip+elastic', 1)],
      ['elastic noise length', () => elastic(xt, { alpha: 4, sigma: 2.5, noise })],
      ['elastic negative sigma', () => elastic(xt, { alpha: 4, sigma: -1 })],
      ['flip flag count', () => flip(xt, { horizontal: [true] })],
      ['affine params count', () => affine(xt, { params: [AFFINE_PARAMS[0]] })],
      ['rank 2 image', () => flip(flat)],
    ];
    const before = dn.memory().bytesInUse;
    for (const [name, run] of cases) expect(run, name).toThrow(dn.ShapeError);
    expect(dn.memory().bytesInUse).toBe(before);
    for (const t of [xt, narrow, twoChannels, flat]) t.dispose();
  });
});
