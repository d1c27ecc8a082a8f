// GPU set-up for a test file: one device per worker, released after the file, and a leak check:
// the pool's bytes in use must be back where they started once the file's tests are done.

import { afterAll, beforeAll, expect } from 'vitest';
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
