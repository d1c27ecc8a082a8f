// Image utilities on host arrays, for the run report and saved previews.
//
// MRI slices are [H, W, 3] floats in 0..1 whose channels are pre-contrast, FLAIR and post-contrast;
// like the notebook, they are shown as the R, G and B of one picture. Masks are [H, W] floats.
// An outline is what OpenCV's findContours + drawContours(thickness 1) draws: the mask pixels that
// touch the outside through one of their 4 neighbours (the image border counts as outside).

import { ShapeError } from '../errors.js';
import type { PngImage } from '../io/png.js';

export type Rgb = readonly [number, number, number];

export interface RgbImage extends PngImage {
  channels: 3;
}

export interface ToRgbOptions {
  /** Input channel shown as red, green and blue; default [0, 1, 2] (or [0, 0, 0] for one channel). */
  mapping?: readonly [number, number, number];
  /** Rescale each input channel from its own min..max to 0..1 instead of clipping to 0..1. */
  stretch?: boolean;
}

function checkLength(op: string, what: string, length: number, want: number, shape: string): void {
  if (length !== want) throw new ShapeError(`${op}: ${what} has ${length} values but ${shape} needs ${want}`);
}

/** [H, W, C] floats (C = image.length / (H*W)) to an 8-bit RGB image. */
export function toRgb8(image: Float32Array, height: number, width: number, opts: ToRgbOptions = {}): RgbImage {
  const pixels = height * width;
  const c = pixels > 0 ? image.length / pixels : 0;
  if (!Number.isInteger(c) || c < 1) {
    throw new ShapeError(`toRgb8: image has ${image.length} values, not a multiple of ${height}x${width}`);
  }
  const mapping = opts.mapping ?? (c >= 3 ? [0, 1, 2] : [0, 0, 0]);
  if (mapping.some((m) => !Number.isInteger(m) || m < 0 || m >= c)) {
    throw new ShapeError(`toRgb8: mapping [${mapping.join(', ')}] names a channel outside 0..${c - 1}`);
  }
  const lo = new Float64Array(c).fill(0);
  const scale = new Float64Array(c).fill(1);
  if (opts.stretch) {
    for (let ch = 0; ch < c; ch++) {
      let min = Infinity;
      let max = -Infinity;
      for (let p = 0; p < pixels; p++) {
        const v = image[p * c + ch];
        if (Number.isFinite(v)) {
          min = Math.min(min, v);
          max = Math.max(max, v);
        }
      }
      lo[ch] = Number.isFinite(min) ? min : 0;
      scale[ch] = max > min ? 1 / (max - min) : 1;
    }
  }
  const data = new Uint8Array(pixels * 3);
  for (let p = 0; p < pixels; p++) {
    for (let k = 0; k < 3; k++) {
      const ch = mapping[k];
      const v = (image[p * c + ch] - lo[ch]) * scale[ch];
      data[p * 3 + k] = Number.isNaN(v) ? 0 : Math.round(Math.min(1, Math.max(0, v)) * 255);
    }
  }
  return { width, height, channels: 3, data };
}

/**
 * 1 where the mask (value >= threshold) has a 4-neighbour outside it or on the image border, else 0.
 * At or above, as the metrics, eval's post-processing and predict's mask threshold a prediction
 * (MONAI's AsDiscrete: p >= threshold), so the picture shows the pixels that were scored.
 */
export function maskOutline(mask: Float32Array, height: number, width: number, threshold = 0.5): Uint8Array {
  checkLength('maskOutline', 'mask', mask.length, height * width, `${height}x${width}`);
  const inside = (y: number, x: number): boolean =>
    y >= 0 && y < height && x >= 0 && x < width && mask[y * width + x] >= threshold;
  const out = new Uint8Array(height * width);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (!inside(y, x)) continue;
      if (!inside(y - 1, x) || !inside(y + 1, x) || !inside(y, x - 1) || !inside(y, x + 1)) out[y * width + x] = 1;
    }
  }
  return out;
}

export interface OverlayOptions {
  /** Ground-truth outline colour; default green. */
  truthColor?: Rgb;
  /** Prediction outline colour; default red. */
  predColor?: Rgb;
  /** Where both outlines fall on the same pixel; default yellow, so a perfect match is visible. */
  bothColor?: Rgb;
  /** Opacity of a translucent fill inside each mask, 0 (default: outlines only) to 1. */
  fillAlpha?: number;
  /** Mask value at or above which a pixel is inside; default 0.5 (predictions are probabilities). */
  threshold?: number;
}

