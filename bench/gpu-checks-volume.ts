// bench --checks' volume ops (gpu-checks.ts runs them with the rest): conv3d and convTranspose3d
// (their 2-D kernels on this adapter, composed), the 3-D pools and nearest upsampling, each
// against the CPU reference, with and without padding ('same', PyTorch's p); the max pool's
// gradient too (the others' come from the 2-D ops that gpu-checks.ts checks already).

import * as dn from '../src/index.js';
import { samePadding } from '../src/kernels/conv2d.js';
import { conv3dRef, convTranspose3dRef } from '../src/reference/conv3d.js';
import { avgPool3dRef, maxPool3dBackwardRef, maxPool3dRef, upsample3dRef, upsample3dTrilinearRef } from '../src/reference/pool3d.js';
import type { GpuCheck } from './gpu-checks.js';

export function volumeChecks(): GpuCheck[] {
  return [
    {
      // 'same' at stride 2: the odd plane, row and column at the back.
      name: "conv3d [2,7,6,9,8] 3x3x3 ->16 'same' stride 2",
      inputs: [{ shape: [2, 7, 6, 9, 8] }, { shape: [3, 3, 3, 8, 16] }],
      gpu: ([x, w]) => dn.conv3d(x, w, null, { padding: 'same', stride: 2 }),
      cpu: ([x, w]) => ({ y: conv3dRef(x, w, null, [2, 2, 2], [7, 6, 9].map((s) => samePadding(s, 3, 2))), grads: [] }),
    },
    {
      // Depth stride 1, a 3-D U-Net's conv: each tap convolves every plane, its result shifted.
      name: "conv3d [2,6,8,7,16] 3x3x3 ->16 'same' with bias",
      inputs: [{ shape: [2, 6, 8, 7, 16] }, { shape: [3, 3, 3, 16, 16] }, { shape: [16] }],
      gpu: ([x, w, b]) => dn.conv3d(x, w, b, { padding: 'same' }),
      cpu: ([x, w, b]) => ({ y: conv3dRef(x, w, b, [1, 1, 1], [[1, 1], [1, 1], [1, 1]]), grads: [] }),
    },
    {
      name: 'convTranspose3d [2,3,5,4,16] 2x2x2 stride 2 ->8',
      inputs: [{ shape: [2, 3, 5, 4, 16] }, { shape: [2, 2, 2, 8, 16] }],
      gpu: ([x, w]) => dn.convTranspose3d(x, w, null, { stride: 2 }),
      cpu: ([x, w]) => ({ y: convTranspose3dRef(x, w, null, [2, 2, 2]), grads: [] }),
    },
    {
      // Keras's 'same' at stride 2, k 3: the full scatter's extra plane, row and column cropped after.
      name: "convTranspose3d [2,3,5,4,16] 3x3x3 stride 2 ->8 'same'",
      inputs: [{ shape: [2, 3, 5, 4, 16] }, { shape: [3, 3, 3, 8, 16] }],
      gpu: ([x, w]) => dn.convTranspose3d(x, w, null, { stride: 2, padding: 'same' }),
      cpu: ([x, w]) => ({ y: convTranspose3dRef(x, w, null, [2, 2, 2], { front: [0, 0, 0], out: [6, 10, 8] }), grads: [] }),
    },
    {
      name: 'maxPool3d [2,6,8,6,8] 2x2x2',
      inputs: [{ shape: [2, 6, 8, 6, 8], grad: true }],
      gpu: ([x]) => dn.maxPool3d(x, { size: 2 }),
      cpu: ([x], dy) => ({ y: maxPool3dRef(x, [2, 2, 2], [2, 2, 2]), grads: [maxPool3dBackwardRef(x, dy, [2, 2, 2], [2, 2, 2])] }),
    },
    {
      name: "maxPool3d [2,7,6,5,8] 3x3x3 stride 2 'same'",
      inputs: [{ shape: [2, 7, 6, 5, 8], grad: true }],
      gpu: ([x]) => dn.maxPool3d(x, { size: 3, stride: 2, padding: 'same' }),
      cpu: ([x], dy) => {
        const pads = [7, 6, 5].map((s) => samePadding(s, 3, 2));
        return { y: maxPool3dRef(x, [3, 3, 3], [2, 2, 2], pads), grads: [maxPool3dBackwardRef(x, dy, [3, 3, 3], [2, 2, 2], pads)] };
      },
    },
    {
      name: 'avgPool3d [2,5,6,6,4] 3x2x2 stride [1, 2, 2]',
      inputs: [{ shape: [2, 5, 6, 6, 4] }],
      gpu: ([x]) => dn.avgPool3d(x, { size: [3, 2, 2], stride: [1, 2, 2] }),
      cpu: ([x]) => ({ y: avgPool3dRef(x, [3, 2, 2], [1, 2, 2]), grads: [] }),
    },
    {
      // PyTorch's padding=1 and count_include_pad=True: every window divided by 27.
      name: 'avgPool3d [2,5,6,7,4] 3x3x3 stride 2 padding 1',
      inputs: [{ shape: [2, 5, 6, 7, 4] }],
      gpu: ([x]) => dn.avgPool3d(x, { size: 3, stride: 2, padding: 1 }),
      cpu: ([x]) => ({ y: avgPool3dRef(x, [3, 3, 3], [2, 2, 2], [[1, 1], [1, 1], [1, 1]], true), grads: [] }),
    },
    {
      name: 'upsample3d [2,3,4,3,8] x [2, 2, 2]',
      inputs: [{ shape: [2, 3, 4, 3, 8] }],
      gpu: ([x]) => dn.upsample3d(x, { scale: 2 }),
      cpu: ([x]) => ({ y: upsample3dRef(x, [2, 2, 2]), grads: [] }),
    },
    {
      name: 'upsample3d trilinear [2,3,4,3,8] x [2, 2, 2]',
      inputs: [{ shape: [2, 3, 4, 3, 8] }],
      gpu: ([x]) => dn.upsample3d(x, { scale: 2, mode: 'trilinear' }),
      cpu: ([x]) => ({ y: upsample3dTrilinearRef(x, [2, 2, 2]), grads: [] }),
    },
  ];
}
