// One forward pass in inference mode on host data, for both panels; with tta 'flip' the Segment
// panel's two passes (the slice and its mirror, averaged) as `dawnet predict --tta flip` runs them.

import * as dn from '../src/index.js';
import { predictWithTta, type TtaMode } from '../src/train/tta.js';

/** Inference on host data; the GPU tensors are released even when the forward pass throws. */
export async function forwardOnce(model: dn.Module, input: Float32Array, shape: number[], tta: TtaMode = 'none'): Promise<Float32Array> {
  const x = dn.tensor(input, shape);
  try {
    const y = dn.noGrad(() => predictWithTta(model, x, tta));
    try {
      return await y.toArray();
    } finally {
      y.dispose();
    }
  } finally {
    x.dispose();
  }
}
