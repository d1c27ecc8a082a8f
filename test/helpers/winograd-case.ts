// Random data for a Winograd conv test case (3x3 filters): x, w, a bias over the outputs (b) and
// one over the inputs (bIn, for dx + bias, convTranspose2d's forward), and dy of y's shape; the
// GEMM families a test runs on this adapter; small float64 matrix products for the transforms.

import { runtime } from '../../src/gpu/runtime.js';
import type { Conv2dOptions } from '../../src/kernels/conv2d.js';
import type { ConvFamily } from '../../src/kernels/conv2d-gemm.js';
import { nd } from '../../src/reference/array.js';
import { conv2dOutputShapeRef } from '../../src/reference/conv.js';
import { uniform } from './rng.js';

export interface WinogradCase {
  name: string;
  x: readonly number[];
  cout: number;
  opts: Conv2dOptions;
}

export function winogradCaseData(cs: WinogradCase, seed: number) {
  const xShape: number[] = [...cs.x];
  const wShape = [3, 3, cs.x[3], cs.cout];
  const opts = cs.opts;
  const x = nd(uniform(xShape.reduce((p, d) => p * d, 1), seed), xShape);
  const w = nd(uniform(wShape.reduce((p, d) => p * d, 1), seed + 1), wShape);
  const b = nd(uniform(cs.cout, seed + 2), [cs.cout]);
  const bIn = nd(uniform(cs.x[3], seed + 4), [cs.x[3]]);
  const yShape = conv2dOutputShapeRef(x, w, opts);
  const dy = nd(uniform(yShape.reduce((p, d) => p * d, 1), seed + 3), yShape);
  return { xShape, wShape, yShape, opts, x, w, b, bIn, dy };
}

/** Both GEMM families where the adapter has subgroups (the subgroup one needs them), else the tiled one. */
export function families(): ConvFamily[] {
  return runtime().device.features.has('subgroups') ? ['tiled', 'subgroup'] : ['tiled'];
}

export type Matrix = readonly (readonly number[])[];
export const mul = (a: Matrix, b: Matrix): number[][] => a.map((row) => b[0].map((_, j) => row.reduce((s, v, k) => s + v * b[k][j], 0)));
export const transpose = (a: Matrix): number[][] => a[0].map((_, j) => a.map((row) => row[j]));

/**
 * Shapes that exercise the Winograd kernels' edges: blocks past the output's edge (sizes not
 * multiples of 4), padding on one side only and more than the filter's reach, channel counts that
 * are not multiples of 4 (scalar transforms) or are (vec4), batch > 1 (blocks of several samples
 * in one GEMM), and K and N past one tile.
 */
export const WINOGRAD_EDGE_CASES: readonly WinogradCase[] = [
  { name: "'same', batch 2, 16 channels", x: [2, 12, 12, 16], cout: 16, opts: { padding: 'same' } },
  { name: 'odd sizes, odd channels', x: [1, 9, 11, 5], cout: 7, opts: { padding: 'same' } },
  { name: "'valid', sizes not multiples of 4", x: [2, 10, 13, 8], cout: 12, opts: { padding: 'valid' } },
  { name: 'explicit pads [2, 0, 1, 2]', x: [1, 7, 8, 4], cout: 6, opts: { padding: [2, 0, 1, 2] } },
  { name: 'K 64, N 40', x: [1, 8, 8, 64], cout: 40, opts: { padding: 'same' } },
];
