import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { runtime } from '../../src/gpu/runtime.js';
import { GROUP_CHUNK, groupNorm, groupNormBackward, groupNormForward } from '../../src/kernels/groupnorm.js';
import { nd, type NdArray } from '../../src/reference/array.js';
import { groupMoments, groupNormBackwardRef, groupNormForwardRef } from '../../src/reference/groupnorm.js';
import { expectClose } from '../helpers/close.js';
import { checkGrad } from '../helpers/finite-diff.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

const CASES = [
  // Cg = 2: one float at a time, three groups interleaved along each pixel's channels.
  { shape: [2, 5, 7, 6], groups: 3 },
  // Instance norm: Cg = 1, so scalar kernels although C is a multiple of 4.
  { shape: [1, 4, 4, 8], groups: 8 },
  // Layer norm over H, W, C: Cg = 4, vec4 kernels.
  { shape: [3, 6, 5, 4], groups: 1 },
  // Cg = 4 with three groups: vec4 loads whose group index must follow the strided channels.
  { shape: [2, 3, 5, 12], groups: 3 },
  // Rank 2: groups of channels only (5 values each: groups of 2 would make xhat = ±1 whatever x,
  // so dx is ~0 by cancellation, and random pairs that lie close give invStd ~100 and float32
  // noise ~1e-5, as batchnorm.test.ts's smallest batch); and rank 3.
  { shape: [2, 10], groups: 2 },
  { shape: [2, 7, 6], groups: 2 },
  // Groups longer than one workgroup's chunk, so reduce.ts adds the chunks' partials: 8192 loads
  // in 2 chunks (scalar, Cg = 2), 8192 vec4s in 2 (Cg = 8), 9000 floats in 3 (the last partial).
  { shape: [2, 64, 64, 8], groups: 4 },
  { shape: [2, 64, 64, 8], groups: 1 },
  { shape: [1, 100, 90, 1], groups: 1 },
] as const;

interface Data {
  shape: number[];
  groups: number;
  c: number;
  x: Float64Array;
  gamma: Float64Array;
  beta: Float64Array;
  dy: Float64Array;
}

/** `offset`: x's centre. Rounded to float32 so the reference normalises exactly what the GPU gets. */
function makeData(shape: readonly number[], groups: number, seed: number, offset = 3, spread = 1): Data {
  const n = shape.reduce((p, d) => p * d, 1);
  const c = shape[shape.length - 1];
  return {
    shape: [...shape],
    groups,
    c,
    x: Float64Array.from(Float32Array.from(uniform(n, seed, offset - spread, offset + spread))),
    gamma: uniform(c, seed + 1, 0.5, 1.5),
    beta: uniform(c, seed + 2),
    dy: uniform(n, seed + 3),
  };
}

const ndOf = (d: Data) => ({ x: nd(d.x, d.shape), gamma: nd(d.gamma, [d.c]), beta: nd(d.beta, [d.c]), dy: nd(d.dy, d.shape) });

/** Loads per group, as the sums kernels count them (vec4s where Cg is a multiple of 4). */
const loadsPerGroup = (d: Data) => d.x.length / d.shape[0] / d.groups / ((d.c / d.groups) % 4 === 0 ? 4 : 1);

/**
 * GPU against the float64 reference. Tolerances: the defaults (atol 1e-5, rtol 1e-4) as for
 * batchnorm.ts, whose statistics are the same two-pass sums, with x in [2, 4] (|x - mean| <= 1).
 * Measured on lavapipe over these cases and 3 seeds: y up to 1.4e-6, dx 1e-6; dgamma 2.4e-5 and
 * dbeta 1.5e-5 where they sum 8192-9000 terms, but those sums are 35-86 in size, so rtol allows
 * 3.5e-3 and more. `tol` widens y, dx and the statistics, `sumTol` dgamma (the large-offset test).
 */