const GREEN: Rgb = [0, 230, 64];
const RED: Rgb = [255, 32, 32];
const YELLOW: Rgb = [255, 230, 0];

/** Moves pixel p of an RGB image towards `color` by `alpha` (0 unchanged, 1 the colour). */
export function blend(data: Uint8Array, p: number, color: Rgb, alpha: number): void {
  for (let k = 0; k < 3; k++) data[p * 3 + k] = Math.round(data[p * 3 + k] * (1 - alpha) + color[k] * alpha);
}

/** A copy of `rgb` with the truth and prediction masks drawn over it (fills first, outlines on top). */
export function overlay(rgb: RgbImage, truth?: Float32Array, pred?: Float32Array, opts: OverlayOptions = {}): RgbImage {
  const { width, height } = rgb;
  const threshold = opts.threshold ?? 0.5;
  const alpha = Math.min(1, Math.max(0, opts.fillAlpha ?? 0));
  const truthColor = opts.truthColor ?? GREEN;
  const predColor = opts.predColor ?? RED;
  const data = rgb.data.slice();
  const masks = [
    { mask: truth, color: truthColor },
    { mask: pred, color: predColor },
  ].filter((m): m is { mask: Float32Array; color: Rgb } => m.mask !== undefined);
  for (const m of masks) checkLength('overlay', 'mask', m.mask.length, width * height, `${height}x${width}`);
  if (alpha > 0) {
    for (const m of masks) {
      for (let p = 0; p < width * height; p++) if (m.mask[p] >= threshold) blend(data, p, m.color, alpha);
    }
  }
  const truthLine = truth ? maskOutline(truth, height, width, threshold) : undefined;
  const predLine = pred ? maskOutline(pred, height, width, threshold) : undefined;
  for (let p = 0; p < width * height; p++) {
    const t = truthLine?.[p] === 1;
    const q = predLine?.[p] === 1;
    if (t || q) blend(data, p, t && q ? (opts.bothColor ?? YELLOW) : t ? truthColor : predColor, 1);
  }
  return { width, height, channels: 3, data };
}

/** A probability map [H, W] in 0..1 as a gray image (black 0, white 1). */
export function probabilityToGray(prob: Float32Array, height: number, width: number): PngImage {
  checkLength('probabilityToGray', 'probabilities', prob.length, height * width, `${height}x${width}`);
  const data = new Uint8Array(height * width);
  for (let p = 0; p < data.length; p++) {
    const v = prob[p];
    data[p] = Number.isNaN(v) ? 0 : Math.round(Math.min(1, Math.max(0, v)) * 255);
  }
  return { width, height, channels: 1, data };
}

export interface TileOptions {
  /** Pixels between cells and around the grid; default 2. */
  gap?: number;
  /** Colour of the gaps and of cells left empty; default white. */
  background?: Rgb;
}

/**
 * Lays images out row by row, `cols` per row, in cells as large as the largest image (smaller ones
 * sit at the cell's top left). Gray becomes RGB; RGBA is composited over the background.
 */
export function tile(images: PngImage[], cols: number, opts: TileOptions = {}): RgbImage {
  if (images.length === 0) throw new ShapeError('tile: no images');
  if (!Number.isInteger(cols) || cols < 1) throw new ShapeError(`tile: cols must be a positive integer (got ${cols})`);
  const gap = opts.gap ?? 2;
  const bg = opts.background ?? [255, 255, 255];
  const cellW = Math.max(...images.map((i) => i.width));
  const cellH = Math.max(...images.map((i) => i.height));
  const columns = Math.min(cols, images.length);
  const rows = Math.ceil(images.length / columns);
  const width = columns * cellW + (columns + 1) * gap;
  const height = rows * cellH + (rows + 1) * gap;
  const data = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) data.set(bg, p * 3);
  images.forEach((img, i) => {
    checkLength('tile', `image ${i}`, img.data.length, img.width * img.height * img.channels, `${img.height}x${img.width}x${img.channels}`);
    const x0 = gap + (i % columns) * (cellW + gap);
    const y0 = gap + Math.floor(i / columns) * (cellH + gap);
    for (let y = 0; y < img.height; y++) {
      for (let x = 0; x < img.width; x++) {
        const src = (y * img.width + x) * img.channels;
        const dst = ((y0 + y) * width + x0 + x) * 3;
        const a = img.channels === 4 ? img.data[src + 3] / 255 : 1;
        for (let k = 0; k < 3; k++) {
          const v = img.data[src + (img.channels === 1 ? 0 : k)];
          data[dst + k] = Math.round(v * a + bg[k] * (1 - a));
        }
      }
    }
  });
  return { width, height, channels: 3, data };
}
