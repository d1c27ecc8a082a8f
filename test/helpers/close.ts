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
