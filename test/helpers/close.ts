// Closeness as in llm.c: |got - want| <= atol + rtol * |want|, element by element. A failure names
// the op and case and shows the worst element, so a wrong index is visible at once.

import { expect } from 'vitest';

export interface Tolerance {
  atol?: number;
  rtol?: number;
}

/** Float32 defaults from the house style; ops widen them with a comment saying why. */
export const F32: Required<Tolerance> = { atol: 1e-5, rtol: 1e-4 };

export function expectClose(
  what: string,
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  tol: Tolerance = {},
): void {
  const atol = tol.atol ?? F32.atol;
  const rtol = tol.rtol ?? F32.rtol;
  if (got.length !== want.length) {
    expect.fail(`${what}: got ${got.length} values, want ${want.length}`);
  }
  let worst = -1;
  let worstExcess = 0;
  let failures = 0;
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    const allowed = atol + rtol * Math.abs(want[i]);
    const excess = Number.isNaN(err) ? Infinity : err - allowed;
    if (excess > 0) {
      failures++;
      if (excess > worstExcess) {
        worstExcess = excess;
        worst = i;
      }
    }
  }
  if (failures > 0) {
    expect.fail(
      `${what}: ${failures}/${want.length} elements out of tolerance (atol ${atol}, rtol ${rtol}); ` +
        `worst at index ${worst}: got ${got[worst]}, want ${want[worst]}`,
    );
  }
}

/**
 * conv2d by Winograd F(4x4, 3x3) (src/kernels/conv2d-winograd.ts) summing K channels of values in
 * [-1, 1]. Its transforms scale values up before the sum (Bᵀ's rows add up to 10 in absolute
 * value, so V reaches ~100x the input) and Aᵀ (rows up to 19) cancels them afterwards, so float32
 * rounding in V, U and M reaches the output amplified: measured on lavapipe, the worst errors were
 * 1.1e-5 at K = 5, 4e-5 at K = 16 and 1.4e-4 at K = 64 (outputs up to ~26), growing like sqrt(K),
 * 10-100x direct convolution's. atol 5e-5·sqrt(K) leaves a margin of 3-10x over those; a wrong
 * index (a missed or doubled tap of size 0.1-1) still fails by orders of magnitude.
 */
export const winogradTolerance = (k: number): Required<Tolerance> => ({ atol: 5e-5 * Math.sqrt(k), rtol: 1e-4 });

/**
 * conv2d's weight gradient by Winograd (src/kernels/conv2d-winograd-wgrad.ts), summing over
 * `pixels` pixels of x and dy in [-1, 1]: the same transforms' amplification, over sums as long
 * as the batch's blocks (in K slices of at most 512 blocks). Measured on lavapipe (both GEMM
 * families): worst errors 6.6e-6 at 63 pixels, 2.7e-5 at 64 (64 channels in), 6e-5 at 288,
 * 9.6e-4 at 12288 (outputs up to 113) and 1.9e-3 to 3.5e-3 at 65536 (outputs up to 308; the
 * direct kernels' 1.2e-4 to 1.2e-3 there). With rtol 1e-4, atol 3e-5·sqrt(pixels) leaves a margin
 * of 3.5x or more over every one of them; a missed or doubled tap moves an output by about its
 * own size, 5-300 here, and still fails by far.
 */
export const winogradWeightGradTolerance = (pixels: number): Required<Tolerance> => ({ atol: 3e-5 * Math.sqrt(pixels), rtol: 1e-4 });
