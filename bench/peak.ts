// The device's measured peaks, the yardstick for "% of peak":
//  - compute: every thread runs CHAINS independent vec4 fma chains for `iters` rounds, each round
//    `unroll` fmas per chain; 2 flops per fma lane. Independent chains hide fma latency; a million
//    threads fill any GPU. The chains converge to the fixed point c / (1 - b), so values stay
//    finite and never go denormal, and the result is written out so no compiler can drop the loop.
//    Several unroll factors are timed and the fastest kept: on lavapipe each round of a loop costs
//    about as much again as one fma per loop-carried value (its values are carried over with the
//    loop's lane mask), so one fma per chain a round ran at 84 GFLOP/s where four ran at 132 and
//    eight at 111 (same process, same 2-core VM); a GPU does not care. A peak below what some
//    kernel can reach would flatter every "% of peak".
//  - memory: a vec4 copy between two large buffers; bytes = read + write.
// Both are timed like dawnet's cases, on the same clock (GPU timestamps or wall clock around sync:
// bench/timing.ts), so "% of peak" divides like by like. The work is grown (on wall time) until
// one sample lasts TARGET_MS, so the queue round trip is a small fraction of a wall sample. A peak
// is a best case and other load on the machine only slows a sample down, so the peak comes from
// the fastest sample, not the median.

import { packParams, f32, u32 } from '../src/gpu/params.js';
import { runtime, type KernelSpec } from '../src/gpu/runtime.js';
import { emptyTensor, type Tensor } from '../src/graph/tensor.js';
import { LINEAR_MAIN_ARGS, LINEAR_WG, linearGrid, linearIndex } from '../src/kernels/wgsl.js';
import { defaultConvFamily } from '../src/kernels/conv2d-launch.js';
import { measureLaneAccess, type LaneAccessRates } from './lane-access.js';
import { timeClocked, type Clock, type ClockedTiming, type GpuClock, type Timing } from './timing.js';

const CHAINS = 8;
/** fmas per chain in one round of the loop: the peak keeps the fastest (see the header). */
const UNROLLS = [1, 2, 4, 8];
const FMA_THREADS = 1 << 20;
const TARGET_MS = 50;
const MAX_ITERS = 1 << 20;
/**
 * At least this many fmas per chain and thread: with few, starting a million invocations costs
 * more than their arithmetic (on a CPU adapter, 4 rounds measured a third of the peak that 64 do).
 */
const MIN_ITERS = 64;

// The runtime caches pipelines by name and key, so a spec made per dispatch compiles once.
const fmaSpec = (unroll: number): KernelSpec => ({
  name: 'bench.fmaPeak',
  key: `chains${CHAINS}-unroll${unroll}`,
  inputs: 0,
  outputs: 1,
  wgsl: () => {
    const chains = Array.from({ length: CHAINS }, (_, k) => k);
    const round = Array.from({ length: unroll }, () => chains.map((k) => `a${k} = fma(a${k}, b, c);`).join(' '));
    return /* wgsl */ `
struct Params { n: u32, iters: u32, b: f32, c: f32 }
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<uniform> params: Params;
@compute @workgroup_size(${LINEAR_WG})
fn main(${LINEAR_MAIN_ARGS}) {
  let i = ${linearIndex()};
  if (i >= params.n) { return; }
  let seed = f32(i & 1023u) * 0.001;
  ${chains.map((k) => `var a${k} = vec4<f32>(seed + ${k}.0, seed + ${k}.25, seed + ${k}.5, seed + ${k}.75);`).join('\n  ')}
  let b = vec4<f32>(params.b);
  let c = vec4<f32>(params.c);
  for (var r = 0u; r < params.iters; r++) {
    ${round.join('\n    ')}
  }
  let s = ${chains.map((k) => `a${k}`).join(' + ')};
  out[i] = s.x + s.y + s.z + s.w;
}`;
  },
});

