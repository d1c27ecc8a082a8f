// The kernel cases' output check compares every output (bench/harness.ts compareEach): a case
// whose second output is wrong fails, masks are compared by the share of elements that differ,
// and outputs tfjs has no counterpart for are left out by name. And the launch case's ratio is on
// wall clock whatever the run's clock (BenchCase.ratioOnWall). Not a speed test.

import { describe, expect, it } from 'vitest';
import { runtime } from '../../src/gpu/runtime.js';
import { unaryForward } from '../../src/kernels/elementwise.js';
import type { BenchCase } from '../../bench/case.js';
import { elementwiseFamily } from '../../bench/cases/elementwise.js';
import { compareEach, runCase, timed } from '../../bench/harness.js';
import { useGpu } from '../helpers/gpu.js';
import { useTfjsPeer } from '../helpers/tfjs-peer.js';

useGpu();

const peer = useTfjsPeer();

const f32 = (...v: number[]) => Float32Array.from(v);

describe('compareEach', () => {
  it('compares every output and names the worst', () => {
    const ok = compareEach([f32(1, 2), f32(3, 4)], [f32(1, 2), f32(3, 4)], 1e-4);
    expect(ok.ok).toBe(true);
    const bad = compareEach([f32(1, 2), f32(3, -4)], [f32(1, 2), f32(3, 4)], 1e-4, [{ name: 'y' }, { name: 'mask' }]);
    expect([bad.ok, bad.output, bad.maxRelErr]).toEqual([false, 'mask', 2]);
    expect(compareEach([f32(1, 2), f32(3, -4)], [f32(1, 2), f32(3, 4)], 1e-4).output).toBe('output 2');
  });

  it('fails on a different number of outputs', () => {
    expect(compareEach([f32(1)], [f32(1), f32(2)], 1e-4).ok).toBe(false);
  });

  it('compares a mask by the share of elements that differ', () => {
    const want = new Float32Array(2000).fill(1);
    const flipped = (n: number) => want.map((v, i) => (i < n ? 0 : v));
    const spec = [{ name: 'mask', mask: true as const }];
    expect(compareEach([flipped(2)], [want], 1e-4, spec).ok).toBe(true);
    expect(compareEach([flipped(3)], [want], 1e-4, spec).ok).toBe(false);
    expect(compareEach([flipped(2)], [want], 1e-4).ok, 'without the spec, one element decides').toBe(false);
  });

  it('leaves out the outputs marked unchecked', () => {
    const specs = [{ name: 'y' }, { name: 'argmax', unchecked: 'tfjs has none' }];
    expect(compareEach([f32(1), f32(7)], [f32(1)], 1e-4, specs).ok).toBe(true);
  });
});

describe('a case with two outputs', () => {
  const timing = { warmup: 0, reps: 1, minSampleMs: 0, maxInner: 1 };
  const twoOutputs = (second: 'relu' | 'abs'): BenchCase => ({
    id: 'fake/two-outputs',
    group: 'fake',
    shape: '64',
    metric: 'bytes',
    work: 512,
    inputs: [{ name: 'x', shape: [64] }],
    dawnet: ([a]) => [unaryForward('relu', a), unaryForward(second, a)],
    tfjs: (tf, [a]) => [tf.relu(a), tf.relu(a)],
    outputs: [{ name: 'first' }, { name: 'second' }],
  });

  it('fails when only the second output is wrong, and names it', async () => {
    const env = { timing, peak: null, tfjs: peer(), check: true, seed: 3 };
    const right = await runCase(twoOutputs('relu'), env);
    expect(right.check).toEqual({ maxRelErr: 0, tolerance: 1e-4, ok: true, output: 'first' });
    const wrong = await runCase(twoOutputs('abs'), env);
    expect(wrong.check!.ok).toBe(false);
    expect(wrong.check!.output).toBe('second');
  });
});

describe('the launch case', () => {
  it('takes its ratio from both sides\' wall medians, on GPU timestamps too', async () => {
    const c = (await elementwiseFamily.cases(32))!.find((x) => x.id === 'launch/relu-1')!;
    expect(c.ratioOnWall).toBeTruthy();
    const gpu = runtime().gpuTimer.available && peer().gpuClock !== null;
    const clocks = gpu ? ({ dawnet: 'gpu-timestamp', tfjs: 'gpu-timestamp' } as const) : ({ dawnet: 'wall', tfjs: 'wall' } as const);
    const row = await runCase(c, { timing: { warmup: 1, reps: 3, minSampleMs: 2, maxInner: 8 }, peak: null, tfjs: peer(), check: true, seed: 1, clocks });
    if (!timed(row.dawnet) || !timed(row.tfjs)) throw new Error('a side was not timed');
    expect(row.ratioClock).toBe('wall');
    expect(row.ratio).toBeCloseTo(row.tfjs.wall.medianMs / row.dawnet.wall.medianMs, 10);
    // The sides keep their own clock's samples (the bars' launch floor reads dawnet's).
    if (gpu) expect(row.dawnet.clock).toBe('gpu-timestamp');
  });
});
