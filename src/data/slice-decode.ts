// A slice and its mask, decoded from their TIFF bytes to the float tensors the model eats: image
// [S, S, 3] in 0..1 (bilinear when resized), mask [S, S] in {0, 1} (nearest). Bytes in, arrays
// out: the scan, the decode workers, `dawnet predict` and the browser page all take it.

import { DataError } from './errors.js';
import { decodeTiff } from './tiff.js';

/** Refuses an image that is not 3- or 4-channel, or a mask of another size than its slice. */
export function checkPair(image: { width: number; height: number; channels: number }, mask: { width: number; height: number }, imageName: string, maskName: string): void {
  if (image.channels !== 3 && image.channels !== 4) {
    throw new DataError(`${imageName}: ${image.channels}-channel image; LGG slices have 3 (pre-contrast, FLAIR, post-contrast)`);
  }
  if (mask.width !== image.width || mask.height !== image.height) {
    throw new DataError(`${maskName}: mask is ${mask.width}x${mask.height} but its slice ${imageName} is ${image.width}x${image.height}`);
  }
}

/**
 * How many leading samples of a mask pixel say tumour: its gray or colour samples, not an alpha
 * channel, which an opaque mask (RGBA, as image editors save one) holds at 255 everywhere.
 */
export function maskSamples(channels: number): number {
  return channels === 4 ? 3 : channels;
}

export interface DecodedSlice {
  /** [S, S, 3] row-major, channels interleaved, 0..1. */
  image: Float32Array;
  /** [S, S], 0 or 1. */
  mask: Float32Array;
  /** 1 when the stored (not resized) mask has a non-zero pixel. */
  label: 0 | 1;
}

/** Decodes a slice and its mask (TIFF bytes) to the working size S. Names are the files, for error messages. */
export function decodeSlice(imageBytes: Uint8Array | ArrayBuffer, maskBytes: Uint8Array | ArrayBuffer, size: number, names: { image: string; mask: string } = { image: 'image', mask: 'mask' }): DecodedSlice {
  const image = decodeTiff(imageBytes, names.image);
  const mask = decodeTiff(maskBytes, names.mask);
  checkPair(image, mask, names.image, names.mask);
  const { width, height } = image;
  const scale = image.data instanceof Uint16Array ? 1 / 65535 : 1 / 255;
  const rgb = new Float32Array(width * height * 3);
  for (let p = 0, q = 0; p < width * height; p++, q += image.channels) {
    // A 4th (alpha) channel, if any, is dropped.
    rgb[3 * p] = image.data[q]! * scale;
    rgb[3 * p + 1] = image.data[q + 1]! * scale;
    rgb[3 * p + 2] = image.data[q + 2]! * scale;
  }
  const binary = new Float32Array(width * height);
  let tumour = 0;
  const samples = maskSamples(mask.channels);
  for (let p = 0; p < width * height; p++) {
    for (let k = 0; k < samples; k++) {
      if (mask.data[p * mask.channels + k] !== 0) {
        binary[p] = 1;
        tumour++;
        break;
      }
    }
  }
  const same = width === size && height === size;
  return {
    image: same ? rgb : resizeBilinear(rgb, width, height, 3, size, size),
    mask: same ? binary : resizeNearest(binary, width, height, 1, size, size),
    label: tumour > 0 ? 1 : 0,
  };
}

/** Bilinear resize with pixel centres aligned (OpenCV's INTER_LINEAR, align_corners = false). [H, W, C] -> [outH, outW, C]. */
export function resizeBilinear(src: ArrayLike<number>, width: number, height: number, channels: number, outWidth: number, outHeight: number): Float32Array {
  const out = new Float32Array(outWidth * outHeight * channels);
  const sx = width / outWidth;
  const sy = height / outHeight;
  for (let y = 0; y < outHeight; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), height - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, height - 1);
    const wy = fy - y0;
    for (let x = 0; x < outWidth; x++) {
      const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), width - 1);
      const x0 = Math.floor(fx);
      const x1 = Math.min(x0 + 1, width - 1);
      const wx = fx - x0;
      for (let c = 0; c < channels; c++) {
        const a = src[(y0 * width + x0) * channels + c]!;
        const b = src[(y0 * width + x1) * channels + c]!;
        const d = src[(y1 * width + x0) * channels + c]!;
        const e = src[(y1 * width + x1) * channels + c]!;
        out[(y * outWidth + x) * channels + c] = (a * (1 - wx) + b * wx) * (1 - wy) + (d * (1 - wx) + e * wx) * wy;
      }
    }
  }
  return out;
}

/** Nearest-neighbour resize: each output pixel takes the source pixel under its centre. [H, W, C] -> [outH, outW, C]. */
export function resizeNearest(src: ArrayLike<number>, width: number, height: number, channels: number, outWidth: number, outHeight: number): Float32Array {
  const out = new Float32Array(outWidth * outHeight * channels);
  for (let y = 0; y < outHeight; y++) {
    const sy = Math.min(Math.floor(((y + 0.5) * height) / outHeight), height - 1);
    for (let x = 0; x < outWidth; x++) {
      const sx = Math.min(Math.floor(((x + 0.5) * width) / outWidth), width - 1);
      for (let c = 0; c < channels; c++) out[(y * outWidth + x) * channels + c] = src[(sy * width + sx) * channels + c]!;
    }
  }
  return out;
}
