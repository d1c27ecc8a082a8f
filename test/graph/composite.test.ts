// Gradient check of a composite graph: a small conv-BN-ReLU-pool-upsample-concat-conv net with
// BCE + Dice, differentiated by the GPU autograd and compared with central finite differences of
// the same net built from the float64 CPU references.
import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { batchNorm2d } from '../../src/kernels/batchnorm.js';
import { concat } from '../../src/kernels/concat.js';
import { conv2d } from '../../src/kernels/conv2d.js';
import { bceDiceLoss } from '../../src/kernels/loss.js';
import { maxPool2d } from '../../src/kernels/pool.js';
import { upsample2d } from '../../src/kernels/upsample.js';
import { nd, type NdArray } from '../../src/reference/array.js';
import { batchNormForwardRef } from '../../src/reference/batchnorm.js';
import { concatRef } from '../../src/reference/concat.js';
import { conv2dForwardRef } from '../../src/reference/conv.js';
import { unaryForwardRef } from '../../src/reference/elementwise.js';
import { bceDiceForwardRef } from '../../src/reference/loss.js';
import { maxPool2dRef } from '../../src/reference/pool.js';
import { upsample2dRef } from '../../src/reference/upsample.js';
import { expectClose } from '../helpers/close.js';
import { numericGrad } from '../helpers/finite-diff.js';
import { useGpu } from '../helpers/gpu.js';
import { rng, uniform } from '../helpers/rng.js';

useGpu();

const SHAPES = {
  x: [2, 8, 8, 2],
  w1: [3, 3, 2, 4],
  b1: [4],
  gamma: [4],
  beta: [4],
  w2: [1, 1, 8, 1],
  b2: [1],
} as const;
type Name = keyof typeof SHAPES;
const NAMES = Object.keys(SHAPES) as Name[];
const size = (n: Name): number => SHAPES[n].reduce((p: number, d: number) => p * d, 1);

function makeValues(): Record<Name, Float64Array> {
  const v = {} as Record<Name, Float64Array>;
  NAMES.forEach((n, i) => {
    v[n] = uniform(size(n), 900 + i, -0.8, 0.8);
  });
  v.gamma = uniform(4, 950, 0.5, 1.5);
  return v;
}

const r = rng(77);
const target = Float64Array.from({ length: 2 * 8 * 8 }, () => (r() < 0.4 ? 1 : 0));

function cpuLoss(v: Record<Name, Float64Array>): number {
  const t = (n: Name): NdArray => nd(v[n], [...SHAPES[n]]);
  const c1 = conv2dForwardRef(t('x'), t('w1'), t('b1'), { padding: 'same' });
  const bn = batchNormForwardRef(c1, t('gamma'), t('beta'), nd([0, 0, 0, 0], [4]), nd([1, 1, 1, 1], [4]), { training: true }).y;
  const h = unaryForwardRef('relu', bn);
  const pooled = maxPool2dRef(h, { size: 2 });
  const up = upsample2dRef(pooled, 8, 8, 'bilinear');
  const cat = concatRef([up, h], 3);
  const logits = conv2dForwardRef(cat, t('w2'), t('b2'), { padding: 'valid' });
  const p = unaryForwardRef('sigmoid', logits);
  return bceDiceForwardRef(p, nd(target, [2, 8, 8, 1]), { smooth: 1 });
}

describe('composite graph gradients', () => {
  it('conv-BN-ReLU-pool-upsample-concat-conv with BCE+Dice matches finite differences of the CPU net', async () => {
    const v = makeValues();
    const tensors = {} as Record<Name, dn.Tensor>;
    for (const n of NAMES) tensors[n] = dn.tensor(Float32Array.from(v[n]), [...SHAPES[n]], { requiresGrad: true, name: n });
    const rm = dn.zeros([4]);
    const rv = dn.full([4], 1);
    const y = dn.tensor(Float32Array.from(target), [2, 8, 8, 1]);
    const loss = dn.scope(() => {
      const c1 = conv2d(tensors.x, tensors.w1, tensors.b1, { padding: 'same' });
      const h = dn.relu(batchNorm2d(c1, tensors.gamma, tensors.beta, rm, rv, { training: true }));
      const up = upsample2d(maxPool2d(h, { size: 2 }), { scale: 2, mode: 'bilinear' });
      const logits = conv2d(concat([up, h], -1), tensors.w2, tensors.b2, { padding: 'valid' });
      return bceDiceLoss(dn.sigmoid(logits), y, { smooth: 1 });
    });
    // float32 forward vs float64: the loss agrees to ~1e-6 relative.
    expect(Math.abs((await loss.item()) - cpuLoss(v))).toBeLessThan(1e-5);
    loss.backward();
    for (const n of NAMES) {
      const numeric = numericGrad((val) => cpuLoss({ ...v, [n]: val }), v[n]);
      // The GPU gradient carries float32 rounding through ~10 ops (batch-norm normalisation the
      // worst): atol 2e-5 on gradients of magnitude ~1e-2, rtol 2e-3.
      expectClose(`d loss / d ${n}`, await tensors[n].grad!.toArray(), numeric, { atol: 2e-5, rtol: 2e-3 });
    }
    for (const t of [...Object.values(tensors), rm, rv, y, loss]) t.dispose();
  });
});
