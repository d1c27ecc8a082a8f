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
