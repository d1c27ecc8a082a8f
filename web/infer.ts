// One forward pass in inference mode on host data, for both panels.

import * as dn from '../src/index.js';

/** Inference on host data; the GPU tensors are released even when the forward pass throws. */
export async function forwardOnce(model: dn.Module, input: Float32Array, shape: number[]): Promise<Float32Array> {
  const x = dn.tensor(input, shape);
  try {
    const y = dn.noGrad(() => model.forward(x));
    try {
      return await y.toArray();
    } finally {
      y.dispose();
    }
  } finally {
    x.dispose();
  }
}
