// The smallest trainable model for fit's tests: y = x w with one weight (0.5 to start) and the mean
// squared error, so each step can be worked by hand.

import * as dn from '../../src/index.js';

export class Scale extends dn.Module {
  w = this.addParameter('w', dn.tensor([[0.5]], undefined, { requiresGrad: true }));
  forward(x: dn.Tensor): dn.Tensor {
    return dn.matmul(x, this.w);
  }
}

export const loss = (p: dn.Tensor, y: dn.Tensor): dn.Tensor => dn.mean(dn.square(dn.sub(p, y)));
