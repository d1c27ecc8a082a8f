// dn.init({ device }): dawnet on a device of the caller's (a WebGPU app's, here one from Dawn's
// create() in Node, as such an app makes it). Ops run on it, its buffers and dawnet's mix, a second
// device is refused while one is held, and shutdown() lets it go without destroying it: the
// caller's own work on it goes on, and dawnet can init() afresh on a device of its own.

import { create, globals } from 'webgpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';

let gpu: GPU | null = null;
let device: GPUDevice;

const USAGE = { MAP_READ: 0x1, COPY_SRC: 0x4, COPY_DST: 0x8 };

/** The caller's own round trip on its device: write, copy, map, read. */
async function roundTrip(values: number[]): Promise<number[]> {
  const bytes = values.length * 4;
  const src = device.createBuffer({ size: bytes, usage: USAGE.COPY_SRC | USAGE.COPY_DST });
  const dst = device.createBuffer({ size: bytes, usage: USAGE.MAP_READ | USAGE.COPY_DST });
  device.queue.writeBuffer(src, 0, Float32Array.from(values));
  const encoder = device.createCommandEncoder();
  encoder.copyBufferToBuffer(src, 0, dst, 0, bytes);
  device.queue.submit([encoder.finish()]);
  await dst.mapAsync(0x1);
  const out = Array.from(new Float32Array(dst.getMappedRange().slice(0)));
  dst.unmap();
  src.destroy();
  dst.destroy();
  return out;
}

beforeAll(async () => {
  for (const [k, v] of Object.entries(globals)) if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  gpu = create([]);
  const adapter = (await gpu.requestAdapter())!;
  const features = (['subgroups', 'timestamp-query'] as GPUFeatureName[]).filter((f) => adapter.features.has(f));
  device = await adapter.requestDevice({ label: 'the caller\'s', requiredFeatures: features });
  // dawn.node crashes the process when it garbage-collects an instance one of whose devices was
  // destroyed before any wait on its queue (src/gpu/device.ts acquireDevice); measured again here:
  // 3 crashes in 3 runs of that pattern under forced GC, none with this wait.
  await device.queue.onSubmittedWorkDone();
});

afterAll(() => {
  dn.shutdown();
  device?.destroy();
  gpu = null;
});

describe('init({ device })', () => {
  it('runs on the device given, beside the caller\'s own buffers, and refuses another while it holds one', async () => {
    await dn.init({ device });
    expect(dn.gpuDevice()).toBe(device);
    // A conv (the subgroup kernels where the device has them) and a matmul, against host arithmetic.
    const x = dn.tensor(Float32Array.from({ length: 2 * 5 * 5 * 3 }, (_, i) => Math.sin(i)), [2, 5, 5, 3]);
    const w = dn.tensor(Float32Array.from({ length: 3 * 3 * 3 * 4 }, (_, i) => Math.cos(i) / 4), [3, 3, 3, 4]);
    const y = dn.conv2d(x, w, null, { padding: 'same' });
    const xs = await x.toArray();
    const ws = await w.toArray();
    const want: number[] = [];
    for (let n = 0; n < 2; n++) for (let i = 0; i < 5; i++) for (let j = 0; j < 5; j++) for (let f = 0; f < 4; f++) {
      let s = 0;
      for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) for (let c = 0; c < 3; c++) {
        const [r, q] = [i + a - 1, j + b - 1];
        if (r >= 0 && r < 5 && q >= 0 && q < 5) s += xs[((n * 5 + r) * 5 + q) * 3 + c] * ws[((a * 3 + b) * 3 + c) * 4 + f];
      }
      want.push(s);
    }
    const got = Array.from(await y.toArray());
    expect(got.every((v, k) => Math.abs(v - want[k]) < 1e-5)).toBe(true);
    // The caller's buffer into a tensor and back: one device.
    const mine = device.createBuffer({ size: 16, usage: USAGE.COPY_SRC | USAGE.COPY_DST });
    device.queue.writeBuffer(mine, 0, Float32Array.of(1, 2, 3, 4));
    const t = dn.fromGPUBuffer(mine, [2, 2]);
    const m = dn.matmul(t, t);
    expect(Array.from(await m.toArray())).toEqual([7, 10, 15, 22]);
    for (const v of [x, w, y, t, m]) v.dispose();
    mine.destroy();

    const other = await (await gpu!.requestAdapter())!.requestDevice();
    await other.queue.onSubmittedWorkDone(); // see beforeAll
    await expect(dn.init({ device: other })).rejects.toThrow(/^init: dawnet already runs on another device; call dn\.shutdown\(\) first/);
    await dn.init({ device }); // the same one: as a second init() always is
    other.destroy();
  });

  it('shutdown() lets the device go without destroying it; init() then acquires one of its own', async () => {
    const kept = dn.tensor([1, 2, 3], [3]);
    dn.shutdown();
    kept.dispose(); // its buffer, on the caller's device, is freed here
    expect(await roundTrip([5, 6, 7])).toEqual([5, 6, 7]);
    const lost = await Promise.race([device.lost.then(() => 'lost'), new Promise((r) => setTimeout(() => r('alive'), 50))]);
    expect(lost).toBe('alive');

    await dn.init();
    expect(dn.gpuDevice()).not.toBe(device);
    const y = dn.scale(dn.tensor([1, 2], [2]), 3);
    expect(Array.from(await y.toArray())).toEqual([3, 6]);
    dn.shutdown();
    expect(await roundTrip([1])).toEqual([1]);
  });

  it('refuses the device given while init() is still acquiring another', async () => {
    const acquiring = dn.init();
    await expect(dn.init({ device })).rejects.toThrow(/^init: dawnet already runs on another device/);
    await acquiring;
    expect(dn.gpuDevice()).not.toBe(device);
    dn.shutdown();
  });

  it('refuses what is not a device, and acquiring options beside one', async () => {
    await expect(dn.init({ device: {} as GPUDevice })).rejects.toThrow(/^init: device must be a GPUDevice, got \[object Object\]/);
    await expect(dn.init({ device, powerPreference: 'low-power' })).rejects.toThrow(/^init: powerPreference chooses the device dawnet acquires, and a device was given/);
    await expect(dn.init({ device, dawnOptions: ['backend=vulkan'] })).rejects.toThrow(/^init: dawnOptions chooses the device/);
  });
});
