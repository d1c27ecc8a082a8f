// 2x2 stride-2 max pool after U-Net levels 1-4 (the encoder's downsampling). Memory bound: the
// input is read once and the output written once; dawnet also writes the argmax its backward
// needs (not counted: the minimum the op itself must move).

import { count, dims, f32Bytes, missing, unetLevels, family, type BenchCase, type CaseFamily } from '../case.js';

type Kernels = typeof import('../../src/kernels/pool.js');

function cases(k: Kernels, scale: number): BenchCase[] {
  return unetLevels(scale)
    .slice(0, 4)
    .filter((l) => l.h >= 2)
    .map((l) => {
      const x = [l.n, l.h, l.w, l.cin];
      const y = [l.n, Math.floor(l.h / 2), Math.floor(l.w / 2), l.cin];
      return {
        id: `maxPool2d.forward/${l.name}`,
        group: 'pool',
        shape: `${dims(x)} -> ${dims(y)}`,
        metric: 'bytes',
        work: f32Bytes(count(x), count(y)),
        inputs: [{ name: 'x', shape: x }],
        dawnet: ([t]) => k.maxPool2dForward(t, { size: 2, stride: 2 }),
        tfjs: (tf, [t]) => tf.maxPool(t as import('@tensorflow/tfjs-core').Tensor4D, 2, 2, 'valid'),
        note: 'dawnet also writes the argmax for its backward',
      } satisfies BenchCase;
    });
}

/** Dynamic so the suite still runs while the module is missing or broken. */
async function load(): Promise<Kernels | null> {
  try {
    return await import('../../src/kernels/pool.js');
  } catch (e) {
    return missing('pool', e);
  }
}

export const poolFamily: CaseFamily = family('pool', load, cases);
