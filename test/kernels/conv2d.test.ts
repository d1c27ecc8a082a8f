import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import {
  backwardInputGemm,
  backwardWeightGemm,
  conv2d,
  conv2dBackwardBias,
  conv2dBackwardInput,
  conv2dBackwardWeight,
  conv2dForward,
  conv2dGeometry,
  conv2dOutputShape,
  forwardGemm,
  type Conv2dOptions,
} from '../../src/kernels/conv2d.js';
import { overrideSubgroupLanes, setConvTile } from '../../src/kernels/conv2d-launch.js';
import { columnTilesPerGroup, splitKCount } from '../../src/kernels/conv2d-wgrad-split.js';
import type { ConvFamily } from '../../src/kernels/conv2d-gemm.js';
import { CONV_TILE, formatGemmTile, NARROW_TILE, parseGemmTile, SLIM_DEEP_TILE, SLIM_TILE, tiledTileFor, WIDE_TILE } from '../../src/kernels/conv2d-tiled.js';
import { subgroupTile, tileFit } from '../../src/kernels/conv2d-subgroup.js';
import { conv2dBackwardInputNaive, conv2dBackwardWeightNaive, conv2dForwardNaive } from '../../src/kernels/conv2d-naive.js';
import { runtime } from '../../src/gpu/runtime.js';
import { nd, type NdArray } from '../../src/reference/array.js';
import { conv2dBackwardRef, conv2dForwardRef } from '../../src/reference/conv.js';
import { expectClose } from '../helpers/close.js';
import { checkGrad } from '../helpers/finite-diff.js';
import { convCaseData, type ConvCase } from '../helpers/conv-case.js';
import { fromNd, useGpu } from '../helpers/gpu.js';

useGpu();

// GPU results are float32 sums of up to K = 1152 products of values in [-1, 1] (K = kh·kw·Cin forward,
// kh·kw·Cout for dx, N·Ho·Wo for dw), accumulated in a different order from the float64 loops. The
// rounding error grows like sqrt(K)·2^-24 times the partial sums (|partial| ≲ sqrt(K)), i.e. ~1e-5 at
// K = 1000, with a worst case a few times that: atol 1e-4 with rtol 1e-4 holds with margin, and an
// indexing bug (a missed or doubled tap of size ~0.1-1) still fails by orders of magnitude.
const TOL = { atol: 1e-4, rtol: 1e-4 };

/** Both GEMM families run wherever the adapter allows, whichever the default picks on it. */
function families(): ConvFamily[] {
  return runtime().device.features.has('subgroups') ? ['tiled', 'subgroup'] : ['tiled'];
}

