import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { backwardInputGemm, conv2d, conv2dGeometry, forwardGemm, type Conv2dOptions } from '../../src/kernels/conv2d.js';
import { convAlgorithm, setConvAlgorithm } from '../../src/kernels/conv2d-winograd-run.js';
import { currentFusedLayout, fusedSliceDepth, setFusedGroups, setFusedSliceDepth, setFusedTile, winogradFusedConv } from '../../src/kernels/conv2d-winograd-fused.js';
import { DEFAULT_FUSED_TILE, fusedLayout, type FusedTile } from '../../src/kernels/conv2d-winograd-fused-layout.js';
import { columnItems } from '../../src/kernels/conv2d-winograd-fused-staging.js';
import { runtime } from '../../src/gpu/runtime.js';
import { conv2dBackwardRef, conv2dForwardRef } from '../../src/reference/conv.js';
import { expectClose, winogradTolerance, winogradWeightGradTolerance } from '../helpers/close.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { winogradCaseData, type WinogradCase } from '../helpers/winograd-case.js';

useGpu();

// Shapes for the fused kernel's edges: more blocks than one workgroup's 32 (several block tiles,
// the last one partial), blocks past the output's edge, one-sided and 'valid' padding, channel
// counts in (K) that do not fill a slice or are odd, and output channels (N, multiples of 4) that
// give 1, 3 or 8 channel groups per workgroup (so 32-256 threads staging the slice's 32·CK pairs
// in one or several turns) and several channel tiles, the last one partial. Each kernel variant
// costs lavapipe ~10 s of compiling (36 vec4 loads of U, each a loop over the lanes there), so the
// cases share eight: `runs` says which outputs a case checks (y, y without bias, dx, dx + bias);
// dx's output channels are the conv's input channels.
type Run = 'y' | 'y0' | 'dx' | 'dxb';
const CASES = [
  { name: "'same', batch 2, 112 blocks", x: [2, 30, 26, 8], cout: 8, opts: { padding: 'same' }, runs: ['y', 'dx'] },
  { name: 'odd K, one channel group', x: [1, 9, 11, 5], cout: 4, opts: { padding: 'same' }, runs: ['y0'] },
  { name: "'valid', three channel groups", x: [2, 10, 13, 8], cout: 12, opts: { padding: 'valid' }, runs: ['y', 'dxb'] },
  { name: 'explicit pads [2, 0, 1, 2]', x: [1, 7, 8, 4], cout: 8, opts: { padding: [2, 0, 1, 2] }, runs: ['y0', 'dx'] },
  { name: 'K 64, N 40: two channel tiles', x: [1, 8, 8, 64], cout: 40, opts: { padding: 'same' }, runs: ['y', 'dx'] },
  { name: 'batch 3, N 136: five channel tiles', x: [3, 9, 6, 12], cout: 136, opts: { padding: 'same' }, runs: ['y0', 'dxb'] },
] as const satisfies readonly { name: string; x: number[]; cout: number; opts: Conv2dOptions; runs: readonly Run[] }[];

const caseData = (cs: (typeof CASES)[number], seed: number) => winogradCaseData(cs as WinogradCase, seed);

