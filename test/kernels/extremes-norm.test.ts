// Normalisation layers (batchNorm2d in training mode, groupNorm, layerNorm) at extreme but
// legitimate statistics, against the float64 references: a constant channel or group (variance
// 0: eps alone keeps invStd finite, y = beta exactly), a channel with mean 1e4 and spread 0.1, over
// 100000 rows for batch norm (a one-pass E[x²] − E[x]² variance loses everything there: ulp(1e8) =
// 8 next to a variance of 0.003), and one value per channel, which batch norm refuses in training
// as PyTorch does, while group and layer norm normalise it to beta with a zero gradient, as
// PyTorch's do.
//
// Tolerances: the house defaults for the constant and ordinary channels (constant: x − mean is
// exactly 0; invStd = 1/sqrt(1e-5) = 316 makes dx large, still inside rtol). At mean 1e4 an
// error δ in the float32 mean shifts x̂ = (x − mean)·invStd by about c = δ·invStd everywhere.
// Batch norm corrects its mean by Σ(x − mean) (batchnorm.ts), which leaves δ at the mean's float32
// rounding, 0.5 ulp(1e4) = 2^-11 (measured 0.38; before the correction 6.6 ulp at 1e5 rows, whose
// sum rounds at ulp(1e9)): atol 0.75·ulp(1e4)·invStd for y. Group and layer norm correct theirs
// the same way (before, their first-pass means were up to 2.6 ulp off): the same atol. In all,
// dx = invStd·(dy − mean dy − x̂·mean(dy·x̂)), which that shift moves by at most
// invStd·c·(1 + max|x̂|), |dy| <= 1, gets 3·invStd·atol(y), and
// dgamma = Σ dy·x̂ over n rows, moved by at most n·c, gets n·atol(y) over the default.
// The variance itself (the running variance, and so invStd) keeps float32's relative accuracy:
// the defaults there, which a one-pass variance would fail by orders of magnitude.

