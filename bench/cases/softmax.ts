// Softmax and softmax cross-entropy over the last axis, at a multi-class segmentation's shape
// (the U-Net's l1 batch with 4 classes per pixel: millions of short rows, one thread each) and a
// classifier's (1000 classes: a workgroup per row on GPUs). Memory bound: the minimum traffic is
// one read of the input and one write of the output (softmax), plus dy for the backward; the
// cross-entropy reads logits and targets and writes one value per row.
//
// tfjs: tf.softmax; its backward written with tfjs ops (y·(dy − Σ dy·y)); tf.losses
// .softmaxCrossEntropy, whose default reduction averages over rows as dawnet's 'mean' does. The
// targets are soft labels in [0.5, 1.5), which both sides take as they are.

import type * as TF from '@tensorflow/tfjs-core';
import { count, dims, f32Bytes, family, scaled, type BenchCase } from '../case.js';

type Kernels = typeof import('../../src/kernels/softmax.js');

function cases(k: Kernels, scale: number): BenchCase[] {
  const s = scaled(256, scale);
  const shapes = { seg: [scaled(16, scale), s, s, 4], classes: [scaled(1024, scale), 1000] };
  const out: BenchCase[] = [];
  for (const [name, x] of Object.entries(shapes)) {
    const n = count(x);
    const rows = n / x[x.length - 1];
    out.push({
      id: `softmax.forward/${name}`,
      group: 'softmax',
      shape: dims(x),
      metric: 'bytes',
      work: f32Bytes(n, n),
      inputs: [{ name: 'x', shape: x }],
      dawnet: ([t]) => k.softmaxForward('softmax', t),
      tfjs: (tf, [t]) => tf.softmax(t),
    });
    out.push({
      id: `softmaxCrossEntropy.forward/${name}`,
      group: 'softmax',
      shape: dims(x),
      metric: 'bytes',
      work: f32Bytes(n, n, rows),
      inputs: [{ name: 'z', shape: x }, { name: 'y', shape: x, data: 'positive' }],
      dawnet: ([z, y]) => k.softmaxCrossEntropy(z, y),
      tfjs: (tf, [z, y]) => tf.losses.softmaxCrossEntropy(y, z),
    });
  }
  const x = shapes.seg;
  const n = count(x);
  out.push({
    id: 'softmax.backward/seg',
    group: 'softmax',
    shape: dims(x),
    metric: 'bytes',
    work: f32Bytes(n, n, n),
    inputs: [{ name: 'dy', shape: x }, { name: 'y', shape: x, data: 'positive' }],
    dawnet: ([dy, y]) => k.softmaxBackward('softmax', dy, y),
    tfjs: (tf: typeof TF, [dy, y]: TF.Tensor[]) => tf.mul(y, tf.sub(dy, tf.sum(tf.mul(dy, y), -1, true))),
  });
  return out;
}

export const softmaxFamily = family('softmax', () => import('../../src/kernels/softmax.js'), cases);
