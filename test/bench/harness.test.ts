// Smoke test of the benchmark harness: one tiny case through warm-up and timing on dawnet and on
// tfjs (same Dawn GPU object), well-formed results, and the two outputs agreeing, on wall clock and
// on GPU timestamps; one tiny end-to-end U-Net training step on both on GPU timestamps, with both
// sides' memory figures and its README rows; the memory minimum of a network small enough to work
// out by hand. Not a speed test.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { runtime } from '../../src/gpu/runtime.js';
import { family, type BenchCase } from '../../bench/case.js';
import { elementwiseFamily } from '../../bench/cases/elementwise.js';
import { conv2dFamily } from '../../bench/cases/conv2d.js';
import { conv2dGeometry } from '../../src/kernels/conv2d.js';
import { defaultConvFamily } from '../../src/kernels/conv2d-launch.js';
import { gemmOutFits } from '../../src/kernels/conv2d-winograd-gemm-out.js';
import { unetTrainCases } from '../../bench/cases/unet-train.js';
import { runE2eCase } from '../../bench/e2e.js';
import { compareOutputs, runCase, type SideResult } from '../../bench/harness.js';
import { summarise, type SideClocks } from '../../bench/timing.js';
import { markdownReport } from '../../bench/markdown.js';
import { DAWNET_SAVES, GraphBuilder, minimumMemory, parameterCount, stepFlops, unetGraph, vgg16Graph } from '../../bench/memory.js';
import { e2eRow, tableRow, type BenchRecord } from '../../bench/report.js';
import { mib as mibOf } from '../../bench/bars.js';
import { useGpu } from '../helpers/gpu.js';
import { useTfjsPeer } from '../helpers/tfjs-peer.js';

useGpu();

const peer = useTfjsPeer();

function expectTiming(what: string, side: SideResult | { error: string } | null, reps: number): SideResult {
  expect(side, what).not.toBeNull();
  if (!side || 'error' in side) throw new Error(`${what} failed: ${side && 'error' in side ? side.error : 'no result'}`);
  for (const t of [side.timing, side.wall]) {
    expect(t.samplesMs).toHaveLength(reps);
    for (const v of [t.minMs, t.q1Ms, t.medianMs, t.q3Ms, t.maxMs]) expect(Number.isFinite(v) && v > 0, `${what} times`).toBe(true);
    expect(t.minMs <= t.q1Ms && t.q1Ms <= t.medianMs && t.medianMs <= t.q3Ms && t.q3Ms <= t.maxMs, `${what} order`).toBe(true);
  }
  expect(side.rate).toBeGreaterThan(0);
  expect(side.pctPeak).toBeGreaterThan(0);
  return side;
}

