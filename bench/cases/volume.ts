// The volume ops at a 3-D U-Net's first two levels (batch 2 of 128³ volumes, 32 and 64 channels,
// as nnU-Net's 3d_fullres starts; sides divided by --scale): conv3d forward, 3x3x3 'same' (run by
// dawnet as three 2-D convs over the depth taps' planes), and the 2x2x2 max pool between levels.
// tfjs: tf.conv3d and tf.maxPool3d, its WebGPU kernels for both.

import { count, dims, f32Bytes, family, scaled, type BenchCase } from '../case.js';

type Ops = typeof import('../../src/index.js');

const LEVELS: [string, number, number][] = [
  ['unet3d-l1', 128, 32],
  ['unet3d-l2', 64, 64],
];

function cases(dn: Ops, scale: number): BenchCase[] {
  const out: BenchCase[] = [];
  for (const [name, side, c] of LEVELS) {
    const s = scaled(side, scale);
    const x = [2, s, s, s, c];
    out.push({
      id: `conv3d.forward/${name}`,
      group: 'volume',
      shape: `${dims(x)} k3 ->${c}`,
      metric: 'flops',
      work: 2 * 27 * c * count(x),
      inputs: [{ name: 'x', shape: x }, { name: 'w', shape: [3, 3, 3, c, c] }],
      dawnet: ([t, w]) => dn.conv3d(t, w, null, { padding: 'same' }),
      tfjs: (tf, [t, w]) => tf.conv3d(t as never, w as never, 1, 'same'),
    });
    const half = Math.max(1, Math.floor(s / 2));
    out.push({
      id: `maxPool3d/${name}`,
      group: 'volume',
      shape: `${dims(x)} 2x2x2`,
      metric: 'bytes',
      work: f32Bytes(count(x), 2 * half ** 3 * c),
      inputs: [{ name: 'x', shape: x }],
      dawnet: ([t]) => dn.maxPool3d(t, { size: 2 }),
      tfjs: (tf, [t]) => tf.maxPool3d(t as never, 2, 2, 'valid'),
    });
  }
  return out;
}

export const volumeFamily = family('volume', () => import('../../src/index.js'), cases);
