// Group norm's statistics under each of groupnorm-threads.ts's rules: 'cpu' (a thread per
// (sample, group) chunk of up to THREAD_CHUNK loads), 'gpu' (the thread for groups of up to
// SMALL_GROUP loads, the workgroup tree beyond) and 'tree' (the old kernel only), against the
// float64 reference, forward and backward. The shapes are those the thread took over: instance
// norm with C a multiple of 4 (the lanes layout, four groups a thread) and without, groups of one
// element, Cg = 3 and vec4 groups (Cg = 8), and groups of several thread chunks (a chunk boundary
// inside a row of pixels when Cg = 3).

import { afterEach, describe, expect, it, vi } from 'vitest';
import { runtime } from '../../src/gpu/runtime.js';
import { isCpuAdapterReport } from '../../src/gpu/adapter-kind.js';
import { groupNorm, groupNormForward } from '../../src/kernels/groupnorm.js';
import { setGroupNormRule, SMALL_GROUP, THREAD_CHUNK, type GroupNormRule } from '../../src/kernels/groupnorm-threads.js';
import { nd } from '../../src/reference/array.js';
import { groupNormBackwardRef, groupNormForwardRef } from '../../src/reference/groupnorm.js';
import { expectClose } from '../helpers/close.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();
afterEach(() => {
  setGroupNormRule(null);
  vi.restoreAllMocks();
});

const RULES: GroupNormRule[] = ['cpu', 'gpu', 'tree'];

const CASES = [
  { shape: [2, 5, 7, 8], groups: 8 }, // instance norm, lanes
  { shape: [2, 5, 7, 6], groups: 6 }, // instance norm, C = 6: one float a thread
  { shape: [16, 1, 1, 12], groups: 12 }, // groups of one element (variance 0), lanes
  { shape: [16, 1, 1, 6], groups: 6 }, // groups of one element, scalar
  { shape: [2, 33, 31, 6], groups: 2 }, // Cg = 3: 3069 loads, chunks of 1023
  { shape: [2, 33, 31, 16], groups: 2 }, // Cg = 8: two vec4s a pixel, 2046 loads in 2 chunks
  { shape: [2, 40, 40, 8], groups: 8 }, // lanes, 1600 pixels: 2 chunks
  { shape: [1, 100, 90, 1], groups: 1 }, // 9000 loads: 9 chunks
  // Rank 2, Cg = 5 (groups of 2 make xhat ±1 whatever x: dx cancels to float32 noise on any kernel).
  { shape: [3, 15], groups: 3 },
] as const;

/**
 * Tolerances: the defaults (atol 1e-5, rtol 1e-4), as groupnorm.test.ts's, whose x lies in [2, 4]
 * too: the two-pass statistics keep |x - mean| <= 1 whatever kernel sums, and a thread's blocks of
 * 64 loads round no more than the tree (groupnorm-threads.ts). dgamma and dbeta are reduce.ts's
 * column sums either way, of up to 2046 terms dy·xhat (|dy| <= 1, |xhat| <= 1.8) that can cancel
 * to ~0.005: float32 rounding of Σ|terms| ~ 900 is ~5e-5 (measured 1.4e-5 at [2, 33, 31, 16]),
 * so their atol is 1e-4; a mean or invStd off by 1e-3 still moves them by far more.
 */
async function check(name: string, shape: readonly number[], groups: number, seed: number): Promise<void> {
  const n = shape.reduce((p, d) => p * d, 1);
  const c = shape[shape.length - 1];
  const xs = Float64Array.from(Float32Array.from(uniform(n, seed, 2, 4)));
  const [gs, bs, dys] = [uniform(c, seed + 1, 0.5, 1.5), uniform(c, seed + 2), uniform(n, seed + 3)];
  const want = groupNormForwardRef(nd(xs, [...shape]), nd(gs, [c]), nd(bs, [c]), groups);
  const x = fromNd(xs, [...shape], true);
  const [gamma, beta] = [fromNd(gs, [c], true), fromNd(bs, [c], true)];
  const raw = groupNormForward(x, gamma, beta, { groups });
  expectClose(`${name} mean`, await raw.mean.toArray(), want.mean);
  expectClose(`${name} invStd`, await raw.invStd.toArray(), want.invStd);
  for (const t of [raw.y, raw.mean, raw.invStd]) t.dispose();
  const y = groupNorm(x, gamma, beta, { groups });
  expectClose(`${name} y`, await y.toArray(), want.y.data);
  const dy = fromNd(dys, [...shape]);
  y.backward(dy);
  const g = groupNormBackwardRef(nd(xs, [...shape]), nd(gs, [c]), nd(dys, [...shape]), groups);
  expectClose(`${name} dx`, await x.grad!.toArray(), g.dx.data);
  expectClose(`${name} dgamma`, await gamma.grad!.toArray(), g.dgamma.data, { atol: 1e-4 });
  expectClose(`${name} dbeta`, await beta.grad!.toArray(), g.dbeta.data, { atol: 1e-4 });
  for (const t of [x, gamma, beta, y, dy]) t.dispose();
}

