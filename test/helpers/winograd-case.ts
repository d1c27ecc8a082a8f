// Random data for a Winograd conv test case (3x3 filters): x, w, a bias over the outputs (b) and
// one over the inputs (bIn, for dx + bias, convTranspose2d's forward), and dy of y's shape.

import type { Conv2dOptions } from '../../src/kernels/conv2d.js';
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
