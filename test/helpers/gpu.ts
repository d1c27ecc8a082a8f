// GPU set-up for a test file: one device per worker, released after the file, and a leak check:
// the pool's bytes in use must be back where they started once the file's tests are done.

import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import * as dn from '../../src/index.js';

export function useGpu(): void {
  let startBytes = 0;
  beforeAll(async () => {
    await dn.init();
    startBytes = dn.memory().bytesInUse;
  }, 60_000);
  afterAll(async () => {
    try {
      await dn.sync();
      expect(dn.memory().bytesInUse, 'buffer pool bytes in use after the test file (leak)').toBe(startBytes);
    } finally {
      dn.shutdown();
    }
  });
}

/** Uploads float64 reference data as a float32 tensor. */
export function fromNd(data: ArrayLike<number>, shape: number[], requiresGrad = false): dn.Tensor {
  return dn.tensor(Float32Array.from(data), shape, { requiresGrad });
}

/**
 * What a test makes (tensors, modules), disposed after each test, since useGpu() requires the
 * file's pool to end where it began: `track` registers one and hands it back, `fromNd` uploads
 * and registers.
 */
export function disposeAfterEach(): {
  track: <T extends { dispose(): void }>(t: T) => T;
  fromNd: (data: ArrayLike<number>, shape: number[], requiresGrad?: boolean) => dn.Tensor;
} {
  const made: { dispose(): void }[] = [];
  afterEach(() => {
    for (const t of made.splice(0)) t.dispose();
  });
  const track = <T extends { dispose(): void }>(t: T): T => {
    made.push(t);
    return t;
  };
  return { track, fromNd: (data, shape, requiresGrad = false) => track(fromNd(data, shape, requiresGrad)) };
}
