import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { backwardInputGemm, conv2d, conv2dGeometry, forwardGemm, type Conv2dOptions, type ConvGeometry } from '../../src/kernels/conv2d.js';
import { convAlgorithm, setConvAlgorithm, setWinogradWorkspace, winogradChunkBytes, winogradFits } from '../../src/kernels/conv2d-winograd-run.js';
import type { ConvFamily } from '../../src/kernels/conv2d-gemm.js';
import { WINO_AT, WINO_BT, WINO_G } from '../../src/kernels/conv2d-winograd.js';
import { overrideSubgroupLanes, setConvTile } from '../../src/kernels/conv2d-launch.js';
import { parseGemmTile } from '../../src/kernels/conv2d-tiled.js';
import { LimitError } from '../../src/errors.js';
import { conv2dBackwardRef, conv2dForwardRef } from '../../src/reference/conv.js';
import { expectClose, winogradTolerance, winogradWeightGradTolerance } from '../helpers/close.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';
import { families, mul, transpose, winogradCaseData, WINOGRAD_EDGE_CASES, type WinogradCase } from '../helpers/winograd-case.js';

useGpu();


describe('Winograd F(4x4, 3x3) transforms (float64)', () => {
  // The matrices are the algorithm: if any entry were wrong, the 4x4 block would not be the
  // correlation of the 6x6 patch with the filter.
  it('Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A is the valid 3x3 correlation of a 6x6 patch', () => {
    for (let trial = 0; trial < 20; trial++) {
      const d = Array.from({ length: 6 }, (_, i) => Array.from(uniform(6, 100 * trial + i)));
      const g = Array.from({ length: 3 }, (_, i) => Array.from(uniform(3, 100 * trial + 50 + i)));
      const u = mul(mul(WINO_G, g), transpose(WINO_G));
      const v = mul(mul(WINO_BT, d), transpose(WINO_BT));
      const y = mul(mul(WINO_AT, u.map((row, i) => row.map((x, j) => x * v[i][j]))), transpose(WINO_AT));
      for (let r = 0; r < 4; r++) {
        for (let s = 0; s < 4; s++) {
          let want = 0;
          for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) want += d[r + i][s + j] * g[i][j];
          expect(Math.abs(y[r][s] - want), `trial ${trial} (${r}, ${s})`).toBeLessThan(1e-12);
        }
      }
    }
  });
});

// The edge cases (test/helpers/winograd-case.ts), and GEMMs of several row and column tiles.
const CASES: readonly WinogradCase[] = [
  ...WINOGRAD_EDGE_CASES,
  { name: 'batch 3, 136 output channels (wide tiles)', x: [3, 9, 6, 12], cout: 136, opts: { padding: 'same' } },
];

const caseData = (cs: WinogradCase, seed: number) => winogradCaseData(cs, seed);

