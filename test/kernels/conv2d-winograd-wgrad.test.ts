import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { backwardWeightGemm, conv2d, conv2dGeometry } from '../../src/kernels/conv2d.js';
import { convAlgorithm, setConvAlgorithm, setWinogradWorkspace } from '../../src/kernels/conv2d-winograd-run.js';
import { overrideSubgroupLanes } from '../../src/kernels/conv2d-launch.js';
import { winogradWeightGrad, winogradWeightGradChunk } from '../../src/kernels/conv2d-winograd-wgrad.js';
import { WINO_AT, WINO_BT, WINO_G } from '../../src/kernels/conv2d-winograd.js';
import { LimitError } from '../../src/errors.js';
import { runtime } from '../../src/gpu/runtime.js';
import { emptyTensor } from '../../src/graph/tensor.js';
import { conv2dBackwardRef } from '../../src/reference/conv.js';
import { expectClose, winogradWeightGradTolerance } from '../helpers/close.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';
import { families, mul, transpose, winogradCaseData, WINOGRAD_EDGE_CASES, type WinogradCase } from '../helpers/winograd-case.js';

useGpu();


describe('Winograd weight gradient: the transforms (float64)', () => {
  // The derivation in conv2d-winograd-wgrad.ts, on one block: Gᵀ[(A dY Aᵀ) ⊙ (Bᵀ d B)]G is the
  // gradient of Σ dY ⊙ (d ⋆ g) with respect to g, i.e. the valid correlation of the 6x6 patch with
  // the 4x4 block of dy.
  it('Gᵀ[(A dY Aᵀ) ⊙ (Bᵀ d B)]G is the 3x3 correlation of a 6x6 patch with a 4x4 dY', () => {
    for (let trial = 0; trial < 20; trial++) {
      const d = Array.from({ length: 6 }, (_, i) => Array.from(uniform(6, 300 * trial + i)));
      const dY = Array.from({ length: 4 }, (_, i) => Array.from(uniform(4, 300 * trial + 50 + i)));
      const A = transpose(WINO_AT);
      const z = mul(mul(A, dY), WINO_AT);
      const v = mul(mul(WINO_BT, d), transpose(WINO_BT));
      const dg = mul(mul(transpose(WINO_G), z.map((row, i) => row.map((x, j) => x * v[i][j]))), WINO_G);
      for (let i = 0; i < 3; i++) {
        for (let j = 0; j < 3; j++) {
          let want = 0;
          for (let r = 0; r < 4; r++) for (let s = 0; s < 4; s++) want += d[r + i][s + j] * dY[r][s];
          expect(Math.abs(dg[i][j] - want), `trial ${trial} (${i}, ${j})`).toBeLessThan(1e-12);
        }
      }
    }
  });
});

// The forward's edge cases (test/helpers/winograd-case.ts), and two with enough blocks that each
// position's K is taken in slices.
const CASES: readonly WinogradCase[] = [
  ...WINOGRAD_EDGE_CASES,
  { name: '675 blocks (K sliced on the tiled family, one padding row)', x: [3, 60, 60, 4], cout: 8, opts: { padding: 'same' } },
  { name: '65536 pixels (K sliced for accuracy on every family)', x: [16, 64, 64, 4], cout: 8, opts: { padding: 'same' } },
];

const caseData = (cs: WinogradCase, seed: number) => winogradCaseData(cs, seed);

