// The Grad-CAM overlay (src/report/heatmap.ts): jet's colours at its ends and middle, and the blend,
// which leaves a pixel whose map is 0 as it was and moves one whose map is 1 by HEATMAP_ALPHA.

import { describe, expect, it } from 'vitest';
import { HEATMAP_ALPHA, heatmapOverlay, jet } from '../../src/report/heatmap.js';
import { ShapeError } from '../../src/errors.js';

describe('heatmap', () => {
  it("gives jet's dark blue, green-white middle and dark red, clamping outside 0..1", () => {
    expect(jet(0)).toEqual([0, 0, 128]);
    expect(jet(0.5)).toEqual([128, 255, 128]);
    expect(jet(1)).toEqual([128, 0, 0]);
    expect(jet(-3)).toEqual(jet(0));
    expect(jet(7)).toEqual(jet(1));
  });

  it('blends each pixel towards its colour by HEATMAP_ALPHA times the map, and checks the size', () => {
    const rgb = { width: 2, height: 1, channels: 3 as const, data: Uint8Array.from([200, 100, 50, 200, 100, 50]) };
    const out = heatmapOverlay(rgb, Float32Array.from([0, 1]));
    expect(Array.from(out.data.subarray(0, 3))).toEqual([200, 100, 50]);
    const red = jet(1);
    expect(Array.from(out.data.subarray(3))).toEqual([0, 1, 2].map((k) => Math.round(rgb.data[3 + k] * (1 - HEATMAP_ALPHA) + red[k] * HEATMAP_ALPHA)));
    expect(Array.from(rgb.data)).toEqual([200, 100, 50, 200, 100, 50]);
    expect(() => heatmapOverlay(rgb, new Float32Array(3))).toThrow(ShapeError);
  });
});
