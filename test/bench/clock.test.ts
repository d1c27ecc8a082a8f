// The benchmark's choice of clock (bench/harness.ts): which clock each side gets for --clock
// auto/gpu/wall, ratios only between medians of one clock, when GPU samples fall back to wall
// time, and how timeClocked gathers wall and GPU samples. Fake runners and clocks: no real case
// runs here (test/bench/harness.test.ts runs tiny ones on the GPU clock).

import { describe, expect, it } from 'vitest';
import { pctOfPeak, sameClockRatio, type SideResult } from '../../bench/harness.js';
import {
  chooseClocks,
  dawnetGpuClock,
  gpuFallback,
  summarise,
  timeClocked,
  timeInterleaved,
  type Clock,
  type GpuClock,
  type Runner,
} from '../../bench/timing.js';
import { checkCell, clockCell } from '../../bench/report.js';
import { runtime } from '../../src/gpu/runtime.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

function side(clock: Clock, medianMs: number, wallMs: number): SideResult {
  const wall = summarise([wallMs]);
  return { timing: clock === 'wall' ? wall : summarise([medianMs]), clock, wall, rate: 1, pctPeak: null };
}

/** A runner whose steps are counted, and a clock that reports `gpuMs` per run of `enqueue`. */
function fakes(gpuMs: (number | null)[], perturbsWall: boolean) {
  const calls = { steps: 0, syncs: 0, measures: 0 };
  const runner: Runner = {
    step: () => void calls.steps++,
    sync: async () => void calls.syncs++,
  };
  const clock: GpuClock = {
    perturbsWall,
    measure: async (enqueue) => {
      const before = calls.steps;
      enqueue();
      const reading = gpuMs[calls.measures++ % gpuMs.length];
      // Wall time of the timed run: 10 ms per step, so a test can tell it from untimed samples.
      return { wallMs: 10 * (calls.steps - before), gpuMs: reading };
    },
  };
  return { calls, runner, clock };
}

describe('clock choice', () => {
  it('chooseClocks: auto uses GPU timestamps only when every side run has them', () => {
    const gpu: Clock = 'gpu-timestamp';
    expect(chooseClocks('auto', { dawnet: true, tfjs: true })).toEqual({ dawnet: gpu, tfjs: gpu });
    expect(chooseClocks('auto', { dawnet: true, tfjs: null })).toEqual({ dawnet: gpu, tfjs: 'wall' });
    expect(chooseClocks('auto', { dawnet: true, tfjs: false })).toEqual({ dawnet: 'wall', tfjs: 'wall' });
    expect(chooseClocks('auto', { dawnet: false, tfjs: true })).toEqual({ dawnet: 'wall', tfjs: 'wall' });
    expect(chooseClocks('gpu', { dawnet: true, tfjs: false })).toEqual({ dawnet: gpu, tfjs: 'wall' });
    expect(chooseClocks('gpu', { dawnet: true, tfjs: true })).toEqual({ dawnet: gpu, tfjs: gpu });
    expect(chooseClocks('wall', { dawnet: true, tfjs: true })).toEqual({ dawnet: 'wall', tfjs: 'wall' });
  });

  it('sameClockRatio: the sides\' medians on a shared clock, else both walls', () => {
    const both = sameClockRatio(side('gpu-timestamp', 2, 5), side('gpu-timestamp', 6, 8));
    expect(both).toEqual({ ratio: 3, ratioClock: 'gpu-timestamp' });
    const mixed = sameClockRatio(side('gpu-timestamp', 2, 5), side('wall', 6, 20));
    expect(mixed).toEqual({ ratio: 4, ratioClock: 'wall' });
    expect(sameClockRatio(side('wall', 0, 5), side('wall', 0, 10))).toEqual({ ratio: 2, ratioClock: 'wall' });
    expect(sameClockRatio({ error: 'x' }, side('wall', 0, 10))).toEqual({ ratio: null, ratioClock: null });
    expect(sameClockRatio(side('wall', 0, 10), null)).toEqual({ ratio: null, ratioClock: null });
  });

  it('clockCell names the clocks, dawnet first when they differ', () => {
    const row = (dawnet: SideResult, tfjs: SideResult | null) => ({ dawnet, tfjs }) as Parameters<typeof clockCell>[0];
    expect(clockCell(row(side('gpu-timestamp', 1, 2), side('gpu-timestamp', 1, 2)))).toBe('gpu');
    expect(clockCell(row(side('gpu-timestamp', 1, 2), side('wall', 1, 2)))).toBe('gpu/wall');
    expect(clockCell(row(side('wall', 1, 2), null))).toBe('wall');
    // Both GPU-timed, the ratio on the wall clock (the launch case): the cell says so.
    const launch = { ...row(side('gpu-timestamp', 1, 2), side('gpu-timestamp', 1, 2)), ratioClock: 'wall' } as Parameters<typeof clockCell>[0];
    expect(clockCell(launch)).toBe('gpu, ratio wall');
    expect(clockCell({ ...launch, ratioClock: 'gpu-timestamp' })).toBe('gpu');
  });

  it('checkCell: ok or DIFF with the worst error, a failed check naming its output', () => {
    expect(checkCell({ check: null })).toBe('-');
    expect(checkCell({ check: { ok: true, maxRelErr: 3e-7, tolerance: 5e-4, output: 'dgamma' } })).toBe('ok 3e-7');
    expect(checkCell({ check: { ok: false, maxRelErr: 0.5, tolerance: 5e-4, output: 'dgamma' } })).toBe('DIFF 5e-1 (dgamma)');
    expect(checkCell({ check: { ok: false, maxRelErr: 0.5, tolerance: 5e-4 } })).toBe('DIFF 5e-1');
  });

  it('gpuFallback: a missing reading or a median of 0 falls back to wall time', () => {
    expect(gpuFallback([1, 2, 3])).toBeNull();
    expect(gpuFallback([0, 2, 3])).toBeNull();
    expect(gpuFallback([1, null, 3])).toMatch(/no GPU time/);
    expect(gpuFallback([0, 0, 3])).toMatch(/rounds to 0/);
    expect(gpuFallback([NaN, 1, 1])).toMatch(/no GPU time/);
  });

  it('pctOfPeak: only against a peak timed on the same clock', () => {
    expect(pctOfPeak(5, 10, 'gpu-timestamp', 'gpu-timestamp')).toBe(50);
    expect(pctOfPeak(5, 10, 'wall', 'gpu-timestamp')).toBeNull();
    expect(pctOfPeak(5, null, 'wall', 'wall')).toBeNull();
  });
});