describe('conv2d by fused Winograd', () => {
  it('takes the deepest slice that fits the workgroup memory, and refuses a depth that does not', () => {
    const limits = runtime().limits;
    const layout = currentFusedLayout(8);
    const bytes = layout.shVec4s * 16;
    expect(bytes).toBeLessThanOrEqual(limits.maxComputeWorkgroupStorageSize);
    expect(layout.threads).toBeLessThanOrEqual(limits.maxComputeInvocationsPerWorkgroup);
    expect(layout.threads, '36 groups of threads, one per ξ').toBe(36 * (layout.bt / layout.tb) * layout.sn);
    const deeper = [8, 4, 2, 1][[8, 4, 2, 1].indexOf(layout.ck) - 1];
    if (deeper) expect(() => fusedLayout(8, 8, DEFAULT_FUSED_TILE, deeper, limits)).toThrow(RangeError);
    expect(fusedSliceDepth()).toBe(layout.ck);
    expect(() => setFusedSliceDepth(3)).toThrow(RangeError);
    expect(fusedSliceDepth(), 'unchanged by the refused call').toBe(layout.ck);
  });

  it('fits any device: halves the blocks (then widens the thread tile) until threads and memory fit', () => {
    // An H200's limits: the default tile as it is, 576 threads for 32 channels.
    const h200 = { maxComputeWorkgroupStorageSize: 49152, maxComputeInvocationsPerWorkgroup: 1024 };
    expect(fusedLayout(8, 8, DEFAULT_FUSED_TILE, null, h200)).toMatchObject({ bt: 16, tb: 4, nb4: 2, sn: 4, nt4: 8, ck: 8, threads: 576, passes: 2 });
    // SwiftShader's 256 threads: 16 blocks -> 4 (144 threads).
    expect(fusedLayout(8, 8, DEFAULT_FUSED_TILE, null, { maxComputeWorkgroupStorageSize: 32768, maxComputeInvocationsPerWorkgroup: 256 })).toMatchObject({ bt: 4, sn: 4, threads: 144 });
    // 256 threads with 4-channel thread tiles: one block subtile is still 36 · 8 = 288, so the tile widens to 8 channels.
    expect(fusedLayout(8, 8, { ...DEFAULT_FUSED_TILE, threadChannels: 4 }, null, { maxComputeWorkgroupStorageSize: 32768, maxComputeInvocationsPerWorkgroup: 256 })).toMatchObject({ bt: 4, nb4: 2, sn: 4, threads: 144 });
    // WebGPU's minimum 16 KiB: 16 blocks, M handed over a vec4 of channels (9 KiB) a pass.
    const small = fusedLayout(8, 8, DEFAULT_FUSED_TILE, null, { maxComputeWorkgroupStorageSize: 16384, maxComputeInvocationsPerWorkgroup: 1024 });
    expect(small).toMatchObject({ bt: 16, ck: 4, pw4: 1, passes: 8 });
    expect(small.shVec4s * 16).toBeLessThanOrEqual(16384);
    // The split staging's column items a thread: 16 blocks x 8 channels x 6 columns over 576
    // threads, 2 (12 floats held across the GEMM). 32 blocks of 8x16 tiles: 288 threads, whose
    // V and E fit in slices of 4 (41 KiB), 3 items each; M handed over 8 channels a pass, so that
    // a thread's 16 channels go in two.
    const split = { ...DEFAULT_FUSED_TILE, splitStaging: true };
    const l576 = fusedLayout(8, 8, split, null, h200);
    expect([l576.threads, l576.ck, columnItems(l576)]).toEqual([576, 8, 2]);
    const l288 = fusedLayout(8, 8, { ...split, blocks: 32, threadBlocks: 8, threadChannels: 16 }, null, h200);
    expect([l288.bt, l288.threads, l288.ck, columnItems(l288), l288.pw4]).toEqual([32, 288, 4, 3, 2]);
    // No more blocks a workgroup than the conv has: 2 blocks (2x2 images) -> 4, 9 -> 16 (the default), never below a thread's.
    expect(fusedLayout(8, 8, DEFAULT_FUSED_TILE, null, h200, 2).bt).toBe(4);
    expect(fusedLayout(8, 8, DEFAULT_FUSED_TILE, null, h200, 9).bt).toBe(16);
    expect(fusedLayout(8, 8, { ...DEFAULT_FUSED_TILE, threadBlocks: 8 }, null, h200, 1).bt).toBe(8);
    // M's hand-over in whole passes: room for 3 of 8 channel vec4s a pass, so 2 a pass, 4 passes.
    expect(fusedLayout(8, 8, { ...DEFAULT_FUSED_TILE, threadBlocks: 8, threadChannels: 4 }, null, { maxComputeWorkgroupStorageSize: 32768, maxComputeInvocationsPerWorkgroup: 1024 })).toMatchObject({ bt: 16, nb4: 1, sn: 8, pw4: 2, passes: 4 });
    // Fewer output channels than a workgroup's: the tile narrows to them (12 channels: 8 + 4, one subtile partly past N).
    expect(fusedLayout(3, 8, DEFAULT_FUSED_TILE, null, h200)).toMatchObject({ nb4: 2, sn: 2, nt4: 4 });
    expect(fusedLayout(1, 8, DEFAULT_FUSED_TILE, null, h200)).toMatchObject({ nb4: 1, sn: 1, nt4: 1, threads: 144 });
    // V's planes: xs4 ≡ bt/4 (mod 8), so two ξ a warp read sit side by side in the banks.
    // (32 blocks at 16 channels a workgroup: 36 · 8 · 2 = 576 threads; at 32 channels 1152 would not fit.)
    expect(fusedLayout(8, 8, { ...DEFAULT_FUSED_TILE, blocks: 32 }, null, h200).bt).toBe(16);
    for (const bt of [8, 16, 32] as const) {
      const l = fusedLayout(8, 4, { ...DEFAULT_FUSED_TILE, blocks: bt }, 4, h200);
      expect(l.bt).toBe(bt);
      expect(l.xs4 % 8, `bt ${bt}`).toBe((bt / 4) % 8);
      expect(l.xs4).toBeGreaterThanOrEqual(4 * l.rs4);
    }
  });

  for (const [k, cs] of CASES.entries()) {
    it(`${cs.name}: ${cs.runs.join(', ')} match CPU`, async () => {
      const d = caseData(cs, 9000 + 10 * k);
      const g = conv2dGeometry(d.xShape, d.wShape, d.opts);
      const [x, w, b, bIn, dy] = [fromNd(d.x.data, d.xShape), fromNd(d.w.data, d.wShape), fromNd(d.b.data, [g.cout]), fromNd(d.bIn.data, [g.cin]), fromNd(d.dy.data, d.yShape)];
      const dxRef = () => conv2dBackwardRef(d.x, d.w, d.dy, d.opts).dx.data;
      const run: Record<Run, () => [dn.Tensor, ArrayLike<number>, number]> = {
        y: () => [forwardGemm(g, x, w, b, undefined, 'winograd-fused'), conv2dForwardRef(d.x, d.w, d.b, d.opts).data, g.cin],
        y0: () => [forwardGemm(g, x, w, null, undefined, 'winograd-fused'), conv2dForwardRef(d.x, d.w, null, d.opts).data, g.cin],
        dx: () => [backwardInputGemm(g, dy, w, null, undefined, 'winograd-fused'), dxRef(), g.cout],
        // dx + a bias over input channels: convTranspose2d's forward.
        dxb: () => [backwardInputGemm(g, dy, w, bIn, undefined, 'winograd-fused'), dxRef().map((v, i) => v + d.bIn.data[i % g.cin]), g.cout],
      };
      try {
        for (const what of cs.runs) {
          const [got, want, kSum] = run[what]();
          expectClose(`${cs.name} ${what}`, await got.toArray(), want, winogradTolerance(kSum));
          got.dispose();
        }
      } finally {
        for (const t of [x, w, b, bIn, dy]) t.dispose();
      }
    });
  }

  // Slices of one channel (no padding column: CK odd) and of four (stride 5), against the
  // adapter's own depth above (6 on lavapipe, 8 on an H200).
  it.each([1, 4])('slices of %i channels: forward matches CPU', async (ck) => {
    const d = caseData(CASES[0], 9100);
    const g = conv2dGeometry(d.xShape, d.wShape, d.opts);
    const [x, w] = [fromNd(d.x.data, d.xShape), fromNd(d.w.data, d.wShape)];
    setFusedSliceDepth(ck);
    let y: dn.Tensor;
    try {
      y = forwardGemm(g, x, w, null, undefined, 'winograd-fused');
    } finally {
      setFusedSliceDepth(null);
    }
    expectClose(`slice depth ${ck}`, await y.toArray(), conv2dForwardRef(d.x, d.w, null, d.opts).data, winogradTolerance(g.cin));
    for (const t of [x, w, y]) t.dispose();
  });

  // The tiles the probes time (setFusedTile), each on a case of two channel tiles: y
  // with bias and the fused ReLU, and dx + bias. Thread tiles of 8 blocks (two vec4s of V) and of
  // 4 or 16 channels, U staged in workgroup memory or read through the caches, workgroups of 4 to
  // 32 blocks, and 16-channel slices (with 8 blocks, where lavapipe's 32 KiB hold them).
  const TILES: [FusedTile, number | null][] = [
    [{ blocks: 32, threadBlocks: 8, threadChannels: 4, sharedU: true }, null],
    [{ blocks: 8, threadBlocks: 4, threadChannels: 16, sharedU: false }, 16],
    [{ blocks: 4, threadBlocks: 4, threadChannels: 8, sharedU: true }, 2],
    [{ blocks: 16, threadBlocks: 8, threadChannels: 16, sharedU: true }, null],
    // Split staging: two column items a thread (16 blocks x 8 channels x 6 columns over 576
    // threads), one with U staged too and slices of 2, one with 8 blocks and 16-channel slices.
    [{ ...DEFAULT_FUSED_TILE, splitStaging: true }, null],
    [{ blocks: 32, threadBlocks: 8, threadChannels: 8, sharedU: true, splitStaging: true }, 2],
    [{ blocks: 8, threadBlocks: 4, threadChannels: 8, sharedU: false, splitStaging: true }, 16],
  ];
  // 50 blocks (2 samples of 5x5), so that no tile is cut down to the conv's blocks; K 24 (a
  // partial slice of 16), N 40 (two channel tiles, the second partial; dx: 24 channels).
  const TILE_CASE = { name: 'tiles', x: [2, 18, 20, 24], cout: 40, opts: { padding: 'same' }, runs: [] } as const;
  it.each(TILES)('tile %o, slices of %s: y (bias, ReLU) and dx + bias match CPU', async (tile, depth) => {
    const d = winogradCaseData(TILE_CASE, 9400);
    const g = conv2dGeometry(d.xShape, d.wShape, d.opts);
    const [x, w, b, bIn, dy] = [fromNd(d.x.data, d.xShape), fromNd(d.w.data, d.wShape), fromNd(d.b.data, [g.cout]), fromNd(d.bIn.data, [g.cin]), fromNd(d.dy.data, d.yShape)];
    setFusedTile(tile);
    let y: dn.Tensor, dx: dn.Tensor;
    try {
      if (depth !== null) setFusedSliceDepth(depth);
      const layout = currentFusedLayout(g.cout / 4, 8, 50);
      expect(layout.bt, 'the tile\'s blocks, where they fit').toBe(fusedLayout(10, 8, tile, depth, runtime().limits).bt);
      expect(layout.ck).toBe(depth ?? fusedSliceDepth());
      expect(layout.sharedU).toBe(tile.sharedU);
      expect(layout.splitStaging).toBe(tile.splitStaging ?? false);
      y = forwardGemm(g, x, w, b, undefined, 'winograd-fused', true);
      dx = backwardInputGemm(g, dy, w, bIn, undefined, 'winograd-fused');
    } finally {
      setFusedSliceDepth(null);
      setFusedTile(null);
    }
    const yRef = conv2dForwardRef(d.x, d.w, d.b, d.opts).data.map((v) => Math.max(v, 0));
    expectClose('y', await y.toArray(), yRef, winogradTolerance(g.cin));
    const dxRef = conv2dBackwardRef(d.x, d.w, d.dy, d.opts).dx.data.map((v, i) => v + d.bIn.data[i % g.cin]);
    expectClose('dx + bias', await dx.toArray(), dxRef, winogradTolerance(g.cout));
    for (const t of [x, w, b, bIn, dy, y, dx]) t.dispose();
  });

  // The probes' ablations run and leave out what they say: without the GEMM every output is its
  // bias (Aᵀ 0 A + b); with made-up inputs the output is finite and not the conv's; without the
  // output transform y is not the conv either.
  it('ablations for the probes: no GEMM gives the bias, made-up inputs or no output transform another output', async () => {
    const d = winogradCaseData(TILE_CASE, 9500);
    const g = conv2dGeometry(d.xShape, d.wShape, d.opts);
    const [x, w, b] = [fromNd(d.x.data, d.xShape), fromNd(d.w.data, d.wShape), fromNd(d.b.data, [g.cout])];
    const run = async (ablate: FusedTile['ablate']) => {
      setFusedTile({ ...DEFAULT_FUSED_TILE, ablate });
      try {
        const y = forwardGemm(g, x, w, b, undefined, 'winograd-fused');
        const got = await y.toArray();
        y.dispose();
        return got;
      } finally {
        setFusedTile(null);
      }
    };
    try {
      const noGemm = await run('gemm');
      expect(Array.from(noGemm)).toEqual(Array.from(noGemm, (_, i) => Math.fround(d.b.data[i % g.cout])));
      const madeUp = await run('input-reads');
      const ref = conv2dForwardRef(d.x, d.w, d.b, d.opts).data;
      expect(madeUp.every(Number.isFinite), "made-up inputs: finite").toBe(true);
      expect(Math.max(...madeUp.map((v, i) => Math.abs(v - ref[i])))).toBeGreaterThan(0.1);
      // No output transform: y keeps whatever its pooled buffer held (here the made-up run's), not the conv.
      const noOutput = await run('output');
      expect(noOutput.some((v, i) => !(Math.abs(v - ref[i]) <= 0.1)), 'some output is not the conv').toBe(true);
      expect(runtime().compiledKernels().some((k) => k.startsWith('conv2d.winogradFused|') && k.includes('-output'))).toBe(true);
    } finally {
      for (const t of [x, w, b]) t.dispose();
    }
  });

  // 40 output channels in workgroups of at most 4 channel vec4s: three channel tiles (4, 4, 2).
  it('at most 4 channel vec4s per workgroup (setFusedGroups): forward matches CPU', async () => {
    const d = caseData(CASES[4], 9300);
    const g = conv2dGeometry(d.xShape, d.wShape, d.opts);
    const [x, w] = [fromNd(d.x.data, d.xShape), fromNd(d.w.data, d.wShape)];
    setFusedGroups(4);
    let y: dn.Tensor;
    try {
      y = forwardGemm(g, x, w, null, undefined, 'winograd-fused');
    } finally {
      setFusedGroups(null);
    }
    expectClose('4 groups', await y.toArray(), conv2dForwardRef(d.x, d.w, null, d.opts).data, winogradTolerance(g.cin));
    for (const t of [x, w, y]) t.dispose();
  });

  it('conv2d (autograd) under setConvAlgorithm(winograd-fused) runs it, and its gradients match CPU; output channels not in vec4s get the staged Winograd', async () => {
    const d = caseData(CASES[0], 9200);
    const g = conv2dGeometry(d.xShape, d.wShape, d.opts);
    const before = setConvAlgorithm('winograd-fused');
    const want = conv2dBackwardRef(d.x, d.w, d.dy, d.opts);
    const [x, w, b, dy] = [fromNd(d.x.data, d.xShape, true), fromNd(d.w.data, d.wShape, true), fromNd(d.b.data, [g.cout], true), fromNd(d.dy.data, d.yShape)];
    let y: dn.Tensor;
    try {
      expect(convAlgorithm('forward', g)).toBe('winograd-fused');
      expect(convAlgorithm('backwardInput', g)).toBe('winograd-fused');
      expect(convAlgorithm('backwardWeight', g), 'no fused weight gradient: the staged one').toBe('winograd');
      const odd = conv2dGeometry([1, 8, 8, 5], [3, 3, 5, 6], { padding: 'same' });
      expect(convAlgorithm('forward', odd), '6 output channels').toBe('winograd');
      expect(convAlgorithm('backwardInput', odd), 'dx: 5 output channels').toBe('winograd');
      // The error class, and the op named first (STYLE.md).
      expect(() => winogradFusedConv('forward', odd, x, w, null)).toThrow(RangeError);
      expect(() => winogradFusedConv('forward', odd, x, w, null)).toThrow(/^conv2d\.forward: /);
      y = conv2d(x, w, b, d.opts);
      y.backward(dy);
    } finally {
      setConvAlgorithm(before);
    }
    const unetL1 = conv2dGeometry([16, 256, 256, 32], [3, 3, 32, 32], { padding: 'same' });
    expect(convAlgorithm('forward', unetL1, 'tiled', false), 'auto never picks it (not yet timed on a GPU)').toBe('winograd');
    const tol = winogradTolerance(g.cin);
    expectClose('conv2d y', await y.toArray(), conv2dForwardRef(d.x, d.w, d.b, d.opts).data, tol);
    expectClose('conv2d x.grad', await x.grad!.toArray(), want.dx.data, winogradTolerance(g.cout));
    expectClose('conv2d w.grad (by Winograd too)', await w.grad!.toArray(), want.dw.data, winogradWeightGradTolerance(g.n * g.ho * g.wo));
    for (const t of [x, w, b, dy, y]) t.dispose();
  });
});