// Grid-stride: each thread copies every `threads`-th vec4. Few threads with long loops suit a CPU
// adapter, many suit a GPU; copyPeak tries several counts and keeps the fastest.
const copySpec: KernelSpec = {
  name: 'bench.copyPeak',
  key: '',
  inputs: 1,
  outputs: 1,
  wgsl: () => /* wgsl */ `
struct Params { n: u32, threads: u32 }
@group(0) @binding(0) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> params: Params;
@compute @workgroup_size(${LINEAR_WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  for (var i = gid.x; i < params.n; i += params.threads) {
    dst[i] = src[i];
  }
}`,
};

const COPY_THREADS = [1 << 12, 1 << 15, 1 << 18, 1 << 21];

export interface PeakResult {
  /** The clock both peaks were timed on (absent in records from before there was a choice: wall). */
  clock: Clock;
  /** FMA peak in GFLOP/s (fastest sample). */
  gflops: number;
  /** Copy bandwidth in GB/s (read + write bytes, fastest sample). */
  gbps: number;
  /** unroll: fmas per chain in a round of the fastest variant (absent in older records: 1). */
  fma: { threads: number; iters: number; unroll?: number; flops: number; timing: Timing };
  copy: { bytes: number; threads: number; dispatches: number; timing: Timing };
  /** Per-lane load and store rates, where convs run the 'subgroup' family (CPU adapters). */
  laneAccess?: LaneAccessRates;
}

export const fmaFlops = (iters: number, unroll: number): number => FMA_THREADS * iters * unroll * CHAINS * 4 * 2;

export function fmaStep(out: Tensor, iters: number, unroll: number): void {
  runtime().dispatch(
    fmaSpec(unroll),
    { inputs: [], outputs: [out.slice], params: packParams([u32(FMA_THREADS), u32(iters), f32(0.5), f32(0.25)]) },
    linearGrid(FMA_THREADS),
  );
}

async function timedOnce(step: () => void): Promise<number> {
  const t0 = performance.now();
  step();
  await runtime().sync();
  return performance.now() - t0;
}

/** Grows `n` (a loop count or a repeat count) until one run lasts TARGET_MS. */
async function calibrate(run: (n: number) => void, start: number, max: number): Promise<number> {
  let n = start;
  await timedOnce(() => run(n));
  for (;;) {
    const ms = await timedOnce(() => run(n));
    if (ms >= TARGET_MS || n >= max) return n;
    n = Math.min(max, n * Math.min(64, Math.max(2, Math.ceil(TARGET_MS / Math.max(ms, 0.01)))));
  }
}

function timePeak(step: () => void, warmup: number, reps: number, gpu: GpuClock | null): Promise<ClockedTiming> {
  return timeClocked({ step, sync: () => runtime().sync() }, { warmup, reps, minSampleMs: 0, maxInner: 1 }, gpu);
}

/** A peak's figures with its samples on both clocks; measurePeak keeps the clock both peaks share. */
type Timed<T extends { timing: Timing }> = Omit<T, 'timing'> & { timed: ClockedTiming };

async function fmaPeak(reps: number, gpu: GpuClock | null): Promise<Timed<PeakResult['fma']>> {
  const out = emptyTensor([FMA_THREADS], 'bench.fmaPeak.out');
  try {
    let best: Timed<PeakResult['fma']> | null = null;
    for (const unroll of UNROLLS) {
      const iters = await calibrate((n) => fmaStep(out, n, unroll), Math.max(1, MIN_ITERS / unroll), MAX_ITERS);
      const timed = await timePeak(() => fmaStep(out, iters, unroll), 1, reps, gpu);
      const flops = fmaFlops(iters, unroll);
      const rate = (t: Timed<PeakResult['fma']>) => t.flops / t.timed.timing.minMs;
      const result = { threads: FMA_THREADS, iters, unroll, flops, timed };
      if (!best || rate(result) > rate(best)) best = result;
    }
    return best!;
  } finally {
    out.dispose();
  }
}

