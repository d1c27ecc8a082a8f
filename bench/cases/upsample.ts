// 2x upsampling on the U-Net decoder (levels 5 -> 4 up to 2 -> 1), nearest and bilinear, forward
// and backward. Memory bound: input read once, output written once (the backward reads dy and
// writes dx). Bilinear is PyTorch's align_corners=False, which is tfjs's halfPixelCenters=true.

import type * as TF from '@tensorflow/tfjs-core';
import { count, dims, f32Bytes, unetLevels, family, type BenchCase, type CaseFamily } from '../case.js';

type Kernels = typeof import('../../src/kernels/upsample.js');
type Mode = 'nearest' | 'bilinear';

function tfjsResize(mode: Mode, size: [number, number]) {
  return (tf: typeof TF, [x]: TF.Tensor[]) =>
    mode === 'nearest'
      ? tf.image.resizeNearestNeighbor(x as TF.Tensor4D, size, false, false)
      : tf.image.resizeBilinear(x as TF.Tensor4D, size, false, true);
}

function tfjsResizeGrad(mode: Mode, size: [number, number]) {
  const kernel = mode === 'nearest' ? 'ResizeNearestNeighborGrad' : 'ResizeBilinearGrad';
  const attrs = { alignCorners: false, halfPixelCenters: mode === 'bilinear', size };
  return (tf: typeof TF, [dy, x]: TF.Tensor[]) => tf.engine().runKernel(kernel, { images: x, dy }, attrs) as TF.Tensor;
}

// tfjs 4.22's WebGPU ResizeBilinearGrad reads only alignCorners: it returns the gradient of the
// half_pixel_centers=false resize, not of the resize its forward computed. Timing is comparable.
const TFJS_BILINEAR_GRAD = "tfjs's WebGPU ResizeBilinearGrad ignores halfPixelCenters, so its values differ";

function cases(k: Kernels, scale: number): BenchCase[] {
  const levels = unetLevels(scale);
  const out: BenchCase[] = [];
  for (let i = levels.length - 1; i >= 1; i--) {
    const from = levels[i];
    const x = [from.n, from.h, from.w, from.cin];
    const y = [from.n, 2 * from.h, 2 * from.w, from.cin];
    const size: [number, number] = [y[1], y[2]];
    const name = `unet-l${i + 1}`;
    for (const mode of ['nearest', 'bilinear'] as const) {
      const opts = { scale: 2, mode };
      out.push({
        id: `upsample2d.forward.${mode}/${name}`,
        group: 'upsample',
        shape: `${dims(x)} -> ${dims(y)}`,
        metric: 'bytes',
        work: f32Bytes(count(x), count(y)),
        inputs: [{ name: 'x', shape: x }],
        dawnet: ([t]) => k.upsample2dForward(t, opts),
        tfjs: tfjsResize(mode, size),
      });
      out.push({
        id: `upsample2d.backward.${mode}/${name}`,
        group: 'upsample',
        shape: `${dims(y)} -> ${dims(x)}`,
        metric: 'bytes',
        work: f32Bytes(count(y), count(x)),
        // tfjs's gradient kernels take the forward input for its shape.
        inputs: [{ name: 'dy', shape: y }, { name: 'x', shape: x }],
        dawnet: ([dy]) => k.upsample2dBackward(dy, x, opts),
        tfjs: tfjsResizeGrad(mode, size),
        ...(mode === 'bilinear' ? { noCheck: TFJS_BILINEAR_GRAD } : {}),
      });
    }
  }
  return out;
}

export const upsampleFamily: CaseFamily = family('upsample', () => import('../../src/kernels/upsample.js'), cases);