import { afterEach, describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { ShapeError } from '../../src/errors.js';
import { groupNormForward } from '../../src/kernels/groupnorm.js';
import { setGroupNormRule, type GroupNormRule } from '../../src/kernels/groupnorm-threads.js';
import { layerNormRowsForward } from '../../src/kernels/layernorm-rows.js';
import { nd } from '../../src/reference/array.js';
import { batchNormBackwardRef, batchNormForwardRef, channelMoments } from '../../src/reference/batchnorm.js';
import { groupNormBackwardRef, groupNormForwardRef } from '../../src/reference/groupnorm.js';
import { expectClose, F32, type Tolerance } from '../helpers/close.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();
afterEach(() => setGroupNormRule(null));

const f32 = (x: ArrayLike<number>): Float64Array => Float64Array.from(Float32Array.from(x));
const ULP_1E4 = 2 ** -10;
const size = (s: number[]): number => s.reduce((a, b) => a * b, 1);

/** Channel values: constant 5, mean 1e4 with spread 0.1, or ordinary in [-2, 2]. */
function channelValues(kind: 'constant' | 'large mean' | 'ordinary', n: number, seed: number): Float64Array {
  const u = uniform(n, seed, -1, 1);
  return f32(u.map((v) => (kind === 'constant' ? 5 : kind === 'large mean' ? 1e4 + 0.1 * v : 2 * v)));
}

/**
 * Tolerances for y and dx of a group whose values have the mean `mean` and inverse std `invStd`
 * (gamma folded in), the mean known to within `ulps` ulp(1e4).
 */
function tolerances(mean: number, invStd: number, ulps: number): { y: Tolerance; dx: Tolerance } {
  if (Math.abs(mean) < 1e3) return { y: {}, dx: {} };
  const y = ulps * ULP_1E4 * invStd;
  return { y: { atol: y }, dx: { atol: 3 * invStd * y } };
}

const KINDS = ['constant', 'large mean', 'ordinary'] as const;

describe('batchNorm2d (training) at extreme channel statistics', () => {
  for (const kind of KINDS) {
    it(`a ${kind} channel: y, dx, dgamma, dbeta and the running stats match float64`, async () => {
      const shape = kind === 'large mean' ? [4, 125, 200, 1] : [4, 3, 3, 1];
      const x = channelValues(kind, size(shape), 1);
      const dy = f32(uniform(size(shape), 2, -1, 1));
      const [gamma, beta, rm, rv] = [f32([1.5]), f32([0.25]), f32([0]), f32([1])];
      const o = { training: true };
      const ref = batchNormForwardRef(nd(x, shape), nd(gamma, [1]), nd(beta, [1]), nd(rm, [1]), nd(rv, [1]), o);
      const refB = batchNormBackwardRef(nd(x, shape), nd(gamma, [1]), nd(dy, shape), nd(rm, [1]), nd(rv, [1]), o);
      const [xt, gt, bt, rmt, rvt] = [fromNd(x, shape, true), fromNd(gamma, [1], true), fromNd(beta, [1], true), fromNd(rm, [1]), fromNd(rv, [1])];
      const y = dn.batchNorm2d(xt, gt, bt, rmt, rvt, o);
      const dyt = fromNd(dy, shape);
      y.backward(dyt);
      const [gy, gdx, gdg, gdb, grm, grv] = await Promise.all([y, xt.grad!, gt.grad!, bt.grad!, rmt, rvt].map((t) => t.toArray()));
      for (const t of [xt, gt, bt, rmt, rvt, y, dyt]) t.dispose();
      const moments = channelMoments(nd(x, shape));
      const tol = tolerances(moments.mean[0], 1.5 / Math.sqrt(moments.variance[0] + 1e-5), 0.75);
      expectClose(`batchNorm2d ${kind} y`, gy, ref.y.data, tol.y);
      expectClose(`batchNorm2d ${kind} dx`, gdx, refB.dx.data, tol.dx);
      expectClose(`batchNorm2d ${kind} dgamma`, gdg, refB.dgamma.data, { atol: F32.atol + (tol.y.atol ?? 0) * size(shape) });
      expectClose(`batchNorm2d ${kind} dbeta`, gdb, refB.dbeta.data);
      expectClose(`batchNorm2d ${kind} running mean`, grm, ref.runningMean.data);
      expectClose(`batchNorm2d ${kind} running variance`, grv, ref.runningVar.data);
      if (kind === 'constant') expect(Array.from(gy).every((v) => v === beta[0]), 'a constant channel normalises to beta exactly').toBe(true);
    });
  }

  it('one value per channel in training is refused (PyTorch raises too); in eval mode it normalises by the running stats', async () => {
    const [xt, gt, bt, rmt, rvt] = [fromNd([3, 4], [1, 1, 1, 2]), fromNd([1, 1], [2]), fromNd([0, 0], [2]), fromNd([0, 0], [2]), fromNd([1, 1], [2])];
    try {
      expect(() => dn.batchNorm2d(xt, gt, bt, rmt, rvt, { training: true })).toThrow(ShapeError);
      const y = dn.batchNorm2d(xt, gt, bt, rmt, rvt, { training: false });
      expectClose('batchNorm2d eval, one value', await y.toArray(), [3 / Math.sqrt(1 + 1e-5), 4 / Math.sqrt(1 + 1e-5)]);
      y.dispose();
    } finally {
      for (const t of [xt, gt, bt, rmt, rvt]) t.dispose();
    }
  });
});

describe('groupNorm and layerNorm at extreme group statistics', () => {
  for (const kind of KINDS) {
    it(`groupNorm, a ${kind} group (2 groups of 2 channels, the other ordinary): y and dx match float64`, async () => {
      const shape = [2, 3, 3, 4];
      const ordinary = channelValues('ordinary', size(shape), 3);
      const special = channelValues(kind, size(shape), 4);
      // Channels 0 and 1 (group 0) of kind, 2 and 3 ordinary.
      const x = ordinary.map((v, i) => (i % 4 < 2 ? special[i] : v));
      const dy = f32(uniform(size(shape), 5, -1, 1));
      const [gamma, beta] = [f32([1, 2, 0.5, 1]), f32([0.25, -0.5, 0, 1])];
      const ref = groupNormForwardRef(nd(x, shape), nd(gamma, [4]), nd(beta, [4]), 2);
      const refB = groupNormBackwardRef(nd(x, shape), nd(gamma, [4]), nd(dy, shape), 2);
      const [xt, gt, bt] = [fromNd(x, shape, true), fromNd(gamma, [4]), fromNd(beta, [4])];
      const y = dn.groupNorm(xt, gt, bt, { groups: 2 });
      const dyt = fromNd(dy, shape);
      y.backward(dyt);
      const [gy, gdx] = await Promise.all([y.toArray(), xt.grad!.toArray()]);
      for (const t of [xt, gt, bt, y, dyt]) t.dispose();
      // gamma up to 2 scales y's and dx's shift.
      const tol = tolerances(ref.mean[0], 2 * Math.max(ref.invStd[0], ref.invStd[2]), 0.75);
      expectClose(`groupNorm ${kind} y`, gy, ref.y.data, tol.y);
      expectClose(`groupNorm ${kind} dx`, gdx, refB.dx.data, tol.dx);
    });
  }

  it('layerNorm: a constant row, a row at 1e4 ± 0.1 and an ordinary row match float64', async () => {
    const c = 6;
    const x = f32([...channelValues('constant', c, 6), ...channelValues('large mean', c, 7), ...channelValues('ordinary', c, 8)]);
    const shape = [3, c];
    const asGroups = [3, 1, 1, c];
    const dy = f32(uniform(3 * c, 9, -1, 1));
    const [gamma, beta] = [f32(uniform(c, 10, 0.5, 1.5)), f32(uniform(c, 11, -1, 1))];
    const ref = groupNormForwardRef(nd(x, asGroups), nd(gamma, [c]), nd(beta, [c]), 1);
    const refB = groupNormBackwardRef(nd(x, asGroups), nd(gamma, [c]), nd(dy, asGroups), 1);
    const [xt, gt, bt] = [fromNd(x, shape, true), fromNd(gamma, [c]), fromNd(beta, [c])];
    const y = dn.layerNorm(xt, gt, bt);
    const dyt = fromNd(dy, shape);
    y.backward(dyt);
    const [gy, gdx] = await Promise.all([y.toArray(), xt.grad!.toArray()]);
    for (const t of [xt, gt, bt, y, dyt]) t.dispose();
    for (let r = 0; r < 3; r++) {
      const tol = tolerances(ref.mean[r], 1.5 * ref.invStd[r], 0.75);
      const row = (a: ArrayLike<number>) => Array.from(a).slice(r * c, (r + 1) * c);
      expectClose(`layerNorm row ${r} y`, row(gy), row(ref.y.data), tol.y);
      expectClose(`layerNorm row ${r} dx`, row(gdx), row(refB.dx.data), tol.dx);
    }
    expect(row0IsBeta(gy, beta), 'the constant row normalises to beta exactly').toBe(true);
  });

  it('one value per group (groupNorm with groups = C at 1x1, layerNorm over C = 1): y = beta, dx = 0, as PyTorch', async () => {
    const [xt, gt, bt] = [fromNd([3, 1e4, -7], [1, 1, 1, 3], true), fromNd([2, 2, 2], [3]), fromNd([0.5, -1, 0], [3])];
    const y = dn.groupNorm(xt, gt, bt, { groups: 3 });
    const dy = fromNd([1, -2, 3], [1, 1, 1, 3]);
    y.backward(dy);
    expect(Array.from(await y.toArray())).toEqual([0.5, -1, 0]);
    expect(Array.from(await xt.grad!.toArray()).map(Math.abs)).toEqual([0, 0, 0]);
    const [lx, lg, lb] = [fromNd([3, 1e4], [2, 1], true), fromNd([2], [1]), fromNd([0.5], [1])];
    const ly = dn.layerNorm(lx, lg, lb);
    const ldy = fromNd([1, -2], [2, 1]);
    ly.backward(ldy);
    expect(Array.from(await ly.toArray())).toEqual([0.5, 0.5]);
    expect(Array.from(await lx.grad!.toArray()).map(Math.abs)).toEqual([0, 0]);
    for (const t of [xt, gt, bt, y, dy, lx, lg, lb, ly, ldy]) t.dispose();
  });
});

// Every kernel variant of group and layer norm's statistics on groups of 1e4 ± 0.1 only: the
// mean against float64's, and y. Each corrects its first pass's mean by Σ(x − mean) (groupnorm.ts's
// finishSpec, layernorm-rows.ts), which leaves it within float32's rounding of the true mean:
// 0.5 ulp(1e4) for the rounding of mean + Σ(x − mean)/M, the correction's own error ~ulp(0.1)
// below that: atol 0.75 ulp(1e4) on the mean (measured 0.22 to 0.50), and that times
// invStd·|gamma| on y, as batch norm's above. Uncorrected, the first pass's Σx rounds at
// ulp(M·1e4) and how far that moves the mean depends on the values: the seeds are ones whose
// uncorrected mean was at least 1 ulp(1e4) off (`before`, measured on lavapipe), so each case fails
// without its correction.
const VARIANTS: { name: string; rule: GroupNormRule | 'rows'; shape: number[]; groups: number; seed: number; before: number }[] = [
  { name: 'groupNorm, workgroup tree, vec4 (Cg = 8)', rule: 'tree', shape: [2, 32, 32, 16], groups: 2, seed: 101, before: 1.04 },
  { name: 'groupNorm, workgroup tree, scalar (Cg = 3), 2 chunks', rule: 'tree', shape: [2, 40, 40, 6], groups: 2, seed: 106, before: 1.08 },
  { name: 'groupNorm, thread, vec4 (Cg = 8), many chunks', rule: 'cpu', shape: [2, 32, 32, 16], groups: 2, seed: 103, before: 1.55 },
  { name: 'groupNorm, thread, scalar (Cg = 3)', rule: 'cpu', shape: [2, 16, 16, 6], groups: 2, seed: 63, before: 1.21 },
  { name: 'groupNorm, thread, instance norm in vec4 lanes', rule: 'cpu', shape: [2, 16, 16, 8], groups: 8, seed: 64, before: 1.8 },
  { name: 'groupNorm, GPU rule: instance norm of 64 loads, one thread chunk', rule: 'gpu', shape: [8, 8, 8, 4], groups: 4, seed: 100, before: 2.66 },
  { name: "layerNorm's GPU route (groupNorm, groups 1 over rows), GPU rule", rule: 'gpu', shape: [8, 256], groups: 1, seed: 100, before: 1.73 },
  { name: 'layerNorm, thread per row, vec4 (C = 256)', rule: 'rows', shape: [4, 256], groups: 1, seed: 66, before: 1.08 },
  { name: 'layerNorm, thread per row, scalar (C = 255)', rule: 'rows', shape: [4, 255], groups: 1, seed: 67, before: 2.19 },
];

describe('groupNorm and layerNorm kernels at mean 1e4, spread 0.1', () => {
  for (const [k, v] of VARIANTS.entries()) {
    it(`${v.name}: the mean within float32's rounding of float64's (${v.before} ulp off uncorrected), and y`, async () => {
      const c = v.shape[v.shape.length - 1];
      const x = channelValues('large mean', size(v.shape), v.seed);
      const [gamma, beta] = [f32(uniform(c, 70 + k, 0.5, 1.5)), f32(uniform(c, 80 + k, -1, 1))];
      const asGroups = v.shape.length === 2 ? [v.shape[0], 1, 1, c] : v.shape;
      const ref = groupNormForwardRef(nd(x, asGroups), nd(gamma, [c]), nd(beta, [c]), v.groups);
      const [xt, gt, bt] = [fromNd(x, v.shape), fromNd(gamma, [c]), fromNd(beta, [c])];
      if (v.rule !== 'rows') setGroupNormRule(v.rule);
      const raw = v.rule === 'rows' ? layerNormRowsForward(xt, gt, bt, 1e-5) : groupNormForward(xt, gt, bt, { groups: v.groups });
      const [mean, y] = await Promise.all([raw.mean.toArray(), raw.y.toArray()]);
      for (const t of [xt, gt, bt, raw.y, raw.mean, raw.invStd]) t.dispose();
      expectClose(`${v.name} mean`, mean, ref.mean, { atol: 0.75 * ULP_1E4, rtol: 0 });
      expectClose(`${v.name} y`, y, ref.y.data, tolerances(1e4, 1.5 * Math.max(...ref.invStd), 0.75).y);
    });
  }
});

function row0IsBeta(y: ArrayLike<number>, beta: Float64Array): boolean {
  return Array.from(beta).every((b, k) => y[k] === Math.fround(b));
}