describe('conv2d weight gradient by Winograd', () => {
  // First in the file, so that the pool holds no older buffers of V's and Z's sizes: a free list
  // hands out its oldest first (src/gpu/buffer-pool.ts). The premise is checked, not assumed.
  it('padding rows are zeroed: recycled buffers full of NaN do not reach dw', async () => {
    const d = caseData(CASES[5], 9400);
    const g = conv2dGeometry(d.xShape, d.wShape, d.opts);
    const c = winogradWeightGradChunk(g, g.n, 'tiled');
    expect(c.tPad, 'the case has padding rows').toBeGreaterThan(c.blocks);
    const [x, dy] = [fromNd(d.x.data, d.xShape), fromNd(d.dy.data, d.yShape)];
    const shapes = [[36, c.tPad, g.cin], [36, c.tPad, g.cout]];
    for (const t of shapes.map((shape) => dn.full(shape, NaN))) t.dispose();
    await dn.sync();
    const again = shapes.map((shape) => emptyTensor(shape));
    for (const t of again) expect(Number.isNaN((await t.toArray())[0]), 'the NaN buffers come back from the pool').toBe(true);
    for (const t of again) t.dispose();
    await dn.sync();
    const got = winogradWeightGrad(g, dy, x, 'tiled');
    expectClose('dw', await got.toArray(), conv2dBackwardRef(d.x, d.w, d.dy, d.opts).dw.data, winogradWeightGradTolerance(g.n * g.ho * g.wo));
    for (const t of [x, dy, got]) t.dispose();
  });

  for (const [k, cs] of CASES.entries()) {
    it(`${cs.name}: matches CPU (every family, whole and in chunks of one sample)`, async () => {
      const d = caseData(cs, 9000 + 10 * k);
      const g = conv2dGeometry(d.xShape, d.wShape, d.opts);
      const want = conv2dBackwardRef(d.x, d.w, d.dy, d.opts).dw.data;
      const [x, dy] = [fromNd(d.x.data, d.xShape), fromNd(d.dy.data, d.yShape)];
      const pixels = g.n * g.ho * g.wo;
      try {
        for (const f of families()) {
          const one = winogradWeightGradChunk(g, 1, f);
          for (const [label, bytes] of [['whole', null], ["the workspace one sample's", one.v + one.z]] as const) {
            setWinogradWorkspace(bytes);
            const got = winogradWeightGrad(g, dy, x, f);
            setWinogradWorkspace(null);
            expectClose(`${cs.name} dw (${f}, ${label})`, await got.toArray(), want, winogradWeightGradTolerance(pixels));
            got.dispose();
          }
        }
      } finally {
        setWinogradWorkspace(null);
        x.dispose();
        dy.dispose();
      }
    });
  }

  // SwiftShader (Chrome's CPU adapter) gets 4-lane subgroup workgroups; they run on lavapipe too.
  it('the subgroup family at 4 lanes (SwiftShader’s) matches CPU', async () => {
    if (!families().includes('subgroup')) return;
    for (const [k, cs] of [CASES[1], CASES[4], CASES[5]].entries()) {
      const d = caseData(cs, 9800 + 10 * k);
      const g = conv2dGeometry(d.xShape, d.wShape, d.opts);
      const [x, dy] = [fromNd(d.x.data, d.xShape), fromNd(d.dy.data, d.yShape)];
      overrideSubgroupLanes(4);
      let got: dn.Tensor;
      try {
        got = winogradWeightGrad(g, dy, x, 'subgroup');
      } finally {
        overrideSubgroupLanes(null);
      }
      expectClose(`${cs.name} dw (4 lanes)`, await got.toArray(), conv2dBackwardRef(d.x, d.w, d.dy, d.opts).dw.data, winogradWeightGradTolerance(g.n * g.ho * g.wo));
      for (const t of [x, dy, got]) t.dispose();
    }
  });

  it('slices each position’s K where the blocks are many, and not otherwise', () => {
    const g = (c: WinogradCase) => conv2dGeometry([...c.x], [3, 3, c.x[3], c.cout], c.opts);
    expect(winogradWeightGradChunk(g(CASES[5]), 3, 'tiled').slices).toBeGreaterThan(1);
    expect(winogradWeightGradChunk(g(CASES[0]), 2, 'tiled').slices).toBe(1);
    // 4096 blocks: slices of at most 512 on either family (the subgroup one would take one).
    for (const f of families()) expect(winogradWeightGradChunk(g(CASES[6]), 16, f).perSlice).toBeLessThanOrEqual(512);
    const c = winogradWeightGradChunk(g(CASES[5]), 3, 'tiled');
    expect(c.tPad).toBe(c.slices * c.perSlice);
    expect(c.tPad).toBeGreaterThanOrEqual(c.blocks);
  });

  it('conv2d (autograd) under setConvAlgorithm(winograd) takes all three gradients by Winograd and matches CPU', async () => {
    const d = caseData(CASES[0], 9500);
    const g = conv2dGeometry(d.xShape, d.wShape, d.opts);
    const want = conv2dBackwardRef(d.x, d.w, d.dy, d.opts);
    const [x, w, dy] = [fromNd(d.x.data, d.xShape, true), fromNd(d.w.data, d.wShape, true), fromNd(d.dy.data, d.yShape)];
    expect(convAlgorithm('backwardWeight', g)).toBe('direct');
    setConvAlgorithm('winograd');
    let y: dn.Tensor;
    try {
      expect(convAlgorithm('backwardWeight', g)).toBe('winograd');
      setConvAlgorithm('winograd-fused');
      expect(convAlgorithm('backwardWeight', g), 'the fused kernel has no weight gradient: staged').toBe('winograd');
      setConvAlgorithm('winograd');
      y = conv2d(x, w, null, d.opts);
      y.backward(dy);
    } finally {
      setConvAlgorithm('auto');
    }
    expectClose('conv2d w.grad', await w.grad!.toArray(), want.dw.data, winogradWeightGradTolerance(g.n * g.ho * g.wo));
    expect(runtime().compiledKernels().some((name) => name.startsWith('conv2d.winogradWeightGradOutput')), 'the Winograd weight gradient ran').toBe(true);
    for (const t of [x, w, dy, y]) t.dispose();
  });

  it('backwardWeightGemm runs the algorithm it is given', async () => {
    const d = caseData(CASES[1], 9600);
    const g = conv2dGeometry(d.xShape, d.wShape, d.opts);
    const want = conv2dBackwardRef(d.x, d.w, d.dy, d.opts).dw.data;
    const [x, dy] = [fromNd(d.x.data, d.xShape), fromNd(d.dy.data, d.yShape)];
    for (const algorithm of ['direct', 'winograd'] as const) {
      const got = backwardWeightGemm(g, dy, x, undefined, undefined, algorithm);
      expectClose(`dw by ${algorithm}`, await got.toArray(), want, winogradWeightGradTolerance(g.n * g.ho * g.wo));
      got.dispose();
    }
    x.dispose();
    dy.dispose();
  });

  it('a sample too large for the workspace is a LimitError naming the op, and nothing leaks', async () => {
    const d = caseData(CASES[0], 9700);
    const g = conv2dGeometry(d.xShape, d.wShape, d.opts);
    const [x, dy] = [fromNd(d.x.data, d.xShape), fromNd(d.dy.data, d.yShape)];
    await dn.sync();
    const before = dn.memory().bytesInUse;
    setWinogradWorkspace(1024);
    try {
      expect(() => winogradWeightGrad(g, dy, x, families()[0])).toThrow(LimitError);
      expect(() => winogradWeightGrad(g, dy, x, families()[0])).toThrow(/^conv2d\.backwardWeight: /);
    } finally {
      setWinogradWorkspace(null);
    }
    expect(dn.memory().bytesInUse).toBe(before);
    x.dispose();
    dy.dispose();
  });
});