async function checkGpu(name: string, d: Data, tol = {}, sumTol = {}): Promise<void> {
  const r = ndOf(d);
  const want = groupNormForwardRef(r.x, r.gamma, r.beta, d.groups);
  const x = fromNd(d.x, d.shape, true);
  const gamma = fromNd(d.gamma, [d.c], true);
  const beta = fromNd(d.beta, [d.c], true);
  const raw = groupNormForward(x, gamma, beta, { groups: d.groups });
  expectClose(`${name} mean`, await raw.mean.toArray(), want.mean, tol);
  expectClose(`${name} invStd`, await raw.invStd.toArray(), want.invStd);
  expect(raw.mean.shape).toEqual([d.shape[0], d.groups]);
  for (const t of [raw.y, raw.mean, raw.invStd]) t.dispose();
  const y = groupNorm(x, gamma, beta, { groups: d.groups });
  expectClose(`${name} y`, await y.toArray(), want.y.data, tol);
  const dy = fromNd(d.dy, d.shape);
  y.backward(dy);
  const g = groupNormBackwardRef(r.x, r.gamma, r.dy, d.groups);
  expectClose(`${name} dx`, await x.grad!.toArray(), g.dx.data, tol);
  expectClose(`${name} dgamma`, await gamma.grad!.toArray(), g.dgamma.data, sumTol);
  expectClose(`${name} dbeta`, await beta.grad!.toArray(), g.dbeta.data);
  for (const t of [x, gamma, beta, y, dy]) t.dispose();
}

