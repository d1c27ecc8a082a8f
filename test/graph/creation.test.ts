// dn.zeros and dn.full: zeros is cleared on the GPU in order with the queued work (pool buffers
// are reused, so a fresh tensor's buffer holds whatever its last owner wrote), without a host array
// or a submit; a shape past the device's buffer limit is a LimitError naming the op.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { runtime } from '../../src/gpu/runtime.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

describe('zeros and full', () => {
  it("zeros over a reused buffer reads zero, and full writes its value", async () => {
    const dirty = dn.full([3, 5], 7.5);
    expect(Array.from(await dirty.toArray())).toEqual(new Array(15).fill(7.5));
    const buffer = dirty.buffer;
    dirty.dispose();
    await dn.sync(); // a released buffer is reusable after the next submit
    const z = dn.zeros([3, 5], { name: 'z', requiresGrad: true });
    // The pool hands the same buffer back: the clear, not a fresh allocation, makes it zero.
    expect(z.buffer).toBe(buffer);
    expect([z.name, z.requiresGrad]).toEqual(['z', true]);
    expect(Array.from(await z.toArray())).toEqual(new Array(15).fill(0));
    const f0 = dn.full([2], 0);
    const fm = dn.full([2], -0);
    expect(Array.from(await f0.toArray())).toEqual([0, 0]);
    expect(Object.is((await fm.toArray())[0], -0)).toBe(true);
    const empty = dn.zeros([0, 3]);
    expect(empty.shape).toEqual([0, 3]);
    for (const t of [z, f0, fm, empty]) t.dispose();
  });

  it('zeros is ordered with the queued work and does not submit it', async () => {
    const x = dn.tensor([1, 2, 3, 4]);
    const y = dn.relu(x); // queued, not submitted
    const before = runtime().submitCount;
    const z = dn.zeros([4]);
    expect(runtime().submitCount).toBe(before);
    const sum = dn.add(y, z);
    expect(Array.from(await sum.toArray())).toEqual([1, 2, 3, 4]);
    for (const t of [x, y, z, sum]) t.dispose();
  });

  it('a shape past the buffer limit is a LimitError naming the op, before any host allocation', () => {
    expect(() => dn.zeros([1e6, 1e6])).toThrow(dn.LimitError);
    expect(() => dn.zeros([1e6, 1e6])).toThrow(/^zeros: needs a buffer of 4000000000000 bytes but the device's maxBufferSize is \d+/);
    expect(() => dn.full([1e6, 1e6], 1)).toThrow(/^full: needs a buffer of 4000000000000 bytes/);
  });
});
