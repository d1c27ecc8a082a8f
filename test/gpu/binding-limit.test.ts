// The runtime's binding limit and offsets: setBindingLimit() lowers the limit for tests (so the
// kernels' splitting runs on small tensors, see test/kernels/chunking.test.ts), dispatch binds at a
// BufferSlice's offset and refuses, naming the kernel, a misaligned offset or an oversized binding.

import { afterEach, describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { LimitError } from '../../src/errors.js';
import { runtime, type KernelSpec } from '../../src/gpu/runtime.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

afterEach(() => runtime().setBindingLimit(null));

describe('binding limit and offsets in the runtime', () => {
  const copySpec: KernelSpec = {
    name: 'test.copy',
    key: '',
    inputs: 1,
    outputs: 1,
    wgsl: () => /* wgsl */ `
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> params: vec4<u32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (gid.x >= params.x) { return; }
  dst[gid.x] = src[gid.x];
}`,
  };

  it('bindingLimit is the smaller of the device limit and the override; null restores it', () => {
    const rt = runtime();
    const device = rt.limits.maxStorageBufferBindingSize;
    rt.setBindingLimit(4096, { offsetAlignment: 256 });
    expect([rt.bindingLimit, rt.offsetAlignment]).toEqual([4096, Math.max(256, rt.limits.minStorageBufferOffsetAlignment)]);
    rt.setBindingLimit(device * 2);
    expect(rt.bindingLimit).toBe(device);
    rt.setBindingLimit(null);
    expect([rt.bindingLimit, rt.offsetAlignment]).toEqual([device, rt.limits.minStorageBufferOffsetAlignment]);
    expect(() => rt.setBindingLimit(1001)).toThrow(RangeError);
  });

  it('binds at an aligned offset, and rejects a misaligned offset or an oversized binding with LimitError', async () => {
    const rt = runtime();
    const align = rt.offsetAlignment;
    const values = Float32Array.from({ length: align / 2 }, (_, i) => i);
    const src = dn.tensor(values);
    const dst = dn.zeros([4]);
    const params = new Uint32Array([4, 0, 0, 0]).buffer;
    rt.dispatch(copySpec, { inputs: [src.sliceRange(align, 16)], outputs: [dst.slice], params }, [1]);
    expect(Array.from(await dst.toArray())).toEqual(Array.from(values.slice(align / 4, align / 4 + 4)));
    const misaligned = { ...src.sliceRange(align, 16), offset: align / 2 };
    expect(() => rt.dispatch(copySpec, { inputs: [misaligned], outputs: [dst.slice], params }, [1])).toThrow(/test\.copy.*minStorageBufferOffsetAlignment/);
    expect(() => rt.dispatch(copySpec, { inputs: [misaligned], outputs: [dst.slice], params }, [1])).toThrow(LimitError);
    rt.setBindingLimit(8);
    expect(() => rt.dispatch(copySpec, { inputs: [src.slice], outputs: [dst.slice], params }, [1])).toThrow(LimitError);
    src.dispose();
    dst.dispose();
  });
});