async function copyPeak(reps: number, bytes: number, gpu: GpuClock | null): Promise<Timed<PeakResult['copy']>> {
  const limit = Math.min(runtime().limits.maxStorageBufferBindingSize, runtime().limits.maxBufferSize);
  const size = Math.floor(Math.min(bytes, limit) / 16) * 16;
  const vec4s = size / 16;
  const src = emptyTensor([vec4s * 4], 'bench.copyPeak.src');
  const dst = emptyTensor([vec4s * 4], 'bench.copyPeak.dst');
  try {
    let best: Timed<PeakResult['copy']> | null = null;
    for (const wanted of COPY_THREADS) {
      const groups = Math.max(1, Math.min(Math.ceil(Math.min(wanted, vec4s) / LINEAR_WG), runtime().limits.maxComputeWorkgroupsPerDimension));
      const threads = groups * LINEAR_WG;
      const params = packParams([u32(vec4s), u32(threads)]);
      const copies = (n: number) => {
        for (let i = 0; i < n; i++) runtime().dispatch(copySpec, { inputs: [src.slice], outputs: [dst.slice], params }, [groups]);
      };
      const dispatches = await calibrate(copies, 1, 256);
      const timed = await timePeak(() => copies(dispatches), 0, reps, gpu);
      const result = { bytes: 2 * size, threads, dispatches, timed };
      if (!best || timed.timing.minMs / dispatches < best.timed.timing.minMs / best.dispatches) best = result;
      if (threads >= vec4s) break;
    }
    return best!;
  } finally {
    src.dispose();
    dst.dispose();
  }
}

/** Rounds of the FMA loop in a probe sample: a quarter of the peak's, ~13 ms on lavapipe. */
const PROBE_SHARE = 4;

/**
 * A short re-timing of the FMA peak (fastest of `reps` samples of a quarter of the peak's work)
 * on the peak's clock, to take right after a case: on a machine whose speed drifts (a shared VM),
 * it says what the FMA loop reached while the case ran, beside the run's peak. Null when the
 * sample's clock is not the peak's.
 */
export function fmaProbe(peak: PeakResult, gpu: GpuClock | null, reps = 3): () => Promise<number | null> {
  const unroll = peak.fma.unroll ?? 1;
  const iters = Math.max(MIN_ITERS / unroll, Math.floor(peak.fma.iters / PROBE_SHARE));
  return async () => {
    const out = emptyTensor([FMA_THREADS], 'bench.fmaProbe.out');
    try {
      const t = await timePeak(() => fmaStep(out, iters, unroll), 1, reps, gpu);
      const timing = t.clock === (peak.clock ?? 'wall') ? t.timing : (peak.clock ?? 'wall') === 'wall' ? t.wall : null;
      return timing ? fmaFlops(iters, unroll) / (timing.minMs * 1e6) : null;
    } finally {
      out.dispose();
    }
  };
}

/**
 * Measures both peaks on dawnet's device. `copyBytes` is the size of each of the two buffers;
 * `gpu` (dawnet's GPU clock) times them on GPU timestamps, as the cases are, else wall clock.
 */
export async function measurePeak(options: { reps?: number; copyBytes?: number; gpu?: GpuClock | null } = {}): Promise<PeakResult> {
  // The fastest of several samples: other load on the machine only ever slows one down.
  const reps = options.reps ?? 9;
  const { timed: fmaTimed, ...fmaFigures } = await fmaPeak(reps, options.gpu ?? null);
  const { timed: copyTimed, ...copyFigures } = await copyPeak(reps, options.copyBytes ?? 256 * 2 ** 20, options.gpu ?? null);
  // Should one of them have fallen back to wall time, both use wall time.
  const clock: Clock = fmaTimed.clock === copyTimed.clock ? fmaTimed.clock : 'wall';
  const on = (t: ClockedTiming) => (t.clock === clock ? t.timing : t.wall);
  const fma = { ...fmaFigures, timing: on(fmaTimed) };
  const copy = { ...copyFigures, timing: on(copyTimed) };
  const laneAccess = defaultConvFamily() === 'subgroup' ? await measureLaneAccess(reps, options.gpu ?? null) : undefined;
  return {
    clock,
    gflops: fma.flops / (fma.timing.minMs * 1e6),
    gbps: (copy.bytes * copy.dispatches) / (copy.timing.minMs * 1e6),
    fma,
    copy,
    ...(laneAccess ? { laneAccess } : {}),
  };
}
