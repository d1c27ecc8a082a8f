// Central finite differences in float64, for checking CPU backward references. The scalar probed is
// L(x) = sum(f(x) * r) for a fixed random r, so dL/dx = backward(dy = r): every output element
// contributes, with weights that make cancelling errors unlikely.

import type { NdArray } from '../../src/reference/array.js';
import { expectClose } from './close.js';

export function numericGrad(loss: (x: Float64Array) => number, x: Float64Array, eps = 1e-6): Float64Array {
  const g = new Float64Array(x.length);
  const probe = Float64Array.from(x);
  for (let i = 0; i < x.length; i++) {
    probe[i] = x[i] + eps;
    const up = loss(probe);
    probe[i] = x[i] - eps;
    const down = loss(probe);
    probe[i] = x[i];
    g[i] = (up - down) / (2 * eps);
  }
  return g;
}

export function weightedSum(y: NdArray, r: Float64Array): number {
  let s = 0;
  for (let i = 0; i < y.data.length; i++) s += y.data[i] * r[i];
  return s;
}

/**
 * Checks an analytic gradient against central differences of `forward` with respect to one input.
 * float64 central differences with eps 1e-6 are accurate to about 1e-8 relative on smooth
 * functions; atol 1e-6 / rtol 1e-5 leaves room for sums over a few thousand terms.
 */
export function checkGrad(
  what: string,
  forward: (x: Float64Array) => NdArray,
  x: Float64Array,
  r: Float64Array,
  analytic: ArrayLike<number>,
  tol = { atol: 1e-6, rtol: 1e-5 },
): void {
  const numeric = numericGrad((v) => weightedSum(forward(v), r), x);
  expectClose(`${what} (finite differences)`, analytic, numeric, tol);
}