const CASES = [
  { name: 'k3 s1 same', x: [1, 5, 6, 2], k: [3, 3], cout: 3, opts: { stride: 1, padding: 'same' } },
  { name: 'k3 s2 same, odd sizes, batch 2', x: [2, 7, 9, 3], k: [3, 3], cout: 5, opts: { stride: 2, padding: 'same' } },
  { name: 'k3 s2 valid, rows left over', x: [2, 7, 9, 3], k: [3, 3], cout: 5, opts: { stride: 2, padding: 'valid' } },
  { name: 'k7 s1 same', x: [1, 9, 7, 3], k: [7, 7], cout: 4, opts: { stride: 1, padding: 'same' } },
  { name: 'k7 s2 same', x: [2, 8, 11, 2], k: [7, 7], cout: 3, opts: { stride: 2, padding: 'same' } },
  { name: 'k1 s2 valid (phases without taps)', x: [2, 8, 7, 4], k: [1, 1], cout: 6, opts: { stride: 2, padding: 'valid' } },
  { name: 'k1 s1 Cout 1', x: [1, 6, 5, 7], k: [1, 1], cout: 1, opts: {} },
  { name: 'k2 s2 valid', x: [2, 6, 8, 3], k: [2, 2], cout: 8, opts: { stride: 2, padding: 'valid' } },
  { name: '3x5 kernel, stride [2, 1], explicit pads', x: [1, 6, 7, 5], k: [3, 5], cout: 3, opts: { stride: [2, 1], padding: [1, 0, 2, 1] } },
  { name: 'k3 padding 1, stride 3', x: [2, 7, 8, 3], k: [3, 3], cout: 2, opts: { stride: 3, padding: 1 } },
  { name: 'several tiles in M and K', x: [2, 20, 20, 16], k: [3, 3], cout: 24, opts: { padding: 'same' } },
  { name: 'several tiles in M, N and K', x: [1, 12, 12, 70], k: [3, 3], cout: 72, opts: { padding: 'same' } },
  { name: 'split-K weight gradient', x: [2, 24, 24, 4], k: [3, 3], cout: 8, opts: { padding: 'same' } },
  // M <= 16 with Cin and Cout multiples of 4: the subgroup family's 8- and 16-row tiles walking K
  // by four with vec4 loads (forward: x and w; backward input: dy and w), columns not a multiple of 32.
  { name: '2x2 images, K walked by four', x: [2, 2, 2, 8], k: [3, 3], cout: 12, opts: { padding: 'same' } },
  { name: 'a 16-row tile, K walked by four', x: [4, 2, 2, 4], k: [3, 3], cout: 8, opts: { padding: 'same' } },
  { name: 'a half-empty 16-row tile, weights four channels at a time', x: [3, 2, 2, 8], k: [3, 3], cout: 16, opts: { padding: 'same' } },
  { name: 'stride-2 phases of 6 rows, K walked by four', x: [1, 4, 6, 4], k: [3, 3], cout: 8, opts: { stride: 2, padding: 'same' } },
  // The backward input's 8 columns per lane in 4-lane workgroups of at most 8 rows and 32 columns
  // or more (wideColumns): 36 input channels (a second tile with 4 columns left), K by four and,
  // with Cout 6, one at a time.
  { name: '2x2 images, 36 input channels', x: [2, 2, 2, 36], k: [3, 3], cout: 8, opts: { padding: 'same' } },
  { name: '2x4 image, 40 input channels, Cout 6', x: [1, 2, 4, 40], k: [3, 3], cout: 6, opts: { padding: 'same' } },
  // The 32-row tile walking K by four too; 'several tiles in M and K' above reads the forward's
  // weights four output channels at a time (Cout 24), this one cannot (Cout 10: one at a time).
  { name: '32-row tiles, K walked by four, Cout not a multiple of 4', x: [2, 6, 5, 8], k: [3, 3], cout: 10, opts: { padding: 'same' } },
  // A weight gradient with K = 6 pixels and 27 x 5 tiles: each subgroup workgroup takes two column
  // tiles in turn, the last one only one (its second would start past Cout).
  { name: 'weight gradient, two column tiles per workgroup', x: [1, 2, 3, 96], k: [3, 3], cout: 160, opts: { padding: 'same' } },
  // The weight gradient walking pixels two at a time (rows of 8 or more): an odd row (a last
  // pixel alone), and stride 2.
  { name: 'weight gradient by pixel pairs, rows of 9', x: [1, 3, 9, 8], k: [3, 3], cout: 12, opts: { padding: 'same' } },
  { name: 'weight gradient by pixel pairs, stride 2', x: [1, 6, 19, 8], k: [3, 3], cout: 12, opts: { stride: 2, padding: 'same' } },
  // The tiled family's wide tile (N >= 128, tiledTileFor): a forward of 136 columns over 156
  // pixels (two row and two column tiles, the second ones partial), and a backward input of 136.
  { name: 'wide tiles: Cout 136 over 156 pixels', x: [1, 12, 13, 24], k: [3, 3], cout: 136, opts: { padding: 'same' } },
  { name: 'wide tiles: 136 input channels', x: [1, 5, 6, 136], k: [3, 3], cout: 20, opts: { padding: 'same' } },
] as const satisfies readonly { name: string; x: number[]; k: number[]; cout: number; opts: Conv2dOptions }[];

