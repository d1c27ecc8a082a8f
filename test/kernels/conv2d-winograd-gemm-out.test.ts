// The staged Winograd's GEMMs and output transform in one kernel (src/kernels/conv2d-winograd-gemm-out.ts),
// lavapipe's path for K <= 128 with K and N in vec4s: which convs take it, and its forward and
// backward input against the float64 reference with a bias, with the fused ReLU and in chunks,
// over row tiles whose last is partial, a second column tile with one lane of four channels, and
// blocks past the output's edge. The same shapes staged (the kernel turned off) give the same
// answers, and dispatch the GEMM and output transform instead.

import { afterEach, describe, expect, it } from 'vitest';
import type * as dn from '../../src/index.js';
import { backwardInputGemm, conv2dGeometry, forwardGemm, type ConvGeometry } from '../../src/kernels/conv2d.js';
import { setWinogradWorkspace, winogradChunkBytes } from '../../src/kernels/conv2d-winograd-run.js';
import { gemmOutFits, GEMM_OUT_MAX_K, withWinogradGemmOutWay } from '../../src/kernels/conv2d-winograd-gemm-out.js';
import { defaultConvFamily, familyLanes } from '../../src/kernels/conv2d-launch.js';
import { SUBGROUP_LANES } from '../../src/kernels/conv2d-subgroup.js';
import { conv2dBackwardRef, conv2dForwardRef } from '../../src/reference/conv.js';
import { expectClose, winogradTolerance } from '../helpers/close.js';
import { dispatched } from '../helpers/dispatched.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { winogradCaseData, type WinogradCase } from '../helpers/winograd-case.js';

useGpu();

afterEach(() => {
  setWinogradWorkspace(null);
});

/** Whether this adapter runs the kernel at all: lavapipe's 8-lane subgroup family. */
const runsHere = (): boolean => defaultConvFamily() === 'subgroup' && familyLanes('subgroup') === SUBGROUP_LANES;

const KERNEL = 'conv2d.winogradGemmOut';
const STAGED = ['conv2d.forwardBatchedSubgroup', 'conv2d.winogradOutput'];

const CASES: readonly WinogradCase[] = [
  // 2·3·3 = 18 blocks: a tile of 16 and one of 2; 16 channels out, so lanes 4-7 own none.
  { name: "'same', batch 2, 16 channels to 16", x: [2, 12, 12, 16], cout: 16, opts: { padding: 'same' } },
  // 36 channels out: a second column tile in which one lane owns channels; 3x3 blocks, the last
  // row and column of them partly past the 9x11 output.
  { name: '8 channels to 36, odd sizes', x: [1, 9, 11, 8], cout: 36, opts: { padding: 'same' } },
  { name: "K 128 (the most it takes) to 20, 'valid'", x: [1, 10, 7, GEMM_OUT_MAX_K], cout: 20, opts: { padding: 'valid' } },
];

describe('gemmOutFits', () => {
  it('takes K and N in vec4s, K up to 128, on the 8-lane subgroup family only', () => {
    const lanes8 = runsHere();
    expect(gemmOutFits('subgroup', { k: 32, n: 32 })).toBe(lanes8);
    expect(gemmOutFits('subgroup', { k: GEMM_OUT_MAX_K, n: 4 })).toBe(lanes8);
    expect(gemmOutFits('subgroup', { k: GEMM_OUT_MAX_K + 4, n: 32 })).toBe(false);
    expect(gemmOutFits('subgroup', { k: 6, n: 32 })).toBe(false);
    expect(gemmOutFits('subgroup', { k: 32, n: 6 })).toBe(false);
    expect(gemmOutFits('tiled', { k: 32, n: 32 })).toBe(false);
    withWinogradGemmOutWay('staged', () => expect(gemmOutFits('subgroup', { k: 32, n: 32 })).toBe(false));
  });
});

