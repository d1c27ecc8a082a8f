// A slice and its mask, decoded from their TIFF bytes to the float tensors the model eats: image
// [S, S, 3] in 0..1 (bilinear when resized), mask [S, S] in {0, 1} (nearest). Bytes in, arrays
// out: the scan, the decode workers, `dawnet predict` and the browser page all take it.
//
// One rule turns a slice into the model's 3 channels, for training, eval, predict and the page
// alike (sliceRgb): RGB as it is, RGBA without its alpha, and a gray slice (one MRI sequence, as
// many exports save it) with its one channel given as all three. A slice the scan accepts is one
// predict accepts, and the other way round.

import { ArgumentError } from '../errors.js';
import { describeValue, expectNumber } from '../graph/args.js';
import { DataError } from './errors.js';
import { decodeTiff, type TiffImage } from './tiff.js';

/** Refuses a slice that is not gray, RGB or RGBA, naming it. */
export function checkSliceChannels(channels: number, imageName: string): void {
  if (channels !== 1 && channels !== 3 && channels !== 4) {
    throw new DataError(`${imageName}: ${channels}-channel image; slices are read with 3 channels (pre-contrast, FLAIR, post-contrast, as LGG's), 4 (the 4th, alpha, dropped) or 1 (gray, given as all three)`);
  }
}

/** Refuses a slice whose channels sliceRgb does not read, or a mask of another size than its slice. */
export function checkPair(image: { width: number; height: number; channels: number }, mask: { width: number; height: number }, imageName: string, maskName: string): void {
  checkSliceChannels(image.channels, imageName);
  if (mask.width !== image.width || mask.height !== image.height) {
    throw new DataError(`${maskName}: mask is ${mask.width}x${mask.height} but its slice ${imageName} is ${image.width}x${image.height}`);
  }
}

/**
 * How many leading samples of a mask pixel say tumour: its gray or colour samples, not an alpha
 * channel, which an opaque mask (RGBA, as image editors save one) holds at 255 everywhere. A
 * palette mask arrives as the RGB its ColorMap gives (tiff.ts), so it follows the RGB rule: a
 * pixel shown in any colour but black is tumour, whatever its index.
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
  for (const [role, bytes] of [['imageBytes', imageBytes], ['maskBytes', maskBytes]] as const) {
    if (!(bytes instanceof Uint8Array) && !(bytes instanceof ArrayBuffer)) throw new ArgumentError(`decodeSlice: ${role} must be a Uint8Array or an ArrayBuffer, got ${describeValue(bytes)}`);
  }
  // The resize to size x size: 0 or a fraction made an empty or ragged slice.
  expectNumber('decodeSlice', 'size', size, { integer: true, min: 1 });
  const image = decodeTiff(imageBytes, names.image);
  const mask = decodeTiff(maskBytes, names.mask);
  checkPair(image, mask, names.image, names.mask);
  const { width, height } = image;
  const rgb = sliceRgb(image, names.image);
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

/** A decoded slice as [H, W, 3] floats in 0..1: gray given as all three channels, alpha dropped. */
export function sliceRgb(image: TiffImage, name: string): Float32Array {
  checkSliceChannels(image.channels, name);
  const { width, height, channels, data } = image;
  const scale = data instanceof Uint16Array ? 1 / 65535 : 1 / 255;
  const rgb = new Float32Array(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    for (let c = 0; c < 3; c++) rgb[3 * p + c] = data[p * channels + (channels === 1 ? 0 : c)]! * scale;
  }
  return rgb;
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
