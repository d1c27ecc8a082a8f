// 2x2 stride-2 max pool after U-Net levels 1-4 (the encoder's downsampling), forward and backward.
// Memory bound. Forward: the input is read once and the output written once; dawnet also writes
// the argmax its backward needs (not counted: the minimum the op itself must move). Backward: dy
// read once, dx written once. Each side's backward gets what its own forward keeps, made once
// before the runs: dawnet the argmax, tfjs (whose MaxPoolGrad takes the forward's input and
// output, as its gradient does) x and y, from which it recomputes the winners' positions in an
// extra pass on every run.

import type * as TF from '@tensorflow/tfjs-core';
import { count, dims, f32Bytes, unetLevels, family, type BenchCase, type CaseFamily } from '../case.js';

type Kernels = typeof import('../../src/kernels/pool.js');

const POOL = { size: 2, stride: 2 };

function cases(k: Kernels, scale: number): BenchCase[] {
  return unetLevels(scale)
    .slice(0, 4)
    .filter((l) => l.h >= 2)
    .flatMap((l) => {
      const x = [l.n, l.h, l.w, l.cin];
      const y = [l.n, Math.floor(l.h / 2), Math.floor(l.w / 2), l.cin];
      return [{
        id: `maxPool2d.forward/${l.name}`,
        group: 'pool',
        shape: `${dims(x)} -> ${dims(y)}`,
        metric: 'bytes',
        work: f32Bytes(count(x), count(y)),
        inputs: [{ name: 'x', shape: x }],
        dawnet: ([t]) => k.maxPool2dForward(t, POOL),
        tfjs: (tf, [t]) => tf.maxPool(t as TF.Tensor4D, 2, 2, 'valid'),
        note: 'dawnet also writes the argmax for its backward',
        // tfjs's WebGPU backend has no argmax for max pooling; maxPool2d.backward checks what it indexes.
        outputs: [{ name: 'y' }, { name: 'argmax', unchecked: 'tfjs computes no argmax' }],
      } satisfies BenchCase, {
        id: `maxPool2d.backward/${l.name}`,
        group: 'pool',
        shape: `${dims(y)} -> ${dims(x)}`,
        metric: 'bytes',
        work: f32Bytes(count(y), count(x)),
        inputs: [{ name: 'x', shape: x }, { name: 'dy', shape: y }],
        dawnetSetup: ([t]) => {
          const { y: out, argmax } = k.maxPool2dForward(t, POOL);
          out.dispose();
          return [argmax];
        },
        dawnet: ([, dy, argmax]) => k.maxPool2dBackward(dy, argmax, x, POOL),
        tfjsSetup: (tf, [t]) => [tf.maxPool(t as TF.Tensor4D, 2, 2, 'valid')],
        tfjs: (tf, [t, dy, out]) => tf.engine().runKernel('MaxPoolGrad', { dy, input: t, output: out }, { filterSize: 2, strides: 2, pad: 'valid' }) as TF.Tensor,
        note: 'tfjs recomputes the winners from x and y on every run; dawnet reads the argmax its forward saved',
      } satisfies BenchCase];
    });
}

export const poolFamily: CaseFamily = family('pool', () => import('../../src/kernels/pool.js'), cases);