describe('Winograd with its GEMMs and output transform in one kernel', () => {
  for (const [i, cs] of CASES.entries()) {
    it(`${cs.name}: forward (bias, ReLU) and dx match the reference, whole and in chunks, and the staged path`, async () => {
      if (!runsHere()) {
        expect(gemmOutFits(defaultConvFamily(), { k: 32, n: 32 })).toBe(false);
        return;
      }
      const d = winogradCaseData(cs, 8100 + 10 * i);
      const g = conv2dGeometry(d.xShape, d.wShape, d.opts);
      const family = defaultConvFamily();
      expect(gemmOutFits(family, { k: g.cin, n: g.cout }), 'forward').toBe(true);
      const wantY = conv2dForwardRef(d.x, d.w, d.b, d.opts).data;
      const wantRelu = wantY.map((v) => Math.max(v, 0));
      const wantDx = conv2dBackwardRef(d.x, d.w, d.dy, d.opts).dx.data;
      const [x, w, b, dy] = [fromNd(d.x.data, d.xShape), fromNd(d.w.data, d.wShape), fromNd(d.b.data, [g.cout]), fromNd(d.dy.data, d.yShape)];
      const dxFits = gemmOutFits(family, { k: g.cout, n: g.cin });
      const run = (what: string, f: () => dn.Tensor, fused: boolean): dn.Tensor => {
        let out: dn.Tensor | null = null;
        const names = dispatched(() => {
          out = f();
        });
        if (fused) {
          expect(names, what).toContain(KERNEL);
          for (const k of STAGED) expect(names, what).not.toContain(k);
        } else {
          expect(names, what).not.toContain(KERNEL);
        }
        return out!;
      };
      const oneSample = (dir: 'forward' | 'backwardInput', geom: ConvGeometry) => {
        const { v, m } = winogradChunkBytes(dir, geom, 1, family);
        return v + m;
      };
      try {
        for (const [label, on, workspace] of [['whole', true, null], ['in chunks of a sample', true, 'sample'], ['staged', false, null]] as const) {
          const outs = withWinogradGemmOutWay(on ? 'one-kernel' : 'staged', () => {
            setWinogradWorkspace(workspace ? oneSample('forward', g) : null);
            const made: [string, dn.Tensor, ArrayLike<number>, number][] = [
              ['forward + bias', run(`forward ${label}`, () => forwardGemm(g, x, w, b, family, 'winograd'), on), wantY, g.cin],
              ['forward + bias, ReLU', run(`relu ${label}`, () => forwardGemm(g, x, w, b, family, 'winograd', true), on), wantRelu, g.cin],
            ];
            setWinogradWorkspace(workspace ? oneSample('backwardInput', g) : null);
            made.push(['dx', run(`dx ${label}`, () => backwardInputGemm(g, dy, w, null, family, 'winograd'), on && dxFits), wantDx, g.cout]);
            return made;
          });
          for (const [what, got, want, kSum] of outs) {
            expectClose(`${cs.name} ${what} (${label})`, await got.toArray(), want, winogradTolerance(kSum));
            got.dispose();
          }
        }
      } finally {
        for (const t of [x, w, b, dy]) t.dispose();
      }
    });
  }

  it('a forward dispatches the weight and input transforms and the kernel, nothing else (18 blocks to 36 channels)', () => {
    if (!runsHere()) return;
    const g = conv2dGeometry([2, 12, 12, 16], [3, 3, 16, 36], { padding: 'same' });
    const [x, w] = [fromNd(new Float32Array(2 * 12 * 12 * 16), [2, 12, 12, 16]), fromNd(new Float32Array(3 * 3 * 16 * 36), [3, 3, 16, 36])];
    const names = dispatched(() => forwardGemm(g, x, w, null, defaultConvFamily(), 'winograd').dispose());
    expect(names).toEqual(['conv2d.winogradWeights', 'conv2d.winogradInput', KERNEL]);
    x.dispose();
    w.dispose();
  });
});
