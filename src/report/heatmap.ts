// A Grad-CAM map laid over its slice, as the Grad-CAM paper and most tools draw it: the map in the
// 'jet' colours (blue for little evidence, through cyan and yellow, to red for the most), blended
// over the MRI in proportion to the map, so where the map is 0 the slice shows unchanged.

import { ShapeError } from '../errors.js';
import { blend, type Rgb, type RgbImage } from './overlay.js';

/** Jet's colour for t in [0, 1], as 0..255 channels. */
export function jet(t: number): Rgb {
  // NaN fails both comparisons: it takes 0's colour rather than NaN channels.
  const v = t >= 1 ? 1 : t > 0 ? t : 0;
  const channel = (centre: number) => Math.round(255 * Math.min(1, Math.max(0, 1.5 - Math.abs(4 * v - centre))));
  return [channel(3), channel(2), channel(1)];
}

/** The most a pixel moves towards the map's colour, where the map is 1: the MRI stays readable. */
export const HEATMAP_ALPHA = 0.6;

/** A copy of `rgb` with `map` ([H, W] in 0..1) blended over it, each pixel by HEATMAP_ALPHA · map. */
export function heatmapOverlay(rgb: RgbImage, map: Float32Array): RgbImage {
  const { width, height } = rgb;
  if (map.length !== width * height) throw new ShapeError(`heatmapOverlay: the map has ${map.length} values but the ${height}x${width} image needs ${width * height}`);
  const data = rgb.data.slice();
  for (let p = 0; p < width * height; p++) {
    // Not above 0, NaN included (a model whose score overflowed): no evidence, the slice unchanged.
    if (!(map[p] > 0)) continue;
    const m = Math.min(1, map[p]);
    blend(data, p, jet(m), HEATMAP_ALPHA * m);
  }
  return { width, height, channels: 3, data };
}
