import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { defaultConvFamily } from '../../src/kernels/conv2d-launch.js';
import { chooseSplitK, linear, matmul, matmulForward, matmulWay, withMatmulWay } from '../../src/kernels/matmul.js';
import { nd } from '../../src/reference/array.js';
import { linearBackwardRef, linearRef, matmulBackwardRef, matmulRef } from '../../src/reference/matmul.js';
import { expectClose } from '../helpers/close.js';
import { dispatched } from '../helpers/dispatched.js';
import { checkGrad } from '../helpers/finite-diff.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

// [M, K, N] with the operands' storage shapes following from the transpose flags.
const MATMUL_CASES = [
  { m: 1, k: 7, n: 5 },
  { m: 37, k: 53, n: 29 },
  { m: 130, k: 70, n: 150 },
  { m: 5, k: 1, n: 9 },
  { m: 9, k: 33, n: 1 },
  { m: 23, k: 19, n: 71, transposeA: true },
  { m: 29, k: 21, n: 67, transposeB: true },
  { m: 66, k: 17, n: 3, transposeA: true, transposeB: true },
  { m: 3, k: 300, n: 20, splitK: 4 },
  { m: 2, k: 1100, n: 10 },
  { m: 2, k: 1100, n: 10, transposeA: true, transposeB: true },
] as const;

type Case = { m: number; k: number; n: number; transposeA?: boolean; transposeB?: boolean; splitK?: number };

function storage(cs: Case): { aShape: number[]; bShape: number[] } {
  return {
    aShape: cs.transposeA ? [cs.k, cs.m] : [cs.m, cs.k],
    bShape: cs.transposeB ? [cs.n, cs.k] : [cs.k, cs.n],
  };
}

// float32 dot products of K terms in [-1, 1], accumulated in a different order than float64:
// the rounding error grows like sqrt(K) ulp of the partial sums, so atol 1e-5 * sqrt(K) (3.3e-4
// at K = 1100) and the default rtol.
const tolFor = (k: number) => ({ atol: 1e-5 * Math.max(1, Math.sqrt(k)) });

describe('matmul', () => {
  it('splits K for a few tiles with a long K (the classifier head) and not otherwise', () => {
    expect(chooseSplitK(32, 32768, 256)).toBeGreaterThan(1);
    expect(chooseSplitK(32, 256, 256)).toBe(1);
    expect(chooseSplitK(32768, 32, 256)).toBe(1);
    expect(chooseSplitK(2, 1100, 10)).toBe(4);
  });

  for (const [idx, c] of MATMUL_CASES.entries()) {
    const cs: Case = c;
    const { aShape, bShape } = storage(cs);
    const opts = { transposeA: cs.transposeA ?? false, transposeB: cs.transposeB ?? false };
    const name = `matmul [${cs.m},${cs.k}]x[${cs.k},${cs.n}]${opts.transposeA ? ' tA' : ''}${opts.transposeB ? ' tB' : ''}${cs.splitK ? ` splitK ${cs.splitK}` : ''}`;
    const a = uniform(cs.m * cs.k, 10 + idx);
    const b = uniform(cs.k * cs.n, 50 + idx);
    const dc = uniform(cs.m * cs.n, 90 + idx);

    // Finite differences cost O(size^2): the small cases (every transpose variant) cover the formula.
    if (cs.m * cs.k * cs.n <= 45_000) it(`${name}: CPU backward matches finite differences`, () => {
      const [da, db] = matmulBackwardRef(nd(a, aShape), nd(b, bShape), nd(dc, [cs.m, cs.n]), opts);
      checkGrad(`${name} da`, (v) => matmulRef(nd(v, aShape), nd(b, bShape), opts), a, dc, da.data);
      checkGrad(`${name} db`, (v) => matmulRef(nd(a, aShape), nd(v, bShape), opts), b, dc, db.data);
    });

    it(`${name}: GPU forward and backward match CPU`, async () => {
      const at = fromNd(a, aShape, true);
      const bt = fromNd(b, bShape, true);
      const out = cs.splitK ? matmulForward(at, bt, { ...opts, splitK: cs.splitK }) : matmul(at, bt, opts);
      expect(out.shape).toEqual([cs.m, cs.n]);
      expectClose(`${name} forward`, await out.toArray(), matmulRef(nd(a, aShape), nd(b, bShape), opts).data, tolFor(cs.k));
      if (!cs.splitK) {
        const dct = fromNd(dc, [cs.m, cs.n]);
        out.backward(dct);
        const [da, db] = matmulBackwardRef(nd(a, aShape), nd(b, bShape), nd(dc, [cs.m, cs.n]), opts);
        // dA sums over N terms, dB over M terms.
        expectClose(`${name} da`, await at.grad!.toArray(), da.data, tolFor(cs.n));
        expectClose(`${name} db`, await bt.grad!.toArray(), db.data, tolFor(cs.m));
        dct.dispose();
      }
      for (const t of [at, bt, out]) t.dispose();
    });
  }

  it('rejects non-2-D operands and mismatched inner dimensions', () => {
    dn.scope(() => {
      const a = dn.zeros([3, 4]);
      const b = dn.zeros([5, 2]);
      const v = dn.zeros([4]);
      expect(() => matmul(a, b)).toThrow(dn.ShapeError);
      expect(() => matmul(a, v)).toThrow(dn.ShapeError);
      expect(() => matmul(a, b, { transposeA: true })).toThrow(dn.ShapeError);
      expect(() => matmulForward(a, dn.zeros([4, 2]), { splitK: 0 })).toThrow(dn.ShapeError);
      expect(() => matmulForward(a, dn.zeros([4, 2]), { bias: dn.zeros([3]) })).toThrow(dn.ShapeError);
    });
  });
});

