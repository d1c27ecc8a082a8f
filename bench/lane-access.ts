// How fast the adapter serves loads and stores whose address differs from one invocation to the
// next, and how many of them each subgroup conv kernel makes: a floor under a kernel's time that
// flops and bytes do not show. On a CPU adapter (lavapipe, Mesa 25), a storage-buffer access whose
// address is not a compile-time constant runs lane by lane, each lane with its own bounds check
// and branch (a vec4 pays that once per lane for four floats), so a kernel that moves few bytes
// can still spend most of its time on them. The rates come from a loop of such accesses timed in
// the same run as the other peaks; the counts follow the loops of src/kernels/conv2d-gemm.ts's
// 'subgroup' family. On a CPU both run on the same cores, so the access floor and the FMA floor
// add up; on a GPU they overlap, and this family is not the one a GPU runs.

import { packParams, u32 } from '../src/gpu/params.js';
import { runtime, type KernelSpec } from '../src/gpu/runtime.js';
import { emptyTensor } from '../src/graph/tensor.js';
import type { ConvDirection } from '../src/kernels/conv2d-gemm-common.js';
import { SUBGROUP_LANES, subgroupTile, tileFit } from '../src/kernels/conv2d-subgroup.js';
import { LINEAR_MAIN_ARGS, linearGrid, linearIndex } from '../src/kernels/wgsl.js';
import type { ConvLayer } from './case.js';
import { timeClocked, type Clock, type GpuClock } from './timing.js';

/** Per-lane accesses per microsecond, fastest sample, on `clock`. */
export interface LaneAccessRates {
  clock: Clock;
  /** One lane loading one float. */
  scalarLoads: number;
  /** One lane loading one vec4. */
  vec4Loads: number;
  /** One lane storing one float. */
  scalarStores: number;
}

type Kind = 'scalarLoads' | 'vec4Loads' | 'scalarStores';

const THREADS = 1 << 16;
/** Accesses per round of the loop, to separate independent ones. */
const PER_ROUND = 4;
/** 64K floats (256 KiB): the working set of a conv tile stays in the caches, and so does this. */
const FLOATS = 1 << 16;

function accessSpec(kind: Kind): KernelSpec {
  const vec4 = kind === 'vec4Loads';
  const t = vec4 ? 'vec4<f32>' : 'f32';
  const mask = (vec4 ? FLOATS / 4 : FLOATS) - 1;
  const body =
    kind === 'scalarStores'
      ? Array.from({ length: PER_ROUND }, (_, k) => `buf[(at + ${k * 61}u) & ${mask}u] = f32(r);`).join('\n    ')
      : Array.from({ length: PER_ROUND }, (_, k) => `acc += buf[(at + ${k * 61}u) & ${mask}u];`).join('\n    ');
  return {
    name: 'bench.laneAccess',
    key: kind,
    inputs: 0,
    outputs: 1,
    wgsl: () => /* wgsl */ `
struct Params { n: u32, rounds: u32 }
@group(0) @binding(0) var<storage, read_write> buf: array<${t}>;
@group(0) @binding(1) var<uniform> params: Params;
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let i = ${linearIndex()};
  if (i >= params.n) { return; }
  var acc = ${t}(0.0);
  // Neighbouring invocations touch neighbouring elements, as a conv tile's lanes do.
  var at = i;
  for (var r = 0u; r < params.rounds; r++) {
    ${body}
    at += 977u;
  }
  ${kind === 'scalarStores' ? '' : `if (dot(vec4<f32>(acc), vec4<f32>(1.0)) == 12345.678) { buf[0] = ${t}(1.0); }`}
}`,
  };
}

