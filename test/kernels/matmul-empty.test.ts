// matmul and linear with a zero-size M, K or N, as PyTorch: [0,3]x[3,4] is an empty [0,4],
// [2,0]x[0,4] zeros [2,4] (plus the bias), [2,3]x[3,0] an empty [2,0]; gradients are zeros or
// empty tensors of the operands' shapes. Both kernel families (the tiled one GPUs run, conv2d's
// GEMM that CPU adapters run) with every transpose flag, which is what the backward calls.
// Values are exact here (zeros, a copied bias, or sums of at most 3 products compared with
// float64 at the default float32 tolerance, atol 1e-5 and rtol 1e-4).

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { linear, matmul, matmulForward } from '../../src/kernels/matmul.js';
import { nd } from '../../src/reference/array.js';
import { linearBackwardRef, linearRef, matmulBackwardRef, matmulRef } from '../../src/reference/matmul.js';
import { expectClose } from '../helpers/close.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

const SHAPES = [
  [0, 3, 4],
  [2, 0, 4],
  [2, 3, 0],
  [0, 0, 4],
  [2, 0, 0],
  [0, 3, 0],
  [0, 0, 0],
] as const;
const FLAGS = [
  { transposeA: false, transposeB: false },
  { transposeA: true, transposeB: false },
  { transposeA: false, transposeB: true },
  { transposeA: true, transposeB: true },
] as const;

const storage = (m: number, k: number, n: number, f: { transposeA: boolean; transposeB: boolean }) => ({
  aShape: f.transposeA ? [k, m] : [m, k],
  bShape: f.transposeB ? [n, k] : [k, n],
});
const size = (s: readonly number[]) => s.reduce((p, d) => p * d, 1);

describe('matmul with an empty dimension', () => {
  for (const [m, k, n] of SHAPES) {
    for (const f of FLAGS) {
      const { aShape, bShape } = storage(m, k, n, f);
      const flags = `${f.transposeA ? ' tA' : ''}${f.transposeB ? ' tB' : ''}`;
      for (const family of ['tiled', 'subgroup'] as const) {
        it(`${family}: [${m},${k}]x[${k},${n}]${flags} with a bias is [${m},${n}] and matches float64`, async () => {
          const [a, b, bias] = [uniform(size(aShape), 1), uniform(size(bShape), 2), uniform(n, 3)];
          const [at, bt, biast] = [fromNd(a, aShape), fromNd(b, bShape), fromNd(bias, [n])];
          const c = matmulForward(at, bt, { ...f, bias: biast, family });
          expect(c.shape).toEqual([m, n]);
          expectClose(`matmul ${family}`, await c.toArray(), matmulRef(nd(a, aShape), nd(b, bShape), f, nd(bias, [n])).data);
          for (const t of [at, bt, biast, c]) t.dispose();
        });
      }

      it(`[${m},${k}]x[${k},${n}]${flags}: gradients are zeros or empty, of the operands' shapes`, async () => {
        const [a, b, dc] = [uniform(size(aShape), 4), uniform(size(bShape), 5), uniform(m * n, 6)];
        const [at, bt] = [fromNd(a, aShape, true), fromNd(b, bShape, true)];
        const c = matmul(at, bt, f);
        const dct = fromNd(dc, [m, n]);
        c.backward(dct);
        const [da, db] = matmulBackwardRef(nd(a, aShape), nd(b, bShape), nd(dc, [m, n]), f);
        expect([at.grad!.shape, bt.grad!.shape]).toEqual([aShape, bShape]);
        expectClose('matmul da', await at.grad!.toArray(), da.data);
        expectClose('matmul db', await bt.grad!.toArray(), db.data);
        for (const t of [at, bt, c, dct]) t.dispose();
      });
    }
  }
});

describe('linear with an empty dimension', () => {
  // [batch, in, out]: an empty batch, no inputs (y = the bias), no outputs.
  for (const [batch, inputs, outputs] of [
    [0, 3, 4],
    [2, 0, 4],
    [2, 3, 0],
  ] as const) {
    it(`x [${batch},${inputs}], w [${inputs},${outputs}], b [${outputs}]: y and gradients match float64`, async () => {
      const [x, w, b, dy] = [uniform(batch * inputs, 7), uniform(inputs * outputs, 8), uniform(outputs, 9), uniform(batch * outputs, 10)];
      const [xt, wt, bt] = [fromNd(x, [batch, inputs], true), fromNd(w, [inputs, outputs], true), fromNd(b, [outputs], true)];
      const y = linear(xt, wt, bt);
      expect(y.shape).toEqual([batch, outputs]);
      expectClose('linear y', await y.toArray(), linearRef(nd(x, [batch, inputs]), nd(w, [inputs, outputs]), nd(b, [outputs])).data);
      const dyt = fromNd(dy, [batch, outputs]);
      y.backward(dyt);
      const [dx, dw, db] = linearBackwardRef(nd(x, [batch, inputs]), nd(w, [inputs, outputs]), nd(dy, [batch, outputs]));
      expect([xt.grad!.shape, wt.grad!.shape, bt.grad!.shape]).toEqual([[batch, inputs], [inputs, outputs], [outputs]]);
      expectClose('linear dx', await xt.grad!.toArray(), dx.data);
      expectClose('linear dw', await wt.grad!.toArray(), dw.data);
      expectClose('linear db', await bt.grad!.toArray(), db.data);
      for (const t of [xt, wt, bt, y, dyt]) t.dispose();
    });
  }

  it('a zero-size product through the public API keeps its shape', async () => {
    const [a, b] = [dn.zeros([2, 0]), dn.zeros([0, 4])];
    const c = dn.matmul(a, b);
    expect(c.shape).toEqual([2, 4]);
    expect(Array.from(await c.toArray())).toEqual(new Array(8).fill(0));
    for (const t of [a, b, c]) t.dispose();
  });
});