const LINEAR_CASES = [
  { n: 5, inF: 13, outF: 7, bias: true },
  { n: 1, inF: 9, outF: 70, bias: true },
  { n: 4, inF: 11, outF: 6, bias: false },
  // Long K with few tiles: split-K partials, bias added by the summing kernel.
  { n: 2, inF: 1100, outF: 6, bias: true },
] as const;

describe('linear', () => {
  for (const [idx, cs] of LINEAR_CASES.entries()) {
    const name = `linear x [${cs.n},${cs.inF}] w [${cs.inF},${cs.outF}]${cs.bias ? ' + b' : ''}`;
    const x = uniform(cs.n * cs.inF, 200 + idx);
    const w = uniform(cs.inF * cs.outF, 300 + idx);
    const b = uniform(cs.outF, 400 + idx);
    const dy = uniform(cs.n * cs.outF, 500 + idx);
    const xs = [cs.n, cs.inF];
    const ws = [cs.inF, cs.outF];
    const ys = [cs.n, cs.outF];

    if (cs.inF <= 100) it(`${name}: CPU backward matches finite differences`, () => {
      const [dx, dw, db] = linearBackwardRef(nd(x, xs), nd(w, ws), nd(dy, ys));
      checkGrad(`${name} dx`, (v) => linearRef(nd(v, xs), nd(w, ws), nd(b, [cs.outF])), x, dy, dx.data);
      checkGrad(`${name} dw`, (v) => linearRef(nd(x, xs), nd(v, ws), nd(b, [cs.outF])), w, dy, dw.data);
      checkGrad(`${name} db`, (v) => linearRef(nd(x, xs), nd(w, ws), nd(v, [cs.outF])), b, dy, db.data);
    });

    it(`${name}: GPU forward and backward match CPU`, async () => {
      const xt = fromNd(x, xs, true);
      const wt = fromNd(w, ws, true);
      const bt = cs.bias ? fromNd(b, [cs.outF], true) : null;
      const y = linear(xt, wt, bt);
      const want = linearRef(nd(x, xs), nd(w, ws), cs.bias ? nd(b, [cs.outF]) : undefined);
      expectClose(`${name} forward`, await y.toArray(), want.data, tolFor(cs.inF));
      const dyt = fromNd(dy, ys);
      y.backward(dyt);
      const [dx, dw, db] = linearBackwardRef(nd(x, xs), nd(w, ws), nd(dy, ys));
      expectClose(`${name} dx`, await xt.grad!.toArray(), dx.data, tolFor(cs.outF));
      expectClose(`${name} dw`, await wt.grad!.toArray(), dw.data, tolFor(cs.n));
      if (bt) expectClose(`${name} db`, await bt.grad!.toArray(), db.data, tolFor(cs.n));
      for (const t of [xt, wt, bt, y, dyt]) t?.dispose();
    });
  }

  it('rejects mismatched shapes', () => {
    dn.scope(() => {
      const x = dn.zeros([2, 3]);
      expect(() => linear(x, dn.zeros([4, 5]))).toThrow(dn.ShapeError);
      expect(() => linear(x, dn.zeros([3, 5]), dn.zeros([4]))).toThrow(dn.ShapeError);
      expect(() => linear(dn.zeros([6]), dn.zeros([6, 5]))).toThrow(dn.ShapeError);
    });
  });
});

