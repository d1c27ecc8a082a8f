// dn.trimMemory(): the pool's free buffers go at once, buffers released since the last submit
// included (they are submitted first), while every live tensor keeps its buffer and its data.
// dn.resetPeakMemory(): the peak starts again from the bytes in use.
import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

describe('dn.trimMemory', () => {
  it('frees what no tensor holds, keeps what one does, and says how much it freed', async () => {
    const kept = dn.tensor(Float32Array.from({ length: 1000 }, (_, i) => i), [1000]);
    await dn.sync();
    const base = dn.memory().bytesAllocated;
    // Temporaries of sizes the rest of the program will not use again: released, not submitted.
    for (const n of [4096, 65536, 262144]) {
      const ones = dn.full([n], 1);
      const twos = dn.scale(ones, 2);
      ones.dispose();
      twos.dispose();
    }
    const grown = dn.memory().bytesAllocated;
    expect(grown).toBeGreaterThan(base);
    const freed = dn.trimMemory();
    expect(freed).toBe(grown - dn.memory().bytesAllocated);
    expect(dn.memory().bytesAllocated).toBe(dn.memory().bytesInUse);
    expect(dn.memory().bytesInUse).toBeGreaterThan(0);
    expect((await kept.toArray())[999]).toBe(999);
    kept.dispose();
  });
});

describe('dn.resetPeakMemory', () => {
  it('starts the peak from what is in use now, so the next peak is that of the work after it', () => {
    const big = dn.zeros([1 << 18]);
    big.dispose();
    const before = dn.memory().peakBytesInUse;
    expect(before).toBeGreaterThanOrEqual(4 << 18);
    expect(dn.resetPeakMemory()).toBe(before);
    expect(dn.memory().peakBytesInUse).toBe(dn.memory().bytesInUse);
    const small = dn.zeros([1024]);
    const peak = dn.memory().peakBytesInUse;
    expect(peak).toBe(dn.memory().bytesInUse);
    expect(peak).toBeLessThan(before);
    small.dispose();
  });
});
