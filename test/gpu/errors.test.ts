// The engine's error behaviour and buffer accounting: each mistake surfaces as its DawnetError
// subclass at the point the brief promises (before dispatch, or at the next sync), and the pool's
// counters track what tensors hold.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { roundBufferSize } from '../../src/gpu/buffer-pool.js';
import { packParams, u32 } from '../../src/gpu/params.js';
import { runtime, type BufferSlice, type KernelSpec } from '../../src/gpu/runtime.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

/** Writes zeros into its one output; valid WGSL, used where only the checks around it matter. */
const trivialSpec: KernelSpec = {
  name: 'test.trivial',
  key: '',
  inputs: 0,
  outputs: 1,
  wgsl: () => /* wgsl */ `
struct Params { n: u32 }
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<uniform> params: Params;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (gid.x >= params.n) { return; }
  out[gid.x] = 0.0;
}`,
};

describe('disposed tensors', () => {
  it('a tensor used after dispose() throws DisposedError', async () => {
    const t = dn.tensor([1, 2, 3]);
    t.dispose();
    expect(t.disposed).toBe(true);
    expect(() => t.slice).toThrow(dn.DisposedError);
    expect(() => t.share()).toThrow(dn.DisposedError);
    await expect(t.toArray()).rejects.toThrow(dn.DisposedError);
    // The op allocates its output before touching the input: the scope returns that buffer.
    expect(() => dn.scope(() => dn.relu(t))).toThrow(dn.DisposedError);
    t.dispose();
  });

  it('a view keeps its storage alive after the original is disposed', async () => {
    const t = dn.tensor([1, 2, 3, 4], [2, 2]);
    const view = t.share([4]);
    t.dispose();
    expect(Array.from(await view.toArray())).toEqual([1, 2, 3, 4]);
    view.dispose();
  });
});

describe('shape errors', () => {
  it('dn.tensor with a data length that does not fill the shape throws ShapeError', () => {
    const before = dn.memory().bytesInUse;
    expect(() => dn.tensor([1, 2, 3], [2, 2])).toThrow(dn.ShapeError);
    expect(() => dn.tensor(new Float32Array(5), [2, 2])).toThrow(dn.ShapeError);
    expect(() => dn.tensor([1, 2], [2, -1])).toThrow(dn.ShapeError);
    expect(dn.memory().bytesInUse).toBe(before);
  });
});

describe('device limits', () => {
  it('a binding larger than maxStorageBufferBindingSize throws LimitError before dispatch', () => {
    const rt = runtime();
    const huge: BufferSlice = {
      // Never touched: the size check comes before the binding is used.
      buffer: {} as GPUBuffer,
      size: rt.limits.maxStorageBufferBindingSize + 4,
    };
    const dispatches = rt.dispatchCount;
    expect(() => rt.dispatch(trivialSpec, { inputs: [], outputs: [huge], params: packParams([u32(1)]) }, [1])).toThrow(dn.LimitError);
    expect(rt.dispatchCount).toBe(dispatches);
  });

  it('a grid beyond maxComputeWorkgroupsPerDimension throws LimitError before dispatch', () => {
    const rt = runtime();
    const out = dn.zeros([4]);
    const tooMany = rt.limits.maxComputeWorkgroupsPerDimension + 1;
    const dispatches = rt.dispatchCount;
    expect(() => rt.dispatch(trivialSpec, { inputs: [], outputs: [out.slice], params: packParams([u32(4)]) }, [1, tooMany])).toThrow(dn.LimitError);
    expect(rt.dispatchCount).toBe(dispatches);
    out.dispose();
  });
});

describe('kernel errors', () => {
  it('WGSL that does not compile makes the next sync() reject with a KernelError naming the kernel', async () => {
    const broken: KernelSpec = {
      name: 'test.broken',
      key: 'errors-test',
      inputs: 0,
      outputs: 1,
      wgsl: () => /* wgsl */ `this is not wgsl`,
    };
    const out = dn.zeros([4]);
    runtime().dispatch(broken, { inputs: [], outputs: [out.slice], params: packParams([u32(4)]) }, [1]);
    const error = await dn.sync().then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(dn.KernelError);
    expect((error as dn.KernelError).kernel).toBe('test.broken');
    out.dispose();
  });

  it('the runtime keeps working after a kernel error', async () => {
    const a = dn.tensor([1, 2, 3]);
    const b = dn.tensor([4, 5, 6]);
    const c = dn.add(a, b);
    expect(Array.from(await c.toArray())).toEqual([5, 7, 9]);
    await dn.sync();
    for (const t of [a, b, c]) t.dispose();
  });
});

describe('buffer pool', () => {
  it('an allocation over the memory budget throws LimitError naming the request and the budget', () => {
    const pool = runtime().pool;
    const budget = pool.getStats().bytesInUse + 64 * 1024;
    const elements = 1 << 20;
    pool.setBudget(budget);
    try {
      let error: unknown = null;
      try {
        dn.zeros([elements]).dispose();
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(dn.LimitError);
      const message = (error as Error).message;
      expect(message).toContain(String(roundBufferSize(elements * 4)));
      expect(message).toContain(String(budget));
      // Within the budget, allocation still works.
      const small = dn.zeros([16]);
      small.dispose();
    } finally {
      pool.setBudget(Number.POSITIVE_INFINITY);
    }
    const big = dn.zeros([elements]);
    big.dispose();
  });

  it('bytes in use follow tensors; allocated bytes cover them', () => {
    const pool = runtime().pool;
    const start = pool.getStats();
    const t = dn.zeros([1000]);
    const held = pool.getStats();
    expect(held.bytesInUse - start.bytesInUse).toBe(roundBufferSize(4000));
    expect(held.buffersInUse - start.buffersInUse).toBe(1);
    expect(held.bytesAllocated).toBeGreaterThanOrEqual(held.bytesInUse);
    expect(held.peakBytesInUse).toBeGreaterThanOrEqual(held.bytesInUse);
    // A view shares the buffer: no new bytes, and the buffer stays until the last reference goes.
    const view = t.share([10, 100]);
    expect(pool.getStats().bytesInUse).toBe(held.bytesInUse);
    t.dispose();
    expect(pool.getStats().bytesInUse).toBe(held.bytesInUse);
    view.dispose();
    expect(pool.getStats().bytesInUse).toBe(start.bytesInUse);
    expect(pool.getStats().buffersInUse).toBe(start.buffersInUse);
  });

  it('repeating the same training step creates no buffers after the first iteration', async () => {
    const pool = runtime().pool;
    const x = dn.tensor(Float32Array.from({ length: 300 }, (_, i) => Math.sin(i)), [3, 10, 10, 1], { requiresGrad: true });
    try {
      let createdAfterFirst = -1;
      const bytesBefore = pool.getStats().bytesInUse;
      for (let step = 0; step < 20; step++) {
        const loss = dn.scope(() => {
          const l = dn.sum(dn.mul(dn.relu(x), x));
          l.backward();
          return l;
        });
        await loss.item();
        await x.grad!.toArray();
        loss.dispose();
        x.zeroGrad();
        // The end of a step: released buffers become reusable once the queue has been submitted.
        await dn.sync();
        expect(pool.getStats().bytesInUse).toBe(bytesBefore);
        if (step === 0) createdAfterFirst = pool.getStats().buffersCreated;
      }
      expect(pool.getStats().buffersCreated).toBe(createdAfterFirst);
    } finally {
      x.dispose();
    }
  });
});
