// Depthwise conv2d forward (each channel filtered on its own, multiplier 1) at a MobileNet-style
// U-Net encoder's shapes: the U-Net's l1 and l2 inputs, 3x3, stride 1 and 2. Memory bound: kh·kw
// multiply-adds per output, 9 here, against one read of x (taps mostly in cache) and one write
// of y. tfjs: tf.depthwiseConv2d with the same [kh, kw, C, 1] filter and 'same' padding.

import { count, dims, f32Bytes, family, unetLevels, type BenchCase } from '../case.js';

type Kernels = typeof import('../../src/kernels/depthwise-conv2d.js');

function cases(k: Kernels, scale: number): BenchCase[] {
  const out: BenchCase[] = [];
  for (const l of unetLevels(scale).slice(0, 2)) {
    for (const stride of [1, 2] as const) {
      const x = [l.n, l.h, l.w, l.cin];
      const ho = Math.ceil(l.h / stride);
      const wo = Math.ceil(l.w / stride);
      const y = [l.n, ho, wo, l.cin];
      out.push({
        id: `depthwiseConv2d.forward/${l.name}${stride === 2 ? '-s2' : ''}`,
        group: 'depthwise',
        shape: `${dims(x)} k3 s${stride}`,
        metric: 'flops',
        work: 2 * 9 * count(y),
        inputs: [{ name: 'x', shape: x }, { name: 'w', shape: [3, 3, l.cin, 1] }],
        dawnet: ([t, w]) => k.depthwiseConv2dForward(t, w, null, { stride, padding: 'same' }),
        tfjs: (tf, [t, w]) => tf.depthwiseConv2d(t as never, w as never, stride, 'same'),
        note: `reads ${(f32Bytes(count(x)) / 2 ** 20).toFixed(1)} MiB, writes ${(f32Bytes(count(y)) / 2 ** 20).toFixed(1)} MiB`,
      });
    }
  }
  return out;
}

export const depthwiseFamily = family('depthwise', () => import('../../src/kernels/depthwise-conv2d.js'), cases);
