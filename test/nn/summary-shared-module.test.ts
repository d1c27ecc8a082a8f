// summary() of a model holding one module under two names (a shared layer): the module was
// wrapped once per name, so each call was recorded twice ('×4 (4 calls)' for two calls).

import { expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

class Tied extends dn.nn.Module {
  a = new dn.nn.Linear(3, 3);
  b = this.a;
  forward(x: dn.Tensor): dn.Tensor {
    const h = this.a.forward(x);
    const y = this.b.forward(h);
    h.dispose();
    return y;
  }
}

it('a shared module reports each of its calls once', () => {
  const net = new Tied();
  const rows = net.summary([2, 3]).split('\n');
  expect(rows.find((r) => r.startsWith('a '))).toMatch(/\[2,3\] ×2 \(2 calls\)/);
  expect(rows.find((r) => r.startsWith('b '))).toMatch(/\[2,3\] ×2 \(2 calls\)/);
  // Its forward is the class's again afterwards (one restore per wrap).
  expect(Object.prototype.hasOwnProperty.call(net.a, 'forward') && (net.a.forward as { name?: string }).name).toBe('wrapper');
  net.dispose();
});
