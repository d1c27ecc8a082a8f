// Smoke test of the benchmark harness: one tiny case through warm-up and timing on dawnet and on
// tfjs (same Dawn GPU object), well-formed results, and the two outputs agreeing. Not a speed test.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runtime } from '../../src/gpu/runtime.js';
import { family, type BenchCase } from '../../bench/case.js';
import { elementwiseFamily } from '../../bench/cases/elementwise.js';
import { compareOutputs, runCase, summarise, type SideResult } from '../../bench/harness.js';
import { loadTfjs, type TfjsPeer } from '../../bench/peer-tfjs.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

let peer: TfjsPeer | null = null;
beforeAll(async () => {
  peer = await loadTfjs(runtime().ctx.nodeGpu!);
}, 60_000);
afterAll(() => peer?.unload());

function expectTiming(what: string, side: SideResult | { error: string } | null, reps: number): SideResult {
  expect(side, what).not.toBeNull();
  if (!side || 'error' in side) throw new Error(`${what} failed: ${side && 'error' in side ? side.error : 'no result'}`);
  const t = side.timing;
  expect(t.samplesMs).toHaveLength(reps);
  for (const v of [t.minMs, t.q1Ms, t.medianMs, t.q3Ms, t.maxMs]) expect(Number.isFinite(v) && v > 0, `${what} times`).toBe(true);
  expect(t.minMs <= t.q1Ms && t.q1Ms <= t.medianMs && t.medianMs <= t.q3Ms && t.q3Ms <= t.maxMs, `${what} order`).toBe(true);
  expect(side.rate).toBeGreaterThan(0);
  expect(side.pctPeak).toBeGreaterThan(0);
  return side;
}

describe('bench harness', () => {
  it('summarise: median, quartiles and range of known samples', () => {
    const t = summarise([5, 1, 4, 2, 3]);
    expect([t.minMs, t.q1Ms, t.medianMs, t.q3Ms, t.maxMs]).toEqual([1, 2, 3, 4, 5]);
    expect(summarise([1, 2]).medianMs).toBe(1.5);
  });

  it('compareOutputs: relative to the largest reference value', () => {
    const want = Float32Array.from([10, -20, 5]);
    expect(compareOutputs(Float32Array.from([10, -20.001, 5]), want, 1e-4).ok).toBe(true);
    expect(compareOutputs(Float32Array.from([10, -20.1, 5]), want, 1e-4).ok).toBe(false);
    expect(compareOutputs(Float32Array.from([10, NaN, 5]), want, 1e-4).ok).toBe(false);
  });

  it('a family whose kernel module is missing yields no cases', async () => {
    const fam = family<never>('missing', async () => null, () => [] as BenchCase[]);
    expect(await fam.cases(1)).toBeNull();
  });

  it('add at a tiny scale: timed on both sides, outputs agree', async () => {
    // Scale 32: [1, 8, 8, 32], 2048 elements per operand.
    const cases = (await elementwiseFamily.cases(32))!;
    const c = cases.find((x) => x.id === 'add/unet-l1')!;
    expect(c.inputs[0].shape).toEqual([1, 8, 8, 32]);
    const row = await runCase(c, {
      timing: { warmup: 1, reps: 2, minSampleMs: 0, maxInner: 1 },
      peak: { gflops: 1, gbps: 1 },
      tfjs: peer,
      check: true,
      seed: 7,
    });
    expect(row.id).toBe('add/unet-l1');
    expect(row.work).toBe(3 * 2048 * 4);
    const dn = expectTiming('dawnet', row.dawnet, 2);
    const tf = expectTiming('tfjs', row.tfjs, 2);
    expect(row.ratio).toBeCloseTo(tf.timing.medianMs / dn.timing.medianMs, 10);
    expect(row.check).not.toBeNull();
    // Both add the same float32 values: the results are bit-identical.
    expect(row.check!.maxRelErr).toBe(0);
    expect(row.check!.ok).toBe(true);
  });
});