describe('groupNorm', () => {
  for (const [k, cs] of CASES.entries()) {
    const d = makeData(cs.shape, cs.groups, 10 * k + 1);
    const name = `groupNorm ${JSON.stringify(cs.shape)} groups ${cs.groups}`;

    if (d.x.length <= 500) it(`${name}: CPU backward matches finite differences`, () => {
      const r = ndOf(d);
      const { dx, dgamma, dbeta } = groupNormBackwardRef(r.x, r.gamma, r.dy, d.groups);
      const fwd = (x: NdArray, g: NdArray, b: NdArray) => groupNormForwardRef(x, g, b, d.groups).y;
      checkGrad(`${name} dx`, (v) => fwd(nd(v, d.shape), r.gamma, r.beta), d.x, d.dy, dx.data);
      checkGrad(`${name} dgamma`, (v) => fwd(r.x, nd(v, [d.c]), r.beta), d.gamma, d.dy, dgamma.data);
      checkGrad(`${name} dbeta`, (v) => fwd(r.x, r.gamma, nd(v, [d.c])), d.beta, d.dy, dbeta.data);
    });

    it(`${name}: GPU forward, statistics and backward match CPU`, async () => {
      await checkGpu(name, d);
    });
  }

  it('the last three cases have groups longer than one chunk', () => {
    for (const cs of CASES.slice(-3)) expect(loadsPerGroup(makeData(cs.shape, cs.groups, 0))).toBeGreaterThan(GROUP_CHUNK);
  });

  // Values 1000 ± 1: the two-pass variance keeps invStd to the defaults (rtol 1e-4), as its error
  // is second order in the mean's. Σx²/M - mean² in float32 (Σx²/M ~ 1e6, float32 spacing 0.06,
  // variance 1/3) gave invStd 1.41 for 1.67 here, 15% off, when tried as a mutation.
  // The mean can only be as good as float32 at 1000 (spacing 6.1e-5) plus the sums' rounding, and
  // that error shifts every x - mean alike: measured over 3 seeds and 3 shapes, y up to 1.5e-4
  // (a mean off by ~6e-5, times invStd 1.7 and gamma 1.5), dx 4.2e-5, so atol 5e-4 for y, dx
  // and the mean; dgamma adds that shift times dy over 128-512 rows, measured up to 1.2e-3 (this
  // shape: 7.8e-4), so atol 3e-3. A variance 10% wrong moves xhat by 0.1-0.2 and fails by far.
  it('keeps the variance accurate for large offsets (two passes)', async () => {
    const d = makeData([2, 8, 8, 8], 2, 500, 1000, 1);
    await checkGpu('offset 1000', d, { atol: 5e-4, rtol: 1e-4 }, { atol: 3e-3, rtol: 1e-4 });
  });

  it('computes only the gradients asked for', async () => {
    const d = makeData([2, 3, 5, 12], 3, 700);
    const r = ndOf(d);
    const want = groupNormBackwardRef(r.x, r.gamma, r.dy, d.groups);
    const x = fromNd(d.x, d.shape);
    const gamma = fromNd(d.gamma, [d.c]);
    const beta = fromNd(d.beta, [d.c]);
    const dy = fromNd(d.dy, d.shape);
    const o = { groups: d.groups };
    const { y, mean, invStd } = groupNormForward(x, gamma, beta, o);
    for (const needs of [[true, false, false], [false, true, false], [false, false, true], [false, true, true]]) {
      const got = groupNormBackward(dy, x, gamma, mean, invStd, o, needs);
      const all = [got.dx, got.dgamma, got.dbeta];
      expect(all.map((t) => t !== null)).toEqual(needs);
      const wants = [want.dx.data, want.dgamma.data, want.dbeta.data];
      for (const [i, t] of all.entries()) if (t) expectClose(`needs ${needs} [${i}]`, await t.toArray(), wants[i]);
      for (const t of all) t?.dispose();
    }
    // Through the tape: only x requires a gradient, so gamma and beta get none.
    const xg = fromNd(d.x, d.shape, true);
    const out = groupNorm(xg, gamma, beta, o);
    out.backward(dy);
    expect(gamma.grad).toBeNull();
    expect(beta.grad).toBeNull();
    expectClose('dx through the tape', await xg.grad!.toArray(), want.dx.data);
    for (const t of [x, xg, gamma, beta, dy, y, mean, invStd, out]) t.dispose();
  });

  it('groupNormForward returns the group statistics [N, G], with eps as given', async () => {
    const d = makeData([3, 4, 4, 6], 2, 800);
    const want = groupMoments(nd(d.x, d.shape), 2, 1e-3);
    const [x, gamma, beta] = [fromNd(d.x, d.shape), fromNd(d.gamma, [6]), fromNd(d.beta, [6])];
    const { y, mean, invStd } = groupNormForward(x, gamma, beta, { groups: 2, eps: 1e-3 });
    expectClose('mean', await mean.toArray(), want.mean);
    expectClose('invStd (eps 1e-3)', await invStd.toArray(), want.invStd);
    for (const t of [x, gamma, beta, y, mean, invStd]) t.dispose();
  });

  it('rejects bad shapes, options and arguments with errors naming groupNorm', () => {
    const expectError = (fn: () => unknown, cls: typeof dn.DawnetError): void => {
      let err: unknown = null;
      try {
        fn();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(cls);
      expect((err as Error).message.startsWith('groupNorm: '), (err as Error).message).toBe(true);
    };
    dn.scope(() => {
      const x = dn.zeros([2, 3, 3, 6]);
      const p = dn.zeros([6]);
      expectError(() => groupNorm(x, p, p, { groups: 4 }), dn.ShapeError);
      expectError(() => groupNorm(x, dn.zeros([3]), p, { groups: 3 }), dn.ShapeError);
      expectError(() => groupNorm(x, p, dn.zeros([6, 1]), { groups: 3 }), dn.ShapeError);
      expectError(() => groupNorm(dn.zeros([6]), p, p, { groups: 3 }), dn.ShapeError);
      expectError(() => groupNorm(x, p, p, { groups: 0 }), dn.ArgumentError);
      expectError(() => groupNorm(x, p, p, { groups: 1.5 }), dn.ArgumentError);
      expectError(() => groupNorm(x, p, p, { groups: 3, eps: 0 }), dn.ArgumentError);
      expectError(() => groupNorm(x, p, p, undefined as never), dn.ArgumentError);
      expectError(() => groupNorm([1, 2] as never, p, p, { groups: 3 }), dn.ArgumentError);
      expectError(() => groupNorm(x, 1 as never, p, { groups: 3 }), dn.ArgumentError);
      expectError(() => groupNorm(x, p, null as never, { groups: 3 }), dn.ArgumentError);
      const y = groupNormForward(x, p, p, { groups: 3 });
      expectError(() => groupNormBackward(dn.zeros([2, 9, 6]), x, p, y.mean, y.invStd, { groups: 3 }), dn.ShapeError);
      expectError(() => groupNormBackward(x, x, p, y.mean, y.invStd, { groups: 2 }), dn.ShapeError);
      // x is bound whole: past the binding limit a clear LimitError, before anything is allocated.
      runtime().setBindingLimit(64 * 4);
      try {
        expectError(() => groupNorm(x, p, p, { groups: 3 }), dn.LimitError);
      } finally {
        runtime().setBindingLimit(null);
      }
    });
  });
});
