// Intensity normalisation of MRI slices on the host, before upload. MRI intensities have no
// absolute scale (they vary between scanners and patients), so inputs are standardised:
// per image (each slice's own channel statistics) or per volume (statistics over all of a
// patient's slices, as Buda et al. normalise whole volumes). ImageNet preprocessing for VGG16's
// imported weights runs on the GPU instead (src/kernels/preprocess.ts).

import { ArgumentError, ShapeError } from '../errors.js';
import { describeValue, expectNumber } from '../graph/args.js';
import { loadSlice, type LggSlice } from './lgg.js';

export interface ChannelStats {
  mean: number[];
  std: number[];
}

/** Per-image, per-channel z-score of `count` NHWC images in place. */
export function zscoreImages(images: Float32Array, count: number, pixels: number, channels: number): void {
  const op = 'zscoreImages';
  if (!(images instanceof Float32Array)) throw new ArgumentError(`${op}: images must be a Float32Array of NHWC images, got ${describeValue(images)}`);
  expectNumber(op, 'count', count, { integer: true, min: 0 });
  expectLayout(op, pixels, channels);
  if (images.length < count * pixels * channels) throw new ShapeError(`${op}: count ${count} images of ${pixels} pixels x ${channels} channels need ${count * pixels * channels} values, images holds ${images.length}`);
  for (let b = 0; b < count; b++) {
    const view = images.subarray(b * pixels * channels, (b + 1) * pixels * channels);
    applyStats(view, pixels, channelStats([view], pixels, channels));
  }
}

/**
 * Channel means and standard deviations over several [pixels, C] images, in two passes (float64):
 * the mean, then the squared deviations from it. One pass of sum(v^2)/n - mean^2 cancels: a
 * patient's volume of millions of pixels, constant at 0.7, came out with a std of 3.4e-6 instead
 * of 0, and a std dominated by that error where only a few pixels differ.
 */
export function channelStats(images: Float32Array[], pixels: number, channels: number): ChannelStats {
  const op = 'channelStats';
  if (!Array.isArray(images)) throw new ArgumentError(`${op}: images must be an array of [pixels, C] images (Float32Arrays), got ${describeValue(images)}`);
  expectLayout(op, pixels, channels);
  // A short image read undefined past its end, and every statistic came out NaN.
  images.forEach((img, i) => expectImage(op, `images[${i}]`, img, pixels * channels));
  const sum = new Float64Array(channels);
  for (const img of images) {
    for (let p = 0; p < pixels; p++) for (let c = 0; c < channels; c++) sum[c] += img[p * channels + c];
  }
  const n = pixels * images.length;
  const mean = Array.from(sum, (s) => s / n);
  const sq = new Float64Array(channels);
  for (const img of images) {
    for (let p = 0; p < pixels; p++) for (let c = 0; c < channels; c++) sq[c] += (img[p * channels + c] - mean[c]) ** 2;
  }
  // A constant channel (std 0) is only centred, never divided by zero.
  const std = Array.from(sq, (s) => Math.sqrt(s / n) || 1);
  return { mean, std };
}

/** Standardises one [pixels, C] image in place with given statistics. */
export function applyStats(image: Float32Array, pixels: number, stats: ChannelStats): void {
  const op = 'applyStats';
  const { mean, std } = (stats ?? {}) as Partial<ChannelStats>;
  const ok = Array.isArray(mean) && Array.isArray(std) && mean.length > 0 && mean.length === std.length && mean.every(Number.isFinite) && std.every((v) => Number.isFinite(v) && v > 0);
  if (!ok) throw new ArgumentError(`${op}: stats must be channelStats()'s { mean, std }, one finite mean and positive std per channel, got ${describeValue(stats)}`);
  expectNumber(op, 'pixels', pixels, { integer: true, min: 0 });
  expectImage(op, 'image', image, pixels * mean.length);
  const channels = stats.mean.length;
  for (let p = 0; p < pixels; p++) {
    for (let c = 0; c < channels; c++) image[p * channels + c] = (image[p * channels + c] - stats.mean[c]) / stats.std[c];
  }
}

function expectLayout(op: string, pixels: unknown, channels: unknown): void {
  expectNumber(op, 'pixels', pixels, { integer: true, min: 0 });
  expectNumber(op, 'channels', channels, { integer: true, min: 1 });
}

function expectImage(op: string, role: string, img: unknown, values: number): void {
  if (!(img instanceof Float32Array)) throw new ArgumentError(`${op}: ${role} must be a Float32Array, got ${describeValue(img)}`);
  if (img.length !== values) throw new ShapeError(`${op}: ${role} holds ${img.length} values, where pixels x channels is ${values}`);
}

/** Per-patient channel statistics over all of each patient's slices (decodes every slice once). */
export async function volumeStats(slices: readonly LggSlice[], size: number): Promise<Map<string, ChannelStats>> {
  const byPatient = new Map<string, LggSlice[]>();
  for (const s of slices) byPatient.set(s.patient, [...(byPatient.get(s.patient) ?? []), s]);
  const out = new Map<string, ChannelStats>();
  for (const [patient, list] of byPatient) {
    const images = await Promise.all(list.map(async (s) => (await loadSlice(s, size)).image));
    out.set(patient, channelStats(images, size * size, 3));
  }
  return out;
}