/** Finite differences cost two forwards per element: only the small cases. */
const FD_MAX_ELEMENTS = 400;

const caseData = (cs: (typeof CASES)[number], seed: number) => convCaseData(cs as ConvCase, seed);

describe('conv2d', () => {
  for (const [k, cs] of CASES.entries()) {
    const d = caseData(cs, 1000 + 10 * k);

    if (d.x.data.length + d.w.data.length <= FD_MAX_ELEMENTS) {
      it(`${cs.name}: CPU backward matches finite differences`, () => {
        const { dx, dw, db } = conv2dBackwardRef(d.x, d.w, d.dy, d.opts);
        const r = d.dy.data;
        checkGrad(`${cs.name} dx`, (v) => conv2dForwardRef(nd(v, d.xShape), d.w, d.b, d.opts), d.x.data, r, dx.data);
        checkGrad(`${cs.name} dw`, (v) => conv2dForwardRef(d.x, nd(v, d.wShape), d.b, d.opts), d.w.data, r, dw.data);
        checkGrad(`${cs.name} db`, (v) => conv2dForwardRef(d.x, d.w, nd(v, [cs.cout]), d.opts), d.b.data, r, db.data);
      });
    }

    it(`${cs.name}: GPU forward (every kernel family and the naive kernel) matches CPU`, async () => {
      const want = conv2dForwardRef(d.x, d.w, d.b, d.opts);
      const wantNoBias = conv2dForwardRef(d.x, d.w, null, d.opts);
      expect(conv2dOutputShape(d.xShape, d.wShape, d.opts)).toEqual(d.yShape);
      const g = conv2dGeometry(d.xShape, d.wShape, d.opts);
      const [x, w, b] = [fromNd(d.x.data, d.xShape), fromNd(d.w.data, d.wShape), fromNd(d.b.data, [cs.cout])];
      const outs: [string, dn.Tensor, NdArray][] = dn.scope(() => [
        ['default', conv2dForward(x, w, b, d.opts), want],
        ['naive', conv2dForwardNaive(x, w, b, d.opts), want],
        ...families().flatMap((f): [string, dn.Tensor, NdArray][] => [
          [f, forwardGemm(g, x, w, b, f, 'direct'), want],
          [`${f} without bias`, forwardGemm(g, x, w, null, f, 'direct'), wantNoBias],
        ]),
      ]);
      for (const [what, y, ref] of outs) {
        expect(y.shape).toEqual(d.yShape);
        expectClose(`${cs.name} forward (${what})`, await y.toArray(), ref.data, TOL);
      }
      for (const t of [x, w, b, ...outs.map((o) => o[1])]) t.dispose();
    });

    it(`${cs.name}: GPU backward (every kernel family, naive, autograd) matches CPU`, async () => {
      const want = conv2dBackwardRef(d.x, d.w, d.dy, d.opts);
      const g = conv2dGeometry(d.xShape, d.wShape, d.opts);
      const x = fromNd(d.x.data, d.xShape, true);
      const w = fromNd(d.w.data, d.wShape, true);
      const b = fromNd(d.b.data, [cs.cout], true);
      const dy = fromNd(d.dy.data, d.yShape);
      const outs: [string, dn.Tensor, NdArray][] = dn.scope(() => [
        ['dx (default)', conv2dBackwardInput(dy, w, d.xShape, d.opts), want.dx],
        ['dx (naive)', conv2dBackwardInputNaive(dy, w, d.xShape, d.opts), want.dx],
        ['dw (default)', conv2dBackwardWeight(dy, x, d.wShape, d.opts), want.dw],
        ['dw (naive)', conv2dBackwardWeightNaive(dy, x, d.wShape, d.opts), want.dw],
        ['db', conv2dBackwardBias(dy), want.db],
        ...families().flatMap((f): [string, dn.Tensor, NdArray][] => [
          [`dx (${f})`, backwardInputGemm(g, dy, w, null, f, 'direct'), want.dx],
          [`dw (${f})`, backwardWeightGemm(g, dy, x, f), want.dw],
        ]),
      ]);
      for (const [what, got, ref] of outs) expectClose(`${cs.name} ${what}`, await got.toArray(), ref.data, TOL);
      const y = conv2d(x, w, b, d.opts);
      y.backward(dy);
      expectClose(`${cs.name} x.grad`, await x.grad!.toArray(), want.dx.data, TOL);
      expectClose(`${cs.name} w.grad`, await w.grad!.toArray(), want.dw.data, TOL);
      expectClose(`${cs.name} b.grad`, await b.grad!.toArray(), want.db.data, TOL);
      for (const t of [x, w, b, dy, y, ...outs.map((o) => o[1])]) t.dispose();
    });
  }

  /**
   * Runs the three GEMM directions of `family` on every case under a setting (`set` applies it,
   * `reset` undoes it even on failure) and compares them with the CPU reference.
   */
  async function everyCaseMatches(label: string, family: ConvFamily, set: () => void, reset: () => void): Promise<void> {
    for (const [k, cs] of CASES.entries()) {
      const d = caseData(cs, 1000 + 10 * k);
      const want = conv2dBackwardRef(d.x, d.w, d.dy, d.opts);
      const wantY = conv2dForwardRef(d.x, d.w, d.b, d.opts);
      const g = conv2dGeometry(d.xShape, d.wShape, d.opts);
      const [x, w, b, dy] = [fromNd(d.x.data, d.xShape), fromNd(d.w.data, d.wShape), fromNd(d.b.data, [cs.cout]), fromNd(d.dy.data, d.yShape)];
      set();
      let outs: [string, dn.Tensor, NdArray][];
      try {
        outs = [
          ['forward', forwardGemm(g, x, w, b, family, 'direct'), wantY],
          ['dx', backwardInputGemm(g, dy, w, null, family, 'direct'), want.dx],
          ['dw', backwardWeightGemm(g, dy, x, family), want.dw],
        ];
      } finally {
        reset();
      }
      for (const [what, got, ref] of outs) expectClose(`${cs.name} ${what} (${label})`, await got.toArray(), ref.data, TOL);
      for (const t of [x, w, b, dy, ...outs.map((o) => o[1])]) t.dispose();
    }
  }

  // The 4-lane workgroups Chrome's SwiftShader gets (its subgroups have 4 lanes) also run on
  // lavapipe's 8-lane subgroups, as a part of one: every case, all three directions.
  it('4-lane subgroup kernels match CPU in every case', async (ctx) => {
    if (!runtime().device.features.has('subgroups')) ctx.skip();
    await everyCaseMatches('4 lanes', 'subgroup', () => overrideSubgroupLanes(4), () => overrideSubgroupLanes(null));
  });

  // Tiles forced on every GEMM: 8x8 per thread over 16-deep slices, and with the rule's tiles all
  // of TUNING_TILES (tuneConvs may pick any of them): 256 rows of 32 or 64 columns, 8-deep 64x64,
  // and the two 32-deep ones that take a K of up to 32 in one slice.
  it.each(['128x128x16/8x8', '256x32x8/8x4', '256x64x8/8x8', '64x64x8/4x4', '64x64x32/4x4', '64x32x32/4x4'])('the tiled kernels with the tile %s match CPU in every case', async (tile) => {
    await everyCaseMatches(tile, 'tiled', () => setConvTile(parseGemmTile(tile)), () => setConvTile(null));
  });

  it('4-lane workgroups of at most 8 rows take 8 columns per lane where columns are read one at a time', () => {
    const bi = (cin: number, cout: number) => tileFit('backwardInput', { cin, cout, wo: 2 });
    expect(subgroupTile(8, 512, bi(512, 512), 4)).toMatchObject({ tm: 8, tn: 8 });
    expect(subgroupTile(8, 32, bi(32, 8), 4).tn).toBe(8);
    // Fewer columns, more rows, 8 lanes, or a forward reading its weights as vec4s: 4.
    expect(subgroupTile(8, 28, bi(28, 8), 4).tn).toBe(4);
    expect(subgroupTile(12, 512, bi(512, 512), 4).tn).toBe(4);
    expect(subgroupTile(8, 512, bi(512, 512), 8).tn).toBe(4);
    expect(subgroupTile(8, 512, tileFit('forward', { cin: 512, cout: 512, wo: 2 }), 4)).toMatchObject({ tn: 4, nVec4: true });
  });

  it('the tiled family picks its tile by the GEMM\'s columns', () => {
    expect(tiledTileFor('forward', 512)).toBe(WIDE_TILE);
    expect(tiledTileFor('backwardInput', 128)).toBe(WIDE_TILE);
    expect(tiledTileFor('forward', 127)).toBe(NARROW_TILE);
    expect(tiledTileFor('backwardInput', 33)).toBe(NARROW_TILE);
    expect(tiledTileFor('forward', 32)).toBe(SLIM_TILE);
    expect(tiledTileFor('backwardInput', 17)).toBe(SLIM_TILE);
    expect(tiledTileFor('forward', 16)).toBe(CONV_TILE);
    expect(tiledTileFor('backwardWeight', 32)).toBe(SLIM_DEEP_TILE);
    expect(tiledTileFor('backwardWeight', 64)).toBe(CONV_TILE);
    expect(tiledTileFor('backwardWeight', 256)).toBe(WIDE_TILE);
    expect(tiledTileFor('backwardWeight', 512)).toBe(CONV_TILE);
    // The tiles are ones parseGemmTile accepts.
    for (const t of [WIDE_TILE, NARROW_TILE, SLIM_TILE, SLIM_DEEP_TILE]) expect(parseGemmTile(formatGemmTile(t))).toEqual(t);
  });

  it('parseGemmTile reads a tile and says what is wrong with a bad one', () => {
    expect(parseGemmTile('64x64x16/4x4')).toEqual({ bm: 64, bn: 64, bk: 16, tm: 4, tn: 4 });
    expect(() => parseGemmTile('64x64')).toThrow(/BMxBNxBK\/TMxTN/);
    expect(() => parseGemmTile('64x64x16/6x4')).toThrow(/multiples of 4/);
    expect(() => parseGemmTile('128x128x16/4x4')).toThrow(/1024 threads/);
    expect(() => parseGemmTile('128x128x32/8x8')).toThrow(/16 KiB/);
  });

  it('the subgroup weight gradient groups column tiles only where tiles are many and K short', () => {
    const geometry = (x: readonly number[], cout: number) => conv2dGeometry([...x], [3, 3, x[3], cout], { padding: 'same' });
    const twoPerGroup = CASES.find((c) => c.name.startsWith('weight gradient, two column tiles'))!;
    expect(columnTilesPerGroup(geometry(twoPerGroup.x, twoPerGroup.cout), 'subgroup', 1)).toBe(2);
    expect(columnTilesPerGroup(geometry(twoPerGroup.x, twoPerGroup.cout), 'tiled', 1)).toBe(1);
    expect(columnTilesPerGroup(geometry([2, 20, 20, 16], 24), 'subgroup', 1)).toBe(1);
  });

  it('split-K gives the same weight gradient for any number of slices', async () => {
    const d = caseData(CASES[12], 77);
    const g = conv2dGeometry(d.xShape, d.wShape, d.opts);
    expect(splitKCount(g, 'tiled')).toBeGreaterThan(1);
    const want = conv2dBackwardRef(d.x, d.w, d.dy, d.opts).dw;
    const [x, dy] = [fromNd(d.x.data, d.xShape), fromNd(d.dy.data, d.yShape)];
    // K = 1152 pixels, 72 steps of 16: 5 slices leave a short last one, 100 asks for more slices
    // than there are steps.
    for (const f of families()) {
      for (const splits of [1, 2, 5, 100]) {
        const dw = backwardWeightGemm(g, dy, x, f, splits);
        expectClose(`dw (${f}) with ${splits} K slices`, await dw.toArray(), want.data, TOL);
        dw.dispose();
      }
    }
    x.dispose();
    dy.dispose();
  });

  it('computes only the gradients that are needed', async () => {
    const d = caseData(CASES[1], 88);
    const want = conv2dBackwardRef(d.x, d.w, d.dy, d.opts);
    const x = fromNd(d.x.data, d.xShape);
    const w = fromNd(d.w.data, d.wShape, true);
    const dy = fromNd(d.dy.data, d.yShape);
    const y = conv2d(x, w, null, d.opts);
    y.backward(dy);
    expect(x.grad).toBeNull();
    expectClose('w.grad with a frozen input', await w.grad!.toArray(), want.dw.data, TOL);
    for (const t of [x, w, dy, y]) t.dispose();
  });

  it("'same' padding follows TensorFlow", () => {
    // Ho = ceil(7 / 2) = 4, Wo = ceil(9 / 2) = 5. k 4, s 1 on 8: total padding 3, the odd pixel after;
    // k 3, s 2 on 8: total max(3·2 + 3 − 8, 0) = 1, all of it after.
    expect(conv2dOutputShape([1, 7, 9, 3], [3, 3, 3, 5], { stride: 2, padding: 'same' })).toEqual([1, 4, 5, 5]);
    const g = conv2dGeometry([1, 8, 8, 1], [4, 4, 1, 1], { stride: 1, padding: 'same' });
    expect([g.padTop, g.padBottom, g.ho]).toEqual([1, 2, 8]);
    const g2 = conv2dGeometry([1, 8, 8, 1], [3, 3, 1, 1], { stride: 2, padding: 'same' });
    expect([g2.padTop, g2.padBottom, g2.ho]).toEqual([0, 1, 4]);
  });

  it('rejects bad shapes and options with ShapeError', () => {
    dn.scope(() => {
      const x = dn.zeros([1, 8, 8, 3]);
      const w3 = dn.zeros([3, 3, 3, 8]);
      const dy = dn.zeros([1, 8, 8, 7]);
      expect(() => conv2d(x, dn.zeros([3, 3, 4, 8]))).toThrow(dn.ShapeError);
      expect(() => conv2d(dn.zeros([8, 8, 3]), w3)).toThrow(dn.ShapeError);
      expect(() => conv2d(x, dn.zeros([3, 3, 3]))).toThrow(dn.ShapeError);
      expect(() => conv2d(x, w3, null, { stride: 0 })).toThrow(dn.ShapeError);
      expect(() => conv2d(x, w3, null, { stride: 1.5 })).toThrow(dn.ShapeError);
      expect(() => conv2d(x, w3, null, { stride: [1, 2, 3] as unknown as [number, number] })).toThrow(dn.ShapeError);
      expect(() => conv2d(x, w3, null, { padding: -1 })).toThrow(dn.ShapeError);
      expect(() => conv2d(x, w3, null, { padding: [1, 1] as unknown as [number, number, number, number] })).toThrow(dn.ShapeError);
      expect(() => conv2d(x, dn.zeros([9, 9, 3, 8]), null, { padding: 'valid' })).toThrow(dn.ShapeError);
      expect(() => conv2d(x, w3, dn.zeros([7]))).toThrow(dn.ShapeError);
      expect(() => conv2dBackwardInput(dy, w3, [1, 8, 8, 3], { padding: 'same' })).toThrow(dn.ShapeError);
      expect(() => conv2dBackwardWeight(dy, x, [3, 3, 3, 8], { padding: 'same' })).toThrow(dn.ShapeError);
      expect(() => conv2dOutputShape([1, 32, 32, 3], [3, 3, 4, 8], {})).toThrow(dn.ShapeError);
    });
  });
});
