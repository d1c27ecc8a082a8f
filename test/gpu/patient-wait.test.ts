import { describe, expect, it } from 'vitest';
import { patientAwait } from '../../src/gpu/patient-wait.js';
import { runtime } from '../../src/gpu/runtime.js';
import * as dn from '../../src/index.js';
import { useGpu } from '../helpers/gpu.js';

const later = <T>(ms: number, value: T): Promise<T> => new Promise((resolve) => setTimeout(() => resolve(value), ms));

describe('patientAwait', () => {
  useGpu();

  it('resolves with the value of the promise it waits on', async () => {
    await expect(patientAwait(later(5, 42))).resolves.toBe(42);
    await expect(patientAwait(Promise.resolve('now'))).resolves.toBe('now');
  });

  it('rejects with the error of the promise it waits on', async () => {
    const failing = new Promise((_, reject) => setTimeout(() => reject(new RangeError('gpu said no')), 5));
    await expect(patientAwait(failing)).rejects.toThrow(RangeError);
  });

  it('hands the promise back untouched when napping is off', () => {
    const p = later(1, 1);
    expect(patientAwait(p, false)).toBe(p);
  });

  // The point of it: the thread sleeps instead of spinning. A 120 ms wait may cost a few ms of CPU
  // (one short tick per nap), never most of the 120 ms a setImmediate loop burns.
  it('uses a small fraction of the waited time as CPU time', async () => {
    const before = process.cpuUsage();
    const t0 = performance.now();
    await patientAwait(later(120, null));
    const wall = performance.now() - t0;
    const used = process.cpuUsage(before);
    const cpuMs = (used.user + used.system) / 1000;
    expect(wall).toBeGreaterThanOrEqual(110);
    expect(cpuMs).toBeLessThan(0.4 * wall);
  });

  it('keeps sync and readback working on the GPU through it', async () => {
    const a = dn.tensor(new Float32Array([1, 2, 3, 4]), [4]);
    const b = dn.add(a, a);
    await runtime().sync();
    expect(Array.from(await b.toArray())).toEqual([2, 4, 6, 8]);
    a.dispose();
    b.dispose();
  });
});
