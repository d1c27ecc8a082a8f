import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { batchNorm2d, batchNorm2dForward } from '../../src/kernels/batchnorm.js';
import { maxRowChunks, overrideRowChunkSizing } from '../../src/kernels/row-chunks.js';
import { nd, type NdArray } from '../../src/reference/array.js';
import { batchNormBackwardRef, batchNormForwardRef, channelMoments } from '../../src/reference/batchnorm.js';
import { unaryBackwardRef, unaryForwardRef } from '../../src/reference/elementwise.js';
import { expectClose } from '../helpers/close.js';
import { checkGrad } from '../helpers/finite-diff.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

const CASES = [
  { shape: [2, 5, 7, 3] },
  { shape: [3, 4, 4, 17] },
  // 37 channels: two channel blocks of 32.
  { shape: [2, 3, 5, 37] },
  // 544 rows: several row chunks, so partial sums are combined across workgroups.
  { shape: [2, 16, 17, 5] },
  // The smallest batch training allows: two values per channel. Fixed x: two random values can lie
  // arbitrarily close, and then xhat = (x - mean) * invStd is ill-conditioned in float32 whatever
  // the kernel does (the mean's rounding, ~ulp(3), over |x - mean|); these pairs are >= 0.7 apart.
  { shape: [1, 1, 2, 4], x: [2.1, 3.7, 2.5, 3.3, 3.4, 2.2, 3.9, 2.6] },
  // Channels a multiple of 4: every pass four channels per thread (vec4). 44 channels: two blocks
  // of 32 (the second partly empty); 560 rows: several row chunks.
  { shape: [2, 4, 5, 44] },
  { shape: [2, 16, 35, 8] },
] as const;

interface Data {
  shape: number[];
  c: number;
  x: Float64Array;
  gamma: Float64Array;
  beta: Float64Array;
  runningMean: Float64Array;
  runningVar: Float64Array;
  dy: Float64Array;
}

function makeData(shape: readonly number[], seed: number, fixedX?: readonly number[]): Data {
  const n = shape.reduce((p, d) => p * d, 1);
  const c = shape[3];
  // An offset of 3 next to a spread of about 1: the variance must be computed about the mean.
  // Rounded to float32 so the reference normalises exactly the values the GPU gets.
  const x = Float64Array.from(Float32Array.from(fixedX ?? uniform(n, seed, 2, 4)));
  return {
    shape: [...shape],
    c,
    x,
    gamma: uniform(c, seed + 1, 0.5, 1.5),
    beta: uniform(c, seed + 2),
    runningMean: uniform(c, seed + 3),
    runningVar: uniform(c, seed + 4, 0.5, 2),
    dy: uniform(n, seed + 5),
  };
}

const ndOf = (d: Data) => ({
  x: nd(d.x, d.shape),
  gamma: nd(d.gamma, [d.c]),
  beta: nd(d.beta, [d.c]),
  rm: nd(d.runningMean, [d.c]),
  rv: nd(d.runningVar, [d.c]),
  dy: nd(d.dy, d.shape),
});

/** The case's tensors on the GPU: x, gamma and beta with gradients, the running stats without. */
const gpuOf = (d: Data) => ({
  x: fromNd(d.x, d.shape, true),
  gamma: fromNd(d.gamma, [d.c], true),
  beta: fromNd(d.beta, [d.c], true),
  rm: fromNd(d.runningMean, [d.c]),
  rv: fromNd(d.runningVar, [d.c]),
});

