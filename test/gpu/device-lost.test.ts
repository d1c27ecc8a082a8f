// A lost device becomes a DeviceLostError on the next use, and init() then acquires a new one.
import { afterAll, describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { runtime } from '../../src/gpu/runtime.js';

afterAll(() => dn.shutdown());

describe('device loss', () => {
  it('turns device.lost into DeviceLostError and recovers with init()', async () => {
    await dn.init();
    const x = dn.tensor([1, 2, 3], [3]);
    const rt = runtime();
    rt.device.destroy();
    // The lost promise settles asynchronously; wait for the runtime to record it.
    for (let i = 0; i < 100 && !rt.ctx.lost; i++) await new Promise((r) => setTimeout(r, 10));
    expect(rt.ctx.lost).toBeInstanceOf(dn.DeviceLostError);
    expect(() => dn.relu(x)).toThrow(dn.DeviceLostError);
    // The message says what to do next, not only what happened.
    expect(() => dn.relu(x)).toThrow(/dn\.init\(\).*checkpoint/);
    await expect(x.toArray()).rejects.toBeInstanceOf(dn.DeviceLostError);
    await dn.init();
    const y = dn.relu(dn.tensor([-1, 2], [2]));
    expect([...(await y.toArray())]).toEqual([0, 2]);
  });
});
