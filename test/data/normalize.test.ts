import { describe, expect, it } from 'vitest';
import { applyStats, channelStats, zscoreImages } from '../../src/data/normalize.js';

describe('intensity normalisation', () => {
  it('per-image z-score gives each channel mean 0 and std 1', () => {
    // two 2-pixel, 2-channel images
    const x = Float32Array.from([1, 10, 3, 30, /**/ 5, 7, 5, 9]);
    zscoreImages(x, 2, 2, 2);
    expect([...x].map((v) => +v.toFixed(6))).toEqual([-1, -1, 1, 1, /* constant channel: centred only */ 0, -1, 0, 1]);
  });

  it('per-volume statistics pool every slice of the volume', () => {
    const a = Float32Array.from([0, 2]);
    const b = Float32Array.from([4, 6]);
    const s = channelStats([a, b], 2, 1);
    expect(s.mean).toEqual([3]);
    expect(s.std[0]).toBeCloseTo(Math.sqrt(5), 12);
    applyStats(a, 2, s);
    expect(a[0]).toBeCloseTo(-3 / Math.sqrt(5), 6);
  });
});

describe('normalisation of constant and nearly constant data', () => {
  const P = 256 * 256;

  it('a constant volume has std 0 (so it is only centred), whatever its value and size', () => {
    for (const v of [0, 1 / 255, 0.7, 1]) {
      const volume = Array.from({ length: 60 }, () => new Float32Array(P).fill(v));
      const s = channelStats(volume, P, 1);
      expect(s.std, `value ${v}`).toEqual([1]);
      zscoreImages(volume[0]!, 1, P, 1);
      expect(volume[0]!.every((x) => x === 0), `value ${v}`).toBe(true);
    }
  });

  it('a volume where one pixel differs gets the std of that one pixel, not of rounding error', () => {
    const volume = Array.from({ length: 60 }, () => new Float32Array(P).fill(0.7));
    volume[0]![0] = 0.7 + 1 / 255;
    const n = 60 * P;
    const d = Math.fround(0.7 + 1 / 255) - Math.fround(0.7);
    const want = d * Math.sqrt((1 / n) * (1 - 1 / n));
    const got = channelStats(volume, P, 1).std[0]!;
    expect(Math.abs(got - want), `std ${got}, expected ${want}`).toBeLessThanOrEqual(1e-9 * want);
  });

  it('all-zero and constant slices give finite z-scores in every mode', () => {
    const images = Float32Array.from({ length: 4 * P * 3 }, (_, i) => [0, 1, 0.5, 1 / 255][Math.floor(i / (P * 3))]!);
    const stats = channelStats([images.slice(0, P * 3), images.slice(P * 3, 2 * P * 3)], P, 3);
    const volume = images.slice();
    for (let k = 0; k < 4; k++) applyStats(volume.subarray(k * P * 3, (k + 1) * P * 3), P, stats);
    zscoreImages(images, 4, P, 3);
    expect(images.every(Number.isFinite) && volume.every(Number.isFinite)).toBe(true);
    expect(images.every((x) => x === 0)).toBe(true);
  });
});
