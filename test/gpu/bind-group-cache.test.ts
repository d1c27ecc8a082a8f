// The runtime's bind-group cache (src/gpu/bind-group-cache.ts): the same buffer ranges under the
// same layout give back the same bind group, anything else a new one; a destroyed buffer's groups
// are forgotten (the pool's trim calls forget), the least recently used go past the capacity, and
// dispatches through cached groups still compute the right thing after buffers are recycled.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { BindGroupCache } from '../../src/gpu/bind-group-cache.js';
import { BufferPool } from '../../src/gpu/buffer-pool.js';
import { runtime } from '../../src/gpu/runtime.js';
import { binaryForward } from '../../src/kernels/elementwise.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

function fixture() {
  const device = runtime().device;
  const layout = device.createBindGroupLayout({
    entries: [
      { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'read-only-storage' } },
      { binding: 1, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' } },
    ],
  });
  const a = device.createBuffer({ size: 1024, usage: GPUBufferUsage.STORAGE });
  const b = device.createBuffer({ size: 1024, usage: GPUBufferUsage.STORAGE });
  return { device, layout, a, b };
}

describe('bind-group cache', () => {
  it('hits on identical ranges only', () => {
    const { device, layout, a, b } = fixture();
    const cache = new BindGroupCache(device);
    const g1 = cache.get(layout, 't', [{ buffer: a, offset: 0, size: 512 }, { buffer: b, offset: 0, size: 512 }]);
    const g2 = cache.get(layout, 't', [{ buffer: a, offset: 0, size: 512 }, { buffer: b, offset: 0, size: 512 }]);
    expect(g2).toBe(g1);
    const offsetMoved = cache.get(layout, 't', [{ buffer: a, offset: 256, size: 512 }, { buffer: b, offset: 0, size: 512 }]);
    const swapped = cache.get(layout, 't', [{ buffer: b, offset: 0, size: 512 }, { buffer: a, offset: 0, size: 512 }]);
    const otherLayout = cache.get(fixture().layout, 't', [{ buffer: a, offset: 0, size: 512 }, { buffer: b, offset: 0, size: 512 }]);
    expect(new Set([g1, offsetMoved, swapped, otherLayout]).size).toBe(4);
    expect([cache.hits, cache.misses, cache.size]).toEqual([1, 4, 4]);
    a.destroy();
    b.destroy();
  });

  it('forgets every group of a buffer, and evicts the least recently used past its capacity', () => {
    const { device, layout, a, b } = fixture();
    const cache = new BindGroupCache(device, 3);
    const r = (x: GPUBuffer, y: GPUBuffer, off = 0) => [{ buffer: x, offset: off, size: 256 }, { buffer: y, offset: 0, size: 256 }];
    const ab = cache.get(layout, 't', r(a, b));
    cache.get(layout, 't', r(b, b));
    cache.get(layout, 't', r(a, b, 256));
    cache.get(layout, 't', r(a, b)); // refreshes (a, b): (b, b) is now the oldest
    cache.get(layout, 't', r(a, b, 512)); // a fourth group: evicts (b, b)
    expect(cache.size).toBe(3);
    const missesBefore = cache.misses;
    expect(cache.get(layout, 't', r(a, b))).toBe(ab);
    cache.get(layout, 't', r(b, b));
    expect(cache.misses).toBe(missesBefore + 1);
    cache.forget(a);
    expect(cache.size).toBe(1); // only (b, b) left
    expect(cache.get(layout, 't', r(a, b))).not.toBe(ab);
    a.destroy();
    b.destroy();
  });

  it('the pool hands out its oldest free buffer first, whatever order buffers came back in', () => {
    const device = runtime().device;
    const pool = new BufferPool(device, 1 << 20);
    const usage = GPUBufferUsage.STORAGE;
    const [a, b, c] = [pool.acquire(1000, usage, 'a'), pool.acquire(1000, usage, 'b'), pool.acquire(1000, usage, 'c')];
    for (const x of [c, a, b]) pool.release(x);
    // Not before the submit: unsubmitted commands may still read them.
    const d = pool.acquire(1000, usage, 'd');
    expect([a, b, c]).not.toContain(d);
    pool.onSubmit();
    expect([pool.acquire(1000, usage, 'x'), pool.acquire(1000, usage, 'y'), pool.acquire(1000, usage, 'z')]).toEqual([a, b, c]);
    for (const x of [b, d, a, c]) pool.release(x);
    pool.onSubmit();
    expect(pool.acquire(1000, usage, 'again')).toBe(a);
    pool.trim();
    for (const x of [a, b, c, d]) x.destroy();
  });

  it('a training step repeated gets the same buffers, so its bind groups are all found again', async () => {
    const x = dn.tensor(Float32Array.from({ length: 1024 }, (_, i) => i / 1024), [1024], { requiresGrad: true });
    const rt = runtime();
    const step = async () => {
      const y = dn.scope(() => {
        const l = dn.sum(dn.mul(dn.relu(x), x));
        l.backward();
        return dn.keep(l);
      });
      y.dispose();
      x.grad?.dispose();
      x.grad = null;
      await rt.sync();
    };
    try {
      await step();
      await step();
      const misses = rt.bindGroups.misses;
      await step();
      expect(rt.bindGroups.misses).toBe(misses);
    } finally {
      x.dispose();
    }
  });

  it('dispatches stay right while the pool recycles and trims buffers under cached groups', async () => {
    const rt = runtime();
    const x = dn.tensor(Float32Array.from({ length: 4096 }, (_, i) => i % 7), [4096]);
    try {
      for (let round = 0; round < 3; round++) {
        const y = binaryForward('add', x, x);
        const z = binaryForward('mul', y, x);
        const got = await z.toArray();
        for (const [i, v] of [0, 1, 6, 4095].entries()) expect(got[v], `round ${round} #${i}`).toBe(2 * (v % 7) * (v % 7));
        y.dispose();
        z.dispose();
        await rt.sync();
        // Free buffers are destroyed: their cached groups must go with them.
        rt.pool.trim();
      }
      expect(rt.bindGroups.hits + rt.bindGroups.misses).toBeGreaterThan(0);
    } finally {
      x.dispose();
    }
  });
});
