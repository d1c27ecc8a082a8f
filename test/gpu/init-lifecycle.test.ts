// init() called concurrently, or cut short by shutdown(): one device at a time, and a device that
// arrives after shutdown() is released instead of becoming the current one.
import { afterAll, describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { hasRuntime, initRuntime, runtime, shutdownRuntime } from '../../src/gpu/runtime.js';

afterAll(() => dn.shutdown());

describe('init() lifecycle', () => {
  it('concurrent init() calls share one device', async () => {
    dn.shutdown();
    const [a, b, c] = await Promise.all([initRuntime(), initRuntime(), initRuntime()]);
    expect(b).toBe(a);
    expect(c).toBe(a);
    expect(runtime()).toBe(a);
    const x = dn.relu(dn.tensor([-1, 3], [2]));
    expect([...(await x.toArray())]).toEqual([0, 3]);
    x.dispose();
  });

  it('a shutdown() while init() is acquiring rejects that init() with NoDeviceError and leaves no device', async () => {
    shutdownRuntime();
    const pending = initRuntime();
    shutdownRuntime();
    await expect(pending).rejects.toBeInstanceOf(dn.NoDeviceError);
    expect(hasRuntime()).toBe(false);
    expect(() => dn.tensor([1])).toThrow(dn.NoDeviceError);
  });

  it('an init() right after such a shutdown() acquires a device of its own', async () => {
    const doomed = initRuntime();
    shutdownRuntime();
    const fresh = initRuntime();
    await expect(doomed).rejects.toBeInstanceOf(dn.NoDeviceError);
    const rt = await fresh;
    expect(runtime()).toBe(rt);
    const y = dn.tensor([2, 4], [2]);
    expect([...(await y.toArray())]).toEqual([2, 4]);
    y.dispose();
  });
});
