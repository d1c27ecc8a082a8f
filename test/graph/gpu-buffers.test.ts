// dn.gpuDevice, dn.toGPUBuffer and dn.fromGPUBuffer: tensors to and from WebGPU code of one's own.
// The user's side here is plain WebGPU on dn.gpuDevice(): a compute pipeline of its own, its own
// copy into a mappable buffer and mapAsync. Checked: the values both ways; queue order (an op not
// yet synced is in the copy; a user's write before fromGPUBuffer is in the tensor, one after it
// is not); copies that outlive the tensor and never touch the pool; a gradient through a tensor
// made from a buffer; and refusals that name the call and allocate nothing.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { expectClose } from '../helpers/close.js';
import { disposeAfterEach, useGpu } from '../helpers/gpu.js';

useGpu();
const { track } = disposeAfterEach();

// GPUBufferUsage and GPUMapMode, spelled out (Node has the globals only once Dawn is loaded).
const USAGE = { MAP_READ: 0x1, COPY_SRC: 0x4, COPY_DST: 0x8, STORAGE: 0x80, VERTEX: 0x20 };
const MAP_READ_MODE = 0x1;

/** The user's own read of a buffer: a copy into a MAP_READ buffer, mapped. */
async function readBack(buffer: GPUBuffer, bytes: number): Promise<number[]> {
  const device = dn.gpuDevice();
  const staging = device.createBuffer({ size: bytes, usage: USAGE.MAP_READ | USAGE.COPY_DST });
  const encoder = device.createCommandEncoder();
  encoder.copyBufferToBuffer(buffer, 0, staging, 0, bytes);
  device.queue.submit([encoder.finish()]);
  await staging.mapAsync(MAP_READ_MODE);
  const values = Array.from(new Float32Array(staging.getMappedRange().slice(0)));
  staging.unmap();
  staging.destroy();
  return values;
}

/** The user's own pipeline: buffer[i] = 3·buffer[i] + 1, in place. */
function tripleInPlace(buffer: GPUBuffer, n: number): void {
  const device = dn.gpuDevice();
  const module = device.createShaderModule({
    code: '@group(0) @binding(0) var<storage, read_write> v: array<f32>;\n@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) { if (g.x < arrayLength(&v)) { v[g.x] = 3.0 * v[g.x] + 1.0; } }',
  });
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  const bindGroup = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer } }] });
  const encoder = device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bindGroup);
  pass.dispatchWorkgroups(Math.ceil(n / 64));
  pass.end();
  device.queue.submit([encoder.finish()]);
}

