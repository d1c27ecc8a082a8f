// matmul over batch axes (src/kernels/matmul-batched.ts), as torch.matmul: values and both
// gradients against a float64 reference that loops over the broadcast batch, with a shared 2-D
// operand, broadcast batch axes, the transpose flags on the last two axes, an empty batch, and the
// errors (1-D operands, inner sizes, batch axes that do not broadcast). The reference's backward is
// the product rule by hand, checked against central differences.
//
// Tolerances: the float32 defaults; each element sums at most 12 products.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { batchedMatmul } from '../../src/kernels/matmul-batched.js';
import { expectClose } from '../helpers/close.js';
import { numericGrad } from '../helpers/finite-diff.js';
import { useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';
import { broadcastSource } from '../helpers/broadcast-index.js';

useGpu();

type Shape = readonly number[];
const size = (s: Shape): number => s.reduce((p, d) => p * d, 1);


interface Case {
  a: Shape;
  b: Shape;
  ta?: boolean;
  tb?: boolean;
}

/** out and, for the weights r, the gradients of Σ r·out with respect to a and b. */
function reference(c: Case, a: Float64Array, b: Float64Array, r: Float64Array) {
  const [ar, ac] = c.a.slice(-2);
  const [br, bc] = c.b.slice(-2);
  const [m, k] = c.ta ? [ac, ar] : [ar, ac];
  const n = c.tb ? br : bc;
  const [batchA, batchB] = [c.a.slice(0, -2), c.b.slice(0, -2)];
  const rank = Math.max(batchA.length, batchB.length);
  const batch = Array.from({ length: rank }, (_, i) => Math.max(batchA[batchA.length - rank + i] ?? 1, batchB[batchB.length - rank + i] ?? 1));
  const out = new Float64Array(size(batch) * m * n);
  const [ga, gb] = [new Float64Array(a.length), new Float64Array(b.length)];
  for (let t = 0; t < size(batch); t++) {
    const oa = broadcastSource(batchA, batch, t) * ar * ac;
    const ob = broadcastSource(batchB, batch, t) * br * bc;
    const ia = (i: number, p: number) => oa + (c.ta ? p * ac + i : i * ac + p);
    const ib = (p: number, j: number) => ob + (c.tb ? j * bc + p : p * bc + j);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        const o = (t * m + i) * n + j;
        for (let p = 0; p < k; p++) {
          out[o] += a[ia(i, p)] * b[ib(p, j)];
          ga[ia(i, p)] += r[o] * b[ib(p, j)];
          gb[ib(p, j)] += r[o] * a[ia(i, p)];
        }
      }
    }
  }
  return { out, ga, gb, shape: [...batch, m, n] };
}

const CASES: readonly Case[] = [
  { a: [2, 3, 4], b: [2, 4, 5] },
  { a: [2, 3, 4], b: [4, 2] },
  { a: [3, 2], b: [2, 2, 4] },
  { a: [2, 1, 2, 3], b: [3, 3, 2] },
  { a: [2, 4, 3], b: [2, 5, 4], ta: true, tb: true },
  { a: [1, 2, 3], b: [3, 2, 3], tb: true },
];

describe('matmul over batch axes', () => {
  for (const c of CASES) {
    it(`a ${JSON.stringify(c.a)}${c.ta ? 'ᵀ' : ''} · b ${JSON.stringify(c.b)}${c.tb ? 'ᵀ' : ''}`, async () => {
      const [a, b] = [uniform(size(c.a), 1), uniform(size(c.b), 2)];
      const r = uniform(reference(c, a, b, new Float64Array(a.length * b.length)).out.length, 3);
      const want = reference(c, a, b, r);
      const loss = (x: Float64Array, y: Float64Array) => reference(c, x, y, r).out.reduce((s, v, i) => s + v * r[i], 0);
      expectClose('reference da', want.ga, numericGrad((x) => loss(x, b), a), { atol: 1e-6, rtol: 1e-5 });
      expectClose('reference db', want.gb, numericGrad((y) => loss(a, y), b), { atol: 1e-6, rtol: 1e-5 });

      const { ta, tb, y } = dn.scope(() => {
        const ta = dn.tensor(Float32Array.from(a), c.a, { requiresGrad: true });
        const tb = dn.tensor(Float32Array.from(b), c.b, { requiresGrad: true });
        const y = dn.matmul(ta, tb, { transposeA: c.ta ?? false, transposeB: c.tb ?? false });
        dn.sum(dn.mul(y, dn.tensor(Float32Array.from(r), want.shape))).backward();
        return { ta, tb, y };
      });
      expect(y.shape).toEqual(want.shape);
      expectClose('forward', await y.toArray(), want.out);
      expectClose('da', await ta.grad!.toArray(), want.ga);
      expectClose('db', await tb.grad!.toArray(), want.gb);
      for (const t of [ta.grad!, tb.grad!, ta, tb, y]) t.dispose();
    });
  }

  it('gives an empty batch its shape, and names the operands at fault', () => {
    const [a, b, v, odd, other] = [dn.zeros([0, 2, 3]), dn.zeros([3, 4]), dn.zeros([3]), dn.zeros([3, 2, 3]), dn.zeros([2, 3, 1])];
    const empty = dn.matmul(a, b);
    expect(empty.shape).toEqual([0, 2, 4]);
    expect(() => dn.matmul(v, odd)).toThrow(/^matmul: operands need at least 2 axes/);
    expect(() => batchedMatmul(v, b, { transposeA: false, transposeB: false }, dn.matmul)).toThrow(/^matmul: operands need at least 2 axes/);
    expect(() => dn.matmul(v, b)).toThrow(dn.ShapeError);
    expect(() => dn.matmul(odd, odd)).toThrow(/^matmul: inner dimensions differ/);
    expect(() => dn.matmul(odd, other)).toThrow(/^matmul \(batch axes\): /);
    for (const t of [a, b, v, odd, other, empty]) t.dispose();
  });
});
