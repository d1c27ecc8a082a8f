// The pool over a long run: a free buffer left unused for maxIdleSubmits submits is destroyed, so
// shapes that come and go do not keep their memory for the rest of the run, while the buffers
// every step reuses are never recreated.
import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { roundBufferSize } from '../../src/gpu/buffer-pool.js';
import { runtime } from '../../src/gpu/runtime.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

describe('buffer pool aging', () => {
  it('destroys a size class left unused for maxIdleSubmits submits and keeps the ones in use', async () => {
    const rt = runtime();
    const pool = rt.pool;
    const odd = dn.zeros([12345]); // a size class nothing else in this file uses
    odd.dispose();
    rt.submit();
    const allocated = pool.getStats().bytesAllocated;
    let created = -1;
    for (let step = 0; step <= pool.maxIdleSubmits + 32; step++) {
      const t = dn.zeros([100]);
      t.dispose();
      rt.submit();
      if (step === 0) created = pool.getStats().buffersCreated;
    }
    const after = pool.getStats();
    expect(after.buffersCreated).toBe(created);
    expect(after.bytesAllocated).toBe(allocated + roundBufferSize(400) - roundBufferSize(12345 * 4));
    // The destroyed class is simply created again when needed.
    const again = dn.tensor(new Float32Array(12345).fill(2));
    expect((await again.toArray())[12344]).toBe(2);
    again.dispose();
  });
});