/** GPU timestamps on both sides where both devices have them (lavapipe does), else wall. */
function gpuClocks(): SideClocks {
  const both = runtime().gpuTimer.available && peer().gpuClock != null;
  return both ? { dawnet: 'gpu-timestamp', tfjs: 'gpu-timestamp' } : { dawnet: 'wall', tfjs: 'wall' };
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
      tfjs: peer(),
      check: true,
      seed: 7,
    });
    expect(row.id).toBe('add/unet-l1');
    expect(row.work).toBe(3 * 2048 * 4);
    const dn = expectTiming('dawnet', row.dawnet, 2);
    const tf = expectTiming('tfjs', row.tfjs, 2);
    expect([dn.clock, tf.clock, row.ratioClock]).toEqual(['wall', 'wall', 'wall']);
    expect(dn.timing).toBe(dn.wall);
    expect(row.ratio).toBeCloseTo(tf.timing.medianMs / dn.timing.medianMs, 10);
    expect(row.check).not.toBeNull();
    // Both add the same float32 values: the results are bit-identical.
    expect(row.check!.maxRelErr).toBe(0);
    expect(row.check!.ok).toBe(true);
  });

  it('add on GPU timestamps: both sides timed on the GPU, wall time beside, ratio of GPU medians', async () => {
    // Scale 8: [2, 32, 32, 32], 65536 elements per operand, a few tenths of a ms on lavapipe: each
    // span stays well above Dawn's 65.5 us timestamp rounding (the tests' device keeps it).
    const c = (await elementwiseFamily.cases(8))!.find((x) => x.id === 'add/unet-l1')!;
    const clocks = gpuClocks();
    const reps = 3;
    const row = await runCase(c, {
      timing: { warmup: 1, reps, minSampleMs: 0, maxInner: 1 },
      peak: { gflops: 1, gbps: 1, clock: clocks.dawnet },
      tfjs: peer(),
      check: true,
      seed: 7,
      clocks,
    });
    const dn = expectTiming('dawnet', row.dawnet, reps);
    const tf = expectTiming('tfjs', row.tfjs, reps);
    expect([dn.clock, tf.clock, row.ratioClock], `fallbacks: ${dn.fallback}, ${tf.fallback}`).toEqual([clocks.dawnet, clocks.tfjs, clocks.dawnet]);
    expect(row.ratio).toBeCloseTo(tf.timing.medianMs / dn.timing.medianMs, 10);
    if (clocks.dawnet === 'gpu-timestamp') {
      // dawnet's GPU span lies inside the same sample's wall interval (up to one rounding step).
      dn.timing.samplesMs.forEach((gpu, i) => expect(gpu).toBeLessThanOrEqual(dn.wall.samplesMs[i] + 0.066));
      expect(tableRow(row)).toMatch(/ gpu /);
    }
    expect(row.check!.ok).toBe(true);
  });

  it('a conv forward: the algorithm it ran, the others timed beside it, and its kernels one by one', async () => {
    // Scale 32: U-Net l2 is [1, 8, 8, 64]. On lavapipe convAlgorithm keeps it direct, so the four
    // Winograds are the alternatives (its weights are too many for the uniform-weights kernel
    // itself, but 64 x 64 channels fit Winograd's U[ξ] in a uniform buffer, and 64 output channels
    // the F(2x2) kernel's workgroups of 32); forced, Winograd and direct swap.
    const c = (await conv2dFamily.cases(32))!.find((x) => x.id === 'conv2d.forward/unet-l2')!;
    const clocks = gpuClocks();
    const env = { timing: { warmup: 1, reps: 2, minSampleMs: 0, maxInner: 1 }, peak: { gflops: 1, gbps: 1, clock: clocks.dawnet }, tfjs: null, check: false, seed: 3, clocks };
    const row = await runCase(c, env);
    expect(row.algorithm).toBe(dn.convAlgorithm('forward', conv2dGeometry([1, 8, 8, 64], [3, 3, 64, 64], { padding: 'same' })));
    const others = ['direct', 'winograd', 'winograd-fused', 'winograd-uniform', 'winograd-f2'].filter((a) => a !== row.algorithm);
    if (clocks.dawnet !== 'gpu-timestamp') return;
    // The forced algorithms, then the conv as tuneConvs would run it (no fused on a CPU adapter).
    const names = row.alternatives!.map((a) => a.algorithm);
    expect(names.slice(0, -1)).toEqual(others);
    expect(names.at(-1)).toMatch(/^tuned: (direct|winograd|winograd-fused|winograd-uniform|winograd-f2)( \d+x\d+x\d+\/\d+x\d+)?$/);
    expect(dn.convTuning().convs, 'the tuning is in force for the tuned side only').toEqual([]);
    for (const a of row.alternatives!) expect(a.ms, a.algorithm).toBeGreaterThan(0);
    const alone = await runCase(c, { ...env, alternatives: false });
    expect(alone.alternatives, 'bench --no-beside').toBeUndefined();
    expect(tableRow(row)).toMatch(new RegExp(`algorithm: ${row.algorithm}; ${others[0]} beside it: [\\d.]+ ms, [\\d.]+x \\w+; ${others[1]} beside it: [\\d.]+ ms`));
    const before = dn.setConvAlgorithm('winograd');
    let forced: Awaited<ReturnType<typeof runCase>>;
    try {
      forced = await runCase(c, env);
    } finally {
      dn.setConvAlgorithm(before);
    }
    expect([forced.algorithm, ...forced.alternatives!.map((a) => a.algorithm)], 'no tuned side under a forced algorithm').toEqual(['winograd', 'direct', 'winograd-fused', 'winograd-uniform', 'winograd-f2']);
    // Winograd's kernels, each timed in its own pass: four, or on lavapipe three, its GEMMs and
    // output transform in one (conv2d-winograd-gemm-out.ts).
    const gemm = runtime().device.features.has('subgroups') ? 'conv2d.forwardBatchedSubgroup' : 'conv2d.forwardBatched';
    const gemmAndOutput = gemmOutFits(defaultConvFamily(), { k: 64, n: 64 }) ? ['conv2d.winogradGemmOut'] : [gemm, 'conv2d.winogradOutput'];
    expect(forced.kernels!.map((k) => k.name).sort()).toEqual([...gemmAndOutput, 'conv2d.winogradInput', 'conv2d.winogradWeights'].sort());
    expect(tableRow(forced)).toMatch(/by kernel \(a pass each\): conv2d\.\w+ [\d.]+/);
  });
});

