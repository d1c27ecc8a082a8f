// Winograd F(4x4, 3x3) with its 36 GEMMs run by the uniform-weights kernel ('winograd-uniform':
// conv2d-winograd-run.ts uniformBatchedGemm, one dispatch per ξ with U[ξ] bound as a uniform
// buffer) against the float64 reference, forward and backward input: blocks past the edges,
// 'valid' padding, bias and fused ReLU, chunks of samples, and a stricter binding alignment
// (more padding rows per ξ). Tolerances are the staged Winograd's (test/helpers/close.ts): the
// same transforms, the same sums in another order.

import { afterEach, describe, expect, it } from 'vitest';
import { runtime } from '../../src/gpu/runtime.js';
import { backwardInputGemm, conv2dGeometry, forwardGemm } from '../../src/kernels/conv2d.js';
import { algorithmRuns, convAlgorithm, setConvAlgorithm, setWinogradWorkspace, winogradUniformFits } from '../../src/kernels/conv2d-winograd-run.js';
import { defaultConvFamily } from '../../src/kernels/conv2d-launch.js';
import { conv2dBackwardRef, conv2dForwardRef } from '../../src/reference/conv.js';
import { nd } from '../../src/reference/array.js';
import { expectClose, winogradTolerance } from '../helpers/close.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { winogradCaseData, type WinogradCase } from '../helpers/winograd-case.js';
import * as dn from '../../src/index.js';

useGpu();

afterEach(() => {
  setWinogradWorkspace(null);
  setConvAlgorithm('auto');
  runtime().setBindingLimit(null);
});

const CASES: readonly WinogradCase[] = [
  { name: "'same', batch 2, 16 channels", x: [2, 12, 12, 16], cout: 16, opts: { padding: 'same' } },
  { name: 'odd sizes, 32 channels', x: [1, 9, 11, 32], cout: 32, opts: { padding: 'same' } },
  { name: "'valid', sizes not multiples of 4, 8 -> 8", x: [2, 10, 13, 8], cout: 8, opts: { padding: 'valid' } },
];