describe('batchNorm2d', () => {
  for (const [k, cs] of CASES.entries()) {
    const d = makeData(cs.shape, 10 * k + 1, 'x' in cs ? cs.x : undefined);
    const name = `batchNorm2d ${JSON.stringify(cs.shape)}`;

    for (const training of [true, false]) {
      const mode = training ? 'training' : 'inference';
      const o = { training, momentum: 0.1, eps: 1e-5 };

      if (d.x.length <= 1200) it(`${name} ${mode}: CPU backward matches finite differences`, () => {
        const r = ndOf(d);
        const { dx, dgamma, dbeta } = batchNormBackwardRef(r.x, r.gamma, r.dy, r.rm, r.rv, o);
        const fwd = (x: NdArray, g: NdArray, b: NdArray) => batchNormForwardRef(x, g, b, r.rm, r.rv, o).y;
        checkGrad(`${name} ${mode} dx`, (v) => fwd(nd(v, d.shape), r.gamma, r.beta), d.x, d.dy, dx.data);
        checkGrad(`${name} ${mode} dgamma`, (v) => fwd(r.x, nd(v, [d.c]), r.beta), d.gamma, d.dy, dgamma.data);
        checkGrad(`${name} ${mode} dbeta`, (v) => fwd(r.x, r.gamma, nd(v, [d.c])), d.beta, d.dy, dbeta.data);
      });

      it(`${name} ${mode}: GPU forward, running stats and backward match CPU`, async () => {
        const r = ndOf(d);
        const { x, gamma, beta, rm, rv } = gpuOf(d);
        const y = batchNorm2d(x, gamma, beta, rm, rv, o);
        const want = batchNormForwardRef(r.x, r.gamma, r.beta, r.rm, r.rv, o);
        expectClose(`${name} ${mode} y`, await y.toArray(), want.y.data);
        // Inference leaves the running stats untouched; training updates them in place.
        expectClose(`${name} ${mode} runningMean`, await rm.toArray(), want.runningMean.data);
        expectClose(`${name} ${mode} runningVar`, await rv.toArray(), want.runningVar.data);
        const dy = fromNd(d.dy, d.shape);
        y.backward(dy);
        const g = batchNormBackwardRef(r.x, r.gamma, r.dy, r.rm, r.rv, o);
        expectClose(`${name} ${mode} dx`, await x.grad!.toArray(), g.dx.data);
        expectClose(`${name} ${mode} dgamma`, await gamma.grad!.toArray(), g.dgamma.data);
        expectClose(`${name} ${mode} dbeta`, await beta.grad!.toArray(), g.dbeta.data);
        for (const t of [x, gamma, beta, rm, rv, y, dy]) t.dispose();
      });

      // The fused ReLU against the CPU batch norm followed by the CPU ReLU (each of which is
      // checked against finite differences above and in the element-wise tests; the composition
      // is not, as batch-norm outputs near 0 put the ReLU's kink inside a finite-difference step).
      it(`${name} ${mode} with a fused ReLU: GPU forward and backward match CPU batch norm then ReLU`, async () => {
        const r = ndOf(d);
        const { x, gamma, beta, rm, rv } = gpuOf(d);
        const y = batchNorm2d(x, gamma, beta, rm, rv, { ...o, relu: true });
        const bn = batchNormForwardRef(r.x, r.gamma, r.beta, r.rm, r.rv, o);
        expectClose(`${name} ${mode} relu(y)`, await y.toArray(), unaryForwardRef('relu', bn.y).data);
        expectClose(`${name} ${mode} runningMean (fused)`, await rm.toArray(), bn.runningMean.data);
        const dy = fromNd(d.dy, d.shape);
        y.backward(dy);
        const g = batchNormBackwardRef(r.x, r.gamma, unaryBackwardRef('relu', bn.y, r.dy), r.rm, r.rv, o);
        expectClose(`${name} ${mode} dx (fused)`, await x.grad!.toArray(), g.dx.data);
        expectClose(`${name} ${mode} dgamma (fused)`, await gamma.grad!.toArray(), g.dgamma.data);
        expectClose(`${name} ${mode} dbeta (fused)`, await beta.grad!.toArray(), g.dbeta.data);
        for (const t of [x, gamma, beta, rm, rv, y, dy]) t.dispose();
      });
    }
  }

  // On a GPU the sums spread over more row chunks than on lavapipe (row-chunks.ts), and past 128
  // the finish gets them collapsed by reduce.ts first: 33,800 rows make 133 chunks that way, in
  // vec4 (8 channels) and scalar (5 channels) kernels.
  for (const c of [8, 5]) {
    it(`training with a GPU's row chunks, ${c} channels: forward, running stats and backward match CPU`, async () => {
      const d = makeData([2, 130, 130, c], 90 + c);
      const r = ndOf(d);
      const o = { training: true, momentum: 0.1, eps: 1e-5 };
      overrideRowChunkSizing('gpu');
      try {
        const { x, gamma, beta, rm, rv } = gpuOf(d);
        const y = batchNorm2d(x, gamma, beta, rm, rv, o);
        const want = batchNormForwardRef(r.x, r.gamma, r.beta, r.rm, r.rv, o);
        expectClose(`c${c} y`, await y.toArray(), want.y.data);
        expectClose(`c${c} runningVar`, await rv.toArray(), want.runningVar.data);
        const dy = fromNd(d.dy, d.shape);
        y.backward(dy);
        const g = batchNormBackwardRef(r.x, r.gamma, r.dy, r.rm, r.rv, o);
        expectClose(`c${c} dx`, await x.grad!.toArray(), g.dx.data);
        expectClose(`c${c} dgamma`, await gamma.grad!.toArray(), g.dgamma.data);
        expectClose(`c${c} dbeta`, await beta.grad!.toArray(), g.dbeta.data);
        for (const t of [x, gamma, beta, rm, rv, y, dy]) t.dispose();
      } finally {
        overrideRowChunkSizing(null);
      }
    });
  }

  it('row chunks: 128 at most on a CPU adapter, about 2048 workgroups on a GPU', () => {
    overrideRowChunkSizing('cpu');
    expect([maxRowChunks(1), maxRowChunks(64)]).toEqual([128, 128]);
    overrideRowChunkSizing('gpu');
    expect([maxRowChunks(1), maxRowChunks(4), maxRowChunks(64)]).toEqual([2048, 512, 128]);
    overrideRowChunkSizing(null);
  });

  it('batchNorm2dForward returns the batch mean and invStd (training) or the running ones (inference)', async () => {
    const d = makeData([2, 3, 5, 37], 77);
    const rows = d.x.length / d.c;
    const { mean, variance } = channelMoments(nd(d.x, d.shape));
    const x = fromNd(d.x, d.shape);
    const gamma = fromNd(d.gamma, [d.c]);
    const beta = fromNd(d.beta, [d.c]);
    const rm = fromNd(d.runningMean, [d.c]);
    const rv = fromNd(d.runningVar, [d.c]);
    const train = batchNorm2dForward(x, gamma, beta, rm, rv, { training: true });
    const infer = batchNorm2dForward(x, gamma, beta, rm, rv, { training: false, eps: 1e-3 });
    const untracked = batchNorm2dForward(x, gamma, beta, null, null, { training: true });
    expectClose('training mean', await train.mean.toArray(), mean);
    expectClose('training invStd', await train.invStd.toArray(), variance.map((v) => 1 / Math.sqrt(v + 1e-5)));
    expectClose('mean without running stats', await untracked.mean.toArray(), mean);
    // The training call updated the running stats in place: inference reads the updated ones.
    const wantRm = d.runningMean.map((v, ch) => 0.9 * v + 0.1 * mean[ch]);
    const wantRv = d.runningVar.map((v, ch) => 0.9 * v + (0.1 * variance[ch] * rows) / (rows - 1));
    expectClose('inference mean', await infer.mean.toArray(), wantRm);
    expectClose('inference invStd', await infer.invStd.toArray(), wantRv.map((v) => 1 / Math.sqrt(v + 1e-3)));
    for (const out of [train, infer, untracked]) for (const t of [out.y, out.mean, out.invStd]) t.dispose();
    for (const t of [x, gamma, beta, rm, rv]) t.dispose();
  });

  it('running stats follow PyTorch semantics over two training steps', async () => {
    // momentum 0.3 here is Keras momentum 0.7.
    const o = { training: true, momentum: 0.3, eps: 1e-3 };
    const shape = [2, 5, 7, 3];
    const d1 = makeData(shape, 500);
    const d2 = makeData(shape, 600);
    let rm = nd(d1.runningMean, [3]);
    let rv = nd(d1.runningVar, [3]);
    const rmt = fromNd(d1.runningMean, [3]);
    const rvt = fromNd(d1.runningVar, [3]);
    const gamma = fromNd(d1.gamma, [3]);
    const beta = fromNd(d1.beta, [3]);
    for (const d of [d1, d2]) {
      dn.scope(() => {
        batchNorm2d(fromNd(d.x, shape), gamma, beta, rmt, rvt, o);
      });
      ({ runningMean: rm, runningVar: rv } = batchNormForwardRef(nd(d.x, shape), nd(d1.gamma, [3]), nd(d1.beta, [3]), rm, rv, o));
    }
    const got = await rvt.toArray();
    expectClose('runningMean after 2 steps', await rmt.toArray(), rm.data);
    expectClose('runningVar after 2 steps', got, rv.data);
    // The check can tell the unbiased variance from the biased one: 70 / 69 is 1.4% away.
    const biased = (v: number, batch: Float64Array) => 0.7 * v + 0.3 * channelMoments(nd(batch, shape)).variance[0];
    expect(Math.abs(got[0] - biased(biased(d1.runningVar[0], d1.x), d2.x))).toBeGreaterThan(1e-3);
    for (const t of [rmt, rvt, gamma, beta]) t.dispose();
  });

  it('inference backward to x alone skips the parameter sums', async () => {
    const d = makeData([3, 4, 4, 17], 900);
    const r = ndOf(d);
    const o = { training: false };
    const x = fromNd(d.x, d.shape, true);
    const [gamma, beta, rm, rv] = [fromNd(d.gamma, [d.c]), fromNd(d.beta, [d.c]), fromNd(d.runningMean, [d.c]), fromNd(d.runningVar, [d.c])];
    const y = batchNorm2d(x, gamma, beta, rm, rv, o);
    const dy = fromNd(d.dy, d.shape);
    y.backward(dy);
    expect(gamma.grad).toBeNull();
    expectClose('dx', await x.grad!.toArray(), batchNormBackwardRef(r.x, r.gamma, r.dy, r.rm, r.rv, o).dx.data);
    for (const t of [x, gamma, beta, rm, rv, y, dy]) t.dispose();
  });

  it('rejects bad shapes and options', () => {
    dn.scope(() => {
      const x = dn.zeros([2, 3, 3, 4]);
      const p = dn.zeros([4]);
      const one = dn.full([4], 1);
      expect(() => batchNorm2d(dn.zeros([2, 3, 4]), p, p, p, one, { training: true })).toThrow(dn.ShapeError);
      expect(() => batchNorm2d(x, dn.zeros([3]), p, p, one, { training: true })).toThrow(dn.ShapeError);
      expect(() => batchNorm2d(x, p, p, dn.zeros([5]), one, { training: true })).toThrow(dn.ShapeError);
      expect(() => batchNorm2d(x, p, p, null, null, { training: false })).toThrow(dn.ShapeError);
      expect(() => batchNorm2d(x, p, p, p, null, { training: true })).toThrow(dn.ShapeError);
      expect(() => batchNorm2d(x, p, p, p, one, { training: true, momentum: 1.5 })).toThrow(dn.ShapeError);
      expect(() => batchNorm2d(x, p, p, p, one, { training: true, eps: 0 })).toThrow(dn.ShapeError);
      expect(() => batchNorm2d(dn.zeros([1, 1, 1, 4]), p, p, p, one, { training: true })).toThrow(dn.ShapeError);
    });
  });
});