describe('matmul kernel families', () => {
  // The subgroup family reuses conv2d's GEMM (A·B forward, A·B^T backward-input, A^T·B
  // backward-weight); the tiled family is the workgroup-memory kernel. Both must agree with the CPU.
  const CASES = [
    { m: 37, k: 53, n: 29, tA: false, tB: false },
    { m: 33, k: 70, n: 9, tA: false, tB: true },
    { m: 5, k: 300, n: 21, tA: true, tB: false },
  ] as const;
  for (const [i, c] of CASES.entries()) {
    for (const family of ['tiled', 'subgroup'] as const) {
      it(`${family}: [${c.m},${c.k}]x[${c.k},${c.n}]${c.tA ? ' tA' : ''}${c.tB ? ' tB' : ''} with bias matches the CPU`, async () => {
        const aShape = c.tA ? [c.k, c.m] : [c.m, c.k];
        const bShape = c.tB ? [c.n, c.k] : [c.k, c.n];
        const a = uniform(c.m * c.k, 1500 + i);
        const b = uniform(c.k * c.n, 1600 + i);
        const bias = uniform(c.n, 1700 + i);
        const [at, bt, biast] = [dn.tensor(Float32Array.from(a), aShape), dn.tensor(Float32Array.from(b), bShape), dn.tensor(Float32Array.from(bias), [c.n])];
        const out = matmulForward(at, bt, { transposeA: c.tA, transposeB: c.tB, bias: biast, family });
        const want = matmulRef(nd(a, aShape), nd(b, bShape), { transposeA: c.tA, transposeB: c.tB }, nd(bias, [c.n]));
        // K up to 300 float32 products: atol 1e-5 * sqrt(K), as the other matmul cases.
        expectClose(`matmul ${family}`, await out.toArray(), want.data, { atol: 1e-5 * Math.sqrt(c.k), rtol: 1e-4 });
        for (const t of [at, bt, biast, out]) t.dispose();
      });
    }
  }
});

describe('matmul ways', () => {
  // withMatmulWay forces the way every product takes (the bench times the other beside each
  // matmul case): a differentiable product and its gradients, under each, against float64.
  for (const way of ['tiles', 'conv-gemm'] as const) {
    it(`'${way}': a product [19, 45] x [45, 27] and both gradients match float64`, async () => {
      const [m, k, n] = [19, 45, 27];
      const [a, b, dc] = [uniform(m * k, 1800), uniform(k * n, 1801), uniform(m * n, 1802)];
      const [at, bt, dct] = [fromNd(a, [m, k], true), fromNd(b, [k, n], true), fromNd(dc, [m, n])];
      const c = withMatmulWay(way, () => {
        const out = matmul(at, bt);
        out.backward(dct);
        return out;
      });
      const [da, db] = matmulBackwardRef(nd(a, [m, k]), nd(b, [k, n]), nd(dc, [m, n]), {});
      // dC sums over K terms, dA over N, dB over M (tolFor, as above).
      expectClose(`matmul ${way}`, await c.toArray(), matmulRef(nd(a, [m, k]), nd(b, [k, n]), {}).data, tolFor(k));
      expectClose(`dA ${way}`, await at.grad!.toArray(), da.data, tolFor(n));
      expectClose(`dB ${way}`, await bt.grad!.toArray(), db.data, tolFor(m));
      for (const t of [at, bt, dct, c]) t.dispose();
    });
  }

  it("defaults to conv2d's GEMM where convs run the subgroup family (CPU adapters), else to its tiles, and runs the way forced", () => {
    expect(matmulWay()).toBe(defaultConvFamily() === 'subgroup' ? 'conv-gemm' : 'tiles');
    const [a, b] = [dn.zeros([8, 16]), dn.zeros([16, 12])];
    const kernels = (way: 'tiles' | 'conv-gemm') =>
      dispatched(() => withMatmulWay(way, () => matmulForward(a, b).dispose()));
    expect(kernels('tiles')).toEqual(['matmul.forward']);
    expect(kernels('conv-gemm')).not.toContain('matmul.forward');
    expect(kernels('conv-gemm').length).toBeGreaterThan(0);
    // Options name a way themselves; two transposed operands have only the tiles.
    expect(dispatched(() => withMatmulWay('conv-gemm', () => matmulForward(a, b, { family: 'tiled' }).dispose()))).toEqual(['matmul.forward']);
    const [at, bt] = [dn.zeros([16, 8]), dn.zeros([12, 16])];
    expect(dispatched(() => withMatmulWay('conv-gemm', () => matmulForward(at, bt, { transposeA: true, transposeB: true }).dispose()))).toEqual(['matmul.forward']);
    for (const t of [a, b, at, bt]) t.dispose();
  });
});
