// readMany past maxBufferSize: tensors that could each be read alone are read together, in as
// many staging buffers as they need, still with one submit; a request that cannot be met names
// its tensors. The limit is made small with setBufferLimit, so the tensors stay tiny.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { largestBufferSize, roundBufferSize } from '../../src/gpu/buffer-pool.js';
import { runtime } from '../../src/gpu/runtime.js';
import { readTensors } from '../../src/graph/tensor.js';

beforeAll(async () => {
  await dn.init();
});
afterEach(() => runtime().setBufferLimit(null));
afterAll(() => dn.shutdown());

const ramp = (n: number, from: number) => Float32Array.from({ length: n }, (_, i) => from + i);

describe('largestBufferSize', () => {
  it('is the largest request the pool rounds to no more than the limit', () => {
    for (const limit of [16, 17, 100, 512, 4095, 4096, 4100, 5000, 9000, 2 ** 28, 2 ** 31 - 4, 2 ** 32]) {
      const b = largestBufferSize(limit);
      expect(roundBufferSize(b), `limit ${limit}`).toBeLessThanOrEqual(limit);
      expect(roundBufferSize(b + 4), `limit ${limit}`).toBeGreaterThan(limit);
    }
  });
});

describe('readMany past maxBufferSize', () => {
  it('reads tensors whose total passes the limit, each whole, with one submit', async () => {
    // 256 + 256 + 400 + 4 + 0 + 12 bytes under a 512-byte limit: three staging buffers.
    const sizes = [64, 64, 100, 1, 0, 3];
    const data = sizes.map((n, i) => ramp(n, 1000 * i));
    const ts = data.map((d, i) => dn.tensor(d, [d.length], { name: `t${i}` }));
    const rt = runtime();
    rt.setBufferLimit(512);
    const inUse = dn.memory().bytesInUse;
    const submits = rt.submitCount;
    const got = await readTensors(ts);
    expect(rt.submitCount - submits).toBe(1);
    got.forEach((g, i) => expect([...g], `t${i}`).toEqual([...data[i]]));
    expect(dn.memory().bytesInUse).toBe(inUse);
    for (const t of ts) t.dispose();
  });

  it('works in any order, a big tensor after small ones and between them', async () => {
    const data = [ramp(10, 0), ramp(120, 100), ramp(5, 500), ramp(128, 700), ramp(7, 900)];
    const ts = data.map((d) => dn.tensor(d));
    runtime().setBufferLimit(512);
    const got = await readTensors(ts);
    got.forEach((g, i) => expect([...g], `tensor ${i}`).toEqual([...data[i]]));
    for (const t of ts) t.dispose();
  });

  it('names the tensors of a staging buffer the device cannot hold', async () => {
    const big = dn.tensor(ramp(200, 0), [4, 50], { name: 'big' });
    const small = dn.tensor(ramp(4, 0), [4], { name: 'small' });
    runtime().setBufferLimit(256);
    await expect(readTensors([small, big])).rejects.toBeInstanceOf(dn.LimitError);
    await expect(readTensors([small, big])).rejects.toThrow(/^readback of big \[4,50\] \(800 bytes\): needs a buffer of 800 bytes/);
    await expect(big.toArray()).rejects.toThrow(/big \[4,50\]/);
    // Nothing was left acquired, and what fits still reads.
    expect([...(await small.toArray())]).toEqual([0, 1, 2, 3]);
    runtime().setBufferLimit(null);
    expect((await big.toArray())[199]).toBe(199);
    big.dispose();
    small.dispose();
  });

  it('names the tensors when the memory budget refuses the staging buffer', async () => {
    const a = dn.tensor(ramp(64, 0), [64], { name: 'a' });
    const b = dn.tensor(ramp(64, 0), [64], { name: 'b' });
    const rt = runtime();
    // No free staging buffer to reuse: released ones become free at a submit, then trimmed.
    rt.submit();
    rt.pool.trim();
    rt.pool.setBudget(dn.memory().bytesAllocated + 256);
    try {
      await expect(readTensors([a, b])).rejects.toThrow(/^readback of a \[64\] \(256 bytes\), b \[64\] \(256 bytes\): allocating 512 bytes would exceed the memory budget/);
    } finally {
      rt.pool.setBudget(Number.POSITIVE_INFINITY);
    }
    a.dispose();
    b.dispose();
  });
});