async function rateOf(kind: Kind, reps: number, gpu: GpuClock | null): Promise<{ perUs: number; clock: Clock }> {
  const buf = emptyTensor([FLOATS], 'bench.laneAccess.buf');
  try {
    const spec = accessSpec(kind);
    const step = (rounds: number) =>
      runtime().dispatch(spec, { inputs: [], outputs: [buf.slice], params: packParams([u32(THREADS), u32(rounds)]) }, linearGrid(THREADS));
    // Grow the loop until a run lasts ~20 ms, so starting the invocations is a small part of it.
    let rounds = 16;
    for (;;) {
      const t0 = performance.now();
      step(rounds);
      await runtime().sync();
      if (performance.now() - t0 >= 20 || rounds >= 1 << 14) break;
      rounds *= 4;
    }
    const t = await timeClocked({ step: () => step(rounds), sync: () => runtime().sync() }, { warmup: 1, reps, minSampleMs: 0, maxInner: 1 }, gpu);
    return { perUs: (THREADS * rounds * PER_ROUND) / (t.timing.minMs * 1000), clock: t.clock };
  } finally {
    buf.dispose();
  }
}

/** The three rates, each the fastest of `reps` samples (other load only ever slows one down). */
export async function measureLaneAccess(reps: number, gpu: GpuClock | null): Promise<LaneAccessRates> {
  const loads = await rateOf('scalarLoads', reps, gpu);
  const vec4 = await rateOf('vec4Loads', reps, gpu);
  const stores = await rateOf('scalarStores', reps, gpu);
  const clock = loads.clock === vec4.clock && vec4.clock === stores.clock ? loads.clock : 'wall';
  return { clock, scalarLoads: loads.perUs, vec4Loads: vec4.perUs, scalarStores: stores.perUs };
}

/** Per-lane accesses of one kernel run, by kind. */
export type LaneAccesses = Record<Kind, number>;

/**
 * The per-lane accesses a subgroup-family conv makes for a 'same', stride-1 layer, from its loops:
 * per K position each lane loads TM/W values of A and TN of B; with kVec4, per four K positions
 * TM/W vec4s of A, and of B TN vec4s (backward input), 4 vec4s (forward with nVec4) or 4·TN
 * floats (forward without); every output is stored once per split-K slice.
 */
export function convLaneAccesses(dir: ConvDirection, l: ConvLayer, splits: number, lanes = SUBGROUP_LANES): LaneAccesses {
  const pixels = l.n * l.h * l.w;
  const [m, n] = dir === 'backwardWeight' ? [l.k * l.k * l.cin, l.cout] : [pixels, dir === 'forward' ? l.cout : l.cin];
  const t = subgroupTile(m, n, tileFit(dir, { cin: l.cin, cout: l.cout, wo: l.w }), lanes);
  const groups = Math.ceil(m / t.tm) * Math.ceil(n / (t.w * t.tn));
  const q = t.tm / t.w;
  const stores = m * n * splits;
  if (dir === 'backwardWeight') {
    // Per pixel each lane loads its rows' x (one vec4 with mVec4) and its columns' dy (one vec4
    // with nVec4); with nVec4 each row's four columns are stored as one vec4, counted as four.
    const perPixel = groups * pixels * t.w;
    return {
      scalarLoads: perPixel * ((t.mVec4 ? 0 : q) + (t.nVec4 ? 0 : t.tn)),
      vec4Loads: perPixel * ((t.mVec4 ? 1 : 0) + (t.nVec4 ? 1 : 0)),
      scalarStores: stores,
    };
  }
  const k = l.k * l.k * (dir === 'forward' ? l.cin : l.cout);
  const perLane = groups * t.w;
  if (!t.kVec4) return { scalarLoads: perLane * k * (q + t.tn), vec4Loads: 0, scalarStores: stores };
  const steps = k / 4;
  if (dir === 'backwardInput') return { scalarLoads: 0, vec4Loads: perLane * steps * (q + t.tn), scalarStores: stores };
  return t.nVec4
    ? { scalarLoads: 0, vec4Loads: perLane * steps * (q + 4), scalarStores: stores }
    : { scalarLoads: perLane * steps * 4 * t.tn, vec4Loads: perLane * steps * q, scalarStores: stores };
}

/** Milliseconds those accesses take at the measured rates. */
export function laneAccessMs(a: LaneAccesses, r: LaneAccessRates): number {
  return (a.scalarLoads / r.scalarLoads + a.vec4Loads / r.vec4Loads + a.scalarStores / r.scalarStores) / 1000;
}
