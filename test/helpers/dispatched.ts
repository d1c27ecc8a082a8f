// Which kernels a call dispatches: tests that pin the path a rule picks for a shape.

import { vi } from 'vitest';
import { runtime } from '../../src/gpu/runtime.js';

/** The kernels one call of f dispatches, by name, in order. */
export function dispatched(f: () => void): string[] {
  const spy = vi.spyOn(runtime(), 'dispatch');
  try {
    f();
    return spy.mock.calls.map(([spec]) => spec.name);
  } finally {
    spy.mockRestore();
  }
}