describe('tensors and WebGPU code of ones own', () => {
  it('toGPUBuffer: a copy of the values in the caller\'s buffer, taken after the ops before it, outliving the tensor', async () => {
    const x = track(dn.tensor([1, -2, 3.5, 4, 0.25], [5]));
    const y = dn.scope(() => dn.relu(dn.scale(x, 2))); // not synced: still queued when the copy is made
    const before = dn.memory().bytesInUse;
    const { buffer, bytes } = dn.toGPUBuffer(y);
    expect(dn.memory().bytesInUse, 'the copy is not in the pool').toBe(before);
    expect(bytes).toBe(20);
    expect(buffer.usage & (USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST)).toBe(USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST);
    y.dispose();
    // A new tensor may reuse y's memory: the copy keeps its values.
    track(dn.full([5], 9));
    expect(await readBack(buffer, bytes)).toEqual([2, 0, 7, 8, 0.5]);
    buffer.destroy();
  });

  it('the caller\'s pipeline on the copy, then fromGPUBuffer: a tensor of what it wrote, not of what it writes later', async () => {
    const n = 300;
    const data = Float32Array.from({ length: n }, (_, i) => Math.sin(i));
    const x = track(dn.tensor(data, [3, 100]));
    const { buffer } = dn.toGPUBuffer(x);
    tripleInPlace(buffer, n);
    const t = track(dn.fromGPUBuffer(buffer, [10, 30], { name: 'tripled' }));
    tripleInPlace(buffer, n); // after the copy: not in t
    expect(t.shape).toEqual([10, 30]);
    expect(t.name).toBe('tripled');
    expectClose('3x + 1', await t.toArray(), Array.from(data, (v) => Math.fround(3 * v + 1)), { atol: 1e-6, rtol: 0 });
    buffer.destroy();
  });

  it('fromGPUBuffer from an offset, with a gradient', async () => {
    const device = dn.gpuDevice();
    const buffer = device.createBuffer({ size: 32, usage: USAGE.COPY_SRC | USAGE.COPY_DST });
    device.queue.writeBuffer(buffer, 0, Float32Array.of(9, 9, 1, 2, 3, 4, 9, 9));
    const w = track(dn.fromGPUBuffer(buffer, [2, 2], { offset: 8, requiresGrad: true }));
    expect(Array.from(await w.toArray())).toEqual([1, 2, 3, 4]);
    const loss = track(dn.scope(() => dn.sum(dn.square(w))));
    loss.backward();
    expect(Array.from(await track(w.grad!).toArray())).toEqual([2, 4, 6, 8]);
    buffer.destroy();
  });

  it('toGPUBuffer takes extra usage flags, and refuses mappable ones', async () => {
    const x = track(dn.tensor([1, 2], [2]));
    const { buffer } = dn.toGPUBuffer(x, { usage: USAGE.VERTEX });
    expect(buffer.usage & USAGE.VERTEX).toBe(USAGE.VERTEX);
    buffer.destroy();
    expect(() => dn.toGPUBuffer(x, { usage: USAGE.MAP_READ })).toThrow(/^toGPUBuffer: usage 1 asks for MAP_READ or MAP_WRITE/);
    expect(() => dn.toGPUBuffer('x' as never)).toThrow(/^toGPUBuffer: tensor must be a Tensor/);
    const gone = dn.tensor([1], [1]);
    gone.dispose();
    expect(() => dn.toGPUBuffer(gone)).toThrow(dn.DisposedError);
  });

  it('fromGPUBuffer refuses what it cannot copy, naming why, with nothing allocated', async () => {
    const device = dn.gpuDevice();
    const noCopy = device.createBuffer({ size: 16, usage: USAGE.STORAGE });
    const small = device.createBuffer({ size: 16, usage: USAGE.COPY_SRC });
    const mapped = device.createBuffer({ size: 16, usage: USAGE.COPY_SRC, mappedAtCreation: true });
    const before = dn.memory().bytesInUse;
    const refused: [() => unknown, RegExp][] = [
      [() => dn.fromGPUBuffer({ size: 4 } as never, [1]), /^fromGPUBuffer: buffer must be a GPUBuffer made on dn\.gpuDevice\(\)/],
      [() => dn.fromGPUBuffer(noCopy, [4]), /^fromGPUBuffer: the buffer's usage \(128\) lacks GPUBufferUsage\.COPY_SRC/],
      [() => dn.fromGPUBuffer(small, [5]), /^fromGPUBuffer: \[5\] needs 20 bytes from offset 0, and the buffer holds 16/],
      [() => dn.fromGPUBuffer(small, [4], { offset: 4 }), /needs 16 bytes from offset 4, and the buffer holds 16/],
      [() => dn.fromGPUBuffer(small, [1], { offset: 2 }), /^fromGPUBuffer: offset 2 must be a multiple of 4/],
      [() => dn.fromGPUBuffer(small, [1], { requiresGrad: 'yes' } as never), /^fromGPUBuffer: requiresGrad/],
      [() => dn.fromGPUBuffer(small, [1], { rank: 2 } as never), /^fromGPUBuffer: unknown option 'rank'/],
      [() => dn.fromGPUBuffer(mapped, [1]), /^fromGPUBuffer: the buffer is mapped: unmap\(\) it first/],
    ];
    for (const [fn, message] of refused) expect(fn).toThrow(message);
    expect(dn.memory().bytesInUse).toBe(before);
    mapped.unmap();
    for (const b of [noCopy, small, mapped]) b.destroy();
  });

  it("a validation error of the user's own comes back from dawnet's next sync as a KernelError", async () => {
    const device = dn.gpuDevice();
    // MAP_READ beside STORAGE: invalid in WebGPU, reported to the device's uncaptured-error event.
    device.createBuffer({ size: 16, usage: USAGE.MAP_READ | USAGE.STORAGE });
    await expect(dn.sync()).rejects.toThrow(dn.KernelError);
    // Told once: the next sync and dawnet's ops go on.
    await dn.sync();
    const y = track(dn.scale(track(dn.tensor([1, 2], [2])), 3));
    expect(Array.from(await y.toArray())).toEqual([3, 6]);
  });

  it('gpuDevice is the device the tensors live on', async () => {
    const device = dn.gpuDevice();
    expect(typeof device.createBuffer).toBe('function');
    expect(dn.gpuDevice()).toBe(device);
  });
});