describe('groupNorm under each rule', () => {
  for (const rule of RULES) {
    for (const [k, cs] of CASES.entries()) {
      it(`${rule}: ${JSON.stringify(cs.shape)} groups ${cs.groups}: statistics, forward and backward match float64`, async () => {
        setGroupNormRule(rule);
        await check(`${rule} ${JSON.stringify(cs.shape)} groups ${cs.groups}`, cs.shape, cs.groups, 40 + k);
      });
    }
  }

  it('cpu: values 1000 ± 1 keep the variance (two passes, as groupnorm.test.ts with its tolerances)', async () => {
    setGroupNormRule('cpu');
    const shape = [2, 8, 8, 8];
    const xs = Float64Array.from(Float32Array.from(uniform(1024, 500, 999, 1001)));
    const want = groupNormForwardRef(nd(xs, shape), nd(new Float64Array(8).fill(1), [8]), nd(new Float64Array(8), [8]), 8);
    const x = fromNd(xs, shape);
    const [gamma, beta] = [fromNd(new Float64Array(8).fill(1), [8]), fromNd(new Float64Array(8), [8])];
    const raw = groupNormForward(x, gamma, beta, { groups: 8 });
    // Σx²/M - mean² would be ~15% off here (groupnorm.test.ts); the mean within float32 at 1000.
    expectClose('offset invStd', await raw.invStd.toArray(), want.invStd);
    expectClose('offset y', await raw.y.toArray(), want.y.data, { atol: 5e-4, rtol: 1e-4 });
    for (const t of [x, gamma, beta, raw.y, raw.mean, raw.invStd]) t.dispose();
  });
});

describe('which kernel sums', () => {
  /** The sums kernels (name:key) of a forward and backward of groupNorm on zeros of `shape`. */
  async function sums(rule: GroupNormRule, shape: number[], groups: number): Promise<string[]> {
    setGroupNormRule(rule);
    const c = shape[shape.length - 1];
    const x = fromNd(new Float64Array(shape.reduce((p, d) => p * d, 1)), shape, true);
    const [gamma, beta] = [fromNd(new Float64Array(c).fill(1), [c]), fromNd(new Float64Array(c), [c])];
    const spy = vi.spyOn(runtime(), 'dispatch');
    const y = groupNorm(x, gamma, beta, { groups });
    const dy = fromNd(new Float64Array(x.size), shape);
    y.backward(dy);
    await x.grad!.toArray();
    const names = spy.mock.calls.filter(([spec]) => spec.name.startsWith('groupNorm.sums')).map(([spec]) => `${spec.name}:${spec.key}`);
    spy.mockRestore();
    for (const t of [x, gamma, beta, y, dy]) t.dispose();
    return names;
  }

  it('instance norm on the U-Net bottleneck: a thread per four channels on CPU adapters and GPUs, the tree only by force', async () => {
    // [8, 8, 8, 256]: 2048 groups of 64; on lavapipe the tree took 106 ms forward, the thread 3.4.
    const threads = ['meanw4lanes', 'varw4lanes', 'gradw4lanes'].map((k) => `groupNorm.sumsThreads:${k}`);
    expect(await sums('cpu', [8, 8, 8, 256], 256)).toEqual(threads);
    expect(await sums('gpu', [8, 8, 8, 256], 256)).toEqual(threads);
    expect(await sums('tree', [8, 8, 8, 256], 256)).toEqual(['meanw1', 'varw1', 'gradw1'].map((k) => `groupNorm.sums:${k}`));
  });

  it('long groups: threads in chunks on CPU adapters, the tree on GPUs', async () => {
    // 1600 loads per group: past SMALL_GROUP and THREAD_CHUNK.
    expect(1600).toBeGreaterThan(Math.max(SMALL_GROUP, THREAD_CHUNK));
    expect(await sums('cpu', [2, 40, 40, 12], 3)).toEqual(['meanw4', 'varw4', 'gradw4'].map((k) => `groupNorm.sumsThreads:${k}`));
    expect(await sums('gpu', [2, 40, 40, 12], 3)).toEqual(['meanw4', 'varw4', 'gradw4'].map((k) => `groupNorm.sums:${k}`));
  });

  it('this adapter takes its own rule', async () => {
    const cpu = isCpuAdapterReport(runtime().ctx.report);
    const names = await sums(null as unknown as GroupNormRule, [2, 40, 40, 12], 3);
    expect(names[0]).toBe(cpu ? 'groupNorm.sumsThreads:meanw4' : 'groupNorm.sums:meanw4');
  });
});