/**
 * x [1,4,4,1] -> conv 3x3 1->2 (no bias) -> batch norm -> relu -> max pool 2 -> conv 1x1 2->1 (bias)
 * -> sigmoid -> Dice against target [1,2,2,1]. Parameters 18 + 4 + 3 = 25, running stats 4.
 */
function tinyNet() {
  const b = new GraphBuilder('tiny', [
    ['x', [1, 4, 4, 1]],
    ['target', [1, 2, 2, 1]],
  ]);
  const p = b.maxPool('p', b.relu('r', b.batchNorm('bn', b.conv('c', 'x', 2, 3, false))));
  b.dice('d', b.sigmoid('s', b.conv('h', p, 1, 1, true)), 'target');
  return b.graph;
}

describe('memory minimum', () => {
  it('a tiny network, worked out by hand', () => {
    const g = tinyNet();
    expect(parameterCount(g)).toBe(25);
    // Multiply-adds: conv c 16 pixels · 9 · 1 · 2 = 288, conv h 4 pixels · 2 = 8. Training: c forward + dW (x needs
    // no dx), h forward + dW + dx.
    expect(stepFlops(g, false)).toBe(2 * (288 + 8));
    expect(stepFlops(g, true)).toBe(2 * (2 * 288 + 3 * 8));
    const m = minimumMemory(g, 'train');
    // Held: weights 25, moments 50, running stats 4, inputs 16 + 4, in floats.
    expect([m.weights, m.moments, m.state, m.inputs, m.gradients]).toEqual([100, 200, 16, 80, 100]);
    // Saved: bn's input c (32) + mean and 1/std (4); relu's output r (32); pool's argmax (8); conv h's
    // input p (8); sigmoid's output (4); Dice's two sums (2): 90 floats. conv c's input is the batch.
    expect(m.saved).toBe(4 * 90);
    expect(m.savedByKind).toEqual({ conv: 32, batchNorm: 144, relu: 128, maxPool: 32, sigmoid: 16, dice: 8 });
    // The worst moment is relu's backward: c and r still saved with bn's stats (68), h's and bn's
    // weight gradients not yet (3), dy of r (32) and dx of the batch norm output (32).
    expect(m.at).toBe('backward r');
    expect(m.atPeak).toEqual({ saved: 4 * 68, gradients: 4 * 3, transient: 4 * 64 });
    expect(m.total).toBe(4 * (25 + 50 + 4 + 20) + 4 * 135);
    // The plain sum: held + every gradient + every saved value + the largest transient (64).
    expect(m.sum).toBe(4 * (99 + 25 + 90 + 64));
    // Inference: only the forward's live tensors; the worst is the batch norm (its input and output).
    const inference = minimumMemory(g, 'inference');
    expect(inference.at).toBe('forward bn');
    expect(inference.total).toBe(4 * (25 + 4 + 20) + 4 * 64);
    // dawnet's relu keeps its output (the tensor the next op saves anyway), not the batch norm's output.
    const relu = g.ops.find((op) => op.name === 'r')!;
    expect(DAWNET_SAVES.relu(relu, g).tensors).toEqual([relu.output]);
  });

  it('the graphs have the models\' parameters', () => {
    expect(parameterCount(unetGraph({ batch: 1, size: 32, features: 32, depth: 4 }))).toBe(7_763_041);
    expect(parameterCount(vgg16Graph({ batch: 1, size: 32 }))).toBe(14_714_688);
    const model = dn.models.unet({ features: 4, depth: 2 });
    try {
      const g = unetGraph({ batch: 1, size: 8, features: 4, depth: 2 });
      const fromModel = new Set(model.namedParameters().map((p) => p.name.replace(/\.(weight|bias)$/, '')));
      expect(new Set(g.ops.filter((op) => op.params > 0).map((op) => op.name))).toEqual(fromModel);
      expect(parameterCount(g)).toBe(model.parameterCount());
    } finally {
      model.dispose();
    }
  });
});