describe("conv2d by 'winograd-uniform'", () => {
  for (const [i, cs] of CASES.entries()) {
    it(`${cs.name}: forward (bias, fused ReLU) and backward input match CPU`, async () => {
      const d = winogradCaseData(cs, 8100 + 10 * i);
      const g = conv2dGeometry(d.xShape, d.wShape, d.opts);
      expect(algorithmRuns('winograd-uniform', 'forward', g) && algorithmRuns('winograd-uniform', 'backwardInput', g)).toBe(true);
      const family = defaultConvFamily();
      const [x, w, b, dy] = [fromNd(d.x.data, d.xShape), fromNd(d.w.data, d.wShape), fromNd(d.b.data, [g.cout]), fromNd(d.dy.data, d.yShape)];
      const y = conv2dForwardRef(d.x, d.w, d.b, d.opts);
      const relu = nd(y.data.map((v) => Math.max(v, 0)), y.shape);
      const dx = conv2dBackwardRef(d.x, d.w, d.dy, d.opts).dx;
      const outs: [string, dn.Tensor, ArrayLike<number>, number][] = [
        ['forward', forwardGemm(g, x, w, b, family, 'winograd-uniform'), y.data, g.cin],
        ['forward, fused ReLU', forwardGemm(g, x, w, b, family, 'winograd-uniform', true), relu.data, g.cin],
        ['dx', backwardInputGemm(g, dy, w, null, family, 'winograd-uniform'), dx.data, g.cout],
      ];
      for (const [what, got, want, kSum] of outs) {
        expectClose(`${cs.name} ${what}`, await got.toArray(), want, winogradTolerance(kSum));
        got.dispose();
      }
      for (const t of [x, w, b, dy]) t.dispose();
    });
  }

  it('runs one GEMM dispatch per ξ (36) between the transforms, and a chunk of samples at a time', async () => {
    // 81 blocks a sample: padded to 128 rows per ξ alone, 192 for two, so a workspace of one
    // sample's V and M makes three chunks of one sample.
    const d = winogradCaseData({ name: 'chunks', x: [3, 36, 36, 8], cout: 8, opts: { padding: 'same' } }, 8200);
    const g = conv2dGeometry(d.xShape, d.wShape, d.opts);
    const [x, w] = [fromNd(d.x.data, d.xShape), fromNd(d.w.data, d.wShape)];
    const rowsPerXi = Math.ceil(81 / (runtime().offsetAlignment / 4)) * (runtime().offsetAlignment / 4);
    setWinogradWorkspace(36 * rowsPerXi * (8 + 8) * 4);
    let y: dn.Tensor | undefined;
    const p = await dn.profile(() => {
      y = forwardGemm(g, x, w, null, defaultConvFamily(), 'winograd-uniform');
    });
    if (p) {
      const count = (name: string) => p.kernels.find((k) => k.name === name)?.dispatches ?? 0;
      expect([count('conv2d.winogradInput'), count('conv2d.forwardUniformWeights'), count('conv2d.winogradOutput')]).toEqual([3, 108, 3]);
    }
    expectClose('forward', await y!.toArray(), conv2dForwardRef(d.x, d.w, null, d.opts).data, winogradTolerance(g.cin));
    for (const t of [x, w, y!]) t.dispose();
  });

  it('a stricter binding alignment pads each ξ to it, and the result is the same', async () => {
    const d = winogradCaseData(CASES[1], 8300);
    const g = conv2dGeometry(d.xShape, d.wShape, d.opts);
    const [x, w] = [fromNd(d.x.data, d.xShape), fromNd(d.w.data, d.wShape)];
    runtime().setBindingLimit(1 << 26, { offsetAlignment: 4096 });
    const y = forwardGemm(g, x, w, null, defaultConvFamily(), 'winograd-uniform');
    expectClose('forward', await y.toArray(), conv2dForwardRef(d.x, d.w, null, d.opts).data, winogradTolerance(g.cin));
    for (const t of [x, w, y]) t.dispose();
  });

  it('fits 3x3 stride-1 forwards and input gradients whose U[ξ] binds as a uniform buffer, and falls back to the staged Winograd', () => {
    const align = runtime().limits.minUniformBufferOffsetAlignment;
    expect(winogradUniformFits({ k: 32, n: 32 })).toBe(true);
    expect(winogradUniformFits({ k: 64, n: 64 })).toBe(true);
    expect(winogradUniformFits({ k: 128, n: 128 }), 'more outputs than a thread holds').toBe(false);
    expect(winogradUniformFits({ k: 8, n: 6 }), 'outputs not in vec4s').toBe(false);
    expect(winogradUniformFits({ k: 3, n: 4 }), `U[ξ] of 48 bytes, not a multiple of ${align}`).toBe(48 % align === 0);
    const g = (cin: number, cout: number, k = 3, stride = 1) => conv2dGeometry([1, 8, 8, cin], [k, k, cin, cout], { padding: 'same', stride });
    expect(algorithmRuns('winograd-uniform', 'backwardWeight', g(32, 32))).toBe(false);
    expect(algorithmRuns('winograd-uniform', 'forward', g(32, 32, 3, 2)), 'stride 2').toBe(false);
    expect(algorithmRuns('winograd-uniform', 'forward', g(128, 64))).toBe(true);
    expect(algorithmRuns('winograd-uniform', 'backwardInput', g(128, 64)), 'dx has 128 outputs').toBe(false);
    setConvAlgorithm('winograd-uniform');
    expect(convAlgorithm('backwardInput', g(128, 64))).toBe('winograd');
    expect(convAlgorithm('backwardWeight', g(32, 32))).toBe('winograd');
    expect(convAlgorithm('forward', g(32, 32, 1))).toBe('direct');
    expect(convAlgorithm('forward', g(32, 32))).toBe('winograd-uniform');
  });
});
