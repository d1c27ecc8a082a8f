// The memory budget counts what the pool holds, not what tensors hold: buffers released since the
// last submit are reclaimed (a submit, then a trim) before an allocation is refused.
import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { runtime } from '../../src/gpu/runtime.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

describe('memory budget', () => {
  it('temporaries released since the last submit do not count against the budget', async () => {
    const pool = runtime().pool;
    await dn.sync();
    pool.trim();
    const elements = 64 * 1024; // 256 KiB a tensor
    pool.setBudget(pool.getStats().bytesAllocated + 4 * elements * 4 + 64 * 1024);
    try {
      // Each step's temporary is released before the next allocation, with no readback between.
      for (let step = 0; step < 12; step++) dn.zeros([elements]).dispose();
      const kept = dn.zeros([elements]);
      expect(pool.getStats().bytesInUse).toBeGreaterThan(0);
      kept.dispose();
    } finally {
      pool.setBudget(Number.POSITIVE_INFINITY);
    }
    // What is still in use does count: the budget refuses it by name.
    await dn.sync();
    pool.trim();
    pool.setBudget(pool.getStats().bytesAllocated + elements * 4);
    const held: dn.Tensor[] = [];
    try {
      expect(() => {
        for (let i = 0; i < 4; i++) held.push(dn.zeros([elements]));
      }).toThrow(dn.LimitError);
    } finally {
      pool.setBudget(Number.POSITIVE_INFINITY);
      for (const t of held) t.dispose();
    }
  });
});