describe('end-to-end case', () => {
  it('a U-Net training step at scale 32: timed on both sides, outputs agree, both memories measured, and timed under Winograd and tuned beside', async () => {
    const c = unetTrainCases(32).find((x) => x.batch === 1)!;
    expect(c.id).toBe('unet.train/b1');
    const reps = 1;
    const clocks = gpuClocks();
    const row = await runE2eCase(
      c,
      { timing: { warmup: 0, reps, minSampleMs: 0, maxInner: 1 }, peak: { gflops: 1, gbps: 1, clock: clocks.dawnet }, tfjs: peer(), check: true, memory: true, clocks, convAlternatives: ['winograd'], tuned: true },
      () => runtime().sync(),
    );
    expect([row.metric, row.work, row.batch]).toEqual(['images', 1, 1]);
    expect(row.flops).toBe(stepFlops(c.graph, true));
    const dnSide = expectTiming('dawnet', row.dawnet, reps);
    expect(dnSide.rate).toBeCloseTo(1000 / dnSide.timing.medianMs, 6);
    const tfSide = expectTiming('tfjs', row.tfjs, reps);
    expect([dnSide.clock, tfSide.clock, row.ratioClock]).toEqual([clocks.dawnet, clocks.tfjs, clocks.dawnet]);
    expect(row.ratio).toBeCloseTo(tfSide.timing.medianMs / dnSide.timing.medianMs, 10);
    expect(row.check, 'outputs compared').not.toBeNull();
    expect(row.check!.ok, `max rel err ${row.check!.maxRelErr}`).toBe(true);
    expect(row.algorithm).toBe('auto');
    expect(row.alternatives?.map((a) => a.algorithm)).toEqual(['winograd', 'tuned']);
    expect(row.alternatives![0].ms).toBeGreaterThan(0);
    expect(row.alternatives![0].pairedMs, 'forced algorithms are not paired').toBeUndefined();
    const tuned = row.alternatives![1];
    expect(tuned.ms).toBeGreaterThan(0);
    expect(tuned.pairedMs).toBeGreaterThan(0);
    // The step's 3x3 stride-1 convs, forward and backward input, each with its choice and times.
    expect(row.tuning!.length).toBeGreaterThan(4);
    for (const t of row.tuning!) {
      expect(t.conv).toMatch(/^(forward|backwardInput|backwardWeight) 1x\d+x\d+ \d+->\d+$/);
      expect(Object.keys(t.ms)).toContain(t.algorithm);
    }
    expect(e2eRow(row)).toMatch(/algorithm: auto; winograd beside it: [\d.]+ ms, [\d.]+x (slower|faster); tuned beside it: [\d.]+ ms, [\d.]+x (slower|faster) than auto interleaved with it \([\d.]+ ms\)/);
    expect(dn.setConvAlgorithm('auto'), 'the setting before the alternatives, restored').toBe('auto');
    expect(dn.convTuning().convs, 'the tuning cleared after').toEqual([]);
    const m = row.memory;
    if (!m || 'error' in m) throw new Error(`memory not measured: ${m && 'error' in m ? m.error : 'null'}`);
    expect(m.peakBytes).toBeGreaterThan(m.baselineBytes);
    expect(m.ratio).toBeCloseTo(m.peakBytes / m.minimum.total, 10);
    // At this size the weights, moments and gradients dominate: dawnet should sit right on the minimum.
    expect(m.ratio).toBeGreaterThan(0.9);
    expect(m.ratio).toBeLessThanOrEqual(1.5);
    expect(m.atPeak.length).toBeGreaterThan(0);
    expect(m.dispatches).toBeGreaterThan(100);
    // One more step per kernel: conv and Adam among the kernels, the shares adding up to the total.
    if (runtime().gpuTimer.available) {
      const p = row.profile;
      if (!p) throw new Error('no per-kernel profile');
      expect(p.plainMs).toBeGreaterThan(0);
      const names = p.kernels.map((k) => k.name);
      expect(names).toContain('adam.update');
      expect(names.some((n) => n.startsWith('conv2d.'))).toBe(true);
      expect(p.kernels.reduce((acc, k) => acc + k.ms, 0)).toBeCloseTo(p.totalMs, 6);
      expect(p.kernels.reduce((acc, k) => acc + k.dispatches, 0)).toBe(m.dispatches);
    }
    const tm = row.tfjsMemory;
    if (!tm || 'error' in tm) throw new Error(`tfjs memory not measured: ${tm && 'error' in tm ? tm.error : 'null'}`);
    // tfjs holds weights, Adam's two moments and the batch before the step, and more during it.
    expect(tm.baselineBytes).toBeGreaterThan(m.minimum.weights * 3);
    expect(tm.peakBytes).toBeGreaterThan(tm.baselineBytes);
    expect(tm.allocatedBytes).toBeGreaterThan(0);
    const record: BenchRecord = {
      date: '2026-01-02T03:04:05.000Z',
      adapter: 'test adapter',
      adapterReport: {},
      command: 'dawnet bench --scale 32',
      scale: 32,
      timing: { warmup: 0, reps },
      clock: { option: 'auto', dawnet: clocks.dawnet, tfjs: clocks.tfjs, quantized: true },
      tfjs: { version: 'x', adapter: 'y' },
      syncOverheadMs: { dawnet: 0, tfjs: 0 },
      peak: null,
      rows: [],
      e2e: [row],
    };
    const md = markdownReport(record);
    expect(md).toContain('test adapter');
    expect(md).toContain('2026-01-02');
    expect(md).toContain('dawnet bench --scale 32');
    expect(md).toMatch(/\| unet\.train\/b1 \| 1x32x32x3 f32 d4 \| [\d.]+ ms \([\d.]+ img\/s\) \| [\d.]+ ms \([\d.]+ img\/s\) \| [\d.]+x \|/);
    expect(md).toContain('U-Net training step vs tfjs');
    expect(md).toMatch(/winograd [\d.]+ ms, tuned [\d.]+ ms \([\d.]+x as fast as untuned, [\d.]+ ms, interleaved with it\)/);
    expect(md).toContain(`| ${mibOf(m.peakBytes)} | ${mibOf(tm.peakBytes)} |`);
    if (row.profile) expect(md).toMatch(/- `unet\.train\/b1`: [\d.]+ ms on the GPU \([\d.]+ with a pass per dispatch/);
    if (clocks.dawnet === 'gpu-timestamp') {
      expect(md).toContain('GPU time from timestamp queries');
      expect(md).toMatch(/\| [\d.]+ \/ [\d.]+ ms \|$/m);
    }
  });
});