describe('timeClocked', () => {
  const opts = { warmup: 1, reps: 3, minSampleMs: 0, maxInner: 1 };

  it('a clock that leaves the work alone gives wall and GPU time from the same samples', async () => {
    const { calls, runner, clock } = fakes([2, 4, 3], false);
    const t = await timeClocked(runner, opts, clock);
    expect(t.clock).toBe('gpu-timestamp');
    expect(t.timing.samplesMs).toEqual([2, 4, 3]);
    expect(t.timing.medianMs).toBe(3);
    expect(t.wall.samplesMs).toEqual([10, 10, 10]);
    expect([calls.steps, calls.measures]).toEqual([1 + 3, 3]);
  });

  it('a clock that changes how work is submitted (tfjs) gets separate untimed wall samples', async () => {
    const { calls, runner, clock } = fakes([2, 4, 3], true);
    const t = await timeClocked(runner, opts, clock);
    expect(t.clock).toBe('gpu-timestamp');
    expect(t.timing.medianMs).toBe(3);
    expect(t.wall.samplesMs).toHaveLength(3);
    // Untimed samples: the fake's 10 ms per timed step never shows up in them.
    expect(t.wall.samplesMs.every((ms) => ms < 10)).toBe(true);
    expect([calls.steps, calls.measures]).toEqual([1 + 3 + 3, 3]);
  });

  it('GPU samples are per op run when a sample repeats the op', async () => {
    const { runner, clock } = fakes([8], false);
    const t = await timeClocked(runner, { warmup: 0, reps: 2, minSampleMs: 1e9, maxInner: 4 }, clock);
    expect(t.timing.inner).toBe(4);
    expect(t.timing.samplesMs).toEqual([2, 2]);
    expect(t.wall.samplesMs).toEqual([10, 10]);
  });

  it('no reading: the side falls back to wall time and says why', async () => {
    const { runner, clock } = fakes([2, null, 3], false);
    const t = await timeClocked(runner, opts, clock);
    expect(t.clock).toBe('wall');
    expect(t.timing).toBe(t.wall);
    expect(t.fallback).toMatch(/no GPU time/);
  });

  it('timeInterleaved: warm-ups side by side, then the sides\' samples alternate, in turn and in reverse, each on its own clock', async () => {
    const order: string[] = [];
    const logged = (name: string): Runner => ({ step: () => void order.push(name), sync: async () => {} });
    const clock: GpuClock = {
      perturbsWall: false,
      measure: async (enqueue) => {
        enqueue();
        return { wallMs: 5, gpuMs: 1 };
      },
    };
    const [a, b] = await timeInterleaved([{ runner: logged('a'), gpu: clock }, { runner: logged('b'), gpu: null }], opts);
    // One warm-up run each, then reps a, b; b, a; a, b.
    expect(order).toEqual(['a', 'b', 'a', 'b', 'b', 'a', 'a', 'b']);
    expect([a.clock, b.clock]).toEqual(['gpu-timestamp', 'wall']);
    expect(a.timing.samplesMs).toEqual([1, 1, 1]);
    expect(b.timing.samplesMs).toHaveLength(3);
  });

  it('without a GPU clock: wall time only', async () => {
    const { calls, runner } = fakes([1], false);
    const t = await timeClocked(runner, opts, null);
    expect(t.clock).toBe('wall');
    expect(t.fallback).toBeUndefined();
    expect(calls.steps).toBe(4);
  });

  it("dawnet's clock leaves the runtime's timer idle, also when the work throws", async () => {
    const gpu = dawnetGpuClock();
    if (!gpu) return expect(runtime().gpuTimer.available).toBe(false);
    const m = await gpu.measure(() => {});
    expect(m.gpuMs).toBe(0);
    expect(m.wallMs).toBeGreaterThanOrEqual(0);
    await expect(
      gpu.measure(() => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(runtime().gpuTimer.active).toBe(false);
  });
});
