// Seeded data for a conv2d test case: x, w, b and an upstream dy of the output's shape, float64,
// with the shapes and options (shared by the conv2d and dilated-conv tests).

import type { Conv2dOptions } from '../../src/kernels/conv2d.js';
import { nd } from '../../src/reference/array.js';
import { conv2dOutputShapeRef } from '../../src/reference/conv.js';
import { uniform } from './rng.js';

export interface ConvCase {
  x: readonly number[];
  k: readonly number[];
  cout: number;
  opts: Conv2dOptions;
}

export function convCaseData(cs: ConvCase, seed: number) {
  const xShape: number[] = [...cs.x];
  const wShape: number[] = [cs.k[0], cs.k[1], cs.x[3], cs.cout];
  const opts = cs.opts;
  const x = nd(uniform(xShape.reduce((p, d) => p * d, 1), seed), xShape);
  const w = nd(uniform(wShape.reduce((p, d) => p * d, 1), seed + 1), wShape);
  const b = nd(uniform(cs.cout, seed + 2), [cs.cout]);
  const yShape = conv2dOutputShapeRef(x, w, opts);
  const dy = nd(uniform(yShape.reduce((p, d) => p * d, 1), seed + 3), yShape);
  return { xShape, wShape, yShape, opts, x, w, b, dy };
}