describe('conv2d by Winograd', () => {
  for (const [k, cs] of CASES.entries()) {
    it(`${cs.name}: forward and backward input match CPU (every family, whole and in chunks)`, async () => {
      const d = caseData(cs, 7000 + 10 * k);
      const g = conv2dGeometry(d.xShape, d.wShape, d.opts);
      expect(winogradFits('forward', g)).toBe(true);
      const wantY = conv2dForwardRef(d.x, d.w, d.b, d.opts);
      const wantYNoBias = conv2dForwardRef(d.x, d.w, null, d.opts);
      const wantDx = conv2dBackwardRef(d.x, d.w, d.dy, d.opts).dx;
      // dx + a bias over input channels: convTranspose2d's forward.
      const wantDxBias = wantDx.data.map((v, i) => v + d.bIn.data[i % g.cin]);
      const [x, w, b, bIn, dy] = [fromNd(d.x.data, d.xShape), fromNd(d.w.data, d.wShape), fromNd(d.b.data, [g.cout]), fromNd(d.bIn.data, [g.cin]), fromNd(d.dy.data, d.yShape)];
      const bytes = (dir: 'forward' | 'backwardInput', f: ConvFamily) => {
        const { v, m } = winogradChunkBytes(dir, g, 1, f);
        return v + m;
      };
      try {
        for (const f of families()) {
          for (const [label, fwdBytes, dxBytes] of [['whole', null, null], ["the workspace one sample's", bytes('forward', f), bytes('backwardInput', f)]] as const) {
            setWinogradWorkspace(fwdBytes);
            const outs: [string, dn.Tensor, ArrayLike<number>, number][] = [
              ['forward', forwardGemm(g, x, w, b, f, 'winograd'), wantY.data, g.cin],
              ['forward without bias', forwardGemm(g, x, w, null, f, 'winograd'), wantYNoBias.data, g.cin],
            ];
            setWinogradWorkspace(dxBytes);
            outs.push(['dx', backwardInputGemm(g, dy, w, null, f, 'winograd'), wantDx.data, g.cout]);
            outs.push(['dx + bias', backwardInputGemm(g, dy, w, bIn, f, 'winograd'), wantDxBias, g.cout]);
            setWinogradWorkspace(null);
            for (const [what, got, want, kSum] of outs) {
              expectClose(`${cs.name} ${what} (${f}, ${label})`, await got.toArray(), want, winogradTolerance(kSum));
              got.dispose();
            }
          }
        }
      } finally {
        setWinogradWorkspace(null);
        for (const t of [x, w, b, bIn, dy]) t.dispose();
      }
    });
  }

  // scripts/gpu-run.sh forces other tiles on every GEMM, Winograd's batched one included: its rows
  // are then padded to that tile's height.
  it.each(['256x64x8/8x8', '64x64x8/4x4', '128x32x16/8x4', '64x32x32/4x4'])('the tiled family with the tile %s forced: forward and dx match CPU', async (spec) => {
    const d = caseData(CASES[5], 7700);
    const g = conv2dGeometry(d.xShape, d.wShape, d.opts);
    const [x, w, dy] = [fromNd(d.x.data, d.xShape), fromNd(d.w.data, d.wShape), fromNd(d.dy.data, d.yShape)];
    setConvTile(parseGemmTile(spec));
    let outs: dn.Tensor[];
    try {
      outs = [forwardGemm(g, x, w, null, 'tiled', 'winograd'), backwardInputGemm(g, dy, w, null, 'tiled', 'winograd')];
    } finally {
      setConvTile(null);
    }
    expectClose(`forward (${spec})`, await outs[0].toArray(), conv2dForwardRef(d.x, d.w, null, d.opts).data, winogradTolerance(g.cin));
    expectClose(`dx (${spec})`, await outs[1].toArray(), conv2dBackwardRef(d.x, d.w, d.dy, d.opts).dx.data, winogradTolerance(g.cout));
    for (const t of [x, w, dy, ...outs]) t.dispose();
  });

  it('conv2d (autograd) under setConvAlgorithm(winograd) runs it, and its gradients match CPU', async () => {
    const d = caseData(CASES[0], 7500);
    const g = conv2dGeometry(d.xShape, d.wShape, d.opts);
    const before = setConvAlgorithm('winograd');
    expect(before).toBe('auto');
    expect(convAlgorithm('forward', g)).toBe('winograd');
    expect(convAlgorithm('backwardInput', g)).toBe('winograd');
    expect(convAlgorithm('backwardWeight', g), 'forced for the weight gradient too').toBe('winograd');
    const want = conv2dBackwardRef(d.x, d.w, d.dy, d.opts);
    const [x, w, b, dy] = [fromNd(d.x.data, d.xShape, true), fromNd(d.w.data, d.wShape, true), fromNd(d.b.data, [g.cout], true), fromNd(d.dy.data, d.yShape)];
    let y: dn.Tensor;
    try {
      y = conv2d(x, w, b, d.opts);
      y.backward(dy);
    } finally {
      setConvAlgorithm('auto');
    }
    const tol = winogradTolerance(g.cin);
    expectClose('conv2d y', await y.toArray(), conv2dForwardRef(d.x, d.w, d.b, d.opts).data, tol);
    expectClose('conv2d x.grad', await x.grad!.toArray(), want.dx.data, winogradTolerance(g.cout));
    expectClose('conv2d w.grad (by Winograd too)', await w.grad!.toArray(), want.dw.data, winogradWeightGradTolerance(g.n * g.ho * g.wo));
    for (const t of [x, w, b, dy, y]) t.dispose();
  });

  it('convAlgorithm: on GPUs Winograd for the U-Net and VGG16 3x3 convs with K >= 16 and outputs of 4x4 or more (weight gradients from Cin = 32) and row-patch for forwards over 3 channels; on CPU adapters from K = 128 over 16 blocks, K = 64 over 64 or K = 32 over 256, weight gradients (Cin >= 32) over 256 blocks; direct elsewhere', () => {
    const geometry = (x: number[], k: number, cout: number, opts: Conv2dOptions = { padding: 'same' }) => conv2dGeometry(x, [k, k, x[3], cout], opts);
    // The rule for a GPU (the tiled family, not a CPU adapter), asked on whatever adapter runs this.
    const gpu = (dir: 'forward' | 'backwardInput' | 'backwardWeight', g: ConvGeometry) => convAlgorithm(dir, g, 'tiled', false);
    for (const [h, c] of [[256, 32], [128, 64], [64, 128], [32, 256], [16, 512]]) {
      const g = geometry([16, h, h, c], 3, c);
      expect(gpu('forward', g), `U-Net ${h}x${h}x${c} forward`).toBe('winograd');
      expect(gpu('backwardInput', g), `U-Net ${h}x${h}x${c} dx`).toBe('winograd');
      // CPU adapters too: from 128 channels summed (l3 on; 16x16 outputs are 16 blocks a sample),
      // 64 over 64 blocks (l2: 16 samples of 32x32 blocks) or 32 over 256 (l1: 16 of 64x64).
      expect(convAlgorithm('forward', g, 'subgroup', true), `U-Net ${h}x${h}x${c} on a CPU adapter`).toBe('winograd');
      expect(convAlgorithm('forward', g, 'tiled', true), `U-Net ${h}x${h}x${c} on a CPU adapter without subgroups`).toBe('winograd');
    }
    const cpu = (x: number[], c: number) => convAlgorithm('forward', geometry(x, 3, c), 'subgroup', true);
    // [x, cout, what the rule picks, why]: 16 blocks a K of 128, 4x as many for each halving.
    const cpuCases: [number[], number, 'winograd' | 'direct', string][] = [
      [[1, 16, 16, 128], 128, 'winograd', '16 blocks, K 128'],
      [[1, 16, 12, 128], 128, 'direct', '12 blocks'],
      [[1, 16, 16, 127], 128, 'direct', 'K 127 over 16 blocks (16·(128/127)² = 16.3)'],
      // VGG16's conv1_2 and conv2_1 at scale 8: 256 and 64 blocks.
      [[4, 16, 16, 64], 128, 'winograd', '64 blocks, K 64'],
      [[4, 32, 32, 64], 64, 'winograd', '256 blocks, K 64'],
      [[2, 16, 16, 64], 64, 'direct', '32 blocks, K 64 (the U-Net l2 at scale 8)'],
      [[1, 32, 28, 64], 64, 'direct', '56 blocks, K 64'],
      [[4, 16, 16, 63], 64, 'direct', 'K 63 over 64 blocks'],
      // The U-Net's l1: 1024 blocks at scale 4, 128 at scale 8.
      [[1, 64, 64, 32], 32, 'winograd', '256 blocks, K 32'],
      [[2, 32, 32, 32], 32, 'direct', '128 blocks, K 32 (the U-Net l1 at scale 8)'],
      [[4, 64, 64, 31], 32, 'direct', 'K 31 over 1024 blocks'],
      [[1, 40, 40, 48], 48, 'direct', 'K 48: 16·(128/48)² = 114 blocks, 100 here'],
      [[2, 32, 32, 48], 48, 'winograd', 'K 48 over 128 blocks'],
    ];
    for (const [x, cout, want, why] of cpuCases) expect(cpu(x, cout), why).toBe(want);
    expect(convAlgorithm('backwardInput', geometry([1, 16, 16, 64], 3, 128), 'subgroup', true), 'dx: K is Cout, 128').toBe('winograd');
    // The weight gradient from CPU_WINOGRAD_WGRAD_MIN_BLOCKS blocks (256), not the 128 of the U-Net's l1 at scale 8.
    expect(convAlgorithm('backwardWeight', geometry([4, 32, 32, 256], 3, 256), 'subgroup', true), 'weight gradient, 256 blocks').toBe('winograd');
    expect(convAlgorithm('backwardWeight', geometry([2, 32, 32, 256], 3, 256), 'subgroup', true), 'weight gradient, 128 blocks').toBe('direct');
    // Sixteen 4x4 images: 16 blocks, padded to a whole 128-row tile, 2x the direct multiply-adds.
    expect(gpu('forward', geometry([16, 4, 4, 256], 3, 256)), 'sixteen 4x4 outputs').toBe('direct');
    expect(gpu('forward', geometry([128, 4, 4, 256], 3, 256)), '128 4x4 outputs').toBe('winograd');
    const conv1_1 = geometry([32, 256, 256, 3], 3, 64);
    expect(gpu('forward', conv1_1), 'K = 3: the row-patch kernel (ROW_PATCH_RULE_MAX_CIN)').toBe('row-patch');
    expect(gpu('backwardInput', conv1_1), 'dx of conv1_1: K = 64').toBe('winograd');
    // The weight gradient on GPUs from Cin = 32 (conv2d-tile-rule.test.ts has its edges).
    expect(gpu('backwardWeight', geometry([16, 64, 64, 32], 3, 32)), 'weight gradient, Cin 32').toBe('winograd');
    expect(gpu('backwardWeight', conv1_1), 'weight gradient of conv1_1: Cin 3').toBe('direct');
    expect(gpu('forward', geometry([16, 64, 64, 32], 3, 32, { stride: 2, padding: 'same' })), 'stride 2').toBe('direct');
    expect(gpu('forward', geometry([16, 64, 64, 32], 1, 32)), '1x1').toBe('direct');
    expect(gpu('forward', geometry([512, 2, 2, 512], 3, 512)), '2x2 outputs').toBe('direct');
    try {
      setConvAlgorithm('direct');
      expect(gpu('forward', geometry([16, 64, 64, 128], 3, 128))).toBe('direct');
      setConvAlgorithm('winograd');
      expect(convAlgorithm('forward', conv1_1, 'subgroup', true), 'forced where it fits').toBe('winograd');
      expect(convAlgorithm('forward', geometry([2, 16, 16, 32], 3, 32, { stride: 2 })), 'never at stride 2').toBe('direct');
    } finally {
      setConvAlgorithm('auto');
    }
    expect(gpu('forward', conv1_1)).toBe('row-patch');
    expect(gpu('forward', geometry([16, 64, 64, 128], 3, 128)), 'auto again').toBe('winograd');
  });

  it("convAlgorithm on a CPU adapter whose subgroup family runs 4 lanes (SwiftShader's): Winograd from K = 32 over 8 blocks, the weight gradient too", () => {
    const geometry = (x: number[], cout: number) => conv2dGeometry(x, [3, 3, x[3], cout], { padding: 'same' });
    const cpu4 = (dir: 'forward' | 'backwardInput' | 'backwardWeight', x: number[], cout: number) => convAlgorithm(dir, geometry(x, cout), 'subgroup', true);
    overrideSubgroupLanes(4);
    try {
      // The U-Net's levels at scale 8 (batch 2): l1-l3 by Winograd, l4's 2 blocks direct.
      for (const [h, c, want] of [[32, 32, 'winograd'], [16, 64, 'winograd'], [8, 128, 'winograd'], [4, 256, 'direct']] as const) {
        for (const dir of ['forward', 'backwardInput', 'backwardWeight'] as const) expect(cpu4(dir, [2, h, h, c], c), `U-Net ${h}x${h}x${c} ${dir}`).toBe(want);
      }
      expect(cpu4('forward', [1, 16, 16, 16], 16), 'K 16').toBe('direct');
      expect(cpu4('forward', [1, 12, 8, 32], 32), '6 blocks').toBe('direct');
      expect(cpu4('backwardWeight', [2, 32, 32, 16], 32), 'weight gradient, Cin 16 (winogradWeightGradPays)').toBe('direct');
      expect(cpu4('forward', [4, 32, 32, 3], 64), "VGG16's conv1_1: K 3").toBe('direct');
    } finally {
      overrideSubgroupLanes(null);
    }
    // lavapipe's 8 lanes keep their own rule: l1 at scale 8 direct in every direction (128 blocks).
    expect(cpu4('forward', [2, 32, 32, 32], 32)).toBe('direct');
    expect(cpu4('backwardWeight', [2, 32, 32, 64], 64)).toBe('direct');
  });

  it('a sample too large for the workspace is a LimitError naming the op, and nothing leaks', async () => {
    const d = caseData(CASES[0], 7600);
    const g = conv2dGeometry(d.xShape, d.wShape, d.opts);
    const [x, w] = [fromNd(d.x.data, d.xShape), fromNd(d.w.data, d.wShape)];
    await dn.sync();
    const before = dn.memory().bytesInUse;
    setWinogradWorkspace(1024);
    try {
      expect(() => forwardGemm(g, x, w, null, undefined, 'winograd')).toThrow(LimitError);
      expect(() => forwardGemm(g, x, w, null, undefined, 'winograd')).toThrow(/conv2d\.forward: Winograd's transforms of one sample of \[1,12,12,16\]/);
    } finally {
      setWinogradWorkspace(null);
    }
    expect(dn.memory().bytesInUse).toBe(before);
    x.dispose();
    w.dispose();
  });
});
