// Misspelt or foreign option names are ArgumentErrors naming the op and the key, not silently
// ignored: dn.tensor(data, shape, { requires_grad: true }) (PyTorch's spelling) used to make a
// tensor with no gradient, matmul(a, b, { tranposeB: true }) an untransposed product, and
// pad2d(x, 1, { mdoe: 'reflect' }) zero padding, each without a word.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

describe('unknown options are refused', () => {
  it('by tensor, zeros and full, with the camelCase name for a snake_case one', () => {
    expect(() => dn.tensor([1, 2], [2], { requires_grad: true } as never)).toThrow(/^tensor: unknown option 'requires_grad' \(did you mean requiresGrad\?\)/);
    expect(() => dn.tensor([1, 2], [2], { requiresgrad: true } as never)).toThrow(dn.ArgumentError);
    expect(() => dn.zeros([2], { grad: true } as never)).toThrow(/^zeros: /);
    expect(() => dn.full([2], 3, { requires_grad: true } as never)).toThrow(/^full: /);
    const t = dn.tensor([1, 2], [2], { requiresGrad: true, name: 'w' });
    expect(t.requiresGrad).toBe(true);
    t.dispose();
  });

  it('by matmul, pad2d and gelu', () => {
    const [a, x] = [dn.zeros([2, 2]), dn.zeros([1, 2, 2, 1])];
    expect(() => dn.matmul(a, a, { tranposeB: true } as never)).toThrow(dn.ArgumentError);
    expect(() => dn.matmul(a, a, { transpose_b: true } as never)).toThrow(/^matmul: unknown option 'transpose_b'/);
    expect(() => dn.pad2d(x, 1, { mdoe: 'reflect' } as never)).toThrow(/^pad2d: unknown option 'mdoe'/);
    expect(() => dn.gelu(a, { approximation: 'tanh' } as never)).toThrow(/^gelu: unknown option 'approximation'/);
    a.dispose();
    x.dispose();
  });
});
