// A device that allows only 64 workgroups per grid dimension, so that a modest dispatch takes
// linearGrid's 2-D layout, which reaching for real takes 65535 * 256 = 16.8M rows.

import { expect, vi } from 'vitest';
import { runtime } from '../../src/gpu/runtime.js';

/**
 * Runs fn with the device pretending to allow 64 workgroups per grid dimension, so the 274
 * workgroups of [70000, 2]'s rows take linearGrid's 2-D layout (64 x 5, the last 46 workgroups
 * past the end). Reaching it for real takes 65535 * 256 = 16.8M rows. Asserts a 2-D dispatch ran,
 * and one of each kernel named in `kernels`.
 */
export async function withNarrowGrid<T>(fn: () => Promise<T>, kernels: string[] = []): Promise<T> {
  const rt = runtime();
  const real = rt.limits;
  const narrow = new Proxy(real, { get: (t, k) => (k === 'maxComputeWorkgroupsPerDimension' ? 64 : Reflect.get(t, k, t)) });
  const limits = vi.spyOn(rt, 'limits', 'get').mockReturnValue(narrow);
  const dispatch = vi.spyOn(rt, 'dispatch');
  try {
    const result = await fn();
    expect(dispatch.mock.calls.some(([, , grid]) => (grid[1] ?? 1) > 1), 'a dispatch used the 2-D grid').toBe(true);
    for (const name of kernels) {
      expect(dispatch.mock.calls.some(([spec, , grid]) => spec.name === name && (grid[1] ?? 1) > 1), `${name} used the 2-D grid`).toBe(true);
    }
    return result;
  } finally {
    dispatch.mockRestore();
    limits.mockRestore();
  }
}
