// Matrix products: a square one, the U-Net level-3 conv seen as a GEMM (M = N·H·W, K = 9·Cin,
// N = Cout), and VGG's classifier head [32, 32768] x [32768, 256] (few output tiles, long K: the
// split-K path). `scale` divides M (the batch-like dimension). 2 flops per multiply-add. The way
// the adapter does not take (matmul.ts's tiles or conv2d's GEMM) is timed beside each.

import { dims, scaled, family, ways, type BenchCase, type CaseFamily } from '../case.js';

type Kernels = typeof import('../../src/kernels/matmul.js');

interface Gemm {
  name: string;
  m: number;
  k: number;
  n: number;
}

function shapes(scale: number): Gemm[] {
  const s = scaled(64, scale);
  return [
    { name: 'square-1024', m: scaled(1024, scale), k: 1024, n: 1024 },
    { name: 'conv-gemm-unet-l3', m: scaled(16, scale) * s * s, k: 9 * 128, n: 128 },
    { name: 'vgg-head', m: scaled(32, scale), k: 32768, n: 256 },
  ];
}

function cases(k: Kernels, scale: number): BenchCase[] {
  return shapes(scale).map((g) => ({
    id: `matmul/${g.name}`,
    group: 'matmul',
    shape: `${dims([g.m, g.k])} x ${dims([g.k, g.n])}`,
    metric: 'flops',
    work: 2 * g.m * g.k * g.n,
    inputs: [
      { name: 'a', shape: [g.m, g.k] },
      { name: 'b', shape: [g.k, g.n] },
    ],
    dawnet: ([a, b]) => k.matmulForward(a, b),
    tfjs: (tf, [a, b]) => tf.matMul(a, b),
    // K up to 32768 terms summed in different orders.
    tolerance: 1e-3,
    ...ways(['tiles', 'conv-gemm'], k.matmulWay, k.withMatmulWay),
  }));
}

export const matmulFamily: CaseFamily = family('matmul', () => import('../../src/kernels/matmul.js'), cases);
