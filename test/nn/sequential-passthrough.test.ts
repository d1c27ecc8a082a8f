// A layer of a Sequential may return its input unchanged (an identity, a branch it chose not to
// take): Sequential disposed the previous output before looking at what came back, so the next
// layer got a disposed tensor.

import { expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

class Identity extends dn.nn.Module {
  forward(x: dn.Tensor): dn.Tensor {
    return x;
  }
}

it('Sequential keeps a tensor a layer hands back as its output', async () => {
  dn.setInitSeed(3);
  const first = new dn.nn.Linear(3, 2);
  const net = new dn.nn.Sequential(first, new Identity(), new dn.nn.Sigmoid());
  const x = dn.tensor([[0.1, 0.2, 0.3]]);
  const y = net.forward(x);
  const ref = first.forward(x);
  const want = dn.sigmoid(ref);
  const [got, exp] = [await y.toArray(), await want.toArray()];
  for (let i = 0; i < exp.length; i++) expect(Math.abs(got[i] - exp[i])).toBeLessThanOrEqual(1e-6);
  for (const t of [x, y, ref, want]) t.dispose();
  net.dispose();
});
